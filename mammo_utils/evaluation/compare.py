"""Paired, patient-level comparison of two models (or two arms of runs) on the same breasts.

Two models scored on the same split share their patients, so the right interval for "A beats B" is the
interval of the *difference*, computed on the same resampled patients for both (a paired bootstrap): the
patient-to-patient noise that both models see cancels out, and the interval is much narrower than the
overlap of two separate intervals suggests. An arm is one or more runs of the same recipe (seeds or folds); its
score in a resample is the mean of its runs' AUCs on that resample, so the test is of the arms' mean AUCs.

The two-sided p-value is the bootstrap one: twice the share of resamples on the far side of zero, floored at
``1 / resamples`` (a p-value of 0 is not something a finite bootstrap can show).

Example:
    >>> # a = {0: run_a.val_predictions, 1: ...}; b = {0: run_b.val_predictions, ...}
    >>> # paired_auc_difference(a, b)  # doctest: +SKIP
    >>> # {'difference': 0.041, 'low': 0.012, 'high': 0.073, 'p_value': 0.006, ...}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .evaluate import breast_predictions
from .metrics import cluster_members, cluster_resample, roc_auc

#: Significance level of every paired comparison the notebooks print.
ALPHA = 0.05
#: Bootstrap resamples of a paired comparison.
N_RESAMPLES = 2000


def _breast_matrix(runs: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Breast rows (``breast_id, patient_id, cancer``) with one score column per run, aligned on the breast."""
    table = None
    for i, pred in enumerate(runs):
        breasts = breast_predictions(pred, pred.prediction)[["breast_id", "patient_id", "cancer", "prediction"]]
        breasts = breasts.rename(columns={"prediction": f"run{i}"})
        table = breasts if table is None else table.merge(breasts, on=["breast_id", "patient_id", "cancer"])
    return table


def paired_auc_difference(
    a: Mapping | Sequence[pd.DataFrame],
    b: Mapping | Sequence[pd.DataFrame],
    n: int = N_RESAMPLES,
    seed: int = 0,
    alpha: float = ALPHA,
) -> dict:
    """Difference of breast ROC-AUC ``mean(A runs) - mean(B runs)`` with a paired two-level bootstrap.

    Each resample draws patients (paired: both arms score the same resampled breasts), then each arm's runs with
    replacement, so the interval carries both the patient sampling and the spread between seeds; resampling
    patients alone would treat the seed average as fixed and make a verdict overconfident.

    Args:
        a: Runs of arm A: image prediction frames (``patient_id``, ``laterality``, ``cancer``, ``prediction``) on
            one split, as a list or a ``{seed: frame}`` mapping.
        b: Runs of arm B on the same split.
        n: Bootstrap resamples (of patients, and of each arm's runs).
        seed: Random seed of the resampling.
        alpha: 0.05 for a 95% interval.

    Returns:
        ``difference`` (observed), ``low``/``high`` (percentile interval), ``p_value`` (two-sided),
        ``auc_a``/``auc_b`` (observed arm means), ``runs_a``/``runs_b``, and the counts ``patients``,
        ``breasts``, ``cancers`` of the breasts both arms scored.

    Raises:
        ValueError: An arm without runs, or no breast that both arms scored with both classes present.
    """
    runs_a = list(a.values()) if isinstance(a, Mapping) else list(a)
    runs_b = list(b.values()) if isinstance(b, Mapping) else list(b)
    if not runs_a or not runs_b:
        raise ValueError(f"each arm needs at least one run, got {len(runs_a)} and {len(runs_b)}")
    table = _breast_matrix(runs_a + runs_b)
    y = table.cancer.to_numpy(int)
    if len(table) == 0 or y.min() == y.max():
        raise ValueError("the two arms share no breasts with both classes: nothing to compare")
    scores = table[[f"run{i}" for i in range(len(runs_a) + len(runs_b))]].to_numpy(float)
    k = len(runs_a)

    m = scores.shape[1] - k

    def difference(idx: np.ndarray, pick_a=None, pick_b=None) -> float:
        aucs = np.asarray([roc_auc(y[idx], scores[idx, j]) for j in range(scores.shape[1])])
        a_runs = aucs[:k] if pick_a is None else aucs[pick_a]
        b_runs = aucs[k:] if pick_b is None else aucs[k + pick_b]
        return float(np.mean(a_runs) - np.mean(b_runs))

    observed = difference(np.arange(len(y)))
    members = cluster_members(table.patient_id.to_numpy())
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n):
        idx = cluster_resample(members, rng)
        # two levels: the patients, then each arm's runs (seeds) with replacement, so the spread between seeds
        # enters the interval (an arm of one run contributes no seed spread: its verdict is withheld anyway)
        pick_a, pick_b = rng.integers(0, k, k), rng.integers(0, m, m)
        if y[idx].min() != y[idx].max():
            draws.append(difference(idx, pick_a, pick_b))
    draws = np.asarray(draws, float)
    p = 2 * min(np.mean(draws <= 0), np.mean(draws >= 0))
    all_aucs = [roc_auc(y, scores[:, j]) for j in range(scores.shape[1])]
    return {
        "difference": observed,
        "low": float(np.quantile(draws, alpha / 2)),
        "high": float(np.quantile(draws, 1 - alpha / 2)),
        "p_value": float(min(1.0, max(p, 1.0 / len(draws)))),
        "auc_a": float(np.mean(all_aucs[:k])),
        "auc_b": float(np.mean(all_aucs[k:])),
        "runs_a": len(runs_a),
        "runs_b": len(runs_b),
        "patients": len(members),
        "breasts": len(table),
        "cancers": int(y.sum()),
    }


def format_p(p_value: float) -> str:
    """A bootstrap p-value as prose: ``p < 0.001`` below the printed precision, else ``p = 0.025``.

    Args:
        p_value: Two-sided p-value (its floor is one over the number of resamples).

    Returns:
        The text.
    """
    return "p < 0.001" if p_value < 0.001 else f"p = {p_value:.3f}"


def verdict(name_a: str, name_b: str, test: dict, alpha: float = ALPHA) -> str:
    """One sentence that follows the paired test whichever way it falls.

    Args:
        name_a: Arm A's name.
        name_b: Arm B's name.
        test: :func:`paired_auc_difference` output.
        alpha: Significance level.

    Returns:
        e.g. ``"A − B = +0.041 [+0.012, +0.073], p = 0.006: A is higher."``.
    """
    figures = (
        f"{name_a} − {name_b} = {test['difference']:+.3f} [{test['low']:+.3f}, {test['high']:+.3f}], "
        f"{format_p(test['p_value'])} ({test['runs_a']} vs {test['runs_b']} runs, {test['patients']} patients, "
        f"{test['cancers']} cancer breasts)"
    )
    if min(test["runs_a"], test["runs_b"]) < 2:
        return f"{figures}: **not replicated** (one seed on one side): reported, no verdict drawn."
    if test["p_value"] < alpha and test["low"] > 0:
        return f"{figures}: **{name_a} is higher**."
    if test["p_value"] < alpha and test["high"] < 0:
        return f"{figures}: **{name_b} is higher**."
    return f"{figures}: **no difference this test can establish** (the interval contains 0)."


def pairwise_table(
    arms: Mapping[str, Sequence[pd.DataFrame]], reference: str, n: int = N_RESAMPLES, seed: int = 0
) -> pd.DataFrame:
    """Every arm against one reference arm (e.g. the one chosen on validation), paired over patients.

    Args:
        arms: Arm name -> its runs' prediction frames on one split.
        reference: The arm every other arm is compared with.
        n: Bootstrap resamples.
        seed: Random seed.

    Returns:
        One row per other arm: ``difference``, ``low``, ``high``, ``p_value``, the arms' mean AUCs and the counts,
        plus the ``verdict`` sentence; indexed ``"<arm> − <reference>"``.

    Raises:
        KeyError: ``reference`` is not an arm.
    """
    if reference not in arms:
        raise KeyError(f"reference arm {reference!r} not among {list(arms)}")
    rows = {}
    for name, runs in arms.items():
        if name == reference:
            continue
        test = paired_auc_difference(runs, arms[reference], n=n, seed=seed)
        rows[name] = {**test, "verdict": verdict(name, reference, test)}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = f"arm (− {reference})"
    return table
