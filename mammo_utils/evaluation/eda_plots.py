"""Figures of the exploratory analysis (notebook 01): prevalence, views, labels, intensity per machine.

Each has a title, labelled axes and units; save them with :func:`mammo_utils.evaluation.plots.save_fig`.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd

from .figure_check import place_legend


def plot_rates(
    tables: dict[str, pd.DataFrame], overall: float, title: str = "Cancer rate by group", min_breasts: int = 20
):
    """Bar charts of the per-breast cancer rate with Wilson 95% CIs, one panel per grouping column.

    Groups with fewer than ``min_breasts`` breasts are not drawn as bars (their interval is too wide to read as a
    rate); they are named under the panel instead. A column left with fewer than two drawn groups gets no panel
    (one bar compares nothing): the title says which, and why. The dashed line is the rate over all breasts.

    Args:
        tables: ``{column: rate_by(...) frame}``.
        overall: Overall per-breast rate (dashed reference line).
        title: Figure title.
        min_breasts: Smallest group drawn.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    drawn = {name: t for name, t in tables.items() if (t.breasts >= min_breasts).sum() >= 2}
    skipped = [
        f"{name} ({int((t.breasts >= min_breasts).sum())} group(s) with >= {min_breasts} breasts)"
        for name, t in tables.items()
        if name not in drawn
    ]
    width = max(8.0, 4.4 * len(drawn))  # inches: wide enough for the title's notes
    fig, axes = plt.subplots(1, max(1, len(drawn)), figsize=(width, 4.0), squeeze=False)
    for ax, (name, t) in zip(axes[0], drawn.items()):
        shown, hidden = t[t.breasts >= min_breasts], t[t.breasts < min_breasts]
        x = np.arange(len(shown))
        err = np.vstack([shown["rate"] - shown["ci_low"], shown["ci_high"] - shown["rate"]]) * 100
        ax.bar(x, shown["rate"] * 100, yerr=err, capsize=3, color="#0072B2", alpha=0.85)
        for xi, n in zip(x, shown.breasts):
            ax.text(xi, 1, f"n={n}", ha="center", va="bottom", fontsize=8, color="white")
        ax.axhline(overall * 100, ls="--", color="k", lw=1)
        rotate = len(shown) > 4  # long rows of labels turn; a few stay level
        labels = [str(i) for i in shown.index]
        ax.set_xticks(x, labels, rotation=45 if rotate else 0, ha="right" if rotate else "center")
        ax.set_xlabel(
            name
            + (f"\n(< {min_breasts} breasts, not drawn: {', '.join(map(str, hidden.index))})" if len(hidden) else "")
        )
        ax.set_ylabel("cancer rate (% of breasts)")
        ax.set_title(f"by {name}")
    if not drawn:
        axes[0][0].set_axis_off()
        axes[0][0].text(0.5, 0.5, "no column has two groups large enough to draw", ha="center", va="center")
    note = f"dashed line: all breasts ({overall:.1%}); n = breasts per group, whiskers: Wilson 95% CI"
    if skipped:
        note += "\nno panel (fewer than two groups to compare): " + "; ".join(skipped)
    chars = int(width * 12)  # characters a line of the title holds at 11 pt
    fig.suptitle("\n".join([title, *(textwrap.fill(line, chars) for line in note.split("\n"))]), fontsize=11)
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
    ax.set_ylim(0, float(balance["rate"].max()) * 100 * 1.18)  # headroom: the tallest bar's count under the title
    ax.set(ylabel="positives (%)", xlabel="level", title=title)
    return fig


def plot_views(df: pd.DataFrame, per_patient: pd.DataFrame, title: str = "Images per patient and views"):
    """Two panels: how many patients have each image count, and image counts by view and laterality.

    When every patient has the same number of images the first panel would be one bar: it is left out and the
    title says the count instead. The view panel has a log count axis and prints each bar's count above it, so a
    view with a handful of images reads beside CC and MLO's hundreds (a zero is printed on the baseline).

    Args:
        df: ``train.csv`` frame.
        per_patient: :func:`mammo_utils.evaluation.eda.views_per_patient` output.
        title: Figure title.

    Returns:
        The matplotlib figure.

    Example:
        >>> fig = plot_views(df, views_per_patient(df))  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    counts = len(per_patient) > 1
    fig, axes = plt.subplots(1, 1 + counts, figsize=(5.5 * (1 + counts), 3.6), squeeze=False)
    ax_views = axes[0][-1]
    if counts:
        axes[0][0].bar(per_patient.index.astype(str), per_patient["patients"], color="#0072B2")
        axes[0][0].set(xlabel="images per patient", ylabel="patients", title="Images per patient")
    else:
        title += f" (every patient: {per_patient.index[0]} images)"
    _view_bars(ax_views, df)
    fig.suptitle(title)
    fig.tight_layout()
    place_legend(ax_views, title="laterality", fontsize=8)
    fig.tight_layout()
    return fig


def _view_bars(ax, df: pd.DataFrame) -> None:
    """Images per view (most common first), one bar per laterality, log count axis, each bar's count printed."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    table = df.groupby(["view", "laterality"]).size().unstack(fill_value=0)
    table = table.loc[table.sum(axis=1).sort_values(ascending=False, kind="stable").index]
    x = np.arange(len(table))
    width = 0.8 / max(1, table.shape[1])
    floor = 0.7  # the log axis' bottom: a zero count is printed there
    for i, (side, colour) in enumerate(zip(table.columns, ("#0072B2", "#E69F00", "#009E73", "#CC79A7"))):
        offset = (i - (table.shape[1] - 1) / 2) * width
        ax.bar(x + offset, table[side], width, color=colour, label=str(side))
        for xi, n in zip(x + offset, table[side]):
            ax.text(xi, max(int(n), floor), str(int(n)), ha="center", va="bottom", fontsize=8)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ScalarFormatter())  # 1, 10, 100 rather than powers of ten
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(floor, max(2.0, float(table.to_numpy().max())) * 4)  # room above the tallest bar's count
    ax.set_xticks(x, [str(v) for v in table.index])
    ax.set(ylabel="images (log scale)", xlabel="view", title="Images per view and laterality (count over each bar)")


#: Total-variation distance from the machines' median histogram past which a machine is drawn as its own line.
DISTINCT_MACHINE_TV = 0.25


def plot_intensity_by_machine(
    samples: pd.DataFrame,
    title: str = "Breast intensity after the DICOM pipeline, per machine",
    distinct: float = DISTINCT_MACHINE_TV,
):
    """Normalised histograms of breast-pixel intensity per machine: machines that look alike drawn thin and grey
    (one legend entry), the ones that differ in colour, each named with its sampled image count (of the machine's
    total, when the samples record it) and its distance; the title says how many images a machine contributes at most.

    A machine differs when the total-variation distance of its histogram from the median of all machines'
    histograms is at least ``distinct`` (0: identical, 1: no overlap), so nine overlapping curves do not hide
    the one that matters.

    Args:
        samples: :func:`mammo_utils.evaluation.eda.intensity_by_machine` output.
        title: Figure title.
        distinct: The distance that singles a machine out.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib import colormaps

    machines = sorted(samples.machine_id.unique(), key=lambda m: float(m))
    bins = np.linspace(0, 1, 41)
    centres, width = (bins[:-1] + bins[1:]) / 2, np.diff(bins)
    hists = {m: np.histogram(samples.intensity[samples.machine_id == m], bins=bins, density=True)[0] for m in machines}
    median = np.median(np.stack(list(hists.values())), axis=0)
    tv = {m: 0.5 * float(np.sum(np.abs(h - median) * width)) for m, h in hists.items()}
    palette = colormaps["tab10"].colors  # categorical: distinguishable hues, not a ramp
    fig, ax = plt.subplots(figsize=(9, 4), layout="constrained")
    alike = [m for m in machines if tv[m] < distinct]
    for j, m in enumerate(alike):
        label = f"{len(alike)} machines alike (each TV < {distinct:g} from the median)" if j == 0 else None
        ax.plot(centres, hists[m], color="0.6", lw=1.0, label=label)
    available = samples.attrs.get("available", {})
    for i, m in enumerate(m for m in machines if tv[m] >= distinct):
        n = samples.image_id[samples.machine_id == m].nunique()
        of = f" of its {available[m]}" if m in available else ""
        ax.plot(
            centres,
            hists[m],
            color=palette[i % len(palette)],
            lw=2.4,
            label=f"machine {m} ({n}{of} images sampled, TV {tv[m]:.2f})",
        )
    if "per_machine" in samples.attrs:  # how the images were drawn, so a count is not read as the machine's size
        title += f"\n(at most {samples.attrs['per_machine']} random images per machine)"
    ax.set(xlabel="intensity after VOI window and inversion ([0, 1], breast pixels)", ylabel="density", title=title)
    fig.legend(fontsize=8, loc="outside right upper", title="machine_id")  # beside the axes, never over a curve
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
    ax_birads.set(xlabel="BI-RADS category", ylabel="% of breasts", title="BI-RADS of the screening read")
    fig.tight_layout()
    for ax in (ax_age, ax_birads):
        place_legend(ax, fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_split_balance(table: pd.DataFrame, title: str = "Cancer rate per breast in each split (natural distribution)"):
    """Per-breast cancer rate of each split/fold with its Wilson 95% CI, counts under each bar, image rate marked.

    The breast is the unit RSNA labels and scores, so the bars are breast-level; the image-level rate is drawn as a
    marker beside it so both are visible and labelled. The dashed line is the breast rate over all splits.

    Args:
        table: :func:`mammo_utils.data.splits.split_table` output (``breasts``, ``positive breasts``,
            ``patients``, ``image rate`` per split).
        title: Figure title.

    Returns:
        The matplotlib figure.

    Raises:
        ValueError: When a needed column is missing.

    Example:
        >>> fig = plot_split_balance(split_table(splits))  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    from .metrics import wilson_interval

    needed = {"breasts", "positive breasts", "patients"}
    if missing := sorted(needed - set(table.columns)):
        raise ValueError(f"split table lacks column(s) {missing}; pass mammo_utils.data.splits.split_table output")
    rate = table["positive breasts"] / table["breasts"]
    low, high = wilson_interval(table["positive breasts"], table["breasts"])
    overall = table["positive breasts"].sum() / table["breasts"].sum()
    x = np.arange(len(table))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.5 * len(table) + 1.5), 4.2), layout="constrained")
    err = np.vstack([rate - low, high - rate]) * 100
    ax.bar(x, rate * 100, yerr=err, capsize=4, color="#0072B2", alpha=0.85, label="breasts with cancer (95% CI)")
    if "image rate" in table:
        ax.scatter(
            x + 0.28, table["image rate"] * 100, marker="D", color="#E69F00", zorder=3, label="images with cancer"
        )
    ax.axhline(overall * 100, ls="--", color="k", lw=1, label=f"all breasts ({overall:.1%})")
    labels = [
        f"{name}\n{int(p)}/{int(b)} breasts\n{int(n)} patients"
        for name, p, b, n in zip(table.index, table["positive breasts"], table["breasts"], table["patients"])
    ]
    ax.set_xticks(x, labels, fontsize=8)
    ax.set(ylabel="cancer rate (%)", ylim=(0, max(float(np.nanmax(high)) * 100 * 1.1, 1.0)), title=title)
    fig.legend(loc="outside lower center", ncol=3, fontsize=8)  # below the axes: never over a bar
    return fig
