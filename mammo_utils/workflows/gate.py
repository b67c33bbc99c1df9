"""The promotion gate: may a challenger replace the champion?

Both models are scored on the **gate split**, data neither of them selected on: a fixed share of the test
patients (chosen by a stable hash of the patient id, :func:`gate_rows`) that no checkpoint, threshold or
architecture choice ever looked at. The validation fold is not used: it picked the challenger's checkpoint and
threshold, so it flatters the challenger.

The rule (:func:`promotion_gate`), all on breasts, resampling whole patients (paired bootstrap):

1. enough cancers: at least ``min_cancers`` cancer breasts in the gate data, else keep the champion;
2. ROC-AUC non-inferiority: the lower bound of the 95% interval of AUC(challenger) - AUC(champion)
   (:func:`mammo_utils.evaluation.compare.paired_auc_difference`) must lie above ``-auc_margin``;
3. sensitivity non-inferiority at each model's own operating threshold: the lower bound of the 95% interval of
   the sensitivity difference must lie above ``-sensitivity_margin``;
4. the same two checks in every subgroup (site, machine) with at least ``subgroup_min_cancers`` cancer breasts
   and both classes; smaller subgroups are listed as not checked, with their counts.

A NaN anywhere (a model that scores NaN, a subgroup without both classes after resampling) keeps the champion,
and the decision says why. Non-inferiority, not superiority, is the bar because retraining is triggered by drift,
age or new labels: a challenger trained on newer data that is no worse on unseen patients should serve.

Example:
    >>> decision = promotion_gate(champion_rows, challenger_rows, 0.31, 0.28)  # doctest: +SKIP
    >>> decision["promote"], decision["reason"]  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..config import Config, from_fields
from ..evaluation.compare import paired_auc_difference
from ..evaluation.metrics import cluster_members, cluster_resample, difference_with_interval

#: :class:`GatePolicy` attributes and the :class:`~mammo_utils.config.Config` fields that set them.
GATE_FIELDS = {
    "auc_margin": "gate_auc_margin",
    "sensitivity_margin": "gate_sensitivity_margin",
    "min_cancers": "gate_min_cancers",
    "subgroup_min_cancers": "gate_subgroup_min_cancers",
    "resamples": "gate_resamples",
    "gate_fraction": "gate_fraction",
    "seed": "seed",
}


@dataclass(frozen=True)
class GatePolicy:
    """Margins and counts of the promotion gate (:meth:`from_config` builds it from the project
    :class:`~mammo_utils.config.Config`'s ``gate_*`` fields, which ``mammo retrain --auc-margin`` etc. set; the
    defaults are the configuration's defaults).

    Attributes:
        auc_margin: Largest AUC loss the 95% interval's lower bound may show (non-inferiority margin).
        sensitivity_margin: Largest sensitivity loss the lower bound may show, at the operating thresholds.
        min_cancers: Fewest cancer breasts in the gate data for any decision but "keep".
        subgroup_min_cancers: Fewest cancer breasts for a subgroup to be checked.
        subgroups: Columns whose values form the subgroups (those absent from the data are skipped).
        resamples: Bootstrap resamples of patients.
        alpha: 0.05 for 95% intervals.
        gate_fraction: Share of the test patients reserved for the gate.
        seed: Bootstrap seed.
    """

    auc_margin: float = Config.gate_auc_margin
    sensitivity_margin: float = Config.gate_sensitivity_margin
    min_cancers: int = Config.gate_min_cancers
    subgroup_min_cancers: int = Config.gate_subgroup_min_cancers
    subgroups: tuple[str, ...] = ("site_id", "machine_id")
    resamples: int = Config.gate_resamples
    alpha: float = 0.05
    gate_fraction: float = Config.gate_fraction
    seed: int = 0

    @classmethod
    def from_config(cls, cfg: Config, **overrides: Any) -> "GatePolicy":
        """The gate of a configuration (its ``gate_*`` fields and ``seed``), then ``overrides`` (None: not given).

        Args:
            cfg: The validated configuration (every ``gate_*`` field is range-checked there).
            **overrides: Attribute values replacing the configuration's.

        Returns:
            The policy.

        Example:
            >>> GatePolicy.from_config(get_config(gate_auc_margin=0.05)).auc_margin  # doctest: +SKIP
            0.05
        """
        return from_fields(cls, cfg, GATE_FIELDS, **overrides)


def gate_rows(test: pd.DataFrame, fraction: float = 0.5, salt: str = "gate") -> pd.DataFrame:
    """The test images of the patients reserved for the gate: a stable share, the same in every run.

    A patient belongs to the gate when the SHA-256 of ``salt:patient_id`` falls in the first ``fraction`` of the
    hash range, so the choice depends on nothing a model did.
    """

    def chosen(pid) -> bool:
        return int(hashlib.sha256(f"{salt}:{pid}".encode()).hexdigest()[:8], 16) < fraction * 16**8

    keep = test.patient_id.map(chosen)
    return test[keep.astype(bool)]


def _breasts(rows: pd.DataFrame, prediction: np.ndarray, agg: str, extra: list[str]) -> pd.DataFrame:
    frame = rows.assign(prediction=np.asarray(prediction, float))
    spec = {"prediction": ("prediction", agg), "cancer": ("cancer", "max"), **{c: (c, "first") for c in extra}}
    return frame.groupby(["patient_id", "laterality"], as_index=False).agg(**spec)


def _sensitivity_difference(
    breasts: pd.DataFrame, thresholds: tuple[float, float], n: int, seed: int, alpha: float
) -> dict[str, Any]:
    """Paired patient bootstrap of sensitivity(challenger) - sensitivity(champion) at their thresholds."""
    cancers = breasts[breasts.cancer == 1]
    hit_ch = (cancers.challenger >= thresholds[1]).to_numpy(float)
    hit_cp = (cancers.champion >= thresholds[0]).to_numpy(float)
    diff = hit_ch - hit_cp
    observed = float(diff.mean()) if len(diff) else float("nan")
    members = cluster_members(cancers.patient_id.to_numpy()) if len(cancers) else []
    rng = np.random.default_rng(seed)
    draws = np.array([diff[cluster_resample(members, rng)].mean() for _ in range(n)]) if members else np.array([])
    low = float(np.quantile(draws, alpha / 2)) if len(draws) else float("nan")
    high = float(np.quantile(draws, 1 - alpha / 2)) if len(draws) else float("nan")
    return {
        "difference": observed,
        "low": low,
        "high": high,
        "champion": float(hit_cp.mean()) if len(diff) else float("nan"),
        "challenger": float(hit_ch.mean()) if len(diff) else float("nan"),
        "cancers": len(cancers),
    }


def _compare(breasts: pd.DataFrame, thresholds: tuple[float, float], policy: GatePolicy) -> dict[str, Any]:
    """AUC and sensitivity tests on one set of breasts; ``passed`` and the first ``failure``."""
    frames = [
        breasts[["patient_id", "laterality", "cancer"]].assign(prediction=breasts[col])
        for col in ("challenger", "champion")
    ]
    try:
        auc = paired_auc_difference([frames[0]], [frames[1]], policy.resamples, policy.seed, policy.alpha)
    except ValueError as exc:
        auc = {"difference": float("nan"), "low": float("nan"), "high": float("nan"), "error": str(exc)}
    sens = _sensitivity_difference(breasts, thresholds, policy.resamples, policy.seed, policy.alpha)
    out = {"auc": auc, "sensitivity": sens, "breasts": len(breasts), "cancers": int(breasts.cancer.sum())}
    values = [auc["difference"], auc["low"], sens["difference"], sens["low"]]
    if not np.all(np.isfinite(values)):
        out.update(passed=False, failure=f"a NaN in the comparison ({auc.get('error', 'AUC or sensitivity')})")
    elif auc["low"] <= -policy.auc_margin:
        out.update(
            passed=False,
            failure=f"AUC difference {difference_with_interval(auc, '+.4f')} does not "
            f"exclude a loss of {policy.auc_margin:g}",
        )
    elif sens["low"] <= -policy.sensitivity_margin:
        out.update(
            passed=False,
            failure=f"sensitivity difference {difference_with_interval(sens)} "
            f"does not exclude a loss of {policy.sensitivity_margin:g}",
        )
    else:
        out.update(passed=True, failure=None)
    return out


def promotion_gate(
    champion: pd.DataFrame,
    challenger: pd.DataFrame,
    champion_threshold: float,
    challenger_threshold: float,
    policy: GatePolicy | None = None,
    agg: str = "mean",
) -> dict[str, Any]:
    """Decide whether the challenger replaces the champion, from both models' predictions on the gate data.

    Args:
        champion: Gate images with ``patient_id``, ``laterality``, ``image_id``, ``cancer`` (and the subgroup
            columns) and the champion's ``prediction``.
        challenger: The same images with the challenger's ``prediction``.
        champion_threshold: The champion's frozen operating threshold.
        challenger_threshold: The challenger's.
        policy: Margins and counts.
        agg: Breast aggregation of image predictions.

    Returns:
        ``promote`` (bool), ``reason`` (one sentence), ``overall`` (the tests), ``subgroups`` (per
        ``column=value``: the tests, or ``checked: False`` with the counts), ``policy``.
    """
    policy = policy or GatePolicy()
    extra = [c for c in policy.subgroups if c in champion.columns]
    merged = champion[["image_id", "patient_id", "laterality", "cancer", *extra, "prediction"]].merge(
        challenger[["image_id", "prediction"]], on="image_id", suffixes=("_champion", "_challenger")
    )
    cp = _breasts(merged, merged.prediction_champion, agg, extra).rename(columns={"prediction": "champion"})
    ch = _breasts(merged, merged.prediction_challenger, agg, []).rename(columns={"prediction": "challenger"})
    breasts = cp.merge(ch[["patient_id", "laterality", "challenger"]], on=["patient_id", "laterality"])
    thresholds = (float(champion_threshold), float(challenger_threshold))
    named = dict(zip(("champion", "challenger"), thresholds))
    decision: dict[str, Any] = {"policy": asdict(policy), "thresholds": named}
    cancers = int(breasts.cancer.sum())
    decision.update(breasts=len(breasts), cancers=cancers, patients=int(breasts.patient_id.nunique()))
    nan_models = [m for m in ("champion", "challenger") if not np.all(np.isfinite(merged[f"prediction_{m}"]))]
    if nan_models:
        return {**decision, "promote": False, "reason": f"keep the champion: {' and '.join(nan_models)} scored NaN"}
    if not np.all(np.isfinite(thresholds)):
        return {**decision, "promote": False, "reason": "keep the champion: an operating threshold is NaN"}
    if cancers < policy.min_cancers:
        return {
            **decision,
            "promote": False,
            "reason": f"keep the champion: {cancers} cancer breasts in the gate data, fewer than the "
            f"{policy.min_cancers} a decision needs",
        }
    overall = _compare(breasts, thresholds, policy)
    decision["overall"] = overall
    subgroups, failures = {}, []
    for col in extra:
        for value, part in breasts.groupby(col):
            key = f"{col}={value}"
            n_cancer, n_normal = int(part.cancer.sum()), int((part.cancer == 0).sum())
            if n_cancer < policy.subgroup_min_cancers or n_normal == 0:
                subgroups[key] = {"checked": False, "cancers": n_cancer, "breasts": len(part)}
                continue
            result = _compare(part, thresholds, policy)
            subgroups[key] = {"checked": True, **result}
            if not result["passed"]:
                failures.append(f"{key}: {result['failure']}")
    decision["subgroups"] = subgroups
    if not overall["passed"]:
        return {**decision, "promote": False, "reason": f"keep the champion: {overall['failure']}"}
    if failures:
        return {**decision, "promote": False, "reason": "keep the champion: " + "; ".join(failures)}
    auc, sens = overall["auc"], overall["sensitivity"]
    checked = sum(1 for s in subgroups.values() if s["checked"])
    return {
        **decision,
        "promote": True,
        "reason": f"promote: AUC difference {difference_with_interval(auc, '+.4f')} and "
        f"sensitivity difference {difference_with_interval(sens)} exclude "
        f"losses of {policy.auc_margin:g} / {policy.sensitivity_margin:g} on {cancers} cancer breasts; "
        f"{checked} subgroup(s) checked",
    }
