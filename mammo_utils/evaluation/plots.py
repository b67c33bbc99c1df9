"""Figures every stage shares: where figures go (:func:`save_fig`), image grids and confusion matrices.

Stage-specific figures live with their stage: :mod:`mammo_utils.evaluation.eda_plots` (EDA),
:mod:`mammo_utils.modeling.plots` (training, variants, search), :mod:`mammo_utils.detection.plots`,
:mod:`mammo_utils.export.plots` (formats) and :mod:`mammo_utils.monitoring.plots` (drift).
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..utils import project_root, write_atomic


def figure_dir() -> Path:
    """Where figures go: ``MAMMO_FIGURES`` when set (tests use a temporary folder), else ``<project>/reports/figures``.

    Returns:
        The folder (created on the first save).
    """
    return Path(os.environ.get("MAMMO_FIGURES") or project_root() / "reports" / "figures")


def save_fig(fig, name: str, folder: str | Path | None = None, dpi: int = 110) -> None:
    """Save a matplotlib figure as PNG under ``reports/figures`` (handson-ml style).

    Args:
        fig: The figure.
        name: File stem.
        folder: Output folder (default: :func:`figure_dir`).
        dpi: Resolution.

    Returns:
        None (so a notebook cell ending with it shows the figure only); the file is ``folder/name.png``.
    """
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

    Args:
        images: 2-D arrays in [0, 1].
        titles: One title per image.
        boxes: Optional list of boxes per image.
        ncols: Columns of the grid.
        title: Figure title.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    nrows = max(1, int(np.ceil(len(images) / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3 * ncols, 3.6 * nrows), squeeze=False)
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
    fig.tight_layout()
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
