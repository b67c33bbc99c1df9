"""Figures every stage shares: where figures go (:func:`save_fig`, after the readability check of
:mod:`mammo_utils.evaluation.figure_check`), image grids and confusion matrices.

Stage-specific figures live with their stage: :mod:`mammo_utils.evaluation.eda_plots` (EDA),
:mod:`mammo_utils.modeling.plots` (training, variants, search), :mod:`mammo_utils.detection.plots`,
:mod:`mammo_utils.export.plots` (formats) and :mod:`mammo_utils.monitoring.plots` (drift).
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..utils import project_root, write_atomic
from .figure_check import FigureReadabilityError, check_figure

#: Environment variable that sets what :func:`save_fig` does with a figure the checker faults: ``raise``
#: (the default: a published figure must be readable), ``warn`` (save it and warn) or ``off`` (no check).
CHECK_ENV = "MAMMO_FIGURE_CHECK"
CHECK_MODES = ("raise", "warn", "off")


def figure_dir() -> Path:
    """Where figures go: ``MAMMO_FIGURES`` when set (tests use a temporary folder), else ``<project>/reports/figures``.

    Returns:
        The folder (created on the first save).
    """
    return Path(os.environ.get("MAMMO_FIGURES") or project_root() / "reports" / "figures")


def save_fig(fig, name: str, folder: str | Path | None = None, dpi: int = 110) -> None:
    """Save a matplotlib figure as PNG under ``reports/figures`` (handson-ml style) once it passes the figure check.

    Every figure is first checked with :func:`mammo_utils.evaluation.figure_check.check_figure` (overlapping
    texts, a legend over data, an aspect past 4:1, a one-category panel, text under 7 pt). By default a fault
    raises and nothing is written, so a rebuild cannot publish an unreadable figure; ``MAMMO_FIGURE_CHECK=warn``
    saves it with a warning (for exploration), ``MAMMO_FIGURE_CHECK=off`` skips the check.

    Args:
        fig: The figure.
        name: File stem.
        folder: Output folder (default: :func:`figure_dir`).
        dpi: Resolution.

    Returns:
        None (so a notebook cell ending with it shows the figure only); the file is ``folder/name.png``.

    Raises:
        FigureReadabilityError: The figure has readability faults (each listed) and the mode is ``raise``.
        ValueError: ``MAMMO_FIGURE_CHECK`` holds another value than ``raise``, ``warn`` or ``off``.

    Example:
        >>> save_fig(fig, "01_class_balance")  # doctest: +SKIP
    """
    mode = os.environ.get(CHECK_ENV, "raise").strip().lower() or "raise"
    if mode not in CHECK_MODES:
        raise ValueError(f"{CHECK_ENV}={mode!r}: expected one of {', '.join(CHECK_MODES)}")
    problems = check_figure(fig) if mode != "off" else []
    if problems:
        message = f"figure {name!r} is not readable:\n- " + "\n- ".join(problems)
        if mode == "raise":
            raise FigureReadabilityError(
                f"{message}\nFix the plotting function (or set {CHECK_ENV}=warn to save it anyway while exploring)."
            )
        warnings.warn(message, stacklevel=2)
    folder = Path(folder) if folder is not None else figure_dir()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    write_atomic(folder / f"{name}.png", buffer.getvalue())


def image_grid(
    images: Sequence[np.ndarray],
    titles: Sequence[str],
    boxes: Sequence[list] | None = None,
    ncols: int = 4,
    title: str = "",
):
    """Show grayscale images in a grid with optional red boxes ``(x0, y0, x1, y1)`` per image.

    A row of many images becomes more rows (fewer columns) when the figure would be wider than
    :data:`GRID_MAX_ASPECT` to 1, so a long strip cannot be published (e.g. 8 images with ``ncols=8`` -> 2 x 4).

    Args:
        images: 2-D arrays in [0, 1].
        titles: One title per image.
        boxes: Optional list of boxes per image.
        ncols: Most columns of the grid.
        title: Figure title.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    ncols, nrows = _grid_shape(len(images), ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(_PANEL_W * ncols, _PANEL_H * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (img, name) in enumerate(zip(images, titles)):
        ax = axes.flat[i]
        ax.imshow(img, cmap="gray", vmin=0, vmax=1)
        ax.set_title(name, fontsize=9)
        for b in boxes[i] if boxes is not None else []:
            ax.add_patch(Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, ec="red", lw=1.2))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


#: Widest width:height of an :func:`image_grid` (under the figure check's 4:1, leaving room for the title).
GRID_MAX_ASPECT = 3.5
_PANEL_W, _PANEL_H = 3.0, 3.6


def _grid_shape(n: int, ncols: int) -> tuple[int, int]:
    """``(columns, rows)`` for ``n`` panels: at most ``ncols`` columns, more rows while too wide."""
    ncols = max(1, min(int(ncols), max(n, 1)))
    nrows = max(1, int(np.ceil(n / ncols)))
    while ncols > 1 and (_PANEL_W * ncols) / (_PANEL_H * nrows) > GRID_MAX_ASPECT:
        nrows += 1
        ncols = int(np.ceil(n / nrows))
    return ncols, nrows


def plot_confusion(report: dict, title: str = "Confusion matrix", unit: str = "breasts"):
    """Confusion matrix as counts and row-normalised rates side by side.

    Args:
        report: Output of :func:`mammo_utils.evaluation.metrics.binary_report` (``tn, fp, fn, tp, threshold``).
        title: Figure title.
        unit: What is counted (``images`` or ``breasts``).

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    _draw_confusion(axes[0], report, "{count:.0f}", f"count of {unit}")
    _draw_confusion(axes[1], report, "{share:.1%}", "share of the true class")
    fig.suptitle(f"{title} (threshold {report['threshold']:.3f}, frozen on validation)")
    fig.tight_layout()
    return fig


def plot_roc(fpr, tpr, points: dict[str, tuple[float, float]], title: str, unit: str = "breasts"):
    """One ROC curve with named operating points on it (e.g. the frozen threshold, a specificity target).

    Args:
        fpr: False-positive rates of the curve (1 - specificity), ascending.
        tpr: True-positive rates (sensitivity).
        points: ``{label: (fpr, tpr)}`` marked and named in the legend.
        title: Figure title.
        unit: What is counted (for the axis labels).

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 6.4))
    ax.plot(fpr, tpr, color="tab:blue", lw=2, drawstyle="steps-post", label="ROC curve")
    ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1, label="chance")
    for (label, (x, y)), marker, colour in zip(points.items(), "os^D", ("tab:orange", "tab:green", "tab:red", "k")):
        ax.plot(
            [x], [y], marker=marker, ms=9, ls="none", color=colour, label=f"{label}: sens {y:.3f}, spec {1 - x:.3f}"
        )
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.05), title=title)
    ax.set_xlabel(f"1 - specificity (share of non-cancer {unit} recalled)")
    ax.set_ylabel(f"sensitivity (share of cancer {unit} found)")
    ax.set_aspect("equal")
    # under the axes: a curve hugging the corner leaves no free corner, and a legend beside would squeeze the axes
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), fontsize=9, ncol=1, frameon=False)
    fig.tight_layout()
    return fig


def plot_confusions(reports: dict[str, dict], title: str, unit: str = "breasts", columns: int = 3):
    """One confusion matrix per model (count and share of the true class in each cell), in a grid.

    Args:
        reports: ``{panel title: binary_report}`` (each with ``tn, fp, fn, tp, threshold``).
        title: Figure title.
        unit: What is counted (``images`` or ``breasts``).
        columns: Panels per row.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    columns = max(1, min(columns, len(reports)))
    rows = int(np.ceil(len(reports) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(4.3 * columns, 3.3 * rows), squeeze=False)
    for ax, (name, report) in zip(axes.flat, reports.items()):
        _draw_confusion(ax, report, "{count:.0f} ({share:.0%})", f"{name}\nthreshold {report['threshold']:.3f}")
    for ax in axes.flat[len(reports) :]:
        ax.set_axis_off()
    fig.suptitle(f"{title}: {unit}, thresholds frozen on validation")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / fig.get_figheight()))  # room between the title and the top row
    return fig


def _draw_confusion(ax, report: dict, fmt: str, name: str) -> None:
    """Draw one confusion matrix, coloured by the share of the true class (colour-blind-safe blues).

    ``fmt`` formats a cell from the keywords ``count`` and ``share`` (e.g. ``"{count:.0f} ({share:.0%})"``).
    """
    counts = np.array([[report["tn"], report["fp"]], [report["fn"], report["tp"]]], float)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    classes = ["no cancer", "cancer"]
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (i, j), share in np.ndenumerate(shares):
        ax.text(
            j,
            i,
            fmt.format(count=counts[i, j], share=share),
            ha="center",
            va="center",
            color="white" if share > 0.55 else "black",
            fontsize=12,
        )
    ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=classes, yticklabels=classes)
    ax.set(xlabel="predicted", ylabel="true", title=name)
