"""A run folder records the build that trained it and its weights' digest; re-scoring it checks and reports them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mammo_utils.modeling import run_state as R
from mammo_utils.modeling.artifact import sha256
from mammo_utils.utils import BUILD_FILE, build_identity


@pytest.fixture
def work(tmp_path, monkeypatch) -> Path:
    """A work folder whose ``build.json`` names build ``b-current`` (also the default work folder)."""
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / BUILD_FILE).write_text(json.dumps({"id": "b-current", "started_at": "2026-12-04T16:00:00Z"}))
    monkeypatch.setenv("MAMMO_WORK", str(folder))
    return folder


def _run(work: Path, name: str, weights: bytes = b"tiny weights") -> Path:
    """A fake finished run folder holding only a checkpoint file."""
    folder = work / "runs" / name
    folder.mkdir(parents=True)
    (folder / R.BEST_WEIGHTS).write_bytes(weights)
    return folder


def test_the_record_names_the_training_build_and_the_checkpoint_digest(work):
    run = _run(work, "arm_baseline_s0")
    record = R.write_trained(run, [R.BEST_WEIGHTS], work)
    on_disk = json.loads((run / R.TRAINED).read_text())
    assert on_disk == record and record["build"] == "b-current" and record["trained_at"].endswith("Z")
    assert record["weights"] == {R.BEST_WEIGHTS: hashlib.sha256(b"tiny weights").hexdigest()}
    entry = R.trained_run(run)
    assert entry == {
        "run": "arm_baseline_s0",
        "trained_build": "b-current",
        "trained_at": record["trained_at"],
        "weights_file": R.BEST_WEIGHTS,
        "weights_sha256": hashlib.sha256(b"tiny weights").hexdigest(),
        "weights_match": True,
    }


def test_weights_changed_after_training_raise_naming_the_run_folder(work):
    run = _run(work, "arm_baseline_s1")
    R.write_trained(run, [R.BEST_WEIGHTS], work)
    (run / R.BEST_WEIGHTS).write_bytes(b"weights copied in from elsewhere")
    with pytest.raises(R.RunRecordError, match=r"runs/arm_baseline_s1: best\.weights\.h5 is not the file trained"):
        R.trained_run(run)
    (run / R.BEST_WEIGHTS).unlink()
    with pytest.raises(R.RunRecordError, match="on disk missing"):
        R.trained_run(run)


def test_a_run_without_a_record_is_reported_as_such_not_stamped(work):
    old = _run(work, "arm_baseline_s2")  # trained before runs recorded their build
    entry = R.trained_run(old)
    assert entry["run"] == "arm_baseline_s2" and entry["trained_build"] is None and entry["weights_sha256"] is None
    assert entry["weights_match"] is None


def test_results_entries_and_the_notebook_line(work):
    runs = [_run(work, f"arm_baseline_s{seed}", bytes([seed]) * 8) for seed in range(3)]
    for run in runs:
        R.write_trained(run, [R.BEST_WEIGHTS], work)
    entries = R.trained_runs([*runs, runs[0]])  # a run scored twice is listed once
    assert [e["run"] for e in entries] == [r.name for r in runs]
    line = R.trained_line(entries)  # the build of the default work folder
    digest = hashlib.sha256(bytes([1]) * 8).hexdigest()[:12]
    assert line.startswith("3 runs, all trained in this build b-current; weights sha256: ")
    assert f"arm_baseline_s1 {digest}" in line
    many = [{**entries[0], "run": f"r{i}"} for i in range(R.DIGESTS_SHOWN + 2)]
    assert line.count("arm_baseline_s") == 3 and R.trained_line(many).endswith(
        "and 2 more (results file: trained_runs)"
    )

    foreign = {**entries[1], "trained_build": "b-old"}
    unrecorded = R.trained_run(_run(work, "arm_old_s0"))
    mixed = R.trained_line([entries[0], foreign, unrecorded], "b-current")
    assert mixed == (
        "3 runs: 1 trained in this build b-current; 1 trained in build b-old (not this one: arm_baseline_s1); "
        "1 with no training record (trained before runs recorded their build: arm_old_s0)"
    )


def test_training_writes_the_record_and_a_rescore_keeps_it(tiny_run):
    """The session's tiny run: trained once (record of its work folder's build); train() again only re-scores."""
    from mammo_utils.modeling.train import train

    cfg, result = tiny_run
    run = result.model_path.parent
    first = json.loads((run / R.TRAINED).read_text())
    assert first["build"] == build_identity(cfg.work_dir)["id"]
    assert first["weights"] == {R.BEST_WEIGHTS: sha256(run / R.BEST_WEIGHTS)}
    again = train(cfg, run_name="tiny", track=False, verbose=0)  # finished: re-scored, not retrained
    assert again.model_path == result.model_path
    assert json.loads((run / R.TRAINED).read_text()) == first and R.trained_run(run)["weights_match"] is True


def test_a_saved_detector_carries_its_training_record(work):
    import keras

    from mammo_utils.detection.detector import DETECTOR_FILE, DETECTOR_INFO
    from mammo_utils.detection.train import _save

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    out = work / "detector" / "seed0"
    _save(model, {"seed": 0}, out, work)
    assert sorted(p.name for p in out.iterdir()) == sorted([DETECTOR_FILE, DETECTOR_INFO, R.TRAINED])
    entry = R.trained_run(out)
    assert entry["trained_build"] == "b-current" and entry["weights_file"] == DETECTOR_FILE
    assert entry["weights_sha256"] == sha256(out / DETECTOR_FILE)


def test_07_lists_the_classifier_runs_it_scores_for_gradcam_beside_its_detectors(work):
    """07's ``trained_runs``: every detector and every classifier seed whose Grad-CAM it scores, with digests."""
    from mammo_utils.detection.gradcam_seeds import arm_run_folders

    detector = _run(work, "det_s0", b"detector")
    classifiers = [_run(work, f"arm_tuned_s{seed}", bytes([seed]) * 8) for seed in range(3)]
    for run in (detector, *classifiers):
        R.write_trained(run, [R.BEST_WEIGHTS], work)
    cam_seeds = {"runs": [{"seed": s, "run_name": f"arm_tuned_s{s}"} for s in range(3)]}
    entries = R.trained_runs([detector, *arm_run_folders(cam_seeds, work / "runs")])
    assert [e["run"] for e in entries] == ["det_s0", "arm_tuned_s0", "arm_tuned_s1", "arm_tuned_s2"]
    assert entries[2]["weights_sha256"] == hashlib.sha256(bytes([1]) * 8).hexdigest()
