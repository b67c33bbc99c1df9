"""The service's edge and its detection output, against live `mammo serve` processes (uvicorn, over HTTP).

Two servers for the module:

- ``edge``: the tiny export with a bundled YOLOv8 detector (built untrained, saved and bundled the way
  ``mammo export`` bundles a trained one), a token, a 4 MB upload limit and its own ``TMPDIR``: boxes in the
  DICOM's own pixel frame from ``/v1/predict`` and ``/v1/studies`` (with Grad-CAM too), chunked uploads cut at
  the limit with no more than the limit ever in a temporary file, the token checked before the body is read,
  a DICOM declaring a huge image refused in under a second with flat memory, client file names nowhere.
- ``fragile``: the tiny export without detector, a 0.2 s inference timeout and a ``TMPDIR`` the test removes:
  a timeout answers 503 with ``Retry-After``, an unhandled error answers 500 and is counted as
  ``status="500"`` under the route template.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from mammo_utils.serving.client import wait_ready
from mammo_utils.serving.demo import free_port

TOKEN = "edge-token-456"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SECRET_NAME = "MRN-55120977-smith.dcm"  # a client file name carrying a record number
LIMIT_MB = 4
CLASSES = {"mass", "spiculated_mass", "calcification_cluster"}


def _start(folder: Path, tmp: Path, **env_vars: str):
    """`mammo serve --model folder` with a private TMPDIR: (url, log path, process)."""
    port = free_port()
    log = tmp / "server.log"
    (tmp / "tmpdir").mkdir(exist_ok=True)
    env = {
        **os.environ,
        "MAMMO_API_TOKEN": TOKEN,
        "MAMMO_FEEDBACK_DB": str(tmp / "feedback.db"),
        "TMPDIR": str(tmp / "tmpdir"),
        **env_vars,
    }
    command = [sys.executable, "-m", "mammo_utils", "serve", "--model", str(folder), "--port", str(port)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    if not wait_ready(url, process=proc):
        proc.kill()
        pytest.fail(f"server exited or not ready in 120 s:\n{log.read_text()}")
    return url, log, proc


@pytest.fixture(scope="module")
def edge(detector_export, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("edge")
    url, log, proc = _start(detector_export, tmp, MAMMO_MAX_UPLOAD_MB=str(LIMIT_MB), MAMMO_MAX_PIXELS="40000000")
    yield url, log, proc, tmp / "tmpdir"
    proc.terminate()
    proc.wait(20)


@pytest.fixture(scope="module")
def fragile(tiny_export, tmp_path_factory):
    _, export, _ = tiny_export
    tmp = tmp_path_factory.mktemp("fragile")
    url, log, proc = _start(export, tmp, MAMMO_INFERENCE_TIMEOUT_S="0.2")
    yield url, log, proc, tmp / "tmpdir"
    proc.terminate()
    proc.wait(20)


@pytest.fixture(scope="module")
def breakable(tiny_export, tmp_path_factory):
    """A server of its own for the unhandled-error test: the timeout test leaves an abandoned Grad-CAM load running
    in ``fragile``'s process, and log lines written while it holds the worker slots arrive only after it ends."""
    _, export, _ = tiny_export
    tmp = tmp_path_factory.mktemp("breakable")
    url, log, proc = _start(export, tmp)
    yield url, log, proc, tmp / "tmpdir"
    proc.terminate()
    proc.wait(20)


@pytest.fixture(scope="module")
def dicoms(synth_root) -> list[Path]:
    return sorted((synth_root / "train_images").rglob("*.dcm"))


def _post(url, data, name=SECRET_NAME, explain=False, content_type="application/dicom", timeout=120):
    files = {"file": (name, data, content_type)}
    return httpx.post(f"{url}/v1/predict", files=files, headers=AUTH, params={"explain": explain}, timeout=timeout)


def _rows_columns(path: Path) -> tuple[int, int]:
    from mammo_utils.data.dicom import read_header

    header = read_header(path)
    return header["rows"], header["columns"]


def _check_boxes(boxes, rows: int, columns: int) -> None:
    assert isinstance(boxes, list) and boxes, "the bundled detector returned no boxes"
    for box in boxes:
        assert set(box) == {"class", "score", "x_min", "y_min", "x_max", "y_max"}
        assert box["class"] in CLASSES and 0 <= box["score"] <= 1
        assert 0 <= box["x_min"] < box["x_max"] <= columns and 0 <= box["y_min"] < box["y_max"] <= rows, box


# --- detection in the one interface -------------------------------------------------------------------------


def test_predict_returns_the_detectors_boxes_in_the_dicoms_pixel_frame(edge, dicoms):
    url, *_ = edge
    body = _post(url, dicoms[0].read_bytes(), explain=True).json()
    _check_boxes(body["boxes"], *_rows_columns(dicoms[0]))
    assert body["detector"]["classes"] == ["mass", "spiculated_mass", "calcification_cluster"]
    assert body["heatmap_png_base64"] and 0 <= body["probability"] <= 1  # Grad-CAM still added
    assert {"detector", "gradcam", "decode", "model", "spool", "hash"} <= set(body["timing_ms"])


def test_studies_return_boxes_per_image(edge, dicoms):
    url, *_ = edge
    patient = sorted(dicoms[0].parent.glob("*.dcm"))
    items = [("files", (SECRET_NAME, p.read_bytes(), "application/dicom")) for p in patient]
    response = httpx.post(f"{url}/v1/studies", files=items, headers=AUTH, timeout=120)
    study = response.json()
    assert response.status_code == 200 and study["detector"]["classes"]
    for path, image in zip(patient, study["images"]):
        _check_boxes(image["boxes"], *_rows_columns(path))
    assert [i["index"] for i in study["images"]] == list(range(len(patient)))


@pytest.mark.real_rsna
def test_boxes_on_a_real_rsna_dicom_lie_inside_its_rows_and_columns(edge, real_rsna):
    url, *_ = edge
    path = sorted((real_rsna / "train_images").rglob("*.dcm"))[0]
    response = _post(url, path.read_bytes())
    assert response.status_code == 200, response.text
    rows, columns = _rows_columns(path)
    assert rows > 2000 and columns > 2000  # the original frame, not the cache's 128 x 64
    _check_boxes(response.json()["boxes"], rows, columns)


# --- an edge that holds -------------------------------------------------------------------------------------


class _SpoolWatch(threading.Thread):
    """Largest file under ``folder`` the server process holds open (unlinked spool files included)."""

    def __init__(self, pid: int, folder: Path):
        super().__init__(daemon=True)
        self.pid, self.folder, self.largest, self.running = pid, str(folder), 0, True

    def run(self):
        while self.running:
            fds = Path(f"/proc/{self.pid}/fd")
            for fd in list(fds.iterdir()) if fds.is_dir() else []:
                try:
                    if os.readlink(fd).startswith(self.folder):
                        self.largest = max(self.largest, fd.stat().st_size)
                except OSError:
                    continue
            time.sleep(0.002)


def _multipart_stream(total: int, chunk: int = 128 * 1024, pause: float = 0.0, sent: list | None = None):
    boundary = "edge-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{SECRET_NAME}"\r\n'
        "Content-Type: application/dicom\r\n\r\n"
    ).encode()

    def body():
        yield head
        for start in range(0, total, chunk):
            if sent is not None:
                sent.append(min(chunk, total - start))
            time.sleep(pause)
            yield b"\0" * min(chunk, total - start)
        yield f"\r\n--{boundary}--\r\n".encode()

    return body(), {**AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"}


def test_a_chunked_upload_over_the_limit_is_cut_with_413_and_never_spooled_past_it(edge):
    url, log, proc, tmpdir = edge
    limit = LIMIT_MB * 1_000_000
    # control: a 1.5 MB streamed upload under the limit is spooled to disk (Starlette rolls over at 1 MB), and seen
    watch = _SpoolWatch(proc.pid, tmpdir)
    watch.start()
    body, headers = _multipart_stream(1_500_000, pause=0.02)
    small = httpx.post(f"{url}/v1/predict", content=body, headers=headers, timeout=60)
    watch.running = False
    watch.join()
    assert small.status_code == 400 and "not a DICOM" in small.json()["detail"]
    assert watch.largest >= 1_000_000, "the spool watch did not see the spooled upload"

    watch = _SpoolWatch(proc.pid, tmpdir)
    watch.start()
    body, headers = _multipart_stream(3 * limit)
    assert "content-length" not in {k.lower() for k in headers}
    response = httpx.post(f"{url}/v1/predict", content=body, headers=headers, timeout=60)
    time.sleep(0.2)
    watch.running = False
    watch.join()
    assert response.status_code == 413, response.text
    assert f"limit of {LIMIT_MB} MB" in response.json()["detail"]
    assert 0 < watch.largest <= limit, watch.largest
    assert httpx.get(f"{url}/health").status_code == 200
    metrics = httpx.get(f"{url}/metrics").text
    assert 'mammo_requests_total{method="POST",route="/v1/predict",status="413"}' in metrics, [
        x for x in metrics.splitlines() if "requests_total" in x
    ]
    # an oversized request to an unknown path is labelled by template, not by its raw path
    declared = httpx.post(f"{url}/v1/no-such/7731942", content=b"\0" * (limit + 1), headers=AUTH, timeout=60)
    assert declared.status_code == 413
    metrics = httpx.get(f"{url}/metrics").text
    assert "7731942" not in metrics and 'route="unmatched",status="413"' in metrics


def _raw_request(url: str, head: str, wait: float = 5.0) -> bytes:
    """Send only a request head (no body) and return what the server answers within ``wait`` seconds."""
    parsed = urlparse(url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=wait) as sock:
        sock.sendall(head.encode())
        return sock.recv(65536)


def test_a_wrong_token_gets_401_before_the_body_is_read(edge):
    url, *_ = edge
    head = (
        "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        "Content-Length: 3000000\r\n{auth}\r\n"
    )
    start = time.perf_counter()
    answer = _raw_request(url, head.format(auth="Authorization: Bearer edge-token-457\r\n"))
    assert answer.startswith(b"HTTP/1.1 401") and time.perf_counter() - start < 3, answer[:200]
    assert _raw_request(url, head.format(auth="")).startswith(b"HTTP/1.1 401")
    # the right token with the same head waits for the body: no answer before it comes
    with pytest.raises(socket.timeout):
        _raw_request(url, head.format(auth=f"Authorization: Bearer {TOKEN}\r\n"), wait=1.5)


def _peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def _declaring(path: Path, tmp_path: Path, rows: int, columns: int) -> bytes:
    import pydicom

    ds = pydicom.dcmread(path)
    ds.Rows, ds.Columns = rows, columns
    out = tmp_path / "bomb.dcm"
    ds.save_as(out, enforce_file_format=True)
    return out.read_bytes()


def test_a_small_dicom_declaring_a_huge_image_is_refused_fast_with_flat_memory(edge, dicoms, tmp_path):
    url, log, proc, _ = edge
    bomb = _declaring(dicoms[0], tmp_path, 60000, 60000)  # 3.6 G pixels declared, a few kB of data
    assert len(bomb) < 1_000_000
    before = _peak_rss_kb(proc.pid)
    start = time.perf_counter()
    response = _post(url, bomb)
    seconds = time.perf_counter() - start
    assert response.status_code == 400 and "over the limit of 40,000,000" in response.json()["detail"]
    assert seconds < 1.0, seconds
    assert _peak_rss_kb(proc.pid) - before < 50_000  # kB: nothing the size of the declared image was allocated
    assert _post(url, dicoms[0].read_bytes()).status_code == 200


@pytest.mark.real_rsna
def test_a_jpeg2000_dicom_declaring_a_huge_image_is_refused_before_decoding(edge, real_rsna, tmp_path):
    url, log, proc, _ = edge
    path = sorted((real_rsna / "train_images").rglob("*.dcm"))[1]
    before = _peak_rss_kb(proc.pid)
    start = time.perf_counter()
    response = _post(url, _declaring(path, tmp_path, 65000, 65000))
    assert response.status_code == 400 and "over the limit" in response.json()["detail"]
    assert time.perf_counter() - start < 1.0 and _peak_rss_kb(proc.pid) - before < 50_000


def test_no_client_file_name_in_responses_or_logs(edge, dicoms):
    url, log, *_ = edge
    texts = [
        _post(url, dicoms[1].read_bytes()).text,
        _post(url, dicoms[1].read_bytes()[:300]).text,  # the error path
        _post(url, b"not an image at all").text,
        _post(url, dicoms[1].read_bytes(), content_type="application/pdf").text,
        httpx.post(
            f"{url}/v1/studies",
            files=[("files", (SECRET_NAME, b"junk", "application/dicom"))] * 2,
            headers=AUTH,
            timeout=60,
        ).text,
        httpx.get(f"{url}/metrics").text,
    ]
    assert "upload 0" in texts[1] and "upload 1" in texts[4]
    time.sleep(0.5)
    texts.append(log.read_text())
    for text in texts:
        assert SECRET_NAME not in text and "55120977" not in text


def test_metrics_have_stages_explain_label_and_feedback_positives(edge, dicoms):
    url, *_ = edge
    assert _post(url, dicoms[2].read_bytes(), explain=True).status_code == 200
    assert _post(url, dicoms[2].read_bytes()).status_code == 200
    metrics = httpx.get(f"{url}/metrics").text
    for stage in ("spool", "hash", "decode", "crop", "model", "drift_features", "detector", "gradcam"):
        assert f'mammo_stage_latency_seconds_count{{stage="{stage}"}}' in metrics, stage
    for explain in ("true", "false"):
        assert f'mammo_request_latency_seconds_count{{explain="{explain}",route="/v1/predict"}}' in metrics
    assert "\nmammo_feedback_positives " in metrics


def test_a_slow_inference_answers_503_with_retry_after(fragile, dicoms):
    url, *_ = fragile
    # the first Grad-CAM request loads the Keras model from the export: far longer than the 0.2 s allowed
    start = time.perf_counter()
    response = _post(url, dicoms[0].read_bytes(), explain=True)
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1" and "longer than 0.2 s" in response.json()["detail"]
    assert time.perf_counter() - start < 5
    assert httpx.get(f"{url}/health").status_code == 200
    assert "mammo_inference_timeouts_total 1.0" in httpx.get(f"{url}/metrics").text


def test_an_unhandled_error_is_answered_and_counted_as_500_under_the_template(breakable, dicoms):
    url, log, proc, tmpdir = breakable
    _post(url, dicoms[1].read_bytes())  # whatever it answers, the server has resolved its TMPDIR by now
    shutil.rmtree(tmpdir)  # the server's temporary folder disappears: spooling an upload fails on the server
    try:
        response = _post(url, dicoms[0].read_bytes())
    finally:
        tmpdir.mkdir()
    assert response.status_code == 500 and response.json()["detail"].startswith("internal error")
    metrics = httpx.get(f"{url}/metrics").text
    assert 'mammo_requests_total{method="POST",route="/v1/predict",status="500"} 1.0' in metrics
    assert httpx.get(f"{url}/health").status_code == 200
    deadline = time.monotonic() + 30  # the server writes its log line on its own schedule
    while '"event": "error"' not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert '"event": "error"' in log.read_text()
