"""Retraining, end to end: train a challenger, score it beside the champion, gate it, promote and re-export.

It spans training (:mod:`mammo_utils.modeling`), export and monitoring, so it sits in the top layer. When a
trigger fires (:func:`mammo_utils.monitoring.triggers.check_triggers`) or when forced, :func:`retrain` trains a
challenger on the current data (registered, not promoted), scores challenger and champion on the **same
validation fold** (:func:`validation_auc`, through the one cached-image scorer), and
:func:`~mammo_utils.monitoring.triggers.gate` moves the ``champion`` alias, and replaces the export folder, only
when the challenger's validation breast ROC-AUC beats the champion's by ``margin``. Each decision (trigger
values, both scores, the outcome) is logged to MLflow as a run of the ``<experiment>-retrain`` experiment.

Example:
    >>> retrain(cfg, cfg.champion_export, open_store(cfg.store_url))  # doctest: +SKIP
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..config import Config
from ..data.prepare import data_for_model
from ..data.splits import fold_frames
from ..evaluation.evaluate import breast_predictions
from ..evaluation.metrics import roc_auc
from ..export.convert import export_model
from ..modeling import tracking
from ..modeling.resolve import resolve_model
from ..modeling.score import score_cached
from ..monitoring.store import Store
from ..monitoring.triggers import RetrainPolicy, check_triggers, gate


def validation_auc(model, cfg: Config, info: dict) -> float:
    """Validation breast ROC-AUC of a model on the fold of ``cfg`` (its own input size and cache)."""
    mcfg, df, cache = data_for_model(cfg, info)
    val = score_cached(model, fold_frames(df, mcfg.fold)[1], cache, mcfg.image_size, mcfg.batch_size)
    breasts = breast_predictions(val, val.prediction)
    return roc_auc(breasts.cancer, breasts.prediction)


def retrain(
    cfg: Config,
    export_dir: str | Path,
    store: Store,
    policy: RetrainPolicy | None = None,
    force: bool = False,
    run_name: str | None = None,
) -> dict[str, Any]:
    """Check the triggers and, when one fires (or ``force``), train a challenger and gate it.

    Args:
        cfg: Training configuration of the challenger (data, sizes, epochs…).
        export_dir: The deployed export folder (replaced by the challenger's export when it is promoted).
        store: The prediction store of the service.
        policy: Thresholds.
        force: Retrain even when no trigger fires.
        run_name: Challenger run name (default ``retrain_<timestamp>``).

    Returns:
        ``{"triggers", "action": "none" | "kept_champion" | "promoted", "champion_auc", "challenger_auc", ...}``.
    """
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
        tracking.set_champion(cfg.registered_model, result.model_version[0])
        export_model(result.model_path.parent, export_dir, cfg)
        decision["action"] = "promoted"
    else:
        decision["action"] = "kept_champion"
    tracking.log_decision(cfg, "retrain", decision)
    return decision
