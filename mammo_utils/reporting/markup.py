"""HTML pieces every generated document shares: a figure with its caption, and the plain text of an ``alt``.

A caption is HTML (``<code>``, fact spans); an ``alt`` attribute is plain text, so :func:`alt_text` drops the tags
and decodes the entities before escaping it for the attribute.

Example:
    >>> alt_text("taken by <code>mammo screens</code> &amp; kept")
    'taken by mammo screens &amp; kept'
"""

from __future__ import annotations

import html
import re

_TAG = re.compile(r"<[^>]*>")


def alt_text(markup: str) -> str:
    """The plain text of an HTML fragment, escaped for an attribute value.

    Args:
        markup: HTML text (a caption, a title).

    Returns:
        Its text without tags, entities decoded, whitespace collapsed, then attribute-escaped.
    """
    text = html.unescape(_TAG.sub("", markup))
    return html.escape(" ".join(text.split()), quote=True)


def figure_html(src: str, caption: str, alt: str | None = None) -> str:
    """``<figure><img src alt><figcaption>caption</figcaption></figure>``.

    Args:
        src: The image's URL (escaped here).
        caption: The caption, HTML.
        alt: The image's text alternative, HTML or plain (default: the caption's text).

    Returns:
        HTML text.
    """
    alt = alt_text(caption if alt is None else alt)
    return f'<figure><img src="{html.escape(src)}" alt="{alt}"><figcaption>{caption}</figcaption></figure>'
