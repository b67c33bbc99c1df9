"""The steady load behind the monitoring image: every route on its own period, stopped with the screenshot."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mammo_utils.reporting import traffic


@pytest.fixture
def fake_api():
    """A stand-in for the API: records ``(method, path, explain, bad)`` of each call; a body without ``DICM``
    gets a 400, ``state["status"]`` (default 200) answers the others."""
    calls, state = [], {"status": 200}

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int) -> None:
            body = json.dumps({"detail": "not an image"} if status >= 400 else {"probability": 0.1}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # noqa: N802 - http.server's name
            calls.append(("GET", urllib.parse.urlparse(self.path).path, None, False))
            self._answer(state["status"])

        def do_POST(self):  # noqa: N802 - http.server's name
            url = urllib.parse.urlparse(self.path)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            explain = urllib.parse.parse_qs(url.query).get("explain", ["false"])[0]
            bad = b"DICM" not in body
            calls.append(("POST", url.path, explain, bad))
            self._answer(400 if bad else state["status"])

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", calls, state
    server.shutdown()


def test_the_load_calls_every_route_on_its_period_until_the_screenshot(fake_api, tmp_path):
    url, calls, _ = fake_api
    dicom = tmp_path / "example.dcm"
    dicom.write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 64)
    periods = {"predict": 0.1, "model": 0.3, "study": 0.5, "bad": 0.9}
    lines = []
    with traffic.steady_load(url, dicom, periods=periods, say=lines.append) as counts:
        time.sleep(1.9)
        live = dict(counts)
    stopped = len(calls)
    time.sleep(0.4)
    assert len(calls) == stopped  # no call after the block: the thread stopped with it
    assert not [t for t in threading.enumerate() if t.name == "mammo-load"]
    kinds = Counter(
        "bad" if bad else {"/v1/predict": "predict", "/v1/model": "model", "/v1/studies": "study"}[path]
        for _, path, _, bad in calls
    )
    assert kinds["predict"] >= 8 and kinds["predict"] > kinds["model"] > kinds["study"] > kinds["bad"] >= 2
    assert {explain for _, path, explain, _ in calls if path == "/v1/studies"} == {"true"}  # as the web app sends
    assert {k: counts[k] for k in periods} == dict(kinds)  # the refused bad uploads count as done
    assert live["predict"] >= 8 and not any(k.endswith("failed") for k in counts)
    assert len(lines) == 1 and re.match(rf"steady load on {url} for \d+ s: {counts['predict']} predict, ", lines[0])


def test_a_failing_route_is_counted_and_the_load_goes_on(fake_api, tmp_path):
    url, calls, state = fake_api
    dicom = tmp_path / "example.dcm"
    dicom.write_bytes(b"DICM")
    state["status"] = 503  # every good call fails; the bad upload still gets its 400
    lines = []
    with traffic.steady_load(url, dicom, periods={"predict": 0.1, "model": 0.2, "study": 0.3, "bad": 0.2},
                             say=lines.append) as counts:  # fmt: skip
        time.sleep(1.0)
    assert counts["predict failed"] >= 5 and counts["predict"] == 0 and counts["bad"] >= 3
    assert "0 predict (" in lines[0] and " failed), " in lines[0]
    with pytest.raises(ValueError, match="positive period for each call"):
        traffic.run_load({"predict": lambda: None}, {"predict": 0.0}, threading.Event(), Counter())
    with pytest.raises(ValueError, match="positive period for each call"):
        traffic.run_load({"predict": lambda: None}, {"model": 1.0}, threading.Event(), Counter())


def test_the_caption_words_come_from_the_periods():
    words = traffic.load_words({"predict": 1.0, "bad": 12.5})
    assert words == "an upload to /v1/predict every 1 s, a file that is no image (a 400) every 12.5 s"
    assert traffic.load_summary(Counter({"predict": 3, "bad failed": 1}), {"predict": 1, "bad": 2}) == (
        "3 predict, 0 bad (1 failed)"
    )
