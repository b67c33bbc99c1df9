"""Figure of the export stage: size, latency and AUC of each format (notebook 08)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..evaluation.figure_check import place_legend
from .benchmark import delta_reference, interval_text

#: Format of a change of AUC printed in the quality panel: four decimals, so a limit of -0.0002 reads as negative
#: (three decimals print it as +0.000 beside a value printed as +0.002).
DELTA_FORMAT = "+.4f"


#: The panels :func:`plot_export_formats` can draw, in their order.
EXPORT_PANELS = ("size", "latency", "quality")


def plot_export_formats(
    table: pd.DataFrame,
    title: str = "Export formats on this CPU (same test images, one run)",
    panels: tuple[str, ...] = EXPORT_PANELS,
    fontsize: float = 8.0,
    width: float = 15.0,
):
    """Three panels per format: file size (raw and gzip), batch-1 latency, test breast AUC with its change.

    Latency spans two orders of magnitude between Keras and the TFLite/ONNX runtimes, so its axis is logarithmic
    and each bar prints its median (and p95, the whisker). The quality panel draws each AUC's 95% patient-bootstrap
    interval (``breast_auc_low/high``) and prints each row's change with its paired interval (``delta_auc_low/high``,
    four decimals, so a limit just below zero keeps its minus sign) where the table has them, naming the model it is
    measured against (``delta_against``: Keras for the unpruned formats and the pruned Keras model, the pruned Keras
    model for the pruned int8 file).

    Args:
        table: :func:`mammo_utils.export.benchmark.format_table` (or ``benchmark_export``) output.
        title: Figure title.
        panels: Which of :data:`EXPORT_PANELS` to draw (a slide shows fewer, larger ones).
        fontsize: Points of the printed values and the legend; titles and labels are one to three points larger.
        width: Figure width in inches.

    Returns:
        The matplotlib figure.

    Example:
        >>> plot_export_formats(table, panels=("quality",), fontsize=12, width=11)  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    unknown = [p for p in panels if p not in EXPORT_PANELS]
    if unknown or not panels:
        raise ValueError(f"panels={panels!r}: expected some of {EXPORT_PANELS}")
    names = list(table.index)
    y = np.arange(len(names))
    row_h = max(0.5, fontsize * 3.0 / 72)  # inches a format's row takes: two printed lines of the quality panel
    fig, axes = plt.subplots(1, len(panels), figsize=(width, row_h * len(names) + 1.9), sharey=True, squeeze=False)
    draw = {"size": _size_panel, "latency": _latency_panel, "quality": _quality_panel}
    for ax, panel in zip(axes[0], panels):
        draw[panel](ax, table, y, fontsize)
        ax.title.set_fontsize(fontsize + 2)
        ax.xaxis.label.set_fontsize(fontsize + 1)
        ax.tick_params(labelsize=fontsize + 1)
    axes[0, 0].set_yticks(y, names)
    axes[0, 0].invert_yaxis()
    fig.suptitle(title, fontsize=fontsize + 3)
    fig.tight_layout()
    return fig


def _size_panel(ax, table: pd.DataFrame, y: np.ndarray, fontsize: float) -> None:
    """File size and gzip size bars (a folder format has no gzip size: said in place of its bar)."""
    ax.barh(y - 0.2, table.size_mb, 0.4, color="#0072B2", label="file")
    ax.barh(y + 0.2, table.gzip_mb, 0.4, color="#56B4E9", label="gzip")
    ax.set(xlabel="size (MB)", title="Size", xlim=(0, np.nanmax(table.size_mb) * 1.3))  # room for the legend
    for yi, gz in zip(y, table.gzip_mb.to_numpy(float)):
        if not np.isfinite(gz):  # a folder format (SavedModel) has no single file to gzip
            ax.annotate("gzip: n/a (folder)", (0, yi + 0.2), xytext=(3, 0), textcoords="offset points",
                        fontsize=fontsize - 1, va="center")  # fmt: skip
    place_legend(ax, fontsize=fontsize)


def _latency_panel(ax, table: pd.DataFrame, y: np.ndarray, fontsize: float = 8.0) -> None:
    """Batch-1 latency on a log axis: median bars, p95 whiskers, each value printed right of its whisker."""
    from matplotlib.ticker import FuncFormatter

    median, p95 = table.ms_b1_median.to_numpy(float), table.ms_b1_p95.to_numpy(float)
    whisker = np.clip(p95 - median, 0, None)
    start = np.nanmin(median) / 3  # a log axis has no zero: bars start at its left end
    ax.barh(y, median - start, left=start, xerr=[np.zeros(len(y)), whisker], color="#E69F00", capsize=3)
    ax.set_xscale("log")
    ax.set_xlim(start, np.nanmax(np.fmax(p95, median)) * 12)  # room for the printed values
    for yi, m, p in zip(y, median, p95):
        ax.annotate(f"{m:.2f} (p95 {p:.2f})", (max(m, p), yi), xytext=(5, 0), textcoords="offset points",
                    fontsize=fontsize, va="center")  # fmt: skip
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.set(xlabel="latency at batch 1 (ms, log scale; bar: median, whisker: p95)", title="Latency")


def _quality_panel(ax, table: pd.DataFrame, y: np.ndarray, fontsize: float = 8.0) -> None:
    """Test breast AUC with its 95% interval, and each row's change with its paired interval, printed with the model
    it is measured against (:func:`~mammo_utils.export.benchmark.delta_reference`)."""
    auc = table.breast_auc.to_numpy(float)
    has_ci = {"breast_auc_low", "breast_auc_high"} <= set(table.columns)
    if has_ci:
        low, high = table.breast_auc_low.to_numpy(float), table.breast_auc_high.to_numpy(float)
        ax.errorbar(auc, y, xerr=[np.clip(auc - low, 0, None), np.clip(high - auc, 0, None)], fmt="none",
                    ecolor="#009E73", capsize=3, zorder=2, clip_on=False)  # fmt: skip
    ax.scatter(auc, y, color="#009E73", zorder=3, clip_on=False)  # an AUC of 1 sits on the axis' right edge
    for yi, (name, row) in zip(y, table.iterrows()):
        against = delta_reference(str(name), row)  # the model this row's change is measured against
        change = (
            "(the reference of Δ)"
            if against == name
            else f"Δ vs {against}: {interval_text(row, 'delta_auc', DELTA_FORMAT)}"
        )
        ax.annotate(
            f"{interval_text(row, 'breast_auc')}\n{change}",
            (float(np.nanmin([row.breast_auc, row.get("breast_auc_low", np.nan)])), yi),
            xytext=(-7, 0),
            textcoords="offset points",
            fontsize=fontsize - 0.5,
            ha="right",
            va="center",
        )  # left of the interval: inside the axes, whatever the AUC
    lowest = float(np.nanmin(table.breast_auc_low if has_ci else auc))
    ax.set(xlim=(max(0.0, lowest - 0.12), 1.0), xlabel="test breast ROC-AUC (95% patient-bootstrap CI)",
           title="Quality (Δ vs the model named: paired 95% CI)")  # fmt: skip
    ax.grid(axis="x", alpha=0.3)
