# Size: one parser and one thin handler per sub-command, kept together so every command's options read alike.
"""The ``mammo`` command line: one entry point, one vocabulary, for every stage of the project.

Every subcommand takes the same options for the same things (defaults from the profile)::

    --profile small|full   run profile (small: CPU + embedded data; full: GPU recipe on real RSNA)
    --data DIR             RSNA-layout folder (default: MAMMO_DATA, Kaggle, Colab, else the embedded set)
    --work DIR             outputs: caches, splits, runs, MLflow store (default: MAMMO_WORK or ./data/work)
    --image-size HxW       model input (train), cache size (preprocess), DICOM size (synth)
    --set FIELD=VALUE      any configuration field (repeatable), typed: ``--set epochs=2.5`` is an error
    --json                 a machine-readable summary on stdout instead of text

Bad values end with ``error: ...`` on stderr and exit status 2, never a traceback. Argparse sub-parsers
(standard library) rather than Typer: no extra dependency, and each sub-command imports its heavy
libraries (TensorFlow, MLflow) only when it runs, so ``mammo --help`` answers in a fraction of a second.

Examples::

    mammo synth --out data/rsna-synthetic --patients 200
    mammo preprocess --image-size 256x128
    mammo train --set backbone=baseline --set epochs=2 --json
    mammo predict --model data/work/runs/04_baseline file1.dcm file2.dcm
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from . import __version__
from .config import Config, ConfigError, get_config, parse_overrides
from .constants import EXPORT_FORMATS, TUNERS
from .utils import import_tensorflow

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
    "report": "build the final report, model card, slides, diagrams and API docs from the runs' artifacts",
    "config": "print the resolved configuration",
}


#: Sub-commands that run TensorFlow.
TENSORFLOW_COMMANDS = {"train", "tune", "detect", "report", "predict", "export", "serve", "monitor", "retrain"}


class CliError(ValueError):
    """A command-line value the user can fix."""


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="small", help="run profile: small (CPU, embedded data) or full (GPU)")
    parser.add_argument("--data", default=None, metavar="DIR", help="RSNA-layout folder (default: auto-detected)")
    parser.add_argument(
        "--work", default=None, metavar="DIR", help="output folder (default: MAMMO_WORK or ./data/work)"
    )
    parser.add_argument("--image-size", default=None, metavar="HxW", help="image size (meaning per command)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="any config field")
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout")


def build_parser() -> argparse.ArgumentParser:
    """The ``mammo`` argument parser with every sub-command.

    Returns:
        The parser (each sub-parser sets ``handler``).
    """
    parser = argparse.ArgumentParser(
        prog="mammo",
        description="Screening-mammography breast-cancer pipeline (RSNA layout, Keras 3).",
        epilog="`python -m mammo_utils` runs the same command.",
    )
    parser.add_argument("--version", action="version", version=f"mammo_utils {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("download", help=COMMANDS["download"], description=COMMANDS["download"])
    p.add_argument("--source", default="kaggle", choices=["kaggle", "url"], help="Kaggle API or a mirror")
    p.add_argument("--out", required=True, metavar="DIR", help="destination data root")
    p.add_argument("--subset", type=int, default=None, metavar="N", help="only N patients (all their images)")
    p.add_argument("--url", default=None, help="mirror base URL (with --source url)")
    p.add_argument("--seed", type=int, default=0, help="seed of the patient subset")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(handler=_download)

    p = sub.add_parser("synth", help=COMMANDS["synth"], description=COMMANDS["synth"])
    _common(p)
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default: the embedded dataset's)")
    p.add_argument("--patients", type=int, default=None, help="number of patients (default: the profile's)")
    p.add_argument("--prevalence", type=float, default=None, help="share of cancer breasts (RSNA: 0.021)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.set_defaults(handler=_synth)

    p = sub.add_parser("preprocess", help=COMMANDS["preprocess"], description=COMMANDS["preprocess"])
    _common(p)
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: the profile's)")
    p.set_defaults(handler=_preprocess)

    p = sub.add_parser("splits", help=COMMANDS["splits"], description=COMMANDS["splits"])
    _common(p)
    p.set_defaults(handler=_splits)

    p = sub.add_parser("train", help=COMMANDS["train"], description=COMMANDS["train"])
    _common(p)
    p.add_argument("--run-name", default=None, help="run folder / MLflow run name (rerunning it resumes)")
    p.add_argument("--restart", action="store_true", help="start the run over instead of resuming")
    p.add_argument("--no-track", action="store_true", help="do not log to MLflow")
    p.add_argument("--params", default=None, metavar="FILE", help="best-parameters file of `mammo tune` (JSON/YAML)")
    p.add_argument("--challenger", action="store_true", help="register without moving the champion alias")
    p.set_defaults(handler=_train)

    p = sub.add_parser("tune", help=COMMANDS["tune"], description=COMMANDS["tune"])
    _common(p)
    p.add_argument("--tuner", default=TUNERS[0], choices=TUNERS)
    p.add_argument("--max-trials", type=int, default=10)
    p.add_argument("--epochs", type=int, default=3, help="epochs per trial (Hyperband: the largest budget)")
    p.add_argument("--time-budget", type=float, default=None, metavar="MIN", help="no new trial after MIN minutes")
    p.add_argument("--backbones", default=None, help="comma-separated backbones to search (default: baseline)")
    p.add_argument("--no-track", action="store_true", help="do not log to MLflow")
    p.set_defaults(handler=_tune)

    p = sub.add_parser("predict", help=COMMANDS["predict"], description=COMMANDS["predict"])
    _common(p)
    p.add_argument("--model", required=True, metavar="REF", help="export/run folder, .keras file or models:/NAME@ALIAS")
    p.add_argument("files", nargs="+", help="DICOM or PNG/JPEG files")
    p.set_defaults(handler=_predict)

    p = sub.add_parser("detect", help=COMMANDS["detect"], description=COMMANDS["detect"])
    p.add_argument("action", choices=["train", "evaluate"], help="train (or reuse) the detector, or score it on test")
    _common(p)
    what = "evaluate: classifier whose Grad-CAM is scored too (.keras, run/export folder, models:/)"
    p.add_argument("--classifier", default=None, metavar="REF", help=what)
    p.add_argument("--force", action="store_true", help="train: retrain even when this detector exists")
    p.add_argument("--no-track", action="store_true", help="train: do not log to MLflow")
    p.set_defaults(handler=_detect)

    p = sub.add_parser("export", help=COMMANDS["export"], description=COMMANDS["export"])
    _common(p)
    p.add_argument("--model", required=True, metavar="REF", help=".keras file, run folder or models:/name@alias")
    p.add_argument("--out", required=True, metavar="DIR", help="export folder (model.json + formats)")
    p.add_argument("--formats", default=",".join(EXPORT_FORMATS), help="comma-separated subset of the formats")
    p.add_argument("--calibration", type=int, default=64, metavar="N", help="training images calibrating int8")
    p.add_argument("--max-auc-drop", type=float, default=0.02, help="largest accepted TFLite test AUC drop")
    p.add_argument("--prune", type=float, default=None, metavar="SPARSITY", help="prune to this sparsity first")
    p.add_argument("--prune-epochs", type=int, default=3, help="fine-tuning epochs while pruning")
    p.add_argument(
        "--detector", default=None, metavar="DIR", help="bundle this lesion detector (served with the model)"
    )
    p.add_argument("--skip-refused", action="store_true", help="ship the formats that pass; record the refused ones")
    p.set_defaults(handler=_export)

    p = sub.add_parser("serve", help=COMMANDS["serve"], description=COMMANDS["serve"])
    p.add_argument(
        "--model",
        default=os.environ.get("MAMMO_MODEL_DIR"),
        metavar="REF",
        help="export/run folder or models:/NAME@ALIAS (default: MAMMO_MODEL_DIR)",
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (0.0.0.0 in a container)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (each loads the model)")
    p.add_argument("--runtime", default=None, help="export format that scores (default: MAMMO_RUNTIME or onnx)")
    p.set_defaults(handler=_serve)

    p = sub.add_parser("app", help=COMMANDS["app"], description=COMMANDS["app"])
    p.add_argument("--api", default=None, metavar="URL", help="API base URL (default: MAMMO_API_URL or :8000)")
    p.add_argument("--host", default="127.0.0.1", help="bind address")
    p.add_argument("--port", type=int, default=8501)
    p.set_defaults(handler=_app)

    p = sub.add_parser("monitor", help=COMMANDS["monitor"], description=COMMANDS["monitor"])
    monitor = p.add_subparsers(dest="monitor_command", metavar="CHECK", required=True)
    p = monitor.add_parser("drift", help="PSI / KS per feature and for the scores, with the documented thresholds")
    _common(p)
    p.add_argument("--reference", required=True, metavar="DIR", help="export folder with reference.json")
    p.add_argument("--current", required=True, metavar="PATH", help="cache folder, or the service's feedback.db")
    p.add_argument("--split", default=None, choices=["test", "cv"], help="one split of a cache (default: all)")
    p.add_argument("--intensity-scale", type=float, default=1.0, help="what-if: scale cached intensities")
    p.set_defaults(handler=_monitor_drift)

    p = sub.add_parser("retrain", help=COMMANDS["retrain"], description=COMMANDS["retrain"])
    _common(p)
    p.add_argument(
        "--model", default=None, metavar="DIR", help="deployed export folder (default <work>/export/champion)"
    )
    p.add_argument("--store", default=None, metavar="DB", help="service store (default <work>/monitoring/feedback.db)")
    p.add_argument("--check", action="store_true", help="only report the triggers")
    p.add_argument("--force", action="store_true", help="retrain even when no trigger fires")
    p.add_argument("--max-age-days", type=float, default=None)
    p.add_argument("--max-psi", type=float, default=None)
    p.add_argument("--min-sensitivity", type=float, default=None)
    p.add_argument("--new-labels", type=int, default=None)
    p.add_argument("--margin", type=float, default=None, help="AUC a challenger must gain to be promoted")
    p.set_defaults(handler=_retrain)

    p = sub.add_parser("demo", help=COMMANDS["demo"], description=COMMANDS["demo"])
    _common(p)
    p.add_argument("--model", default=None, metavar="DIR", help="export folder (default <work>/export/champion)")
    p.add_argument("--api-port", type=int, default=8000)
    p.add_argument("--app-port", type=int, default=8501)
    p.add_argument("--duration", type=float, default=None, help="seconds to run (default: until Ctrl-C)")
    p.add_argument("--check", action="store_true", help="stop as soon as both services answer (smoke test)")
    p.set_defaults(handler=_demo)

    p = sub.add_parser("report", help=COMMANDS["report"], description=COMMANDS["report"])
    _common(p)
    p.add_argument("--model", default=None, metavar="DIR", help="export folder (default <work>/export/champion)")
    p.add_argument("--out", default=None, metavar="DIR", help="reports folder (default <project>/reports)")
    p.add_argument("--no-pdf", action="store_true", help="skip printing the report to PDF")
    p.set_defaults(handler=_report)

    p = sub.add_parser("config", help=COMMANDS["config"], description=COMMANDS["config"])
    _common(p)
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
    print(json.dumps(summary, indent=1, default=str) if args.json else text)


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
    if args.patients is not None and args.patients < 1:
        raise CliError(f"--patients must be >= 1, got {args.patients}")
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
        load_train(cfg.data_root), cfg.splits_path, n_folds=cfg.n_folds, test_size=cfg.test_size, seed=cfg.seed
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
    _emit(args, summary, json.dumps(summary, indent=1))


def _tune(args: argparse.Namespace) -> None:
    cfg = config_from_args(args)
    from .modeling.tune import SearchSpace, tune

    space = SearchSpace(backbones=tuple(args.backbones.split(","))) if args.backbones else SearchSpace()
    say = (lambda line: print(line, file=sys.stderr)) if args.json else print
    summary = tune(cfg, args.tuner, args.max_trials, args.epochs, args.time_budget, space, not args.no_track, say)
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
        _emit(args, summary, json.dumps(summary, indent=1, default=str))
        return
    from .detection.evaluate import evaluate, metrics_table, summary_json

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
    if args.prune is not None and not 0 < args.prune < 1:
        raise CliError(f"--prune must be a sparsity in (0, 1), got {args.prune}")
    from .export.convert import export_model
    from .modeling.prune import prune_model

    say = (lambda line: print(line, file=sys.stderr)) if args.json else print
    model = args.model
    if args.prune is not None:
        model = prune_model(model, cfg, args.prune, args.prune_epochs)
        say(f"pruned to {args.prune:.0%} sparsity: {model}")
    manifest = export_model(
        model, args.out, cfg, formats, args.calibration, args.max_auc_drop, progress=say, strict=not args.skip_refused
    )
    summary = {"out": str(args.out), "formats": manifest["formats"], "parity": manifest["parity"]}
    summary["refused"] = manifest.get("refused", {})
    if args.detector:
        from .detection.detector import bundle_detector

        summary["detector"] = str(bundle_detector(args.detector, args.out))
    _emit(args, summary, f"{args.out}: {', '.join(manifest['formats'])} written; model.json lists their SHA-256")


def _serve(args: argparse.Namespace) -> None:
    from pathlib import Path

    from .modeling.resolve import check_model_ref, is_registry_ref

    if not args.model:
        raise CliError("--model REF (or MAMMO_MODEL_DIR) is required: an export/run folder or models:/NAME@ALIAS")
    model = check_model_ref(args.model)
    model = model if is_registry_ref(model) else str(Path(model).resolve())
    import uvicorn

    from .serving.api.settings import ServiceSettings
    from .serving.inference import Predictor

    # the service's settings, checked now (a bad MAMMO_* value is named before uvicorn starts); the work folder
    # and MLflow store are the configuration's, as for every command
    settings = ServiceSettings.from_env(model_dir=model, runtime=args.runtime)
    Predictor.load(model, settings.runtime, work_dir=settings.work_dir, tracking_uri=settings.tracking_uri)
    os.environ["MAMMO_MODEL_DIR"] = model
    if args.runtime:
        os.environ["MAMMO_RUNTIME"] = args.runtime
    uvicorn.run(
        "mammo_utils.serving.api:create_app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=False,  # the app logs one JSON line per request, without query strings or file names
        log_level="warning",
    )


def _app(args: argparse.Namespace) -> None:
    import importlib.util

    script = importlib.util.find_spec("mammo_utils.serving.app").origin  # path only: importing it runs the page
    env = {**os.environ, "MAMMO_API_URL": args.api or os.environ.get("MAMMO_API_URL", "http://127.0.0.1:8000")}
    command = [sys.executable, "-m", "streamlit", "run", script]
    command += ["--server.headless", "true", "--server.address", args.host, "--server.port", str(args.port)]
    command += ["--browser.gatherUsageStats", "false"]
    sys.stdout.flush()
    os.execve(sys.executable, command, env)  # streamlit replaces this process: stopping it stops the app


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
    features, scores = current_window(args.current, args.reference, splits, args.split, args.intensity_scale)
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
    cfg = config_from_args(args)
    from pathlib import Path

    from .monitoring.feedback import FeedbackStore
    from .monitoring.triggers import RetrainPolicy, check_triggers

    model = Path(args.model or cfg.champion_export)
    store = FeedbackStore(args.store or cfg.feedback_db)
    policy = RetrainPolicy.from_config(
        cfg,
        max_age_days=args.max_age_days,
        max_psi=args.max_psi,
        min_sensitivity=args.min_sensitivity,
        new_labels=args.new_labels,
        margin=args.margin,
    )
    if args.check:
        summary = check_triggers(model, store, policy)
    else:
        import_tensorflow()
        from .workflows.retrain import retrain

        summary = retrain(cfg, model, store, policy, force=args.force)
    lines = [
        f"{name:12s} {t['value']!s:>22} (threshold {t['threshold']}) {'FIRES' if t['fired'] else 'ok'}  {t['note']}"
        for name, t in summary["triggers"].items()
    ]
    lines.append(f"action: {summary.get('action', 'retrain' if summary.get('fire') else 'none')}")
    _emit(args, summary, "\n".join(lines))


def _demo(args: argparse.Namespace) -> None:
    cfg = config_from_args(args)
    from .serving.demo import run_demo

    model = args.model or cfg.champion_export
    try:
        summary = run_demo(model, args.api_port, args.app_port, args.duration, args.check, work_dir=cfg.work_dir)
    except RuntimeError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print(json.dumps(summary))


def _report(args: argparse.Namespace) -> None:
    cfg = config_from_args(args)
    from .reporting.build import build_reports

    say = (lambda line: print(line, file=sys.stderr)) if args.json else print
    written = build_reports(cfg, args.model, args.out, pdf=not args.no_pdf, progress=say)
    _emit(args, {k: str(v) for k, v in written.items()}, "\n".join(f"{k}: {v}" for k, v in written.items()))


def _config(args: argparse.Namespace) -> None:
    cfg = config_from_args(args)
    _emit(args, cfg.to_dict(), "\n".join(f"{k}: {v}" for k, v in cfg.to_dict().items()))


def main(argv: list[str] | None = None) -> int:
    """Run ``mammo``; returns the exit status (2 for a usage or value error, with ``error: ...`` on stderr).

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        0 on success, 2 on a bad value.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], None] = args.handler
    if args.command in TENSORFLOW_COMMANDS:
        import_tensorflow()  # its C++ start-up banner would otherwise precede every command's output
    try:
        handler(args)
    except (ConfigError, CliError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
