"""Subgroups of the test breasts: each one's metrics with intervals (:func:`subgroup_metrics`), and whether it
differs from the rest (Fisher's exact test per subgroup, Holm's correction over the family).

For each value of an attribute (site, machine, density, age band) the subgroup's breasts are compared with all
other test breasts: sensitivity as cancers called / cancers, specificity as non-cancers cleared / non-cancers,
each a 2x2 table tested with Fisher's exact test (two-sided). Every test of the table is one family: Holm's
step-down correction keeps the chance of any false "different" at 5% across all of them.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd

from ..data.rsna import breast_table
from .metrics import cluster_bootstrap, roc_auc, wilson_interval

#: The two rates compared, as (name, label value of its breasts, whether "success" is a positive call).
RATES: tuple[tuple[str, int, bool], ...] = (("sensitivity", 1, True), ("specificity", 0, False))


def holm(p_values) -> np.ndarray:
    """Holm-adjusted p-values (step-down, monotone, capped at 1).

    Args:
        p_values: Raw p-values of one family of tests.

    Returns:
        Adjusted p-values in the same order.

    Example:
        >>> holm([0.01, 0.04, 0.03]).round(2).tolist()
        [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, float)
    order = np.argsort(p)
    m = len(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def subgroup_tests(pred: pd.DataFrame, threshold: float, columns, alpha: float = 0.05) -> list[dict]:
    """Fisher's exact test of each subgroup against the rest, for sensitivity and specificity, Holm-corrected.

    Args:
        pred: Image frame with ``prediction``, ``patient_id``, ``laterality``, ``cancer`` and the ``columns``.
        threshold: The frozen decision threshold (breast score = mean of its images, at or above = recall).
        columns: Attributes to split by (the first value per breast is used).
        alpha: Family-wise error rate of the "different" verdict.

    Returns:
        One dict per test with both sides: ``attribute, group, rate, k, n, rest_k, rest_n, p_value, p_holm,
        different`` (tests where either side has no breasts of the needed class are left out: nothing to test).

    Raises:
        ValueError: A column is missing from ``pred``.
    """
    from scipy.stats import fisher_exact

    missing = [c for c in columns if c not in pred]
    if missing:
        raise ValueError(f"subgroup_tests: columns {missing} are not in the predictions; have {list(pred.columns)}")
    rows = []
    for column in columns:
        breasts = breast_table(pred, prediction=("prediction", "mean"), group=(column, "first"))
        called = breasts.prediction.to_numpy(float) >= threshold
        labels = breasts.cancer.to_numpy(int)
        groups = breasts.group.astype(str).to_numpy()
        for value in sorted(set(groups), key=lambda v: (not v.lstrip("-").isdigit(), int(v) if v.isdigit() else 0, v)):
            inside = groups == value
            for rate, label, success_is_call in RATES:
                ok = called == success_is_call
                mine, rest = inside & (labels == label), ~inside & (labels == label)
                n, rest_n = int(mine.sum()), int(rest.sum())
                if n == 0 or rest_n == 0:
                    continue
                k, rest_k = int(ok[mine].sum()), int(ok[rest].sum())
                p = float(fisher_exact([[k, n - k], [rest_k, rest_n - rest_k]]).pvalue)
                rows.append({"attribute": column, "group": value, "rate": rate, "k": k, "n": n,
                             "rest_k": rest_k, "rest_n": rest_n, "p_value": p})  # fmt: skip
    adjusted = holm([r["p_value"] for r in rows]) if rows else []
    for row, p in zip(rows, adjusted):
        row["p_holm"] = float(p)
        row["different"] = bool(p < alpha)
    return rows


#: Fewest breasts of each class for a subgroup's AUC interval (see :func:`subgroup_metrics`).
MIN_AUC_INTERVAL = 5


def subgroup_metrics(
    pred: pd.DataFrame, threshold: float, by: str, n: int = 500, seed: int = 0, alpha: float = 0.05
) -> pd.DataFrame:
    """Per-breast metrics within each value of an acquisition or patient attribute (``site_id``, ``machine_id``…),
    each with its 95% interval.

    Args:
        pred: Image frame with ``prediction``, ``patient_id`` and the ``by`` column.
        threshold: The frozen decision threshold.
        by: Column to group by (its first value per breast is used).
        n: Patient resamples of the AUC interval.
        seed: Random seed of the resamples.
        alpha: 0.05 for 95% intervals.

    Returns:
        One row per group: ``breasts, cancers, roc_auc`` (NaN with one class) with ``roc_auc_low/high`` (percentile
        bootstrap over the group's patients; NaN with fewer than :data:`MIN_AUC_INTERVAL` breasts of either class,
        or when every resample gives the same AUC (perfectly ranked breasts give 1.0 in all of them), since a
        zero-width interval would print a certainty the sample cannot give), ``sensitivity`` and ``specificity``
        (NaN without positives / negatives) with ``*_low/high`` (Wilson interval of the count).
    """
    breasts = breast_table(pred, prediction=("prediction", "mean"), group=(by, "first"))
    z = NormalDist().inv_cdf(1 - alpha / 2)
    rows = {}
    for value, part in breasts.groupby("group"):
        y, s = part.cancer.to_numpy(int), part.prediction.to_numpy(float)
        decided = s >= threshold
        row = {"breasts": len(part), "cancers": int(y.sum()), "roc_auc": roc_auc(y, s)}
        row["roc_auc_low"], row["roc_auc_high"] = _auc_interval(y, s, part.patient_id.to_numpy(), n, seed, alpha)
        for name, hits in (("sensitivity", decided[y == 1]), ("specificity", ~decided[y == 0])):
            row[name] = float(hits.mean()) if len(hits) else float("nan")
            low, high = wilson_interval(int(hits.sum()), len(hits), z) if len(hits) else (np.nan, np.nan)
            row[f"{name}_low"], row[f"{name}_high"] = float(low), float(high)
        rows[value] = row
    out = pd.DataFrame.from_dict(rows, orient="index").rename_axis(by)
    return out.sort_index(key=lambda idx: idx if pd.api.types.is_numeric_dtype(idx) else idx.map(_order))


def _order(value) -> float:
    """Sort key of a group label: numbers as numbers, bands (``<50``, ``50-59``, ``>=70``) by their bound, the rest
    (``unknown``) last."""
    import re

    text = str(value)
    match = re.match(r"^(<|>=)?(-?\d+(?:\.\d+)?)", text)
    if not match:
        return float("inf")
    number = float(match.group(2))
    return number - 0.5 if match.group(1) == "<" else number + 0.5 if match.group(1) == ">=" else number


def _auc_interval(y: np.ndarray, s: np.ndarray, patients: np.ndarray, n: int, seed: int, alpha: float) -> tuple:
    """Percentile interval of the ROC-AUC over patient resamples (NaN, NaN with fewer than
    :data:`MIN_AUC_INTERVAL` breasts of either class, no usable resample, or resamples that all agree)."""
    if min(int(y.sum()), int((1 - y).sum())) < MIN_AUC_INTERVAL:
        return float("nan"), float("nan")
    low, high = cluster_bootstrap(
        lambda idx: roc_auc(y[idx], s[idx]) if y[idx].min() != y[idx].max() else None, patients, n, seed, alpha
    )
    if not np.isfinite(low) or np.isclose(low, high):  # every resample ranked alike: no interval to print
        return float("nan"), float("nan")
    return low, high
