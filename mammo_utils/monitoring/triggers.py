"""When to retrain: the triggers that start a challenger (the gate that may promote it is in ``workflows.gate``).

Triggers (:func:`check_triggers`), each a measured value against a stated threshold (:class:`RetrainPolicy`):

- ``age``: days since the deployed model was exported (scheduled refresh);
- ``drift``: the largest PSI of the served inputs/scores against the model's ``reference.json``;
- ``performance``: sensitivity on the labelled feedback window (only once enough labels exist);
- ``new_labels``: ground-truth labels received since the export (new training data).

Whether a challenger may replace the champion is the promotion gate's question
(:func:`mammo_utils.workflows.gate.promotion_gate`, set by the configuration's ``gate_*`` fields); the run that
trains and gates a challenger spans training, export and monitoring, so it sits in the top layer:
:func:`mammo_utils.workflows.retrain.retrain`.

Example:
    >>> check_triggers("data/work/export/champion", store)["fire"]  # doctest: +SKIP
    False
"""

from __future__ import annotations

import calendar
import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Config, from_fields
from ..evaluation.drift import UNKNOWN, drift_report, verdict
from ..modeling.artifact import load_artifact, read_reference
from .store import Store, nan_to_none

#: :class:`RetrainPolicy` attributes and the :class:`~mammo_utils.config.Config` fields that set them.
RETRAIN_FIELDS = {
    "max_age_days": "retrain_max_age_days",
    "max_psi": "retrain_max_psi",
    "drift_min": "drift_min",
    "drift_window": "drift_window",
    "min_sensitivity": "retrain_min_sensitivity",
    "min_labels": "retrain_min_labels",
    "new_labels": "retrain_new_labels",
}


@dataclasses.dataclass(frozen=True)
class RetrainPolicy:
    """Thresholds of the retraining triggers (:meth:`from_config` builds it from the project
    :class:`~mammo_utils.config.Config`; the defaults are the configuration's defaults).

    Attributes:
        max_age_days: Retrain a model older than this.
        max_psi: Retrain when any monitored feature's PSI exceeds this (``PSI_DRIFT``).
        drift_min: Served predictions needed before drift counts (NaN, never firing, below it).
        drift_window: Latest served predictions compared with the reference.
        min_sensitivity: Retrain when feedback sensitivity falls below this …
        min_labels: … once this many labelled predictions exist.
        new_labels: Retrain when this many new labels arrived since the export.
    """

    max_age_days: float = Config.retrain_max_age_days
    max_psi: float = Config.retrain_max_psi
    drift_min: int = Config.drift_min
    drift_window: int = Config.drift_window
    min_sensitivity: float = Config.retrain_min_sensitivity
    min_labels: int = Config.retrain_min_labels
    new_labels: int = Config.retrain_new_labels

    @classmethod
    def from_config(cls, cfg: Config, **overrides: Any) -> "RetrainPolicy":
        """The policy of a configuration (``retrain_*``, ``drift_*`` fields), then ``overrides`` (None: not given).

        Example:
            >>> RetrainPolicy.from_config(get_config(), new_labels=50).new_labels  # doctest: +SKIP
            50
        """
        return from_fields(cls, cfg, RETRAIN_FIELDS, **overrides)


def _exported_ts(manifest: dict) -> float:
    return float(calendar.timegm(time.strptime(manifest["exported_at"], "%Y-%m-%dT%H:%M:%SZ")))


def check_triggers(
    export_dir: str | Path, store: Store, policy: RetrainPolicy | None = None, now: float | None = None
) -> dict[str, Any]:
    """Evaluate every trigger against the deployed export and the feedback store.

    Args:
        export_dir: The deployed export folder (``model.json``, ``reference.json``).
        store: The service's prediction store (:func:`~.store.open_store`).
        policy: Thresholds (default :class:`RetrainPolicy`).
        now: Current time (seconds since the epoch; default: now).

    Returns:
        ``{"fire": bool, "triggers": {name: {"value", "threshold", "fired", "note"}}}``.
    """
    policy = policy or RetrainPolicy()
    now = time.time() if now is None else now
    manifest = load_artifact(export_dir, verify=False)
    exported = _exported_ts(manifest)
    triggers: dict[str, dict[str, Any]] = {}
    age = (now - exported) / 86400
    triggers["age"] = {
        "value": age,
        "threshold": policy.max_age_days,
        "fired": age > policy.max_age_days,
        "note": "days",
    }

    recent = store.recent_predictions(policy.drift_window)
    reference = read_reference(export_dir)
    found = {"verdict": UNKNOWN, "max_psi": float("nan")}
    if reference is not None and len(recent):
        report = drift_report(reference, recent, recent.probability)
        found = verdict(report, len(recent), policy.drift_min)
    value = found["max_psi"]
    if np.isfinite(value):
        note = f"largest PSI: {found['feature']} over {len(recent)} served predictions"
    else:
        note = f"{len(recent)} served predictions (< {policy.drift_min}) or no reference"
    triggers["drift"] = {
        "value": value,
        "threshold": policy.max_psi,
        "fired": bool(value > policy.max_psi),
        "note": note,
    }

    rolling = store.rolling_metrics()
    enough = rolling["labelled"] >= policy.min_labels and rolling["positives"] > 0
    sens = rolling["sensitivity"] if enough else float("nan")
    triggers["performance"] = {
        "value": sens,
        "threshold": policy.min_sensitivity,
        "fired": bool(enough and sens < policy.min_sensitivity),
        "note": f"sensitivity on {rolling['labelled']} labelled predictions ({rolling['positives']} cancers)",
    }
    labels = store.count_labelled_since(exported)
    triggers["new_labels"] = {
        "value": labels,
        "threshold": policy.new_labels,
        "fired": labels >= policy.new_labels,
        "note": "labels since the export",
    }
    triggers = {k: nan_to_none(v) for k, v in triggers.items()}
    return {"fire": any(t["fired"] for t in triggers.values()), "triggers": triggers}
