# Size: training, the validation checkpoint callback, the operating point and MLflow tracking of one detector run.
"""Train the lesion detector on the project's folds, pick its epoch on validation mAP, track it in MLflow.

The detector uses the classifier's cache and splits: training folds to fit, the run's validation fold to
choose the checkpoint and stop early (validation mAP@0.5 every ``EVAL_EVERY`` epochs; training stops after
``det_patience`` epochs without a gain, or at ``det_epochs``, and keeps the best epoch's weights, not the last
one; the record says which and why), the test patients only to report. A
finished detector is saved as ``<work_dir>/detector/<key>/detector.keras`` with ``detector.json`` (spec,
history, validation metrics, MLflow run and registry version) and ``trained.json`` (the build that trained it,
the SHA-256 of ``detector.keras``); training the same settings again reuses it.
The MLflow run (experiment ``<experiment>-detection``) holds params, per-epoch losses, validation mAP, the
model, and registers it as ``mammo-lesion-detector`` (the ``champion`` alias follows validation mAP@0.5).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import Config
from ..data.preprocess import cache_key
from ..data.splits import fold_frames
from ..modeling.run_state import write_trained
from ..utils import quiet_stderr, to_json, write_atomic
from .boxes import GEOMETRY_FIELDS, cache_boxes, load_boxes
from .dataset import detection_batches, load_stack
from .detector import (
    DETECTOR_FILE,
    DETECTOR_INFO,
    DETECTOR_RECIPE,
    PRIOR_PROBABILITY,
    WARMUP_EPOCHS,
    DetectorSpec,
    build_detector,
    compile_detector,
    predict_boxes,
)
from .metrics import OPERATING_FPI, coco_map, froc, operating_point, score_at_fpi

#: Validation mAP is computed every this many epochs (and after the last one); early stopping and the kept epoch
#: follow it, so it is every epoch.
EVAL_EVERY = 1


@dataclasses.dataclass
class DetectionData:
    """Images and boxes of the three splits at the detector's size."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    images: dict[str, np.ndarray]
    cache: Path


def detection_frames(cfg: Config, progress: bool = False) -> tuple[pd.DataFrame, Path]:
    """Every cached image with its split, geometry and boxes in cache pixels.

    Args:
        cfg: Configuration (data root, cache size, splits).
        progress: Show the preprocessing progress bar when the cache must be built.

    Returns:
        ``(frame, cache folder)``; the frame has ``png``, ``split``, ``fold``, :data:`GEOMETRY_FIELDS`,
        ``boxes`` and ``classes``.
    """
    from ..data.pipeline import cache_paths
    from ..data.prepare import prepare_data

    df, cache = prepare_data(cfg, progress=progress)
    df = cache_paths(df, cache)
    manifest = pd.read_csv(Path(cache) / "manifest.csv", usecols=["image_id", *GEOMETRY_FIELDS])
    df = df.merge(manifest, on="image_id", how="inner")
    return cache_boxes(df, load_boxes(cfg.data_root), cfg.cache_size), Path(cache)


def load_detection_data(cfg: Config, progress: bool = False) -> DetectionData:
    """The train/validation/test frames of the run's fold with their images loaded."""
    df, cache = detection_frames(cfg, progress)
    train, val, test = fold_frames(df, cfg.fold)
    images = {name: load_stack(frame, cache) for name, frame in (("train", train), ("val", val), ("test", test))}
    return DetectionData(
        train.reset_index(drop=True), val.reset_index(drop=True), test.reset_index(drop=True), images, cache
    )


def truth(rows: pd.DataFrame) -> list[dict]:
    """Ground-truth entries (``boxes``, ``classes``) of frame rows, for :mod:`~mammo_utils.detection.metrics`."""
    return [{"boxes": b, "classes": c} for b, c in zip(rows.boxes, rows.classes)]


def detector_key(cfg: Config) -> str:
    """Folder name of a detector trained with ``cfg``'s data, size, fold, seed, epochs, patience, learning rate and
    the recipe version (:data:`~mammo_utils.detection.detector.DETECTOR_RECIPE`: warm-up and head prior)."""
    h, w = cfg.cache_size
    run = f"f{cfg.fold}_s{cfg.seed}_e{cfg.det_epochs}_p{cfg.det_patience}_lr{cfg.det_learning_rate:g}_{DETECTOR_RECIPE}"
    return f"{cfg.data_root.name}_{cache_key((h, w), cfg.cache_bits)}_{run}"


def detector_dir(cfg: Config) -> Path:
    """Where :func:`train_detector` keeps the detector of ``cfg``."""
    return cfg.work_dir / "detector" / detector_key(cfg)


def stop_reason(best_epoch: int, epochs_run: int, max_epochs: int, patience: int, best: float | None = None) -> str:
    """Why training ended, in words (epochs counted from 1; ``best``: the best validation mAP@0.5, when known)."""
    if best is not None and best <= 0:
        return (
            f"epoch budget: validation mAP@0.5 stayed at 0 for all {epochs_run} epochs (nothing found yet, so the "
            "patience never started): this seed did not learn within the budget"
        )
    if epochs_run < max_epochs:
        return (
            f"early stop: no validation mAP@0.5 gain in the {epochs_run - best_epoch} epochs after epoch "
            f"{best_epoch} (patience {patience})"
        )
    if best_epoch == epochs_run:
        return f"epoch budget: stopped at the maximum of {max_epochs} epochs with validation mAP@0.5 still at its best"
    return (
        f"epoch budget: stopped at the maximum of {max_epochs} epochs ({epochs_run - best_epoch} epochs past the "
        f"best, fewer than the patience of {patience})"
    )


def _validation_callback(model, images: np.ndarray, gt: list[dict], classes, every: int, epochs: int, patience: int):
    import keras

    class ValidationMap(keras.callbacks.Callback):
        """Validation mAP@0.5 every ``every`` epochs; stops after ``patience`` epochs without a gain (0: never) and
        restores the best epoch's weights at the end. Patience counts only once validation mAP@0.5 is above 0: a
        detector that has found nothing yet is still warming up, and stopping it then ends a seed before it began."""

        def __init__(self):
            super().__init__()
            self.best, self.best_epoch, self.weights, self.scores, self.last = -1.0, -1, None, {}, -1

        def on_epoch_end(self, epoch, logs=None):
            self.last = epoch
            if (epoch + 1) % every and epoch + 1 != epochs:
                return
            result = coco_map(gt, predict_boxes(model, images), classes)
            self.scores[epoch] = result
            if logs is not None:
                logs["val_map50"] = result["map50"]
                logs["val_map50_95"] = result["map50_95"]
            if result["map50"] > self.best:
                self.best, self.best_epoch, self.weights = result["map50"], epoch, model.get_weights()
            elif patience and self.best > 0 and epoch - self.best_epoch >= patience:
                model.stop_training = True

        def on_train_end(self, logs=None):
            if self.weights is not None:
                model.set_weights(self.weights)

    return ValidationMap()


def train_detector(cfg: Config, track: bool = True, force: bool = False, verbose: int = 0) -> dict:
    """Train (or reuse) the lesion detector of ``cfg`` and return its record.

    Args:
        cfg: Configuration (``cache_size`` = detector input, ``det_*`` settings, fold, seed, MLflow store).
        track: Log to MLflow and register the model.
        force: Retrain even when a finished detector with these settings exists.
        verbose: Keras ``fit`` verbosity.

    Returns:
        The record saved as ``detector.json``: ``spec``, ``history``, ``best_epoch``, ``val`` metrics,
        ``epochs_run``, ``max_epochs``, ``patience``, ``stop_reason``, ``train_seconds``, ``seconds_per_epoch``,
        ``mlflow_run_id``, ``registry_version``, ``folder`` (where the detector is now: a reused one's record names
        the folder it was found in).
    """
    import keras

    out = detector_dir(cfg)
    if (out / DETECTOR_INFO).is_file() and (out / DETECTOR_FILE).is_file() and not force:
        # the folder it was found in, not the one it was trained in (a work folder copied or moved elsewhere)
        return refresh_operating_point(cfg, {**json.loads((out / DETECTOR_INFO).read_text()), "folder": str(out)})
    spec = DetectorSpec(image_size=tuple(cfg.cache_size))
    data = load_detection_data(cfg)
    model = build_detector(spec, seed=cfg.seed)
    batches = detection_batches(data.images["train"], data.train, cfg.det_batch_size, cfg.augment_strength, cfg.seed)
    compile_detector(model, cfg.det_learning_rate, cfg.det_epochs * len(batches), WARMUP_EPOCHS * len(batches))
    val_gt = truth(data.val)
    check = _validation_callback(
        model, data.images["val"], val_gt, spec.classes, EVAL_EVERY, cfg.det_epochs, cfg.det_patience
    )
    callbacks = [check]
    run = None
    if track:
        run = _start_run(cfg, spec, data)
        from ..modeling.tracking import epoch_logger

        callbacks.append(epoch_logger())
    start = time.perf_counter()
    try:
        with quiet_stderr():  # oneDNN / tf.data C++ notices (Python errors still propagate)
            history = model.fit(
            batches, epochs=cfg.det_epochs,
            callbacks=callbacks, verbose=verbose,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        epochs_run = check.last + 1
        operating = operating_fields(val_gt, predict_boxes(model, data.images["val"]))
        record = {
            "spec": spec.to_dict(),
            "history": _history(history.history, check.scores),
            "best_epoch": check.best_epoch + 1,
            "epochs_run": epochs_run,
            "max_epochs": cfg.det_epochs,
            "patience": cfg.det_patience,
            "stop_reason": stop_reason(
                check.best_epoch + 1, epochs_run, cfg.det_epochs, cfg.det_patience, max(check.best, 0.0)
            ),
            "val": check.scores.get(check.best_epoch, {}),
            "train_seconds": round(seconds, 1),
            "seconds_per_epoch": round(seconds / max(epochs_run, 1), 2),
            "recipe": {"version": DETECTOR_RECIPE, "warmup_epochs": WARMUP_EPOCHS, "prior": PRIOR_PROBABILITY},
            **operating,
            "n_images": {"train": len(data.train), "val": len(data.val), "test": len(data.test)},
            "n_boxes": {
                k: int(sum(len(b) for b in f.boxes))
                for k, f in (("train", data.train), ("val", data.val), ("test", data.test))
            },
            "fold": cfg.fold,
            "seed": cfg.seed,
            "data_root": cfg.data_root.name,
            "folder": str(out),
        }
        _save(model, record, out, cfg.work_dir)
        if run is not None:
            record.update(_finish_run(cfg, model, record))
            write_atomic(out / DETECTOR_INFO, to_json(record, indent=2).encode())
    except BaseException:
        if run is not None:
            from ..modeling.tracking import end_run

            end_run("FAILED")
        raise
    keras.backend.clear_session()
    return record


def operating_fields(val_gt: list[dict], val_boxes: list[dict]) -> dict:
    """The operating point chosen on validation at :data:`~mammo_utils.detection.metrics.OPERATING_FPI`.

    Args:
        val_gt: Validation ground truth per image.
        val_boxes: The detector's validation boxes per image.

    Returns:
        ``operating_score`` (the lowest score keeping validation at or below the target), ``operating_fp_per_image``
        (the target), ``operating_fp_per_image_reached`` (the validation FP/image at that score, at most the target)
        and ``val_curve_end_fp_per_image`` (where the validation curve ends, every kept box counted: when it is below
        the target, the operating score is the lowest score the detector keeps, not a point at the target).
    """
    score = score_at_fpi(val_gt, val_boxes, OPERATING_FPI)
    return {
        "operating_score": score,
        "operating_fp_per_image": OPERATING_FPI,
        "operating_fp_per_image_reached": operating_point(val_gt, val_boxes, score)["fp"] / max(len(val_gt), 1),
        "val_curve_end_fp_per_image": froc(val_gt, val_boxes, rates=())["max_fp_per_image"],
    }


def refresh_operating_point(cfg: Config, record: dict) -> dict:
    """A reused detector's record, its operating point re-chosen on validation if it was set at another FP/image.

    A detector trained before :data:`~mammo_utils.detection.metrics.OPERATING_FPI` changed keeps its weights (the
    rate is not part of its folder key); only the operating score moves, and its ``detector.json`` is rewritten so
    the export and the service read the new one.

    Args:
        cfg: Configuration of the detector's data (same as training).
        record: The saved record, with ``folder``.

    Returns:
        The record (unchanged when it was chosen at :data:`~mammo_utils.detection.metrics.OPERATING_FPI` and
        records where the validation curve ends).
    """
    if record.get("operating_fp_per_image") == OPERATING_FPI and "val_curve_end_fp_per_image" in record:
        return record
    from .detector import load_detector

    model, _ = load_detector(record["folder"])
    df, cache = detection_frames(cfg)
    val = fold_frames(df, cfg.fold)[1].reset_index(drop=True)
    record = {**record, **operating_fields(truth(val), predict_boxes(model, load_stack(val, cache)))}
    write_atomic(Path(record["folder"]) / DETECTOR_INFO, to_json(record, indent=2).encode())
    return record


def _history(logged: dict, scores: dict) -> dict:
    """Per-epoch lists of equal length: Keras' losses, and validation mAP where it was computed (NaN elsewhere)."""
    out = {k: [float(v) for v in vals] for k, vals in logged.items() if not k.startswith("val_map")}
    n = len(out["loss"])
    for key in ("map50", "map50_95"):
        out[f"val_{key}"] = [float(scores[e][key]) if e in scores else float("nan") for e in range(n)]
    return out


def _save(model, record: dict, out: Path, work: Path) -> None:
    """Write the model, its record and its training record (build, weights digest:
    :func:`~mammo_utils.modeling.run_state.write_trained`) to a staging folder, then swap it in (never a
    half-written detector)."""
    stage = out.with_name(out.name + ".partial")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    model.save(stage / DETECTOR_FILE)
    write_atomic(stage / DETECTOR_INFO, to_json(record, indent=2).encode())
    write_trained(stage, [DETECTOR_FILE], work)
    shutil.rmtree(out, ignore_errors=True)
    stage.rename(out)


def _start_run(cfg: Config, spec: DetectorSpec, data: DetectionData):
    from ..modeling import tracking

    params = {
        "architecture": "keras-cv YOLOV8Detector",
        "image_size": f"{spec.image_size[0]}x{spec.image_size[1]}",
        "channels": str(list(spec.channels)),
        "depths": str(list(spec.depths)),
        "fpn_depth": spec.fpn_depth,
        "classes": ",".join(spec.classes),
        "max_epochs": cfg.det_epochs,
        "patience": cfg.det_patience,
        "eval_every": EVAL_EVERY,
        "learning_rate": cfg.det_learning_rate,
        "warmup_epochs": WARMUP_EPOCHS,
        "class_prior": PRIOR_PROBABILITY,
        "recipe": DETECTOR_RECIPE,
        "batch_size": cfg.det_batch_size,
        "augment_strength": cfg.augment_strength,
        "fold": cfg.fold,
        "seed": cfg.seed,
        "train_images": len(data.train),
        "train_boxes": int(sum(len(b) for b in data.train.boxes)),
        "val_images": len(data.val),
        "test_images": len(data.test),
    }
    return tracking.start_task_run(
        dataclasses.replace(cfg, experiment=f"{cfg.experiment}-detection"),
        f"yolov8_{cfg.cache_size[0]}x{cfg.cache_size[1]}_f{cfg.fold}_s{cfg.seed}",
        params,
        {"task": "detection", "dataset": cfg.data_root.name, "profile": cfg.profile},
    )


def _finish_run(cfg: Config, model, record: dict) -> dict:
    from ..modeling import tracking

    val = record["val"]
    summary = {"best_val_map50": val.get("map50"), "best_val_map50_95": val.get("map50_95")}
    summary.update(best_epoch=record["best_epoch"], epochs_run=record["epochs_run"])
    summary.update(train_seconds=record["train_seconds"], seconds_per_epoch=record["seconds_per_epoch"])
    import mlflow

    mlflow.set_tag("stop_reason", record["stop_reason"])
    return tracking.finish_task_run(
        model,
        summary,
        {"detector.json": {k: v for k, v in record.items() if k != "history"}},
        registered_model=cfg.registered_detector,
        model_name="detector",
        metric=("best_val_map50", float(val.get("map50", float("nan")))),
    )
