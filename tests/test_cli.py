"""The ``mammo`` command: one entry point, the same options everywhere, clean errors, installable anywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mammo_utils.cli import COMMANDS, main

REPO = Path(__file__).resolve().parent.parent


def _run(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mammo_utils", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def test_help_lists_every_subcommand_and_module_entry_point_matches(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert all(name in text for name in COMMANDS)
    module = _run("--help")
    assert module.returncode == 0 and module.stdout.replace("__main__.py", "mammo") == text.replace(
        "__main__.py", "mammo"
    )


@pytest.mark.parametrize(
    "args, word",
    [
        (["train", "--set", "epochs=2.5"], "epochs must be int"),
        (["synth", "--patients", "-3"], "synthetic_patients must be >= 1"),
        (["preprocess", "--image-size", "big"], "image_size must look like"),
        (["config", "--profile", "huge"], "unknown profile"),
        (["config", "--data", "/nonexistent/rsna"], "does not exist"),
        (["config", "--set", "pooling=median"], "pooling must be one of"),
    ],
)
def test_bad_values_end_with_error_and_exit_2(args, word):
    proc = _run(*args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ") and word in proc.stderr and "Traceback" not in proc.stderr


def test_argparse_errors_are_exit_2_too():
    proc = _run("train", "--epochs", "3")  # not an option: fields go through --set
    assert proc.returncode == 2 and "error:" in proc.stderr


def test_config_json_uses_the_shared_options(tmp_path, synth_root):
    proc = _run(
        "config", "--data", str(synth_root), "--work", str(tmp_path / "w"), "--image-size", "64x32",
        "--set", "epochs=3", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    cfg = json.loads(proc.stdout)
    assert cfg["image_size"] == [64, 32] and cfg["epochs"] == 3
    assert cfg["work_dir"] == str(tmp_path / "w") and cfg["data_root"] == str(synth_root)


def test_synth_and_splits_json(tmp_path):
    out = tmp_path / "d"
    proc = _run("synth", "--out", str(out), "--patients", "10", "--image-size", "128x104", "--workers", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["patients"] == 10 and summary["images"] >= 40 and (out / "train.csv").is_file()
    proc = _run("splits", "--data", str(out), "--work", str(tmp_path / "w"), "--set", "n_folds=2", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["leakage"] == "none"


@pytest.mark.slow
def test_wheel_installs_and_runs_from_another_directory(tmp_path):
    """A non-editable install (no source checkout on the path) runs ``mammo synth`` and writes under the cwd."""
    import shutil

    source = tmp_path / "src"  # a copy, so the build leaves nothing in the checkout
    shutil.copytree(
        REPO, source, ignore=shutil.ignore_patterns(".venv", ".git", "data", "reports", "build", "*.egg-info")
    )
    target = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q", "--target", str(target)]
    build = subprocess.run([*pip, str(source)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-2000:]
    assert (target / "mammo_utils" / "cli.py").is_file() and (target / "bin" / "mammo").is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "MAMMO_HOME": "", "MAMMO_WORK": "", "MAMMO_DATA": ""}
    env = {k: v for k, v in env.items() if v != ""}
    proc = subprocess.run(
        [sys.executable, str(target / "bin" / "mammo"), "synth", "--out", "synth", "--patients", "4",
         "--image-size", "128x104", "--workers", "1", "--json"],
        capture_output=True, text=True, cwd=elsewhere, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (elsewhere / "synth" / "train.csv").is_file()
    where = subprocess.run(
        [sys.executable, "-c", "import mammo_utils, sys; print(mammo_utils.__file__)"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
    )
    assert where.stdout.startswith(str(target)), where.stdout  # the installed copy ran, not the checkout
    cfg = subprocess.run(
        [sys.executable, str(target / "bin" / "mammo"), "config", "--json"], capture_output=True, text=True,
        cwd=elsewhere, env=env,
    )  # fmt: skip
    assert json.loads(cfg.stdout)["work_dir"] == str(elsewhere.resolve() / "data" / "work")
