"""The one inference path: a file -> the cache's image recipe -> the model -> a probability (and per breast).

Notebooks, the API and the web app all call :class:`Predictor`, so a DICOM scored anywhere goes through
exactly what training saw: ``read_dicom`` (VOI, MONOCHROME1) -> ``crop_breast`` -> ``fit_and_pad`` to the
cache size -> quantised to the cache's bit depth -> resized to the model's input like the tf.data pipeline.
The parameters come from ``model_info.json`` beside the model (written by the trainer), never re-derived.

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
from ..modeling.run_state import ModelInfoError, load_model_info  # noqa: F401 - re-exported

#: Non-DICOM image files accepted (read as grey, 8 or 16 bit).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


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
        model: A Keras model taking ``(H, W, 1)`` [0, 1] images.
        info: The model's ``model_info.json`` content.
    """

    def __init__(self, model, info: dict):
        self.model = model
        self.info = info
        self.preprocessing = Preprocessing.from_dict(info["preprocessing"])
        self.threshold = float(info.get("threshold", 0.5))

    @classmethod
    def load(cls, path: str | Path) -> "Predictor":
        """Load a model and its info (see :func:`load_model_info`).

        Raises:
            ModelInfoError: Missing or malformed files.
        """
        import keras

        from ..modeling import keras_metrics, models  # noqa: F401 - registers the custom layers and metric

        model_path, info = load_model_info(path)
        return cls(keras.saving.load_model(model_path, compile=False), info)

    def prepare(self, path: str | Path) -> tuple[np.ndarray, dict]:
        """One file -> the model-input image (cache size, quantised) and what is known about it.

        Raises:
            DicomReadError: Unreadable DICOM.
            ValueError: Unsupported or unreadable image file.
        """
        spec = self.preprocessing
        if Path(path).suffix.lower() in IMAGE_SUFFIXES:
            image, info = prepare_array(read_image_file(path), spec.cache_size)
            info.update(laterality="", view="")
        else:
            image, info = prepare_image(path, spec.cache_size)
        return quantize(image, spec.cache_bits), info

    def predict_arrays(self, images: Sequence[np.ndarray], batch_size: int = 8) -> np.ndarray:
        """Probabilities of prepared images (cache size, [0, 1])."""
        x = np.stack([np.asarray(i, np.float32) for i in images])[..., None]
        x = resize_for_model(x, self.preprocessing.image_size)
        return np.asarray(self.model.predict(x, batch_size=batch_size, verbose=0), float).reshape(-1)

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
