# Size: the one inference path (preprocessing, every runtime, Grad-CAM, detector boxes) and the live champion that
# swaps whole Predictors when the release pointer moves; they share the loading code, so they stay together.
"""The one inference path: a file -> the cache's image recipe -> the model -> a probability (and per breast).

Notebooks, the API and the web app all call :class:`Predictor`, so a DICOM scored anywhere goes through
exactly what training saw: ``read_dicom`` (VOI, MONOCHROME1) -> ``crop_breast`` -> ``fit_and_pad`` to the
cache size -> quantised to the cache's bit depth -> resized to the model's input like the tf.data pipeline.
The parameters come from the model's own metadata, never re-derived: an export folder's ``model.json``
(``mammo export``; scored by ONNX Runtime by default, or any exported format) or, before export, the
``model_info.json`` the trainer writes beside ``model.keras``.

With a lesion detector (an export folder's ``detector/`` sub-folder, or ``detector=`` when loading), the same
call also returns the detector's boxes mapped back to the uploaded image's own pixel coordinates
(:func:`mammo_utils.detection.boxes.to_stored_boxes`), so one function gives the probability, the boxes and the
heat-map: :meth:`Predictor.score_file`.

Example:
    >>> p = Predictor.load("data/work/runs/04_baseline")  # doctest: +SKIP
    >>> p.predict_files(["a.dcm", "b.dcm"])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..constants import SERVED_RUNTIME
from ..data.dicom import DicomReadError
from ..data.pipeline import resize_for_model
from ..data.preprocess import Preprocessing, prepare_array, prepare_image, quantize, to_png_bytes
from ..detection.boxes import to_stored_boxes, to_stored_map
from ..evaluation.drift import image_features
from ..evaluation.evaluate import breast_predictions
from ..export.runtime import Runner, open_runner
from ..modeling.artifact import (
    ARTIFACT,
    DETECTOR_FOLDER,
    ExportError,
    is_export_folder,
    load_artifact,
    read_reference,
    version_id,
)
from ..modeling.resolve import resolve_model
from ..modeling.run_state import ModelInfoError  # noqa: F401 - re-exported

#: Non-DICOM image files accepted (read as grey, 8 or 16 bit).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
#: Smallest image side accepted (pixels): anything smaller is not a mammogram.
MIN_SIDE = 64
#: Sub-folder of an export folder holding the lesion detector (``mammo export --detector``; listed in model.json).
DETECTOR_SUBFOLDER = DETECTOR_FOLDER
#: Timed stages of one request, in order (``timing_ms`` keys and ``mammo_stage_latency_seconds{stage}``):
#: the upload written to disk, its SHA-256, pixels decoded, breast cropped and fitted, the classifier, the
#: drift monitor's image features, the lesion detector, the Grad-CAM overlay.
STAGES = ("spool", "hash", "decode", "crop", "model", "drift_features", "detector", "gradcam")
#: Longest side (pixels) of the Grad-CAM map returned over the file's own frame (a heat-map is smooth).
HEATMAP_ORIGINAL_SIDE = 512
#: Said wherever a prediction is shown.
DISCLAIMER = "Research tool, not a medical device: it does not diagnose, and no clinical decision may rest on it."
#: Said wherever a Grad-CAM heat-map is served or shown (the API's ``heatmap_note``, its OpenAPI description, the
#: web app's notice): 07 found the champion's peaks off the breast on many test images, where a classifier keyed on
#: the border or the breast's size would put them, so the map is no lesion finder.
HEATMAP_NOTE = (
    "Grad-CAM: where the score is sensitive, not where a lesion is; not a localisation (see the final report's "
    "section 'Lesion detection and Grad-CAM')."
)


def read_image_file(path: str | Path, max_pixels: int | None = None) -> np.ndarray:
    """A PNG/JPEG/TIFF mammogram as float32 [0, 1] (8- or 16-bit grey; colour is converted to grey).

    Args:
        path: The image file.
        max_pixels: Refuse, from the header alone, an image declaring more pixels than this.

    Raises:
        ValueError: Unreadable, not a 2-D image, or declaring more than ``max_pixels`` pixels.
    """
    import cv2
    from PIL import Image

    if max_pixels is not None:
        try:
            with Image.open(path) as im:  # reads the header only
                width, height = im.size
                frames = int(getattr(im, "n_frames", 1) or 1)
        except Image.DecompressionBombError as exc:
            raise ValueError(f"{path}: image too large to decode ({exc})") from None
        except Exception:  # noqa: BLE001 - not readable by Pillow: OpenCV decides below
            width = height = frames = 0
        if width * height * frames > max_pixels:
            raise ValueError(
                f"{path}: declares {width * height * frames:,} pixels (rows x columns x frames),"
                f" over the limit of {max_pixels:,}"
            )
    arr = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_GRAYSCALE)
    if arr is None or arr.ndim != 2:
        raise ValueError(f"{path}: not a readable grey image")
    top = 65535.0 if arr.dtype == np.uint16 else 255.0
    return arr.astype(np.float32) / top


def describe_model(info: dict, runtime: str, version: str | None = None, detector: dict | None = None) -> dict:
    """How the service describes a model (``/v1/model``'s ``serving``, each prediction's ``model``), from metadata.

    Args:
        info: The model's ``model.json`` (or ``model_info.json``) content.
        runtime: The format that scores (``onnx``, ``keras``, ...).
        version: The export's version (:func:`~..modeling.artifact.version_id`), None outside an export.
        detector: The lesion detector's record (:func:`~..detection.detector.read_detector_info`), or None.

    Returns:
        ``name, backbone, registry_version, run_id, run_name, input, runtime, threshold, version, detector``
        (``detector``: its ``classes, input, operating_score, registry_version, run_id``, or None).
    """
    training = info.get("training", info)
    return {
        "name": info.get("name"),
        "backbone": info.get("backbone"),
        "registry_version": training.get("registry_version"),
        "run_id": training.get("mlflow_run_id"),
        "run_name": training.get("run_name"),
        "input": list(Preprocessing.from_dict(info["preprocessing"]).image_size),
        "runtime": runtime,
        "threshold": float(info.get("threshold", 0.5)),
        "version": version,
        "detector": None
        if detector is None
        else {
            "classes": list(detector["spec"].classes),
            "input": list(detector["spec"].image_size),
            "operating_score": detector.get("operating_score"),
            "registry_version": detector.get("registry_version"),
            "run_id": detector.get("mlflow_run_id"),
        },
    }


def describe_export(folder: str | Path, runtime: str = "onnx") -> dict:
    """What a service serving an export folder says about its model (:func:`describe_model`), read from the
    folder's ``model.json`` and its bundled detector's ``detector.json``, with no model loaded and no digest checked.

    Args:
        folder: An export folder (or a champion pointer to one).
        runtime: The format the service would score with.

    Raises:
        ExportError: No or a malformed ``model.json``.
    """
    from ..detection.detector import DETECTOR_INFO, read_detector_info

    folder = Path(folder).resolve()
    manifest = load_artifact(folder, verify=False)
    bundled = folder / DETECTOR_SUBFOLDER
    detector = read_detector_info(bundled) if manifest.get("detector") and (bundled / DETECTOR_INFO).is_file() else None
    return describe_model(manifest, runtime, version_id(folder), detector)


class Predictor:
    """A trained classifier with its preprocessing: scores files the way the model was trained.

    Args:
        model: A Keras model taking ``(H, W, 1)`` [0, 1] images (None when scoring through ``runner`` only;
            it is then loaded from the export on the first Grad-CAM request).
        info: The model's metadata (``model.json`` or ``model_info.json`` content).
        runner: An export format's runner (:func:`mammo_utils.export.runtime.open_runner`), or None to score
            with ``model``.
        folder: The export folder (for loading the Keras model lazily).
        detector: ``(keras model, info)`` of a lesion detector (:func:`~..detection.detector.load_detector`).
        max_pixels: Refuse files whose header declares more pixels (rows x columns x frames) than this,
            before anything is decoded (None: no limit).
    """

    def __init__(
        self,
        model,
        info: dict,
        runner: Runner | None = None,
        folder: Path | None = None,
        detector=None,
        max_pixels: int | None = None,
    ):
        self.model = model
        self.max_pixels = max_pixels  # files declaring more pixels are refused before decoding
        self.detector = detector  # (keras model, info) of a lesion detector, or None
        self.info = info
        self.runner = runner
        self.folder = folder
        self.preprocessing = Preprocessing.from_dict(info["preprocessing"])
        self.threshold = float(info.get("threshold", 0.5))
        self.version = version_id(folder) if folder is not None and is_export_folder(folder) else None
        self._grad_model = None
        self._reference: dict | None = None
        self._reference_read = False

    @property
    def reference(self) -> dict | None:
        """The drift reference of this model's export (``reference.json``, digest-checked against ``model.json``;
        read once), or None for a run folder or an export without one. A :class:`LivePredictor` reads it from the
        version it loaded, so the reference follows the champion pointer with the model.

        Raises:
            ExportError: ``reference.json`` differs from its digest.
        """
        if not self._reference_read:
            self._reference = read_reference(self.folder) if self.folder is not None else None
            self._reference_read = True
        return self._reference

    @classmethod
    def load(
        cls,
        path: str | Path,
        runtime: str = SERVED_RUNTIME,
        detector: str | Path | None = None,
        work_dir: str | Path | None = None,
        tracking_uri: str | None = None,
        follow: bool = True,
    ) -> "Predictor":
        """Load an export folder (scored by ``runtime``) or any other model reference (scored by Keras).

        An export folder is resolved to its real path first, so the served format, Grad-CAM's Keras model and a
        bundled detector all come from the same version. A champion pointer (a symlink to a release,
        :mod:`mammo_utils.export.release`) gives a :class:`LivePredictor` that follows the pointer.

        Args:
            path: Export folder, run folder, ``.keras`` file or ``models:/<name>@<alias>`` (everything but an
                export folder goes through :func:`mammo_utils.modeling.resolve.resolve_model`).
            runtime: For an export folder, the format that scores (``onnx``, ``keras``, ``savedmodel``,
                ``tflite-fp16``, ``tflite-int8``).
            detector: A detector folder (``detector.keras`` + ``detector.json``); by default an export folder's
                ``detector/`` sub-folder when there is one, which ``model.json`` must list (``mammo export
                --detector``), so its files are digest-checked like the model's.
            work_dir: Where a registry download goes.
            tracking_uri: MLflow store of a ``models:/`` reference.
            follow: For a pointer, reload when it moves (False: load the version it points at now, once).

        Raises:
            ModelInfoError: Missing or malformed files (an export's :class:`ExportError` is re-raised as it).
            FileNotFoundError: ``detector`` names a folder without a detector.
            ExportError: An export folder holds a ``detector/`` that its ``model.json`` does not list.
        """
        from ..detection.detector import DETECTOR_FILE, load_detector

        if follow and is_export_folder(path) and Path(path).is_symlink():
            return LivePredictor(path, runtime, detector)
        if is_export_folder(path):
            path = Path(path).resolve()  # one version folder, loaded whole: every format from the same place
        if is_export_folder(path):
            manifest = load_artifact(path)  # every listed file checked, the bundled detector's included
            bundled = Path(path) / DETECTOR_SUBFOLDER
            if detector is None and (bundled / DETECTOR_FILE).is_file():
                if not manifest.get("detector"):
                    raise ExportError(
                        f"{bundled}: not listed in {Path(path) / ARTIFACT}, so its files cannot be verified; export "
                        "with `mammo export --detector DIR` (export_model(..., detector=DIR)) to bundle a detector"
                    )
                detector = bundled
            found = load_detector(detector) if detector is not None else None
            return cls(None, manifest, open_runner(path, runtime), folder=Path(path), detector=found)
        found = load_detector(detector) if detector is not None else None
        model, info = resolve_model(path, work_dir, tracking_uri)
        return cls(model, info, detector=found)

    @property
    def aggregation(self) -> str:
        """How a breast's image probabilities combine into its own (the model's ``breast_aggregation``)."""
        return self.info.get("breast_aggregation", "mean")

    def describe(self) -> dict:
        """Name, backbone, version, run id, input and runtime of the model (no file paths): :func:`describe_model`."""
        runtime = self.runner.fmt if self.runner is not None else "keras"
        return describe_model(self.info, runtime, self.version, self.detector[1] if self.detector else None)

    def warm_up(self) -> None:
        """One inference of a blank image through the classifier and the detector (first calls trace graphs)."""
        h, w = self.preprocessing.cache_size
        self.predict_arrays([np.zeros((h, w), np.float32)])
        if self.detector is not None:
            from ..detection.detector import predict_boxes

            predict_boxes(self.detector[0], np.zeros((1, *self.detector[1]["spec"].image_size), np.float32))

    def keras_model(self):
        """The Keras model (loaded from the export on first use): Grad-CAM needs gradients."""
        if self.model is None:
            self.model = open_runner(self.folder, "keras").model
        return self.model

    def prepare(self, path: str | Path, timings: dict | None = None) -> tuple[np.ndarray, dict]:
        """One file -> the model-input image (cache size, quantised) and what is known about it.

        Args:
            path: A DICOM or PNG/JPEG/TIFF file.
            timings: When given, receives the seconds spent in ``decode`` and ``crop``.

        Raises:
            DicomReadError: Unreadable DICOM.
            ValueError: Unsupported, unreadable or too small image file.
        """
        import time

        spec = self.preprocessing
        if Path(path).suffix.lower() in IMAGE_SUFFIXES:
            t0 = time.perf_counter()
            array = read_image_file(path, self.max_pixels)
            if min(array.shape) < MIN_SIDE:
                raise ValueError(f"{path}: image is {array.shape[0]}x{array.shape[1]} px, smaller than {MIN_SIDE} px")
            t1 = time.perf_counter()
            image, info = prepare_array(array, spec.cache_size)
            if timings is not None:
                timings.update(decode=t1 - t0, crop=time.perf_counter() - t1)
            x0, y0, x1, y1 = info["box"]
            info.update(laterality="", view="", orig_rows=array.shape[0], orig_cols=array.shape[1])
            info.update(crop_x_min=x0, crop_y_min=y0, crop_x_max=x1, crop_y_max=y1)
        else:
            image, info = prepare_image(path, spec.cache_size, self.max_pixels, timings)
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

    def score_file(self, path: str | Path, explain: bool = False, keep_image: bool = False) -> dict:
        """Score one file, timing each stage: what the API returns for an upload.

        Args:
            path: A DICOM or PNG/JPEG/TIFF file.
            explain: Also compute Grad-CAM: under ``heatmap_png`` the overlay on the model's input (RGB PNG
                bytes), under ``heatmap_original_png`` the map alone over the file's own frame (8-bit grey PNG,
                255 = the map's peak, 0 outside the breast's crop; :func:`~..detection.boxes.to_stored_map`,
                longest side :data:`HEATMAP_ORIGINAL_SIDE`), for drawing on the image as uploaded, and under
                ``heatmap_note`` :data:`HEATMAP_NOTE` (the map is not a localisation).
            keep_image: Also return, under ``model_image``, the prepared image as the prediction store keeps it
                (``png`` bytes at the cache's bit depth, ``height``, ``width``, ``bits``, ``laterality``, ``view``):
                what a labelled prediction adds to a challenger's training data.

        Returns:
            ``probability, threshold, decision, laterality, view``, ``boxes`` (:meth:`detect`'s, or None without
            a detector), ``timing_ms`` per stage (:data:`STAGES`: ``decode``, ``crop``, ``model``,
            ``drift_features``, and ``detector`` / ``gradcam`` when they ran), ``features`` (the drift monitor's
            :func:`~mammo_utils.evaluation.drift.image_features`), and with ``explain`` ``heatmap_png``,
            ``heatmap_original_png`` and ``heatmap_note``.

        Raises:
            DicomReadError / ValueError: The file is not a usable mammogram.
        """
        import time

        seconds: dict[str, float] = {}
        image, info = self.prepare(path, seconds)
        t0 = time.perf_counter()
        probability = float(self.predict_arrays([image])[0])
        t1 = time.perf_counter()
        features = image_features(image, (info["orig_rows"], info["orig_cols"]))
        seconds.update(model=t1 - t0, drift_features=time.perf_counter() - t1)
        out = {
            "probability": probability,
            "threshold": self.threshold,
            "decision": "recall" if probability >= self.threshold else "routine",
            "laterality": info.get("laterality", ""),
            "view": info.get("view", ""),
            "boxes": None,
            "features": features,
        }
        if self.detector is not None:
            t2 = time.perf_counter()
            out["boxes"] = self.detect(image, info)
            seconds["detector"] = time.perf_counter() - t2
        if explain:
            t3 = time.perf_counter()
            heat = self.explain([image])[0]
            out["heatmap_png"] = heatmap_png(self.model_inputs([image])[0], heat)
            original = to_stored_map(heat, info, self.preprocessing.cache_size, HEATMAP_ORIGINAL_SIDE)
            out["heatmap_original_png"] = to_png_bytes(original, 8)
            out["heatmap_note"] = HEATMAP_NOTE
            seconds["gradcam"] = time.perf_counter() - t3
        if keep_image:
            h, w = image.shape
            bits = int(self.preprocessing.cache_bits)
            out["model_image"] = {
                "png": to_png_bytes(image, bits), "height": h, "width": w, "bits": bits,
                "laterality": out["laterality"], "view": out["view"],
            }  # fmt: skip
        out["timing_ms"] = {k: 1000 * v for k, v in seconds.items()}
        return out

    def detect(self, image: np.ndarray, info: dict, min_score: float | None = None) -> list[dict]:
        """The detector's boxes on one prepared image, in the original image's pixel coordinates.

        Args:
            image: The prepared (cache-size) image.
            info: Its geometry from :meth:`prepare` (crop box, scale, flip).
            min_score: Lowest score returned (default: the detector's operating score chosen on validation).

        Returns:
            ``[{"class", "score", "x_min", "y_min", "x_max", "y_max"}]`` sorted by score; coordinates are
            pixels of the file as uploaded (DICOM stored pixels, or the image's own), clipped to the breast's
            crop; boxes left with no area after clipping are dropped.
        """
        import cv2

        from ..detection.detector import predict_boxes

        model, det_info = self.detector
        spec = det_info["spec"]
        h, w = image.shape
        x = image
        if (h, w) != tuple(spec.image_size):
            x = cv2.resize(image, (spec.image_size[1], spec.image_size[0]), interpolation=cv2.INTER_AREA)
        found = predict_boxes(model, x[None])[0]
        threshold = det_info.get("operating_score", 0.0) if min_score is None else min_score
        keep = found["scores"] >= (threshold or 0.0)
        boxes = found["boxes"][keep] * np.array([w / spec.image_size[1], h / spec.image_size[0]] * 2)
        stored = to_stored_boxes(boxes, info)
        return [
            {"class": spec.classes[int(c)], "score": round(float(s), 4), "x_min": round(float(b[0]), 1),
             "y_min": round(float(b[1]), 1), "x_max": round(float(b[2]), 1), "y_max": round(float(b[3]), 1)}
            for b, c, s in zip(stored, found["classes"][keep], found["scores"][keep])
            if b[2] > b[0] and b[3] > b[1]
        ]  # fmt: skip

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
        breasts = breast_predictions(frame, frame.probability, agg=self.aggregation)
        breasts["decision"] = np.where(breasts.prediction >= self.threshold, "recall", "routine")
        return breasts


class LivePredictor:
    """The champion behind a pointer: scores with the version loaded whole, and swaps to the new version when the
    pointer moves, without a restart.

    Every attribute and method of :class:`Predictor` is read from the version loaded now (:meth:`current`). At
    most every :attr:`poll_seconds` a call compares the pointer's target with the loaded version; when it moved,
    the new version is loaded (digests verified) and warmed up, then swapped in by one assignment, so a request
    holding the old :class:`Predictor` finishes on it. A version that fails to load is logged and skipped: the
    old one keeps serving.

    Args:
        pointer: The champion pointer (a symlink to ``versions/<version>``).
        runtime: The format that scores.
        detector: A detector folder to use instead of the version's own ``detector/``.
    """

    #: Seconds between two looks at the pointer (a stat and a readlink; loading happens only on a change).
    poll_seconds = 2.0

    def __init__(self, pointer: str | Path, runtime: str = SERVED_RUNTIME, detector: str | Path | None = None):
        import threading
        import time

        self._pointer, self._runtime, self._detector = Path(pointer), runtime, detector
        self._lock = threading.Lock()
        self._target = self._pointer.resolve()
        self._current = Predictor.load(self._target, runtime, detector, follow=False)
        self._current.reference  # noqa: B018 - the version and its drift reference load together
        self._failed: Path | None = None
        self._checked = time.monotonic()

    def current(self) -> Predictor:
        """The loaded version, after looking at the pointer when :attr:`poll_seconds` have passed."""
        import time

        if time.monotonic() - self._checked >= self.poll_seconds:
            self.refresh()
        return self._current

    def refresh(self) -> bool:
        """Load the pointer's version if it differs from the loaded one; True when it swapped.

        A call that finds another one loading returns at once (the old version keeps serving meanwhile).
        """
        import logging
        import time

        if not self._lock.acquire(blocking=False):
            return False
        try:
            self._checked = time.monotonic()
            target = self._pointer.resolve()
            if target == self._target or target == self._failed:
                return False
            try:
                new = Predictor.load(target, self._runtime, self._detector, follow=False)
                new.reference  # noqa: B018 - read (digest-checked) before the swap: drift follows the model
                h, w = new.preprocessing.cache_size
                new.predict_arrays([np.zeros((h, w), np.float32)])  # warm up before it takes traffic
            except Exception as exc:  # noqa: BLE001 - any load failure keeps the old version serving
                self._failed = target
                logging.getLogger(__name__).error(
                    "champion %s not loaded, still serving %s: %s", target, self._target, exc
                )
                return False
            self._current, self._target = new, target
            logging.getLogger(__name__).warning("champion switched to %s (version %s)", target, new.version)
            return True
        finally:
            self._lock.release()

    def __getattr__(self, name: str):
        if name.startswith("_"):  # own state not set (yet): never recurse into current()
            raise AttributeError(name)
        return getattr(self.current(), name)


def heatmap_png(image: np.ndarray, heat: np.ndarray) -> bytes:
    """PNG bytes of the model-input image with its Grad-CAM map blended on top."""
    import cv2

    from ..evaluation.explain import overlay

    ok, buffer = cv2.imencode(".png", cv2.cvtColor(overlay(image, heat), cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - cv2 encodes any uint8 RGB array
        raise RuntimeError("PNG encoding failed")
    return buffer.tobytes()
