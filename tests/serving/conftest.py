"""The running API server shared by the serving tests (`mammo serve` in a subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mammo_utils.serving.client import wait_ready
from mammo_utils.serving.demo import free_port

TOKEN = "test-token-123"


@pytest.fixture(scope="session")
def server(tiny_export, tmp_path_factory):
    """`mammo serve --model <export>` in a subprocess: (base URL, log file)."""
    _, folder, _ = tiny_export
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "server.log"
    env = {
        **os.environ,
        "MAMMO_API_TOKEN": TOKEN,
        "MAMMO_MAX_UPLOAD_MB": "2",
        "MAMMO_MAX_CONCURRENCY": "1",
        "MAMMO_MAX_QUEUE": "1",
        "MAMMO_DRIFT_MIN": "10",
        "MAMMO_DRIFT_WINDOW": "40",
        "MAMMO_FEEDBACK_DB": str(log.parent / "feedback.db"),
    }
    command = [sys.executable, "-m", "mammo_utils", "serve", "--model", str(folder), "--port", str(port)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    if not wait_ready(url, process=proc):
        proc.kill()
        pytest.fail(f"server exited or not ready in 120 s:\n{log.read_text()}")
    yield url, log
    proc.terminate()
    proc.wait(20)
