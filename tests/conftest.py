"""Shared fixtures: tiny synthetic RSNA-layout datasets generated once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

REPO = Path(__file__).resolve().parent.parent
REAL_RSNA = REPO.parent / "shared" / "real-rsna"


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    """A small synthetic dataset (12 patients, 256x208 px, half the breasts with cancer)."""
    from mammo_utils.data.synthetic import generate_dataset

    root = tmp_path_factory.mktemp("synth")
    generate_dataset(root, n_patients=12, image_size=(256, 208), prevalence=0.5, seed=3, workers=2, progress=False)
    return root


@pytest.fixture(scope="session")
def real_rsna() -> Path:
    """The five real RSNA DICOMs beside the repository (skips, saying so, when absent)."""
    if not (REAL_RSNA / "train_images").is_dir():
        pytest.skip(f"real RSNA sample not found at {REAL_RSNA} (see shared/real-rsna/README.md)")
    return REAL_RSNA


@pytest.fixture(scope="session")
def synth_cache(synth_root, tmp_path_factory):
    """The synthetic set cached at 128x64, 16-bit: (cache folder, train frame)."""
    from mammo_utils.data.preprocess import preprocess_dataset
    from mammo_utils.data.rsna import load_train

    cache, _ = preprocess_dataset(
        synth_root, tmp_path_factory.mktemp("cache"), (128, 64), 16, workers=2, progress=False
    )
    return cache, load_train(synth_root)


@pytest.fixture(scope="session")
def tiny_run(synth_root, tmp_path_factory):
    """A 1-epoch baseline at 96x48 on the synthetic set, untracked: (config, TrainResult)."""
    from mammo_utils.config import get_config
    from mammo_utils.modeling.train import train

    work = tmp_path_factory.mktemp("work")
    cfg = get_config(
        "small", synth_root, work, image_size=(96, 48), cache_size=(128, 64), cache_bits=8, epochs=1,
        finetune_epochs=0, n_folds=2, test_size=0.3, batch_size=8, workers=1,
    )  # fmt: skip
    return cfg, train(cfg, run_name="tiny", track=False, verbose=0)


@pytest.fixture(scope="session")
def tiny_export(tiny_run, tmp_path_factory):
    """Every export format of :func:`tiny_run`'s model: (config, export folder, model.json)."""
    from mammo_utils.export.convert import export_model

    cfg, result = tiny_run
    out = tmp_path_factory.mktemp("export") / "tiny"
    # a 1-epoch model on 4 test patients: quantisation noise may move its AUC a lot, so no AUC gate here
    manifest = export_model(result.model_path.parent, out, cfg, calibration=16, max_auc_drop=1.0)
    return cfg, out, manifest


@pytest.fixture(scope="session")
def tiny_detector(synth_root, tmp_path_factory):
    """A 2-epoch detector on the tiny synthetic set at 64x32 (tracked in a throw-away MLflow store)."""
    from mammo_utils.config import get_config
    from mammo_utils.detection.train import train_detector

    work = tmp_path_factory.mktemp("det_work")
    cfg = get_config(
        "small", synth_root, work, cache_size=(64, 32), image_size=(64, 32), cache_bits=8, n_folds=2,
        test_size=0.3, workers=1, det_epochs=2, det_batch_size=8,
    )  # fmt: skip
    return cfg, train_detector(cfg, track=True)


@pytest.fixture(scope="session")
def detector_export(tiny_export, tmp_path_factory) -> Path:
    """A copy of :func:`tiny_export` with a small untrained YOLOv8 detector bundled as ``mammo export --detector``
    bundles a trained one (``detector/`` with ``detector.keras`` and ``detector.json``; every box kept)."""
    import json
    import shutil

    from mammo_utils.detection.detector import (
        DETECTOR_FILE,
        DETECTOR_INFO,
        DetectorSpec,
        build_detector,
        bundle_detector,
    )

    _, export, _ = tiny_export
    folder = tmp_path_factory.mktemp("detector_export") / "export"
    shutil.copytree(export, folder)
    trained = tmp_path_factory.mktemp("detector")
    spec = DetectorSpec(image_size=(128, 64))
    build_detector(spec, confidence=0.0, max_detections=5).save(trained / DETECTOR_FILE)
    (trained / DETECTOR_INFO).write_text(json.dumps({"spec": spec.to_dict(), "operating_score": 0.0}))
    bundle_detector(trained, folder)
    return folder
