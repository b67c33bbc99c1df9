# Size: one function per kind of slide copy (figures drawn again, the export table, the web-app screenshot cut),
# all sharing the slide measures defined at the top.
"""Slide copies of figures: drawn (or cut) for a 1280 by 720 slide, so no text on a slide is smaller than 14 pixels.

A notebook figure is drawn for a page and then shrunk to fit a slide: its 8-point labels end up 6-8 pixels high.
The deck therefore shows copies made for the slide's own geometry (:data:`SLIDE_BOX`):

- :func:`shown_text_px`: the height in slide pixels of a figure's smallest text once it is fitted into the box
  (what a test and :func:`save_slide_figure` check against :data:`MIN_SLIDE_TEXT_PX`);
- :func:`slide_copy`: a page figure (drawn by its own plotting function, with fewer panels where needed) resized
  to the slide with its text raised to :data:`SLIDE_FONT_PT` less a point, for :func:`save_slide_figure` (the one
  path of every slide figure drawn by matplotlib: notebooks 01-06 and 08's export table);
- :func:`export_slide_figures`: 08's export table (``results/08_export.json``) drawn by 08's own plotting function
  as two slides' figures, size and latency, then quality, through :func:`slide_copy`;
- :func:`web_app_result`: the web-app screenshot cut to its result (decision lines, the image and the notes under
  it, the heat-map's "not a localisation" label among them), without the sidebar, fitted to the slide's box.

Example:
    >>> export_slide_figures("reports/results/08_export.json", "reports/figures")  # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

#: The slide size (pixels) every size here is measured at.
SLIDE_PX = (1280, 720)
#: Pixels a figure gets on a figure-only slide at 1280 by 720 (the deck's padding, title and a footnote taken off).
SLIDE_BOX = (1126, 560)
#: Pixels a figure gets beside a column of text on a slide at 1280 by 720 (the ``split`` layout's right part).
SPLIT_BOX = (640, 600)
#: The smallest text height, in pixels at 1280 by 720, a slide figure may show.
MIN_SLIDE_TEXT_PX = 14.0
#: Resolution slide figures are saved at (pixels per inch): a figure as wide as the box shows at its own size.
SLIDE_DPI = 100
#: Points of the printed values on a slide figure (at :data:`SLIDE_DPI`, 14 pt is 19 pixels; notes are a point less).
#: A font's pixel size is larger than its letters: a reader measuring the letters of an 11-point (15 px) slide copy
#: found about 12 px, so slide copies use 14 pt (19 px), whose letters measure over 14 px.
SLIDE_FONT_PT = 15.0
#: CSS pixels per inch: the size an SVG figure (written in points) is shown at.
SVG_PX_PER_INCH = 96
#: Height of a font's capitals and digits as a share of its size (DejaVu Sans, matplotlib's default: 0.73): the
#: letters a reader measures on a slide are this share of :func:`shown_text_px`.
LETTER_SHARE = 0.73
#: Stems of the slide copies of 08's export figure (``figures/<stem>.png``), in slide order.
EXPORT_SLIDES = ("slide_08_export_size_latency", "slide_08_export_quality")
#: Height in pixels of the web app's text on its screenshot (Streamlit's 16 px body font, the screenshot at 1x).
WEB_APP_TEXT_PX = 16
#: The most a slide enlarges the web app's result (a small cut is not blown up past this).
WEB_APP_SCALE = 1.3
#: Stem of the slide copy of the exported champion's test confusion matrix.
CHAMPION_SLIDE = "slide_champion_confusion"


class SlideTextError(ValueError):
    """A slide figure's smallest text would be shown under :data:`MIN_SLIDE_TEXT_PX` pixels."""


def shown_text_px(fig, box: tuple[int, int] = SLIDE_BOX, px_per_inch: float = SLIDE_DPI) -> float:
    """Height in slide pixels of the smallest visible text of ``fig`` once saved tight and fitted into ``box``.

    A figure larger than the box is shrunk to fit it (never enlarged), so its text shrinks by the same factor.

    Args:
        fig: A matplotlib figure.
        box: ``(width, height)`` pixels the slide gives the figure.
        px_per_inch: Pixels per inch of the saved image (its dpi; :data:`SVG_PX_PER_INCH` for an SVG).

    Returns:
        Pixels (infinity for a figure without text).

    Example:
        >>> shown_text_px(fig, SLIDE_BOX, SLIDE_DPI) >= MIN_SLIDE_TEXT_PX  # doctest: +SKIP
        True
    """
    from matplotlib.text import Text

    renderer = fig.canvas.get_renderer()
    bbox = fig.get_tightbbox(renderer)
    width, height = bbox.width * px_per_inch, bbox.height * px_per_inch
    scale = min(1.0, box[0] / width, box[1] / height)
    sizes = [
        t.get_fontsize()
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip() and t.get_window_extent(renderer).width > 0
    ]
    return min(sizes) * px_per_inch / 72 * scale if sizes else float("inf")


def save_slide_figure(fig, name: str, folder: str | Path | None = None, box: tuple[int, int] = SLIDE_BOX) -> Path:
    """Save a slide copy of a figure (PNG at :data:`SLIDE_DPI`) once its text is large enough for the slide.

    Args:
        fig: The figure.
        name: File stem.
        folder: The figures folder (default: :func:`~mammo_utils.evaluation.plots.figure_dir`).
        box: Pixels the slide gives it (:data:`SLIDE_BOX`, or :data:`SPLIT_BOX` beside text).

    Returns:
        The PNG's path.

    Raises:
        SlideTextError: Its smallest text would show under :data:`MIN_SLIDE_TEXT_PX` pixels (nothing is written).
    """
    import matplotlib.pyplot as plt

    from ..evaluation.plots import figure_dir, save_fig

    folder = Path(folder) if folder is not None else figure_dir()
    shown = shown_text_px(fig, box)
    if shown < MIN_SLIDE_TEXT_PX:
        plt.close(fig)
        raise SlideTextError(
            f"slide figure {name!r}: its smallest text shows {shown:.1f} px at {SLIDE_PX[0]}x{SLIDE_PX[1]} (at least "
            f"{MIN_SLIDE_TEXT_PX:g} px needed): draw it larger or with fewer panels"
        )
    save_fig(fig, name, folder, dpi=SLIDE_DPI)
    plt.close(fig)
    return folder / f"{name}.png"


def slide_copy(fig, box: tuple[int, int] = SLIDE_BOX, points: float = SLIDE_FONT_PT - 1):
    """Turn a page figure into its slide copy: sized to ``box`` at :data:`SLIDE_DPI`, no text under ``points``.

    The figure is drawn by its own plotting function (with fewer panels or samples where a slide needs them), then
    resized so it is shown at its own size on the slide, and every smaller text (titles, labels, ticks, legends) is
    raised to ``points``; the layout is redone and each panel's legend placed again where it covers no data.
    :func:`save_slide_figure` then checks the result.

    Args:
        fig: A matplotlib figure (changed in place).
        box: ``(width, height)`` pixels the slide gives it.
        points: Smallest font size (14 pt is 19 pixels at :data:`SLIDE_DPI`).

    Returns:
        The same figure.

    Example:
        >>> save_slide_figure(slide_copy(plot_split_balance(table)), "03_split_balance_slide")  # doctest: +SKIP
    """
    from matplotlib.layout_engine import ConstrainedLayoutEngine
    from matplotlib.text import Text

    from ..evaluation.figure_check import place_legend

    fig.set_size_inches(box[0] / SLIDE_DPI, box[1] / SLIDE_DPI)
    for ax in fig.axes:  # through the axes, so ticks drawn later get the size too
        ticks = ax.get_xticklabels() + ax.get_yticklabels()
        if min((t.get_fontsize() for t in ticks), default=points) < points:
            ax.tick_params(labelsize=points)
    for text in fig.findobj(Text):
        if text.get_fontsize() < points:
            text.set_fontsize(points)
    wrap_titles(fig)
    if not isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine):
        fig.tight_layout()
    for ax in fig.axes:  # a larger legend may now cover data: place it again, as the page figure's was
        if ax.get_legend() is not None:
            place_legend(ax, fontsize=points)
    return fig


def wrap_titles(fig) -> int:
    """Break each panel title wider than its panel onto more lines (at spaces), so larger slide text does not run
    into the next panel's title.

    Args:
        fig: A matplotlib figure (changed in place).

    Returns:
        How many titles were wrapped.

    Example:
        >>> import matplotlib.pyplot as plt
        >>> fig, axes = plt.subplots(1, 4, figsize=(6, 2))
        >>> _ = [ax.set_title("L-CC: crop of the left breast, craniocaudal", fontsize=14) for ax in axes]
        >>> wrap_titles(fig), "\\n" in axes[0].get_title()
        (4, True)
    """
    import textwrap

    renderer = fig.canvas.get_renderer()
    wrapped = 0
    for ax in fig.axes:
        width = ax.get_window_extent(renderer).width
        for title in (ax.title, ax._left_title, ax._right_title):
            text = title.get_text()
            shown = title.get_window_extent(renderer).width
            if not text or "\n" in text or shown <= width or " " not in text:
                continue
            chars = max(int(len(text) * width / shown), 8)
            title.set_text(textwrap.fill(text, chars, break_long_words=False))
            wrapped += 1
    return wrapped


def export_slide_figures(results: str | Path, folder: str | Path) -> list[Path]:
    """08's export table for the slides: size and latency on one figure, quality on the next.

    Each is 08's own figure (:func:`~mammo_utils.export.plots.plot_export_formats`, fewer panels) made a slide copy
    by :func:`slide_copy`, as notebooks 01-06 make theirs.

    Args:
        results: ``results/08_export.json`` (its ``formats`` rows).
        folder: The figures folder.

    Returns:
        The PNGs written (:data:`EXPORT_SLIDES` order); none when 08 has not run.
    """
    import pandas as pd

    from ..export.plots import plot_export_formats

    path = Path(results)
    if not path.is_file():
        return []
    table = pd.DataFrame(json.loads(path.read_text())["formats"]).set_index("index")
    drawn = (
        plot_export_formats(table, "Size and batch-1 latency per export format (this CPU, one run)",
                            ("size", "latency")),
        plot_export_formats(table, "Test breast ROC-AUC per format, and its change against the model named",
                            ("quality",)),
    )  # fmt: skip
    return [save_slide_figure(slide_copy(fig), name, folder) for fig, name in zip(drawn, EXPORT_SLIDES)]


def champion_slide_confusion(confusion: dict, title: str, folder: str | Path) -> Path:
    """The exported champion's test confusion matrix for the slide beside its numbers (:data:`SPLIT_BOX`).

    Args:
        confusion: ``champion_eval.json``'s ``confusion`` (``tn, fp, fn, tp, threshold``).
        title: Figure title.
        folder: The figures folder.

    Returns:
        ``figures/<CHAMPION_SLIDE>.png``.
    """
    import matplotlib.pyplot as plt

    from ..evaluation.plots import plot_confusion

    with plt.rc_context({"font.size": SLIDE_FONT_PT - 1}):
        fig = plot_confusion(confusion, title)
        fig.set_size_inches(SPLIT_BOX[0] / SLIDE_DPI, SPLIT_BOX[1] * 0.75 / SLIDE_DPI)
        for ax in fig.axes:  # two-word class names on two lines: side by side they would touch at this size
            ax.set_xticks(ax.get_xticks(), [t.get_text().replace(" ", "\n") for t in ax.get_xticklabels()])
        for ax in fig.axes[1:]:  # the same rows as the first panel: named once, at the left, so the panels part
            ax.set_ylabel("")
            ax.set_yticks(ax.get_yticks(), [""] * len(ax.get_yticks()))
        fig.suptitle(f"{title}\n(threshold {confusion['threshold']:.3f}, frozen on validation)")
        fig.tight_layout()
    return save_slide_figure(fig, CHAMPION_SLIDE, folder, box=SPLIT_BOX)


def _white_rows(rgb: np.ndarray, tolerance: int = 8) -> np.ndarray:
    """Per row, whether every pixel is white (within ``tolerance``)."""
    return (rgb.min(axis=2) >= 255 - tolerance).all(axis=1)


def web_app_result(
    path: str | Path, margin: int = 10, box: tuple[int, int] = SPLIT_BOX, scale: float = WEB_APP_SCALE
) -> bytes | None:
    """The web-app screenshot cut to its result (the decision lines, the image and the notes under it), fitted to
    ``box``.

    The page's sidebar (a grey column at the left) and its notice banner (the first tinted band across the main
    column) are left out: shown whole on a slide, the page's text shrinks to 7 pixels. The image is the page's
    black-framed block (pixels darker than 16); the cut runs from the first line under the banner to the end of the
    notes that follow the image, without the tinted notice between the decision and the image (the heat-map's
    "not a localisation" label, which the slide quotes as text: :func:`web_app_layout`), so the slide keeps the
    verdict and the whole image at a readable size. The cut is scaled by ``min(box / cut)`` (at most ``scale``): the
    slide shows it at that size, so its text is :data:`WEB_APP_TEXT_PX` times that scale.

    Args:
        path: ``figures/web_app.png``.
        margin: White pixels kept around the cut.
        box: ``(width, height)`` pixels the slide gives the image (:data:`SPLIT_BOX`).
        scale: The largest enlargement (:data:`WEB_APP_SCALE`).

    Returns:
        PNG bytes, or None when there is no screenshot or no image on it (the slide then shows the whole page).
    """
    from PIL import Image

    path = Path(path)
    if not path.is_file() or (layout := web_app_layout(path, margin)) is None:
        return None
    left, top, right, bottom = layout["box"]
    with Image.open(path) as im:
        page = np.asarray(im.convert("RGB"))[top:bottom, left:right]
    if layout["skip"]:  # the notice's rows go (the slide quotes it as text)
        page = np.delete(page, np.s_[layout["skip"][0] - top : layout["skip"][1] - top], axis=0)
    image = Image.fromarray(page)
    factor = min(box[0] / image.width, box[1] / image.height, scale)
    image = image.resize((round(image.width * factor), round(image.height * factor)), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _first_run(flags: np.ndarray) -> tuple[int, int] | None:
    """``(start, end)`` of the first run of True in ``flags`` (end exclusive), or None."""
    on = flags.nonzero()[0]
    if len(on) == 0:
        return None
    breaks = (np.diff(on) > 1).nonzero()[0]
    return int(on[0]), int(on[breaks[0]] if len(breaks) else on[-1]) + 1


def _notes_end(main: np.ndarray, bottom: int, gap: int) -> int:
    """The row where the notes under the image end: the last non-white row before a white gap of ``gap`` rows (or
    the page's end), from the image's ``bottom`` on."""
    white = _white_rows(main[bottom:])
    end, run = bottom, 0
    for i, blank in enumerate(white):
        run = run + 1 if blank else 0
        if not blank:
            end = bottom + i + 1
        elif run >= gap:
            break
    return end


def web_app_cut(path: str | Path, margin: int = 10, gap: int = 48) -> tuple[int, int, int, int] | None:
    """Where :func:`web_app_result` cuts the screenshot: ``(left, top, right, bottom)`` pixels, or None without an
    image on it (:func:`web_app_layout`'s box).

    Args:
        path: ``figures/web_app.png``.
        margin: White pixels kept around the cut.
        gap: White rows that end the notes under the image.

    Returns:
        The cut, or None.
    """
    layout = web_app_layout(path, margin, gap)
    return None if layout is None else layout["box"]


def web_app_layout(path: str | Path, margin: int = 10, gap: int = 48) -> dict | None:
    """The web-app screenshot's result: the box to cut, and the tinted notice between the decision and the image.

    The notice (the heat-map's "not a localisation" label, a band as wide as the page's column) is left out of the
    cut: kept, it sets the cut's width and shrinks the decision and the image to unreadable text on a slide, which
    quotes the same label as text. The box is as wide as the decision lines, the image and the notes under it.

    Args:
        path: ``figures/web_app.png``.
        margin: White pixels kept around the cut.
        gap: White rows that end the notes under the image.

    Returns:
        ``{"box": (left, top, right, bottom), "skip": (start, end) rows of the notice or None}`` in page pixels, or
        None without an image on the page.
    """
    from PIL import Image

    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB")).astype(int)
    white_cols = (np.median(rgb, axis=0).min(axis=1) >= 250).nonzero()[0]
    left = int(white_cols[0]) if len(white_cols) else 0  # the sidebar ends where the columns turn white
    main = rgb[:, left:]
    dark = main.max(axis=2) < 16
    rows = dark.any(axis=1).nonzero()[0]
    if len(rows) == 0:
        return None
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    tinted = ((main.min(axis=2) < 247) & (main.max(axis=2) > 200)).mean(axis=1) > 0.5  # a band across the column
    banner = _first_run(tinted[:top])  # the box ends at the first white row under its first tinted row
    start = banner[0] + int(_white_rows(main[banner[0] : top]).nonzero()[0][0]) if banner else 0
    first = start + int((~_white_rows(main[start:bottom])).nonzero()[0][0])
    end = _notes_end(main, bottom, gap)
    notice = _first_run(tinted[first:top])
    skip = (first + notice[0], first + notice[1]) if notice else None
    kept = np.ones(end - first, bool)
    if skip:
        kept[skip[0] - first : skip[1] - first] = False
    inked = (~(main[first:end][kept].min(axis=2) >= 247)).any(axis=0).nonzero()[0]
    box = (left + max(int(inked[0]) - margin, 0), max(first - margin, 0),
           left + min(int(inked[-1]) + 1 + margin, main.shape[1]), min(end + margin, main.shape[0]))  # fmt: skip
    return {"box": box, "skip": skip}
