"""``mammo demo``: both services start for real on an export folder, answer, print their URLs, and stop."""

from __future__ import annotations

import json

import httpx

from mammo_utils.cli import main


def test_demo_starts_api_and_app_then_stops(tiny_export, capsys):
    from mammo_utils.serving.demo import free_port

    _, export, _ = tiny_export
    api_port, app_port = free_port(), free_port()
    ports = ["--api-port", str(api_port), "--app-port", str(app_port)]
    argv = ["demo", "--model", str(export), *ports, "--check", "--json"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary == {"api": f"http://127.0.0.1:{api_port}", "app": f"http://127.0.0.1:{app_port}", "ready": True}
    assert f"web app: http://127.0.0.1:{app_port}" in out
    try:  # both children are gone once the demo returns
        httpx.get(f"http://127.0.0.1:{api_port}/health", timeout=2)
        raise AssertionError("the API still answers after the demo stopped")
    except httpx.HTTPError:
        pass


def test_demo_without_a_model_is_a_clear_error(tmp_path, capsys):
    assert main(["demo", "--model", str(tmp_path / "none"), "--check"]) == 2
    assert "no such export folder" in capsys.readouterr().err
