"""The Docker image's contract, checked without Docker (no registry here; CI builds the image itself).

The test reads deploy/Dockerfile, runs its exact CMD with its ENV (model folder and port swapped for the test's),
and then runs its HEALTHCHECK command against that process; compose services point at files that exist.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from mammo_utils.serving.client import wait_ready
from mammo_utils.serving.demo import free_port

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "deploy" / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def _runtime_stage() -> list[tuple[str, str]]:
    steps = _instructions()
    last_from = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[last_from:]


def _env(stage) -> dict[str, str]:
    env = {}
    for op, rest in stage:
        if op == "ENV":
            for key, value in (pair.split("=", 1) for pair in shlex.split(rest)):
                env[key] = value
    return env


def test_dockerfile_is_multistage_slim_non_root_with_healthcheck():
    steps = _instructions()
    froms = [rest for op, rest in steps if op == "FROM"]
    assert len(froms) == 2 and all(f.startswith("python:3.11-slim") for f in froms)
    stage = _runtime_stage()
    users = [rest for op, rest in stage if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    health = [rest for op, rest in stage if op == "HEALTHCHECK"]
    assert health and "/health" in health[0]
    ignore = [line for line in (REPO / ".dockerignore").read_text().split("\n") if line and not line.startswith("#")]
    assert ignore[0] == "*" and "!mammo_utils/" in ignore  # data/, .venv/ and reports/ never enter the image


def test_container_entry_command_and_healthcheck_run_outside_docker(tiny_export, tmp_path):
    _, folder, _ = tiny_export
    stage = _runtime_stage()
    cmd = json.loads(next(rest for op, rest in stage if op == "CMD"))
    health = json.loads(next(rest for op, rest in stage if op == "HEALTHCHECK").split("CMD", 1)[1])
    port = free_port()
    cmd = [str(port) if c == "8000" else c for c in cmd]
    cmd = [sys.executable, "-m", "mammo_utils", *cmd[1:]] if cmd[0] == "mammo" else cmd
    env = {**os.environ, **{k: v for k, v in _env(stage).items() if k.startswith(("MAMMO_", "TF_", "PYTHON"))}}
    assert env["MAMMO_MODEL_DIR"] == "/models/champion"  # what compose and Azure ML mount or set
    env["MAMMO_MODEL_DIR"] = str(folder)
    env["MAMMO_WORK"] = str(tmp_path / "work")
    log = tmp_path / "container.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        assert wait_ready(f"http://127.0.0.1:{port}", process=proc), log.read_text()
        health = [sys.executable if h == "python" else h.replace(":8000", f":{port}") for h in health]
        assert subprocess.run(health, timeout=30).returncode == 0
    finally:
        proc.terminate()
        proc.wait(20)


def test_compose_wires_api_app_mlflow_prometheus_to_existing_files():
    compose = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())
    services = compose["services"]
    assert {"api", "app", "mlflow", "prometheus"} <= set(services)
    assert services["api"]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert "http://api:8000" in services["app"]["command"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = (REPO / "deploy" / volume.split(":")[0]).resolve()
            if not str(source).startswith(str(REPO / "data")):  # data/ is produced by run_all.sh
                assert source.exists(), f"{name}: {source} missing"
    prometheus = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    assert prometheus["scrape_configs"][0]["static_configs"][0]["targets"] == ["api:8000"]
