"""The ``mammo`` command: one entry point, the same options everywhere, clean errors, installable anywhere."""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mammo_utils import cli
from mammo_utils.cli import COMMANDS, COMMON_OPTIONS, WITHOUT_COMMON, Number, build_parser, main

REPO = Path(__file__).resolve().parent.parent


def _run(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mammo_utils", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def test_help_lists_every_subcommand_and_module_entry_point_matches(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert all(name in text for name in COMMANDS)
    module = _run("--help")
    assert module.returncode == 0 and module.stdout.replace("__main__.py", "mammo") == text.replace(
        "__main__.py", "mammo"
    )


@pytest.mark.parametrize(
    "args, word",
    [
        (["train", "--set", "epochs=2.5"], "--set epochs=2.5: epochs must be int"),
        (["train", "--set", "batch_size=0"], "--set batch_size=0: batch_size must be ≥ 1, got 0"),
        (["synth", "--patients", "-3"], "--patients must be ≥ 1"),
        (["preprocess", "--image-size", "big"], "--image-size must be HxW"),
        (["config", "--profile", "huge"], "unknown profile"),
        (["config", "--data", "/nonexistent/rsna"], "does not exist"),
        (["config", "--set", "pooling=median"], "pooling must be one of"),
        (["export", "--model", "m", "--out", "o", "--calibration", "0"], "error: --calibration must be ≥ 1"),
    ],
)
def test_bad_values_end_with_error_and_exit_2(args, word):
    proc = _run(*args)
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "error: " in last and word in last and "Traceback" not in proc.stderr, proc.stderr


# --- every numeric flag of every sub-command, found in the parser --------------------------------------------


def _subcommands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(words, parser) of every runnable sub-command, nested ones (``monitor drift``) included."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        yield path, parser
    for group in groups:
        for name, child in group.choices.items():
            yield from _subcommands(child, (*path, name))


SUBCOMMANDS = dict(_subcommands(build_parser()))
NUMERIC_FLAGS = [
    (words, action.option_strings[0], action.type)
    for words, parser in SUBCOMMANDS.items()
    for action in parser._actions
    if isinstance(action.type, Number)
]


def _bad_values(number: Number) -> list[str]:
    """Text that must be refused: not a number, NaN, infinities, just outside each bound, a fraction for ints."""
    bad = ["abc", "", "nan", "inf", "-inf"]
    bounds, step = number.bounds, 1 if number.kind is int else 0.5
    if bounds.low is not None:
        bad.append(repr(bounds.low if bounds.low_open else bounds.low - step))
        bad.append("-1" if bounds.low >= 0 else repr(bounds.low - 100))
    if bounds.high is not None:
        bad.append(repr(bounds.high if bounds.high_open else bounds.high + step))
    if number.kind is int:
        bad.append("1.5")
    return list(dict.fromkeys(bad))


def test_every_numeric_flag_is_checked_at_parse_time():
    """No flag takes a bare int/float: each goes through a range-checked type, so the tests below cover it."""
    plain = [
        (" ".join(words), a.option_strings or a.dest)
        for words, parser in SUBCOMMANDS.items()
        for a in parser._actions
        if a.type in (int, float)
    ]
    assert not plain, f"flags with an unchecked int/float type (use a cli.Number): {plain}"
    flags = {(" ".join(w), f) for w, f, _ in NUMERIC_FLAGS}
    assert {("export", "--calibration"), ("serve", "--port"), ("monitor drift", "--intensity-scale")} <= flags
    assert len(NUMERIC_FLAGS) >= 25


@pytest.mark.parametrize(
    "words, flag, value",
    [(w, f, v) for w, f, number in NUMERIC_FLAGS for v in _bad_values(number)],
    ids=lambda x: " ".join(x) if isinstance(x, tuple) else str(x),
)
def test_bad_numeric_values_name_the_flag_and_exit_2(words, flag, value, capsys):
    # required arguments are missing: the bad value must stop it first
    assert main([*words, f"{flag}={value}"]) == 2
    err = capsys.readouterr().err
    assert f"error: {flag} must be " in err and f"got {value!r}" in err, err


def test_values_inside_each_range_are_accepted():
    for words, flag, number in NUMERIC_FLAGS:
        bounds = number.bounds
        low = bounds.low if bounds.low is not None else 0
        inside = low + 1 if bounds.low_open or number.kind is int else low
        if bounds.high is not None and inside >= bounds.high:
            inside = (bounds.low + bounds.high) / 2
        text = str(int(inside)) if number.kind is int else str(float(inside))
        value = number(text)
        assert value == number.kind(text) and not math.isnan(value), (words, flag, text)


def test_set_is_checked_against_the_fields_range_at_parse_time(capsys):
    for item, word in [
        ("dropout=1", "dropout must be in [0, 1), got 1.0"),
        ("test_size=nan", "test_size must be in (0, 1)"),
        ("pos_ratio=0", "pos_ratio must be in (0, 1) or none"),
        ("seed=-1", "seed must be ≥ 0"),
        ("image_size=0x5", "image_size must be two positive integers"),
    ]:
        assert main(["train", "--set", item]) == 2
        assert f"error: --set {item}: {word}" in capsys.readouterr().err


def test_flags_that_set_a_config_field_share_its_range():
    for words, flag, field in [
        (("synth",), "--patients", "synthetic_patients"),
        (("synth",), "--prevalence", "synthetic_prevalence"),
        (("preprocess",), "--workers", "workers"),
        (("download",), "--seed", "seed"),
    ]:
        action = next(a for a in SUBCOMMANDS[words]._actions if flag in a.option_strings)
        assert action.type.bounds == cli.FIELD_BOUNDS[field], (words, flag)


# --- the environment of `mammo serve` -----------------------------------------------------------------------


@pytest.fixture()
def own_environ():
    """The commands run in-process here write MAMMO_* variables for the service they start: undo them after."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


#: A bad value for every MAMMO_* variable the service reads, and words of the error it must give.
BAD_SERVICE_ENV = {
    "MAMMO_MAX_UPLOAD_MB": [("lots", "must be a positive number of megabytes, got 'lots'"), ("0", "positive")],
    "MAMMO_MAX_CONCURRENCY": [("0", "≥ 1, got '0'"), ("2.5", "whole number")],
    "MAMMO_MAX_QUEUE": [("-1", "≥ 0, got '-1'"), ("many", "whole number")],
    "MAMMO_DRIFT_WINDOW": [("0", "≥ 1"), ("nan", "whole number")],
    "MAMMO_DRIFT_MIN": [("abc", "whole number"), ("900", "must be ≤ MAMMO_DRIFT_WINDOW (500)")],
    "MAMMO_RUNTIME": [("tflite", "must be one of ['keras', 'savedmodel', 'onnx', 'tflite-fp16', 'tflite-int8']")],
    "MAMMO_API_TOKEN": [(" secret", "must not start or end with white space")],
    "MAMMO_STORE_URL": [
        ("mysql://mammo@db:3306/mammo", "must be sqlite:///PATH or postgresql://USER@HOST:PORT/DB: unknown scheme"),
        ("postgresql://mammo@db", "names no host, port or database"),
        ("sqlite:///.", "is a folder"),
    ],
    "MAMMO_FEEDBACK_DB": [(".", "is a folder")],  # the old name of a SQLite store file
    "MAMMO_MAX_PIXELS": [("0", "whole number of pixels ≥ 1, got '0'"), ("lots", "whole number of pixels")],
    "MAMMO_INFERENCE_TIMEOUT_S": [("0", "got '0'"), ("soon", "got 'soon'")],
    "MAMMO_KEEP_IMAGES": [("maybe", "must be on or off, got 'maybe'")],
    "MAMMO_WORK": [("/", "is a folder")],  # <MAMMO_WORK>/monitoring/feedback.db must not be a folder either
}
#: Read by the service, but any text is a valid value: the folder is checked by `--model` (same variable).
FREE_SERVICE_ENV = {"MAMMO_MODEL_DIR"}


def test_every_service_variable_has_a_bad_value_case():
    from mammo_utils.serving.api import settings

    read = set(settings.ENV.values()) | set(settings.LEGACY_ENV) | {"MAMMO_WORK"}  # MAMMO_WORK: the work folder
    assert read == set(BAD_SERVICE_ENV) | FREE_SERVICE_ENV, read ^ (set(BAD_SERVICE_ENV) | FREE_SERVICE_ENV)


@pytest.mark.parametrize(
    "variable, value, words",
    [(k, v, w) for k, cases in BAD_SERVICE_ENV.items() for v, w in cases],
    ids=lambda x: str(x)[:20],
)
@pytest.mark.usefixtures("own_environ")
def test_serve_checks_its_environment_before_starting(variable, value, words, tmp_path, monkeypatch, capsys):
    if variable == "MAMMO_WORK":
        (tmp_path / "monitoring" / "feedback.db").mkdir(parents=True)
        value = str(tmp_path)
    for name in set(BAD_SERVICE_ENV) - {variable}:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, value)
    monkeypatch.setattr(cli, "import_tensorflow", lambda: pytest.fail("TensorFlow imported before the check"))
    monkeypatch.chdir(tmp_path)
    assert main(["serve", "--model", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    name = "MAMMO_STORE_URL" if variable == "MAMMO_WORK" else variable
    assert err.startswith(f"error: {name} ") and words in err, err


@pytest.mark.usefixtures("own_environ")
def test_demo_checks_the_services_environment_before_starting_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MAMMO_MAX_QUEUE", "-1")
    assert main(["demo", "--model", str(tmp_path), "--check"]) == 2
    assert capsys.readouterr().err.startswith("error: MAMMO_MAX_QUEUE must be a whole number of waiting requests")


def test_serve_environment_error_through_the_module_entry_point(tmp_path):
    env = {**os.environ, "MAMMO_MAX_UPLOAD_MB": "lots"}
    proc = _run("serve", "--model", str(tmp_path), env=env)
    assert proc.returncode == 2
    assert proc.stderr == "error: MAMMO_MAX_UPLOAD_MB must be a positive number of megabytes, got 'lots'\n"


@pytest.mark.usefixtures("own_environ")
def test_serve_flags_become_the_services_environment(tmp_path, monkeypatch, capsys):
    import uvicorn

    from mammo_utils.serving.inference import Predictor

    for name in [*BAD_SERVICE_ENV, *FREE_SERVICE_ENV]:
        monkeypatch.delenv(name, raising=False)
    started = {}
    monkeypatch.setattr(cli, "import_tensorflow", lambda: None)
    monkeypatch.setattr(Predictor, "load", classmethod(lambda cls, path, runtime, **kw: started.update(load=runtime)))
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.update(kw))
    code = main(["serve", "--model", str(tmp_path), "--work", str(tmp_path / "w"), "--runtime", "keras", "--json"])
    assert code == 0 and started["load"] == "keras" and started["port"] == 8000
    summary = json.loads(capsys.readouterr().out)
    assert summary["store"] == f"sqlite:///{tmp_path / 'w' / 'monitoring' / 'feedback.db'}"
    assert (tmp_path / "w" / "monitoring" / "feedback.db").is_file()  # opened (and migrated) before uvicorn starts
    assert summary["runtime"] == "keras" and summary["auth"] is False
    assert os.environ["MAMMO_MODEL_DIR"] == str(tmp_path.resolve()) and os.environ["MAMMO_RUNTIME"] == "keras"


@pytest.mark.usefixtures("own_environ")
def test_app_takes_data_as_examples_and_prints_json(tmp_path, synth_root, monkeypatch, capsys):
    monkeypatch.delenv("MAMMO_EXAMPLES", raising=False)
    ran = {}
    monkeypatch.setattr(os, "execve", lambda exe, command, env: ran.update(command=command, env=env))
    assert main(["app", "--api", "http://127.0.0.1:9", "--data", str(synth_root), "--port", "8600", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary == {"url": "http://127.0.0.1:8600", "api": "http://127.0.0.1:9", "examples": str(synth_root)}
    assert ran["env"]["MAMMO_EXAMPLES"] == str(synth_root) and ran["env"]["MAMMO_API_URL"] == "http://127.0.0.1:9"
    assert main(["app", "--api", "localhost:8000"]) == 2
    assert "error: --api must be an http(s) URL" in capsys.readouterr().err


def test_download_takes_data_as_its_destination():
    parser = build_parser()
    assert parser.parse_args(["download", "--data", "d"]).out == "d"
    assert parser.parse_args(["download", "--out", "d", "--json"]).out == "d"


# --- the common options ----------------------------------------------------------------------------------------


def test_every_subcommand_takes_each_common_option_or_says_why_not():
    for words, parser in SUBCOMMANDS.items():
        taken = {s for a in parser._actions for s in a.option_strings} & set(COMMON_OPTIONS)
        lacking = set(WITHOUT_COMMON.get(words[0], {}))
        assert taken | lacking == set(COMMON_OPTIONS) and not taken & lacking, words
        if lacking:
            assert all(option in parser.format_help() for option in lacking), words  # the epilog names them


def test_readme_lists_the_missing_common_options_as_the_code_does():
    readme = (REPO / "README.md").read_text()
    rows = re.findall(r"^\| `mammo ([a-z]+)` \| `(--[a-z-]+)` \| (.+?) \|$", readme, re.M)
    assert {(c, o): why for c, o, why in rows} == {
        (c, o): why for c, options in WITHOUT_COMMON.items() for o, why in options.items()
    }


def test_serving_runtimes_are_the_export_folder_formats():
    from mammo_utils.constants import RUNTIMES
    from mammo_utils.export.runtime import FILES

    assert set(RUNTIMES) == set(FILES)


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
