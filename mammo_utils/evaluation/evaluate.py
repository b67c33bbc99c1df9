"""Evaluation of a trained classifier on a split, image-level and per breast (as RSNA scored it).

Protocol: the decision threshold is chosen on the validation breasts (maximising F1) and then frozen
for the test split; ranking metrics (ROC-AUC, PR-AUC, pF1 on probabilities) need no threshold.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd

from .. import constants as C
from ..data.rsna import breast_table
from ..utils import median_seconds
from .metrics import (
    best_threshold,
    binary_report,
    cluster_members,
    cluster_resample,
    sensitivity_at_specificity,
    wilson_interval,
)
from .screening import FALLBACK_PREVALENCE, screening_range, screening_translation

#: The specificity of ``sens_at_spec`` (sensitivity at this specificity, read off the ROC curve).
SPECIFICITY_POINT = 0.9


def breast_predictions(df: pd.DataFrame, predictions, agg: str = "mean") -> pd.DataFrame:
    """Aggregate image predictions per breast (patient_id, laterality), as RSNA scored them.

    Args:
        df: Image frame aligned with ``predictions`` (``patient_id``, ``laterality``, ``cancer``, ``image_id``).
        predictions: One probability per row of ``df``.
        agg: One of :data:`mammo_utils.constants.BREAST_AGGREGATIONS` (``mean`` or ``max``).

    Returns:
        One row per breast: ``breast_id, patient_id, laterality, cancer, n_images, prediction``.

    Raises:
        ValueError: Unknown ``agg``.
    """
    if agg not in C.BREAST_AGGREGATIONS:
        raise ValueError(f"agg must be one of {C.BREAST_AGGREGATIONS}, got {agg!r}")
    frame = df.assign(prediction=np.asarray(predictions, float).reshape(-1))
    return breast_table(frame, prediction=("prediction", agg))


def evaluate_predictions(
    pred: pd.DataFrame, threshold: float | None = None, agg: str = "mean", specificity: float = SPECIFICITY_POINT
) -> dict:
    """Image- and breast-level metrics of a frame with ``prediction``.

    Args:
        pred: Output of :func:`mammo_utils.modeling.score.score_cached`.
        threshold: Decision threshold; None chooses the F1-optimal one on these breasts (validation only).
        agg: Per-breast aggregation of image scores (``mean`` or ``max``).
        specificity: Operating point for the reported sensitivity.

    Returns:
        ``{"threshold", "image": {...}, "breast": {...}}``; the dicts are :func:`binary_report` outputs plus
        ``sens_at_spec``; ``breast`` also carries ``n`` and ``positives``.
    """
    breasts = breast_predictions(pred, pred.prediction, agg=agg)
    if threshold is None:
        threshold = best_threshold(breasts.cancer, breasts.prediction, metric="f1")
    out = {"threshold": float(threshold)}
    for level, labels, scores in (
        ("image", pred.cancer, pred.prediction),
        ("breast", breasts.cancer, breasts.prediction),
    ):
        report = full_report(labels, scores, threshold, specificity)
        report["n"], report["positives"] = int(len(labels)), int(np.sum(labels))
        out[level] = report
    return out


def full_report(labels, scores, threshold: float, specificity: float = SPECIFICITY_POINT) -> dict:
    """:func:`~mammo_utils.evaluation.metrics.binary_report` plus ``sens_at_spec`` (NaN with one class)."""
    report = binary_report(labels, scores, threshold)
    both = len(np.unique(labels)) == 2
    report["sens_at_spec"] = sensitivity_at_specificity(labels, scores, specificity) if both else float("nan")
    return report


def flat_metrics(result: dict, prefix: str) -> dict[str, float]:
    """``{"val_breast_pf1": …, "val_image_roc_auc": …, "val_threshold": …}`` from :func:`evaluate_predictions`."""
    flat = {f"{prefix}_threshold": result["threshold"]}
    for level in ("image", "breast"):
        flat.update({f"{prefix}_{level}_{k}": v for k, v in result[level].items() if k != "threshold"})
    return flat


def inference_ms(model, image_size, batch_size: int = 8, repeats: int = 3) -> float:
    """Milliseconds per image of ``model.predict_on_batch`` at ``batch_size`` (after one warm-up call).

    Args:
        model: Keras model.
        image_size: (H, W).
        batch_size: Batch size timed.
        repeats: Timed calls (the median is used).

    Returns:
        ms per image.
    """
    x = np.random.default_rng(0).random((batch_size, *image_size, 1), dtype=np.float32)
    return median_seconds(lambda: model.predict_on_batch(x), repeats=repeats) / batch_size * 1000


def metrics_table(results: dict[str, dict]) -> pd.DataFrame:
    """Rows ``(split, level)`` x metric columns from several :func:`evaluate_predictions` outputs.

    Args:
        results: e.g. ``{"validation": val, "test": test}``.

    Returns:
        A frame indexed by (split, level).
    """
    cols = [
        "n",
        "positives",
        "roc_auc",
        "pr_auc",
        "pf1",
        "f1",
        "precision",
        "recall",
        "specificity",
        "sens_at_spec",
        "accuracy",
        "threshold",
    ]
    rows = {
        (split, level): {c: r[level][c] for c in cols} for split, r in results.items() for level in ("image", "breast")
    }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(["split", "level"])


def prevalence_note(
    report: dict, prevalence: float = FALLBACK_PREVALENCE, intervals: pd.DataFrame | None = None, origin: str = ""
) -> str:
    """Markdown sentence: what a measured operating point means in a screening population.

    Args:
        report: A breast- or image-level dict of :func:`evaluate_predictions` (recall, specificity, precision).
        prevalence: Population prevalence (the notebooks and the report take it from
            :func:`~mammo_utils.evaluation.screening.screening_prevalence`).
        intervals: Optional :func:`metrics_with_intervals` of the same predictions: the recall rate and PPV are
            then also given at the ends of the sensitivity and specificity intervals.

        origin: Where ``prevalence`` comes from, in words (:attr:`~mammo_utils.evaluation.screening.Prevalence.origin`),
            printed beside it; "" prints none.

    Returns:
        Markdown text.
    """
    s, sp = report["recall"], report["specificity"]
    at = screening_translation(s, sp, prevalence)
    spread = ""

    def ci(metric: str) -> str:
        if intervals is None or metric not in intervals.index:
            return ""
        return f" [{intervals.loc[metric, 'low']:.1%}, {intervals.loc[metric, 'high']:.1%}]"

    recalls, ppv = f"{at['recalls_per_1000']:.0f}", f"{at['ppv']:.1%}"
    if intervals is not None and {"recall", "specificity"} <= set(intervals.index):
        ends = screening_range(
            tuple(intervals.loc["recall", ["low", "high"]]), tuple(intervals.loc["specificity", ["low", "high"]]),
            prevalence,
        )  # fmt: skip
        (r_lo, r_hi), (ppv_lo, ppv_hi) = ends["recalls_per_1000"], ends["ppv"]
        recalls, ppv = f"{recalls} [{r_lo:.0f}, {r_hi:.0f}]", f"{ppv} [{ppv_lo:.1%}, {ppv_hi:.1%}]"
        spread = (
            " The bracketed ranges of the recall rate and PPV are their values at the ends of the sensitivity and "
            "specificity intervals taken together (wider than a joint 95% interval)."
        )
    return (
        f"At the frozen threshold {report['threshold']:.3f} the test set gives sensitivity **{s:.1%}**{ci('recall')} "
        f"and specificity **{sp:.1%}**{ci('specificity')} (precision {report['precision']:.1%}{ci('precision')} at "
        f"this set's {report['positives'] / max(report['n'], 1):.0%} prevalence; 95% patient-bootstrap intervals). "
        f"In a screening population with {prevalence:.1%} prevalence" + (f" ({origin})" if origin else "") + " the "
        "same operating point would recall "
        f"**{recalls} of every 1000** breasts and only **{ppv}** of those recalls would be cancers: precision, F1 "
        f"and pF1 fall with prevalence while sensitivity, specificity and ROC-AUC do not." + spread
    )


#: Metrics reported with a patient-level interval (names of :func:`binary_report`).
INTERVAL_METRICS = (
    "roc_auc", "pr_auc", "pf1", "recall", "specificity", "sens_at_spec", "precision", "f1", "accuracy",
)  # fmt: skip


def metrics_with_intervals(
    pred: pd.DataFrame, threshold: float, level: str = "breast", n: int = 500, seed: int = 0, alpha: float = 0.05
) -> pd.DataFrame:
    """Metrics of one model on one split with percentile-bootstrap intervals that resample **patients**.

    A patient's breasts (and images) are correlated, so resampling them one by one gives intervals that are
    too narrow; here every resample draws whole patients.

    Args:
        pred: Image frame with ``prediction`` (``patient_id``, ``laterality``, ``cancer``).
        threshold: The decision threshold (frozen on validation).
        level: ``breast`` (per-breast mean, as RSNA scored) or ``image``.
        n: Bootstrap resamples.
        seed: Random seed.
        alpha: 0.05 for 95% intervals.

    Returns:
        Rows = :data:`INTERVAL_METRICS`; columns ``value, low, high, method`` (``bootstrap``, or ``wilson`` for a
        proportion whose resamples all agree, e.g. a sensitivity of 9/9, where the percentile interval collapses to
        a point); ``attrs`` hold ``n`` units, ``patients``, ``positives``.
    """
    frame = breast_predictions(pred, pred.prediction) if level == "breast" else pred
    y = frame.cancer.to_numpy(int)
    s = frame.prediction.to_numpy(float)
    patients = frame.patient_id.to_numpy()
    point = full_report(y, s, threshold)
    members = cluster_members(patients)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n):
        idx = cluster_resample(members, rng)
        if y[idx].min() != y[idx].max():
            report = full_report(y[idx], s[idx], threshold)
            draws.append([report[m] for m in INTERVAL_METRICS])
    draws = np.asarray(draws, float).reshape(-1, len(INTERVAL_METRICS))
    low = np.nanquantile(draws, alpha / 2, axis=0) if len(draws) else np.full(len(INTERVAL_METRICS), np.nan)
    high = np.nanquantile(draws, 1 - alpha / 2, axis=0) if len(draws) else np.full(len(INTERVAL_METRICS), np.nan)
    out = pd.DataFrame(
        {"value": [point[m] for m in INTERVAL_METRICS], "low": low, "high": high, "method": "bootstrap"},
        index=INTERVAL_METRICS,
    )
    _wilson_where_collapsed(out, point, alpha)
    out.attrs.update(n=len(frame), patients=len(members), positives=int(y.sum()), level=level)
    return out


def interval_sentence(ci: pd.DataFrame) -> str:
    """Markdown sentence of a :func:`metrics_with_intervals` table: counts, AUC, sensitivity, specificity, widths.

    Args:
        ci: The table (its ``attrs`` hold the counts).

    Returns:
        e.g. ``"Test set: 216 breasts of 108 patients, 54 with cancer. Breast ROC-AUC **0.950** [0.917, 0.978]
        (width 0.061), sensitivity …"``.
    """

    def fmt(metric: str, spec: str) -> str:
        row = ci.loc[metric]
        return f"{row.value:{spec}} [{row.low:{spec}}, {row.high:{spec}}] (width {row.high - row.low:{spec}})"

    return (
        f"Test set: {ci.attrs['n']} breasts of {ci.attrs['patients']} patients, {ci.attrs['positives']} with cancer. "
        f"Breast ROC-AUC **{fmt('roc_auc', '.3f')}**, sensitivity {fmt('recall', '.1%')}, specificity "
        f"{fmt('specificity', '.1%')}."
    )


#: Proportion metrics as (numerator, denominator) confusion counts, for the Wilson fallback.
_PROPORTIONS = {
    "recall": (("tp",), ("tp", "fn")),
    "specificity": (("tn",), ("tn", "fp")),
    "precision": (("tp",), ("tp", "fp")),
    "accuracy": (("tp", "tn"), ("tp", "tn", "fp", "fn")),
}


def _wilson_where_collapsed(out: pd.DataFrame, point: dict, alpha: float) -> None:
    """Replace a collapsed percentile interval (every resample gave the same proportion) by the Wilson interval.

    A sensitivity of 9/9 is 1.0 in every resample, so the percentile bootstrap reports [1, 1], as if certain;
    the Wilson score interval of the count (9 of 9: [0.70, 1]) says what 9 cases can show. It treats the units
    as independent, which is close for a proportion of 0 or 1 (no within-patient variation to cluster).
    """
    z = NormalDist().inv_cdf(1 - alpha / 2)
    for metric, (num, den) in _PROPORTIONS.items():
        row = out.loc[metric]
        if not np.isclose(row["low"], row["high"]):
            continue
        k, n = sum(point[c] for c in num), sum(point[c] for c in den)
        if n == 0:
            continue
        low, high = wilson_interval(k, n, z)
        out.loc[metric, ["low", "high", "method"]] = [float(low), float(high), "wilson"]
