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


def plot_rates(tables: dict[str, pd.DataFrame], overall: float, title: str = "Cancer rate by group"):
    """Bar charts of cancer rate with 95% CIs, one panel per grouping column.

    Args:
        tables: ``{column: rate_by(...) frame}``.
        overall: Overall image-level rate (dashed reference line).
        title: Figure title.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tables), figsize=(4 * len(tables), 3.4), squeeze=False)
    for ax, (name, t) in zip(axes[0], tables.items()):
        x = np.arange(len(t))
        err = np.vstack([t["rate"] - t["ci_low"], t["ci_high"] - t["rate"]]) * 100
        ax.bar(x, t["rate"] * 100, yerr=err, capsize=3, color="tab:red", alpha=0.75)
        ax.axhline(overall * 100, ls="--", color="k", lw=1, label="overall")
        ax.set_xticks(x, [str(i) for i in t.index], rotation=45, ha="right")
        ax.set_xlabel(name)
        ax.set_ylabel("cancer rate (% of images)")
        ax.set_title(f"by {name}")
    axes[0][0].legend()
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


def plot_history(history: pd.DataFrame, title: str = "Learning curves"):
    """Training loss and validation AUC / pF1 per epoch, with the fine-tuning start marked.

    Args:
        history: Frame with ``epoch``, ``loss``, ``val_auc``, ``val_pf1`` and optionally ``stage``.
        title: Figure title.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(10, 3.6))
    epoch = history.epoch + 1
    ax_loss.plot(epoch, history.loss, "o-", label="train loss")
    ax_loss.set(title="Training loss", xlabel="epoch", ylabel="loss (per image)")
    _plot_validation(ax_val, history)
    ax_val.set(title="Validation", xlabel="epoch", ylabel="score", ylim=(0, 1.02))
    if "stage" in history and history.stage.nunique() > 1:
        start = epoch[history.stage == history.stage.iloc[-1]].min() - 0.5
        for ax in (ax_loss, ax_val):
            ax.axvline(start, color="grey", ls="--", label="backbone unfrozen")
    for ax in (ax_loss, ax_val):
        ax.legend(fontsize=8)
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

    counts = np.array([[report["tn"], report["fp"]], [report["fn"], report["tp"]]], float)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.4))
    for ax, values, fmt, name in ((axes[0], counts, "{:.0f}", unit), (axes[1], rates, "{:.1%}", "share of true class")):
        ax.imshow(values, cmap="Blues", vmin=0)
        for (i, j), v in np.ndenumerate(values):
            ax.text(j, i, fmt.format(v), ha="center", va="center", color="black")
        ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=["pred 0", "pred 1"], yticklabels=["true 0", "true 1"])
        ax.set(xlabel="predicted class", ylabel="true class", title=name)
    fig.suptitle(f"{title} (threshold {report['threshold']:.3f})")
    fig.tight_layout()
    return fig


def plot_comparison(table: pd.DataFrame, title: str = "Model comparison (same data, same epoch budget)"):
    """Bars of test breast AUC / pF1 per model, and AUC against inference time.

    Args:
        table: Output of :func:`mammo_utils.modeling.tracking.comparison_table`.
        title: Figure title.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    fig, (ax_bar, ax_speed) = plt.subplots(1, 2, figsize=(11, 3.8))
    x = np.arange(len(table))
    ax_bar.bar(x - 0.2, table["test breast AUC"], 0.4, label="ROC-AUC")
    ax_bar.bar(x + 0.2, table["test breast pF1"], 0.4, label="pF1")
    ax_bar.axhline(0.5, color="grey", ls=":", label="chance AUC")
    ax_bar.set(xticks=x, title="Test set, per breast", ylabel="score", ylim=(0, 1.05))
    ax_bar.set_xticklabels(table.index, rotation=20)
    ax_bar.legend(fontsize=8)
    ax_speed.scatter(table["infer ms/img"], table["test breast AUC"], s=20 + table["params"] / 2e5)
    for name, row in table.iterrows():
        ax_speed.annotate(name, (row["infer ms/img"], row["test breast AUC"]), fontsize=8)
    ax_speed.set(
        title="Accuracy against CPU inference cost (marker ~ parameters)",
        xlabel="inference ms per image (batch 8, this machine)",
        ylabel="test breast ROC-AUC",
    )
    fig.suptitle(title)
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
