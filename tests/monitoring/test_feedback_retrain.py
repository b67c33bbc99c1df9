"""Feedback survives a restart and gives rolling accuracy; every retraining trigger fires under its planted
condition and stays quiet otherwise; the promotion gate itself is tested in tests/workflows/test_gate.py."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from mammo_utils.monitoring.feedback import FeedbackStore
from mammo_utils.monitoring.triggers import RetrainPolicy, check_triggers


def test_feedback_survives_a_restart_and_gives_rolling_metrics(tmp_path):
    db = tmp_path / "feedback.db"
    store = FeedbackStore(db)
    for i, (p, y) in enumerate([(0.9, 1), (0.8, 1), (0.2, 1), (0.1, 0), (0.7, 0), (0.3, 0)]):
        store.add_prediction(f"request{i:04d}", p, 0.5, "recall" if p >= 0.5 else "routine", "ab" * 32, {"mean": p})
        assert store.add_feedback(f"request{i:04d}", y, "biopsy")
    assert not store.add_feedback("unknown-request", 1)
    with pytest.raises(ValueError, match="0 or 1"):
        store.add_feedback("request0000", 2)
    store.close()
    reopened = FeedbackStore(db)
    metrics = reopened.rolling_metrics()
    assert metrics["labelled"] == 6 and metrics["positives"] == 3
    assert metrics["sensitivity"] == pytest.approx(2 / 3) and metrics["specificity"] == pytest.approx(2 / 3)
    assert metrics["auc"] == pytest.approx(7 / 9)
    assert list(reopened.recent_predictions().columns) == ["request_id", "ts", "probability", "mean"]


@pytest.fixture()
def deployed(tiny_export, tmp_path):
    """A copy of the tiny export and an empty store."""
    _, folder, _ = tiny_export
    copy = tmp_path / "champion"
    shutil.copytree(folder, copy)
    return copy, FeedbackStore(tmp_path / "feedback.db")


def _plant_predictions(store, reference, n, scale, seed=0):
    rng = np.random.default_rng(seed)
    for i in range(n):
        features = {
            k: float(rng.choice(v)) * (scale if k in ("mean", "p10", "p50", "p90") else 1)
            for k, v in reference["features"].items()
        }
        store.add_prediction(
            f"plant{seed}-{i:05d}", float(rng.choice(reference["scores"])), 0.5, "routine", "cd" * 32, features
        )


def test_triggers_stay_quiet_on_a_fresh_healthy_deployment(deployed):
    folder, store = deployed
    reference = json.loads((folder / "reference.json").read_text())
    _plant_predictions(store, reference, 60, scale=1.0)
    check = check_triggers(folder, store)
    assert not check["fire"], check
    assert check["triggers"]["drift"]["value"] < 0.25
    assert check["triggers"]["age"]["value"] < 1


def test_each_trigger_fires_under_its_planted_condition(deployed):
    folder, store = deployed
    reference = json.loads((folder / "reference.json").read_text())
    # age: 40 days later
    aged = check_triggers(folder, store, now=__import__("time").time() + 40 * 86400)
    assert aged["triggers"]["age"]["fired"] and aged["fire"]
    # drift: served images 40% darker
    _plant_predictions(store, reference, 60, scale=0.6, seed=1)
    drifted = check_triggers(folder, store)
    assert drifted["triggers"]["drift"]["fired"] and "largest PSI" in drifted["triggers"]["drift"]["note"]
    # performance: 25 labelled cancers, 20 of them scored below the threshold
    for i in range(25):
        store.add_prediction(f"missed-{i:04d}", 0.2 if i < 20 else 0.9, 0.5, "routine", "ef" * 32, {})
        store.add_feedback(f"missed-{i:04d}", 1)
    perf = check_triggers(folder, store, RetrainPolicy(min_labels=20))
    assert perf["triggers"]["performance"]["fired"] and perf["triggers"]["performance"]["value"] == pytest.approx(0.2)
    # new labels: 25 >= a policy of 20
    labels = check_triggers(folder, store, RetrainPolicy(new_labels=20))
    assert labels["triggers"]["new_labels"]["fired"] and labels["triggers"]["new_labels"]["value"] == 25
    quiet = check_triggers(folder, store, RetrainPolicy(max_psi=100, min_sensitivity=0, new_labels=1000))
    assert not quiet["fire"]


def test_cli_retrain_check_json(deployed, capsys):
    from mammo_utils.cli import main

    folder, store = deployed
    assert main(["retrain", "--check", "--json", "--model", str(folder), "--store", store.path]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary["triggers"]) == {"age", "drift", "performance", "new_labels"}
    assert summary["fire"] is False
