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
