# Size: one measurement per readability fault (texts, legends, aspect, categories, bar lengths) and the geometry
# they share (rotated text boxes, data points in display space); splitting them would scatter one renderer walk.
"""Measurable readability faults of a matplotlib figure, checked before it is saved (see :func:`check_figure`).

What is measured, on the renderer's bounding boxes (``fig.canvas.get_renderer()`` and ``get_window_extent``):

- **text over text**: two visible texts (tick labels, axis labels, titles, annotations, legend entries) overlap;
- **legend over data**: a legend box covers bars, line points or segments, scatter points or error bars of any
  panel (reference lines drawn with ``axhline``/``axvline`` do not count);
- **aspect**: the saved (tight) figure is wider or taller than :data:`MAX_ASPECT` to 1;
- **single category**: a categorical axis (labels set by name) shows one category, or a bar panel one bar;
- **small text**: a visible text is smaller than :data:`MIN_FONT_PT` points.

On request, for panels of counts, :func:`hidden_bars` finds a non-zero bar drawn too short to see whose value is
not printed (a rare category beside a common one on a linear axis).

Example:
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots(figsize=(4, 3))
    >>> _ = ax.bar(["a", "b"], [1, 2]); _ = ax.set(xlabel="group", ylabel="count", title="ok")
    >>> check_figure(fig)
    []
"""

from __future__ import annotations

import numpy as np

#: Largest width:height (or height:width) of a saved figure.
MAX_ASPECT = 4.0
#: Smallest font size, in points, of any visible text.
MIN_FONT_PT = 7.0
#: Overlaps of at most this many pixels (either direction) are touching, not overlapping.
TOLERANCE_PX = 1.0


class FigureReadabilityError(ValueError):
    """A figure about to be saved has measurable readability faults (raised by ``plots.save_fig``)."""


def check_figure(fig, max_aspect: float = MAX_ASPECT, min_font: float = MIN_FONT_PT) -> list[str]:
    """List the measurable readability faults of a figure (empty when none).

    Args:
        fig: A matplotlib ``Figure`` (laid out as it will be saved; it is drawn once, without output).
        max_aspect: Largest width:height or height:width of the tight bounding box (what ``save_fig`` saves).
        min_font: Smallest font size in points.

    Returns:
        One sentence per fault, naming the texts or the panel (by its title) involved.

    Raises:
        ValueError: When ``max_aspect`` < 1 or ``min_font`` <= 0.

    Example:
        >>> problems = check_figure(fig)  # doctest: +SKIP
        >>> assert not problems, "\\n".join(problems)  # doctest: +SKIP
    """
    if max_aspect < 1:
        raise ValueError(f"max_aspect must be >= 1, got {max_aspect}")
    if min_font <= 0:
        raise ValueError(f"min_font must be > 0, got {min_font}")
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    texts = _texts(fig)
    problems = _aspect(fig, renderer, max_aspect)
    problems += [
        f"text smaller than {min_font:g} pt: {_name(t)} ({t.get_fontsize():.1f} pt)"
        for t in texts
        if t.get_fontsize() < min_font
    ]
    problems += _text_overlaps(texts, renderer)
    problems += _legend_overlaps(fig, renderer)
    problems += [p for ax in fig.axes if ax.get_visible() and ax.axison for p in _single_category(ax)]
    return problems


#: A bar with a non-zero value drawn shorter than this many pixels is hard to see (see :func:`hidden_bars`).
MIN_BAR_PX = 4.0
#: ... or shorter than this share of its axis: a bar of 1/80 of the range beside a full-length one reads as empty.
MIN_BAR_FRACTION = 0.02


def hidden_bars(ax, min_px: float = MIN_BAR_PX, min_fraction: float = MIN_BAR_FRACTION) -> list[str]:
    """Bars of ``ax`` whose non-zero value is drawn too short to see and printed by no text of the panel.

    Too short: under ``min_px`` pixels, or under ``min_fraction`` of the axis' length (a bar of 0.3 ms on a
    0-25 ms axis is a few pixels on a wide panel, yet invisible against the bars beside it).

    A rare category beside a common one (three AT views next to four hundred CC) draws as a sliver on a linear
    axis: readable only with a log axis or its count printed. Not part of :func:`check_figure` (a small rate
    can be honestly small); call it on panels of counts.

    Args:
        ax: A matplotlib ``Axes`` holding bars (``ax.bar``/``ax.barh``), laid out as it will be saved.
        min_px: Smallest readable bar length in display pixels.
        min_fraction: Smallest readable bar length as a share of the axes' width (horizontal bars) or height.

    Returns:
        One sentence per hidden bar, naming the panel and the value.

    Raises:
        ValueError: When ``min_px`` <= 0 or ``min_fraction`` is outside [0, 1).

    Example:
        >>> problems = hidden_bars(fig.axes[-1])  # doctest: +SKIP
    """
    from matplotlib.container import BarContainer

    if min_px <= 0:
        raise ValueError(f"min_px must be > 0, got {min_px}")
    if not 0 <= min_fraction < 1:
        raise ValueError(f"min_fraction must be in [0, 1), got {min_fraction}")
    fig = ax.get_figure(root=True)
    fig.draw_without_rendering()
    frame = ax.get_window_extent()
    printed = {" ".join(t.get_text().split()) for t in ax.texts if t.get_visible()}
    out = []
    for container in (c for c in ax.containers if isinstance(c, BarContainer)):
        vertical = container.orientation != "horizontal"
        for patch, value in zip(container.patches, container.datavalues):
            if not np.isfinite(value) or value == 0:
                continue
            box = patch.get_window_extent()
            length = box.height if vertical else box.width
            length = length if np.isfinite(length) else 0.0
            shortest = max(min_px, min_fraction * (frame.height if vertical else frame.width))
            if length < shortest and not any(_prints(text, value) for text in printed):
                out.append(
                    f"{_panel(ax)}: a bar of value {value:g} is {length:.1f} px long and its value is not printed"
                )
    return out


def _prints(text: str, value: float) -> bool:
    """Whether ``text`` shows ``value`` (as an integer or a short decimal)."""
    shown = {f"{value:g}", f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"}
    return any(word.strip("()=,:") in shown for word in text.replace("/", " ").split()) or text in shown


#: Where :func:`place_legend` tries a legend, in order, before it puts it outside the axes.
LEGEND_CORNERS = ("upper right", "upper left", "lower right", "lower left", "center right", "center left")


def place_legend(ax, **kwargs):
    """Put the legend of ``ax`` in the first corner where it covers no data, else outside the axes on the right.

    The same measurement as :func:`check_figure` (legend box against bars, line points and segments, scatter
    points, error bars), on the figure as laid out now.

    Args:
        ax: The axes whose labelled artists go into the legend.
        **kwargs: Passed to ``ax.legend`` (``fontsize``, ``title``, ``ncol`` …; not ``loc``).

    Returns:
        The legend.

    Raises:
        ValueError: When ``loc`` or ``bbox_to_anchor`` is passed.

    Example:
        >>> leg = place_legend(ax, fontsize=8)  # doctest: +SKIP
    """
    if "loc" in kwargs or "bbox_to_anchor" in kwargs:
        raise ValueError("place_legend chooses loc and bbox_to_anchor itself; pass neither")
    fig = ax.get_figure(root=True)
    for loc in LEGEND_CORNERS:
        legend = ax.legend(loc=loc, **kwargs)
        fig.draw_without_rendering()
        if not _legend_covers(legend, fig, fig.canvas.get_renderer()):
            return legend
    return ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, **kwargs)


def _name(text) -> str:
    s = " ".join(text.get_text().split())
    return repr(s if len(s) <= 40 else s[:37] + "...")


def _panel(ax) -> str:
    title = ax.get_title() or ax.get_title("left")
    if not title:
        title = f"{ax.get_ylabel()} vs {ax.get_xlabel()}" if ax.get_xlabel() or ax.get_ylabel() else "untitled"
    return f"panel {' '.join(title.split())!r}"


def _aspect(fig, renderer, max_aspect: float) -> list[str]:
    box = fig.get_tightbbox(renderer)
    width, height = box.width, box.height
    if min(width, height) <= 0:
        return []
    ratio = max(width / height, height / width)
    if ratio > max_aspect:
        return [
            f"aspect {width / height:.2f}:1 ({width:.1f} x {height:.1f} in saved) is past {max_aspect:g}:1; "
            "use a grid with more rows (or columns)"
        ]
    return []


def _tick_labels(ax) -> list:
    """Tick labels drawn inside the axis' view (major and minor)."""
    out = []
    for axis in (ax.xaxis, ax.yaxis):
        if not axis.get_visible():
            continue
        low, high = sorted(axis.get_view_interval())
        span = max(high - low, 1e-12)
        for minor in (False, True):
            locs = axis.get_minorticklocs() if minor else axis.get_majorticklocs()
            ticks = axis.get_minor_ticks(len(locs)) if minor else axis.get_major_ticks(len(locs))
            for loc, tick in zip(locs, ticks):
                if not (low - 1e-9 * span <= loc <= high + 1e-9 * span) or not tick.get_visible():
                    continue
                out += [label for label in (tick.label1, tick.label2) if label.get_visible()]
    return out


def _texts(fig) -> list:
    """Every visible, non-empty text of the figure."""
    candidates = list(fig.texts)
    for sub in fig.subfigs:
        candidates += _texts(sub)
    if fig.legends:
        candidates += [t for leg in fig.legends for t in (*leg.get_texts(), leg.get_title())]
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        candidates += [ax.title, getattr(ax, "_left_title", ax.title), getattr(ax, "_right_title", ax.title), *ax.texts]
        if ax.axison:
            candidates += [ax.xaxis.label, ax.yaxis.label, *_tick_labels(ax)]
        legend = ax.get_legend()
        if legend is not None and legend.get_visible():
            candidates += [*legend.get_texts(), legend.get_title()]
    seen, out = set(), []
    for t in candidates:
        if id(t) in seen or not t.get_visible() or not t.get_text().strip() or t.get_alpha() == 0:
            continue
        seen.add(id(t))
        out.append(t)
    return out


def _overlap(a, b) -> bool:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w > TOLERANCE_PX and h > TOLERANCE_PX


def _corners(text, renderer) -> np.ndarray:
    """The four display corners of a text's box, turned with the text (a rotated label is not its bounding box)."""
    box = text.get_window_extent(renderer)
    angle = np.deg2rad(text.get_rotation() % 180)
    if np.isclose(np.sin(2 * angle), 0):
        return np.array([[box.x0, box.y0], [box.x1, box.y0], [box.x1, box.y1], [box.x0, box.y1]])
    rotation = text.get_rotation()
    text.set_rotation(0)
    flat = text.get_window_extent(renderer)
    text.set_rotation(rotation)
    half = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * [flat.width / 2, flat.height / 2]
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return half @ turn.T + [(box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2]


def _polygons_overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """Separating-axis test of two convex quadrilaterals: they overlap by more than the tolerance on every axis."""
    for poly in (a, b):
        for edge in np.diff(np.vstack([poly, poly[:1]]), axis=0):
            normal = np.array([-edge[1], edge[0]]) / max(np.hypot(*edge), 1e-12)
            pa, pb = a @ normal, b @ normal
            if min(pa.max(), pb.max()) - max(pa.min(), pb.min()) <= TOLERANCE_PX:
                return False
    return True


def _text_overlaps(texts, renderer) -> list[str]:
    boxes = [t.get_window_extent(renderer) for t in texts]
    corners = [_corners(t, renderer) for t in texts]
    out = []
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            if _overlap(boxes[i], boxes[j]) and _polygons_overlap(corners[i], corners[j]):
                out.append(f"text overlaps text: {_name(texts[i])} and {_name(texts[j])}")
    return out


def _line_points(line, ax) -> np.ndarray:
    """Display coordinates of a data line: its points and, when drawn with a line style, samples along it."""
    from matplotlib.cbook import STEP_LOOKUP_MAP

    if line.get_transform() != ax.transData:  # axhline / axvline: a reference, not data
        return np.empty((0, 2))
    xy = np.asarray(line.get_xydata(), float).reshape(-1, 2)
    xy = xy[np.isfinite(xy).all(axis=1)]
    if not len(xy):
        return np.empty((0, 2))
    if line.get_linestyle() not in ("None", "none", "", " ") and len(xy) > 1:
        xs, ys = STEP_LOOKUP_MAP[line.get_drawstyle()](xy[:, 0], xy[:, 1])
        return _densify(ax.transData.transform(np.column_stack([xs, ys])))
    return ax.transData.transform(xy)


def _densify(points: np.ndarray, step: float = 2.0) -> np.ndarray:
    """Points every ``step`` pixels along a polyline given in display coordinates."""
    out = [points[:1]]
    for a, b in zip(points[:-1], points[1:]):
        n = int(np.ceil(np.hypot(*(b - a)) / step))
        if n > 0 and n < 100_000:
            out.append(a + (b - a) * np.linspace(0, 1, n + 1)[1:, None])
    return np.vstack(out)


def _data_points(ax) -> tuple[np.ndarray, list]:
    """Display points (lines, scatter, error bars) and boxes (bars) of the data drawn in ``ax``."""
    from matplotlib.collections import LineCollection, PathCollection
    from matplotlib.patches import Rectangle

    points = [_line_points(line, ax) for line in ax.lines if line.get_visible()]
    for c in ax.collections:
        if not c.get_visible():
            continue
        if isinstance(c, PathCollection):
            offsets = np.asarray(c.get_offsets(), float).reshape(-1, 2)
            offsets = offsets[np.isfinite(offsets).all(axis=1)]
            if len(offsets):
                points.append(c.get_offset_transform().transform(offsets))
        elif isinstance(c, LineCollection):
            for seg in c.get_segments():
                seg = np.asarray(seg, float)
                seg = seg[np.isfinite(seg).all(axis=1)]
                if len(seg):
                    points.append(_densify(c.get_transform().transform(seg)))
    boxes = []
    for patch in ax.patches:
        if isinstance(patch, Rectangle) and patch.get_visible() and patch.get_fill():
            box = patch.get_window_extent()
            if np.isfinite([box.x0, box.x1, box.y0, box.y1]).all() and box.width > 0.5 and box.height > 0.5:
                boxes.append(box)
    return (np.vstack(points) if points else np.empty((0, 2))), boxes


def _legend_covers(legend, fig, renderer) -> list[tuple]:
    """``(axes, what)`` for each panel whose data the legend box covers."""
    box = legend.get_window_extent(renderer)
    inner = (box.x0 + TOLERANCE_PX, box.y0 + TOLERANCE_PX, box.x1 - TOLERANCE_PX, box.y1 - TOLERANCE_PX)
    out = []
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        points, bars = _data_points(ax)
        what = []
        if len(points):
            x, y = points[:, 0], points[:, 1]
            if ((x > inner[0]) & (x < inner[2]) & (y > inner[1]) & (y < inner[3])).any():
                what.append("plotted points or lines")
        if any(_overlap(box, bar) for bar in bars):
            what.append("bars")
        if what:
            out.append((ax, " and ".join(what)))
    return out


def _legend_overlaps(fig, renderer) -> list[str]:
    legends = [(leg, None) for leg in fig.legends]
    legends += [(ax.get_legend(), ax) for ax in fig.axes if ax.get_legend() is not None and ax.get_visible()]
    out = []
    for legend, owner in legends:
        if not legend.get_visible():
            continue
        where = _panel(owner) if owner is not None else "the figure"
        covered = _legend_covers(legend, fig, renderer)
        out += [f"legend of {where} covers {what} of {_panel(ax)}" for ax, what in covered]
    return out


def _categories(axis) -> list[str] | None:
    """The category labels of a categorical axis (string units or labels set by name), else None."""
    from matplotlib.category import StrCategoryConverter
    from matplotlib.ticker import FixedFormatter, FixedLocator, FuncFormatter

    named = isinstance(axis.get_major_locator(), FixedLocator) and isinstance(
        axis.get_major_formatter(), (FixedFormatter, FuncFormatter)
    )  # set_xticks(positions, labels)
    categorical = named or isinstance(axis.get_converter(), StrCategoryConverter)
    if not categorical or not axis.get_visible():
        return None
    low, high = sorted(axis.get_view_interval())
    ticks = axis.get_major_ticks(len(axis.get_majorticklocs()))
    return [
        t.label1.get_text()
        for loc, t in zip(axis.get_majorticklocs(), ticks)
        if low <= loc <= high and t.label1.get_visible() and t.label1.get_text().strip()
    ]


def _single_category(ax) -> list[str]:
    """A panel whose categorical axis shows one category, or whose bars all stand at one position."""
    from matplotlib.container import BarContainer

    for axis, name in ((ax.xaxis, "x"), (ax.yaxis, "y")):
        labels = _categories(axis)
        if labels is not None and len(labels) == 1:
            return [
                f"{_panel(ax)} shows a single category on its {name} axis ({labels[0]!r}): drop the panel or "
                "say so in the title"
            ]
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    if bars:
        centres = set()
        for container in bars:
            for patch in container.patches:
                vertical = container.orientation != "horizontal"
                centre = patch.get_x() + patch.get_width() / 2 if vertical else patch.get_y() + patch.get_height() / 2
                centres.add(round(float(centre), 6))
        if len(centres) == 1:
            return [f"{_panel(ax)} has a single bar: drop the panel or say so in the title"]
    return []
