"""Paired, patient-level comparison of two models (or two arms of runs) on the same breasts.

Two models scored on the same split share their patients, so the right interval for "A beats B" is the
interval of the *difference*, computed on the same resampled patients for both (a paired bootstrap): the
patient-to-patient noise that both models see cancels out, and the interval is much narrower than the
overlap of two separate intervals suggests. An arm is one or more runs of the same recipe (seeds or folds); its
score in a resample is the mean of its runs' AUCs on that resample, so the test is of the arms' mean AUCs. The same
test runs on breast log-loss (:func:`paired_difference`), which still separates two arms when both rank every
breast right and their AUCs sit at 1.0.

The two-sided p-value is the bootstrap one: twice the share of resamples on the far side of zero, floored at
``1 / resamples`` (a p-value of 0 is not something a finite bootstrap can show).

Example:
    >>> # a = {0: run_a.val_predictions, 1: ...}; b = {0: run_b.val_predictions, ...}
    >>> # paired_auc_difference(a, b)
    >>> # {'metric': 'roc_auc', 'difference': 0.041, 'low': 0.012, 'high': 0.073, 'p_value': 0.006, ...}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .evaluate import breast_predictions
from .metrics import cluster_members, cluster_resample, difference_with_interval, log_loss, roc_auc

#: Significance level of every paired comparison the notebooks print.
ALPHA = 0.05
#: Bootstrap resamples of a paired comparison.
N_RESAMPLES = 2000
#: Metrics a paired comparison can test: name -> (function of labels and scores, lower is better, label in prose).
METRICS = {
    "roc_auc": (roc_auc, False, "breast ROC-AUC"),
    "log_loss": (log_loss, True, "breast log-loss"),
}


def breast_log_loss(predictions: pd.DataFrame) -> float:
    """Breast-level log-loss of one run's image predictions (mean per breast, as every breast metric here).

    Args:
        predictions: Image prediction frame (``patient_id``, ``laterality``, ``cancer``, ``prediction``).

    Returns:
        :func:`~mammo_utils.evaluation.metrics.log_loss` of the breast probabilities.
    """
    breasts = breast_predictions(predictions, predictions.prediction)
    return log_loss(breasts.cancer, breasts.prediction)


def _breast_matrix(runs: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Breast rows (``breast_id, patient_id, cancer``) with one score column per run, aligned on the breast."""
    table = None
    for i, pred in enumerate(runs):
        breasts = breast_predictions(pred, pred.prediction)[["breast_id", "patient_id", "cancer", "prediction"]]
        breasts = breasts.rename(columns={"prediction": f"run{i}"})
        table = breasts if table is None else table.merge(breasts, on=["breast_id", "patient_id", "cancer"])
    return table


def _two_level_draws(
    y: np.ndarray, members: list, arm_sizes: Sequence[int], statistic, n: int, seed: int
) -> np.ndarray:
    """Bootstrap draws of a statistic over resampled patients and, within each arm, resampled runs.

    Args:
        y: Breast labels (a resample without both classes is skipped).
        members: :func:`~mammo_utils.evaluation.metrics.cluster_members` of the breasts' patients.
        arm_sizes: Runs per arm; each draw picks that many run indices per arm, with replacement.
        statistic: ``statistic(breast indices, [run picks per arm]) -> float``.
        n: Resamples.
        seed: Random seed.

    Returns:
        The draws (float array).
    """
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n):
        idx = cluster_resample(members, rng)
        picks = [rng.integers(0, size, size) for size in arm_sizes]
        if y[idx].min() != y[idx].max():
            draws.append(statistic(idx, picks))
    return np.asarray(draws, float)


def arm_interval(
    runs: Mapping | Sequence[pd.DataFrame],
    metric: str = "roc_auc",
    n: int = N_RESAMPLES,
    seed: int = 0,
    alpha: float = ALPHA,
) -> dict:
    """An arm's mean breast metric over its runs (seeds or folds), with a two-level 95% bootstrap interval.

    The mean over seeds is a test number like any other, so it gets an interval: each resample draws patients, then
    the arm's runs with replacement (as :func:`paired_difference` does for each arm), so the interval carries both
    the patient sampling and the spread between seeds. The sd over seeds describes the seeds; this interval is what
    the mean is known to within.

    Args:
        runs: Image prediction frames of the arm's runs on one split (a list or a ``{seed: frame}`` mapping).
        metric: A key of :data:`METRICS`.
        n: Bootstrap resamples.
        seed: Random seed of the resampling.
        alpha: 0.05 for a 95% interval.

    Returns:
        ``metric``, ``value`` (the observed mean over runs), ``low``, ``high``, ``runs`` and ``patients``.

    Raises:
        ValueError: An unknown metric, no run, or breasts of one class only.

    Example:
        >>> import pandas as pd
        >>> def run(noise):
        ...     return pd.DataFrame({"patient_id": [1, 1, 2, 2, 3, 3, 4, 4], "laterality": list("LRLRLRLR"),
        ...                          "cancer": [1, 0, 0, 0, 1, 0, 0, 0],
        ...                          "prediction": [0.9, 0.2, 0.3, 0.1, 0.8, 0.4, 0.2, noise]})
        >>> out = arm_interval([run(0.1), run(0.95)], n=200)
        >>> round(out["value"], 3), out["low"] <= out["value"] <= out["high"], out["runs"]
        (0.917, True, 2)
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {sorted(METRICS)}, got {metric!r}")
    score = METRICS[metric][0]
    frames = list(runs.values()) if isinstance(runs, Mapping) else list(runs)
    if not frames:
        raise ValueError("an arm needs at least one run")
    table = _breast_matrix(frames)
    y = table.cancer.to_numpy(int)
    if len(table) == 0 or y.min() == y.max():
        raise ValueError("the arm's breasts hold one class only: no interval")
    scores = table[[f"run{i}" for i in range(len(frames))]].to_numpy(float)
    members = cluster_members(table.patient_id.to_numpy())

    def mean(idx: np.ndarray, picks) -> float:
        return float(np.mean([score(y[idx], scores[idx, j]) for j in picks[0]]))

    draws = _two_level_draws(y, members, [len(frames)], mean, n, seed)
    return {
        "metric": metric,
        "value": mean(np.arange(len(y)), [range(len(frames))]),
        "low": float(np.quantile(draws, alpha / 2)),
        "high": float(np.quantile(draws, 1 - alpha / 2)),
        "runs": len(frames),
        "patients": len(members),
    }


def paired_difference(
    a: Mapping | Sequence[pd.DataFrame],
    b: Mapping | Sequence[pd.DataFrame],
    metric: str = "roc_auc",
    n: int = N_RESAMPLES,
    seed: int = 0,
    alpha: float = ALPHA,
) -> dict:
    """Difference of a breast metric ``mean(A runs) - mean(B runs)`` with a paired two-level bootstrap.

    Each resample draws patients (paired: both arms score the same resampled breasts), then each arm's runs with
    replacement, so the interval carries both the patient sampling and the spread between seeds; resampling
    patients alone would treat the seed average as fixed and make a verdict overconfident.

    Args:
        a: Runs of arm A: image prediction frames (``patient_id``, ``laterality``, ``cancer``, ``prediction``) on
            one split, as a list or a ``{seed: frame}`` mapping.
        b: Runs of arm B on the same split.
        metric: A key of :data:`METRICS`: ``roc_auc`` (higher is better) or ``log_loss`` (lower is better; it keeps
            separating arms once both rank every breast right).
        n: Bootstrap resamples (of patients, and of each arm's runs).
        seed: Random seed of the resampling.
        alpha: 0.05 for a 95% interval.

    Returns:
        ``metric``, ``difference`` (observed), ``low``/``high`` (percentile interval), ``p_value`` (two-sided),
        ``value_a``/``value_b`` (observed arm means; for ``roc_auc`` also as ``auc_a``/``auc_b``),
        ``runs_a``/``runs_b``, and the counts ``patients``, ``breasts``, ``cancers`` of the breasts both arms scored.

    Raises:
        ValueError: An unknown metric, an arm without runs, or no breast that both arms scored with both classes.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {sorted(METRICS)}, got {metric!r}")
    score = METRICS[metric][0]
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
        values = np.asarray([score(y[idx], scores[idx, j]) for j in range(scores.shape[1])])
        a_runs = values[:k] if pick_a is None else values[pick_a]
        b_runs = values[k:] if pick_b is None else values[k + pick_b]
        return float(np.mean(a_runs) - np.mean(b_runs))

    observed = difference(np.arange(len(y)))
    members = cluster_members(table.patient_id.to_numpy())
    # two levels: the patients, then each arm's runs (seeds) with replacement, so the spread between seeds
    # enters the interval (an arm of one run contributes no seed spread: its verdict is withheld anyway)
    draws = _two_level_draws(y, members, (k, m), lambda idx, picks: difference(idx, *picks), n, seed)
    p = 2 * min(np.mean(draws <= 0), np.mean(draws >= 0))
    values = [score(y, scores[:, j]) for j in range(scores.shape[1])]
    means = {"value_a": float(np.mean(values[:k])), "value_b": float(np.mean(values[k:]))}
    if metric == "roc_auc":
        means.update(auc_a=means["value_a"], auc_b=means["value_b"])
    return {
        "metric": metric,
        "difference": observed,
        "low": float(np.quantile(draws, alpha / 2)),
        "high": float(np.quantile(draws, 1 - alpha / 2)),
        "p_value": float(min(1.0, max(p, 1.0 / len(draws)))),
        **means,
        "runs_a": len(runs_a),
        "runs_b": len(runs_b),
        "patients": len(members),
        "breasts": len(table),
        "cancers": int(y.sum()),
    }


def paired_auc_difference(
    a: Mapping | Sequence[pd.DataFrame],
    b: Mapping | Sequence[pd.DataFrame],
    n: int = N_RESAMPLES,
    seed: int = 0,
    alpha: float = ALPHA,
) -> dict:
    """:func:`paired_difference` of breast ROC-AUC (the selection metric of 04-06).

    Args:
        a: Runs of arm A (a list or a ``{seed: frame}`` mapping of image prediction frames).
        b: Runs of arm B on the same split.
        n: Bootstrap resamples.
        seed: Random seed of the resampling.
        alpha: 0.05 for a 95% interval.

    Returns:
        :func:`paired_difference`'s fields.
    """
    return paired_difference(a, b, "roc_auc", n=n, seed=seed, alpha=alpha)


def a_is_better(test: dict, alpha: float = ALPHA) -> bool:
    """Whether a paired test puts arm A above arm B: significant, with the whole interval on A's side.

    Args:
        test: :func:`paired_difference` output (its ``metric`` sets the direction; AUC when absent).
        alpha: Significance level.

    Returns:
        True for a higher AUC (interval above 0) or a lower loss (interval below 0).
    """
    lower = METRICS[test.get("metric", "roc_auc")][1]
    return test["p_value"] < alpha and (test["high"] < 0 if lower else test["low"] > 0)


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
        test: :func:`paired_difference` output (a loss names its metric and says which arm is better).
        alpha: Significance level.

    Returns:
        e.g. ``"A − B = +0.041 [+0.012, +0.073], p = 0.006: A is higher."``, or for a loss ``"breast log-loss:
        A − B = −0.140 [−0.201, −0.085], p < 0.001 …: A is better (lower breast log-loss)."``.
    """
    metric = test.get("metric", "roc_auc")
    _, lower, label = METRICS[metric]
    figures = (
        ("" if metric == "roc_auc" else f"{label}: ") + f"{name_a} − {name_b} = {difference_with_interval(test)}, "
        f"{format_p(test['p_value'])} ({test['runs_a']} vs {test['runs_b']} runs, {test['patients']} patients, "
        f"{test['cancers']} cancer breasts)"
    )
    if min(test["runs_a"], test["runs_b"]) < 2:
        return f"{figures}: **not replicated** (one seed on one side): reported, no verdict drawn."
    reverse = {**test, "low": -test["high"], "high": -test["low"]}
    for winner, side in ((name_a, test), (name_b, reverse)):
        if a_is_better(side, alpha):
            return f"{figures}: **{winner} is " + (f"better** (lower {label})." if lower else "higher**.")
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
