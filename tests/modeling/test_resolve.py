"""One model resolver: a run folder, an export folder and a registry reference give the same model to every caller
(the service's Predictor included); bad references are refused with the reference named; the export folder's
drift reference is read only when its digest matches model.json."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from mammo_utils.modeling.artifact import ExportError, read_reference
from mammo_utils.modeling.resolve import check_model_ref, is_registry_ref


def test_check_model_ref_names_the_bad_reference(tmp_path):
    assert is_registry_ref("models:/mammo-cancer-classifier@champion") and not is_registry_ref(tmp_path)
    assert check_model_ref("models:/mammo-cancer-classifier@champion").endswith("@champion")
    assert check_model_ref("models:/mammo-cancer-classifier/3").endswith("/3")
    with pytest.raises(ValueError, match=r"--model models:/name@: a registry reference is"):
        check_model_ref("models:/name@")
    with pytest.raises(ValueError, match="models:/<name>@<alias>"):
        check_model_ref("models:/name-only")
    with pytest.raises(FileNotFoundError, match="--model .*absent: no such export folder"):
        check_model_ref(tmp_path / "absent")


def _fake_export(folder, reference: dict, record_digest: bool = True):
    from mammo_utils.modeling.artifact import sha256

    folder.mkdir(parents=True)
    (folder / "reference.json").write_text(json.dumps(reference))
    manifest = {"preprocessing": {"cache_size": [128, 64], "cache_bits": 8, "image_size": [96, 48]}, "formats": {}}
    if record_digest:
        manifest["drift_reference"] = {"path": "reference.json", "sha256": sha256(folder / "reference.json")}
    (folder / "model.json").write_text(json.dumps(manifest))
    return folder


def test_the_drift_reference_is_read_only_when_its_digest_matches(tmp_path):
    reference = {"features": {"mean": [0.1, 0.2]}, "scores": [0.3]}
    folder = _fake_export(tmp_path / "export", reference)
    assert read_reference(folder) == reference
    (folder / "reference.json").write_text(json.dumps({**reference, "scores": [0.9]}))
    with pytest.raises(ExportError, match="reference.json: SHA-256 differs from model.json"):
        read_reference(folder)
    old = _fake_export(tmp_path / "old", reference, record_digest=False)
    with pytest.raises(ExportError, match="records no digest of reference.json"):
        read_reference(old)
    assert read_reference(tmp_path) is None  # not an export folder: no reference
    with pytest.raises(ExportError, match="reference.json: missing"):
        read_reference(tmp_path, required=True)


def test_run_folder_export_folder_and_registry_give_the_same_model(tiny_run, tiny_export, tmp_path, dicoms_one):
    import mlflow

    from mammo_utils.modeling import tracking
    from mammo_utils.modeling.resolve import resolve_model
    from mammo_utils.serving.inference import Predictor

    cfg, result = tiny_run
    run_folder = result.model_path.parent
    _, export_folder, _ = tiny_export
    store = cfg.replace(work_dir=tmp_path / "work", mlflow_uri="", experiment="resolve-test")
    model, info = resolve_model(run_folder)
    tracking.configure(store)
    with mlflow.start_run(run_name="resolve"):
        uri = tracking.log_keras_model(model)
        tracking.log_file(run_folder / "model_info.json")
    tracking.set_champion("tiny-classifier", tracking.register(uri, "tiny-classifier"))

    ref = "models:/tiny-classifier@champion"
    registry = Predictor.load(ref, work_dir=store.work_dir, tracking_uri=store.tracking_uri)
    assert registry.describe()["registry_version"] == "1" and registry.describe()["runtime"] == "keras"
    assert not list(store.work_dir.glob("tmp*")), "the registry download's temporary folder was left behind"
    run = Predictor.load(run_folder)
    exported = Predictor.load(export_folder, "keras")
    p = [float(x.predict_files(dicoms_one).probability.iloc[0]) for x in (registry, run, exported)]
    np.testing.assert_allclose(p, p[0], atol=1e-5)
    assert resolve_model(export_folder)[1]["preprocessing"] == info["preprocessing"]

    from mammo_utils.modeling.run_state import ModelInfoError

    with pytest.raises(ModelInfoError, match="models:/absent@champion: cannot be loaded from the MLflow store"):
        resolve_model("models:/absent@champion", tracking_uri=store.tracking_uri)


@pytest.fixture()
def dicoms_one(synth_root):
    return sorted((synth_root / "train_images").rglob("*.dcm"))[:1]


def test_an_export_with_a_changed_reference_is_refused_by_the_service_reader(tiny_export, tmp_path):
    from mammo_utils.serving.api import load_reference
    from mammo_utils.serving.inference import Predictor

    _, folder, _ = tiny_export
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    predictor = Predictor.load(copy, "onnx")
    assert set(load_reference(predictor)) >= {"features", "scores"}
    (copy / "reference.json").write_text((copy / "reference.json").read_text().replace("0.", "0.9", 1))
    with pytest.raises(ExportError, match="SHA-256 differs"):
        load_reference(predictor)


def test_the_cli_refuses_a_malformed_registry_reference(capsys, tmp_path):
    from mammo_utils.cli import main

    assert main(["predict", "--work", str(tmp_path), "--model", "models:/name@", str(tmp_path / "a.dcm")]) == 2
    assert "error: --model models:/name@: a registry reference is" in capsys.readouterr().err
    assert main(["serve", "--model", str(tmp_path / "absent")]) == 2
    assert "no such export folder, run folder or .keras file" in capsys.readouterr().err
