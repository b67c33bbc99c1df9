"""A small KerasTuner search through the project trainer: tracked, resumable, objective on validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# every test here reads one search: three tracked trials through the trainer (180 s measured on a shared
# 2-core machine), so the module is in the slow set
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def search(synth_root, tmp_path_factory):
    from mammo_utils.config import get_config
    from mammo_utils.modeling.tune import tune

    work = tmp_path_factory.mktemp("tune")
    cfg = get_config(
        "small", synth_root, work, image_size=(64, 32), cache_size=(128, 64), cache_bits=8, n_folds=2,
        test_size=0.3, batch_size=8, workers=1, mlflow_uri=f"sqlite:///{work}/mlflow.db",
    )  # fmt: skip
    lines = []
    summary = tune(cfg, "random", max_trials=3, epochs=1, progress=lines.append, decision_metric="log_loss")
    return cfg, summary, lines


def test_three_trials_logged_as_nested_mlflow_runs(search):
    import mlflow

    cfg, summary, lines = search
    assert len(summary["trials"]) == 3 and len(lines) == 3
    assert all(line.startswith("trial ") and f"{cfg.monitor}=" in line for line in lines)
    mlflow.set_tracking_uri(cfg.mlflow_uri)
    runs = mlflow.search_runs(experiment_names=[cfg.experiment])
    parent = runs[runs["tags.kind"] == "search"]
    trials = runs[runs["tags.kind"] == "trial"]
    assert len(parent) == 1 and len(trials) == 3
    assert set(trials["tags.mlflow.parentRunId"]) == {parent.run_id.iloc[0]}
    assert trials["metrics.objective"].notna().all() and trials["metrics.duration_s"].gt(0).all()
    assert parent["params.decision_metric"].iloc[0] == "log_loss"


def test_the_decision_criterion_is_fixed_before_the_first_trial_and_cannot_change(search):
    from mammo_utils.modeling.tune import tune

    cfg, summary, _ = search
    declared = summary["declared"]
    assert declared["decision_metric"] == "log_loss" and declared["trials_before"] == 0
    assert Path(declared["file"]).parent == cfg.work_dir / "tuning" / summary["search_id"]
    with pytest.raises(ValueError, match="declared 'log_loss'.*'roc_auc'.*refused"):
        tune(cfg, "random", max_trials=3, epochs=1, progress=lambda _: None, decision_metric="roc_auc")


def test_objective_is_the_validation_metric_maximised(search):
    cfg, summary, _ = search
    assert summary["objective_name"] == cfg.monitor == "val_breast_auc"
    objectives = [t["objective"] for t in summary["trials"]]
    assert objectives == sorted(objectives, reverse=True)
    assert summary["best"]["objective"] == max(objectives)
    trial = json.loads((cfg.work_dir / "tuning" / summary["search_id"] / "trial_0" / "trial.json").read_text())
    assert trial["metrics"]["metrics"][cfg.monitor]["direction"] == "max"


def test_rerunning_the_same_search_adds_no_trial(search):
    from mammo_utils.modeling.tune import tune

    cfg, summary, _ = search
    lines = []
    again = tune(cfg, "random", max_trials=3, epochs=1, progress=lines.append)
    assert again["search_id"] == summary["search_id"] and len(again["trials"]) == 3 and not lines


def test_best_params_file_round_trips_into_mammo_train(search, capsys):
    from mammo_utils.cli import main
    from mammo_utils.modeling.tune import read_params

    cfg, summary, _ = search
    params = read_params(summary["params_file"])
    assert params == {k: v for k, v in summary["best"]["hyperparameters"].items()}
    argv = ["train", "--params", summary["params_file"], "--data", str(cfg.data_root), "--work", str(cfg.work_dir)]
    argv += ["--image-size", "64x32", "--set", "cache_size=128x64", "--set", "cache_bits=8", "--set", "n_folds=2"]
    argv += ["--set", "test_size=0.3", "--set", "epochs=1", "--set", "finetune_epochs=0", "--no-track", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    info = json.loads((cfg.work_dir / "runs" / out["run"] / "model_info.json").read_text())
    assert info["backbone"] == params["backbone"]


def test_bad_values_fail_clearly(search, tmp_path, capsys):
    from mammo_utils.cli import main
    from mammo_utils.modeling.tune import SearchSpace, tune

    with pytest.raises(ValueError, match=r"backbones \['resnet-9000'\] must be non-empty values of"):
        SearchSpace(backbones=("resnet-9000",))
    with pytest.raises(ValueError, match="lr_min < lr_max"):
        SearchSpace(lr_min=0.1, lr_max=0.01)
    cfg, _, _ = search
    with pytest.raises(ValueError, match="tuner must be one of"):
        tune(cfg, "grid", max_trials=1)
    bad = tmp_path / "params.json"
    bad.write_text(json.dumps({"learning_rate": 0.001, "batch_size": 4}))
    assert main(["train", "--params", str(bad)]) == 2
    assert "unknown parameter(s) ['batch_size']" in capsys.readouterr().err
