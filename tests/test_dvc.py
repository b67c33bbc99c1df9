"""`dvc repro` runs the small pipeline of dvc.yaml from a fresh clone (no data/work), its real artifacts are stage
outputs, the export stage releases the champion, and a second repro does nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent


def _commands(cmd: str) -> list[str]:
    return [part.strip() for part in cmd.split("&&")]


def test_stages_are_mammo_commands_with_params():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert list(stages) == ["synth", "preprocess", "splits", "train", "export"]
    for name, stage in stages.items():
        *setup, command = _commands(stage["cmd"])
        assert command.startswith("mammo "), name
        assert all(step.startswith("mkdir -p ") for step in setup), name  # a fresh clone has no data/work
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    assert params["profile"] == "small" and {"data", "train", "export"} <= set(params)


def test_the_real_artifacts_are_stage_outputs_and_export_releases_the_champion():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]

    def outs(name):
        return [next(iter(o)) if isinstance(o, dict) else o for o in stages[name].get("outs", [])]

    assert "data/work/cache" in outs("preprocess") and "data/work/splits" in outs("splits")
    assert {"data/work/cache", "data/work/splits"} <= set(stages["train"]["deps"])
    assert outs("export") == ["data/work/export"]
    assert "--out data/work/export/champion" in stages["export"]["cmd"]  # the folder compose and Azure serve
    assert (REPO / ".dvc" / "config").is_file()  # `dvc repro` works in a clone without `dvc init`


@pytest.mark.slow
@pytest.mark.timeout(1500)  # two `dvc repro` of the whole small pipeline (synth to export) from a fresh clone
def test_dvc_repro_from_a_fresh_clone(tmp_path):
    dvc = Path(sys.executable).with_name("dvc")
    if not dvc.exists():
        pytest.skip("dvc is not installed in this environment (requirements.txt pins it)")
    work = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{REPO}", str(work)], check=True)
    assert not (work / "data" / "work").exists()
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["data"].update(patients=12, cache_size="64x32")
    params["train"].update(image_size="64x32", epochs=1, finetune_epochs=0)
    params["export"].update(formats="onnx", calibration=8, max_auc_drop=1.0, max_flip_rate=1.0)
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAMMO_", "MLFLOW_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["PYTHONPATH"] = str(work)  # the clone's package, not the installed one

    def run(*args):
        out = subprocess.run([str(dvc), *args], cwd=work, env=env, capture_output=True, text=True, timeout=1200)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        return out.stdout + out.stderr

    run("remote", "add", "-d", "local", str(tmp_path / "remote"))
    first = run("repro")
    for stage in ("synth", "preprocess", "splits", "train", "export"):
        assert f"Running stage '{stage}'" in first
    pointer = work / "data" / "work" / "export" / "champion"
    assert pointer.is_symlink() and os.readlink(pointer).startswith("versions/")
    assert (pointer / "model.onnx").is_file() and (pointer / "model.json").is_file()
    second = run("repro")
    assert "Running stage" not in second and "up to date" in second
    run("push")
    assert any((tmp_path / "remote").rglob("*"))
