# Size: one parser and one thin handler per sub-command, kept together so every command's options read alike.
"""The ``mammo`` command line: one entry point, one vocabulary, for every stage of the project.

Every subcommand takes the same options for the same things (defaults from the profile)::

    --profile small|full   run profile (small: CPU + embedded data; full: GPU recipe on real RSNA)
    --data DIR             RSNA-layout folder (default: MAMMO_DATA, Kaggle, Colab, else the embedded set)
    --work DIR             outputs: caches, splits, runs, MLflow store (default: MAMMO_WORK or ./data/work)
    --image-size HxW       model input (train), cache size (preprocess), DICOM size (synth)
    --set FIELD=VALUE      any configuration field (repeatable), typed and range-checked: ``--set epochs=2.5``
                           and ``--set batch_size=0`` are errors
    --json                 a machine-readable summary on stdout instead of text

except where an option means nothing for the command: :data:`WITHOUT_COMMON` lists those, with the reason
(each such command's ``--help`` prints it, and so does the README).

Bad values end with ``error: ...`` on stderr and exit status 2, never a traceback. Every numeric flag is
checked while the command line is parsed, by one of the value types below (:class:`Number`), so
``mammo export --calibration 0`` stops with ``error: --calibration must be ≥ 1 (an integer), got '0'``
before anything is loaded; ``mammo serve`` checks every ``MAMMO_*`` variable the service reads before
TensorFlow or uvicorn start. Argparse sub-parsers
(standard library) rather than Typer: no extra dependency, and each sub-command imports its heavy
libraries (TensorFlow, MLflow) only when it runs, so ``mammo --help`` answers in a fraction of a second.

Why one long module: the whole command surface (value types, common options, every sub-command's parser and
its handler of a few lines that call into the package) reads in one file, top to bottom, in that order.

Examples::

    mammo synth --out data/rsna-synthetic --patients 200
    mammo preprocess --image-size 256x128
    mammo train --set backbone=baseline --set epochs=2 --json
    mammo predict --model data/work/runs/04_baseline file1.dcm file2.dcm
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import typing
from collections.abc import Callable
from typing import Any

from . import __version__
from .config import (
    AT_LEAST_ONE,
    FIELD_BOUNDS,
    NON_NEGATIVE,
    OPEN_UNIT,
    POSITIVE,
    PROFILES,
    UNIT,
    Bounds,
    Config,
    ConfigError,
    get_config,
    locate_data_root,
    parse_overrides,
)
from .constants import DECISION_METRICS, EXPORT_FORMATS, MAX_AUC_DROP, MAX_FLIP_RATE, RUNTIMES, SERVED_RUNTIME, TUNERS
from .utils import import_tensorflow, parse_size, to_json

#: Sub-commands and their one-line help (the README names each of these; a test checks they exist).
COMMANDS: dict[str, str] = {
    "download": "download the real RSNA data (Kaggle API or a mirror URL) into the RSNA layout, resumably",
    "synth": "generate the embedded synthetic RSNA-layout dataset (DICOMs + train.csv + boxes.csv)",
    "preprocess": "build the resumable PNG cache (VOI, MONOCHROME1, breast crop, fit and pad)",
    "splits": "make (or reuse) the patient-grouped stratified splits and check them for leakage",
    "train": "train, evaluate and track one classifier (resumable, MLflow)",
    "tune": "hyper-parameter search with KerasTuner (Hyperband, Bayesian, random): resumable, tracked",
    "predict": "score DICOM/PNG files with a trained model through the one inference path",
    "detect": "train or evaluate the YOLOv8 lesion detector (mAP, FROC, Grad-CAM pointing game)",
    "export": "export a model to SavedModel/ONNX/TFLite (fp16, int8; optional pruning) with parity checks",
    "serve": "start the REST API (FastAPI on uvicorn) on an export folder or a trained model",
    "app": "start the Streamlit web app that talks to a running API",
    "monitor": "drift of a cache or of the service's log against an exported model's reference (PSI, KS)",
    "retrain": "check the retraining triggers; train, gate and promote a challenger when one fires",
    "demo": "start the API and the web app on the champion and print their URLs (Ctrl-C stops both)",
    "screens": "page images of the running API's web app and Prometheus (headless Chromium) for the report",
    "report": "build the final report, model card, slides, diagrams and API docs from the runs' artifacts",
    "config": "print the resolved configuration",
}


#: Sub-commands that run TensorFlow.
TENSORFLOW_COMMANDS = {"train", "tune", "detect", "report", "predict", "export", "serve", "monitor", "retrain"}


class CliError(ValueError):
    """A command-line value the user can fix."""


# --- value types: every flag's value is parsed and checked here, while the command line is parsed ----------


class Number:
    """An argparse ``type=``: a number of one kind inside a range, checked when the command line is parsed.

    A bad value (not a number, NaN, infinite, out of range) ends the command with
    ``error: --flag must be <range> (<kind>), got '<text>'`` and exit status 2: :class:`Parser` puts the flag's
    name in front. The tests find every numeric flag of every sub-command by this type, so a flag added with
    a plain ``type=int`` fails them.

    Args:
        kind: ``int`` or ``float``.
        bounds: The allowed range.
        name: Name in argparse's own messages.

    Example:
        >>> positive_int("3"), probability("0.5")
        (3, 0.5)
        >>> positive_int("0")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: must be ≥ 1 (an integer), got '0'
    """

    def __init__(self, kind: type, bounds: Bounds, name: str = "number"):
        if kind not in (int, float):
            raise ValueError(f"kind must be int or float, got {kind!r}")
        self.kind, self.bounds, self.__name__ = kind, bounds, name

    @classmethod
    def for_field(cls, field: str) -> "Number":
        """The type of a flag that sets a :class:`~mammo_utils.config.Config` field: the field's kind and range."""
        hint = typing.get_type_hints(Config)[field]
        kind = next(a for a in (*typing.get_args(hint), hint) if a in (int, float))
        return cls(kind, FIELD_BOUNDS[field], field)

    def describe(self) -> str:
        """``≥ 1 (an integer)``, ``in [0, 1] (a number)``: what the flag's value must be."""
        return f"{self.bounds.describe()} ({'an integer' if self.kind is int else 'a number'})"

    def __call__(self, text: str) -> int | float:
        try:
            value = self.kind(text)
        except ValueError:
            value = None
        if value is None or not self.bounds.contains(value):
            raise argparse.ArgumentTypeError(f"must be {self.describe()}, got {text!r}")
        return value

    def __repr__(self) -> str:
        return f"Number({self.kind.__name__}, {self.bounds.describe()})"


positive_int = Number(int, AT_LEAST_ONE, "positive_int")
positive_float = Number(float, POSITIVE, "positive_float")
non_negative_float = Number(float, NON_NEGATIVE, "non_negative_float")
probability = Number(float, UNIT, "probability")
sparsity = Number(float, OPEN_UNIT, "sparsity")
port = Number(int, Bounds(1, 65535), "port")
port_or_free = Number(int, Bounds(0, 65535), "port_or_free")  # 0: the command picks a free port


def removed_flag(flag: str, why: str) -> typing.Callable[[str], typing.NoReturn]:
    """An argparse ``type=`` for a flag that no longer exists: any value stops the command (exit 2) saying why.

    Args:
        flag: The removed flag.
        why: What replaced it.

    Returns:
        The type, which raises ``argparse.ArgumentTypeError("<flag> was removed: <why>")``.
    """

    def refuse(text: str) -> typing.NoReturn:
        raise argparse.ArgumentTypeError(f"{flag} was removed: {why}")

    refuse.__name__ = f"removed {flag}"
    return refuse


#: ``mammo retrain``'s promotion-gate flags: (flag, the Config field it sets, metavar, help).
GATE_FLAGS = (
    ("--auc-margin", "gate_auc_margin", "AUC", "largest AUC loss the 95%% interval may show (non-inferiority)"),
    ("--sensitivity-margin", "gate_sensitivity_margin", "P", "largest sensitivity loss the interval may show"),
    ("--min-cancers", "gate_min_cancers", "N", "fewest cancer breasts in the gate data for a decision"),
    ("--subgroup-min-cancers", "gate_subgroup_min_cancers", "N", "fewest cancer breasts to check a site/machine"),
    ("--gate-resamples", "gate_resamples", "N", "paired patient-bootstrap resamples"),
    ("--gate-fraction", "gate_fraction", "SHARE", "share of the test patients reserved for the gate"),
)
MARGIN_REMOVED = (
    "it was the validation AUC a challenger had to gain; the gate is now non-inferiority on the gate split: "
    "use --auc-margin AUC (the largest AUC loss the 95% interval's lower bound may show, default 0.02)"
)


def profile(text: str) -> str:
    """``--profile``: one of the run profiles in :data:`~mammo_utils.config.PROFILES`."""
    if text not in PROFILES:
        raise argparse.ArgumentTypeError(f"must be one of {sorted(PROFILES)}, got {text!r} (unknown profile)")
    return text


def image_size(text: str) -> str:
    """``--image-size``: ``HxW`` with two positive integers (the text is returned; the config parses it)."""
    try:
        parse_size(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be HxW, two positive integers like 256x128, got {text!r}") from None
    return text


def config_override(text: str) -> str:
    """``--set``: one ``FIELD=VALUE``, typed and checked against the field's range or choices (text returned)."""
    try:
        parse_overrides([text])
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


class Parser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose value errors name the flag first: ``error: --calibration must be ≥ 1``.

    Argparse words a rejected value ``argument --calibration: must be ...``; the value types above give the
    ``must be ...`` part. Everything else (unknown options, missing arguments) keeps argparse's wording; the
    exit status stays 2.
    """

    def error(self, message: str) -> typing.NoReturn:
        found = re.match(r"argument (\S+): (.*)", message, re.S)
        if found:
            flag, text = found.group(1).split("/")[0], found.group(2)
            if text.startswith(flag):
                message = text
            elif text.startswith("must be"):
                message = f"{flag} {text}"
        super().error(message)


# --- the common options --------------------------------------------------------------------------------------

#: The options every sub-command takes for the same things, in this order (the README lists them).
COMMON_OPTIONS: dict[str, dict[str, Any]] = {
    "--profile": {"default": "small", "type": profile, "metavar": "|".join(PROFILES), "help": "run profile"},
    "--data": {"default": None, "metavar": "DIR", "help": "RSNA-layout folder (default: auto-detected)"},
    "--work": {"default": None, "metavar": "DIR", "help": "output folder (default: MAMMO_WORK or ./data/work)"},
    "--image-size": {"default": None, "type": image_size, "metavar": "HxW", "help": "image size (meaning per command)"},
    "--set": {
        "action": "append",
        "default": [],
        "type": config_override,
        "metavar": "FIELD=VALUE",
        "help": "any config field (repeatable; typed and range-checked)",
    },
    "--json": {"action": "store_true", "help": "print a JSON summary on stdout"},
}

#: Sub-commands that lack some common options, and why: printed by their ``--help`` and in the README's table
#: (a test keeps the two the same). Every other sub-command takes all of :data:`COMMON_OPTIONS`.
WITHOUT_COMMON: dict[str, dict[str, str]] = {
    "download": {
        "--profile": "no profile setting applies to fetching files",
        "--work": "it writes only into the data folder it fills",
        "--image-size": "images are stored as published (`mammo preprocess` sizes them)",
        "--set": "it reads no configuration field",
    },
    "serve": {
        "--profile": "the model folder fixes the model's settings, and `MAMMO_*` variables the service's",
        "--data": "it scores uploads and reads no dataset",
        "--image-size": "the model folder fixes the input size",
        "--set": "it reads no configuration field (the service's settings are `MAMMO_*` variables)",
    },
    "app": {
        "--profile": "it only talks to the API, which holds the model",
        "--work": "it writes nothing (the API stores predictions and feedback)",
        "--image-size": "the API's model fixes the input size",
        "--set": "it reads no configuration field",
    },
}


def _common(parser: argparse.ArgumentParser, command: str, **changes: dict[str, Any]) -> None:
    """Add the common options a sub-command takes (all but its :data:`WITHOUT_COMMON` entries).

    Args:
        parser: The sub-command's parser.
        command: Its name (the key of :data:`WITHOUT_COMMON`).
        **changes: Per option (``data=``, ``work=``...), keyword arguments replacing the defaults for this
            command (``aliases`` adds more option strings).
    """
    lacking = WITHOUT_COMMON.get(command, {})
    for option, spec in COMMON_OPTIONS.items():
        if option in lacking:
            continue
        spec = {**spec, **changes.get(option.lstrip("-").replace("-", "_"), {})}
        parser.add_argument(option, *spec.pop("aliases", ()), **spec)
    if lacking:
        reasons = "; ".join(f"{option}: {why}" for option, why in lacking.items())
        parser.epilog = f"Common options this command does without: {reasons}."


#: ``--store`` of serve, retrain and monitor: one setting names the prediction store for all three.
STORE_HELP = (
    "prediction store: sqlite:///PATH or postgresql://USER@HOST:PORT/DB (default: MAMMO_STORE_URL, else "
    "sqlite:///<work>/monitoring/feedback.db); give a PostgreSQL password in PGPASSWORD, not in the URL"
)


def build_parser() -> argparse.ArgumentParser:
    """The ``mammo`` argument parser with every sub-command.

    Returns:
        The parser (each sub-parser sets ``handler``, and ``precheck`` where a command checks more before its
        heavy imports).
    """
    parser = Parser(
        prog="mammo",
        description="Screening-mammography breast-cancer pipeline (RSNA layout, Keras 3).",
        epilog="`python -m mammo_utils` runs the same command.",
    )
    parser.add_argument("--version", action="version", version=f"mammo_utils {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("download", help=COMMANDS["download"], description=COMMANDS["download"])
    what = "destination RSNA-layout folder (what the other commands take as --data)"
    _common(p, "download", data={"aliases": ("--out",), "dest": "out", "required": True, "help": what})
    p.add_argument("--source", default="kaggle", choices=["kaggle", "url"], help="Kaggle API or a mirror")
    p.add_argument("--subset", type=positive_int, default=None, metavar="N", help="only N patients (all their images)")
    p.add_argument("--url", default=None, help="mirror base URL (with --source url)")
    p.add_argument("--seed", type=Number.for_field("seed"), default=0, help="seed of the patient subset")
    p.set_defaults(handler=_download)

    p = sub.add_parser("synth", help=COMMANDS["synth"], description=COMMANDS["synth"])
    _common(p, "synth")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default: the embedded dataset's)")
    p.add_argument(
        "--patients", type=Number.for_field("synthetic_patients"), default=None, help="patients (default: profile's)"
    )
    p.add_argument(
        "--prevalence",
        type=Number.for_field("synthetic_prevalence"),
        default=None,
        help="share of cancer breasts (RSNA: 0.021)",
    )
    p.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1, help="worker processes")
    p.set_defaults(handler=_synth)

    p = sub.add_parser("preprocess", help=COMMANDS["preprocess"], description=COMMANDS["preprocess"])
    _common(p, "preprocess")
    what = "worker processes (default: the profile's)"
    p.add_argument("--workers", type=Number.for_field("workers"), default=None, help=what)
    p.set_defaults(handler=_preprocess)

    p = sub.add_parser("splits", help=COMMANDS["splits"], description=COMMANDS["splits"])
    _common(p, "splits")
    p.set_defaults(handler=_splits)

    p = sub.add_parser("train", help=COMMANDS["train"], description=COMMANDS["train"])
    _common(p, "train")
    p.add_argument("--run-name", default=None, help="run folder / MLflow run name (rerunning it resumes)")
    p.add_argument("--restart", action="store_true", help="start the run over instead of resuming")
    p.add_argument("--no-track", action="store_true", help="do not log to MLflow")
    p.add_argument("--params", default=None, metavar="FILE", help="best-parameters file of `mammo tune` (JSON/YAML)")
    p.add_argument("--challenger", action="store_true", help="register without moving the champion alias")
    p.set_defaults(handler=_train)

    p = sub.add_parser("tune", help=COMMANDS["tune"], description=COMMANDS["tune"])
    _common(p, "tune")
    p.add_argument("--tuner", default=TUNERS[0], choices=TUNERS)
    p.add_argument("--max-trials", type=positive_int, default=10, help="trials at most")
    p.add_argument("--epochs", type=positive_int, default=3, help="epochs per trial (Hyperband: the largest budget)")
    what = "no new trial after MIN minutes"
    p.add_argument("--time-budget", type=positive_float, default=None, metavar="MIN", help=what)
    p.add_argument("--backbones", default=None, help="comma-separated backbones to search (default: baseline)")
    p.add_argument("--no-track", action="store_true", help="do not log to MLflow")
    what = "criterion that will decide tuned vs default, fixed in the search folder before the first trial"
    p.add_argument("--decision-metric", default=None, choices=DECISION_METRICS, help=what)
    p.set_defaults(handler=_tune)

    p = sub.add_parser("predict", help=COMMANDS["predict"], description=COMMANDS["predict"])
    _common(p, "predict")
    p.add_argument("--model", required=True, metavar="REF", help="export/run folder, .keras file or models:/NAME@ALIAS")
    p.add_argument("files", nargs="+", help="DICOM or PNG/JPEG files")
    p.set_defaults(handler=_predict)

    p = sub.add_parser("detect", help=COMMANDS["detect"], description=COMMANDS["detect"])
    p.add_argument("action", choices=["train", "evaluate"], help="train (or reuse) the detector, or score it on test")
    _common(p, "detect")
    what = "evaluate: classifier whose Grad-CAM is scored too (.keras, run/export folder, models:/)"
    p.add_argument("--classifier", default=None, metavar="REF", help=what)
    p.add_argument("--force", action="store_true", help="train: retrain even when this detector exists")
    p.add_argument("--no-track", action="store_true", help="train: do not log to MLflow")
    p.set_defaults(handler=_detect)

    p = sub.add_parser("export", help=COMMANDS["export"], description=COMMANDS["export"])
    _common(p, "export")
    p.add_argument("--model", required=True, metavar="REF", help=".keras file, run folder or models:/name@alias")
    p.add_argument("--out", required=True, metavar="DIR", help="export folder (model.json + formats)")
    p.add_argument("--formats", default=",".join(EXPORT_FORMATS), help="comma-separated subset of the formats")
    what = "training images calibrating int8"
    p.add_argument("--calibration", type=positive_int, default=64, metavar="N", help=what)
    what = "export gate: largest validation breast AUC a TFLite file may lose"
    p.add_argument("--max-auc-drop", type=probability, default=MAX_AUC_DROP, metavar="AUC", help=what)
    what = "export gate: largest share of validation breast decisions a TFLite file may flip"
    p.add_argument("--max-flip-rate", type=probability, default=MAX_FLIP_RATE, metavar="RATE", help=what)
    what = "prune to this sparsity first, in (0, 1)"
    p.add_argument("--prune", type=sparsity, default=None, metavar="SPARSITY", help=what)
    p.add_argument("--prune-epochs", type=positive_int, default=3, help="fine-tuning epochs while pruning")
    p.add_argument(
        "--detector", default=None, metavar="DIR", help="bundle this lesion detector (served with the model)"
    )
    p.add_argument("--skip-refused", action="store_true", help="ship the formats that pass; record the refused ones")
    what = "then write the Azure ML deployment of the version --out resolves to (deploy/azureml/deployment.yml filled)"
    p.add_argument("--azure-spec", default=None, metavar="FILE", help=what)
    p.set_defaults(handler=_export)

    p = sub.add_parser("serve", help=COMMANDS["serve"], description=COMMANDS["serve"])
    what = "work folder: the default prediction store is <work>/monitoring/feedback.db unless --store or "
    _common(p, "serve", work={"help": what + "MAMMO_STORE_URL names one (default: MAMMO_WORK or data/work)"})
    p.add_argument("--store", default=None, metavar="URL", help=STORE_HELP)
    p.add_argument(
        "--model",
        default=os.environ.get("MAMMO_MODEL_DIR"),
        metavar="REF",
        help="export/run folder or models:/NAME@ALIAS (default: MAMMO_MODEL_DIR)",
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (0.0.0.0 in a container)")
    p.add_argument("--port", type=port, default=8000)
    p.add_argument("--workers", type=positive_int, default=1, help="uvicorn worker processes (each loads the model)")
    what = f"export format that scores (default: MAMMO_RUNTIME or {SERVED_RUNTIME})"
    p.add_argument("--runtime", default=None, choices=RUNTIMES, help=what)
    p.set_defaults(handler=_serve, precheck=_serve_environment)

    p = sub.add_parser("app", help=COMMANDS["app"], description=COMMANDS["app"])
    what = "offer this RSNA-layout folder's DICOMs as examples (default: MAMMO_EXAMPLES, else none)"
    _common(p, "app", data={"help": what})
    p.add_argument("--api", default=None, metavar="URL", help="API base URL (default: MAMMO_API_URL or :8000)")
    p.add_argument("--host", default="127.0.0.1", help="bind address")
    p.add_argument("--port", type=port, default=8501)
    p.set_defaults(handler=_app, precheck=_app_environment)

    p = sub.add_parser("monitor", help=COMMANDS["monitor"], description=COMMANDS["monitor"])
    monitor = p.add_subparsers(dest="monitor_command", metavar="CHECK", required=True)
    p = monitor.add_parser("drift", help="PSI / KS per feature and for the scores, with the documented thresholds")
    _common(p, "monitor")
    p.add_argument("--reference", required=True, metavar="DIR", help="export folder with reference.json")
    what = "a cache folder (default: the served predictions in the store, see --store)"
    p.add_argument("--current", default=None, metavar="PATH", help=what)
    p.add_argument("--store", default=None, metavar="URL", help=STORE_HELP)
    p.add_argument("--split", default=None, choices=["test", "cv"], help="one split of a cache (default: all)")
    what = "what-if: scale cached intensities"
    p.add_argument("--intensity-scale", type=positive_float, default=1.0, metavar="FACTOR", help=what)
    p.set_defaults(handler=_monitor_drift)

    p = sub.add_parser("retrain", help=COMMANDS["retrain"], description=COMMANDS["retrain"])
    _common(p, "retrain")
    p.add_argument(
        "--model", default=None, metavar="DIR", help="deployed export folder (default <work>/export/champion)"
    )
    p.add_argument("--store", default=None, metavar="URL", help=STORE_HELP)
    p.add_argument("--check", action="store_true", help="only report the triggers")
    p.add_argument("--force", action="store_true", help="retrain even when no trigger fires")
    what = "train the challenger on the dataset alone, without the store's labelled images"
    p.add_argument("--no-feedback", action="store_true", help=what)
    what = "retrain a model older than this (0: whatever its age)"
    p.add_argument("--max-age-days", type=non_negative_float, default=None, metavar="DAYS", help=what)
    what = "retrain when a feature's PSI exceeds this"
    p.add_argument("--max-psi", type=positive_float, default=None, metavar="PSI", help=what)
    what = "retrain when feedback sensitivity falls below this"
    p.add_argument("--min-sensitivity", type=probability, default=None, metavar="P", help=what)
    what = "retrain when this many new labels arrived"
    p.add_argument("--new-labels", type=positive_int, default=None, metavar="N", help=what)
    for flag, field, metavar, what in GATE_FLAGS:
        p.add_argument(flag, type=Number.for_field(field), default=None, metavar=metavar, help=f"gate: {what}")
    p.add_argument("--margin", type=removed_flag("--margin", MARGIN_REMOVED), default=None, help=argparse.SUPPRESS)
    p.set_defaults(handler=_retrain)

    p = sub.add_parser("demo", help=COMMANDS["demo"], description=COMMANDS["demo"])
    _common(p, "demo")
    p.add_argument("--model", default=None, metavar="DIR", help="export folder (default <work>/export/champion)")
    p.add_argument("--api-port", type=port_or_free, default=8000, help="API port (0: a free one)")
    p.add_argument("--app-port", type=port_or_free, default=8501, help="web app port (0: a free one)")
    what = "seconds to run (default: until Ctrl-C)"
    p.add_argument("--duration", type=positive_float, default=None, metavar="S", help=what)
    p.add_argument("--check", action="store_true", help="stop as soon as both services answer (smoke test)")
    p.set_defaults(handler=_demo, precheck=_service_settings)

    p = sub.add_parser("screens", help=COMMANDS["screens"], description=COMMANDS["screens"])
    _common(p, "screens")
    p.add_argument("--model", default=None, metavar="DIR", help="export folder (default <work>/export/champion)")
    p.add_argument("--out", default=None, metavar="DIR", help="figures folder (default <project>/reports/figures)")
    what = "DICOM uploaded through the API and the web app (default: the data root's first train image)"
    p.add_argument("--dicom", default=None, metavar="FILE", help=what)
    p.set_defaults(handler=_screens)

    p = sub.add_parser("report", help=COMMANDS["report"], description=COMMANDS["report"])
    _common(p, "report")
    p.add_argument("--model", default=None, metavar="DIR", help="export folder (default <work>/export/champion)")
    p.add_argument("--out", default=None, metavar="DIR", help="reports folder (default <project>/reports)")
    p.add_argument("--no-pdf", action="store_true", help="skip printing the report to PDF")
    what = "refuse to build when a cited benchmark or screenshot is from another build (default: mark it)"
    p.add_argument("--strict", action="store_true", help=what)
    p.set_defaults(handler=_report)

    p = sub.add_parser("config", help=COMMANDS["config"], description=COMMANDS["config"])
    _common(p, "config")
    p.set_defaults(handler=_config)
    return parser


def config_from_args(
    args: argparse.Namespace, size_field: str | tuple[str, ...] = "image_size", **extra: Any
) -> Config:
    """The configuration a sub-command runs with: profile, then ``--set``, then its own options.

    Args:
        args: Parsed arguments.
        size_field: Config field(s) that ``--image-size`` sets.
        **extra: More overrides from the sub-command's options (None values are skipped).

    Returns:
        The validated configuration.

    Raises:
        ConfigError: Any invalid value.
    """
    overrides = parse_overrides(args.set)
    if args.image_size is not None:
        for field in (size_field,) if isinstance(size_field, str) else size_field:
            overrides[field] = args.image_size
    overrides.update({k: v for k, v in extra.items() if v is not None})
    return get_config(args.profile, args.data, args.work, **overrides)


def _emit(args: argparse.Namespace, summary: dict, text: str) -> None:
    print(to_json(summary, indent=1, default=str) if args.json else text)


def _download(args: argparse.Namespace) -> None:
    from .data.download import DownloadError, download

    say = (lambda line: print(line, file=sys.stderr)) if args.json else print
    try:
        report = download(args.source, args.out, args.subset, args.url, seed=args.seed, progress=say)
    except DownloadError as exc:
        raise CliError(str(exc)) from None
    text = f"{args.out}: {report['present']} of {report['rows']} images present ({report['downloaded']} downloaded)"
    _emit(args, report, text + f"; use it with --data {args.out} or MAMMO_DATA={args.out}")


def _synth(args: argparse.Namespace) -> None:
    from .data.synthetic import generate_dataset

    cfg = config_from_args(
        args, "synthetic_image_size", synthetic_patients=args.patients, synthetic_prevalence=args.prevalence
    )
    out = args.out or cfg.data_root
    df = generate_dataset(
        out,
        cfg.synthetic_patients,
        cfg.synthetic_image_size,
        cfg.synthetic_prevalence,
        cfg.seed,
        args.workers,
        progress=not args.json,
    )
    summary = {
        "out": str(out),
        "images": len(df),
        "patients": int(df.patient_id.nunique()),
        "cancer_images": int(df.cancer.sum()),
    }
    _emit(args, summary, f"wrote {len(df)} images of {summary['patients']} patients to {out}")


def _preprocess(args: argparse.Namespace) -> None:
    from .data.preprocess import preprocess_dataset
    from .data.synthetic import ensure_dataset

    cfg = config_from_args(args, ("cache_size", "image_size"), workers=args.workers)
    ensure_dataset(cfg, progress=not args.json)
    cache, manifest = preprocess_dataset(
        cfg.data_root, cfg.cache_root, cfg.cache_size, cfg.cache_bits, cfg.workers, progress=not args.json
    )
    failed = manifest[manifest.status != "ok"]
    summary = {
        "cache": str(cache),
        "ok": int(len(manifest) - len(failed)),
        "failed": int(len(failed)),
        "errors": dict(zip(failed.image_id.astype(str), failed.error)),
    }
    lines = [f"cache {cache}: {summary['ok']} ok, {summary['failed']} failed"]
    lines += [f"  failed {i}: {e}" for i, e in summary["errors"].items()]
    _emit(args, summary, "\n".join(lines))


def _splits(args: argparse.Namespace) -> None:
    from .data.rsna import load_train
    from .data.splits import check_leakage, load_or_make_splits, split_table
    from .data.synthetic import ensure_dataset

    cfg = config_from_args(args)
    ensure_dataset(cfg, progress=not args.json)
    df = load_or_make_splits(
        load_train(cfg.data_root), cfg.splits_path, n_folds=cfg.n_folds, test_size=cfg.test_size, seed=cfg.split_seed
    )
    check_leakage(df)
    table = split_table(df)
    summary = {"splits": str(cfg.splits_path), "leakage": "none", "table": table.reset_index().to_dict("records")}
    _emit(args, summary, f"{cfg.splits_path}: no patient in two splits or folds\n{table.to_string()}")


def _train(args: argparse.Namespace) -> None:
    extra = {}
    if args.params:
        from .modeling.tune import read_params

        extra = read_params(args.params)
    cfg = config_from_args(args, **extra)  # validated before TensorFlow is imported: a bad value fails in milliseconds
    from .modeling.train import train

    result = train(
        cfg,
        run_name=args.run_name,
        resume=not args.restart,
        track=not args.no_track,
        verbose=0 if args.json else 2,
        promote=not args.challenger,
    )
    summary = {
        "run": result.run_name,
        "mlflow_run_id": result.run_id,
        "model": str(result.model_path),
        "threshold": result.threshold,
        **{k: round(v, 4) for k, v in result.summary().items()},
    }
    _emit(args, summary, to_json(summary, indent=1))


def _tune(args: argparse.Namespace) -> None:
    cfg = config_from_args(args)
    from .modeling.tune import SearchSpace, tune

    space = SearchSpace(backbones=tuple(args.backbones.split(","))) if args.backbones else SearchSpace()
    say = (lambda line: print(line, file=sys.stderr)) if args.json else print
    summary = tune(
        cfg,
        args.tuner,
        args.max_trials,
        args.epochs,
        args.time_budget,
        space,
        not args.no_track,
        say,
        decision_metric=args.decision_metric,
    )
    best = summary["best"]
    text = f"best {summary['objective_name']} {best['objective']}: {best['hyperparameters']}"
    text += f"\nparams: {summary['params_file']}"
    _emit(args, summary, text)


def _predict(args: argparse.Namespace) -> None:
    cfg = config_from_args(args)  # validates the shared options
    from .modeling.resolve import check_model_ref
    from .serving.inference import Predictor

    predictor = Predictor.load(check_model_ref(args.model), work_dir=cfg.work_dir, tracking_uri=cfg.tracking_uri)
    table = predictor.predict_files(args.files)
    summary = {"threshold": predictor.threshold, "images": table.to_dict("records")}
    _emit(args, summary, table.to_string(index=False))


def _detect(args: argparse.Namespace) -> None:
    cfg = config_from_args(args, "cache_size")
    from .detection.train import train_detector

    record = train_detector(cfg, track=not args.no_track, force=args.force, verbose=0 if args.json else 2)
    if args.action == "train":
        summary = {k: record.get(k) for k in ("folder", "best_epoch", "val", "train_seconds", "registry_version")}
        _emit(args, summary, to_json(summary, indent=1, default=str))
        return
    from .detection.evaluate import evaluate, summary_json
    from .detection.tables import metrics_table

    classifier, size = None, None
    if args.classifier:
        from .modeling.resolve import resolve_model

        classifier, info = resolve_model(
            args.classifier, cfg.work_dir, cfg.tracking_uri
        )  # augmentation is inert at inference
        size = tuple(info["preprocessing"]["image_size"])
    result = evaluate(cfg, record, classifier, size)
    summary = summary_json(result)
    _emit(args, summary, metrics_table(result["detector"], result["classes"]).to_string(index=False))


def _export(args: argparse.Namespace) -> None:
    cfg = config_from_args(args)
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    unknown = sorted(set(formats) - set(EXPORT_FORMATS))
    if unknown:
        raise CliError(f"--formats: unknown {unknown}; choose from {list(EXPORT_FORMATS)}")
    from .export.convert import export_model
    from .modeling.prune import prune_model

    say = (lambda line: print(line, file=sys.stderr)) if args.json else print
    model = args.model
    if args.prune is not None:
        model = prune_model(model, cfg, args.prune, args.prune_epochs)
        say(f"pruned to {args.prune:.0%} sparsity: {model}")
    manifest = export_model(
        model, args.out, cfg, formats, args.calibration, args.max_auc_drop, progress=say,
        strict=not args.skip_refused, detector=args.detector, max_flip_rate=args.max_flip_rate,
    )  # fmt: skip
    summary = {"out": str(args.out), "formats": manifest["formats"], "parity": manifest["parity"]}
    summary["refused"] = manifest.get("refused", {})
    if "release" in manifest:
        summary["release"] = manifest["release"]
    if args.detector:
        summary["detector"] = manifest["detector"]
    if args.azure_spec:
        from .export.release import write_azure_deployment
        from .utils import project_root

        template = project_root() / "deploy" / "azureml" / "deployment.yml"
        if not template.is_file():
            raise CliError(f"--azure-spec: {template} missing; run `mammo export` from the repository clone")
        summary["azure_spec"] = str(write_azure_deployment(template, args.out, args.azure_spec))
    _emit(args, summary, f"{args.out}: {', '.join(manifest['formats'])} written; model.json lists their SHA-256")


def _serve_environment(args: argparse.Namespace) -> None:
    """Put ``mammo serve``'s flags into the service's environment and check every ``MAMMO_*`` variable it reads.

    Runs before TensorFlow and uvicorn are imported: ``MAMMO_MAX_UPLOAD_MB=lots`` stops here with
    ``error: MAMMO_MAX_UPLOAD_MB must be a positive number of megabytes, got 'lots'``. The variables are what
    uvicorn's workers read (:meth:`~mammo_utils.serving.api.ServiceSettings.from_env`); the settings are kept on
    ``args.settings``.
    """
    from pathlib import Path

    from .modeling.resolve import check_model_ref, is_registry_ref

    if not args.model:
        raise CliError("--model REF (or MAMMO_MODEL_DIR) is required: an export/run folder or models:/NAME@ALIAS")
    model = check_model_ref(args.model)
    model = model if is_registry_ref(model) else str(Path(model).resolve())
    os.environ["MAMMO_MODEL_DIR"] = model
    if args.runtime:
        os.environ["MAMMO_RUNTIME"] = args.runtime
    if args.work:
        os.environ["MAMMO_WORK"] = str(Path(args.work).expanduser().resolve())
    if args.store:
        from .monitoring.store import parse_store_url

        backend, target = parse_store_url(args.store, "--store")
        # the workers read the variable; a relative SQLite path is the caller's, not the workers' folder's
        url = f"sqlite:///{Path(target).resolve().as_posix()}" if backend == "sqlite" and target != ":memory:" else None
        os.environ["MAMMO_STORE_URL"] = url or args.store
        os.environ.pop("MAMMO_FEEDBACK_DB", None)  # the flag wins over the old variable
    args.settings = _service_settings(args)


def _service_settings(args: argparse.Namespace) -> Any:
    """Every ``MAMMO_*`` variable the service reads, checked (``mammo demo`` starts the service too)."""
    from .serving.api.settings import ServiceSettings

    return ServiceSettings.from_env()


def _serve(args: argparse.Namespace) -> None:
    import uvicorn

    from .serving.inference import Predictor

    settings = args.settings
    # fail now, with the reason; the work folder and MLflow store are the configuration's, as for every command
    Predictor.load(settings.model_dir, settings.runtime, work_dir=settings.work_dir, tracking_uri=settings.tracking_uri)
    _open_store(settings.store_url, "--store" if args.store else "MAMMO_STORE_URL").close()  # reachable, migrated
    url = f"http://{args.host}:{args.port}"
    summary = {"url": url, "docs": f"{url}/docs", "model": settings.model_dir, "runtime": settings.runtime}
    summary.update(workers=args.workers, store=settings.store, auth=bool(settings.token))
    _emit(args, summary, f"serving {settings.model_dir} ({settings.runtime}) on {url} (docs at {url}/docs)")
    sys.stdout.flush()
    uvicorn.run(
        "mammo_utils.serving.api:create_app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=False,  # the app logs one JSON line per request, without query strings or file names
        log_level="warning",
    )


def _app_environment(args: argparse.Namespace) -> None:
    """The web app's environment: ``MAMMO_API_URL`` (an http(s) URL) and ``MAMMO_EXAMPLES`` from ``--data``."""
    from urllib.parse import urlparse

    api, source = (args.api, "--api") if args.api else (os.environ.get("MAMMO_API_URL", ""), "MAMMO_API_URL")
    api = api or "http://127.0.0.1:8000"
    parsed = urlparse(api)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise CliError(f"{source} must be an http(s) URL like http://127.0.0.1:8000, got {api!r}")
    os.environ["MAMMO_API_URL"] = api
    if args.data:
        os.environ["MAMMO_EXAMPLES"] = str(locate_data_root(args.data).resolve())


def _app(args: argparse.Namespace) -> None:
    import importlib.util

    script = importlib.util.find_spec("mammo_utils.serving.app").origin  # path only: importing it runs the page
    command = [sys.executable, "-m", "streamlit", "run", script]
    command += ["--server.headless", "true", "--server.address", args.host, "--server.port", str(args.port)]
    command += ["--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer"]  # no developer "Deploy"
    url = f"http://{args.host}:{args.port}"
    summary = {"url": url, "api": os.environ["MAMMO_API_URL"], "examples": os.environ.get("MAMMO_EXAMPLES") or None}
    _emit(args, summary, f"web app on {url}, talking to the API at {summary['api']}")
    sys.stdout.flush()
    os.execve(sys.executable, command, dict(os.environ))  # streamlit replaces this process: stopping it stops the app


def _monitor_drift(args: argparse.Namespace) -> None:
    cfg = config_from_args(args)
    from .evaluation.drift import PSI_DRIFT, PSI_STABLE, drift_report, verdict
    from .modeling.artifact import read_reference
    from .monitoring.window import current_window

    reference = read_reference(args.reference, required=True)  # model.json's digest checked
    splits = None
    if args.split:
        import pandas as pd

        if not cfg.splits_path.is_file():
            raise CliError(f"{cfg.splits_path}: no splits for this dataset; run `mammo splits` first")
        splits = pd.read_csv(cfg.splits_path)
    if args.current and args.store:
        raise CliError("--current (a cache folder) and --store (the served predictions) name two windows: give one")
    source = args.current or _store_from_args(args, cfg)
    features, scores = current_window(source, args.reference, splits, args.split, args.intensity_scale)
    report = drift_report(reference, features, scores)
    summary = verdict(report, len(features))
    summary["features"] = report.reset_index().to_dict("records")
    text = report.round(4).to_string()
    text += (
        f"\nverdict: {summary['verdict']} (max PSI {summary['max_psi']:.3f} over {summary['n_current']} images; "
        f"<{PSI_STABLE} stable, >{PSI_DRIFT} drift)"
    )
    _emit(args, summary, text)


def _retrain(args: argparse.Namespace) -> None:
    cfg = config_from_args(args, **{field: getattr(args, flag[2:].replace("-", "_")) for flag, field, *_ in GATE_FLAGS})
    from pathlib import Path

    from .monitoring.triggers import RetrainPolicy, check_triggers

    model = Path(args.model or cfg.champion_export)
    store = _store_from_args(args, cfg)
    policy = RetrainPolicy.from_config(
        cfg,
        max_age_days=args.max_age_days,
        max_psi=args.max_psi,
        min_sensitivity=args.min_sensitivity,
        new_labels=args.new_labels,
    )
    if args.check:
        summary = check_triggers(model, store, policy)
    else:
        import_tensorflow()
        from .workflows.retrain import retrain

        summary = retrain(cfg, model, store, policy, force=args.force, use_feedback=not args.no_feedback)
    lines = [
        f"{name:12s} {t['value']!s:>22} (threshold {t['threshold']}) {'FIRES' if t['fired'] else 'ok'}  {t['note']}"
        for name, t in summary["triggers"].items()
    ]
    lines.append(f"action: {summary.get('action', 'retrain' if summary.get('fire') else 'none')}")
    _emit(args, summary, "\n".join(lines))


def _open_store(url: str, setting: str) -> Any:
    """Open the prediction store (checked, migrated); a server that does not answer is a usage error."""
    from .monitoring.store import StoreError, open_store

    try:
        return open_store(url, setting)
    except StoreError as exc:
        raise CliError(f"{setting}: {exc}") from None


def _store_from_args(args: argparse.Namespace, cfg: Any) -> Any:
    """The store ``--store`` names, else the configuration's (``MAMMO_STORE_URL``, else the work folder's file)."""
    from .config import store_url_from_env

    if args.store:
        return _open_store(args.store, "--store")
    return _open_store(*store_url_from_env(cfg.work_dir))


def _demo(args: argparse.Namespace) -> None:
    cfg = config_from_args(args)
    from .serving.demo import run_demo

    model = args.model or cfg.champion_export
    try:
        summary = run_demo(model, args.api_port, args.app_port, args.duration, args.check, work_dir=cfg.work_dir)
    except RuntimeError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print(to_json(summary))


def _screens(args: argparse.Namespace) -> None:
    cfg = config_from_args(args)
    from pathlib import Path

    from .reporting.screens import capture_screens, demo_dicom
    from .utils import project_root

    dicom = args.dicom or demo_dicom(cfg.data_root, cfg.splits_path)
    if dicom is None:
        raise CliError(f"--dicom: no DICOM under {cfg.data_root / 'train_images'}; name one with --dicom FILE")
    out = Path(args.out) if args.out else project_root() / "reports" / "figures"
    say = (lambda line: print(line, file=sys.stderr)) if args.json else print
    try:
        written = capture_screens(args.model or cfg.champion_export, out, dicom, say=say)
    except RuntimeError as exc:
        raise CliError(str(exc)) from None
    _emit(args, {k: str(v) for k, v in written.items()}, "\n".join(f"{k}: {v}" for k, v in written.items()))


def _report(args: argparse.Namespace) -> None:
    cfg = config_from_args(args)
    from .reporting.build import build_reports

    say = (lambda line: print(line, file=sys.stderr)) if args.json else print
    from .reporting.provenance import ProvenanceError

    try:
        written = build_reports(cfg, args.model, args.out, pdf=not args.no_pdf, progress=say, strict=args.strict)
    except ProvenanceError as exc:
        raise CliError(str(exc)) from None
    _emit(args, {k: str(v) for k, v in written.items()}, "\n".join(f"{k}: {v}" for k, v in written.items()))


def _config(args: argparse.Namespace) -> None:
    cfg = config_from_args(args)
    _emit(args, cfg.to_dict(), "\n".join(f"{k}: {v}" for k, v in cfg.to_dict().items()))


def main(argv: list[str] | None = None) -> int:
    """Run ``mammo``; returns the exit status (2 for a usage or value error, with ``error: ...`` on stderr).

    Argparse's own exits are returned too (0 after ``--help``), so an in-process caller gets a status in every
    case instead of a ``SystemExit``.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        0 on success, 2 on a bad value.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # argparse printed help or the version (0), or a usage or value error (2)
        return int(done.code or 0)
    handler: Callable[[argparse.Namespace], None] = args.handler
    precheck: Callable[[argparse.Namespace], None] | None = getattr(args, "precheck", None)
    try:
        if precheck is not None:
            precheck(args)  # settings beyond the command line (e.g. MAMMO_* variables), before the heavy imports
        if args.command in TENSORFLOW_COMMANDS:
            import_tensorflow()  # its C++ start-up banner would otherwise precede every command's output
        handler(args)
    except (ConfigError, CliError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
