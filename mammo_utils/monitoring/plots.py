"""Figure of the monitoring stage: PSI per feature of drift windows against a reference (notebook 08)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..evaluation.figure_check import place_legend

#: Lowest PSI drawn on the log axis (a value of 0 is drawn at this floor).
LOG_FLOOR = 1e-3


def plot_drift(
    reports: dict[str, pd.DataFrame], stable: float, drift: float, title: str = "Drift against the reference"
):
    """PSI per feature for several current windows, with the stable/drift thresholds.

    Args:
        reports: ``{window name: drift report}`` (rows = features, column ``psi``). A feature whose PSI is below
            :data:`LOG_FLOOR` in every window (e.g. constant in both reference and window) is labelled in place.
        stable: PSI below which a feature is stable.
        drift: PSI above which a feature has drifted.
        title: Figure title.

    Returns:
        The figure.
    """
    import matplotlib.pyplot as plt

    names = list(reports)
    features = list(dict.fromkeys(f for r in reports.values() for f in r.index))
    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.8 / max(len(names), 1)
    x = np.arange(len(features))
    raw = np.asarray([reports[name].psi.reindex(features).to_numpy(float) for name in names]).reshape(len(names), -1)
    for i, name in enumerate(names):
        ax.bar(x + i * width - 0.4 + width / 2, np.clip(raw[i], LOG_FLOOR, None), width, label=name)
    # a PSI under the floor (0 for a feature that does not vary, e.g. one image size) would be an invisible bar
    for j in np.flatnonzero((np.nan_to_num(raw, nan=0.0) < LOG_FLOOR).all(axis=0)):
        # horizontal and short, so it stays under the stable line instead of crossing both thresholds
        ax.text(x[j], LOG_FLOOR * 1.3, "PSI 0\nin every\nwindow", ha="center", va="bottom", fontsize=8)
    ax.axhline(stable, color="grey", ls=":", lw=1, label=f"stable < {stable}")
    ax.axhline(drift, color="black", ls="--", lw=1, label=f"drift > {drift}")
    ax.set_xticks(x, features, rotation=30, ha="right")
    ax.set_xlabel("image feature (or model score) compared with the reference")
    # log scale: a what-if drift reaches PSI of several units while a stable window sits near 0.01
    ax.set_yscale("log")
    ax.set_ylim(bottom=LOG_FLOOR)
    ax.set(ylabel="PSI (log scale)", title=title)
    fig.tight_layout()
    place_legend(ax, fontsize=8)
    fig.tight_layout()
    return fig
