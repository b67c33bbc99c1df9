"""The one inference path scores a DICOM exactly as the trainer's cache + pipeline did."""

from __future__ import annotations

import json

import numpy as np
import pytest


def test_predictor_matches_the_training_pipeline(tiny_run):
    from mammo_utils.serving.inference import Predictor

    cfg, result = tiny_run
    info = json.loads((result.model_path.parent / "model_info.json").read_text())
    assert info["preprocessing"]["cache_size"] == [128, 64] and info["preprocessing"]["image_size"] == [96, 48]
    assert info["threshold"] == pytest.approx(result.threshold)
    predictor = Predictor.load(result.model_path.parent)
    test = result.test_predictions.head(6)
    scored = predictor.predict_files(list(test.path))
    assert (scored.error == "").all()
    # different resize from the cache size (128x64) to the model size (96x48) included: same numbers
    np.testing.assert_allclose(scored.probability.to_numpy(), test.prediction.to_numpy(), atol=1e-5)
    assert set(scored.decision) <= {"recall", "routine"}
    assert list(scored.laterality) == list(test.laterality)


def test_bad_files_get_an_error_not_a_crash(tiny_run, tmp_path):
    from mammo_utils.serving.inference import ModelInfoError, Predictor

    cfg, result = tiny_run
    predictor = Predictor.load(result.model_path)
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not a dicom")
    scored = predictor.predict_files([junk, result.test_predictions.path.iloc[0]])
    assert "not a DICOM" in scored.error.iloc[0] and np.isnan(scored.probability.iloc[0])
    assert scored.error.iloc[1] == "" and 0 <= scored.probability.iloc[1] <= 1
    with pytest.raises(ModelInfoError, match="model_info.json"):
        Predictor.load(tmp_path)


def test_breast_aggregation_and_cli(tiny_run):
    from mammo_utils.cli import main
    from mammo_utils.serving.inference import Predictor

    cfg, result = tiny_run
    predictor = Predictor.load(result.model_path.parent)
    test = result.test_predictions.assign(probability=result.test_predictions.prediction)
    breasts = predictor.predict_breasts(test)
    assert len(breasts) == test[["patient_id", "laterality"]].drop_duplicates().shape[0]
    assert main(["predict", "--model", str(result.model_path.parent), str(test.path.iloc[0]), "--json"]) == 0


@pytest.mark.slow  # tiny_detector trains a YOLOv8 detector (minutes on 2 cores)
def test_one_call_gives_probability_boxes_and_heatmap(tiny_export, tiny_detector, synth_root):
    """An export folder with a trained detector: probability, boxes in the file's own pixels, and the heat-map
    (a detector bundled by the export is tested in tests/export/test_export.py)."""
    import pandas as pd

    from mammo_utils.data.dicom import read_header
    from mammo_utils.data.rsna import image_path
    from mammo_utils.detection.boxes import to_cache_boxes
    from mammo_utils.serving.inference import Predictor

    _, export, _ = tiny_export
    predictor = Predictor.load(export, detector=tiny_detector[1]["folder"])  # a detector named when loading
    assert predictor.describe()["detector"]["classes"] == ["mass", "spiculated_mass", "calcification_cluster"]

    row = pd.read_csv(synth_root / "boxes.csv").iloc[0]
    train = pd.read_csv(synth_root / "train.csv").set_index("image_id")
    path = image_path(synth_root, train.loc[row.image_id, "patient_id"], row.image_id)
    result = predictor.score_file(path, explain=True)
    assert 0 <= result["probability"] <= 1 and result["heatmap_png"][:4] == b"\x89PNG"
    assert isinstance(result["boxes"], list) and {"detector", "gradcam"} <= set(result["timing_ms"])
    header = read_header(path)
    image, info = predictor.prepare(path)
    every = predictor.detect(image, info, min_score=0.0)  # the whole NMS output, not only the operating point
    assert len(every) >= len(result["boxes"])
    for box in every:
        assert (
            0 <= box["x_min"] < box["x_max"] <= header["columns"] and 0 <= box["y_min"] < box["y_max"] <= header["rows"]
        )
        assert box["class"] in {"mass", "spiculated_mass", "calcification_cluster"} and 0 <= box["score"] <= 1
        # mapped back to the cache, each box sits inside the cached image
        cache_box = to_cache_boxes([[box["x_min"], box["y_min"], box["x_max"], box["y_max"]]], info)[0]
        assert cache_box[2] <= image.shape[1] + 1 and cache_box[3] <= image.shape[0] + 1
