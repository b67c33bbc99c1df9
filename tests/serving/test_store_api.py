"""The prediction store behind the live API, on both back-ends (a SQLite file, a real PostgreSQL server): a
prediction served by one `mammo serve` process is read back, labelled and corrected through the next one, after a
restart; the stored rows hold the model's identity and no patient identifier or client file name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from mammo_utils.monitoring.store import open_store, parse_store_url
from mammo_utils.serving.client import wait_ready
from mammo_utils.serving.demo import free_port

TOKEN = "store-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PHI = {"PatientName": "DOE^JANE^Q", "PatientID": "PHI-7731942", "AccessionNumber": "ACC-99120"}
FILE_NAME = "PHI-7731942_left_cc.dcm"


class Server:
    """`mammo serve` in a subprocess, started and stopped on demand (the store is the only state kept)."""

    def __init__(self, folder: Path, log: Path):
        self.folder, self.log, self.proc, self.url = folder, log, None, ""

    def start(self, store_url: str, via_flag: bool) -> str:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("MAMMO_STORE_URL", "MAMMO_FEEDBACK_DB")}
        env.update(MAMMO_API_TOKEN=TOKEN, MAMMO_MAX_CONCURRENCY="1")
        command = [sys.executable, "-m", "mammo_utils", "serve", "--model", str(self.folder), "--port", str(port)]
        if via_flag:
            command += ["--store", store_url]
        else:
            env["MAMMO_STORE_URL"] = store_url
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{port}"
        if not wait_ready(self.url, process=self.proc):
            self.stop()
            pytest.fail(f"server exited or not ready:\n{self.log.read_text()}")
        return self.url

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


@pytest.fixture()
def server(tiny_export, tmp_path):
    _, folder, _ = tiny_export
    running = Server(folder, tmp_path / "server.log")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def phi_dicom(synth_root, tmp_path_factory) -> bytes:
    """A DICOM whose header carries a patient name, id and accession number."""
    import pydicom

    ds = pydicom.dcmread(sorted((synth_root / "train_images").rglob("*.dcm"))[0])
    for key, value in PHI.items():
        setattr(ds, key, value)
    out = tmp_path_factory.mktemp("phi") / "phi.dcm"
    ds.save_as(out, enforce_file_format=True)
    return out.read_bytes()


def _all_rows(store_url: str) -> str:
    """Every stored row of every table, as text."""
    backend, target = parse_store_url(store_url)
    store = open_store(store_url)
    tables = ["schema_migrations", "predictions", "labels"]
    text = json.dumps({t: [list(map(str, r)) for r in store._run(f"SELECT * FROM {t}").fetchall()] for t in tables})
    store.close()
    return text


def test_a_prediction_is_labelled_and_corrected_across_a_restart(server, store_url, tiny_export, phi_dicom):
    _, folder, _ = tiny_export
    manifest = json.loads((Path(folder) / "model.json").read_text())
    url = server.start(store_url, via_flag=True)
    files = {"file": (FILE_NAME, phi_dicom, "application/dicom")}
    served = httpx.post(f"{url}/v1/predict", files=files, headers=AUTH, timeout=60).json()
    request_id = served["request_id"]
    record = httpx.get(f"{url}/v1/predictions/{request_id}", headers=AUTH).json()
    assert record["probability"] == pytest.approx(served["probability"]) and record["decision"] == served["decision"]
    assert record["threshold"] == served["threshold"] and record["label"] is None
    assert record["model"]["digest"] == manifest["formats"]["onnx"]["sha256"] and record["model"]["name"]
    assert {"mean", "orig_rows"} <= set(record["features"])  # the drift monitor's image statistics
    server.stop()

    url = server.start(store_url, via_flag=False)  # a new process: only the store remembers
    assert httpx.get(f"{url}/v1/predictions/{request_id}", headers=AUTH).json() == record
    first = httpx.post(
        f"{url}/v1/feedback", json={"request_id": request_id, "label": 1, "source": "biopsy"}, headers=AUTH
    )
    assert first.status_code == 200 and first.json()["status"] == "labelled"
    again = httpx.post(f"{url}/v1/feedback", json={"request_id": request_id, "label": 1}, headers=AUTH)
    assert again.status_code == 200 and again.json() == {**again.json(), "stored": False, "status": "unchanged"}
    silent = httpx.post(f"{url}/v1/feedback", json={"request_id": request_id, "label": 0}, headers=AUTH)
    assert silent.status_code == 409 and "needs a reason" in silent.json()["detail"]
    correction = {"request_id": request_id, "label": 0, "reason": "pathology revised", "author": "reader-2"}
    fixed = httpx.post(f"{url}/v1/feedback", json=correction, headers=AUTH)
    assert fixed.status_code == 200 and fixed.json()["status"] == "corrected"
    labelled = httpx.get(f"{url}/v1/predictions/{request_id}", headers=AUTH).json()
    assert labelled["label"]["label"] == 0 and labelled["label"]["corrections"] == 1
    history = labelled["label_history"]
    assert [(h["label"], h["previous"]) for h in history] == [(1, None), (0, 1)]
    assert history[0]["source"] == "biopsy" and history[1]["reason"] == "pathology revised"
    assert history[1]["author"] == "reader-2"
    metrics = httpx.get(f"{url}/metrics").text
    assert "mammo_feedback_labelled 1.0" in metrics  # the gauges read the same store
    unknown = httpx.get(f"{url}/v1/predictions/{'0' * 32}", headers=AUTH)
    assert unknown.status_code == 404
    assert httpx.get(f"{url}/v1/predictions/{request_id}").status_code == 401
    assert httpx.post(f"{url}/v1/feedback", json={"request_id": "0" * 32, "label": 1}, headers=AUTH).status_code == 404
    server.stop()

    stored = _all_rows(store_url)
    assert request_id in stored and "pathology revised" in stored
    for value in [*PHI.values(), "DOE", FILE_NAME, "left_cc"]:
        assert value not in stored, value
    log = server.log.read_text()
    assert '"store": "' in log  # the ready line names the store (a password would show as ***)


def test_retrain_check_and_monitor_read_the_services_store(store_url, tiny_export, capsys, monkeypatch):
    from mammo_utils.cli import main

    _, folder, _ = tiny_export
    store = open_store(store_url)
    reference = json.loads((Path(folder) / "reference.json").read_text())
    features = {k: float(v[0]) for k, v in reference["features"].items()}
    for i in range(12):
        store.record_prediction(f"req-{i:05d}", probability=0.3, threshold=0.5, decision="routine", features=features)
        store.add_label(f"req-{i:05d}", i % 2)
    store.close()
    monkeypatch.delenv("MAMMO_FEEDBACK_DB", raising=False)
    monkeypatch.delenv("MAMMO_STORE_URL", raising=False)
    assert main(["retrain", "--check", "--json", "--model", str(folder), "--store", store_url]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["triggers"]["new_labels"]["value"] == 12
    monkeypatch.setenv("MAMMO_STORE_URL", store_url)  # the variable, as the service reads it
    assert main(["monitor", "drift", "--json", "--reference", str(folder)]) == 0
    assert json.loads(capsys.readouterr().out)["n_current"] == 12
    assert main(["retrain", "--check", "--json", "--model", str(folder), "--store", "mysql://x@y:1/z"]) == 2
    assert "error: --store must be sqlite:///PATH or postgresql://" in capsys.readouterr().err
    monkeypatch.setenv("MAMMO_STORE_URL", "ftp://nowhere/x")
    assert main(["monitor", "drift", "--reference", str(folder)]) == 2
    assert "error: MAMMO_STORE_URL must be" in capsys.readouterr().err


def test_a_store_that_does_not_answer_gives_503_not_an_unrecorded_prediction(tiny_export, synth_root, tmp_path):
    from fastapi.testclient import TestClient

    from mammo_utils.monitoring.store import StoreUnavailable
    from mammo_utils.serving.api import ServiceSettings, create_app

    _, folder, _ = tiny_export
    settings = ServiceSettings(model_dir=str(folder), store_url=f"sqlite:///{tmp_path / 'store.db'}")
    dicom = sorted((synth_root / "train_images").rglob("*.dcm"))[0].read_bytes()
    with TestClient(create_app(settings)) as client:
        state = client.app.state.service

        def down(*args, **kwargs):
            raise StoreUnavailable("postgresql://mammo:***@db:5432/mammo: cannot connect (server closed)")

        state.store.record_prediction = down
        response = client.post("/v1/predict", files={"file": ("a.dcm", dicom, "application/dicom")})
        assert response.status_code == 503 and response.headers["retry-after"] == "5"
        assert "store unavailable" in response.json()["detail"]
    assert open_store(settings.store_url).recent_predictions().empty
