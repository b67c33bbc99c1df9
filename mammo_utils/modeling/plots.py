"""Figures of training and model selection: learning curves, validation curves per model, variants over seeds
and the hyper-parameter search (notebooks 04-06, and the figures logged to MLflow).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..evaluation.figure_check import place_legend


def _plot_validation(ax, history: pd.DataFrame) -> None:
    """Validation ROC-AUC and pF1, and the training-batch ROC-AUC, per epoch on ``ax`` (the columns a history has)."""
    for col, label, marker in (
        ("val_breast_auc", "val ROC-AUC (breast)", "o-"),
        ("val_pf1", "val pF1 (breast)", "s-"),
        ("auc", "training ROC-AUC (image, balanced augmented batches)", "^--"),
    ):
        if col in history:
            ax.plot(history.epoch + 1, history[col], marker, label=label)


def plot_history(history: pd.DataFrame, title: str = "Learning curves", monitor: str = "val_breast_auc"):
    """Loss (training and validation), validation image ROC-AUC and breast pF1 per epoch; best epoch marked.

    Args:
        history: Frame with ``epoch``, ``loss`` and any of ``val_loss``, ``val_breast_auc``, ``val_pf1``, ``stage``.
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
        ("val_breast_auc", "Validation ROC-AUC (per breast)", "#009E73"),
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


def plot_validation_curves(histories: dict[str, pd.DataFrame], title: str = "Training and validation curves per model"):
    """One panel per model: validation ROC-AUC and pF1 per epoch, beside the training-batch ROC-AUC.

    Args:
        histories: Model name -> history frame (``epoch``, ``val_breast_auc``, ``val_pf1``, ``auc``).
        title: Figure title.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    columns = min(4, len(histories))
    rows = -(-len(histories) // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(4 * columns, 3.2 * rows + 0.4), sharey=True, squeeze=False, layout="constrained"
    )
    for ax, (name, history) in zip(axes.flat, histories.items()):
        _plot_validation(ax, history)
        ax.set(title=name, xlabel="epoch", ylim=(0, 1.02))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    for ax in list(axes.flat)[len(histories) :]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel("score")
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:  # one legend for every panel, below them (never over a curve)
        fig.legend(handles, labels, loc="outside lower center", ncol=len(handles), fontsize=9)
    fig.suptitle(title)
    return fig


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
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(runs) + 2.0), layout="constrained")
    err = np.vstack([runs["test breast AUC"] - runs["test AUC low"], runs["test AUC high"] - runs["test breast AUC"]])
    ax.errorbar(runs["test breast AUC"], y, xerr=np.clip(err, 0, None), fmt="o", color="#0072B2", capsize=3,
                label="test breast ROC-AUC (patient-level 95% CI)")  # fmt: skip
    ax.scatter(runs["val breast AUC"], y + 0.18, marker="D", color="#E69F00", label="validation breast ROC-AUC")
    ax.axvline(0.5, color="grey", ls=":", label="chance")
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set(xlim=(0, 1.02), xlabel="breast ROC-AUC", title=title)
    fig.legend(loc="outside lower center", ncol=3, fontsize=8)  # below the axes: never over an interval
    return fig


#: Axis labels of the monitored metrics a search can maximise (the raw name otherwise).
OBJECTIVE_LABELS = {"val_breast_auc": "validation breast ROC-AUC", "val_image_auc": "validation image ROC-AUC"}


def plot_search(trials: pd.DataFrame, objective: str, title: str = "Hyper-parameter search (validation fold)"):
    """Objective against each searched hyper-parameter, and the best-so-far curve over trials.

    A parameter that kept one value in every trial gets no panel (one category says nothing); its value is named
    under the title instead. Learning rates are drawn on a log axis with a few plain labels (``2e-4``).

    Args:
        trials: :func:`mammo_utils.modeling.tune.trials_table` output (index = trial id, in run order).
        objective: Name of the objective (axis label).
        title: Figure title.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    searched = [c for c in trials.columns if c not in ("objective", "epochs") and trials[c].notna().any()]
    params = [c for c in searched if trials[c].dropna().astype(str).nunique() > 1]
    fixed = [f"{c}={trials[c].dropna().iloc[0]}" for c in searched if c not in params]
    ordered = trials.sort_index()
    cols = min(4, len(params) + 1)
    rows = int(np.ceil((len(params) + 1) / cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.6 * cols, 3.0 * rows + 0.3), squeeze=False, sharey=True, layout="constrained"
    )  # one objective scale: tick labels and its name once, at the left
    flat = axes.ravel()
    best = ordered.objective.cummax()
    order = range(len(ordered))  # numbered from 0 like the trial ids of the log and the trials table
    flat[0].plot(order, ordered.objective, "o", color="#999999", label="trial")
    flat[0].step(order, best, where="post", color="#0072B2", label="best so far")
    flat[0].set(xlabel="trial (run order, from 0)", title="Best so far")
    fig.supylabel(OBJECTIVE_LABELS.get(objective, objective))
    flat[0].xaxis.set_major_locator(MaxNLocator(integer=True))
    place_legend(flat[0], fontsize=8)
    for ax, name in zip(flat[1:], params):
        values = trials[name]
        if pd.api.types.is_numeric_dtype(values) and values.nunique() > 3:
            ax.scatter(values, trials.objective, color="#E69F00")
            if name in ("learning_rate", "finetune_lr"):
                _log_axis(ax, values)
        else:
            numeric = pd.api.types.is_numeric_dtype(values)
            keys = values if numeric else values.astype(str)
            levels = sorted(keys.dropna().unique())
            ax.scatter(keys.map({v: i for i, v in enumerate(levels)}), trials.objective, color="#009E73")
            ax.set_xticks(range(len(levels)), [f"{v:.3g}" if numeric else v for v in levels])
            ax.set_xlim(-0.5, len(levels) - 0.5)
        ax.set(xlabel=name)
    span = trials.objective.max() - trials.objective.min()
    pad = 0.05 * span if span > 0 else 0.01
    for ax in flat[: len(params) + 1] if np.isfinite(span) else []:  # one objective scale on every panel
        ax.set_ylim(trials.objective.min() - pad, trials.objective.max() + pad)
    for ax in flat[len(params) + 1 :]:
        ax.axis("off")
    fig.suptitle(title + (f"\n(one value in every trial, no panel: {', '.join(fixed)})" if fixed else ""))
    return fig


def _log_axis(ax, values: pd.Series) -> None:
    """Log x axis with labels only at 1 and 3 times a power of ten, written ``3e-4`` (no crowded minor labels)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    low, high = float(values.min()), float(values.max())
    ax.set_xlim(low / 1.3, high * 1.3)
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 3.0), numticks=12))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0e}".replace("e-0", "e-").replace("e+0", "e")))
    ax.xaxis.set_minor_formatter(NullFormatter())
