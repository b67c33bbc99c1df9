"""The verdict of a comparison in words: which arm was chosen, which learned, and what each paired test says.

Every sentence is computed from the tables of :mod:`mammo_utils.modeling.experiments` (the protocol's summary and
paired tests) and the runs' histories, so a notebook's conclusion follows its numbers on every rebuild.

Example:
    >>> import pandas as pd
    >>> from types import SimpleNamespace
    >>> arm_epochs({("a", 0): SimpleNamespace(history=pd.DataFrame({"auc": [0.5, 0.6]}))})
    {'a': 2}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd


def last_training_auc(results: Mapping[tuple[str, int], Any]) -> pd.Series:
    """Each arm's mean over runs of the training-batch ROC-AUC in its last epoch (the ``auc`` history column).

    A validation AUC near 0.5 with a training AUC near 0.5 is a network that has not fit its training data yet
    (too few steps for its size and start), not one that over-fitted.

    Args:
        results: ``{(arm, seed): TrainResult}``.

    Returns:
        Arm -> mean last-epoch training AUC (NaN where a history has no ``auc`` column).
    """
    values: dict[str, list[float]] = {}
    for (arm, _), result in results.items():
        history = result.history
        last = float(history["auc"].iloc[-1]) if "auc" in history and len(history) else float("nan")
        values.setdefault(arm, []).append(last)
    return pd.Series({arm: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan") for arm, v in values.items()})


def arm_epochs(results: Mapping[tuple[str, int], Any]) -> dict[str, int]:
    """Each arm's epochs trained (the most over its runs: early stopping may end one seed sooner).

    Args:
        results: ``{(arm, seed): TrainResult}``.

    Returns:
        Arm -> epochs.
    """
    out: dict[str, int] = {}
    for (arm, _), result in results.items():
        out[arm] = max(out.get(arm, 0), len(result.history))
    return out


def budget_list(epochs: Mapping[str, int], name=str) -> str:
    """Each arm's epochs, most first: ``"baseline 10, efficientnet_lite0 ImageNet 4"``.

    Args:
        epochs: :func:`arm_epochs` output.
        name: Formats an arm's name (``html.escape`` for HTML).

    Returns:
        The list as text.
    """
    return ", ".join(f"{name(a)} {n}" for a, n in sorted(epochs.items(), key=lambda kv: -kv[1]))


def comparison_conclusion(
    summary: pd.DataFrame,
    chosen: str,
    tests: pd.DataFrame,
    min_auc: float = 0.85,
    train_auc=None,
    epochs=None,
    heldout: pd.DataFrame | None = None,
) -> str:
    """Markdown: the arm chosen on validation, which arms learned, and each paired test's verdict, from the values.

    Args:
        summary: :func:`~mammo_utils.modeling.experiments.variant_summary` (validation and test means and sds per arm).
        chosen: The arm chosen on validation (:func:`mammo_utils.modeling.experiments.choose_arm`).
        tests: :func:`~mammo_utils.modeling.experiments.paired_table` on validation (each row's ``verdict`` follows it).
        min_auc: The mean validation breast AUC an arm must reach to count as having learned.
        train_auc: Optional :func:`last_training_auc`, quoted for the arms below ``min_auc`` (why they fell short).
        epochs: Optional :func:`arm_epochs`: when the arms trained for different numbers of epochs, a line says so,
            since each comparison is then of the arms at their own budgets, not at equal training.
        heldout: Optional :func:`~mammo_utils.modeling.experiments.paired_table` of the same pairs on the test
            split: the validation fold also picked every run's checkpoint, so its tests are flattered by that
            selection; the test patients took part in no choice, and their verdicts follow.

    Returns:
        Markdown bullet points.
    """
    row = summary.loc[chosen]
    count = summary.filter(regex=r"s$").columns[0]
    lines = [
        f"- **Chosen on validation: {chosen}** (validation breast AUC {row['val AUC mean']:.3f} ± "
        f"{np.nan_to_num(row['val AUC sd']):.3f} over {int(row[count])} {count}); its test breast AUC is "
        f"{row['test AUC mean']:.3f} ± {np.nan_to_num(row['test AUC sd']):.3f}. The test split took no part in the "
        "choice."
    ]
    learned = summary.index[summary["val AUC mean"] >= min_auc].tolist()
    short = summary.index[summary["val AUC mean"] < min_auc].tolist()
    if learned:
        lines.append(f"- Mean validation breast AUC ≥ {min_auc:.2f}: {', '.join(learned)}.")
    if short:
        values = ", ".join(f"{a} ({summary.loc[a, 'val AUC mean']:.3f})" for a in short)
        lines.append(f"- Below {min_auc:.2f} at this budget: {values}.")
        if train_auc is not None:
            unfit = [a for a in short if train_auc.get(a, float("nan")) < 0.6]
            if unfit:
                shown = ", ".join(f"{a} {train_auc[a]:.2f}" for a in unfit)
                lines.append(
                    f"- Their training-batch AUC in the last epoch is also near chance ({shown}): these networks "
                    "have not fit their own training data in this budget (under-trained from their start, not "
                    "over-fitted)."
                )
    lines += [f"- {v}" for v in tests["verdict"]] if len(tests) else []
    if epochs and len(set(epochs.values())) > 1:
        lines.append(
            f"- Budgets differ (epochs trained: {budget_list(epochs)}): each test above compares the arms at their own "
            "budgets, not at equal training; an arm still rising on validation at its last epoch may close the gap "
            "with more."
        )
    if heldout is not None and len(heldout):
        lines.append(
            "- The validation fold behind these tests also picked every run's checkpoint (its best epoch), which "
            "favours arms with more epochs to pick from. The same pairs on the **test patients**, who took part in "
            "no choice (nothing is chosen from these):"
        )
        lines += [f"  - {v}" for v in heldout["verdict"]]
    return "\n".join(lines)
