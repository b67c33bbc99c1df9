# Size: the screening metrics, their intervals and the one way a value with its interval is printed.
"""Evaluation metrics as RSNA scored them, plus the usual screening metrics.

- :func:`pfbeta`: probabilistic F-beta on probabilities (RSNA's score, per breast).
- :func:`binary_report`: accuracy, precision, recall, F1, specificity at a threshold; ROC-AUC, PR-AUC.
- :func:`best_threshold`: threshold maximising F1 or pF1 of binarised predictions, chosen on validation
  and then frozen for test.
- :func:`sensitivity_at_specificity`, :func:`bootstrap_ci`, :func:`patient_share` (k of n images with a patient
  bootstrap), :func:`wilson_interval`; :func:`format_with_interval`
  writes a value with its interval, :func:`format_number` one number (never a negative zero).
- :func:`log_loss`: mean binary cross-entropy of probabilities, a proper scoring rule that keeps separating models
  after every breast is ranked right (ROC-AUC 1.0).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np


def pfbeta(labels, predictions, beta: float = 1.0) -> float:
    """Probabilistic F-beta (RSNA 2023): counts are sums of probabilities.

    ``ctp = sum(p * y)``, ``cfp = sum(p * (1 - y))``, precision = ctp / (ctp + cfp),
    recall = ctp / sum(y); returns 0 when undefined.

    Args:
        labels: 0/1 labels.
        predictions: Probabilities in [0, 1].
        beta: Weight of recall.

    Returns:
        The score in [0, 1].

    Example:
        >>> round(pfbeta([1, 0, 1], [0.9, 0.2, 0.6]), 4)
        0.8108
    """
    y = np.asarray(labels, float).reshape(-1)
    p = np.clip(np.asarray(predictions, float).reshape(-1), 0.0, 1.0)
    if y.shape != p.shape:
        raise ValueError(f"labels and predictions differ in length: {y.shape} vs {p.shape}")
    ctp, cfp, pos = float((p * y).sum()), float((p * (1 - y)).sum()), float(y.sum())
    if pos == 0 or ctp + cfp == 0:
        return 0.0
    precision, recall = ctp / (ctp + cfp), ctp / pos
    if precision + recall == 0:
        return 0.0
    b2 = beta * beta
    return float((1 + b2) * precision * recall / (b2 * precision + recall))


def binary_report(labels, scores, threshold: float = 0.5) -> dict[str, float]:
    """Threshold and ranking metrics of one set of predictions.

    Plain NumPy with scikit-learn's definitions (ROC-AUC with tied scores counted half, average precision as
    scikit-learn's step sum; the tests compare both): a patient-level bootstrap calls this hundreds of times per
    model, and scikit-learn's input validation made it ~20x slower.

    Args:
        labels: 0/1 labels.
        scores: Probabilities.
        threshold: Positive when ``score >= threshold``.

    Returns:
        Dict with accuracy, precision, recall (sensitivity), specificity, f1, pf1, roc_auc, pr_auc,
        and the confusion counts tn, fp, fn, tp.
    """
    y = np.asarray(labels).astype(int).reshape(-1)
    s = np.asarray(scores, float).reshape(-1)
    if y.shape != s.shape:
        raise ValueError(f"labels and scores differ in length: {y.shape} vs {s.shape}")
    pred = s >= threshold
    pos = y == 1
    tp, fp = int(np.sum(pred & pos)), int(np.sum(pred & ~pos))
    fn, tn = int(np.sum(~pred & pos)), int(np.sum(~pred & ~pos))
    both = 0 < tp + fn < len(y)
    return {
        "accuracy": _ratio(tp + tn, len(y)),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "pf1": pfbeta(y, s),
        "roc_auc": _roc_auc(pos, s) if both else float("nan"),
        "pr_auc": _average_precision(pos, s) if both else float("nan"),
        "threshold": float(threshold),
        "tn": tn,
        "fp": fp,
        "fn": fn,
        "tp": tp,
    }


def _ratio(num: int, den: int) -> float:
    return float(num / den) if den else 0.0


def _roc_auc(pos: np.ndarray, s: np.ndarray) -> float:
    """Mann-Whitney form of the ROC-AUC (mid-ranks for ties), equal to the area under the ROC curve."""
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    ranks = np.empty(len(s), float)
    # mid-rank of each run of tied scores
    starts = np.flatnonzero(np.r_[True, sorted_s[1:] != sorted_s[:-1]])
    ends = np.r_[starts[1:], len(s)]
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    n_pos = int(pos.sum())
    n_neg = len(s) - n_pos
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _average_precision(pos: np.ndarray, s: np.ndarray) -> float:
    """Average precision: sum over distinct thresholds of (recall step) x precision, as scikit-learn."""
    order = np.argsort(-s, kind="mergesort")
    sorted_s, hits = s[order], pos[order]
    last = np.r_[sorted_s[1:] != sorted_s[:-1], True]  # last row of each tied score
    tps = np.cumsum(hits)[last]
    fps = np.cumsum(~hits)[last]
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def wilson_interval(k: np.ndarray, n: np.ndarray, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion k/n.

    Args:
        k: Successes.
        n: Trials (> 0).
        z: Normal quantile (1.96 = 95%).

    Returns:
        ``(low, high)`` arrays.
    """
    k, n = np.asarray(k, float), np.asarray(n, float)
    p = np.divide(k, n, out=np.zeros_like(k), where=n > 0)
    denom = 1 + z**2 / np.maximum(n, 1)
    centre = (p + z**2 / (2 * np.maximum(n, 1))) / denom
    half = z * np.sqrt(p * (1 - p) / np.maximum(n, 1) + z**2 / (4 * np.maximum(n, 1) ** 2)) / denom
    low, high = np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
    # exact ends where the proportion is 0 or 1 (the formula gives them only up to rounding)
    return np.where(k <= 0, 0.0, low), np.where(k >= n, 1.0, high)


def best_threshold(labels, scores, metric: str = "f1") -> float:
    """Threshold that maximises F1 (or pF1 of the binarised scores) on these (validation) predictions.

    Predictions change only where a threshold passes a score, so the best F1 holds on an interval ``(a, b]``
    between two consecutive scores (the lowest such interval when several tie). The threshold is that interval's
    midpoint, not its top ``b``: a threshold on a validation score would call a breast scored a float-rounding
    lower (another runtime, a re-scored export) differently, and with separated classes ``b`` is the lowest
    cancer's score, so a test cancer scored a little lower would be missed. With no score below ``b`` (every
    breast called positive) the threshold is ``b``.

    Args:
        labels: 0/1 labels.
        scores: Probabilities.
        metric: ``f1`` or ``pf1``.

    Returns:
        The threshold (freeze it before looking at test data).

    Example:
        >>> best_threshold([0, 0, 1, 1], [0.1, 0.2, 0.6, 0.8])
        0.4
    """
    y = np.asarray(labels).astype(int).reshape(-1)
    s = np.asarray(scores, float).reshape(-1)
    candidates = np.unique(np.concatenate([s, [0.5]]))

    def score(t: float) -> float:
        pred = (s >= t).astype(float)
        if metric == "pf1":
            return pfbeta(y, pred)
        tp, fp, fn = (pred * y).sum(), (pred * (1 - y)).sum(), ((1 - pred) * y).sum()
        return 2 * tp / (2 * tp + fp + fn) if tp else 0.0

    if metric not in ("f1", "pf1"):
        raise ValueError(f"metric must be 'f1' or 'pf1', got {metric!r}")
    top = float(max(candidates, key=score))  # the lowest threshold reaching the best score: the interval's top
    return float(f1_optimal_range(y, s, top)["midpoint"])


def f1_optimal_range(labels, scores, threshold: float) -> dict:
    """The thresholds that give the same predictions, hence the same F1, as ``threshold`` on these predictions.

    Predictions change only where a threshold passes a score, so the F1-optimal thresholds form intervals
    ``(a, b]`` between consecutive scores. :func:`best_threshold` takes the midpoint of the lowest interval
    reaching the best F1. This names the interval, its midpoint and where a chosen threshold sits in it (a
    threshold re-scored by another runtime, or one frozen by an older rule at the top ``b``), so a report can
    say how far the threshold is from the nearest validation score.

    Args:
        labels: 0/1 labels.
        scores: Probabilities.
        threshold: The chosen threshold.

    Returns:
        ``{"f1", "low" (exclusive; None below every score), "high", "midpoint", "threshold", "at_top"}``.

    Example:
        >>> r = f1_optimal_range([0, 0, 1, 1], [0.1, 0.2, 0.6, 0.8], 0.6)
        >>> (r["f1"], r["low"], r["high"], r["midpoint"], r["at_top"])
        (1.0, 0.2, 0.6, 0.4, True)
    """
    y = np.asarray(labels).astype(int).reshape(-1)
    s = np.asarray(scores, float).reshape(-1)
    pred = s >= threshold
    tp, fp, fn = int((pred & (y == 1)).sum()), int((pred & (y == 0)).sum()), int((~pred & (y == 1)).sum())
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    below, above = s[s < threshold], s[s >= threshold]
    low = float(below.max()) if below.size else None  # the same predictions down to just above this score
    high = float(above.min()) if above.size else float(threshold)  # ... and up to this one
    mid = (low + high) / 2 if low is not None else high
    return {"f1": f1, "low": low, "high": high, "midpoint": mid, "threshold": float(threshold),
            "at_top": bool(np.isclose(threshold, high))}  # fmt: skip


def sensitivity_at_specificity(labels, scores, specificity: float = 0.9) -> float:
    """Highest sensitivity among ROC points whose specificity is at least ``specificity``."""
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(np.asarray(labels).astype(int), np.asarray(scores, float))
    ok = fpr <= 1.0 - specificity + 1e-12
    return float(tpr[ok].max()) if ok.any() else 0.0


def roc_auc(labels, scores) -> float:
    """ROC-AUC (scikit-learn's value, in NumPy), or NaN when ``labels`` hold a single class (not an error).

    Args:
        labels: 0/1 labels.
        scores: Probabilities.

    Returns:
        The area under the ROC curve.
    """
    y = np.asarray(labels).astype(bool)
    return _roc_auc(y, np.asarray(scores, float)) if 0 < y.sum() < len(y) else float("nan")


#: Probabilities are clipped to [LOG_LOSS_EPS, 1 - LOG_LOSS_EPS] before the logarithm (a confident miss costs
#: about 16.1, not infinity).
LOG_LOSS_EPS = 1e-7


def log_loss(labels, scores) -> float:
    """Mean binary cross-entropy ``-mean(y log p + (1 - y) log(1 - p))`` (scikit-learn's ``log_loss``, in NumPy).

    Args:
        labels: 0/1 labels.
        scores: Probabilities (clipped to :data:`LOG_LOSS_EPS` from 0 and 1).

    Returns:
        The mean loss (lower is better; 0 only for certain, correct predictions).

    Example:
        >>> round(log_loss([1, 0], [0.5, 0.5]), 4)
        0.6931
    """
    y = np.asarray(labels, float).reshape(-1)
    p = np.clip(np.asarray(scores, float).reshape(-1), LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    if y.shape != p.shape or len(y) == 0:
        raise ValueError(f"log_loss needs as many labels as scores (got {y.shape} and {p.shape}), at least one")
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def cluster_members(groups) -> list[np.ndarray]:
    """Row indices of each cluster (e.g. each patient), for a bootstrap that resamples whole clusters."""
    codes = np.unique(np.asarray(groups), return_inverse=True)[1]
    return [np.flatnonzero(codes == g) for g in range(codes.max() + 1)]


def cluster_resample(members: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """One bootstrap draw: as many clusters as there are, with replacement; returns their row indices."""
    return np.concatenate([members[g] for g in rng.integers(0, len(members), len(members))])


def bootstrap_ci(
    labels, scores, metric: Callable, n: int = 1000, seed: int = 0, alpha: float = 0.05, groups=None
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of ``metric(labels, scores)``.

    With ``groups`` (e.g. patient ids) whole groups are resampled, so the correlated breasts and images of
    one patient move together and the interval is not too narrow.

    Args:
        labels: 0/1 labels.
        scores: Probabilities.
        metric: Callable ``(labels, scores) -> float``.
        n: Bootstrap resamples (resamples with a single class are skipped).
        seed: Random seed.
        alpha: 0.05 for a 95% interval.
        groups: Optional cluster id per row (patient-level bootstrap).

    Returns:
        ``(low, high)``.

    Example:
        >>> bootstrap_ci([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8], roc_auc, n=50, groups=[1, 1, 2, 2])
        (1.0, 1.0)
    """
    y = np.asarray(labels).astype(int)
    s = np.asarray(scores, float)

    def statistic(idx):
        return metric(y[idx], s[idx]) if y[idx].min() != y[idx].max() else None

    return cluster_bootstrap(statistic, np.arange(len(y)) if groups is None else groups, n, seed, alpha)


def cluster_bootstrap(
    statistic: Callable, groups, n: int = 1000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float]:
    """Percentile interval of any statistic of rows, resampling whole clusters (e.g. patients) with replacement.

    Args:
        statistic: ``(row indices of a resample) -> value``, or None to skip that resample.
        groups: Cluster id per row.
        n: Resamples.
        seed: Random seed.
        alpha: 0.05 for a 95% interval.

    Returns:
        ``(low, high)``; NaN when every resample was skipped.
    """
    rng = np.random.default_rng(seed)
    members = cluster_members(groups)
    values = [v for v in (statistic(cluster_resample(members, rng)) for _ in range(n)) if v is not None]
    if not values:
        return float("nan"), float("nan")
    return float(np.quantile(values, alpha / 2)), float(np.quantile(values, 1 - alpha / 2))


#: Resamples of a patient-bootstrap share (cheap to compute, so many: the percentile limits barely move by seed).
SHARE_RESAMPLES = 2000


def patient_share(flags, groups, n: int = SHARE_RESAMPLES, seed: int = 0, alpha: float = 0.05) -> dict:
    """A share of images (k of n) with its 95% patient-bootstrap interval: whole patients resampled.

    A patient's views are not independent (the same breast, the same machine), so an interval over images treats
    correlated images as separate evidence and is too narrow; resampling patients keeps them together.

    Args:
        flags: One bool per image (e.g. "the map peaks off the breast").
        groups: Patient id per image.
        n: Resamples.
        seed: Random seed (fixed, so a rebuild gives the same interval).
        alpha: 0.05 for a 95% interval.

    Returns:
        ``k`` (count), ``n`` (images), ``rate`` = k/n, ``ci`` ``(low, high)`` (NaN without images; a point when
        every patient agrees), ``patients``, ``resamples`` and ``interval`` ("patient bootstrap").

    Example:
        >>> out = patient_share([True, True, False, False], ["a", "a", "b", "b"], n=200)
        >>> out["k"], out["rate"], out["patients"], out["ci"]
        (2, 0.5, 2, (0.0, 1.0))
    """
    hit = np.asarray(flags, bool).reshape(-1)
    groups = np.asarray(groups).reshape(-1)
    if hit.shape != groups.shape:
        raise ValueError(f"patient_share needs one patient per flag, got {hit.shape} and {groups.shape}")
    out = {"k": int(hit.sum()), "n": int(len(hit)), "rate": float(hit.mean()) if len(hit) else float("nan")}
    ci = cluster_bootstrap(lambda idx: float(hit[idx].mean()), groups, n, seed, alpha) if len(hit) else None
    out["ci"] = ci or (float("nan"), float("nan"))
    out.update({"patients": int(len(np.unique(groups))), "resamples": int(n), "interval": "patient bootstrap"})
    return out


def ppv_at_prevalence(sensitivity: float, specificity: float, prevalence: float = 0.02) -> float:
    """Positive predictive value an operating point would have at another prevalence (Bayes).

    ``PPV = s * p / (s * p + (1 - sp) * (1 - p))``: a test set enriched with cancers flatters PPV and F1;
    this converts them to the screening population (RSNA: ~2% of images, ~2% of breasts).

    Args:
        sensitivity: True-positive rate at the operating point.
        specificity: True-negative rate at the operating point.
        prevalence: Share of positives in the target population.

    Returns:
        The PPV in [0, 1] (0 when nothing would be called positive).

    Example:
        >>> round(ppv_at_prevalence(0.9, 0.9, 0.02), 3)
        0.155
    """
    if not (0 <= sensitivity <= 1 and 0 <= specificity <= 1 and 0 < prevalence < 1):
        raise ValueError(
            "need sensitivity, specificity in [0, 1] and prevalence in (0, 1), "
            f"got {sensitivity}, {specificity}, {prevalence}"
        )
    called = sensitivity * prevalence + (1 - specificity) * (1 - prevalence)
    return float(sensitivity * prevalence / called) if called else 0.0


def format_number(value: float, fmt: str = ".3f") -> str:
    """``value`` formatted with ``fmt``, a value that rounds to zero written without a minus sign.

    ``f"{-0.0002:+.3f}"`` prints ``-0.000``, a sign the printed digits cannot carry; the sign of zero is the one
    ``fmt`` gives ``0.0`` (``+0.000`` with ``"+.3f"``).

    Args:
        value: The number.
        fmt: A format specification (``".3f"``, ``"+.4f"``, ``".1e"``, ``".1%"``).

    Returns:
        The text.

    Example:
        >>> format_number(-0.0002, "+.3f"), format_number(-0.0002, "+.4f"), format_number(-0.0, ".2f")
        ('+0.000', '-0.0002', '0.00')
    """
    text = format(value, fmt)
    mantissa = text.lower().split("e")[0]
    if np.isfinite(value) and mantissa.lstrip().startswith("-") and not re.search(r"[1-9]", mantissa):
        return format(0.0, fmt)
    return text


def format_with_interval(value: float | None, ci=None, fmt: str = ".3f") -> str:
    """A value with its interval for reading: ``0.194 [0.154, 0.249]``.

    ``not reached`` for a missing value; the value alone without a finite interval; and ``0.000 (every patient
    resample: 0.000)`` where all resamples agree, instead of an interval of zero width that would read as certainty.

    Args:
        value: The estimate (None: not reached).
        ci: ``(low, high)``, or None.
        fmt: Format of each number (e.g. ``"+.4f"`` for a difference).

    Returns:
        The text.

    Example:
        >>> format_with_interval(0.194, (0.154, 0.249))
        '0.194 [0.154, 0.249]'
        >>> format_with_interval(0.0024, (-0.0003, 0.0071), "+.4f")
        '+0.0024 [-0.0003, +0.0071]'
        >>> format_with_interval(0.0, (0.0, 0.0))
        '0.000 (every patient resample: 0.000)'
        >>> format_with_interval(0.0024, (-0.0002, 0.0075), "+.3f")  # a limit that rounds to zero has no minus
        '+0.002 [+0.000, +0.007]'
    """
    if value is None:
        return "not reached"
    text = format_number(value, fmt)
    if ci is None or not np.all(np.isfinite(np.asarray(ci, float))):
        return text
    low, high = (format_number(float(limit), fmt) for limit in ci)
    if np.isclose(ci[0], ci[1]):
        return f"{text} (every patient resample: {low})"
    return f"{text} [{low}, {high}]"


def difference_with_interval(test: dict, fmt: str = "+.3f") -> str:
    """A paired comparison's ``difference [low, high]`` (:func:`format_with_interval` of its three fields).

    Args:
        test: A record with ``difference``, ``low`` and ``high`` (e.g.
            :func:`mammo_utils.evaluation.compare.paired_difference` output).
        fmt: Format of each number.

    Returns:
        The text.

    Example:
        >>> difference_with_interval({"difference": 0.0021, "low": -0.0001, "high": 0.0063})
        '+0.002 [+0.000, +0.006]'
    """
    return format_with_interval(test["difference"], (test["low"], test["high"]), fmt)
