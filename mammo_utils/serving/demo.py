"""``mammo demo``: the service and the web app on the champion, started the way a user starts them.

Two child processes, ``mammo serve`` (uvicorn) and ``mammo app`` (Streamlit, pointed at the API), both bound to
localhost. The demo waits until both answer their health routes and prints the URLs; it runs until Ctrl-C (or
for ``duration`` seconds), then stops both. With ``check`` it stops as soon as both are ready: what CI and the
tests run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .client import wait_ready


def free_port() -> int:
    """A free TCP port on localhost."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_demo(
    model: str | Path,
    api_port: int | None = None,
    app_port: int | None = None,
    duration: float | None = None,
    check: bool = False,
    say: Callable[[str], None] = print,
    work_dir: str | Path | None = None,
) -> dict:
    """Start the API and the web app on ``model``, print their URLs, and stop them at the end.

    Args:
        model: Export folder (or run folder) to serve.
        api_port: API port (a free one when None).
        app_port: Web-app port (a free one when None).
        duration: Seconds to keep running (None: until interrupted).
        check: Stop as soon as both answer (a smoke test).
        say: Where the URLs are printed.
        work_dir: The work folder the API uses (its feedback store, registry downloads); default: the
            configuration's (``MAMMO_WORK`` or ``<project>/data/work``).

    Returns:
        ``{"api": url, "app": url, "ready": bool}``.

    Raises:
        FileNotFoundError: ``model`` does not exist.
        RuntimeError: A service did not become ready (its exit code is in the message).
    """
    model = Path(model)
    if not model.exists():
        raise FileNotFoundError(f"{model}: no such export folder; run `bash run_all.sh` or `mammo export` first")
    api_port, app_port = api_port or free_port(), app_port or free_port()
    api_url, app_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{app_port}"
    env = {**os.environ, "MAMMO_API_URL": api_url}
    if work_dir is not None:
        env["MAMMO_WORK"] = str(work_dir)  # the demo's own work folder, for the API process too
    base = [sys.executable, "-m", "mammo_utils"]
    api = subprocess.Popen([*base, "serve", "--model", str(model), "--port", str(api_port)], env=env)
    app = subprocess.Popen([*base, "app", "--api", api_url, "--port", str(app_port)], env=env,
                           stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        if not wait_ready(api_url, timeout=180, process=api):
            raise RuntimeError(f"the API did not become ready (exit code {api.poll()})")
        if not wait_ready(app_url, "/_stcore/health", timeout=120, process=app):
            raise RuntimeError(f"the web app did not become ready (exit code {app.poll()})")
        say(f"API:     {api_url}/docs  (model {model})")
        say(f"web app: {app_url}")
        if not check:
            say("Ctrl-C stops both.")
            end = time.time() + duration if duration else float("inf")
            while time.time() < end and api.poll() is None and app.poll() is None:
                time.sleep(0.5)
        return {"api": api_url, "app": app_url, "ready": True}
    except KeyboardInterrupt:
        return {"api": api_url, "app": app_url, "ready": True}
    finally:
        for process in (app, api):
            process.terminate()
        for process in (app, api):
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
