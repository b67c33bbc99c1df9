"""The Docker image's contract, checked without Docker (no registry here; CI builds the image itself).

The test reads deploy/Dockerfile, runs its exact CMD with its ENV (model folder and port swapped for the test's),
and then runs its HEALTHCHECK command against that process; compose services point at files that exist.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
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
    assert health and "/ready" in health[0]  # healthy = model loaded, not merely the process up
    ignore = [line for line in (REPO / ".dockerignore").read_text().split("\n") if line and not line.startswith("#")]
    assert ignore[0] == "*" and "!mammo_utils/" in ignore  # data/, .venv/ and reports/ never enter the image


def test_the_image_installs_what_a_bundled_detector_needs():
    import tomllib

    build = next(rest for op, rest in _instructions() if op == "RUN" and "pip install" in rest and "-c " in rest)
    extras = set(re.search(r'"\.\[([a-z,]+)\]"', build).group(1).split(","))
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert {"cpu", "serve", "export", "detect"} <= extras and extras <= set(declared)
    assert any(d.startswith("keras-cv") for d in declared["detect"])  # load_detector imports keras_cv


def test_container_entry_command_and_healthcheck_run_outside_docker(detector_export, synth_root, tmp_path):
    """The image's CMD and ENV serve an export with a bundled detector (what the rebuild exports): healthy,
    and a DICOM comes back scored with the detector's boxes."""
    import httpx

    folder = detector_export
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
    assert env["MAMMO_STORE_URL"] == "sqlite:////var/lib/mammo/feedback.db"  # the image's volume, not /tmp
    env["MAMMO_STORE_URL"] = f"sqlite:///{tmp_path / 'store' / 'feedback.db'}"
    env.pop("MAMMO_FEEDBACK_DB", None)
    env["MAMMO_API_TOKEN"] = "test-token"  # what compose and CI's smoke test give it: /v1/* needs a token
    log = tmp_path / "container.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        assert wait_ready(f"http://127.0.0.1:{port}", process=proc), log.read_text()
        health = [sys.executable if h == "python" else h.replace(":8000", f":{port}") for h in health]
        assert subprocess.run(health, timeout=30).returncode == 0
        dicom = sorted((synth_root / "train_images").rglob("*.dcm"))[0]
        scored = httpx.post(
            f"http://127.0.0.1:{port}/v1/predict",
            files={"file": ("a.dcm", dicom.read_bytes(), "application/dicom")},
            headers={"Authorization": "Bearer test-token"},
            timeout=120,
        )
        assert scored.status_code == 200, scored.text
        assert scored.json()["detector"]["classes"] and isinstance(scored.json()["boxes"], list)
    finally:
        proc.terminate()
        proc.wait(20)


def test_compose_wires_api_app_mlflow_prometheus_to_existing_files():
    compose = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())
    services = compose["services"]
    assert {"api", "app", "mlflow", "prometheus", "alertmanager", "grafana"} <= set(services)
    assert services["api"]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert "http://api:8000" in services["app"]["command"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            if volume.split(":")[0] in compose.get("volumes", {}):  # a named volume, not a folder
                continue
            source = (REPO / "deploy" / volume.split(":")[0]).resolve()
            if not str(source).startswith(str(REPO / "data")):  # data/ is produced by run_all.sh
                assert source.exists(), f"{name}: {source} missing"
    prometheus = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    assert prometheus["scrape_configs"][0]["static_configs"][0]["targets"] == ["api:8000"]


# --- compose, safe by default ------------------------------------------------------------------------------------
COMPOSE = REPO / "deploy" / "compose.yaml"
REQUIRED = {
    "MAMMO_API_TOKEN": "token-for-tests",
    "GRAFANA_ADMIN_PASSWORD": "password-for-tests",
    "MAMMO_STORE_PASSWORD": "store-password-for-tests",
}
_VARIABLE = re.compile(
    r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}|(?P<bare>[A-Za-z_]\w*))"
)


class ComposeError(ValueError):
    """What `docker compose` refuses with: a required variable (`${NAME:?message}`) unset or empty."""


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's variable interpolation of one value: $$, $NAME, ${NAME}, ${NAME:-x}, ${NAME-x}, ${NAME:?m},
    ${NAME?m}, ${NAME:+x}, ${NAME+x} (the subset of the Compose specification the file uses, and its neighbours)."""

    def one(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        present, value = name in env, env.get(name, "")
        usable = present and (value != "" or not (op or "").startswith(":"))
        if op in (":-", "-"):
            return value if usable else arg
        if op in (":?", "?"):
            if not usable:
                raise ComposeError(f"required variable {name} is missing a value: {arg}")
            return value
        if op in (":+", "+"):
            return arg if usable else ""
        return value

    return _VARIABLE.sub(one, value)


def _interpolated(node, env):
    if isinstance(node, dict):
        return {key: _interpolated(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [_interpolated(value, env) for value in node]
    return interpolate(node, env) if isinstance(node, str) else node


def load_compose(**env: str) -> dict:
    """deploy/compose.yaml as compose renders it in the environment ``env`` (and nothing else)."""
    return _interpolated(yaml.safe_load(COMPOSE.read_text()), env)


def test_interpolation_follows_the_compose_rules():
    assert interpolate("${A:-x}/${A-y}/$$A/${B:+on}", {"A": "", "B": "1"}) == "x//$A/on"
    with pytest.raises(ComposeError, match="say why"):
        interpolate("${A:?say why}", {"A": ""})
    assert interpolate("${A?unset only}", {"A": ""}) == ""


def test_compose_refuses_to_start_without_the_api_token_or_grafanas_password():
    for missing in REQUIRED:  # the API token, Grafana's admin password, the prediction store's password
        with pytest.raises(ComposeError, match=f"{missing}.*deploy/.env"):
            load_compose(**{k: v for k, v in REQUIRED.items() if k != missing})
    services = load_compose(**REQUIRED)["services"]
    assert services["api"]["environment"]["MAMMO_API_TOKEN"] == REQUIRED["MAMMO_API_TOKEN"]
    assert services["app"]["environment"]["MAMMO_API_TOKEN"] == REQUIRED["MAMMO_API_TOKEN"]
    # MAMMO_AUTH reaches the API as it is set, and is empty (the API's default: auth on) when it is not
    assert services["api"]["environment"]["MAMMO_AUTH"] == ""
    assert load_compose(**REQUIRED, MAMMO_AUTH="off")["services"]["api"]["environment"]["MAMMO_AUTH"] == "off"


def _probe_port(healthcheck: dict) -> int:
    ports = re.findall(r"(?:127\.0\.0\.1|localhost):(\d+)", " ".join(healthcheck["test"]))
    assert len(ports) == 1, healthcheck
    return int(ports[0])


def test_every_service_has_its_own_healthcheck():
    services = load_compose(**REQUIRED)["services"]
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check and not check.get("disable") and check["test"][0] in ("CMD", "CMD-SHELL"), name
        container_ports = {int(p.rsplit(":", 1)[1]) for p in service["ports"]}
        # each service probes its own port (mlflow used to inherit the API's probe of :8000)
        assert _probe_port(check) in container_ports, f"{name} probes {_probe_port(check)}, serves {container_ports}"
        assert {"interval", "timeout", "retries"} <= set(check), name
    probes = [tuple(s["healthcheck"]["test"]) for s in services.values()]
    assert len(set(probes)) == len(probes)


def test_ports_are_published_on_localhost_unless_the_user_opts_out():
    for env, host in ((REQUIRED, "127.0.0.1"), ({**REQUIRED, "MAMMO_BIND": "0.0.0.0"}, "0.0.0.0")):
        for name, service in load_compose(**env)["services"].items():
            for port in service.get("ports", []):
                assert isinstance(port, str) and port.count(":") == 2, f"{name}: {port!r} names no host address"
                assert port.split(":")[0] == host, f"{name}: {port}"


def test_grafana_has_no_anonymous_access_and_its_admin_comes_from_the_env_file():
    raw = yaml.safe_load(COMPOSE.read_text())["services"]["grafana"]["environment"]
    grafana = load_compose(**REQUIRED)["services"]["grafana"]["environment"]
    assert grafana["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert "GF_AUTH_ANONYMOUS_ORG_ROLE" not in grafana and grafana["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"] == REQUIRED["GRAFANA_ADMIN_PASSWORD"]
    assert raw["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")  # no default password


def test_mlflow_ui_reads_the_store_the_rebuild_writes():
    mlflow = load_compose(**REQUIRED)["services"]["mlflow"]
    store = mlflow["command"][mlflow["command"].index("--backend-store-uri") + 1]
    assert store == "sqlite:////mlflow/reports-mlflow.db"
    assert "../data/work:/mlflow" in mlflow["volumes"]
    assert "data/work/reports-mlflow.db" in (REPO / "run_all.sh").read_text()  # the rebuild's MLFLOW_TRACKING_URI
    other = load_compose(**REQUIRED, MAMMO_MLFLOW_DB="mlflow.db")["services"]["mlflow"]["command"]
    assert "sqlite:////mlflow/mlflow.db" in other  # the store of `mammo train` by hand, on request


def test_api_serves_the_champion_through_the_export_folder_and_keeps_its_feedback():
    compose = load_compose(**REQUIRED)
    api, postgres = compose["services"]["api"], compose["services"]["postgres"]
    assert "../data/work/export:/models:ro" in api["volumes"]  # a switched champion is seen without a restart
    assert api["environment"]["MAMMO_MODEL_DIR"] == "/models/champion"
    # the prediction store is the postgres service, its data on a named volume; the password is not in the URL
    from mammo_utils.monitoring.store import parse_store_url

    url = api["environment"]["MAMMO_STORE_URL"]
    assert parse_store_url(url) == ("postgresql", "postgresql://mammo@postgres:5432/mammo")
    assert (
        api["environment"]["PGPASSWORD"] == postgres["environment"]["POSTGRES_PASSWORD"] == "store-password-for-tests"
    )
    assert "store-password" not in url and api["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "postgres-data:/var/lib/postgresql/data" in postgres["volumes"] and "postgres-data" in compose["volumes"]
    assert (postgres["environment"]["POSTGRES_USER"], postgres["environment"]["POSTGRES_DB"]) == ("mammo", "mammo")
    assert "pg_isready" in postgres["healthcheck"]["test"]
    assert "install -d -o mammo -g mammo /var/lib/mammo" in re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())


def test_env_example_documents_every_variable_and_the_real_env_file_is_ignored():
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", COMPOSE.read_text())) - {"PWD"}
    example = (REPO / "deploy" / ".env.example").read_text()
    documented = set(re.findall(r"^#?([A-Z_][A-Z0-9_]*)=", example, flags=re.M))
    assert used <= documented, f"not in deploy/.env.example: {used - documented}"
    for line in example.splitlines():  # the example holds no secret
        if re.match(r"^(MAMMO_API_TOKEN|GRAFANA_ADMIN_PASSWORD)=", line):
            assert line.endswith("="), line
    ignored = subprocess.run(["git", "check-ignore", "-q", "deploy/.env"], cwd=REPO)
    assert ignored.returncode == 0, "deploy/.env (secrets) must be git-ignored"


def _docker_compose() -> list[str]:
    if shutil.which("docker") is None:
        pytest.skip("docker not installed (CI's workflow runs `docker compose config` itself)")
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("the docker compose plugin is not installed (CI's workflow runs `docker compose config`)")
    return ["docker", "compose", "-f", str(COMPOSE)]


def test_docker_compose_config_agrees(tmp_path):
    empty = tmp_path / "empty.env"  # instead of deploy/.env: a developer's own settings must not change the answer
    empty.write_text("")
    compose = [*_docker_compose(), "--env-file", str(empty)]
    bare = {k: v for k, v in os.environ.items() if k not in REQUIRED and not k.startswith(("MAMMO_", "GRAFANA_"))}
    refused = subprocess.run([*compose, "config", "--quiet"], env=bare, capture_output=True, text=True)
    assert refused.returncode != 0 and "MAMMO_API_TOKEN" in refused.stderr
    out = subprocess.run(
        [*compose, "config", "--format", "json"], env={**bare, **REQUIRED}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    rendered = json.loads(out.stdout)
    for name, service in rendered["services"].items():
        assert service.get("healthcheck", {}).get("test"), name
        for port in service.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", (name, port)
