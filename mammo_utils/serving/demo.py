"""``mammo demo``: the service and the web app on the champion, started the way a user starts them.

Two child processes, ``mammo serve`` (uvicorn) and ``mammo app`` (Streamlit, pointed at the API), both bound to
localhost. The demo waits until both answer their health routes and prints the URLs; it runs until Ctrl-C (or
for ``duration`` seconds), then stops both. With ``check`` it stops as soon as both are ready: what CI and the
tests run.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from .client import wait_ready


def free_port() -> int:
    """A free TCP port on localhost."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def started_services(
    model: str | Path,
    api_port: int | None = None,
    app_port: int | None = None,
    work_dir: str | Path | None = None,
    app: bool = True,
    env: dict[str, str] | None = None,
) -> Iterator[dict]:
    """``mammo serve`` (and ``mammo app``) on ``model`` as child processes, ready inside the block, stopped after.

    Args:
        model: Export folder (or run folder) to serve.
        api_port: API port (a free one when None).
        app_port: Web-app port (a free one when None).
        work_dir: The work folder the API uses (``MAMMO_WORK``); default: the configuration's.
        app: Also start the web app.
        env: More environment variables for both processes.

    Yields:
        ``{"api": url, "app": url or None}`` once both answer their health routes.

    Raises:
        FileNotFoundError: ``model`` does not exist.
        RuntimeError: A service did not become ready (its exit code is in the message).
    """
    model = Path(model)
    if not model.exists():
        raise FileNotFoundError(f"{model}: no such export folder; run `bash run_all.sh` or `mammo export` first")
    api_port = api_port or free_port()
    api_url = f"http://127.0.0.1:{api_port}"
    env = {**os.environ, **(env or {}), "MAMMO_API_URL": api_url}
    if work_dir is not None:
        env["MAMMO_WORK"] = str(work_dir)  # the demo's own work folder, for the API process too
    base = [sys.executable, "-m", "mammo_utils"]
    processes = [subprocess.Popen([*base, "serve", "--model", str(model), "--port", str(api_port)], env=env)]
    app_url = None
    try:
        if app:
            app_url = f"http://127.0.0.1:{app_port or free_port()}"
            command = [*base, "app", "--api", api_url, "--port", app_url.rsplit(":", 1)[1]]
            processes.append(subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL))
        if not wait_ready(api_url, timeout=180, process=processes[0]):
            raise RuntimeError(f"the API did not become ready (exit code {processes[0].poll()})")
        if app and not wait_ready(app_url, "/_stcore/health", timeout=120, process=processes[1]):
            raise RuntimeError(f"the web app did not become ready (exit code {processes[1].poll()})")
        yield {"api": api_url, "app": app_url, "processes": processes}
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in reversed(processes):
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


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
    urls: dict = {}
    try:
        with started_services(model, api_port, app_port, work_dir) as urls:
            say(f"API:     {urls['api']}/docs  (model {model})")
            say(f"web app: {urls['app']}")
            if not check:
                say("Ctrl-C stops both.")
                end = time.time() + duration if duration else float("inf")
                while time.time() < end and all(p.poll() is None for p in urls["processes"]):
                    time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    return {"api": urls.get("api"), "app": urls.get("app"), "ready": bool(urls)}
