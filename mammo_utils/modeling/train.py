"""Training: data preparation, two-stage fine-tuning, checkpoints, resume, evaluation and MLflow tracking.

``train(cfg)`` does, in order:

1. builds (or reuses) the preprocessed cache and the patient-grouped splits, and runs the leakage check;
2. picks the distribution strategy (TPU, several GPUs, or the default device) and mixed precision on
   accelerators;
3. trains: transfer models first with the backbone frozen (``epochs`` at ``learning_rate``), then
   unfrozen with batch-norm kept frozen (``finetune_epochs`` at ``finetune_lr``); the baseline CNN trains
   ``epochs + finetune_epochs`` in one stage. Each epoch is scored on the validation fold (image ROC-AUC
   ``val_auc``, per-breast pF1 ``val_pf1``); early stopping and the best checkpoint follow ``cfg.monitor``;
   LR: linear warm-up + cosine decay, or reduce-on-plateau;
4. evaluates the best weights on validation (choosing the breast-level threshold) and on test with that
   threshold frozen;
5. logs everything to MLflow, registers the model and moves the ``champion`` alias when it is the best.

A run lives in ``<work_dir>/runs/<run_name>``; rerunning the same name resumes: finished stages are
skipped and an interrupted stage restarts from its last epoch (``keras.callbacks.BackupAndRestore``),
in the same MLflow run.

CLI::

    python -m mammo_utils.train --profile small --backbone efficientnetb0 --epochs 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import write_atomic
from .config import Config, ConfigError, get_config
from .data import load_train
from .preprocess import preprocess_dataset
from .splits import check_leakage, fold_frames, load_or_make_splits

log = logging.getLogger(__name__)


@dataclasses.dataclass
class TrainResult:
    """What a training run produced.

    Attributes:
        run_name: Folder name under ``<work_dir>/runs``.
        run_id: MLflow run id (None when tracking was off).
        model_path: Saved ``.keras`` model with the best weights.
        history: One row per epoch (``epoch, stage, loss, val_auc, val_pf1, lr``).
        val: :func:`~mammo_utils.evaluate.evaluate_predictions` on validation.
        test: The same on test with the validation threshold.
        threshold: Breast-level decision threshold chosen on validation.
        params: Parameter count.
        train_seconds: Wall time of the training stages in this call.
        infer_ms: Inference milliseconds per image (batch 8, this machine).
        model_version: Registry version, and whether it became champion.
        val_predictions: Validation image rows with ``prediction`` (kept in memory, never logged).
        test_predictions: Test image rows with ``prediction``.
    """

    run_name: str
    run_id: str | None
    model_path: Path
    history: pd.DataFrame
    val: dict
    test: dict
    threshold: float
    params: int
    train_seconds: float
    infer_ms: float
    model_version: tuple[str, bool] | None
    val_predictions: pd.DataFrame
    test_predictions: pd.DataFrame

    def metrics(self) -> dict[str, float]:
        """Every final number under its MLflow name (``val_breast_pf1``, ``test_image_roc_auc``, ``params``…)."""
        from .evaluate import flat_metrics

        out = {**flat_metrics(self.val, "val"), **flat_metrics(self.test, "test")}
        out.update({"params": float(self.params), "train_seconds": self.train_seconds, "infer_ms_per_image": self.infer_ms})
        return out

    def summary(self) -> dict[str, float]:
        """One comparison-table row: the columns of :data:`mammo_utils.tracking.COMPARISON_COLUMNS`."""
        from .tracking import COMPARISON_COLUMNS

        metrics = self.metrics()
        return {label: metrics[key] for key, label in COMPARISON_COLUMNS.items()}


def prepare_data(cfg: Config, progress: bool = True) -> tuple[pd.DataFrame, Path]:
    """Cache, splits and leakage check for a configuration.

    Args:
        cfg: Run configuration.
        progress: Show the preprocessing progress bar.

    Returns:
        ``(images with split/fold, cache_dir)``.

    Raises:
        LeakageError: A patient appears in two splits or folds.
    """
    df = load_train(cfg.data_root)
    cache, _ = preprocess_dataset(
        cfg.data_root, cfg.work_dir / "cache", cfg.cache_size, cfg.cache_bits, workers=cfg.workers, progress=progress
    )
    df = load_or_make_splits(df, cfg.splits_path, n_folds=cfg.n_folds, test_size=cfg.test_size, seed=cfg.seed)
    check_leakage(df)
    return df, cache


def distribution_strategy():
    """TPU when one is attached, MirroredStrategy over several GPUs, else the default strategy.

    Also sets the Keras dtype policy: ``mixed_bfloat16`` on TPU, ``mixed_float16`` on GPU, ``float32`` on CPU.

    Returns:
        A ``tf.distribute.Strategy``.
    """
    import keras
    import tensorflow as tf

    if os.environ.get("TPU_NAME") or os.environ.get("COLAB_TPU_ADDR"):
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
            keras.mixed_precision.set_global_policy("mixed_bfloat16")
            return tf.distribute.TPUStrategy(resolver)
        except (ValueError, RuntimeError, tf.errors.OpError) as exc:
            log.warning("TPU named but not usable (%s); falling back to GPU/CPU", exc)
    gpus = tf.config.list_physical_devices("GPU")
    keras.mixed_precision.set_global_policy("mixed_float16" if gpus else "float32")
    return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()


def default_run_name(cfg: Config) -> str:
    """``<backbone>_<H>x<W>_f<fold>_s<seed>`` (rerunning the same name resumes)."""
    h, w = cfg.image_size
    return f"{cfg.backbone}_{h}x{w}_f{cfg.fold}_s{cfg.seed}"


def _stages(cfg: Config, pretrained: bool) -> list[tuple[str, int, float, bool]]:
    """(name, epochs, peak LR, backbone trainable) per stage.

    Two stages only make sense with pretrained features: the baseline and randomly initialised
    backbones train everything (batch-norm included) for ``epochs + finetune_epochs``.
    """
    if not pretrained:
        return [("full", cfg.epochs + cfg.finetune_epochs, cfg.learning_rate, True)]
    return [("head", cfg.epochs, cfg.learning_rate, False), ("finetune", cfg.finetune_epochs, cfg.finetune_lr, True)]


def _learning_rate(cfg: Config, peak: float, steps: int):
    import keras

    if cfg.lr_schedule == "plateau":
        return peak
    warmup = max(1, steps // 10)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak * 0.1, decay_steps=max(1, steps - warmup), alpha=0.01,
        warmup_target=peak, warmup_steps=warmup,
    )


def _fingerprint(cfg: Config, model) -> str:
    """Hash of what makes a run resumable: the training settings and the model's weight names and shapes."""
    import hashlib

    ignored = {"workers", "mlflow_uri", "experiment", "registered_model", "profile"}
    settings = {k: v for k, v in cfg.to_dict().items() if k not in ignored}
    shapes = [(w.path, tuple(w.shape)) for w in model.weights]
    return hashlib.sha256(json.dumps([settings, shapes], sort_keys=True, default=str).encode()).hexdigest()[:16]


def _open_run(run_dir: Path, fingerprint: str, resume: bool) -> "_State":
    """Resume state of ``run_dir``; starts it over when asked to or when it belongs to other settings/architecture."""
    import shutil

    state = _State(run_dir / "state.json")
    stale = state.data.get("fingerprint") not in (None, fingerprint)
    if run_dir.exists() and (not resume or stale):
        if stale and resume:
            log.warning("%s was trained with other settings or another architecture: starting it over", run_dir)
        shutil.rmtree(run_dir)
        state = _State(run_dir / "state.json")
    run_dir.mkdir(parents=True, exist_ok=True)
    state.data["fingerprint"] = fingerprint
    state.save()
    return state


class _State:
    """Resume state of a run folder (``state.json``, written atomically)."""

    def __init__(self, path: Path):
        self.path = path
        self.data = json.loads(path.read_text()) if path.is_file() else {"stages_done": [], "best": None}

    def save(self) -> None:
        write_atomic(self.path, json.dumps(self.data, indent=1).encode())


def _make_scorer(val_rows: pd.DataFrame, cache_dir: Path, cfg: Config):
    import keras

    from .evaluate import predict_frame
    from .metrics import pfbeta
    from .pipeline import breast_predictions

    class ValidationScorer(keras.callbacks.Callback):
        """Adds ``val_auc`` (image ROC-AUC) and ``val_pf1`` (breast pF1) to each epoch's logs."""

        def on_epoch_end(self, epoch, logs=None):
            from sklearn.metrics import roc_auc_score

            pred = predict_frame(self.model, val_rows, cache_dir, cfg.image_size, cfg.batch_size)
            both = pred.cancer.nunique() == 2
            breasts = breast_predictions(pred, pred.prediction)
            if logs is not None:
                logs["val_auc"] = float(roc_auc_score(pred.cancer, pred.prediction)) if both else 0.5
                logs["val_pf1"] = pfbeta(breasts.cancer, breasts.prediction)

    return ValidationScorer()


def train(cfg: Config, run_name: str | None = None, resume: bool = True, track: bool = True, verbose: int = 2) -> TrainResult:
    """Train, evaluate and track one model (see the module docstring for the steps).

    Args:
        cfg: Run configuration (backbone, sizes, epochs, LRs, imbalance handling, fold, seed…).
        run_name: Run folder / MLflow run name (default :func:`default_run_name`).
        resume: Continue a previous run of the same name; False starts it over.
        track: Log to MLflow and register the model.
        verbose: Keras ``fit`` verbosity (2: one line per epoch, 0: silent).

    Returns:
        A :class:`TrainResult`.

    Raises:
        LeakageError: Patient overlap between splits.
        ValueError: A split without cached images.
    """
    import keras

    from .evaluate import evaluate_predictions, inference_ms, predict_frame
    from .models import build_model
    from .notebook import seed_everything
    from .pipeline import cache_paths, class_weights, make_dataset, steps_per_epoch

    seed_everything(cfg.seed)
    keras.utils.set_random_seed(cfg.seed)
    df, cache = prepare_data(cfg, progress=verbose > 0)
    train_df, val_df, test_df = (cache_paths(f, cache) for f in fold_frames(df, cfg.fold))
    run_name = run_name or default_run_name(cfg)
    strategy = distribution_strategy()
    with strategy.scope():
        model = build_model(
            cfg.backbone, cfg.image_size, weights=cfg.weights, pooling=cfg.pooling, dropout=cfg.dropout,
            augment_strength=cfg.augment_strength, seed=cfg.seed,
        )
    run_dir = cfg.work_dir / "runs" / run_name
    state = _open_run(run_dir, _fingerprint(cfg, model), resume)
    best_weights = run_dir / "best.weights.h5"
    weights = None if cfg.pos_ratio is not None or cfg.loss == "focal" else class_weights(train_df.cancer)
    train_ds = make_dataset(
        train_df, cache, batch_size=cfg.batch_size, image_size=cfg.image_size, training=True,
        pos_ratio=cfg.pos_ratio, sample_weights=weights, seed=cfg.seed,
    )
    steps = steps_per_epoch(len(train_df), cfg.batch_size)

    run = _start_run(cfg, run_name, state, train_df, val_df, test_df) if track else None
    try:
        history, train_seconds = _fit_stages(cfg, model, strategy, train_ds, steps, run_dir, state, val_df, cache, track, verbose)
        if best_weights.is_file():
            model.load_weights(best_weights)
        model_path = run_dir / "model.keras"
        model.save(model_path)
        val_pred = predict_frame(model, val_df, cache, cfg.image_size, cfg.batch_size)
        test_pred = predict_frame(model, test_df, cache, cfg.image_size, cfg.batch_size)
        val = evaluate_predictions(val_pred)
        test = evaluate_predictions(test_pred, threshold=val["threshold"])
        result = TrainResult(
            run_name, None, model_path, history, val, test, val["threshold"], int(model.count_params()),
            train_seconds, inference_ms(model, cfg.image_size), None, val_pred, test_pred,
        )
        if track:
            result.run_id, result.model_version = run.info.run_id, _finish_run(cfg, model, result)
    except BaseException:
        if track:
            import mlflow

            mlflow.end_run("FAILED")
        raise
    if track:
        import mlflow

        mlflow.end_run()
    return result


def _fit_stages(cfg: Config, model, strategy, train_ds, steps: int, run_dir: Path, state: "_State", val_df, cache, track: bool, verbose: int):
    """Run the training stages not finished yet; returns (history of all epochs, seconds spent now)."""
    import keras

    from .keras_metrics import ProbabilisticF1
    from .models import set_backbone_trainable
    from .pipeline import make_loss

    best_weights = run_dir / "best.weights.h5"
    history_path = run_dir / "history.csv"
    offset, seconds = int(state.data.get("next_epoch", 0)), 0.0
    pretrained = bool(getattr(model, "pretrained", False))
    for name, n_epochs, peak_lr, unfreeze in _stages(cfg, pretrained):
        if n_epochs == 0 or name in state.data["stages_done"]:
            continue
        if best_weights.is_file():
            model.load_weights(best_weights)
        set_backbone_trainable(model, unfreeze, keep_bn_frozen=pretrained)
        with strategy.scope():
            model.compile(
                optimizer=keras.optimizers.AdamW(_learning_rate(cfg, peak_lr, steps * n_epochs), weight_decay=1e-4),
                loss=make_loss(cfg.loss),
                metrics=[keras.metrics.AUC(name="auc"), ProbabilisticF1(name="pf1")],
            )
        callbacks = _callbacks(cfg, run_dir, name, state.data["best"], _make_scorer(val_df, cache, cfg), track)
        state.data.setdefault("stage_start", {})[name] = offset
        state.save()
        start = time.perf_counter()
        model.fit(
            train_ds, epochs=offset + n_epochs, initial_epoch=offset, steps_per_epoch=steps,
            callbacks=callbacks, verbose=verbose, shuffle=False,  # the dataset shuffles itself
        )
        seconds += time.perf_counter() - start
        history = _read_history(history_path, state.data["stage_start"])
        offset = int(history.epoch.max()) + 1
        monitored = [v for v in history[cfg.monitor] if np.isfinite(v)]
        state.data["best"] = max(monitored) if monitored else state.data["best"]
        state.data["stages_done"].append(name)
        state.data["next_epoch"] = offset
        state.save()
    history = _read_history(history_path, state.data.get("stage_start", {}))
    return history, seconds


def _read_history(path: Path, stage_start: dict[str, int]) -> pd.DataFrame:
    """Epoch log written by ``CSVLogger`` (last row per epoch wins) with each epoch's stage."""
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame(columns=["epoch", "stage", "loss"])
    history = pd.read_csv(path).drop_duplicates("epoch", keep="last").sort_values("epoch", ignore_index=True)
    starts = sorted(stage_start.items(), key=lambda kv: kv[1])
    history["stage"] = [next((n for n, s in reversed(starts) if e >= s), "") for e in history.epoch]
    return history


def _callbacks(cfg: Config, run_dir: Path, stage: str, best: float | None, scorer, track: bool) -> list:
    import keras

    from .tracking import MlflowEpochLogger

    callbacks = [
        scorer,  # first: later callbacks read the val_auc / val_pf1 it writes into the logs
        keras.callbacks.ModelCheckpoint(
            str(run_dir / "best.weights.h5"), monitor=cfg.monitor, mode="max", save_best_only=True,
            save_weights_only=True, initial_value_threshold=best,
        ),
        keras.callbacks.EarlyStopping(
            monitor=cfg.monitor, mode="max", patience=cfg.early_stopping_patience, start_from_epoch=2
        ),
        keras.callbacks.BackupAndRestore(str(run_dir / f"backup_{stage}")),
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
    ]
    if cfg.lr_schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor=cfg.monitor, mode="max", factor=0.5, patience=1))
    if track:
        callbacks.append(MlflowEpochLogger())
    return callbacks


def _start_run(cfg: Config, run_name: str, state: _State, train_df, val_df, test_df):
    import mlflow

    from .tracking import configure, log_environment, run_params

    configure(cfg)
    run = mlflow.start_run(run_id=state.data.get("mlflow_run_id"), run_name=run_name)
    if "mlflow_run_id" not in state.data:
        state.data["mlflow_run_id"] = run.info.run_id
        state.save()
        mlflow.log_params(run_params(cfg))
        log_environment()
        counts = {
            f"{name}_{what}": value
            for name, frame in (("train", train_df), ("val", val_df), ("test", test_df))
            for what, value in (("images", len(frame)), ("positives", int(frame.cancer.sum())))
        }
        mlflow.log_params(counts)
        mlflow.set_tags({"backbone": cfg.backbone, "dataset": cfg.data_root.name, "profile": cfg.profile})
    return run


def _finish_run(cfg: Config, model, result: TrainResult) -> tuple[str, bool]:
    """Log final metrics, figures and the model to the active run; register and maybe promote it."""
    import matplotlib.pyplot as plt
    import mlflow

    from .plots import plot_confusion, plot_history
    from .tracking import finite_metrics, log_keras_model, promote

    client = mlflow.MlflowClient()
    metrics = result.metrics()
    mlflow.log_metrics(finite_metrics(metrics))
    mlflow.log_table(result.history, "history.json")
    for name, fig in (
        ("learning_curves", plot_history(result.history, f"{result.run_name}: learning curves")),
        ("confusion_val_breast", plot_confusion(result.val["breast"], "Validation, per breast")),
        ("confusion_test_breast", plot_confusion(result.test["breast"], "Test, per breast")),
    ):
        mlflow.log_figure(fig, f"figures/{name}.png")
        plt.close(fig)
    uri = log_keras_model(model)
    key = "val_breast_roc_auc" if cfg.monitor == "val_auc" else "val_breast_pf1"
    return promote(client, cfg.registered_model, uri, key, metrics.get(key, float("nan")))


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mammo_utils.train", description="Train one classifier (tracked in MLflow).")
    parser.add_argument("--profile", default="small", help="small (CPU, embedded data) or full (GPU, real RSNA)")
    parser.add_argument("--data-root", default=None, help="RSNA-layout folder (default: auto-detect)")
    parser.add_argument("--backbone", default=None, help="baseline, resnet50, efficientnetb0..b7, efficientnetv2b0..b3, inceptionv3")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--finetune-epochs", type=int, default=None)
    parser.add_argument("--image-size", default=None, help="HxW, e.g. 1024x512")
    parser.add_argument("--fold", type=int, default=None)
    parser.add_argument("--run-name", default=None)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="any other config field")
    parser.add_argument("--restart", action="store_true", help="start the run over instead of resuming")
    parser.add_argument("--no-track", action="store_true", help="do not log to MLflow")
    return parser.parse_args(argv)


def _overrides(args: argparse.Namespace) -> dict:
    out = {
        k: v for k, v in (
            ("backbone", args.backbone), ("epochs", args.epochs), ("finetune_epochs", args.finetune_epochs),
            ("image_size", args.image_size), ("fold", args.fold),
        ) if v is not None
    }
    fields = {f.name: f for f in dataclasses.fields(Config)}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or key not in fields:
            raise ConfigError(f"--set expects FIELD=VALUE with a config field, got {item!r}")
        out[key] = None if value.lower() == "none" else _cast(value, fields[key].default)
    return out


def _cast(value: str, default):
    if isinstance(default, bool):
        return value.lower() in ("1", "true", "yes")
    for kind in (int, float):
        if isinstance(default, kind):
            return kind(value)
    return value


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; prints the final metrics as JSON. Returns the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = _parse_args(argv)
    try:
        cfg = get_config(args.profile, args.data_root, **_overrides(args))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = train(cfg, run_name=args.run_name, resume=not args.restart, track=not args.no_track)
    print(json.dumps({"run": result.run_name, "mlflow_run_id": result.run_id, "model": str(result.model_path),
                      **{k: round(v, 4) for k, v in result.summary().items() if isinstance(v, float)}}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
