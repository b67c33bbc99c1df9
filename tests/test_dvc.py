"""`dvc repro` runs the small pipeline of dvc.yaml in a temporary copy, and a second repro does nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent


def test_stages_are_mammo_commands_with_params():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert list(stages) == ["synth", "preprocess", "splits", "train", "export"]
    for name, stage in stages.items():
        assert stage["cmd"].lstrip().startswith("mammo "), name
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    assert params["profile"] == "small" and {"data", "train", "export"} <= set(params)


@pytest.mark.slow
@pytest.mark.timeout(1200)  # two `dvc repro` of the whole small pipeline (synth to export): above the 600 s default
def test_dvc_repro_twice_on_the_small_pipeline(tmp_path):
    dvc = Path(sys.executable).with_name("dvc")
    if not dvc.exists():
        pytest.skip("dvc is not installed in this environment (requirements.txt pins it)")
    work = tmp_path / "project"
    work.mkdir()
    for name in ("dvc.yaml", "run_all.sh"):
        shutil.copy(REPO / name, work / name)
    shutil.copytree(REPO / "mammo_utils", work / "mammo_utils", ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"].update(patients=12, cache_size="64x32")
    params["train"].update(image_size="64x32", epochs=1, finetune_epochs=0)
    params["export"].update(formats="onnx", calibration=8, max_auc_drop=1.0)
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAMMO_", "MLFLOW_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    (work / "data" / "work").mkdir(parents=True)

    def run(*args):
        out = subprocess.run([str(dvc), *args], cwd=work, env=env, capture_output=True, text=True, timeout=900)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        return out.stdout + out.stderr

    run("init", "--no-scm")
    run("remote", "add", "-d", "local", str(tmp_path / "remote"))
    first = run("repro")
    for stage in ("synth", "preprocess", "splits", "train", "export"):
        assert f"Running stage '{stage}'" in first
    assert (work / "data" / "work" / "export" / "dvc_baseline" / "model.onnx").is_file()
    second = run("repro")
    assert "Running stage" not in second and "up to date" in second
    run("push")
    assert any((tmp_path / "remote").rglob("*"))
