"""The Azure ML specs load and validate offline with azure-ai-ml (no credentials, network blocked)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

AZURE = Path(__file__).resolve().parent.parent / "deploy" / "azureml"


@pytest.fixture()
def offline(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_specs_load_offline(offline):
    ml = pytest.importorskip("azure.ai.ml", reason="azure-ai-ml not installed (pip install azure-ai-ml==1.35.0)")
    job = ml.load_job(AZURE / "train-job.yml")
    assert job.type == "command" and "mammo train --profile full" in job.command
    assert set(job.inputs) == {"rsna"} and set(job.outputs) == {"work"}
    endpoint = ml.load_online_endpoint(AZURE / "endpoint.yml")
    assert endpoint.name == "mammo-api" and endpoint.auth_mode == "key"
    deployment = ml.load_online_deployment(AZURE / "deployment.yml")
    assert deployment.endpoint_name == "mammo-api"
    assert deployment.environment.inference_config.readiness_route.path == "/ready"
    environment = ml.load_environment(AZURE / "environment.yml")
    assert environment.name == "mammo-env"
