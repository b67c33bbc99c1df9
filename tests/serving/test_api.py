"""The REST service, started the real way (`mammo serve` -> uvicorn), answered over HTTP.

One server for the module, with a bearer token, a 2 MB upload limit and a queue of one request: every endpoint,
every bad input with its exact status (and the next good request still succeeds), the token, the limit,
overload, patient identifiers kept out of responses and logs, and the same probability as the notebook path.
"""

from __future__ import annotations

import base64
import concurrent.futures
import io
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

PHI = {"PatientName": "DOE^JANE^Q", "PatientID": "PHI-7731942", "PatientBirthDate": "19580417"}
AUTH = {"Authorization": "Bearer test-token-123"}


def _post(url, name, data, content_type="application/dicom", headers=AUTH, explain=False):
    files = {"file": (name, data, content_type)}
    return httpx.post(f"{url}/v1/predict", files=files, headers=headers, params={"explain": explain}, timeout=60)


@pytest.fixture(scope="module")
def dicoms(synth_root) -> list[Path]:
    return sorted((synth_root / "train_images").rglob("*.dcm"))


def _modified(path: Path, tmp_path: Path, name: str, change) -> bytes:
    import pydicom

    ds = pydicom.dcmread(path)
    change(ds)
    out = tmp_path / name
    ds.save_as(out, enforce_file_format=True)
    return out.read_bytes()


def test_health_ready_model_metrics_docs(server, tiny_export):
    from mammo_utils.serving.inference import describe_export

    url, _ = server
    assert httpx.get(f"{url}/health").json()["status"] == "ok"
    ready = httpx.get(f"{url}/ready").json()
    assert ready["ready"] and ready["model"]["runtime"] == "onnx"
    model = httpx.get(f"{url}/v1/model", headers=AUTH).json()
    assert model["preprocessing"]["cache_size"] == [128, 64] and "formats" not in model
    assert "research tool" in model["disclaimer"].lower()
    assert model["serving"] == describe_export(tiny_export[1])  # what the docs' examples are filled from
    metrics = httpx.get(f"{url}/metrics").text
    for name in ("mammo_requests_total", "mammo_request_latency_seconds_bucket", "mammo_in_flight_requests"):
        assert name in metrics
    assert httpx.get(f"{url}/docs").status_code == 200
    schema = httpx.get(f"{url}/openapi.json").json()
    assert {"/v1/predict", "/v1/studies", "/v1/model", "/health", "/ready"} <= set(schema["paths"])


def test_predict_matches_the_notebook_path_and_the_exported_model(server, tiny_run, tiny_export, dicoms):
    from mammo_utils.export.runtime import open_runner
    from mammo_utils.serving.inference import Predictor

    url, _ = server
    _, result = tiny_run
    _, folder, _ = tiny_export
    files = dicoms[:3]
    api = [_post(url, f.name, f.read_bytes()).json() for f in files]
    notebook = Predictor.load(result.model_path.parent).predict_files(files)  # the Keras run folder
    onnx_path = Predictor.load(folder)
    exported = open_runner(folder, "keras").predict(onnx_path.model_inputs([onnx_path.prepare(f)[0] for f in files]))
    probabilities = np.array([r["probability"] for r in api])
    np.testing.assert_allclose(probabilities, notebook.probability.to_numpy(), atol=1e-5)
    np.testing.assert_allclose(probabilities, exported, atol=1e-5)
    first = api[0]
    assert first["decision"] in ("recall", "routine") and first["laterality"] in ("L", "R") and first["view"]
    assert set(first["timing_ms"]) == {"spool", "hash", "decode", "crop", "model", "drift_features"}
    assert first["model"]["name"] and first["boxes"] is None and first["detector"] is None  # said, not omitted


def test_explain_returns_a_heatmap_png_of_the_model_input(server, dicoms):
    from PIL import Image

    from mammo_utils.serving.inference import HEATMAP_NOTE

    url, _ = server
    body = _post(url, dicoms[0].name, dicoms[0].read_bytes(), explain=True).json()
    image = Image.open(io.BytesIO(base64.b64decode(body["heatmap_png_base64"])))
    assert image.size == (48, 96) and image.mode == "RGB"
    assert body["timing_ms"]["gradcam"] > 0
    assert body["heatmap_note"] == HEATMAP_NOTE  # the overlay is labelled: not a localisation
    assert "heatmap_note" not in _post(url, dicoms[0].name, dicoms[0].read_bytes()).json()  # no map, no note


def test_a_study_with_explain_gives_each_image_its_heatmap_over_its_own_frame(server, dicoms):
    import pydicom
    from PIL import Image

    url, _ = server
    patient = sorted(dicoms[0].parent.glob("*.dcm"))[:2]
    items = [("files", (p.name, p.read_bytes(), "application/dicom")) for p in patient]
    study = httpx.post(f"{url}/v1/studies", files=items, headers=AUTH, params={"explain": True}, timeout=120).json()
    assert study["aggregation"] == "mean" and len(study["images"]) == 2
    for path, image in zip(patient, study["images"]):
        header = pydicom.dcmread(path, stop_before_pixels=True)
        heat = np.asarray(Image.open(io.BytesIO(base64.b64decode(image["heatmap_original_png_base64"]))))
        assert heat.ndim == 2 and heat.dtype == np.uint8 and heat.max() > 200  # the map alone, 255 = its peak
        assert abs(heat.shape[0] / heat.shape[1] - header.Rows / header.Columns) < 0.02  # the file's own frame
        assert image["heatmap_png_base64"] and image["timing_ms"]["gradcam"] > 0
        assert "not a localisation" in image["heatmap_note"]
    plain = httpx.post(f"{url}/v1/studies", files=items[:1], headers=AUTH, timeout=60).json()["images"][0]
    assert "heatmap_original_png_base64" not in plain and "heatmap_png_base64" not in plain
    assert "heatmap_note" not in plain


def test_png_upload_and_study(server, dicoms, tmp_path):
    import cv2

    url, _ = server
    png = cv2.imencode(".png", (np.random.default_rng(0).random((256, 200)) * 65535).astype(np.uint16))[1].tobytes()
    assert _post(url, "scan.png", png, "image/png").status_code == 200
    patient = dicoms[0].parent
    items = [("files", (p.name, p.read_bytes(), "application/dicom")) for p in sorted(patient.glob("*.dcm"))]
    items.append(("files", ("notes.txt", b"hello", "application/octet-stream")))
    response = httpx.post(f"{url}/v1/studies", files=items, headers=AUTH, timeout=60)
    study, study_text = response.json(), response.text
    assert len(study["images"]) == len(items)
    assert study["images"][-1]["status"] == 400 and "not a DICOM" in study["images"][-1]["error"]
    assert study["images"][-1]["error"].startswith(f"upload {len(items) - 1}: ") and "notes.txt" not in study_text
    assert study["detector"] is None and all(i["boxes"] is None for i in study["images"][:-1])
    assert {b["laterality"] for b in study["breasts"]} <= {"L", "R"} and study["breasts"]
    assert sum(b["images"] for b in study["breasts"]) == len(items) - 1


def test_each_bad_input_gets_its_status_and_the_server_stays_up(server, dicoms, tmp_path):
    import cv2

    url, _ = server
    good = dicoms[0].read_bytes()
    no_pixels = _modified(dicoms[0], tmp_path, "nopix.dcm", lambda ds: ds.__delattr__("PixelData"))
    mpeg = "1.2.840.10008.1.2.4.100"  # MPEG-2 video: no decoder for it
    bad_syntax = _modified(dicoms[0], tmp_path, "mpeg.dcm", lambda ds: setattr(ds.file_meta, "TransferSyntaxUID", mpeg))
    tiny = cv2.imencode(".png", np.zeros((20, 20), np.uint8))[1].tobytes()
    cases = [
        ("text.dcm", b"just some text, not an image" * 10, "application/dicom", 400, "not a DICOM"),
        ("empty.dcm", b"", "application/dicom", 400, "empty upload"),
        ("cut.dcm", good[: len(good) * 2 // 3], "application/dicom", 400, "upload 0: "),
        ("nopix.dcm", no_pixels, "application/dicom", 400, "no pixel data"),
        ("mpeg.dcm", bad_syntax, "application/dicom", 400, "upload 0: "),
        ("tiny.png", tiny, "image/png", 400, "smaller than 64 px"),
        ("scan.pdf", good, "application/pdf", 415, "content type"),
        ("huge.dcm", b"\0" * 3_000_000, "application/dicom", 413, "limit of 2 MB"),
    ]
    declared = httpx.get(f"{url}/openapi.json").json()["paths"]["/v1/predict"]["post"]["responses"]
    for name, data, content_type, status, reason in cases:
        response = _post(url, name, data, content_type)
        assert response.status_code == status, (name, response.text)
        assert str(status) in declared, f"{status} answered but not in the OpenAPI document"
        assert reason in response.json()["detail"], (name, response.text)
        assert _post(url, "good.dcm", good).status_code == 200, f"server broken after {name}"
    missing = httpx.post(f"{url}/v1/predict", headers=AUTH, data={"other": "x"})
    assert missing.status_code == 422
    metrics = httpx.get(f"{url}/metrics").text
    assert 'mammo_decode_errors_total{reason="empty"}' in metrics and 'status="413"' in metrics


def test_a_study_answers_only_what_its_schema_declares(server, dicoms):
    """A bad file of a study is refused in place (its status in the 200); the request itself gets 401 or 413."""
    url, _ = server
    declared = httpx.get(f"{url}/openapi.json").json()["paths"]["/v1/studies"]["post"]["responses"]
    good = ("files", ("a.dcm", dicoms[0].read_bytes(), "application/dicom"))
    items = [good, ("files", ("a.pdf", b"%PDF", "application/pdf")), ("files", ("e.dcm", b"", "application/dicom"))]
    study = httpx.post(f"{url}/v1/studies", files=items, headers=AUTH, timeout=60)
    assert study.status_code == 200 and [i.get("status") for i in study.json()["images"]] == [None, 415, 400]
    assert "400 or 415" in declared["200"]["description"]
    huge = [good, ("files", ("h.dcm", b"\0" * 3_000_000, "application/dicom"))]
    answers = [
        httpx.post(f"{url}/v1/studies", files=huge, headers=AUTH, timeout=60),
        httpx.post(f"{url}/v1/studies", files=[good], timeout=60),
    ]
    assert [r.status_code for r in answers] == [413, 401]
    for response in answers:
        assert str(response.status_code) in declared and set(response.json()) == {"detail"}  # ErrorDetail


def test_token_is_required(server, dicoms):
    url, _ = server
    data = dicoms[0].read_bytes()
    assert _post(url, "a.dcm", data, headers={}).status_code == 401
    assert _post(url, "a.dcm", data, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(f"{url}/v1/model").status_code == 401
    assert httpx.get(f"{url}/health").status_code == 200  # probes stay open


def test_overload_answers_503_not_an_unbounded_queue(server, dicoms):
    url, _ = server
    data = dicoms[0].read_bytes()
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(lambda _: _post(url, "a.dcm", data, explain=True).status_code, range(12)))
    assert set(codes) <= {200, 503} and 503 in codes and 200 in codes
    assert _post(url, "a.dcm", data).status_code == 200


def test_no_patient_identifier_in_responses_or_logs(server, dicoms, tmp_path):
    url, log = server

    def set_phi(ds):
        for key, value in PHI.items():
            setattr(ds, key, value)
        ds.AccessionNumber = "ACC-99120"
        ds.InstitutionName = "St Example Hospital"

    data = _modified(dicoms[1], tmp_path, "phi.dcm", set_phi)
    texts = [_post(url, "phi.dcm", data, explain=True).text]
    texts.append(
        httpx.post(f"{url}/v1/studies", files=[("files", ("phi.dcm", data, "application/dicom"))], headers=AUTH).text
    )
    texts.append(_post(url, "phi.dcm", data[: len(data) // 2]).text)  # the error path too
    texts.append(httpx.get(f"{url}/metrics").text)
    time.sleep(0.5)
    texts.append(log.read_text())
    for value in [*PHI.values(), "DOE", "ACC-99120", "St Example Hospital"]:
        for text in texts:
            assert value not in text
    assert '"event": "scored"' in texts[-1]  # the log is written, as JSON lines naming uploads by hash


def _gauge(metrics: str, name: str, **labels) -> float:
    selector = ",".join(f'{k}="{v}"' for k, v in labels.items())
    line = next(
        (x for x in metrics.splitlines() if x.startswith(f"{name}{{{selector}}}" if labels else f"{name} ")), None
    )
    return float(line.rsplit(" ", 1)[1]) if line else float("nan")


def test_feedback_is_stored_and_moves_the_accuracy_gauges(server, dicoms):
    url, _ = server
    served = _post(url, dicoms[2].name, dicoms[2].read_bytes()).json()
    ok = httpx.post(
        f"{url}/v1/feedback", json={"request_id": served["request_id"], "label": 1, "source": "biopsy"}, headers=AUTH
    )
    assert ok.status_code == 200 and ok.json()["stored"]
    unknown = httpx.post(f"{url}/v1/feedback", json={"request_id": "0" * 32, "label": 1}, headers=AUTH)
    assert unknown.status_code == 404
    assert (
        httpx.post(
            f"{url}/v1/feedback", json={"request_id": served["request_id"], "label": 2}, headers=AUTH
        ).status_code
        == 422
    )
    assert httpx.post(f"{url}/v1/feedback", json={"request_id": served["request_id"], "label": 1}).status_code == 401
    metrics = httpx.get(f"{url}/metrics").text
    assert _gauge(metrics, "mammo_feedback_labelled") >= 1
    expected = 1.0 if served["decision"] == "recall" else 0.0
    assert _gauge(metrics, "mammo_feedback_metric", metric="sensitivity") == expected


def test_drift_gauges_move_after_a_shifted_batch(server, synth_cache):
    import cv2

    from mammo_utils.data.preprocess import read_cached

    url, _ = server  # the server's drift window is its last 40 predictions (MAMMO_DRIFT_WINDOW)
    cache, _ = synth_cache
    pngs = sorted(cache.rglob("*.png"))[:40]

    def send(scale: float) -> float:
        for p in pngs:
            image = np.round(np.clip(read_cached(cache, p) * scale, 0, 1) * 65535).astype(np.uint16)
            assert _post(url, "scan.png", cv2.imencode(".png", image)[1].tobytes(), "image/png").status_code == 200
        metrics = httpx.get(f"{url}/metrics").text
        assert _gauge(metrics, "mammo_drift_window_size") == 40
        return _gauge(metrics, "mammo_drift_psi", feature="p50")

    normal, dark = send(1.0), send(0.5)
    assert np.isfinite(normal) and dark > 0.25 and dark > normal, (normal, dark)
