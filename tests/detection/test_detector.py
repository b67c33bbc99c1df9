"""The detector trains on the project's folds, returns boxes in its documented format, and the CLI drives it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mammo_utils.detection.dataset import affine_boxes, augment, pad_targets, random_affine
from mammo_utils.detection.detector import AGNOSTIC_OVERLAP, DetectorSpec, suppress_overlaps


def test_spec_rejects_sizes_the_strides_cannot_tile():
    with pytest.raises(ValueError, match="divisible by 32"):
        DetectorSpec(image_size=(100, 64))
    spec = DetectorSpec(image_size=(128, 64))
    assert DetectorSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_augmentation_moves_boxes_with_the_pixels():
    """A bright square and its box go through random flips/scales/shifts together."""
    rng = np.random.default_rng(0)
    for _ in range(25):
        image = np.zeros((64, 32), np.float32)
        image[20:30, 8:14] = 1.0
        out, boxes, classes = augment(image, np.array([[8, 20, 14, 30]], float), np.array([2]), rng, 1.0)
        if not len(boxes):
            continue  # pushed out of the frame: the box was dropped with it
        x0, y0, x1, y1 = boxes[0]
        inside = out[int(np.ceil(y0)) : int(y1), int(np.ceil(x0)) : int(x1)]
        assert inside.size and inside.mean() > 0.5
        assert out.sum() - out[int(y0) : int(np.ceil(y1)) + 1, int(x0) : int(np.ceil(x1)) + 1].sum() < 1.0
        assert classes.tolist() == [2]


def _found(boxes, scores, classes) -> dict:
    return {"boxes": np.array(boxes, float), "scores": np.array(scores, float), "classes": np.array(classes)}


def test_overlapping_boxes_of_different_classes_keep_only_the_higher_score():
    """The web app's case: a "spiculated mass" box around a "mass" box on one lesion (IoU well under 0.5)."""
    found = _found([[10, 10, 40, 50], [0, 0, 60, 80]], [0.17, 0.15], [0, 1])
    kept = suppress_overlaps(found)
    assert kept["scores"].tolist() == [0.17] and kept["classes"].tolist() == [0]
    assert kept["boxes"].tolist() == [[10, 10, 40, 50]]
    # the same boxes, the outer one now higher: it is the one kept
    kept = suppress_overlaps(_found([[0, 0, 60, 80], [10, 10, 40, 50]], [0.3, 0.2], [1, 0]))
    assert kept["classes"].tolist() == [1]


def test_separate_boxes_of_different_classes_both_stay():
    found = _found([[0, 0, 10, 10], [30, 30, 40, 40], [8, 8, 18, 18]], [0.5, 0.4, 0.3], [0, 1, 2])
    kept = suppress_overlaps(found)  # the third touches the first by 4 of its 100 px^2, below the threshold
    assert kept["classes"].tolist() == [0, 1, 2]
    assert suppress_overlaps(_found(np.zeros((0, 4)), [], []))["boxes"].shape == (0, 4)
    with pytest.raises(ValueError, match="overlap"):
        suppress_overlaps(found, 0.0)
    assert 0 < AGNOSTIC_OVERLAP <= 1


def test_boxes_pushed_out_are_dropped():
    matrix = np.array([[1, 0, -30.0], [0, 1, 0]])  # shift left by 30 px
    moved, keep = affine_boxes(np.array([[0, 0, 20, 10], [40, 0, 60, 10]]), matrix, (20, 64))
    assert keep.tolist() == [False, True]
    np.testing.assert_allclose(moved[1], [10, 0, 30, 10])
    np.testing.assert_allclose(
        random_affine(rng=np.random.default_rng(0), size=(8, 8), strength=0.0), np.eye(2, 3) * 1.0
    )


def test_pad_targets_pads_with_minus_one():
    out = pad_targets([np.ones((1, 4)), np.zeros((0, 4))], [np.array([1]), np.zeros(0)], max_boxes=3)
    assert out["boxes"].shape == (2, 3, 4) and out["classes"].tolist() == [[1, -1, -1], [-1, -1, -1]]


# the tiny_detector fixture trains a YOLOv8 detector (keras-cv) with MLflow tracking: 150 s measured on a shared
# 2-core machine, so the tests that use it are in the slow set
@pytest.mark.slow
def test_one_short_fit_returns_boxes_in_the_documented_format(tiny_detector):
    import mlflow

    from mammo_utils.detection.detector import load_detector, predict_boxes
    from mammo_utils.detection.metrics import coco_map
    from mammo_utils.detection.train import load_detection_data, truth

    cfg, record = tiny_detector
    assert len(record["history"]["loss"]) == record["epochs_run"] and np.isfinite(record["history"]["loss"]).all()
    assert record["max_epochs"] == 2 and record["stop_reason"]
    from mammo_utils.detection.metrics import OPERATING_FPI

    # the operating point is chosen at the current rate, and where the validation curve ends is recorded beside it
    assert record["operating_fp_per_image"] == OPERATING_FPI
    assert record["operating_fp_per_image_reached"] <= OPERATING_FPI
    assert record["operating_fp_per_image_reached"] <= record["val_curve_end_fp_per_image"]
    model, info = load_detector(record["folder"])
    assert info["spec"].image_size == (64, 32)
    data = load_detection_data(cfg)
    # the saved detector is the best validation epoch: its validation mAP is the history's best, recomputed
    val = np.asarray(record["history"]["val_map50"], float)
    assert record["val"]["map50"] == pytest.approx(np.nanmax(val)) and val[record["best_epoch"] - 1] == np.nanmax(val)
    again = coco_map(truth(data.val), predict_boxes(model, data.images["val"]), info["spec"].classes)
    assert again["map50"] == pytest.approx(record["val"]["map50"], abs=1e-6)
    preds = predict_boxes(model, data.images["test"][:4])
    assert len(preds) == 4
    for p in preds:
        assert p["boxes"].shape == (len(p["scores"]), 4) and p["classes"].shape == p["scores"].shape
        assert np.all(np.diff(p["scores"]) <= 0)  # sorted by score
        assert set(p["classes"].tolist()) <= {0, 1, 2}
    # the run is tracked and the model registered under the detector's name
    client = mlflow.MlflowClient(cfg.tracking_uri)
    version = client.get_model_version(cfg.registered_detector, record["registry_version"])
    run = client.get_run(version.run_id)
    assert run.data.params["architecture"] == "keras-cv YOLOV8Detector"
    assert run.data.tags["stop_reason"] == record["stop_reason"]
    assert run.data.metrics["best_epoch"] == record["best_epoch"]
    # training the same settings again reuses the saved detector
    from mammo_utils.detection.train import train_detector

    assert train_detector(cfg, track=True)["mlflow_run_id"] == record["mlflow_run_id"]


@pytest.mark.slow
def test_cli_evaluate_json(tiny_detector, tiny_run, capsys):
    from mammo_utils.cli import main

    cfg, _ = tiny_detector
    classifier = tiny_run[1].model_path.parent
    argv = ["detect", "evaluate", "--classifier", str(classifier), "--data", str(cfg.data_root),
            "--work", str(cfg.work_dir), "--image-size", "64x32",
            "--json", *[f"--set={k}" for k in ("cache_bits=8", "n_folds=2", "test_size=0.3", "det_epochs=2",
                                               "det_batch_size=8", "image_size=64x32")]]  # fmt: skip
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"map50", "map50_95", "per_class", "froc", "pointing_game"} <= set(out)
    assert set(out["per_class"]) == {"mass", "spiculated_mass", "calcification_cluster"}
    from mammo_utils.detection.metrics import FROC_RATES, froc_key

    assert 0.0 <= out["map50"] <= 1.0 and set(out["froc"]) == {froc_key(r) for r in FROC_RATES}
    assert 0.0 <= out["pointing_game"] <= 1.0 and 0.0 < out["pointing_chance"] < 1.0


def test_early_stopping_keeps_the_best_epoch_not_the_last(monkeypatch):
    """Scripted validation mAP 0.1, 0.4, 0.3, 0.2, 0.2, …: patience 2 stops after epoch 4 with epoch 2's weights."""
    import keras

    from mammo_utils.detection import train as T

    scripted = iter([0.1, 0.4, 0.3, 0.2, 0.2, 0.2, 0.2, 0.2])
    monkeypatch.setattr(T, "predict_boxes", lambda model, images: [])
    monkeypatch.setattr(T, "coco_map", lambda gt, preds, classes: {"map50": next(scripted), "map50_95": 0.0})
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    seen = []

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(model.get_weights())

    check = T._validation_callback(model, None, [], ("a",), every=1, epochs=8, patience=2)
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    model.fit(x, x.sum(1, keepdims=True), epochs=8, verbose=0, callbacks=[Snapshot(), check])
    assert check.last + 1 == 4 and check.best_epoch + 1 == 2  # stopped early, two epochs past the best
    for kept, best in zip(model.get_weights(), seen[1]):
        np.testing.assert_array_equal(kept, best)
    assert not np.array_equal(model.get_weights()[0], seen[-1][0])  # not the last epoch's
    assert T.stop_reason(2, 4, 8, 2).startswith("early stop")


def test_class_head_starts_at_the_prior_and_the_learning_rate_warms_up():
    """keras-cv's head starts every anchor at score 0.5; ours starts at PRIOR_PROBABILITY, and the schedule climbs
    linearly from 0 to the peak over the warm-up steps before it decays."""
    import keras

    from mammo_utils.detection.detector import (
        PRIOR_PROBABILITY,
        build_detector,
        class_output_layers,
        learning_rate_schedule,
        prior_bias,
    )

    assert prior_bias(0.5) == pytest.approx(0.0) and prior_bias(0.01) == pytest.approx(np.log(0.01 / 0.99))
    with pytest.raises(ValueError, match="prior"):
        prior_bias(1.0)
    spec = DetectorSpec(image_size=(64, 32))
    model = build_detector(spec)
    heads = class_output_layers(model)
    assert len(heads) == len(spec.strides)
    for layer in heads:
        np.testing.assert_allclose(layer.get_weights()[1], prior_bias(PRIOR_PROBABILITY), rtol=1e-6)
    scores = np.asarray(model(np.zeros((1, 64, 32, 1), np.float32), training=False)["classes"])
    assert scores.shape[-1] == len(spec.classes) and np.median(scores) < 0.1  # not keras-cv's 0.5
    untouched = build_detector(spec, prior=None)
    np.testing.assert_array_equal(class_output_layers(untouched)[0].get_weights()[1], 0.0)
    schedule = learning_rate_schedule(3e-3, steps=100, warmup_steps=10)
    rates = np.array([float(keras.ops.convert_to_numpy(schedule(step))) for step in range(100)])
    assert rates[0] == 0.0 and rates[5] == pytest.approx(1.5e-3) and rates[10] == pytest.approx(3e-3)
    assert np.all(np.diff(rates[:11]) > 0) and np.all(np.diff(rates[10:]) <= 0) and rates[-1] >= 0.05 * 3e-3 - 1e-9
    no_warmup = learning_rate_schedule(3e-3, steps=100, warmup_steps=0)
    assert float(keras.ops.convert_to_numpy(no_warmup(0))) == pytest.approx(3e-3)


def test_a_recipe_change_gets_a_new_detector_folder(synth_root, tmp_path):
    """The detector's folder key names the recipe, so a detector trained with an older recipe is never reused."""
    from mammo_utils.config import get_config
    from mammo_utils.detection.detector import DETECTOR_RECIPE
    from mammo_utils.detection.train import detector_key

    cfg = get_config("small", synth_root, tmp_path, cache_size=(64, 32), det_epochs=2)
    assert detector_key(cfg).endswith(DETECTOR_RECIPE) and "_s0_e2_" in detector_key(cfg)


def test_a_reused_detector_names_the_folder_it_was_found_in(synth_root, tmp_path):
    """A work folder copied elsewhere: the reused record points at the copy, not at where it was trained."""
    import json

    from mammo_utils.config import get_config
    from mammo_utils.detection.detector import DETECTOR_FILE, DETECTOR_INFO
    from mammo_utils.detection.metrics import OPERATING_FPI
    from mammo_utils.detection.train import detector_dir, train_detector

    cfg = get_config("small", synth_root, tmp_path, cache_size=(64, 32), det_epochs=2)
    out = detector_dir(cfg)
    out.mkdir(parents=True)
    (out / DETECTOR_FILE).write_bytes(b"weights")  # reuse checks the files exist; nothing is loaded here
    saved = {"seed": 0, "folder": "/elsewhere/data/work/detector/x", "operating_fp_per_image": OPERATING_FPI}
    (out / DETECTOR_INFO).write_text(json.dumps({**saved, "val_curve_end_fp_per_image": 0.46}))
    record = train_detector(cfg)
    assert record["folder"] == str(out) and record["seed"] == 0


def test_a_reused_detector_chosen_at_another_rate_gets_its_operating_score_rechosen(synth_root, tmp_path, monkeypatch):
    """A detector trained when the operating rate was 1 FP/image, past its validation curve's end (0.46 FP/image):
    reused, its operating score is chosen again at OPERATING_FPI, above the floor, and saved in detector.json."""
    import json

    import pandas as pd

    from mammo_utils.config import get_config
    from mammo_utils.detection import detector as D
    from mammo_utils.detection import train as T
    from mammo_utils.detection.metrics import OPERATING_FPI

    # validation: 100 images, 50 with a lesion (40 found, scores 0.5-0.9); 46 false positives at 0.0101-0.455
    val = pd.DataFrame({"boxes": [np.array([[0.0, 0, 10, 10]])] * 50 + [np.zeros((0, 4))] * 50})
    val["classes"] = [np.zeros(len(b), int) for b in val.boxes]
    preds = [{"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "classes": np.zeros(0, int)} for _ in range(100)]
    for i in range(40):
        preds[i] = {"boxes": np.array([[0.0, 0, 10, 10]]), "scores": np.array([0.5 + i / 100]), "classes": [0]}
    for k in range(46):
        preds[50 + k] = {
            "boxes": np.array([[20.0, 20, 30, 30]]),
            "scores": np.array([0.0101 + k / 100]),
            "classes": [0],
        }
    monkeypatch.setattr(T, "detection_frames", lambda cfg: (val, tmp_path))
    monkeypatch.setattr(T, "fold_frames", lambda df, fold: (df.iloc[:0], df, df.iloc[:0]))
    monkeypatch.setattr(T, "load_stack", lambda frame, cache: np.zeros((len(frame), 64, 32)))
    monkeypatch.setattr(T, "predict_boxes", lambda model, images: preds)
    monkeypatch.setattr(D, "load_detector", lambda folder: (None, {}))
    cfg = get_config("small", synth_root, tmp_path, cache_size=(64, 32), det_epochs=2)
    out = T.detector_dir(cfg)
    out.mkdir(parents=True)
    (out / D.DETECTOR_FILE).write_bytes(b"weights")
    old = {"seed": 0, "operating_score": 0.0101, "operating_fp_per_image": 1.0, "operating_fp_per_image_reached": 0.46}
    (out / D.DETECTOR_INFO).write_text(json.dumps(old))
    record = T.train_detector(cfg)
    assert record["operating_fp_per_image"] == OPERATING_FPI and record["val_curve_end_fp_per_image"] == 0.46
    assert record["operating_score"] > 0.0101 and record["operating_fp_per_image_reached"] <= OPERATING_FPI
    # the false positives scoring at or above it are the target's share of the images
    assert record["operating_fp_per_image_reached"] == pytest.approx(OPERATING_FPI, abs=0.01)
    assert json.loads((out / D.DETECTOR_INFO).read_text())["operating_score"] == record["operating_score"]
    assert T.train_detector(cfg) == record  # chosen at the current rate: reused as saved, not chosen again
