"""Digests a user can check with sha256sum; immutable versions behind an atomically switched pointer; a failed
export leaves the pointer alone; a running service follows the pointer without a restart."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from mammo_utils.export import release
from mammo_utils.modeling.artifact import ARTIFACT, ExportError, load_artifact, version_id


def _sha256sum(path) -> str:
    return subprocess.run(["sha256sum", str(path)], check=True, capture_output=True, text=True).stdout.split()[0]


def _version_copy(source, root, note: str):
    """A distinct version made from the tiny export (model.json differs, so does its digest)."""
    staging = release.staging_folder(root)
    shutil.copytree(source, staging)
    manifest = json.loads((staging / ARTIFACT).read_text())
    manifest["note"] = note
    (staging / ARTIFACT).write_text(json.dumps(manifest, indent=1))
    return release.publish(staging, root)


def test_every_digest_in_model_json_is_what_sha256sum_prints(tiny_export):
    _, out, manifest = tiny_export
    for fmt, entry in manifest["formats"].items():
        if "files" in entry:  # a folder format lists each of its files
            assert entry["files"], fmt
            for name, digest in entry["files"].items():
                assert digest == _sha256sum(out / entry["path"] / name), (fmt, name)
        else:
            assert entry["sha256"] == _sha256sum(out / entry["path"]), fmt
    assert "files" in manifest["formats"]["savedmodel"]
    assert manifest["drift_reference"]["sha256"] == _sha256sum(out / "reference.json")
    assert version_id(out) == _sha256sum(out / ARTIFACT)[:12]


def test_a_changed_file_inside_the_saved_model_is_refused_by_name(tiny_export, tmp_path):
    _, out, _ = tiny_export
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    pb = copy / "saved_model" / "saved_model.pb"
    pb.write_bytes(pb.read_bytes() + b"\0")
    with pytest.raises(ExportError, match=r"saved_model/saved_model\.pb: SHA-256 differs"):
        load_artifact(copy)
    pb.unlink()
    with pytest.raises(ExportError, match=r"saved_model\.pb: listed in model\.json .* but missing"):
        load_artifact(copy)


def test_versions_are_published_once_and_the_pointer_switches_atomically(tiny_export, tmp_path):
    _, out, _ = tiny_export
    root = tmp_path / "export"
    first = _version_copy(out, root, "first")
    second = _version_copy(out, root, "second")
    assert first.parent == second.parent == root / release.VERSIONS
    assert first.name == version_id(first) and second.name == version_id(second) and first != second
    pointer = root / release.CHAMPION
    release.switch_pointer(pointer, first)
    assert pointer.is_symlink() and os.readlink(pointer) == f"{release.VERSIONS}/{first.name}"  # relative
    assert release.current_version(pointer) == first.resolve()
    release.switch_pointer(pointer, second)
    assert release.current_version(pointer) == second.resolve()
    assert load_artifact(first)["note"] == "first"  # the old version stays, untouched, for a roll-back
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no temporary symlink left
    with pytest.raises(ExportError, match="not an export folder"):
        release.switch_pointer(pointer, tmp_path)
    assert release.current_version(pointer) == second.resolve()


def test_a_legacy_champion_folder_becomes_a_version(tiny_export, tmp_path):
    _, out, _ = tiny_export
    root = tmp_path / "export"
    legacy = root / release.CHAMPION
    shutil.copytree(out, legacy)
    new = _version_copy(out, root, "new")
    release.switch_pointer(legacy, new)
    assert legacy.is_symlink()
    assert (root / release.VERSIONS / version_id(out)).is_dir()  # the old champion was kept as a version


def test_a_failed_export_leaves_the_pointer_and_no_partial_version(tiny_run, tiny_export, tmp_path):
    from mammo_utils.export.convert import export_model

    cfg, result = tiny_run
    _, out, _ = tiny_export
    root = tmp_path / "export"
    pointer = root / release.CHAMPION
    release.switch_pointer(pointer, _version_copy(out, root, "champion"))
    before = release.current_version(pointer)
    with pytest.raises(ExportError, match="tflite-fp16"):  # parity check fails after keras and savedmodel
        export_model(result.model_path.parent, pointer, cfg, formats=["tflite-fp16"], max_auc_drop=-1.0)
    assert release.current_version(pointer) == before
    assert [p.name for p in (root / release.VERSIONS).iterdir()] == [before.name]


def test_a_running_service_follows_the_pointer(tiny_export, tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from mammo_utils.serving.api import ServiceSettings, create_app
    from mammo_utils.serving.inference import LivePredictor, Predictor

    _, out, _ = tiny_export
    root = tmp_path / "export"
    first, second = _version_copy(out, root, "first"), _version_copy(out, root, "second")
    pointer = root / release.CHAMPION
    release.switch_pointer(pointer, first)
    monkeypatch.setattr(LivePredictor, "poll_seconds", 0.0)
    predictor = Predictor.load(pointer)
    assert isinstance(predictor, LivePredictor) and predictor.folder == first.resolve()
    settings = ServiceSettings(model_dir=str(pointer), token="t0ken", store_url=f"sqlite:///{tmp_path / 'fb.db'}")
    with TestClient(create_app(settings, predictor)) as client:
        assert client.get("/ready").json()["model"]["version"] == first.name
        release.switch_pointer(pointer, second)
        assert client.get("/ready").json()["model"]["version"] == second.name
        assert predictor.folder == second.resolve()  # Grad-CAM's Keras model now loads from the same version
        # a broken version is refused and the running one keeps serving
        broken = _version_copy(out, root, "broken")
        (broken / "model.onnx").write_bytes(b"not onnx")
        release.switch_pointer(pointer, broken)
        assert client.get("/ready").json()["model"]["version"] == second.name


def _shifted_reference_copy(source, root, shift: float):
    """A version whose drift reference says the training images were ``shift`` brighter (digest kept in step)."""
    from mammo_utils.modeling.artifact import REFERENCE_FILE, entry_digests

    staging = release.staging_folder(root)
    shutil.copytree(source, staging)
    reference = json.loads((staging / REFERENCE_FILE).read_text())
    for part in ("features", "quantiles"):
        reference[part]["mean"] = [v + shift for v in reference[part]["mean"]]
    (staging / REFERENCE_FILE).write_text(json.dumps(reference))
    manifest = json.loads((staging / ARTIFACT).read_text())
    manifest["drift_reference"] = entry_digests(staging, REFERENCE_FILE)
    (staging / ARTIFACT).write_text(json.dumps(manifest, indent=1))
    return release.publish(staging, root), reference


def _psi(client, feature: str) -> float:
    text = client.get("/metrics").text
    return float(
        next(
            line.split()[-1] for line in text.splitlines() if line.startswith(f'mammo_drift_psi{{feature="{feature}"}}')
        )
    )


def test_the_drift_reference_follows_the_pointer_with_the_model(tiny_export, tmp_path, monkeypatch):
    """The service's drift gauges compare against the reference of the version serving now, not the one it started
    with (reloaded, digest-checked, when the predictor reloads)."""
    from fastapi.testclient import TestClient

    from mammo_utils.serving.api import ServiceSettings, create_app
    from mammo_utils.serving.inference import LivePredictor

    _, out, _ = tiny_export
    root = tmp_path / "export"
    first = _version_copy(out, root, "first")
    second, shifted = _shifted_reference_copy(out, root, 0.5)
    pointer = root / release.CHAMPION
    release.switch_pointer(pointer, first)
    monkeypatch.setattr(LivePredictor, "poll_seconds", 0.0)
    original = json.loads((first / "reference.json").read_text())
    settings = ServiceSettings(
        model_dir=str(pointer), token="t0ken", store_url=f"sqlite:///{tmp_path / 'fb.db'}", drift_min=5
    )
    with TestClient(create_app(settings)) as client:
        state = client.app.state.service
        assert state.reference == original
        features = original["features"]
        for i in range(len(features["mean"])):  # served images that look like the first version's training images
            row = {k: float(v[i]) for k, v in features.items()}
            state.store.record_prediction(f"r{i}", probability=0.3, threshold=0.5, decision="routine", features=row)
        before = _psi(client, "mean")
        release.switch_pointer(pointer, second)
        assert client.get("/ready").json()["model"]["version"] == second.name
        assert state.reference == shifted  # reloaded with the model, digest-checked
        after = _psi(client, "mean")
        assert before < 0.1 < after, (before, after)
