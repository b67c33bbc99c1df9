"""When to retrain, and whether the new model may replace the champion.

Triggers (:func:`check_triggers`), each a measured value against a stated threshold (:class:`RetrainPolicy`):

- ``age``: days since the deployed model was exported (scheduled refresh);
- ``drift``: the largest PSI of the served inputs/scores against the model's ``reference.json``;
- ``performance``: sensitivity on the labelled feedback window (only once enough labels exist);
- ``new_labels``: ground-truth labels received since the export (new training data).

:func:`retrain` runs the pipeline when one fires (or when forced): train a challenger on the current data
(registered, not promoted), score challenger and champion on the **same validation fold**, and
:func:`gate` moves the ``champion`` alias — and replaces the export folder — only when the challenger's
validation breast ROC-AUC beats the champion's by ``margin``. Each decision (trigger values, both scores,
the outcome) is logged to MLflow as a run of the ``<experiment>-retrain`` experiment.

Example:
    >>> gate(champion=0.80, challenger=0.805, margin=0.01)
    (False, 'challenger 0.8050 does not beat champion 0.8000 by the margin 0.01')
"""

from __future__ import annotations

import calendar
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Config
from ..export.runtime import load_artifact
from .drift import REFERENCE_FILE, drift_report
from .feedback import FeedbackStore, nan_to_none


@dataclasses.dataclass(frozen=True)
class RetrainPolicy:
    """Thresholds of the retraining triggers and of the promotion gate.

    Attributes:
        max_age_days: Retrain a model older than this.
        max_psi: Retrain when any monitored feature's PSI exceeds this (0.25: "drift").
        drift_min: Served predictions needed before drift counts.
        min_sensitivity: Retrain when feedback sensitivity falls below this …
        min_labels: … once this many labelled predictions exist.
        new_labels: Retrain when this many new labels arrived since the export.
        margin: A challenger must beat the champion's validation breast AUC by this much.
    """

    max_age_days: float = 30.0
    max_psi: float = 0.25
    drift_min: int = 30
    min_sensitivity: float = 0.8
    min_labels: int = 20
    new_labels: int = 200
    margin: float = 0.01


def _exported_ts(manifest: dict) -> float:
    return float(calendar.timegm(time.strptime(manifest["exported_at"], "%Y-%m-%dT%H:%M:%SZ")))


def check_triggers(
    export_dir: str | Path, store: FeedbackStore, policy: RetrainPolicy | None = None, now: float | None = None
) -> dict[str, Any]:
    """Evaluate every trigger against the deployed export and the feedback store.

    Args:
        export_dir: The deployed export folder (``model.json``, ``reference.json``).
        store: The service's :class:`FeedbackStore`.
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

    recent = store.recent_predictions(500)
    reference_path = Path(export_dir) / REFERENCE_FILE
    if len(recent) >= policy.drift_min and reference_path.is_file():
        report = drift_report(json.loads(reference_path.read_text()), recent, recent.probability)
        worst = report.psi.idxmax()
        value, note = float(report.psi.max()), f"largest PSI: {worst} over {len(recent)} served predictions"
    else:
        value, note = float("nan"), f"{len(recent)} served predictions (< {policy.drift_min}) or no reference"
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


def gate(champion: float, challenger: float, margin: float) -> tuple[bool, str]:
    """Promote only a challenger better than the champion by ``margin`` (validation breast ROC-AUC).

    Returns:
        ``(promote, reason)``.
    """
    if not np.isfinite(challenger):
        return False, "challenger has no validation AUC"
    if np.isfinite(champion) and challenger < champion + margin:
        return False, f"challenger {challenger:.4f} does not beat champion {champion:.4f} by the margin {margin:g}"
    return True, f"challenger {challenger:.4f} beats champion {champion:.4f} by at least {margin:g}"


def validation_auc(model, cfg: Config, info: dict) -> float:
    """Validation breast ROC-AUC of a model on the fold of ``cfg`` (its own input size and cache)."""
    from ..data.splits import fold_frames
    from ..evaluation.evaluate import breast_predictions
    from ..evaluation.metrics import roc_auc
    from ..export.convert import load_images, model_frames, predict_keras

    mcfg, df, cache = model_frames(cfg, info)
    val = fold_frames(df, mcfg.fold)[1]
    images = load_images(val, cache, mcfg.image_size)
    breasts = breast_predictions(images.rows, predict_keras(model, images.images))
    return roc_auc(breasts.cancer, breasts.prediction)


def retrain(
    cfg: Config,
    export_dir: str | Path,
    store: FeedbackStore,
    policy: RetrainPolicy | None = None,
    force: bool = False,
    run_name: str | None = None,
) -> dict[str, Any]:
    """Check the triggers and, when one fires (or ``force``), train a challenger and gate it.

    Args:
        cfg: Training configuration of the challenger (data, sizes, epochs…).
        export_dir: The deployed export folder (replaced by the challenger's export when it is promoted).
        store: Feedback store of the service.
        policy: Thresholds.
        force: Retrain even when no trigger fires.
        run_name: Challenger run name (default ``retrain_<timestamp>``).

    Returns:
        ``{"triggers", "action": "none" | "kept_champion" | "promoted", "champion_auc", "challenger_auc", ...}``.
    """
    import mlflow

    from ..export.convert import export_model, resolve_model
    from ..modeling import tracking
    from ..modeling.train import train

    policy = policy or RetrainPolicy()
    check = check_triggers(export_dir, store, policy)
    decision: dict[str, Any] = {"triggers": check["triggers"], "forced": force, "action": "none"}
    if not (check["fire"] or force):
        return decision
    run_name = run_name or time.strftime("retrain_%Y%m%d_%H%M%S")
    result = train(cfg, run_name=run_name, track=True, verbose=0, promote=False)
    champion_model, champion_info = resolve_model(export_dir)
    challenger_model, challenger_info = resolve_model(result.model_path.parent)
    decision["champion_auc"] = validation_auc(champion_model, cfg, champion_info)
    decision["challenger_auc"] = validation_auc(challenger_model, cfg, challenger_info)
    promote, reason = gate(decision["champion_auc"], decision["challenger_auc"], policy.margin)
    decision.update(reason=reason, challenger_run=run_name, challenger_version=result.model_version[0])
    if promote:
        mlflow.MlflowClient().set_registered_model_alias(
            cfg.registered_model, tracking.CHAMPION, result.model_version[0]
        )
        export_model(result.model_path.parent, export_dir, cfg)
        decision["action"] = "promoted"
    else:
        decision["action"] = "kept_champion"
    tracking.log_decision(cfg, "retrain", decision)
    return decision
