"""Load and run an export folder's formats (Keras, SavedModel, ONNX Runtime, TFLite) and check its files.

This is what the API, the web app and the benchmark import: it needs no converter, and each runtime is
imported only when its format is opened.

Example:
    >>> from mammo_utils.export.runtime import load_artifact, open_runner
    >>> manifest = load_artifact("data/work/export/champion")  # doctest: +SKIP
    >>> open_runner("data/work/export/champion", "onnx").predict(images)  # doctest: +SKIP
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from .. import constants as C
from ..modeling.artifact import (  # noqa: F401 - the export folder's layout, re-exported for the runtimes' callers
    ARTIFACT,
    FILES,
    INPUT_NAME,
    OUTPUT_NAME,
    ExportError,
    load_artifact,
    sha256,
)
from ..utils import quiet_stderr

#: Formats ``mammo export`` writes by default (the Keras inference model is always written too).
FORMATS = C.EXPORT_FORMATS
#: Largest |probability - Keras probability| accepted for float32 formats.
PARITY_TOLERANCE = {"savedmodel": 1e-4, "onnx": 1e-4}
#: Default largest drop of validation breast ROC-AUC accepted for a quantised TFLite file.
MAX_AUC_DROP = C.MAX_AUC_DROP
#: Default largest share of validation breast decisions (at the frozen threshold) a quantised TFLite file may flip
#: against Keras. The AUC alone is blind where validation is already separated perfectly (AUC 1.0 stays 1.0 while
#: probabilities move by 0.7); a decision that changes is what a reader of the result meets.
MAX_FLIP_RATE = C.MAX_FLIP_RATE
#: A breast probability moving by at most this much is float noise, not a flip, even when it crosses the threshold
#: (the frozen threshold is itself a validation breast's score, so one breast sits exactly on it).
FLIP_NOISE = 1e-4
ONNX_OPSET = 17


class Runner:
    """One exported format, loaded, with ``predict(x) -> probabilities`` on ``(N, H, W, 1)`` float32 arrays."""

    fmt = ""

    def predict(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def predict_batched(self, x: np.ndarray, batch_size: int = 16) -> np.ndarray:
        """Probabilities of ``x`` in batches of ``batch_size``."""
        x = np.asarray(x, np.float32)
        return np.concatenate([self.predict(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


class KerasRunner(Runner):
    fmt = "keras"

    def __init__(self, path: Path, threads: int | None = None):
        import keras

        from ..modeling import keras_metrics, models  # noqa: F401 - custom layers

        self.model = keras.saving.load_model(path, compile=False)

    def predict(self, x):
        return np.asarray(self.model(np.asarray(x, np.float32), training=False), float).reshape(-1)


class SavedModelRunner(Runner):
    fmt = "savedmodel"

    def __init__(self, path: Path, threads: int | None = None):
        import tensorflow as tf

        self._tf = tf
        self.fn = tf.saved_model.load(str(path)).signatures["serving_default"]

    def predict(self, x):
        out = self.fn(**{INPUT_NAME: self._tf.constant(np.asarray(x, np.float32))})
        return np.asarray(next(iter(out.values())), float).reshape(-1)  # Keras names it ``output_0``


class OnnxRunner(Runner):
    fmt = "onnx"

    def __init__(self, path: Path, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        names = [i.name for i in self.session.get_inputs()]
        if names != [INPUT_NAME]:
            raise ExportError(f"{path}: ONNX graph inputs are {names}, expected only {INPUT_NAME!r}")

    def predict(self, x):
        return np.asarray(self.session.run(None, {INPUT_NAME: np.asarray(x, np.float32)})[0], float).reshape(-1)


class TfliteRunner(Runner):
    fmt = "tflite"

    def __init__(self, path: Path, threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self._batch = None

    def predict(self, x):
        x = np.asarray(x, np.float32)
        if self._batch != len(x):
            with quiet_stderr():  # XNNPACK announces itself when the tensors are first allocated
                self.interpreter.resize_tensor_input(self.input["index"], list(x.shape))
                self.interpreter.allocate_tensors()
            self._batch = len(x)
        self.interpreter.set_tensor(self.input["index"], x)
        self.interpreter.invoke()
        return np.asarray(self.interpreter.get_tensor(self.output["index"]), float).reshape(-1)


def open_runner(folder: str | Path, fmt: str, threads: int | None = None) -> Runner:
    """Load one format of an export folder.

    Args:
        folder: Export folder.
        fmt: ``keras``, ``savedmodel``, ``onnx``, ``tflite-fp16`` or ``tflite-int8``.
        threads: Intra-op threads for ONNX Runtime / TFLite (default: the runtime's).

    Returns:
        A :class:`Runner`.

    Raises:
        ExportError: Unknown format or a missing/corrupt file.
    """
    if fmt not in FILES:
        raise ExportError(f"unknown format {fmt!r}; choose one of {list(FILES)}")
    path = Path(folder) / FILES[fmt]
    if not path.exists():
        raise ExportError(f"{path}: missing; this export has no {fmt} format")
    try:
        with quiet_stderr():  # TFLite's XNNPACK and tf2onnx print start-up lines straight to fd 2
            return _RUNNERS[fmt.split("-")[0]](path, threads)
    except ExportError:
        raise
    except Exception as exc:  # noqa: BLE001 - every runtime raises its own type for a corrupt file
        raise ExportError(f"{path}: cannot be loaded as {fmt} ({type(exc).__name__}: {str(exc)[:200]})") from None


_RUNNERS = {"keras": KerasRunner, "savedmodel": SavedModelRunner, "onnx": OnnxRunner, "tflite": TfliteRunner}


def size_mb(path: Path) -> float:
    """Size of a file or folder in MB."""
    files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
    return sum(p.stat().st_size for p in files) / 1e6


def gzipped_mb(path: Path) -> float:
    """Size of a single file after gzip (level 9) in MB: what sparsity buys in transfer and storage."""
    return len(gzip.compress(path.read_bytes(), 9)) / 1e6
