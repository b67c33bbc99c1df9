"""The one inference path: a file -> the cache's image recipe -> the model -> a probability (and per breast).

Notebooks, the API and the web app all call :class:`Predictor`, so a DICOM scored anywhere goes through
exactly what training saw: ``read_dicom`` (VOI, MONOCHROME1) -> ``crop_breast`` -> ``fit_and_pad`` to the
cache size -> quantised to the cache's bit depth -> resized to the model's input like the tf.data pipeline.
The parameters come from the model's own metadata, never re-derived: an export folder's ``model.json``
(``mammo export``; scored by ONNX Runtime by default, or any exported format) or, before export, the
``model_info.json`` the trainer writes beside ``model.keras``.

Example:
    >>> p = Predictor.load("data/work/runs/04_baseline")  # doctest: +SKIP
    >>> p.predict_files(["a.dcm", "b.dcm"])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.dicom import DicomReadError
from ..data.pipeline import resize_for_model
from ..data.preprocess import Preprocessing, prepare_array, prepare_image, quantize
from ..evaluation.evaluate import breast_predictions
from ..export.runtime import ARTIFACT, Runner, load_artifact, open_runner
from ..modeling.run_state import ModelInfoError, load_model_info  # noqa: F401 - re-exported
from ..monitoring.drift import image_features

#: Non-DICOM image files accepted (read as grey, 8 or 16 bit).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
#: Smallest image side accepted (pixels): anything smaller is not a mammogram.
MIN_SIDE = 64
#: Said wherever a prediction is shown.
DISCLAIMER = "Research tool, not a medical device: it does not diagnose, and no clinical decision may rest on it."


def read_image_file(path: str | Path) -> np.ndarray:
    """A PNG/JPEG/TIFF mammogram as float32 [0, 1] (8- or 16-bit grey; colour is converted to grey).

    Raises:
        ValueError: Unreadable or not a 2-D image.
    """
    import cv2

    arr = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_GRAYSCALE)
    if arr is None or arr.ndim != 2:
        raise ValueError(f"{path}: not a readable grey image")
    top = 65535.0 if arr.dtype == np.uint16 else 255.0
    return arr.astype(np.float32) / top


class Predictor:
    """A trained classifier with its preprocessing: scores files the way the model was trained.

    Args:
        model: A Keras model taking ``(H, W, 1)`` [0, 1] images (None when scoring through ``runner`` only;
            it is then loaded from the export on the first Grad-CAM request).
        info: The model's metadata (``model.json`` or ``model_info.json`` content).
        runner: An export format's runner (:func:`mammo_utils.export.runtime.open_runner`), or None to score
            with ``model``.
        folder: The export folder (for loading the Keras model lazily).
    """

    def __init__(self, model, info: dict, runner: Runner | None = None, folder: Path | None = None):
        self.model = model
        self.info = info
        self.runner = runner
        self.folder = folder
        self.preprocessing = Preprocessing.from_dict(info["preprocessing"])
        self.threshold = float(info.get("threshold", 0.5))
        self._grad_model = None

    @classmethod
    def load(cls, path: str | Path, runtime: str = "onnx") -> "Predictor":
        """Load an export folder (``model.json``) or a trained model with its ``model_info.json``.

        Args:
            path: Export folder, run folder or ``.keras`` file.
            runtime: For an export folder, the format that scores (``onnx``, ``keras``, ``savedmodel``,
                ``tflite-fp16``, ``tflite-int8``).

        Raises:
            ModelInfoError: Missing or malformed files (an export's :class:`ExportError` is re-raised as it).
        """
        path = Path(path)
        if path.is_dir() and (path / ARTIFACT).is_file():
            manifest = load_artifact(path)
            return cls(None, manifest, open_runner(path, runtime), folder=path)
        import keras

        from ..modeling import keras_metrics, models  # noqa: F401 - registers the custom layers and metric

        model_path, info = load_model_info(path)
        return cls(keras.saving.load_model(model_path, compile=False), info)

    def describe(self) -> dict:
        """Name, backbone, version, run id, input and runtime of the model (no file paths)."""
        training = self.info.get("training", self.info)
        return {
            "name": self.info.get("name"),
            "backbone": self.info.get("backbone"),
            "registry_version": training.get("registry_version"),
            "run_id": training.get("mlflow_run_id"),
            "run_name": training.get("run_name"),
            "input": list(self.preprocessing.image_size),
            "runtime": self.runner.fmt if self.runner is not None else "keras",
            "threshold": self.threshold,
        }

    def keras_model(self):
        """The Keras model (loaded from the export on first use): Grad-CAM needs gradients."""
        if self.model is None:
            self.model = open_runner(self.folder, "keras").model
        return self.model

    def prepare(self, path: str | Path) -> tuple[np.ndarray, dict]:
        """One file -> the model-input image (cache size, quantised) and what is known about it.

        Raises:
            DicomReadError: Unreadable DICOM.
            ValueError: Unsupported, unreadable or too small image file.
        """
        spec = self.preprocessing
        if Path(path).suffix.lower() in IMAGE_SUFFIXES:
            array = read_image_file(path)
            if min(array.shape) < MIN_SIDE:
                raise ValueError(f"{path}: image is {array.shape[0]}x{array.shape[1]} px, smaller than {MIN_SIDE} px")
            image, info = prepare_array(array, spec.cache_size)
            info.update(laterality="", view="", orig_rows=array.shape[0], orig_cols=array.shape[1])
        else:
            image, info = prepare_image(path, spec.cache_size)
            if min(info["orig_rows"], info["orig_cols"]) < MIN_SIDE:
                raise ValueError(
                    f"{path}: image is {info['orig_rows']}x{info['orig_cols']} px, smaller than {MIN_SIDE} px"
                )
        return quantize(image, spec.cache_bits), info

    def model_inputs(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Prepared images (cache size) -> the model's input batch ``(N, H, W, 1)``."""
        x = np.stack([np.asarray(i, np.float32) for i in images])[..., None]
        return np.asarray(resize_for_model(x, self.preprocessing.image_size), np.float32)

    def predict_arrays(self, images: Sequence[np.ndarray], batch_size: int = 8) -> np.ndarray:
        """Probabilities of prepared images (cache size, [0, 1])."""
        x = self.model_inputs(images)
        if self.runner is not None:
            return self.runner.predict_batched(x, batch_size)
        return np.asarray(self.model.predict(x, batch_size=batch_size, verbose=0), float).reshape(-1)

    def explain(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Grad-CAM maps ``(N, H, W)`` in [0, 1] at the model's input size."""
        from ..evaluation.explain import gradcam, gradcam_model

        model = self.keras_model()
        if self._grad_model is None:
            self._grad_model = gradcam_model(model)
        return gradcam(model, self.model_inputs(images), self._grad_model)

    def score_file(self, path: str | Path, explain: bool = False) -> dict:
        """Score one file, timing each stage: what the API returns for an upload.

        Args:
            path: A DICOM or PNG/JPEG/TIFF file.
            explain: Also compute the Grad-CAM overlay (PNG bytes under ``heatmap_png``).

        Returns:
            ``probability, threshold, decision, laterality, view, timing_ms``, ``features`` (the drift
            monitor's :func:`~mammo_utils.monitoring.drift.image_features`) and, with ``explain``, ``heatmap_png``.

        Raises:
            DicomReadError / ValueError: The file is not a usable mammogram.
        """
        import time

        t0 = time.perf_counter()
        image, info = self.prepare(path)
        t1 = time.perf_counter()
        probability = float(self.predict_arrays([image])[0])
        t2 = time.perf_counter()
        out = {
            "probability": probability,
            "threshold": self.threshold,
            "decision": "recall" if probability >= self.threshold else "routine",
            "laterality": info.get("laterality", ""),
            "view": info.get("view", ""),
            "timing_ms": {"read_preprocess": 1000 * (t1 - t0), "inference": 1000 * (t2 - t1)},
            "features": image_features(image, (info["orig_rows"], info["orig_cols"])),
        }
        if explain:
            out["heatmap_png"] = heatmap_png(self.model_inputs([image])[0], self.explain([image])[0])
            out["timing_ms"]["explain"] = 1000 * (time.perf_counter() - t2)
        return out

    def predict_files(self, paths: Sequence[str | Path], batch_size: int = 8) -> pd.DataFrame:
        """Score files; a file that cannot be read gets an ``error`` instead of a probability.

        Args:
            paths: DICOM or image files.
            batch_size: Inference batch size.

        Returns:
            One row per file: ``path, laterality, view, probability, decision, error``.
        """
        rows, images = [], []
        for path in paths:
            try:
                image, info = self.prepare(path)
            except (DicomReadError, ValueError) as exc:
                rows.append({"path": str(path), "laterality": "", "view": "", "error": str(exc)})
                continue
            images.append(image)
            rows.append({"path": str(path), "laterality": info["laterality"], "view": info["view"], "error": ""})
        out = pd.DataFrame(rows, columns=["path", "laterality", "view", "error"])
        out["probability"] = np.nan
        ok = out.error == ""
        if images:
            out.loc[ok, "probability"] = self.predict_arrays(images, batch_size)
        out["decision"] = np.where(out.probability >= self.threshold, "recall", "routine")
        out.loc[~ok, "decision"] = ""
        return out

    def predict_breasts(self, images: pd.DataFrame) -> pd.DataFrame:
        """Per-breast scores from per-image ones (the model's aggregation), with the decision at the threshold.

        Args:
            images: Rows with ``patient_id``, ``laterality``, ``image_id``, ``probability`` (and ``cancer``
                when known; 0 is assumed otherwise).

        Returns:
            One row per breast with ``prediction`` and ``decision``.
        """
        frame = images.dropna(subset=["probability"])
        if "cancer" not in frame:
            frame = frame.assign(cancer=0)
        breasts = breast_predictions(frame, frame.probability, agg=self.info.get("breast_aggregation", "mean"))
        breasts["decision"] = np.where(breasts.prediction >= self.threshold, "recall", "routine")
        return breasts


def heatmap_png(image: np.ndarray, heat: np.ndarray) -> bytes:
    """PNG bytes of the model-input image with its Grad-CAM map blended on top."""
    import cv2

    from ..evaluation.explain import overlay

    ok, buffer = cv2.imencode(".png", cv2.cvtColor(overlay(image, heat), cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - cv2 encodes any uint8 RGB array
        raise RuntimeError("PNG encoding failed")
    return buffer.tobytes()
