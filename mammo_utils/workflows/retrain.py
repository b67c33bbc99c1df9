"""Retraining, end to end: train a challenger, gate it against the champion, release it, then move the alias.

It spans training (:mod:`mammo_utils.modeling`), export and monitoring, so it sits in the top layer. When a
trigger fires (:func:`mammo_utils.monitoring.triggers.check_triggers`) or when forced, :func:`retrain`:

1. pins the champion: the version folder the pointer resolves to now (a switch during the run cannot change
   what the challenger is compared with);
2. imports the labelled feedback images the service kept at the challenger's cache size
   (:func:`~.feedback_data.import_feedback`) and trains a challenger on the current data plus those images, in the
   training split only (registered in MLflow, not promoted; the feedback's count, positives and label digest are
   run parameters, its provenance a file of the run folder and part of the decision);
3. scores both on the **gate split** (test patients reserved for the gate, :func:`~.gate.gate_rows`), which
   neither model selected a checkpoint or threshold on, and applies :func:`~.gate.promotion_gate` (paired
   patient bootstrap of the AUC difference, sensitivity non-inferiority at the operating thresholds, per site and
   machine where the counts allow; NaN or too few cancers keep the champion);
4. on promotion, in this order: exports the challenger as a new immutable version (every format checked against
   Keras), switches the champion pointer atomically, and only then moves the registry's ``champion`` alias. A
   failure at any step leaves the pointer and the alias as they were (an alias that cannot be moved switches the
   pointer back).

Each decision (trigger values, the gate's tests, the outcome, the version released) is logged to MLflow as a
run of the ``<experiment>-retrain`` experiment.

Feedback joins training only through images the service kept (``MAMMO_KEEP_IMAGES``, on by default): a label
whose image was not kept, or was kept at another cache size, is counted in the provenance and not used.

Example:
    >>> retrain(cfg, cfg.champion_export, open_store(cfg.store_url))  # doctest: +SKIP
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd

from ..config import Config
from ..data.prepare import data_for_model, prepare_data
from ..data.splits import fold_frames
from ..evaluation.evaluate import breast_predictions
from ..evaluation.metrics import roc_auc
from ..export.convert import export_model
from ..export.release import current_version, switch_pointer
from ..modeling import tracking
from ..modeling.artifact import ExportError, version_id
from ..modeling.resolve import resolve_model
from ..modeling.score import score_cached
from ..monitoring.store import Store
from ..monitoring.triggers import RetrainPolicy, check_triggers
from ..utils import to_json, write_atomic
from .feedback_data import import_feedback
from .gate import GatePolicy, gate_rows, promotion_gate


def model_scores(model, cfg: Config, info: dict, fraction: float) -> tuple[float, pd.DataFrame]:
    """A model's validation breast ROC-AUC and its image predictions on the gate split, from one data preparation
    (its own input size and cache).

    The AUC is reported beside the gate, never used by it: the validation fold chose the challenger's checkpoint.

    Args:
        model: A Keras model.
        cfg: Configuration (data, splits, fold); the sizes come from ``info``.
        info: The model's info (``preprocessing``).
        fraction: Share of the test split held as the gate split (:func:`~.gate.gate_rows`).

    Returns:
        ``(validation breast ROC-AUC, gate-split image predictions)``.
    """
    mcfg, df, cache = data_for_model(cfg, info)
    _, val, test = fold_frames(df, mcfg.fold)
    scored = score_cached(model, val, cache, mcfg.image_size, mcfg.batch_size)
    breasts = breast_predictions(scored, scored.prediction)
    gate = score_cached(model, gate_rows(test, fraction), cache, mcfg.image_size, mcfg.batch_size)
    return roc_auc(breasts.cancer, breasts.prediction), gate


def retrain(
    cfg: Config,
    export_dir: str | Path,
    store: Store,
    policy: RetrainPolicy | None = None,
    force: bool = False,
    run_name: str | None = None,
    gate_policy: GatePolicy | None = None,
    use_feedback: bool = True,
) -> dict[str, Any]:
    """Check the triggers and, when one fires (or ``force``), train a challenger, gate it and release it.

    Args:
        cfg: Training configuration of the challenger (data, sizes, epochs…).
        export_dir: The champion pointer (``<export root>/champion``); a promoted challenger becomes
            ``<export root>/versions/<version>`` and the pointer is switched to it.
        store: The prediction store of the service.
        policy: Trigger thresholds.
        force: Retrain even when no trigger fires.
        run_name: Challenger run name (default ``retrain_<timestamp>``).
        gate_policy: Margins and counts of the promotion gate (default: the configuration's ``gate_*`` fields,
            :meth:`~.gate.GatePolicy.from_config`).
        use_feedback: Add the store's labelled images to the challenger's training split (False: the dataset
            alone, as in the first training).

    Returns:
        ``{"triggers", "action": "none" | "kept_champion" | "promoted", "reason", "gate", "champion_version",
        "released_version", ...}``.

    Raises:
        ExportError: The challenger passed the gate but its export failed a check (pointer and alias unchanged;
            the decision is logged first with ``action: export_failed``).
    """
    from ..modeling.train import train

    policy = policy or RetrainPolicy()
    gate_policy = gate_policy or GatePolicy.from_config(cfg)
    pointer = Path(export_dir)
    check = check_triggers(pointer, store, policy)
    decision: dict[str, Any] = {"triggers": check["triggers"], "forced": force, "action": "none"}
    if not (check["fire"] or force):
        return decision
    champion_dir = current_version(pointer)
    if champion_dir is None:
        raise ExportError(f"{pointer}: no champion to compare with; export one with `mammo export --out {pointer}`")
    rolling = store.rolling_metrics()
    run_name = run_name or time.strftime("retrain_%Y%m%d_%H%M%S")
    extra, provenance = None, None
    if use_feedback:
        _, cache = prepare_data(cfg, progress=False)
        extra, provenance = import_feedback(store, cache, cfg.cache_size, cfg.cache_bits)
    decision["feedback"] = {
        "labelled": rolling["labelled"],
        "positives": rolling["positives"],
        "used_for_training": bool(provenance and provenance["images"]),
        "images": provenance["images"] if provenance else 0,
        "image_positives": provenance["positives"] if provenance else 0,
        "rows_sha256": provenance["rows_sha256"] if provenance else None,
        "other_geometries": provenance["other_geometries"] if provenance else [],
        "note": "labelled images kept by the service, training split only"
        if use_feedback
        else "not used (use_feedback=False)",
    }
    result = train(cfg, run_name=run_name, track=True, verbose=0, promote=False, extra_train=extra)
    if provenance is not None:  # beside the challenger's model: which labels it learnt from
        write_atomic(result.model_path.parent / "feedback_provenance.json", to_json(provenance, indent=1).encode())
    champion_model, champion_info = resolve_model(champion_dir)
    challenger_model, challenger_info = resolve_model(result.model_path.parent)
    decision.update(
        champion_version=version_id(champion_dir),
        champion_registry_version=champion_info.get("registry_version"),
        challenger_run=run_name,
        challenger_version=result.model_version[0] if result.model_version else None,
    )
    decision["champion_val_auc"], champion_rows = model_scores(
        champion_model, cfg, champion_info, gate_policy.gate_fraction
    )
    decision["challenger_val_auc"], challenger_rows = model_scores(
        challenger_model, cfg, challenger_info, gate_policy.gate_fraction
    )
    verdict = promotion_gate(
        champion_rows,
        challenger_rows,
        float(champion_info.get("threshold", 0.5)),
        float(challenger_info.get("threshold", 0.5)),
        gate_policy,
        agg=challenger_info.get("breast_aggregation", "mean"),
    )
    decision.update(gate=verdict, reason=verdict["reason"])
    if not verdict["promote"]:
        decision["action"] = "kept_champion"
        tracking.log_decision(cfg, "retrain", decision)
        return decision
    try:
        manifest = export_model(result.model_path.parent, pointer, cfg, release=True, switch=False)
    except Exception as exc:
        decision.update(action="export_failed", reason=f"{verdict['reason']}; export failed: {exc}")
        tracking.log_decision(cfg, "retrain", decision)
        raise
    version = Path(manifest["release"]["path"])
    switch_pointer(pointer, version)
    try:
        if decision["challenger_version"] is not None:
            tracking.set_champion(cfg.registered_model, decision["challenger_version"])
    except Exception:
        switch_pointer(pointer, champion_dir)  # the alias did not move: neither does the deployment
        raise
    decision.update(action="promoted", released_version=version.name, released_path=str(version))
    tracking.log_decision(cfg, "retrain", decision)
    return decision
