# Size: the subgroup metrics, tests and seed replication share one unit (the patient) and its banding helpers.
"""Subgroups of the test split: each one's metrics with intervals (:func:`subgroup_metrics`), whether it differs
from the rest (:func:`subgroup_tests`), and how often that verdict repeats over an arm's seeds
(:func:`subgroup_replication`).

**The test's unit is the patient.** A patient's two breasts share her site, machine and age, so counting breasts as
independent trials would make a 2x2 table look larger than the evidence it holds. Each patient therefore counts
once per rate, by collapsing her breasts of that rate's class:

- sensitivity: a patient with cancer counts as *called* when any of her cancer breasts is at or above the threshold
  (what a screening recall of that woman would catch);
- specificity: a patient with a cancer-free breast counts as *cleared* when all of her cancer-free breasts are below
  the threshold (a false recall of any of them recalls her).

Patients are independent of one another, so each subgroup's k/n against the rest's is a 2x2 table of independent
units, tested with Fisher's exact test (two-sided); no resampling, hence nothing random to seed. A patient is placed
in the group of her first breast of that class (breasts ordered by laterality), so no patient sits on both sides of a
table even in the rare exam split over two machines. This was chosen over a patient-cluster permutation test because
it is exact without resampling and keeps k/n as counts of the same unit the test uses (the Wilson interval of a
group's k/n, which the model card prints, is then valid too).

Every test of one call is one family: Holm's step-down correction keeps the chance of any false "different" at 5%
across all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from statistics import NormalDist

import numpy as np
import pandas as pd

from ..data.rsna import breast_table
from .metrics import cluster_members, cluster_resample, roc_auc, wilson_interval

#: The two rates compared, as (name, label value of its breasts, whether "success" is a positive call).
RATES: tuple[tuple[str, int, bool], ...] = (("sensitivity", 1, True), ("specificity", 0, False))

#: The unit each subgroup test counts (recorded with every test as ``unit``).
UNIT = "patients"

#: The attributes the champion's subgroups are split by (:func:`with_subgroup_columns` adds them).
SUBGROUP_COLUMNS: tuple[str, ...] = ("site_id", "machine_id", "density", "age_band")

#: Age bands (years, half-open ``[low, high)``): the one definition 01's EDA and the model card's subgroups share.
AGE_BINS: tuple[float, ...] = (0, 50, 60, 70, 200)


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


#: The group label of a missing value (age band, density), in the model card's subgroups and 01's rate tables alike.
UNKNOWN = "unknown"


def age_band(age: pd.Series) -> pd.Series:
    """The age band of each value: ``<50``, ``50-59``, ``60-69``, ``>=70`` (:data:`AGE_BINS`), ``unknown`` when missing.

    Args:
        age: Ages in years (NaN when missing).

    Returns:
        Labels (str), in the same order; :func:`band_order` sorts them.

    Example:
        >>> age_band(pd.Series([45, 50, 71.0, None])).tolist()
        ['<50', '50-59', '>=70', 'unknown']
    """
    inner = [int(v) for v in AGE_BINS[1:-1]]
    labels = [f"<{inner[0]}"] + [f"{a}-{b - 1}" for a, b in zip(inner, inner[1:])] + [f">={inner[-1]}"]
    return pd.cut(age, list(AGE_BINS), right=False, labels=labels).astype(object).fillna(UNKNOWN)


def with_subgroup_columns(pred: pd.DataFrame, meta: pd.DataFrame | None = None) -> pd.DataFrame:
    """A copy of ``pred`` carrying every column of :data:`SUBGROUP_COLUMNS`.

    Args:
        pred: Image frame with ``image_id``.
        meta: ``train.csv`` indexed by ``image_id``: fills ``site_id``, ``machine_id``, ``density`` and ``age``
            when ``pred`` lacks them (None: only what ``pred`` has).

    Returns:
        The frame with ``age_band`` (from ``age``) and ``density``, each ``unknown`` where missing.
    """
    out = pred.copy()
    for column in ("site_id", "machine_id", "density", "age"):
        if meta is not None and column not in out and column in meta:
            out[column] = out.image_id.map(meta[column])
    out["age_band"] = age_band(out["age"]) if "age" in out else UNKNOWN
    out["density"] = out["density"].fillna(UNKNOWN) if "density" in out else UNKNOWN
    return out


def patient_outcomes(pred: pd.DataFrame, threshold: float, column: str) -> pd.DataFrame:
    """One row per patient and rate: her group and whether the rate's success held for her (see the module text).

    Args:
        pred: Image frame with ``prediction``, ``patient_id``, ``laterality``, ``cancer`` and ``column``.
        threshold: Breast score (mean of its images) at or above it = recall.
        column: The attribute (its first value per breast, then the first breast's per patient).

    Returns:
        Columns ``rate, patient_id, group`` (str), ``ok`` (bool): a cancer patient called on a cancer breast, or a
        patient whose cancer-free breasts were all cleared.
    """
    breasts = breast_table(pred, prediction=("prediction", "mean"), group=(column, "first"))
    called = breasts.prediction.to_numpy(float) >= threshold
    parts = []
    for rate, label, success_is_call in RATES:
        mine = breasts.assign(ok=called == success_is_call)[breasts.cancer.to_numpy(int) == label]
        per = mine.groupby("patient_id", sort=True).agg(
            group=("group", "first"), ok=("ok", "any" if success_is_call else "all")
        )
        parts.append(per.reset_index().assign(rate=rate))
    out = pd.concat(parts, ignore_index=True)[["rate", "patient_id", "group", "ok"]]
    return out.assign(group=out.group.astype(str), ok=out.ok.astype(bool))


def _test_order(value: str) -> tuple:
    """Sort key of a tested group: integers in numeric order first, then the other labels alphabetically."""
    return (not value.lstrip("-").isdigit(), int(value) if value.isdigit() else 0, value)


def subgroup_tests(pred: pd.DataFrame, threshold: float, columns, alpha: float = 0.05) -> list[dict]:
    """Fisher's exact test of each subgroup's patients against the rest's, for sensitivity and specificity,
    Holm-corrected over every test of the call.

    Args:
        pred: Image frame with ``prediction``, ``patient_id``, ``laterality``, ``cancer`` and the ``columns``.
        threshold: The frozen decision threshold (breast score = mean of its images, at or above = recall).
        columns: Attributes to split by (see :func:`patient_outcomes` for a patient's group).
        alpha: Family-wise error rate of the "different" verdict.

    Returns:
        One dict per test: ``attribute, group, rate, k, n, rest_k, rest_n`` (patients: successes / patients, see the
        module text), ``p_value, p_holm, different`` and ``unit`` (:data:`UNIT`). Tests where either side has no
        patient of the needed class are left out: nothing to test.

    Raises:
        ValueError: A column is missing from ``pred``.

    Example:
        >>> rows = [{"patient_id": p, "laterality": "L", "cancer": 1, "prediction": 0.9 * (p > 3),
        ...          "site_id": 1 + (p > 3)} for p in range(8)]
        >>> [(t["group"], t["k"], t["n"]) for t in subgroup_tests(pd.DataFrame(rows), 0.5, ["site_id"])]
        [('1', 0, 4), ('2', 4, 4)]
    """
    from scipy.stats import fisher_exact

    missing = [c for c in columns if c not in pred]
    if missing:
        raise ValueError(f"subgroup_tests: columns {missing} are not in the predictions; have {list(pred.columns)}")
    rows = []
    for column in columns:
        units = patient_outcomes(pred, threshold, column)
        for value in sorted(set(units.group), key=_test_order):
            for rate, _, _ in RATES:
                part = units[units.rate == rate]
                inside = part.group.to_numpy() == value
                n, rest_n = int(inside.sum()), int((~inside).sum())
                if n == 0 or rest_n == 0:
                    continue
                ok = part.ok.to_numpy(bool)
                k, rest_k = int(ok[inside].sum()), int(ok[~inside].sum())
                p = float(fisher_exact([[k, n - k], [rest_k, rest_n - rest_k]]).pvalue)
                rows.append({"attribute": column, "group": value, "rate": rate, "k": k, "n": n,
                             "rest_k": rest_k, "rest_n": rest_n, "p_value": p, "unit": UNIT})  # fmt: skip
    adjusted = holm([r["p_value"] for r in rows]) if rows else []
    for row, p in zip(rows, adjusted):
        row["p_holm"] = float(p)
        row["different"] = bool(p < alpha)
    return rows


def subgroup_replication(
    preds: Mapping[int, pd.DataFrame], thresholds: float | Mapping[int, float], columns, alpha: float = 0.05
) -> list[dict]:
    """:func:`subgroup_tests` on each seed's predictions of one arm: in how many seeds each test was flagged.

    A subgroup flagged by one run may be that run's noise; the same recipe trained with other seeds says whether
    the flag belongs to the recipe.

    Args:
        preds: Seed -> that run's image frame (as :func:`subgroup_tests` reads it), all on the same test split.
        thresholds: One threshold for all, or seed -> that run's own frozen threshold.
        columns: Attributes to split by (one Holm family per seed, as in :func:`subgroup_tests`).
        alpha: Family-wise error rate of each seed's "different" verdict.

    Returns:
        One dict per (attribute, group, rate) tested in any seed, in first-seen order: ``attribute, group, rate,
        flagged_in`` (seeds where it differed after Holm), ``tested_in``, ``seeds`` (how many were given),
        ``flagged_seeds`` and ``unit``.

    Raises:
        ValueError: No seed given, or a seed without a threshold.

    Example:
        >>> rows = [{"patient_id": p, "laterality": "L", "cancer": 1, "prediction": 0.9, "site_id": 1 + p % 2}
        ...         for p in range(8)]
        >>> subgroup_replication({0: pd.DataFrame(rows)}, 0.5, ["site_id"])[0]["flagged_in"]
        0
    """
    if not preds:
        raise ValueError("subgroup_replication: no seed's predictions given")
    if isinstance(thresholds, Mapping) and set(preds) - set(thresholds):
        raise ValueError(f"subgroup_replication: seeds {sorted(set(preds) - set(thresholds))} have no threshold")
    rows: dict[tuple, dict] = {}
    for seed, frame in preds.items():
        threshold = thresholds[seed] if isinstance(thresholds, Mapping) else thresholds
        for t in subgroup_tests(frame, float(threshold), columns, alpha):
            key = (t["attribute"], t["group"], t["rate"])
            blank = {"flagged_in": 0, "tested_in": 0, "seeds": len(preds), "flagged_seeds": [], "unit": t["unit"]}
            row = rows.setdefault(key, {**dict(zip(("attribute", "group", "rate"), key)), **blank})
            row["tested_in"] += 1
            if t["different"]:
                row["flagged_in"] += 1
                row["flagged_seeds"].append(seed)
    return list(rows.values())


def replication_of(replication: list[dict], test: dict) -> dict | None:
    """The :func:`subgroup_replication` row of one recorded test (same attribute, group and rate), or None."""
    key = (test["attribute"], str(test["group"]), test["rate"])
    return next((r for r in replication if (r["attribute"], str(r["group"]), r["rate"]) == key), None)


def replication_sentence(replication: list[dict]) -> str:
    """What the seeds say, in words: each test flagged in at least one seed, with its count.

    Args:
        replication: :func:`subgroup_replication`'s rows.

    Returns:
        A sentence ending in a full stop.

    Example:
        >>> replication_sentence([{"attribute": "machine_id", "group": "29", "rate": "sensitivity",
        ...                        "flagged_in": 1, "seeds": 3}])
        "Over the arm's 3 seeds, each at its own threshold: machine_id 29 sensitivity flagged in 1 of 3."
    """
    seeds = replication[0]["seeds"] if replication else 0
    flagged = ", ".join(
        f"{r['attribute']} {r['group']} {r['rate']} flagged in {r['flagged_in']} of {seeds}" for r in replication
        if r["flagged_in"]
    )  # fmt: skip
    head = f"Over the arm's {seeds} seed{'s' * (seeds != 1)}, each at its own threshold: "
    return head + (flagged or "no group is flagged in any seed") + "."


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
        One row per group: ``breasts, cancers, roc_auc`` (NaN with one class); ``roc_auc_low/high``, the percentile
        interval of the patient resamples that hold both classes (:func:`auc_interval`: a perfectly ranked group's
        resamples all give 1.0, so its interval is [1.0, 1.0] as they gave it), ``roc_auc_resamples`` (how many of
        the ``n`` were usable) and ``roc_auc_missing`` (None, or why there is no interval: then ``_low/_high`` are
        NaN); ``sensitivity`` and ``specificity`` (NaN without positives / negatives) with ``*_low/high`` (Wilson
        interval of the count).
    """
    breasts = breast_table(pred, prediction=("prediction", "mean"), group=(by, "first"))
    z = NormalDist().inv_cdf(1 - alpha / 2)
    rows = {}
    for value, part in breasts.groupby("group"):
        y, s = part.cancer.to_numpy(int), part.prediction.to_numpy(float)
        decided = s >= threshold
        row = {"breasts": len(part), "cancers": int(y.sum()), "roc_auc": roc_auc(y, s)}
        row.update(auc_interval(y, s, part.patient_id.to_numpy(), n, seed, alpha))
        for name, hits in (("sensitivity", decided[y == 1]), ("specificity", ~decided[y == 0])):
            row[name] = float(hits.mean()) if len(hits) else float("nan")
            low, high = wilson_interval(int(hits.sum()), len(hits), z) if len(hits) else (np.nan, np.nan)
            row[f"{name}_low"], row[f"{name}_high"] = float(low), float(high)
        rows[value] = row
    out = pd.DataFrame.from_dict(rows, orient="index").rename_axis(by)
    out["roc_auc_missing"] = out.roc_auc_missing.astype(object).where(out.roc_auc_missing.notna(), None)
    return out.sort_index(key=lambda idx: idx if pd.api.types.is_numeric_dtype(idx) else idx.map(band_order))


def band_order(value) -> float:
    """Sort key of a group label: numbers as numbers, bands (``<50``, ``50-59``, ``>=70``) by their bound, the rest
    (``unknown``) last.

    Example:
        >>> sorted([">=70", "unknown", "50-59", "<50"], key=band_order)
        ['<50', '50-59', '>=70', 'unknown']
    """
    import re

    text = str(value)
    match = re.match(r"^(<|>=)?(-?\d+(?:\.\d+)?)", text)
    if not match:
        return float("inf")
    number = float(match.group(2))
    return number - 0.5 if match.group(1) == "<" else number + 0.5 if match.group(1) == ">=" else number


def auc_interval(y: np.ndarray, s: np.ndarray, patients: np.ndarray, n: int, seed: int, alpha: float) -> dict:
    """Percentile interval of the ROC-AUC over patient resamples, keeping only resamples that hold both classes.

    Args:
        y: 0/1 per breast.
        s: Breast scores.
        patients: Patient id per breast (the resampled unit).
        n: Resamples drawn.
        seed: Random seed (the same draws as :func:`~mammo_utils.evaluation.metrics.cluster_bootstrap`).
        alpha: 0.05 for a 95% interval.

    Returns:
        ``roc_auc_low, roc_auc_high`` (NaN when there is no interval), ``roc_auc_resamples`` (usable resamples) and
        ``roc_auc_missing``: None, or the reason: fewer than :data:`MIN_AUC_INTERVAL` breasts of a class (nothing
        is resampled), or no resample holding both classes.

    Example:
        >>> y, s = np.array([0] * 5 + [1] * 5), np.arange(10.0)
        >>> auc_interval(y, s, np.arange(10), 100, 0, 0.05)["roc_auc_low"]  # all ranked right in every resample
        1.0
    """
    out = {"roc_auc_low": float("nan"), "roc_auc_high": float("nan"), "roc_auc_resamples": 0, "roc_auc_missing": None}
    fewest = min(int(y.sum()), int((1 - y).sum()))
    if fewest < MIN_AUC_INTERVAL:
        out["roc_auc_missing"] = (
            f"{fewest} breast(s) of the rarer class, fewer than the {MIN_AUC_INTERVAL} an AUC interval needs"
        )
        return out
    rng, members = np.random.default_rng(seed), cluster_members(patients)
    draws = (cluster_resample(members, rng) for _ in range(n))
    values = [roc_auc(y[idx], s[idx]) for idx in draws if y[idx].min() != y[idx].max()]
    out["roc_auc_resamples"] = len(values)
    if not values:
        out["roc_auc_missing"] = f"none of {n} patient resamples held both classes"
        return out
    out["roc_auc_low"] = float(np.quantile(values, alpha / 2))
    out["roc_auc_high"] = float(np.quantile(values, 1 - alpha / 2))
    return out
