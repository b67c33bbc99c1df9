"""Figures shared by the notebooks (each with a title, labelled axes and units)."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

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


def _plot_validation(ax, history: pd.DataFrame) -> None:
    """Validation ROC-AUC and pF1 per epoch on ``ax`` (the columns a history has)."""
    for col, label, marker in (("val_auc", "val ROC-AUC (image)", "o-"), ("val_pf1", "val pF1 (breast)", "s-")):
        if col in history:
            ax.plot(history.epoch + 1, history[col], marker, label=label)


def plot_history(history: pd.DataFrame, title: str = "Learning curves", monitor: str = "val_auc"):
    """Loss (training and validation), validation image ROC-AUC and breast pF1 per epoch; best epoch marked.

    Args:
        history: Frame with ``epoch``, ``loss`` and any of ``val_loss``, ``val_auc``, ``val_pf1``, ``stage``.
        title: Figure title.
        monitor: The metric the checkpoint was chosen on (its best epoch is marked on every panel).

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    epoch = history.epoch + 1
    axes[0].plot(epoch, history.loss, "o-", color="#0072B2", label="training (balanced batches, augmented)")
    if "val_loss" in history:
        axes[0].plot(epoch, history.val_loss, "s-", color="#D55E00", label="validation (natural distribution)")
    axes[0].set(title="Loss", xlabel="epoch", ylabel="binary cross-entropy per image")
    panels = (
        ("val_auc", "Validation ROC-AUC (per image)", "#009E73"),
        ("val_pf1", "Validation pF1 (per breast)", "#CC79A7"),
    )
    for ax, (col, name, colour) in zip(axes[1:], panels):
        if col in history:
            ax.plot(epoch, history[col], "o-", color=colour)
        ax.set(title=name, xlabel="epoch", ylabel=col, ylim=(0, 1.02))
    if monitor in history and history[monitor].notna().any():
        best = int(epoch[history[monitor].idxmax()])
        for ax in axes:
            ax.axvline(best, color="black", ls=":", lw=1, label=f"best {monitor} (epoch {best})")
    if "stage" in history and history.stage.nunique() > 1:
        start = epoch[history.stage == history.stage.iloc[-1]].min() - 0.5
        for ax in axes:
            ax.axvline(start, color="grey", ls="--", label="backbone unfrozen")
    for ax in axes:
        ax.legend(fontsize=7, loc="best")
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


def plot_variants(runs: pd.DataFrame, title: str = "Variants over seeds: validation (selection) and test (95% CI)"):
    """Per run: validation breast ROC-AUC and test breast ROC-AUC with its patient-level interval.

    Args:
        runs: Per-run table of :func:`mammo_utils.modeling.experiments.summarise_variants` (index variant, seed).
        title: Figure title.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    labels = [f"{v} · seed {s}" for v, s in runs.index]
    y = np.arange(len(runs))
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(runs) + 1.6))
    err = np.vstack([runs["test breast AUC"] - runs["test AUC low"], runs["test AUC high"] - runs["test breast AUC"]])
    ax.errorbar(runs["test breast AUC"], y, xerr=np.clip(err, 0, None), fmt="o", color="#0072B2", capsize=3,
                label="test breast ROC-AUC (patient-level 95% CI)")  # fmt: skip
    ax.scatter(runs["val breast AUC"], y + 0.18, marker="D", color="#E69F00", label="validation breast ROC-AUC")
    ax.axvline(0.5, color="grey", ls=":", label="chance")
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set(xlim=(0, 1.02), xlabel="breast ROC-AUC", title=title)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def plot_validation_curves(histories: dict[str, pd.DataFrame], title: str = "Validation curves per model"):
    """One panel per model: validation ROC-AUC and pF1 per epoch.

    Args:
        histories: Model name -> history frame (``epoch``, ``val_auc``, ``val_pf1``).
        title: Figure title.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(histories), figsize=(4 * len(histories), 3.2), sharey=True, squeeze=False)
    for ax, (name, history) in zip(axes[0], histories.items()):
        _plot_validation(ax, history)
        ax.set(title=name, xlabel="epoch", ylim=(0, 1.02))
    axes[0][0].set_ylabel("score")
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
    axes[0].legend(loc="lower right", fontsize=8)
    whisker = (table.ms_b1_p95 - table.ms_b1_median).clip(lower=0)
    axes[1].barh(y, table.ms_b1_median, xerr=[np.zeros(len(y)), whisker], color="#E69F00", capsize=3)
    axes[1].set(xlabel="latency at batch 1 (ms, median; whisker: p95)", title="Latency")
    axes[2].scatter(table.breast_auc, y, color="#009E73", zorder=3)
    for yi, auc, delta in zip(y, table.breast_auc, table.delta_auc):
        axes[2].annotate(
            f"{auc:.3f} (Δ {delta:+.3f})", (auc, yi), xytext=(5, 3), textcoords="offset points", fontsize=8
        )
    low = float(np.nanmin(table.breast_auc))
    axes[2].set(xlim=(max(0.0, low - 0.1), 1.02), xlabel="test breast ROC-AUC", title="Quality")
    axes[2].grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, names)
    axes[0].invert_yaxis()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_search(trials: pd.DataFrame, objective: str, title: str = "Hyper-parameter search (validation fold)"):
    """Objective against each searched hyper-parameter, and the best-so-far curve over trials.

    Args:
        trials: :func:`mammo_utils.modeling.tune.trials_table` output (index = trial id, in run order).
        objective: Name of the objective (axis label).
        title: Figure title.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    params = [c for c in trials.columns if c not in ("objective", "epochs") and trials[c].notna().any()]
    ordered = trials.sort_index()
    cols = min(4, len(params) + 1)
    rows = int(np.ceil((len(params) + 1) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.8 * rows), squeeze=False)
    flat = axes.ravel()
    best = ordered.objective.cummax()
    flat[0].plot(range(1, len(ordered) + 1), ordered.objective, "o", color="#999999", label="trial")
    flat[0].step(range(1, len(ordered) + 1), best, where="post", color="#0072B2", label="best so far")
    flat[0].set(xlabel="trial (run order)", ylabel=objective, title="Best so far")
    flat[0].legend(fontsize=8)
    for ax, name in zip(flat[1:], params):
        values = trials[name]
        if pd.api.types.is_numeric_dtype(values) and values.nunique() > 3:
            ax.scatter(values, trials.objective, color="#E69F00")
            if name in ("learning_rate", "finetune_lr"):
                ax.set_xscale("log")
        else:
            labels = sorted(values.dropna().astype(str).unique())
            positions = values.astype(str).map({v: i for i, v in enumerate(labels)})
            ax.scatter(positions, trials.objective, color="#009E73")
            ax.set_xticks(range(len(labels)), labels)
        ax.set(xlabel=name, ylabel=objective)
    for ax in flat[len(params) + 1 :]:
        ax.axis("off")
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
        values = reports[name].psi.reindex(features).to_numpy(float)
        ax.bar(x + i * width - 0.4 + width / 2, values, width, label=name)
    ax.axhline(stable, color="grey", ls=":", lw=1, label=f"stable < {stable}")
    ax.axhline(drift, color="black", ls="--", lw=1, label=f"drift > {drift}")
    ax.set_xticks(x, features, rotation=20, ha="right")
    ax.set(ylabel="PSI (population stability index)", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
