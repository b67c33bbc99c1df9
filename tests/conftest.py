"""Shared fixtures: tiny synthetic RSNA-layout datasets generated once per test session."""

from __future__ import annotations

import json
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
    manifest = export_model(result.model_path.parent, out, cfg, calibration=16, max_auc_drop=1.0, max_flip_rate=1.0)
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


@pytest.fixture
def fake_export():
    """A maker of export folders holding only ``model.json`` (threshold 0.255, run ``arm_tuned_s2``, registry
    version 17) and, with ``detector_score``, a bundled detector's ``detector.json``: what is read from an export
    without loading a model."""

    def make(folder: Path, detector_score: float | None = None) -> Path:
        folder.mkdir(parents=True)
        manifest = {
            "name": "mammo-cancer-classifier",
            "backbone": "baseline",
            "preprocessing": {"cache_size": [128, 64], "cache_bits": 8, "image_size": [96, 48], "recipe_version": 2},
            "threshold": 0.255,
            "training": {"run_name": "arm_tuned_s2", "registry_version": "17", "mlflow_run_id": "8f66"},
            "formats": {},
        }
        if detector_score is not None:
            (folder / "detector").mkdir()
            spec = {"image_size": [256, 128], "classes": ["mass", "calcification_cluster"]}
            record = {"spec": spec, "operating_score": detector_score, "registry_version": "4"}
            (folder / "detector" / "detector.json").write_text(json.dumps(record))
            manifest["detector"] = {"path": "detector", "files": {}}
        (folder / "model.json").write_text(json.dumps(manifest))
        return folder

    return make


# --- PostgreSQL: a real server for the prediction store's tests -------------------------------------------------
def _postgres_bin() -> Path | None:
    """The newest Debian PostgreSQL binaries folder (``/usr/lib/postgresql/<major>/bin``; not on PATH)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else None


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server of Debian's ``postgresql`` package for this session: its base URL
    ``postgresql://postgres@127.0.0.1:<port>`` (trust authentication, 127.0.0.1 only, a throw-away data folder).

    ``initdb`` refuses to run as root: as root the server runs as the package's ``postgres`` user. Skips, saying
    so, when the binaries are absent (``run_all.sh`` installs them as root, so CI runs these tests for real).
    """
    import shutil
    import subprocess
    import tempfile

    from mammo_utils.serving.demo import free_port

    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL binaries not found in /usr/lib/postgresql/*/bin (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="mammo-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()

    def run(*command: str) -> None:
        done = subprocess.run([*as_user, *command], capture_output=True, text=True, timeout=120)
        if done.returncode:
            pytest.fail(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")

    run(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
    options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root} -c fsync=off"
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-o", options, "-w", "start")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], timeout=60)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture()
def postgres_db(postgres_server, request) -> str:
    """A fresh, empty database on the session's server (one per test): its URL."""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    return f"{postgres_server}/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    """The URL of an empty prediction store on each back-end: a SQLite file, a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{(tmp_path / 'monitoring' / 'store.db').as_posix()}"
    return request.getfixturevalue("postgres_db")


@pytest.fixture(scope="session")
def detector_export(tiny_run, tmp_path_factory) -> Path:
    """:func:`tiny_run`'s model exported (ONNX) by ``mammo export --detector`` with a small untrained YOLOv8 detector
    (every box kept): ``model.json`` lists the detector's files with their SHA-256, as a rebuild ships it; the
    Azure ML deployment of the folder is written beside it (``deployment.yml``)."""
    import json

    from mammo_utils.cli import main
    from mammo_utils.detection.detector import DETECTOR_FILE, DETECTOR_INFO, DetectorSpec, build_detector

    cfg, result = tiny_run
    trained = tmp_path_factory.mktemp("detector")
    spec = DetectorSpec(image_size=(128, 64))
    build_detector(spec, confidence=0.0, max_detections=5).save(trained / DETECTOR_FILE)
    (trained / DETECTOR_INFO).write_text(json.dumps({"spec": spec.to_dict(), "operating_score": 0.0}))
    folder = tmp_path_factory.mktemp("detector_export") / "export"
    argv = ["export", "--model", str(result.model_path), "--out", str(folder), "--formats", "onnx"]
    argv += ["--detector", str(trained), "--data", str(cfg.data_root), "--work", str(cfg.work_dir)]
    argv += ["--set", f"n_folds={cfg.n_folds}", "--set", f"test_size={cfg.test_size}", "--json"]
    argv += ["--azure-spec", str(folder.parent / "deployment.yml")]  # the Azure deployment of what it exported
    assert main(argv) == 0, "mammo export --detector failed"
    return folder
