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
        reports: ``{window name: drift report}`` (rows = features, column ``psi``).
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
    for i, name in enumerate(names):
        values = np.clip(reports[name].psi.reindex(features).to_numpy(float), LOG_FLOOR, None)
        ax.bar(x + i * width - 0.4 + width / 2, values, width, label=name)
    ax.axhline(stable, color="grey", ls=":", lw=1, label=f"stable < {stable}")
    ax.axhline(drift, color="black", ls="--", lw=1, label=f"drift > {drift}")
    ax.set_xticks(x, features, rotation=20, ha="right")
    # log scale: a what-if drift reaches PSI of several units while a stable window sits near 0.01
    ax.set_yscale("log")
    ax.set_ylim(bottom=LOG_FLOOR)
    ax.set(ylabel="PSI (log scale)", title=title)
    fig.tight_layout()
    place_legend(ax, fontsize=8)
    fig.tight_layout()
    return fig
