"""Figures of the exploratory analysis (notebook 01): prevalence, views, labels, intensity per machine.

Each has a title, labelled axes and units; save them with :func:`mammo_utils.evaluation.plots.save_fig`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def plot_rates(
    tables: dict[str, pd.DataFrame], overall: float, title: str = "Cancer rate by group", min_breasts: int = 20
):
    """Bar charts of the per-breast cancer rate with Wilson 95% CIs, one panel per grouping column.

    Groups with fewer than ``min_breasts`` breasts are not drawn as bars (their interval is too wide to read as a
    rate); they are named under the panel instead.

    Args:
        tables: ``{column: rate_by(...) frame}``.
        overall: Overall per-breast rate (dashed reference line).
        title: Figure title.
        min_breasts: Smallest group drawn.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tables), figsize=(4.2 * len(tables), 3.8), squeeze=False)
    for ax, (name, t) in zip(axes[0], tables.items()):
        shown, hidden = t[t.breasts >= min_breasts], t[t.breasts < min_breasts]
        x = np.arange(len(shown))
        err = np.vstack([shown["rate"] - shown["ci_low"], shown["ci_high"] - shown["rate"]]) * 100
        ax.bar(x, shown["rate"] * 100, yerr=err, capsize=3, color="#0072B2", alpha=0.85)
        for xi, n in zip(x, shown.breasts):
            ax.text(xi, 1, f"n={n}", ha="center", va="bottom", fontsize=7, color="white")
        ax.axhline(overall * 100, ls="--", color="k", lw=1, label="all breasts")
        ax.set_xticks(x, [str(i) for i in shown.index], rotation=45, ha="right")
        ax.set_xlabel(
            name
            + (f"\n(< {min_breasts} breasts, not drawn: {', '.join(map(str, hidden.index))})" if len(hidden) else "")
        )
        ax.set_ylabel("cancer rate (% of breasts)")
        ax.set_title(f"by {name}")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_class_balance(balance: pd.DataFrame, title: str = "Cancer prevalence by level"):
    """Bar chart of the positive rate at image, breast and patient level, annotated ``positives/n``.

    Args:
        balance: :func:`mammo_utils.evaluation.eda.class_balance` output.
        title: Figure title.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(balance.index, balance["rate"] * 100, color="tab:red")
    for i, (n, p, rate) in enumerate(zip(balance["n"], balance["positives"], balance["rate"])):
        ax.text(i, rate * 100, f"{p}/{n}", ha="center", va="bottom")
    ax.set(ylabel="positives (%)", xlabel="level", title=title)
    return fig


def plot_views(df: pd.DataFrame, per_patient: pd.DataFrame, title: str = "Images per patient and views"):
    """Two panels: how many patients have each image count, and image counts by laterality and view.

    Args:
        df: ``train.csv`` frame.
        per_patient: :func:`mammo_utils.evaluation.eda.views_per_patient` output.
        title: Figure title.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    axes[0].bar(per_patient.index.astype(str), per_patient["patients"])
    axes[0].set(xlabel="images per patient", ylabel="patients", title="Images per patient")
    df.groupby(["laterality", "view"]).size().unstack(fill_value=0).plot.bar(ax=axes[1])
    axes[1].set(ylabel="images", title="Views by laterality")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_intensity_by_machine(
    samples: pd.DataFrame, title: str = "Breast intensity after the DICOM pipeline, per machine"
):
    """Overlaid normalised histograms of breast-pixel intensity, one line per machine (with its image count).

    Args:
        samples: :func:`mammo_utils.evaluation.eda.intensity_by_machine` output.
        title: Figure title.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib import colormaps

    machines = sorted(samples.machine_id.unique(), key=lambda m: float(m))
    colours = colormaps["cividis"](np.linspace(0, 0.9, len(machines)))
    fig, ax = plt.subplots(figsize=(7, 3.6))
    bins = np.linspace(0, 1, 41)
    for colour, machine in zip(colours, machines):
        part = samples[samples.machine_id == machine]
        hist, _ = np.histogram(part.intensity, bins=bins, density=True)
        ax.plot(
            (bins[:-1] + bins[1:]) / 2,
            hist,
            color=colour,
            label=f"machine {machine} ({part.image_id.nunique()} images)",
        )
    ax.set(xlabel="intensity after VOI window and inversion ([0, 1], breast pixels)", ylabel="density", title=title)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def plot_by_label(df: pd.DataFrame, title: str = "Age and BI-RADS by label (per breast)"):
    """Age distribution and BI-RADS counts of breasts with and without cancer.

    Args:
        df: ``train.csv`` frame.
        title: Figure title.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    from ..data.rsna import breast_table

    breasts = breast_table(df, age=("age", "first"), BIRADS=("BIRADS", "first"))
    fig, (ax_age, ax_birads) = plt.subplots(1, 2, figsize=(10, 3.4))
    bins = np.arange(30, 95, 5)
    for label, colour, name in ((0, "#56B4E9", "no cancer"), (1, "#D55E00", "cancer")):
        part = breasts[breasts.cancer == label]
        ax_age.hist(
            part.age.dropna(), bins=bins, density=True, alpha=0.6, color=colour, label=f"{name} (n={len(part)})"
        )
        counts = part.BIRADS.fillna(-1).value_counts(normalize=True).reindex([-1, 0, 1, 2], fill_value=0)
        offset = -0.2 if label == 0 else 0.2
        ax_birads.bar(np.arange(4) + offset, counts * 100, 0.4, color=colour, label=name)
    ax_age.set(xlabel="age (years)", ylabel="density", title="Age")
    ax_birads.set_xticks(range(4), ["missing", "0 (recall)", "1 (negative)", "2 (benign)"])
    ax_birads.set(ylabel="% of breasts", title="BI-RADS of the screening read")
    for ax in (ax_age, ax_birads):
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
