"""A retraining cycle on the tiny fixtures: the gate keeps the champion on too few cancers, a failure planted in
the middle of the challenger's export leaves the pointer and the registry alias as they were, and a promotion
releases a new version, switches the pointer, then moves the alias."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest

from mammo_utils.export import release
from mammo_utils.modeling.artifact import ARTIFACT, ExportError, load_artifact
from mammo_utils.monitoring.feedback import FeedbackStore
from mammo_utils.workflows import retrain as R


def _alias(cfg):
    import mlflow

    client = mlflow.MlflowClient(cfg.tracking_uri)
    try:
        return client.get_model_version_by_alias(cfg.registered_model, "champion").version
    except mlflow.exceptions.MlflowException:
        return None


@pytest.fixture()
def deployment(tiny_run, tiny_export, tmp_path):
    """The tiny export released as the champion of a fresh export root, a tracked config and an empty store."""
    cfg, _ = tiny_run
    _, out, _ = tiny_export
    root = tmp_path / "export"
    staging = release.staging_folder(root)
    shutil.copytree(out, staging)
    pointer = root / release.CHAMPION
    release.switch_pointer(pointer, release.publish(staging, root))
    cfg = dataclasses.replace(cfg, mlflow_uri=f"sqlite:///{(tmp_path / 'mlflow.db').as_posix()}")
    return cfg, pointer, FeedbackStore(tmp_path / "feedback.db")


def test_model_scores_read_the_validation_fold_and_the_gate_split_of_the_config(tiny_run):
    from mammo_utils.data.prepare import data_for_model
    from mammo_utils.data.splits import fold_frames
    from mammo_utils.modeling.resolve import resolve_model
    from mammo_utils.workflows.gate import gate_rows

    cfg, result = tiny_run
    model, info = resolve_model(result.model_path.parent)
    auc, gate = R.model_scores(model, cfg, info, 0.5)
    mcfg, df, _ = data_for_model(cfg, info)
    _, _, test = fold_frames(df, mcfg.fold)
    assert sorted(gate.image_id) == sorted(gate_rows(test, 0.5).image_id)  # the gate split, nothing else
    assert gate.prediction.between(0, 1).all()
    breasts = result.val_predictions.groupby(["patient_id", "laterality"]).agg(y=("cancer", "max"))
    both = breasts.y.nunique() == 2
    assert (0.0 <= auc <= 1.0) if both else np.isnan(auc)  # the fold's AUC, NaN exactly when it has one class


@pytest.mark.slow  # trains and registers a tiny challenger, then exports it twice
@pytest.mark.timeout(1500)
def test_a_retraining_cycle_keeps_fails_safely_and_promotes(deployment, monkeypatch):
    from mammo_utils.modeling import train as T

    cfg, pointer, store = deployment
    champion = release.current_version(pointer)
    trained = []
    real_train = T.train

    def train_once(*args, **kwargs):  # one real challenger; the later cycles reuse it (training is the slow part)
        if not trained:
            trained.append(real_train(*args, **kwargs))
        return trained[0]

    monkeypatch.setattr(T, "train", train_once)

    # 1. the real gate on the tiny gate split: too few cancers, so the champion stays, and it says why
    kept = R.retrain(cfg, pointer, store, force=True, run_name="rt_kept")
    assert kept["action"] == "kept_champion"
    assert "cancer breasts in the gate data, fewer than" in kept["reason"]
    assert kept["gate"]["cancers"] < R.GatePolicy().min_cancers
    assert kept["champion_version"] == champion.name and kept["feedback"]["used_for_training"] is False
    assert release.current_version(pointer) == champion and _alias(cfg) is None

    # 2. the gate says promote, but a format fails its parity check in the middle of the export
    monkeypatch.setattr(R, "promotion_gate", lambda *a, **k: {"promote": True, "reason": "planted"})
    real_export = R.export_model

    def failing_export(ref, out, cfg, **kwargs):  # keras and savedmodel pass, then tflite-fp16 is refused
        return real_export(ref, out, cfg, formats=["tflite-fp16"], max_auc_drop=-1.0, **kwargs)

    monkeypatch.setattr(R, "export_model", failing_export)
    with pytest.raises(ExportError, match="tflite-fp16"):
        R.retrain(cfg, pointer, store, force=True, run_name="rt_failed")
    assert release.current_version(pointer) == champion and _alias(cfg) is None
    assert [p.name for p in (pointer.parent / release.VERSIONS).iterdir()] == [champion.name]

    # 3. the same with a working export: new version, pointer switched, then the alias moved
    def export_tiny(ref, out, cfg, **kwargs):  # a 1-epoch model on 4 test patients: no AUC gate on int8 (fixture)
        return real_export(ref, out, cfg, max_auc_drop=1.0, max_flip_rate=1.0, **kwargs)

    monkeypatch.setattr(R, "export_model", export_tiny)
    promoted = R.retrain(cfg, pointer, store, force=True, run_name="rt_promoted")
    assert promoted["action"] == "promoted"
    new = release.current_version(pointer)
    assert new != champion and new.name == promoted["released_version"]
    assert load_artifact(pointer)["training"]["run_name"] == "rt_kept"  # the challenger trained in step 1
    assert str(_alias(cfg)) == str(promoted["challenger_version"])
    assert json.loads((champion / ARTIFACT).read_text())  # the previous version is kept for a roll-back
