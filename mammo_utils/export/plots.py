"""Figure of the export stage: size, latency and AUC of each format (notebook 08)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..evaluation.figure_check import place_legend


def plot_export_formats(table: pd.DataFrame, title: str = "Export formats on this CPU (same test images, one run)"):
    """Three panels per format: file size (raw and gzip), batch-1 latency (median, p95 whisker), test breast AUC.

    Args:
        table: :func:`mammo_utils.export.benchmark.format_table` (or ``benchmark_export``) output.
        title: Figure title.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    names = list(table.index)
    y = np.arange(len(names))
    fig, axes = plt.subplots(1, 3, figsize=(13, 0.45 * len(names) + 1.8), sharey=True)
    axes[0].barh(y - 0.2, table.size_mb, 0.4, color="#0072B2", label="file")
    axes[0].barh(y + 0.2, table.gzip_mb, 0.4, color="#56B4E9", label="gzip")
    axes[0].set(xlabel="size (MB)", title="Size")
    place_legend(axes[0], fontsize=8)
    whisker = (table.ms_b1_p95 - table.ms_b1_median).clip(lower=0)
    axes[1].barh(y, table.ms_b1_median, xerr=[np.zeros(len(y)), whisker], color="#E69F00", capsize=3)
    axes[1].set(xlabel="latency at batch 1 (ms, median; whisker: p95)", title="Latency")
    axes[2].scatter(table.breast_auc, y, color="#009E73", zorder=3)
    for yi, auc, delta in zip(y, table.breast_auc, table.delta_auc):
        axes[2].annotate(
            f"{auc:.3f} (Δ {delta:+.3f})",
            (auc, yi),
            xytext=(-7, 0),
            textcoords="offset points",
            fontsize=8,
            ha="right",
            va="center",
        )  # left of the point: inside the axes, whatever the AUC
    low = float(np.nanmin(table.breast_auc))
    axes[2].set(xlim=(max(0.0, low - 0.1), 1.02), xlabel="test breast ROC-AUC", title="Quality")
    axes[2].grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, names)
    axes[0].invert_yaxis()
    fig.suptitle(title)
    fig.tight_layout()
    return fig
