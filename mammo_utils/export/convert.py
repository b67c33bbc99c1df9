# Size: the format writers, the parity checks against Keras and the staging/release of one export, in the order an
# export runs.
"""Export a trained classifier to SavedModel, ONNX and TFLite (float16, int8), checked against Keras.

An export folder is the product's model format: the API, the web app and the benchmark read only it::

    model.json            what a runtime needs: input name/shape/dtype, output name, preprocessing, frozen
                          threshold, classes, architecture (read from the graph: blocks, pooling, dropout,
                          parameter count), training run and metrics, parity results, and the SHA-256 of
                          every file (each file's own, as ``sha256sum`` prints; a folder lists its files)
    model.keras           the inference model (augmentation removed) for Grad-CAM and as the reference
    saved_model/          TensorFlow SavedModel, ``serving_default`` signature with the input named ``image``
    model.onnx            ONNX (tf2onnx, opset 17, dynamic batch axis)
    model_fp16.tflite     TFLite with float16 weights
    model_int8.tflite     TFLite full-integer int8 (float input/output), calibrated on training images only

Every format is scored on the validation patients of the model's own cache (the fold it was selected on) and
compared with Keras before it is written: SavedModel and ONNX must reproduce the probability within
:data:`PARITY_TOLERANCE` (float32); quantised TFLite files must keep the validation breast ROC-AUC within
``max_auc_drop`` and flip at most ``max_flip_rate`` of the breast decisions at the frozen threshold. No test
patient takes part in the gate or the choice of a format: the test split is scored afterwards, for information
only (:mod:`.benchmark`). A format that fails is refused with the measured value in the error
(:class:`ExportError`), and the folder is written to a temporary name and renamed at the end, so a reader
never sees a half-written export. Exported to the champion pointer (``.../export/champion``), the export is a
release: an immutable ``versions/<version>`` folder, and the pointer is switched only after every check passed
(:mod:`.release`).

Why tf2onnx and not ``model.export(format="onnx")``: Keras' own ONNX path (opset 15) turns EfficientNet's
normalisation constants into extra graph inputs that onnxruntime refuses (measured, see DEPENDENCIES.md).

Example:
    >>> from mammo_utils.export.convert import export_model
    >>> export_model("data/work/runs/04_baseline", "data/work/export/baseline", cfg)  # doctest: +SKIP
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from ..config import Config
from ..data.prepare import data_for_model
from ..data.preprocess import read_cached
from ..evaluation.drift import image_features, reference_statistics
from ..evaluation.evaluate import breast_predictions
from ..evaluation.metrics import roc_auc
from ..modeling.artifact import (
    ARTIFACT,
    DETECTOR_FOLDER,
    FILES,
    INPUT_NAME,
    OUTPUT_NAME,
    REFERENCE_FILE,
    ExportError,
    entry_digests,
)
from ..modeling.resolve import resolve_model
from ..modeling.score import EvalSet, load_images, predict_arrays, score_cached
from ..utils import build_identity, portable_path, quiet_stderr, to_json, write_atomic
from .release import CHAMPION, publish, staging_folder, switch_pointer
from .runtime import (
    FLIP_NOISE,
    FORMATS,
    MAX_AUC_DROP,
    MAX_FLIP_RATE,
    ONNX_OPSET,
    PARITY_TOLERANCE,
    open_runner,
    size_mb,
)


def inference_model(model):
    """The model without its augmentation block, with the input named ``image`` and the output ``probability``.

    The augmentation layers are inert outside training, but exporting them would carry their random ops
    into every graph; this rebuilds the graph from the augmentation block's output, sharing the weights.

    Args:
        model: A classifier of :func:`mammo_utils.modeling.models.build_model` (or loaded from ``.keras``).

    Returns:
        A functional ``keras.Model`` ``(None, H, W, 1) -> (None, 1)``.
    """
    import keras

    inner = model
    try:
        augmentation = model.get_layer("augmentation")
        inner = keras.Model(augmentation.output, model.output, name=f"{model.name}_core")
    except ValueError:
        pass  # a model without an augmentation block
    shape = tuple(model.input_shape[1:])
    inputs = keras.Input(shape, name=INPUT_NAME)
    outputs = keras.layers.Activation("linear", dtype="float32", name=OUTPUT_NAME)(inner(inputs))
    return keras.Model(inputs, outputs, name=model.name)


def _write_format(model, fmt: str, folder: Path, calibration: np.ndarray | None) -> None:
    import tensorflow as tf

    h, w, c = model.input_shape[1:]
    if fmt == "keras":
        model.save(folder / FILES["keras"])
    elif fmt == "savedmodel":
        model.export(str(folder / FILES["savedmodel"]), format="tf_saved_model", verbose=False)
    elif fmt == "onnx":
        import tf2onnx

        spec = [tf.TensorSpec((None, h, w, c), tf.float32, name=INPUT_NAME)]
        tf2onnx.convert.from_keras(model, input_signature=spec, opset=ONNX_OPSET, output_path=str(folder / FILES[fmt]))
    else:
        converter = tf.lite.TFLiteConverter.from_saved_model(str(folder / FILES["savedmodel"]))
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if fmt == "tflite-fp16":
            converter.target_spec.supported_types = [tf.float16]
        else:
            samples = np.asarray(calibration, np.float32)
            converter.representative_dataset = lambda: ([samples[i : i + 1]] for i in range(len(samples)))
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            if _has_gem(model):
                (folder / FILES[fmt]).write_bytes(_gem_float_mean(tf, converter))
                return
        (folder / FILES[fmt]).write_bytes(converter.convert())


def _has_gem(model) -> bool:
    """Whether a model (nested models included) pools with GeM."""
    from ..modeling.models import GeMPooling

    stack = list(model.layers)
    while stack:
        layer = stack.pop()
        if isinstance(layer, GeMPooling):
            return True
        stack.extend(getattr(layer, "layers", []))
    return False


def _gem_float_mean(tf, converter) -> bytes:
    """Full-integer int8 TFLite with GeM's ``MEAN`` kept in float (every other op int8).

    GeM pools ``mean(x ** p) ** (1 / p)``. The ``x ** p`` values span about five decades (a median near 0.001, a
    calibrated maximum near 28,000), so an int8 ``MEAN`` output, with a scale of about 4 for values near 0.2, rounds
    most channels to 0. Measured on the small profile's tuned model: largest probability change 0.99 and 10 of 120
    validation decisions flipped with every op in int8; 0.067 and none with ``MEAN`` in float. ``POW`` has no int8
    kernel and runs in float either way. Squeeze-excite blocks also use ``MEAN``, hence only for GeM models.
    """
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=["MEAN"])
    debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_options=options)
    return debugger.get_nondebug_quantized_model()


def calibration_rows(df: pd.DataFrame, fold: int, n: int, seed: int = 0) -> pd.DataFrame:
    """Training images of a fold for int8 calibration (never validation or test patients).

    Args:
        df: Images with ``split``/``fold`` (and ``png``).
        fold: The validation fold the model was selected on.
        n: How many images (all when fewer).
        seed: Sampling seed.

    Returns:
        Up to ``n`` rows, half of them cancers when available (int8 ranges must cover lesions too).
    """
    from ..data.splits import fold_frames

    train, _, _ = fold_frames(df, fold)
    pos, neg = train[train.cancer == 1], train[train.cancer == 0]
    n_pos = min(len(pos), n // 2)
    parts = [pos.sample(n_pos, random_state=seed), neg.sample(min(len(neg), n - n_pos), random_state=seed)]
    return pd.concat(parts).sort_values("image_id")


def model_data(cfg: Config, info: dict, calibration: int, split: str = "test") -> tuple[EvalSet, EvalSet]:
    """The test (or validation) split and calibration images of the cache a model was trained on.

    Args:
        cfg: Configuration (data root, work dir, splits, fold).
        info: The model's info (``preprocessing``).
        calibration: Number of calibration images.
        split: ``"test"`` or ``"validation"`` (the fold the model was selected on).

    Returns:
        ``(scored set, calibration set)``.

    Raises:
        ValueError: ``split`` is neither.
    """
    from ..data.splits import fold_frames

    if split not in ("test", "validation"):
        raise ValueError(f"split must be 'test' or 'validation', got {split!r}")
    cfg, df, cache = data_for_model(cfg, info)
    test = fold_frames(df, cfg.fold)[2 if split == "test" else 1]
    calib = calibration_rows(df, cfg.fold, calibration, cfg.seed)
    return load_images(test, cache, cfg.image_size), load_images(calib, cache, cfg.image_size)


def compare(
    reference: np.ndarray,
    candidate: np.ndarray,
    rows: pd.DataFrame,
    threshold: float,
    candidate_threshold: float | None = None,
) -> dict:
    """How far a format's probabilities are from the reference's on the same images.

    Args:
        reference: Keras probabilities.
        candidate: The format's probabilities.
        rows: The images' rows (for the per-breast AUC and decisions).
        threshold: The frozen decision threshold.
        candidate_threshold: The candidate's own frozen threshold when it is another model (the pruned copy,
            re-frozen on validation); None: ``threshold``, a format of the same model.

    Returns:
        ``max_abs_diff``, ``breast_auc``, ``delta_auc`` (candidate - reference), ``flipped_breasts`` (breasts whose
        decision, each model at its threshold, changes; between formats of one model only by a move larger than
        :data:`FLIP_NOISE`) and ``breasts``.
    """
    ref_b = breast_predictions(rows, reference)
    can_b = breast_predictions(rows, candidate)
    ref_auc, can_auc = roc_auc(ref_b.cancer, ref_b.prediction), roc_auc(can_b.cancer, can_b.prediction)
    ref_p, can_p = ref_b.prediction.to_numpy(), can_b.prediction.to_numpy()
    own = threshold if candidate_threshold is None else candidate_threshold
    changed = (ref_p >= threshold) != (can_p >= own)
    if candidate_threshold is None:  # two formats of one model: a move within float noise across it is no flip
        changed &= np.abs(can_p - ref_p) > FLIP_NOISE
    flips = int(np.sum(changed))
    return {
        "max_abs_diff": float(np.max(np.abs(reference - candidate))),
        "breast_auc": float(can_auc),
        "delta_auc": float(can_auc - ref_auc),
        "flipped_breasts": flips,
        "breasts": len(ref_b),
    }


def check_tolerance(
    fmt: str, result: dict, max_auc_drop: float = MAX_AUC_DROP, max_flip_rate: float = MAX_FLIP_RATE
) -> None:
    """Raise when a format is further from Keras than its tolerance.

    Args:
        fmt: The format.
        result: :func:`compare`'s values for it.
        max_auc_drop: Largest validation breast ROC-AUC a TFLite file may lose.
        max_flip_rate: Largest share of validation breast decisions a TFLite file may flip.

    Raises:
        ExportError: With the measured value and the tolerance.
    """
    if fmt in PARITY_TOLERANCE and not result["max_abs_diff"] <= PARITY_TOLERANCE[fmt]:
        raise ExportError(
            f"{fmt}: max |probability difference| vs Keras {result['max_abs_diff']:.3g} "
            f"exceeds the tolerance {PARITY_TOLERANCE[fmt]:g}; not written"
        )
    if fmt.startswith("tflite") and not result["delta_auc"] >= -max_auc_drop:
        raise ExportError(
            f"{fmt}: validation breast ROC-AUC drops by {-result['delta_auc']:.4f} vs Keras, more than the allowed "
            f"{max_auc_drop:g}; not written"
        )
    breasts = result.get("breasts", 0)
    if fmt.startswith("tflite") and breasts and result["flipped_breasts"] / breasts > max_flip_rate:
        raise ExportError(
            f"{fmt}: flips {result['flipped_breasts']} of {breasts} validation breast decisions vs Keras "
            f"({result['flipped_breasts'] / breasts:.1%}; largest probability change {result['max_abs_diff']:.3f}), "
            f"more than the allowed {max_flip_rate:.1%}; not written"
        )


def export_model(
    ref: str | Path,
    out: str | Path,
    cfg: Config,
    formats: Sequence[str] = FORMATS,
    calibration: int = 64,
    max_auc_drop: float = MAX_AUC_DROP,
    progress: Callable[[str], None] | None = None,
    strict: bool = True,
    detector: str | Path | None = None,
    release: bool | None = None,
    switch: bool = True,
    max_flip_rate: float = MAX_FLIP_RATE,
) -> dict:
    """Export a trained model to ``out`` in each format, after checking every format against Keras.

    Args:
        ref: A ``.keras`` file, run folder or ``models:/`` reference
            (see :func:`mammo_utils.modeling.resolve.resolve_model`).
        out: Export folder (replaced by a rename when it exists), or with ``release`` the champion pointer: the
            export becomes the immutable ``<out's folder>/versions/<version>`` (:mod:`.release`) and ``out`` is
            switched to it once every check passed (when ``switch``).
        cfg: Configuration locating the data, cache and splits the model was trained on.
        formats: Subset of :data:`FORMATS` (``tflite-*`` need ``savedmodel``, which is then written too).
        calibration: Training images used to calibrate int8.
        max_auc_drop: Largest accepted drop of validation breast ROC-AUC for TFLite files (the gate never
            scores the test split).
        progress: Called with a line per step (e.g. ``print``).
        strict: Refuse the whole export when a format is outside its tolerance (nothing is written). With
            False, that format alone is left out and recorded under ``refused`` in ``model.json`` with its
            measured values (the formats that pass are exported; Keras must always pass).
        detector: A lesion detector folder (``detector.keras`` + ``detector.json``) bundled under ``detector/``
            and listed, file by file, in ``model.json``.
        release: Write a versioned release behind a pointer (default: when ``out`` is named ``champion`` or is
            already a symlink).
        switch: With ``release``, move the pointer (False: publish the version only; retraining switches later).
        max_flip_rate: Largest accepted share of validation breast decisions a TFLite file flips against Keras.

    Returns:
        The ``model.json`` content; with ``release`` it also holds ``release: {"version", "path", "switched"}``
        (not written to the file).

    Raises:
        ExportError: Unknown format, bad reference, or (``strict``) a format outside its tolerance.
    """
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ExportError(f"unknown format(s) {unknown}; choose from {list(FORMATS)}")
    say = progress or (lambda _line: None)
    model, info = resolve_model(ref, cfg.work_dir, cfg.tracking_uri)
    model = inference_model(model)
    from ..data.splits import fold_frames

    mcfg, df, cache = data_for_model(cfg, info)
    train_rows, val_rows, _ = fold_frames(df, mcfg.fold)
    gate = load_images(val_rows, cache, mcfg.image_size)  # validation patients: no test patient chooses a format
    calib = load_images(calibration_rows(df, mcfg.fold, calibration, mcfg.seed), cache, mcfg.image_size)
    threshold = float(info.get("threshold", 0.5))

    out = Path(out)
    release = (out.name == CHAMPION or out.is_symlink()) if release is None else release
    staging = staging_folder(out.parent) if release else out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    wanted = ["keras", *(["savedmodel"] if any(f.startswith("tflite") for f in formats) else []), *formats]
    wanted = list(dict.fromkeys(wanted))
    reference = predict_arrays(model, gate.images)
    parity, refused = {}, {}
    try:
        for fmt in wanted:
            if fmt.startswith("tflite") and "savedmodel" in refused:
                refused[fmt] = {"reason": "needs the SavedModel, which was refused"}
                continue
            start = time.perf_counter()
            with quiet_stderr():
                _write_format(model, fmt, staging, calib.images)
                seconds = time.perf_counter() - start
                runner = open_runner(staging, fmt)
            result = compare(reference, runner.predict_batched(gate.images), gate.rows, threshold)
            try:
                check_tolerance(fmt, result, max_auc_drop, max_flip_rate)
            except ExportError as exc:
                if strict or fmt == "keras":
                    raise
                refused[fmt] = {**result, "reason": str(exc)}
                target = staging / FILES[fmt]
                shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
                say(f"{fmt:12s} refused: {exc}")
                continue
            parity[fmt] = {**result, "export_seconds": round(seconds, 2), "size_mb": size_mb(staging / FILES[fmt])}
            say(
                f"{fmt:12s} max|Δp| {result['max_abs_diff']:.2e}  validation breast AUC {result['breast_auc']:.4f} "
                f"(Δ {result['delta_auc']:+.4f})  flips {result['flipped_breasts']}/{result['breasts']}  "
                f"{parity[fmt]['size_mb']:.2f} MB"
            )
        drift_reference = reference_for(model, train_rows, val_rows, cache, mcfg)
        write_atomic(staging / REFERENCE_FILE, to_json(drift_reference).encode())
        manifest = _manifest(model, info, parity, staging, [f for f in wanted if f in parity], gate, calib)
        manifest["refused"] = refused
        manifest["drift_reference"] = entry_digests(staging, REFERENCE_FILE)
        if detector is not None:
            manifest["detector"] = _bundle_detector(detector, staging)
        manifest["digests"] = "sha256 of each file's bytes (sha256sum); the version is sha256sum model.json"
        write_atomic(staging / ARTIFACT, to_json(manifest, indent=1).encode())
        if release:
            version = publish(staging, out.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if release:
        if switch:
            switch_pointer(out, version)
        manifest = {**manifest, "release": {"version": version.name, "path": str(version), "switched": switch}}
        pointer = f" <- {portable_path(out)}" if switch else " (pointer not moved)"
        say(f"release      {portable_path(version)}{pointer}")
        return manifest
    _replace_folder(staging, out)
    return manifest


def _replace_folder(staging: Path, out: Path) -> None:
    """Put ``staging`` at ``out``: the old folder is renamed aside first and removed only after the swap."""
    old = out.with_name(f".{out.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    staging.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def _bundle_detector(source: str | Path, staging: Path) -> dict:
    """Copy a detector folder into the staged export and return its ``model.json`` entry (per-file digests)."""
    source = Path(source)
    for name in ("detector.keras", "detector.json"):
        if not (source / name).is_file():
            raise ExportError(f"{source / name}: missing; train a detector with `mammo detect train`")
    shutil.copytree(source, staging / DETECTOR_FOLDER)
    return entry_digests(staging, DETECTOR_FOLDER)


#: Training images a drift reference describes at most (:func:`reference_for`).
REFERENCE_IMAGES = 1000


def reference_rows(train_rows: pd.DataFrame, seed: int, n: int = REFERENCE_IMAGES) -> pd.DataFrame:
    """The training images a drift reference describes, in the order ``reference.json`` stores them.

    Args:
        train_rows: Training-fold rows.
        seed: The model's seed (the sample's random state).
        n: Most images.

    Returns:
        Up to ``n`` rows of ``train_rows``, shuffled by ``seed``.
    """
    return train_rows.sample(min(n, len(train_rows)), random_state=seed)


def _reference_features(rows: pd.DataFrame, cache: Path) -> pd.DataFrame:
    """:func:`~mammo_utils.evaluation.drift.image_features` of cached rows, with the original sizes of the cache."""
    from ..data.preprocess import MANIFEST_NAME

    manifest = pd.read_csv(Path(cache) / MANIFEST_NAME, usecols=["image_id", "orig_rows", "orig_cols"])
    sizes = manifest.set_index("image_id")
    return pd.DataFrame(
        [
            image_features(
                read_cached(cache, r.png), (sizes.orig_rows.get(r.image_id), sizes.orig_cols.get(r.image_id))
            )
            for r in rows.itertuples()
        ]
    )


def reference_for(
    model, train_rows: pd.DataFrame, val_rows: pd.DataFrame, cache: Path, cfg: Config, n: int = REFERENCE_IMAGES
) -> dict:
    """Drift reference of a model: features of up to ``n`` training images and the model's validation scores.

    Args:
        model: The Keras model.
        train_rows: Training-fold rows (with ``png``).
        val_rows: Validation-fold rows (with ``png``).
        cache: Cache folder (its manifest gives the original image sizes).
        cfg: The model's configuration (image size, seed).
        n: Training images described.

    Returns:
        :func:`mammo_utils.evaluation.drift.reference_statistics` output.
    """
    features = _reference_features(reference_rows(train_rows, cfg.seed, n), cache)
    scores = score_cached(model, val_rows, cache, cfg.image_size, cfg.batch_size).prediction
    return reference_statistics(features, scores, source="training-fold images / validation-fold scores")


def reference_patients(cfg: Config, manifest: dict, reference: dict, atol: float = 1e-5) -> np.ndarray:
    """The patient of each image of an export's drift reference, in the reference's order.

    ``reference.json`` stores features, not patients; the rows are rebuilt the way :func:`reference_for` chose
    them and accepted only when their features, recomputed from the cache, equal the stored ones.

    Args:
        cfg: The configuration the export was made with (data, splits, fold, seed).
        manifest: The export's ``model.json`` content (its ``preprocessing`` locates the cache).
        reference: The export's ``reference.json`` content.
        atol: Largest accepted difference between a recomputed and a stored feature (stored rounded to 1e-6).

    Returns:
        Patient ids, one per reference image.

    Raises:
        ValueError: The rebuilt rows do not reproduce the stored features (other data, fold or seed).

    Example:
        >>> patients = reference_patients(cfg, load_artifact(out), read_reference(out))  # doctest: +SKIP
    """
    from ..data.splits import fold_frames

    mcfg, df, cache = data_for_model(cfg, manifest)
    rows = reference_rows(fold_frames(df, mcfg.fold)[0], mcfg.seed, reference.get("n_images", REFERENCE_IMAGES))
    stored = pd.DataFrame(reference["features"])
    if len(rows) != len(stored):
        raise ValueError(f"the reference holds {len(stored)} images but the rebuilt training sample {len(rows)}")
    recomputed = _reference_features(rows, cache)[stored.columns]
    worst = float(np.nanmax(np.abs(recomputed.to_numpy(float) - stored.to_numpy(float))))
    if not worst <= atol:
        raise ValueError(
            f"the rebuilt reference rows differ from reference.json by up to {worst:.3g} (> {atol:g}): the export "
            "was made with other data, fold or seed than this configuration"
        )
    return rows.patient_id.to_numpy()


#: The parts of the export's fold :func:`split_features` describes, in
#: :func:`~mammo_utils.data.splits.fold_frames` order.
FOLD_PARTS = ("train", "validation", "test")


def split_features(
    cfg: Config, manifest: dict, part: str, exclude: Sequence | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    """Drift features and patients of every image of one part of the export's fold, computed as the reference's.

    The validation part holds patients the reference (training-fold images) never saw, drawn from the same
    population: the sample of :func:`~mammo_utils.evaluation.drift.held_out_psi`'s chance level.

    Args:
        cfg: The configuration the export was made with (data, splits, fold).
        manifest: The export's ``model.json`` content (its ``preprocessing`` locates the cache).
        part: One of :data:`FOLD_PARTS`.
        exclude: Patients that must not be in the part (e.g. :func:`reference_patients`).

    Returns:
        ``(features, patients)``: one :func:`~mammo_utils.evaluation.drift.image_features` row and patient id per
        image, aligned.

    Raises:
        ValueError: An unknown ``part``, or a patient of ``exclude`` in it.

    Example:
        >>> held_out = split_features(cfg, manifest, "validation", exclude=patients)  # doctest: +SKIP
    """
    from ..data.splits import fold_frames

    if part not in FOLD_PARTS:
        raise ValueError(f"part={part!r}: expected one of {', '.join(FOLD_PARTS)}")
    mcfg, df, cache = data_for_model(cfg, manifest)
    rows = fold_frames(df, mcfg.fold)[FOLD_PARTS.index(part)]
    shared = set(rows.patient_id).intersection(() if exclude is None else exclude)
    if shared:
        raise ValueError(f"{len(shared)} patients of the {part} part are among those excluded, e.g. {min(shared)}")
    return _reference_features(rows, cache), rows.patient_id.to_numpy()


def _manifest(model, info: dict, parity: dict, folder: Path, formats: list[str], gate: EvalSet, calib: EvalSet) -> dict:
    from ..modeling.architecture import describe_architecture

    return {
        "name": info.get("name", "mammo-cancer-classifier"),
        "backbone": info.get("backbone", model.name),
        # read from the exported graph itself (blocks, pooling, dropout, parameter count): the model card prints it
        "architecture": describe_architecture(model),
        "classes": info.get("classes", ["no cancer", "cancer"]),
        "input": {"name": INPUT_NAME, "shape": [None, *model.input_shape[1:]], "dtype": "float32", "range": [0, 1]},
        "output": {"name": OUTPUT_NAME, "shape": [None, 1], "meaning": "probability of cancer in the image"},
        "preprocessing": info["preprocessing"],
        "threshold": float(info.get("threshold", 0.5)),
        "breast_aggregation": info.get("breast_aggregation", "mean"),
        "training": {
            "run_name": info.get("run_name"),
            "mlflow_run_id": info.get("mlflow_run_id"),
            "registry_version": info.get("registry_version"),
            "metrics": info.get("metrics", {}),
            "recipe": info.get("recipe", {}),
        },
        "formats": {fmt: entry_digests(folder, FILES[fmt]) for fmt in formats},
        "parity": {"reference": "keras", "split": "validation", "images": len(gate.rows), **parity},
        "calibration": {"split": "train", "images": len(calib.rows), "cancers": int(calib.rows.cancer.sum())},
        "package_version": __version__,
        "build": build_identity()["id"],
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
