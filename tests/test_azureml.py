"""The Azure ML specs load and validate offline with azure-ai-ml (no credentials, network blocked), and say what a
reviewer needs: a GPU environment that builds from its own files, a two-worker TensorFlow job, a deployment pinned
to a released image with the service's own timeout and concurrency."""

from __future__ import annotations

import inspect
import json
import os
import re
import socket
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
AZURE = REPO / "deploy" / "azureml"


@pytest.fixture()
def offline(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture()
def ml(offline):
    return pytest.importorskip("azure.ai.ml", reason="azure-ai-ml not installed (pip install azure-ai-ml==1.35.0)")


def _pins(lines) -> dict[str, str]:
    """``name -> version`` of ``name[extras]==version`` lines (names normalised as pip does)."""
    pins = {}
    for line in lines:
        match = re.match(r"^\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([^\s#;]+)", line)
        if match:
            pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(3)
    return pins


def _conda_pip(conda: dict) -> list[str]:
    return next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict) and "pip" in d)


def test_specs_load_offline(ml):
    job = ml.load_job(AZURE / "train-job.yml")
    assert job.type == "command" and "deploy/azureml/train.sh" in job.command
    assert set(job.inputs) == {"rsna", "run_name"} and set(job.outputs) == {"work"}
    endpoint = ml.load_online_endpoint(AZURE / "endpoint.yml")
    assert endpoint.name == "mammo-api" and endpoint.auth_mode == "key"
    deployment = ml.load_online_deployment(AZURE / "deployment.yml")
    assert deployment.endpoint_name == "mammo-api"
    assert deployment.environment.inference_config.readiness_route.path == "/ready"
    environment = ml.load_environment(AZURE / "environment.yml")
    assert environment.name == "mammo-train-gpu"


def test_training_job_runs_tensorflow_workers_on_the_registered_gpu_environment(ml):
    job = ml.load_job(AZURE / "train-job.yml")
    environment = ml.load_environment(AZURE / "environment.yml")
    assert job.distribution.type == "tensorflow"
    assert job.distribution.worker_count >= 2
    assert job.resources.instance_count == job.distribution.worker_count  # one worker per node
    assert job.environment == f"{environment.name}:{environment.version}"
    assert job.compute == "gpu-cluster"


def test_gpu_environment_builds_from_its_own_files(ml):
    environment = ml.load_environment(AZURE / "environment.yml")
    conda = environment.conda_file
    pip = _conda_pip(conda)
    assert not any(line.strip().startswith(("-r", "--requirement", "-e", "-c")) for line in pip), pip
    assert "python=3.11" in conda["dependencies"]
    requirements = (REPO / "requirements.txt").read_text().splitlines()
    tf_version = _pins(requirements)["tensorflow-cpu"]
    assert f"tensorflow[and-cuda]=={tf_version}" in pip  # CUDA TensorFlow at the project's version
    assert not any(line.startswith("tensorflow-cpu") for line in pip)
    assert "azureml-mlflow" in _pins(pip)
    # the base image is pinned (a dated tag), never latest
    image = environment.image
    assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image


def test_gpu_environment_pins_agree_with_requirements_txt():
    conda = yaml.safe_load((AZURE / "conda.yml").read_text())
    pins, locked = _pins(_conda_pip(conda)), _pins((REPO / "requirements.txt").read_text().splitlines())
    # mlflow-skinny stands in for mlflow: azureml-mlflow accepts mlflow-skinny <= 3.15.0 (conda.yml says why)
    exceptions = {"tensorflow", "mlflow-skinny", "azureml-mlflow"}
    differ = {name: (pins[name], locked.get(name)) for name in set(pins) - exceptions if pins[name] != locked.get(name)}
    assert not differ, f"conda.yml and requirements.txt disagree (conda, requirements): {differ}"
    assert pins["tensorflow"] == locked["tensorflow-cpu"]
    # what the job runs is there: training, export to ONNX/TFLite, DICOM decoders, tracking
    needed = {"keras", "numpy", "pandas", "pydicom", "pylibjpeg", "tf2onnx", "onnxruntime", "ai-edge-litert"}
    assert needed <= set(pins)


def _service_limits() -> dict[str, int | float]:
    from mammo_utils.serving.api import ServiceSettings
    from mammo_utils.serving.client import ApiClient

    settings = ServiceSettings()
    return {
        "max_concurrency": settings.max_concurrency,
        "max_queue": settings.max_queue,
        "client_timeout_s": inspect.signature(ApiClient).parameters["timeout"].default,
    }


def test_deployment_pins_the_released_image_and_the_services_own_limits(ml):
    deployment = ml.load_online_deployment(AZURE / "deployment.yml")
    image = deployment.environment.image
    version = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), flags=re.M).group(1)
    assert image.endswith(f":v{version}"), f"{image}: the release tag v{version} (CI publishes that tag)"
    assert ":latest" not in image and deployment.environment.version == version
    limits = _service_limits()
    env = deployment.environment_variables
    # the limits the deployment sets are the service's defaults (and the image's ENV): one source of numbers
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    for key, field in (("MAMMO_MAX_CONCURRENCY", "max_concurrency"), ("MAMMO_MAX_QUEUE", "max_queue")):
        assert int(env[key]) == limits[field] and f"{key}={limits[field]}" in dockerfile
    settings = deployment.request_settings
    assert settings.max_concurrent_requests_per_instance == limits["max_concurrency"] + limits["max_queue"]
    assert settings.request_timeout_ms == int(limits["client_timeout_s"] * 1000)
    assert 5000 < settings.request_timeout_ms <= 180000  # above Azure's default, within its maximum
    # without a token the API must be told that auth is off; the endpoint's key guards the route instead
    if env.get("MAMMO_AUTH") == "off":
        assert ml.load_online_endpoint(AZURE / "endpoint.yml").auth_mode in ("key", "aml_token")
    assert deployment.liveness_probe.initial_delay >= 60  # the model loads and warms up first


def _run_train_script(tmp_path: Path, tf_config: dict | None) -> list[list[str]]:
    """Runs train.sh with a stand-in `mammo` that records its arguments; returns the recorded calls."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.jsonl"
    bin_dir.mkdir(parents=True)
    stub = bin_dir / "mammo"
    stub.write_text(
        "#!/usr/bin/env python3\nimport json, os, sys\n"
        "open(os.environ['CALLS'], 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
    )
    stub.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", CALLS=str(log), TMPDIR=str(tmp_path))
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    cmd = ["bash", str(AZURE / "train.sh"), "/data", "/outputs/work", "run1"]
    subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_only_the_chief_writes_the_shared_output_and_exports(tmp_path):
    cluster = {"worker": ["node0:2222", "node1:2222"]}
    chief = _run_train_script(tmp_path / "w0", {"cluster": cluster, "task": {"type": "worker", "index": 0}})
    assert [c[0] for c in chief] == ["train", "export"]
    assert chief[0][chief[0].index("--work") + 1] == "/outputs/work" and "--no-track" not in chief[0]
    assert chief[1][chief[1].index("--out") + 1] == "/outputs/work/export/champion"
    other = _run_train_script(tmp_path / "w1", {"cluster": cluster, "task": {"type": "worker", "index": 1}})
    assert [c[0] for c in other] == ["train"] and "--no-track" in other[0]
    assert other[0][other[0].index("--work") + 1].startswith(str(tmp_path / "w1"))
    alone = _run_train_script(tmp_path / "one", None)  # no TF_CONFIG: a single worker is the chief
    assert [c[0] for c in alone] == ["train", "export"]


def test_the_deployment_registers_the_resolved_version_never_the_pointer(ml, tmp_path):
    """The template names no symlink; the spec written for a release names the immutable version folder."""
    from mammo_utils.export import release

    template = yaml.safe_load((AZURE / "deployment.yml").read_text())
    assert "champion" not in template["model"]["path"]
    assert template["model"]["path"].endswith(f"/versions/{release.VERSION_PLACEHOLDER}")
    assert template["environment_variables"]["MAMMO_MODEL_DIR"].endswith(f"/{release.VERSION_PLACEHOLDER}")

    root = tmp_path / "export"
    version = root / release.VERSIONS / "3f2a9c1e0b7d"
    version.mkdir(parents=True)
    (version / "model.json").write_text('{"name": "mammo-cancer-classifier"}')
    pointer = root / release.CHAMPION
    release.switch_pointer(pointer, version)
    out = release.write_azure_deployment(AZURE / "deployment.yml", pointer, tmp_path / "deployment.release.yml")
    deployment = ml.load_online_deployment(out)
    path = Path(deployment.model.path)
    assert path == version.resolve() and path.is_dir() and not path.is_symlink()
    assert deployment.model.tags["release"] == version.name
    env = deployment.environment_variables
    assert env["MAMMO_MODEL_DIR"] == f"/var/azureml-app/azureml-models/mammo-cancer-classifier/1/{version.name}"
    assert env["MAMMO_RUNTIME"] == "onnx" and deployment.request_settings.request_timeout_ms == 60000  # the rest kept
    with pytest.raises(release.ExportError, match="no export there"):
        release.azure_deployment(AZURE / "deployment.yml", tmp_path / "nothing")
