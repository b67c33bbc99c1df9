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
#: Points of the printed values and legends on the page figure (titles and labels are one to three points larger); a
#: slide's copy raises them all with :func:`~mammo_utils.reporting.slide_figures.slide_copy`.
FONT_PT = 10.0
#: Inches of the page figure's width: the report shows it at its own size (about 1,000 pixels at the 110 dpi of
#: ``save_fig``), so its text is not shrunk.
PAGE_WIDTH = 9.0
#: Share of the AUC range (points and interval ends) left blank on each side of the quality panel.
QUALITY_PAD = 0.15


def plot_export_formats(
    table: pd.DataFrame,
    title: str = "Export formats on this CPU (same test images, one run)",
    panels: tuple[str, ...] = EXPORT_PANELS,
    width: float = PAGE_WIDTH,
):
    """Three panels per format: file size (raw and gzip), batch-1 latency, test breast AUC with its change.

    All three: size and latency side by side, the quality panel under them (as wide as both, its printed values in a
    column at its right). Fewer: one row.

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
        width: Figure width in inches.

    Returns:
        The matplotlib figure.

    Example:
        >>> plot_export_formats(table, panels=("quality",), width=11)  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    unknown = [p for p in panels if p not in EXPORT_PANELS]
    if unknown or not panels:
        raise ValueError(f"panels={panels!r}: expected some of {EXPORT_PANELS}")
    fontsize = FONT_PT
    names = list(table.index)
    y = np.arange(len(names))
    row_h = max(0.5, fontsize * 3.0 / 72)  # inches a format's row takes: two printed lines of the quality panel
    rows = [[p for p in panels if p != "quality"], ["quality"]] if len(panels) == 3 else [list(panels)]
    fig = plt.figure(
        figsize=(width, len(rows) * (row_h * len(names) + 1.9)), layout="constrained" if len(rows) > 1 else None
    )
    parts = fig.subfigures(len(rows), 1, squeeze=False)[:, 0] if len(rows) > 1 else [fig]  # a row, its own columns
    draw = {"size": _size_panel, "latency": _latency_panel, "quality": _quality_panel}
    for part, row in zip(parts, rows):
        axes = part.subplots(1, len(row), sharey=True, squeeze=False)[0]
        for ax, panel in zip(axes, row):
            draw[panel](ax, table, y, fontsize)
            ax.title.set_fontsize(fontsize + 2)
            ax.xaxis.label.set_fontsize(fontsize + 1)
            ax.tick_params(labelsize=fontsize + 1)
        axes[0].set_yticks(y, names)
        axes[0].invert_yaxis()
    fig.suptitle(title, fontsize=fontsize + 3)
    if len(rows) == 1:
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
                        fontsize=fontsize, va="center")  # fmt: skip
    place_legend(ax, fontsize=fontsize)


def _latency_panel(ax, table: pd.DataFrame, y: np.ndarray, fontsize: float = FONT_PT) -> None:
    """Batch-1 latency on a log axis: median bars, p95 whiskers, each row's values printed right of the axes."""
    from matplotlib.ticker import FuncFormatter

    median, p95 = table.ms_b1_median.to_numpy(float), table.ms_b1_p95.to_numpy(float)
    whisker = np.clip(p95 - median, 0, None)
    start = np.nanmin(median) / 3  # a log axis has no zero: bars start at its left end
    ax.barh(y, median - start, left=start, xerr=[np.zeros(len(y)), whisker], color="#E69F00", capsize=3)
    ax.set_xscale("log")
    ax.set_xlim(start, np.nanmax(np.fmax(p95, median)) * 2)
    for yi, m, p in zip(y, median, p95):  # a column right of the axes: never past the frame, whatever the font
        ax.annotate(f"{m:.2f} (p95 {p:.2f})", (1.0, yi), xycoords=("axes fraction", "data"), xytext=(6, 0),
                    textcoords="offset points", fontsize=fontsize, va="center")  # fmt: skip
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.set(xlabel="latency at batch 1 (ms, log scale)\nbar: median, whisker: p95", title="Latency")


def quality_limits(table: pd.DataFrame, pad: float = QUALITY_PAD) -> tuple[float, float]:
    """The quality panel's x range: every AUC and interval end, with ``pad`` of their span blank on each side.

    Args:
        table: The format table (``breast_auc`` and, where recorded, ``breast_auc_low``/``breast_auc_high``).
        pad: Share of the span left on each side (at least 0.002 AUC, so equal values still get an axis).

    Returns:
        ``(left, right)``.

    Example:
        >>> [round(v, 4) for v in quality_limits(pd.DataFrame({"breast_auc": [0.99, 0.995]}))]
        [0.988, 0.997]
    """
    cols = [c for c in ("breast_auc", "breast_auc_low", "breast_auc_high") if c in table.columns]
    values = table[cols].to_numpy(float)
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    margin = max((high - low) * pad, 0.002)
    return low - margin, high + margin


def _quality_panel(ax, table: pd.DataFrame, y: np.ndarray, fontsize: float = FONT_PT) -> None:
    """Test breast AUC with its 95% interval, and each row's change with its paired interval, printed with the model
    it is measured against (:func:`~mammo_utils.export.benchmark.delta_reference`).

    The x range is the data's (:func:`quality_limits`); the printed values stand in a column right of the axes, so
    no label touches an interval whatever the values."""
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
            (1.0, yi),
            xycoords=("axes fraction", "data"),
            xytext=(8, 0),
            textcoords="offset points",
            fontsize=fontsize,
            ha="left",
            va="center",
        )  # a column right of the axes: never on an interval
    left, right = quality_limits(table)
    ax.set(xlim=(left, right), xlabel="test breast ROC-AUC (95% patient-bootstrap CI)",
           title="test breast ROC-AUC [95% CI]")  # fmt: skip
    ax.set_xticks([t for t in ax.get_xticks() if left <= t <= min(right, 1.0)])  # no AUC tick past 1
    ax.grid(axis="x", alpha=0.3)
