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

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..config import DETECTOR_FIELDS


def last_training_auc(results: Mapping[tuple[str, int], Any]) -> pd.Series:
    """Each arm's mean over runs of the training-batch ROC-AUC in its last epoch (the ``auc`` history column).

    A validation AUC near 0.5 with a training AUC near 0.5 is a network that has not fit its training data yet
    (too few steps for its size and start), not one that over-fitted. The value is per image on class-balanced,
    augmented training batches, so it is not on the terms of a breast-level validation AUC: a gap between the two
    is not a measure of over-fitting.

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


def arm_budgets(cfg, arms: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """Each arm's epoch budget: the most epochs its recipe allows (``epochs + finetune_epochs``, every stage).

    Args:
        cfg: The protocol's configuration.
        arms: Arm name -> config overrides, as given to :func:`~mammo_utils.modeling.experiments.train_arms`.

    Returns:
        Arm -> epochs allowed (early stopping may end a run sooner: :func:`arm_epochs` counts what ran).
    """
    out = {}
    for arm, values in arms.items():
        merged = {"epochs": cfg.epochs, "finetune_epochs": cfg.finetune_epochs, **values}
        out[arm] = int(merged["epochs"]) + int(merged["finetune_epochs"])
    return out


def budget_list(epochs: Mapping[str, int], name=str) -> str:
    """Each arm's epochs, most first: ``"baseline 10, efficientnet_lite0 ImageNet 4"``.

    Args:
        epochs: :func:`arm_epochs` or :func:`arm_budgets` output.
        name: Formats an arm's name (``html.escape`` for HTML).

    Returns:
        The list as text.
    """
    return ", ".join(f"{name(a)} {n}" for a, n in sorted(epochs.items(), key=lambda kv: -kv[1]))


def budget_sentence(budgets: Mapping[str, int] | None, trained: Mapping[str, int], name=str) -> str:
    """Whether the arms were compared at equal training budgets, in one sentence ("" when nothing differs to say).

    Args:
        budgets: :func:`arm_budgets` (epochs allowed), or None for a record that kept only the epochs trained.
        trained: :func:`arm_epochs` (most epochs trained per arm).
        name: Formats an arm's name (``html.escape`` for HTML).

    Returns:
        Text without a leading bullet or a final full stop.

    Example:
        >>> budget_sentence({"a": 10, "b": 10}, {"a": 10, "b": 6}).split("; ")[1]
        'early stopping ended some sooner (most epochs trained: a 10, b 6)'
    """
    allowed = budgets if budgets else trained
    if len(set(allowed.values())) > 1:
        kind = "epochs allowed" if budgets else "epochs trained"
        return (
            f"Budgets differ ({kind}: {budget_list(allowed, name)}): each test compares the arms at their own budgets, "
            "not at equal training; an arm still rising on validation at its last epoch may close the gap with more"
        )
    if not budgets or not allowed:
        return ""
    head = (
        f"Equal budgets: every arm could train {next(iter(allowed.values()))} epochs and kept its best validation epoch"
    )
    if len(set(trained.values())) > 1:
        return head + f"; early stopping ended some sooner (most epochs trained: {budget_list(trained, name)})"
    return head


def halving_sentence(tuner: str, epochs: Sequence[int], number: Callable[[str], str] | None = None) -> str:
    """What a search's trial budgets show: whether Hyperband halved anything, from the epochs each trial ran.

    Hyperband starts many trials on a small budget and continues only the best ("successive halving"); when every
    trial ran the same number of epochs, no trial was stopped early or continued, and the search was in effect a
    random search of its space.

    Args:
        tuner: The tuner's kind (``hyperband``, ``bayesian``, ``random``).
        epochs: The epochs each finished trial ran.
        number: Renders ``"min"`` or ``"max"`` (the fewest and the most epochs) as text, e.g. a fact of the report;
            default the plain value.

    Returns:
        One clause without a final full stop ("" when no trial finished).

    Example:
        >>> halving_sentence("hyperband", [2, 2, 2])
        'every trial ran 2 epochs, so no halving took place: in effect a random search'
    """
    if not epochs:
        return ""
    low, high = min(epochs), max(epochs)
    show = number or (lambda which: str(low if which == "min" else high))
    hyperband = tuner == "hyperband"
    if low == high:
        return f"every trial ran {show('max')} epochs" + (
            ", so no halving took place: in effect a random search" if hyperband else ""
        )
    return f"trials ran from {show('min')} to {show('max')} epochs" + (
        " (Hyperband's halving continued only the better trials)" if hyperband else ""
    )


def source_sentence(arm: str, record: dict) -> str:
    """What a source-pretrained backbone learnt, from its held-out source patients against its training metrics.

    Args:
        arm: The arm's name.
        record: :func:`~mammo_utils.modeling.pretrain.source_record` (``final`` training metrics, ``holdout``).

    Returns:
        One sentence: the held-out lesion AUC with its interval, view and density accuracy beside the majority
        class's rate, and whether the lesion task held beyond the training images (interval above 0.5) or not.

    Example:
        >>> rec = {"final": {"lesion_auc": 0.97, "view_accuracy": 0.99, "density_accuracy": 0.6},
        ...        "holdout": {"patients": 24, "lesion_auc": 0.48, "lesion_auc_ci": [0.35, 0.63],
        ...                    "view_accuracy": 0.96, "view_majority": 0.5, "density_accuracy": 0.59,
        ...                    "density_majority": 0.45}}
        >>> source_sentence("source", rec).split(". ")[1][:40]
        'The lesion head fit its training images '
    """
    final, held = record["final"], record["holdout"]
    low, high = held["lesion_auc_ci"]
    text = (
        f"{arm}: its backbone's source task on {held['patients']} held-out source patients: lesion AUC "
        f"{held['lesion_auc']:.3f} [{low:.3f}, {high:.3f}] (training {final['lesion_auc']:.3f}), view accuracy "
        f"{held['view_accuracy']:.3f} (majority class {held['view_majority']:.3f}), density accuracy "
        f"{held['density_accuracy']:.3f} (majority class {held['density_majority']:.3f})"
    )
    if low > 0.5:
        return text + ". The lesion task held on unseen source patients, so the backbone carries lesion features."
    return (
        text + ". The lesion head fit its training images but not unseen ones (the interval contains 0.5), so the "
        "backbone it hands on carries no lesion feature that generalises: this arm tests a pretraining whose lesion "
        "task did not generalise (the view and density accuracies are single values, without intervals)."
    )


def test_mean_text(row: Mapping[str, Any]) -> str:
    """An arm's test breast AUC over its runs as prose: the mean with its interval, then the sd over runs.

    Args:
        row: A row of :func:`~mammo_utils.modeling.experiments.variant_summary` (``test AUC mean``, ``test AUC sd``,
            the run count, and ``test AUC mean low`` / ``high`` when it was built with intervals).

    Returns:
        e.g. ``"0.935 [0.901, 0.962] (mean of 3 seeds, 95% interval over patients and seeds; sd 0.047 between
        seeds)"``; without an interval the mean is named as such and the sd follows.

    Example:
        >>> test_mean_text({"seeds": 3, "test AUC mean": 0.9351, "test AUC sd": 0.0471,
        ...                 "test AUC mean low": 0.9012, "test AUC mean high": 0.9623})
        '0.935 [0.901, 0.962] (mean of 3 seeds, 95% interval over patients and seeds; sd 0.047 between seeds)'
    """
    unit = next(k for k in ("seeds", "folds") if k in row)
    sd = float(np.nan_to_num(row["test AUC sd"]))
    where = f"mean of {int(row[unit])} {unit}"
    if "test AUC mean low" not in row:
        return f"{row['test AUC mean']:.3f} ({where}, no interval recorded; sd {sd:.3f})"
    return (
        f"{row['test AUC mean']:.3f} [{row['test AUC mean low']:.3f}, {row['test AUC mean high']:.3f}] ({where}, 95% "
        f"interval over patients and {unit}; sd {sd:.3f} between {unit})"
    )


def comparison_conclusion(
    summary: pd.DataFrame,
    chosen: str,
    tests: pd.DataFrame,
    min_auc: float = 0.85,
    train_auc=None,
    epochs=None,
    heldout: pd.DataFrame | None = None,
    budgets=None,
    sources: dict[str, dict] | None = None,
) -> str:
    """Markdown: the arm chosen on validation, which arms learned, and each paired test's verdict, from the values.

    Args:
        summary: :func:`~mammo_utils.modeling.experiments.variant_summary` (validation and test means and sds per arm).
        chosen: The arm chosen on validation (:func:`mammo_utils.modeling.experiments.choose_arm`).
        tests: :func:`~mammo_utils.modeling.experiments.paired_table` on validation (each row's ``verdict`` follows it).
        min_auc: The mean validation breast AUC an arm must reach to count as having learned.
        train_auc: Optional :func:`last_training_auc`, quoted for the arms below ``min_auc`` (why they fell short).
        epochs: Optional :func:`arm_epochs` (epochs trained); with ``budgets``, a line says whether the arms had equal
            budgets (:func:`budget_sentence`): unequal ones make each comparison one of the arms at their own budgets.
        heldout: Optional :func:`~mammo_utils.modeling.experiments.paired_table` of the same pairs on the test
            split: the validation fold also picked every run's checkpoint, so its tests are flattered by that
            selection; the test patients took part in no choice, and their verdicts follow.
        budgets: Optional :func:`arm_budgets` (epochs allowed per arm).
        sources: Optional arm → source-pretraining record (:func:`~mammo_utils.modeling.pretrain.source_record`):
            a line per arm says what its backbone learnt on held-out source patients (:func:`source_sentence`).

    Returns:
        Markdown bullet points.
    """
    row = summary.loc[chosen]
    count = summary.filter(regex=r"s$").columns[0]
    lines = [
        f"- **Chosen on validation: {chosen}** (validation breast AUC {row['val AUC mean']:.3f} ± "
        f"{np.nan_to_num(row['val AUC sd']):.3f} over {int(row[count])} {count}); its test breast AUC is "
        f"{test_mean_text(row)}. The test split took no part in the choice. Chosen means the highest validation "
        "mean among the replicated arms, the run carried forward; whether it is better than another arm is what "
        "the paired tests below say."
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
            fitted = [a for a in short if a not in unfit and np.isfinite(train_auc.get(a, float("nan")))]
            if unfit:
                shown = ", ".join(f"{a} {train_auc[a]:.2f}" for a in unfit)
                lines.append(
                    f"- Training-batch AUC in the last epoch near chance ({shown}): these networks have not fit their "
                    "own training data in this budget (under-fitted, not over-fitted)."
                )
            if fitted:
                shown = ", ".join(f"{a} {train_auc[a]:.2f}" for a in fitted)
                lines.append(
                    f"- Training-batch AUC in the last epoch above chance ({shown}): these networks have begun to fit "
                    "their training data. That AUC is per image on class-balanced, augmented training batches, not "
                    "per breast on the validation split, so the two are not compared and no over-fitting is read from "
                    "their difference."
                )
    lines += [f"- {source_sentence(arm, record)}" for arm, record in (sources or {}).items()]
    lines += [f"- {v}" for v in tests["verdict"]] if len(tests) else []
    if epochs and (sentence := budget_sentence(budgets, epochs)):
        lines.append(f"- {sentence}.")
    if heldout is not None and len(heldout):
        lines.append(
            "- The validation fold behind these tests also picked every run's checkpoint (its best epoch), which "
            "favours arms with more epochs to pick from. The same pairs on the **test patients**, who took part in "
            "no choice (nothing is chosen from these):"
        )
        lines += [f"  - {v}" for v in heldout["verdict"]]
    return "\n".join(lines)


def recipe_table(cfg: Any, full: Mapping[str, Any], ran: Mapping[str, str]) -> pd.DataFrame:
    """This run's classifier settings beside the full profile's, with the rows the notebook's arms override showing
    what the arms actually ran (not the profile's default, which no arm used).

    The detector's settings (:data:`~mammo_utils.config.DETECTOR_FIELDS`) are left out: no classifier arm reads
    them, and notebook 07, which trains the detector, sets its own epoch budget, so the profile's value printed
    here would not be the one any detector ran with.

    Args:
        cfg: This run's configuration.
        full: The full profile's settings (``PROFILES["full"]``).
        ran: Setting -> what the arms ran, in words (e.g. ``{"epochs": "1 head (transfer arms); ..."}``).

    Returns:
        A frame indexed by setting (detector settings left out): ``small (this run)`` and ``full (GPU)``.

    Example:
        >>> from types import SimpleNamespace
        >>> recipe_table(SimpleNamespace(epochs=2, batch_size=8), {"epochs": 4, "batch_size": 32}, {"epochs": "1 + 9"})
                   small (this run)  full (GPU)
        epochs                1 + 9           4
        batch_size                8          32
    """
    shown = {k: v for k, v in full.items() if k not in DETECTOR_FIELDS}
    unknown = sorted(set(ran) - set(shown))
    if unknown:
        raise ValueError(f"settings {unknown} are not classifier settings of the full profile: {sorted(shown)}")
    small = {k: ran.get(k, getattr(cfg, k)) for k in shown}
    return pd.DataFrame({"small (this run)": small, "full (GPU)": shown})
