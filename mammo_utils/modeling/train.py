# Size: the trainer's stages, callbacks, resume and final evaluation share one run state.
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

A run lives in ``<work_dir>/runs/<run_name>`` (files: :mod:`mammo_utils.modeling.run_state`);
rerunning the same name resumes: finished stages are skipped and an interrupted stage restarts from its
last epoch (``keras.callbacks.BackupAndRestore``), in the same MLflow run. Beside the model,
``model_info.json`` keeps what inference needs (preprocessing, threshold) so serving never re-derives it, and
``trained.json`` the build that trained it and its checkpoint's SHA-256 (written when training ends, not on a
re-score).

CLI::

    mammo train --profile small --set backbone=efficientnetb0 --set epochs=2
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from .. import __version__
from ..config import MONITORING_FIELDS, Config
from ..data.pipeline import cache_paths, make_dataset, steps_per_epoch
from ..data.prepare import prepare_data
from ..data.preprocess import Preprocessing
from ..data.splits import fold_frames
from ..evaluation.evaluate import breast_predictions, evaluate_predictions, flat_metrics, inference_ms
from ..evaluation.metrics import pfbeta, roc_auc
from ..utils import deterministic_threads, portable_path, seed_everything, to_json, write_atomic
from . import distributed_fit, tracking
from . import run_state as R
from .keras_metrics import ProbabilisticF1
from .losses import class_weights, make_loss
from .models import build_model, is_pretrained, set_backbone_trainable
from .score import score_cached
from .strategy import distribution_strategy, is_chief, num_workers, worker_suffix

log = logging.getLogger(__name__)


@dataclasses.dataclass
class TrainResult:
    """What a training run produced.

    Attributes:
        run_name: Folder name under ``<work_dir>/runs``.
        run_id: MLflow run id (None when tracking was off).
        model_path: Saved ``.keras`` model with the best weights.
        history: One row per epoch (``epoch, stage, loss, val_auc, val_pf1, lr``).
        val: :func:`~mammo_utils.evaluation.evaluate.evaluate_predictions` on validation.
        test: The same on test with the validation threshold.
        threshold: Breast-level decision threshold chosen on validation.
        params: Parameter count.
        train_seconds: Wall time of all the run's training stages (earlier, resumed calls included).
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
        out = {**flat_metrics(self.val, "val"), **flat_metrics(self.test, "test")}
        out.update(
            {"params": float(self.params), "train_seconds": self.train_seconds, "infer_ms_per_image": self.infer_ms}
        )
        return out

    def summary(self) -> dict[str, float]:
        """One comparison-table row: the columns of :data:`mammo_utils.modeling.tracking.COMPARISON_COLUMNS`."""
        metrics = self.metrics()
        return {label: metrics[key] for key, label in tracking.COMPARISON_COLUMNS.items()}


#: Configuration fields recorded beside a trained model (``model_info.json``) and carried into its export.
RECIPE_KEYS = (
    "weights",
    "epochs",
    "finetune_epochs",
    "batch_size",
    "learning_rate",
    "finetune_lr",
    "lr_schedule",
    "pooling",
    "dropout",
    "pos_ratio",
    "loss",
    "augment_strength",
    "freeze_bn",
)


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
    if cfg.lr_schedule == "plateau":
        return peak
    warmup = max(1, steps // 10)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak * 0.1,
        decay_steps=max(1, steps - warmup),
        alpha=0.01,
        warmup_target=peak,
        warmup_steps=warmup,
    )


def _fingerprint(cfg: Config, model, extra: dict | None = None) -> str:
    ignored = {"workers", "mlflow_uri", "experiment", "registered_model", "profile", "work_dir", *MONITORING_FIELDS}
    settings = {k: v for k, v in cfg.to_dict().items() if k not in ignored}
    return R.fingerprint({**settings, **extra} if extra else settings, model)


def preprocessing_for(cfg: Config) -> Preprocessing:
    """The preprocessing a model trained with ``cfg`` expects (saved in ``model_info.json``)."""
    return Preprocessing(cache_size=cfg.cache_size, cache_bits=cfg.cache_bits, image_size=cfg.image_size)


def _make_scorer(val_rows: pd.DataFrame, cache_dir: Path, cfg: Config):
    class ValidationScorer(keras.callbacks.Callback):
        """Adds ``val_auc`` (image ROC-AUC, NaN when validation holds one class: see :func:`_nan_safe`),
        ``val_pf1`` (breast pF1) and ``val_loss`` (image BCE on the natural distribution, unweighted) to each
        epoch's logs."""

        def on_epoch_end(self, epoch, logs=None):
            pred = score_cached(self.model, val_rows, cache_dir, cfg.image_size, cfg.batch_size)
            breasts = breast_predictions(pred, pred.prediction)
            if logs is not None:
                logs["val_auc"] = roc_auc(pred.cancer, pred.prediction)  # NaN when validation holds one class
                logs["val_pf1"] = pfbeta(breasts.cancer, breasts.prediction)
                logs["val_breast_auc"] = roc_auc(breasts.cancer, breasts.prediction)
                p = np.clip(pred.prediction.to_numpy(float), 1e-7, 1 - 1e-7)
                y = pred.cancer.to_numpy(float)
                logs["val_loss"] = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

    return ValidationScorer()


def train(
    cfg: Config,
    run_name: str | None = None,
    resume: bool = True,
    track: bool = True,
    verbose: int = 2,
    promote: bool = True,
    model=None,
    extra_train: pd.DataFrame | None = None,
) -> TrainResult:
    """Train, evaluate and track one model (see the module docstring for the steps).

    Args:
        cfg: Run configuration (backbone, sizes, epochs, LRs, imbalance handling, fold, seed…).
        run_name: Run folder / MLflow run name (default :func:`default_run_name`).
        resume: Continue a previous run of the same name; False starts it over.
        track: Log to MLflow and register the model.
        verbose: Keras ``fit`` verbosity (2: one line per epoch, 0: silent).
        promote: Let the registry move the ``champion`` alias when this run is better on validation; False
            only registers the model (the retraining gate decides itself).
        model: A model already built for ``cfg`` (the tuner builds its own); None builds it with
            :func:`~mammo_utils.modeling.models.build_model`.
        extra_train: Rows added to the training split only (labelled feedback imported into the cache:
            :func:`mammo_utils.workflows.feedback_data.import_feedback`); their count, positives and the
            digest of their ``request_id``/``label_id`` pairs enter the run's fingerprint and its MLflow params.

    Returns:
        A :class:`TrainResult`.

    Raises:
        LeakageError: Patient overlap between splits.
        ValueError: A split without cached images.
    """
    previous_policy = keras.mixed_precision.global_policy().name
    if num_workers() > 1:
        if cfg.deterministic:
            deterministic_threads()
        distribution_strategy()  # a multi-worker strategy must precede every other TF op (created once, cached)
    seed_everything(cfg.seed, deterministic=cfg.deterministic)
    df, cache = prepare_data(cfg, progress=verbose > 0)
    train_df, val_df, test_df = (cache_paths(f, cache) for f in fold_frames(df, cfg.fold))
    extra = _extra_rows(extra_train, cache)
    if len(extra):
        train_df = pd.concat([train_df, extra], ignore_index=True)
    run_name = (run_name or default_run_name(cfg)) + worker_suffix()  # only the chief writes the run's folder
    track = track and is_chief()  # and only the chief logs to MLflow and registers the model
    strategy, _ = distribution_strategy()
    try:
        with strategy.scope():
            model = (
                model
                if model is not None
                else build_model(
                    cfg.backbone,
                    cfg.image_size,
                    weights=cfg.weights,
                    pooling=cfg.pooling,
                    dropout=cfg.dropout,
                    augment_strength=cfg.augment_strength,
                    seed=cfg.seed,
                )
            )
        frames = (cache, train_df, val_df, test_df)
        return _train_built(cfg, model, strategy, run_name, resume, track, verbose, frames, promote, extra)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


def _extra_rows(extra: pd.DataFrame | None, cache: Path) -> pd.DataFrame:
    """Imported training rows with their cache paths (empty without any); they must all be in the cache."""
    if extra is None or not len(extra):
        return pd.DataFrame()
    if set(extra.get("split", pd.Series(["train"]))) != {"train"}:
        raise ValueError("extra_train rows must all be training rows (split 'train')")
    found = cache_paths(extra, cache)
    if len(found) != len(extra):
        missing = sorted(set(extra.image_id) - set(found.image_id))[:5]
        raise ValueError(f"{cache}: {len(extra) - len(found)} extra_train image(s) not in the cache, e.g. {missing}")
    return found


def _extra_summary(extra: pd.DataFrame | None) -> dict:
    """What a run records of its extra training rows: count, positives and a digest of the labels used."""
    if extra is None or not len(extra):
        return {}
    pairs = sorted(zip(extra.get("request_id", extra.image_id).astype(str), extra.get("label_id", extra.cancer)))
    digest = hashlib.sha256(to_json([[a, int(b)] for a, b in pairs]).encode()).hexdigest()[:16]
    return {"feedback_images": len(extra), "feedback_positives": int(extra.cancer.sum()), "feedback_digest": digest}


def _train_built(cfg, model, strategy, run_name, resume, track, verbose, frames, promote, extra=None) -> TrainResult:
    cache, train_df, val_df, test_df = frames
    run_dir = cfg.runs_dir / run_name
    extra_info = _extra_summary(extra)
    fingerprint = _fingerprint(cfg, model, extra_info)
    state = R.RunState.open(run_dir, fingerprint, resume)
    recorded = state.data.get("mlflow_run_id")
    if track and recorded and not tracking.run_exists(cfg, recorded):
        # the folder was tracked in another store (e.g. run_all.sh's fresh reports store): its MLflow run, model
        # version and metrics are not here, so resuming would half-exist; it is trained again instead
        log.warning("%s was tracked in another MLflow store: starting it over", portable_path(run_dir))
        state = R.RunState.open(run_dir, fingerprint, resume=False)
    best_weights = run_dir / R.BEST_WEIGHTS
    weights = None if cfg.pos_ratio is not None or cfg.loss == "focal" else class_weights(train_df.cancer)
    train_ds = make_dataset(
        train_df,
        cache,
        batch_size=cfg.batch_size,
        image_size=cfg.image_size,
        training=True,
        pos_ratio=cfg.pos_ratio,
        sample_weights=weights,
        seed=cfg.seed,
        ordered=cfg.deterministic,
    )
    steps = steps_per_epoch(len(train_df), cfg.batch_size)

    run = tracking.start_training_run(cfg, run_name, state, train_df, val_df, test_df) if track else None
    if run is not None and extra_info:
        tracking.log_params(extra_info)
    try:
        done_before = len(state.data["stages_done"])
        history, train_seconds = _fit_stages(
            cfg, model, strategy, train_ds, steps, run_dir, state, val_df, cache, track, verbose
        )
        trained_now = len(state.data["stages_done"]) > done_before  # False: a finished run, only re-scored
        if best_weights.is_file():
            model.load_weights(best_weights)
        elif trained_now:  # no finite monitored epoch: the last weights are the run's, kept for re-scoring
            model.save_weights(best_weights)
        model_path = run_dir / R.MODEL
        model.save(model_path)
        if trained_now:  # the build that trained it and its checkpoint's digest (a re-score keeps the record)
            R.write_trained(run_dir, [R.BEST_WEIGHTS], cfg.work_dir)
        val_pred = score_cached(model, val_df, cache, cfg.image_size, cfg.batch_size)
        test_pred = score_cached(model, test_df, cache, cfg.image_size, cfg.batch_size)
        val = evaluate_predictions(val_pred)
        test = evaluate_predictions(test_pred, threshold=val["threshold"])
        result = TrainResult(
            run_name,
            None,
            model_path,
            history,
            val,
            test,
            val["threshold"],
            int(model.count_params()),
            train_seconds,
            inference_ms(model, cfg.image_size),
            None,
            val_pred,
            test_pred,
        )
        if track:
            result.run_id = run.info.run_id
            result.model_version = tracking.finish_training_run(cfg, model, result, promote=promote)
        info_path = write_model_info(cfg, result)
        if track:
            tracking.log_file(info_path)  # `mammo export --model models:/…` reads it back
    except BaseException:
        if track:
            tracking.end_run("FAILED")
        raise
    if track:
        tracking.end_run()
    return result


def portable_weights(weights: str | None) -> str | None:
    """A ``weights`` setting as recorded: ``imagenet``/None as they are, a weights file by its name only."""
    return weights if weights in (None, "imagenet") else Path(weights).name


def write_model_info(cfg: Config, result: TrainResult) -> Path:
    """Write ``model_info.json`` beside the model: preprocessing, threshold, metrics and provenance.

    Args:
        cfg: The run's configuration.
        result: The finished run.

    Returns:
        The file written.
    """
    info = {
        "model_file": R.MODEL,
        "name": cfg.registered_model,
        "backbone": cfg.backbone,
        "classes": ["no cancer", "cancer"],
        "input": {"shape": [*cfg.image_size, 1], "dtype": "float32", "range": [0.0, 1.0]},
        "preprocessing": preprocessing_for(cfg).to_dict(),
        "threshold": result.threshold,
        "breast_aggregation": "mean",
        "run_name": result.run_name,
        "mlflow_run_id": result.run_id,
        "registry_version": result.model_version[0] if result.model_version else None,
        "metrics": {k: round(v, 6) for k, v in result.metrics().items() if np.isfinite(v)},
        # the training recipe a model card lists (the run's MLflow params hold the whole configuration)
        "recipe": {key: getattr(cfg, key) for key in RECIPE_KEYS} | {"weights": portable_weights(cfg.weights)},
        "package_version": __version__,
    }
    path = result.model_path.parent / R.MODEL_INFO
    write_atomic(path, to_json(info, indent=1).encode())
    return path


def _fit_stages(
    cfg: Config,
    model,
    strategy,
    train_ds,
    steps: int,
    run_dir: Path,
    state: R.RunState,
    val_df,
    cache,
    track: bool,
    verbose: int,
):
    """Run the training stages not finished yet; returns (history of all epochs, the run's training seconds)."""
    best_weights = run_dir / R.BEST_WEIGHTS
    history_path = run_dir / R.HISTORY
    offset, seconds = int(state.data.get("next_epoch", 0)), 0.0
    pretrained = is_pretrained(model)
    for name, n_epochs, peak_lr, unfreeze in _stages(cfg, pretrained):
        if n_epochs == 0 or name in state.data["stages_done"]:
            continue
        if best_weights.is_file():
            model.load_weights(best_weights)
        set_backbone_trainable(model, unfreeze, keep_bn_frozen=pretrained and cfg.freeze_bn)
        with strategy.scope():
            model.compile(
                optimizer=keras.optimizers.AdamW(_learning_rate(cfg, peak_lr, steps * n_epochs), weight_decay=1e-4),
                loss=make_loss(cfg.loss, gamma=cfg.focal_gamma),
                metrics=[keras.metrics.AUC(name="auc"), ProbabilisticF1(name="pf1")],
            )
        callbacks = _callbacks(cfg, run_dir, name, state.data["best"], _make_scorer(val_df, cache, cfg), track)
        state.data.setdefault("stage_start", {})[name] = offset
        state.save()
        start = time.perf_counter()
        _fit(
            model,
            strategy,
            train_ds,
            epochs=offset + n_epochs,
            initial_epoch=offset,
            steps_per_epoch=steps,
            callbacks=callbacks,
            verbose=verbose,
        )
        seconds += time.perf_counter() - start
        state.data["train_seconds"] = float(state.data.get("train_seconds", 0.0)) + time.perf_counter() - start
        history = _read_history(history_path, state.data["stage_start"])
        offset = int(history.epoch.max()) + 1
        monitored = [v for v in history[cfg.monitor] if np.isfinite(v)]
        state.data["best"] = max(monitored) if monitored else state.data["best"]
        state.data["stages_done"].append(name)
        state.data["next_epoch"] = offset
        state.save()
    history = _read_history(history_path, state.data.get("stage_start", {}))
    # every stage of the run, earlier calls included: a finished run re-scored later reports what it took to train
    return history, float(state.data.get("train_seconds", seconds))


def _fit(model, strategy, train_ds, **kwargs) -> None:
    """``model.fit`` on one worker; the loop of :mod:`~mammo_utils.modeling.distributed_fit` over several.

    Args:
        model: The compiled model.
        strategy: Its distribution strategy.
        train_ds: The training dataset (it shuffles itself).
        **kwargs: ``epochs``, ``initial_epoch``, ``steps_per_epoch``, ``callbacks``, ``verbose``.
    """
    if num_workers() > 1:
        distributed_fit.fit(model, strategy, train_ds, **kwargs)
    else:
        model.fit(train_ds, shuffle=False, **kwargs)


def _read_history(path: Path, stage_start: dict[str, int]) -> pd.DataFrame:
    """Epoch log written by ``CSVLogger`` (last row per epoch wins) with each epoch's stage."""
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame(columns=["epoch", "stage", "loss"])
    history = pd.read_csv(path).drop_duplicates("epoch", keep="last").sort_values("epoch", ignore_index=True)
    starts = sorted(stage_start.items(), key=lambda kv: kv[1])
    history["stage"] = [next((n for n, s in reversed(starts) if e >= s), "") for e in history.epoch]
    return history


def _nan_safe(callback_class):
    """A monitoring callback class for which a NaN value is never an improvement, and any finite value beats NaN.

    ``val_auc`` is NaN when the validation fold holds one class (:func:`mammo_utils.evaluation.metrics.roc_auc`),
    never a made-up 0.5. Keras compares with ``>``, and would keep a first NaN as the best forever; with this,
    a NaN epoch is never checkpointed (when no epoch is finite the last weights are kept), counts against
    early stopping's patience and lets a plateau schedule lower the rate, like an epoch that did not improve.
    """

    class NanSafe(callback_class):
        def _is_improvement(self, monitor_value, reference_value):
            if monitor_value is None or not np.isfinite(monitor_value):
                return False
            if reference_value is None or not np.isfinite(reference_value):
                return True
            return super()._is_improvement(monitor_value, reference_value)

    NanSafe.__name__ = NanSafe.__qualname__ = f"NanSafe{callback_class.__name__}"
    return NanSafe


def _callbacks(cfg: Config, run_dir: Path, stage: str, best: float | None, scorer, track: bool) -> list:
    callbacks = [
        scorer,  # first: later callbacks read the val_auc / val_pf1 it writes into the logs
        _nan_safe(keras.callbacks.ModelCheckpoint)(
            str(run_dir / R.BEST_WEIGHTS),
            monitor=cfg.monitor,
            mode="max",
            save_best_only=True,
            save_weights_only=True,
            initial_value_threshold=best,
        ),
        _nan_safe(keras.callbacks.EarlyStopping)(
            monitor=cfg.monitor, mode="max", patience=cfg.early_stopping_patience, start_from_epoch=2
        ),
        keras.callbacks.BackupAndRestore(str(R.backup_dir(run_dir, stage))),
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.CSVLogger(str(run_dir / R.HISTORY), append=True),
    ]
    if cfg.lr_schedule == "plateau":
        callbacks.append(
            _nan_safe(keras.callbacks.ReduceLROnPlateau)(monitor=cfg.monitor, mode="max", factor=0.5, patience=1)
        )
    if track:
        callbacks.append(tracking.epoch_logger())
    return callbacks
