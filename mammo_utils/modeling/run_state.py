"""A training run's folder: its file names, its resume state and the fingerprint that guards resuming.

A run lives in ``<work_dir>/runs/<run_name>``::

    state.json          stages done, next epoch, best monitored value, MLflow run id, fingerprint
    history.csv         one row per epoch (Keras CSVLogger)
    best.weights.h5     best weights so far (ModelCheckpoint on the monitored metric)
    backup_<stage>/     BackupAndRestore of an interrupted stage
    model.keras         the final model (best weights)
    model_info.json     what inference needs beside the model: preprocessing, threshold, metrics
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

from ..data.preprocess import Preprocessing
from ..utils import to_json, write_atomic

log = logging.getLogger(__name__)

STATE = "state.json"
HISTORY = "history.csv"
BEST_WEIGHTS = "best.weights.h5"
MODEL = "model.keras"
MODEL_INFO = "model_info.json"


def backup_dir(run_dir: Path, stage: str) -> Path:
    """Folder of ``keras.callbacks.BackupAndRestore`` for one training stage."""
    return Path(run_dir) / f"backup_{stage}"


def fingerprint(settings: dict[str, Any], model) -> str:
    """Hash of what makes a run resumable: the training settings and the model's weight names and shapes.

    Args:
        settings: Configuration values that change training (paths and tracking names excluded by the caller).
        model: The built Keras model.

    Returns:
        16 hex characters.
    """
    shapes = [(w.path, tuple(w.shape)) for w in model.weights]
    return hashlib.sha256(json.dumps([settings, shapes], sort_keys=True, default=str).encode()).hexdigest()[:16]


class RunState:
    """Resume state of a run folder (``state.json``, written atomically).

    Args:
        run_dir: The run folder.
    """

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / STATE
        self.data: dict[str, Any] = (
            json.loads(self.path.read_text()) if self.path.is_file() else {"stages_done": [], "best": None}
        )

    def save(self) -> None:
        """Write ``state.json`` atomically."""
        write_atomic(self.path, to_json(self.data, indent=1).encode())

    @classmethod
    def open(cls, run_dir: Path, run_fingerprint: str, resume: bool) -> "RunState":
        """Resume state of ``run_dir``; starts it over when asked to or when it belongs to other settings/architecture.

        Args:
            run_dir: The run folder.
            run_fingerprint: :func:`fingerprint` of this run.
            resume: Continue a previous run of the same folder when its fingerprint matches.

        Returns:
            The state, saved with this fingerprint.
        """
        run_dir = Path(run_dir)
        state = cls(run_dir)
        stale = state.data.get("fingerprint") not in (None, run_fingerprint)
        if run_dir.exists() and (not resume or stale):
            if stale and resume:
                log.warning("%s was trained with other settings or another architecture: starting it over", run_dir)
            shutil.rmtree(run_dir)
            state = cls(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        state.data["fingerprint"] = run_fingerprint
        state.save()
        return state


class ModelInfoError(ValueError):
    """A model folder or file lacks, or has a malformed, ``model_info.json``."""


def load_model_info(path: str | Path) -> tuple[Path, dict]:
    """Find the model file and read its ``model_info.json``.

    Args:
        path: A run folder (``model.keras`` + ``model_info.json``) or a ``.keras`` file beside its info.

    Returns:
        ``(model file, info dict)``.

    Raises:
        ModelInfoError: Missing model or info file, or info without its preprocessing parameters.
    """
    path = Path(path)
    if not path.exists():
        raise ModelInfoError(f"{path}: no such model file or run folder")
    folder = path if path.is_dir() else path.parent
    info_path = folder / MODEL_INFO
    if not info_path.is_file():
        raise ModelInfoError(f"{info_path}: missing; a model needs its preprocessing parameters beside it")
    try:
        info = json.loads(info_path.read_text())
        Preprocessing.from_dict(info["preprocessing"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelInfoError(f"{info_path}: malformed ({exc})") from None
    model_path = path if path.is_file() else folder / info.get("model_file", MODEL)
    if not model_path.is_file():
        raise ModelInfoError(f"{model_path}: model file missing")
    return model_path, info
