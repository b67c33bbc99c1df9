"""A training run's folder: its file names, its resume state and the fingerprint that guards resuming.

A run lives in ``<work_dir>/runs/<run_name>``::

    state.json          stages done, next epoch, best monitored value, MLflow run id, fingerprint
    history.csv         one row per epoch (Keras CSVLogger)
    best.weights.h5     best weights so far (ModelCheckpoint on the monitored metric)
    backup_<stage>/     BackupAndRestore of an interrupted stage
    model.keras         the final model (best weights)
    model_info.json     what inference needs beside the model: preprocessing, threshold, metrics
    trained.json        which build trained it, when, and the SHA-256 of its checkpoint (:func:`write_trained`)

A notebook that re-scores a finished run records :func:`trained_run` of it in its results file, so the report can
tell a run trained in this build from one trained earlier (no record) or elsewhere (another build id).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..data.preprocess import Preprocessing
from ..utils import build_identity, portable_path, to_json, write_atomic
from .artifact import sha256

log = logging.getLogger(__name__)

STATE = "state.json"
HISTORY = "history.csv"
BEST_WEIGHTS = "best.weights.h5"
MODEL = "model.keras"
MODEL_INFO = "model_info.json"
TRAINED = "trained.json"
#: Runs whose weights digest :func:`trained_line` prints (the rest are in the results file).
DIGESTS_SHOWN = 4


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


class RunRecordError(RuntimeError):
    """A run's weights on disk differ from the digest recorded when it was trained (or its record is unreadable)."""


def write_trained(run_dir: str | Path, weights: Iterable[str], work: str | Path | None = None) -> dict[str, Any]:
    """Record, in ``run_dir/trained.json`` (atomic), the build that has just trained the run and its weights' digest.

    Called once training has written the run's weights, never when a finished run is only re-scored: the record
    keeps naming the build that trained it.

    Args:
        run_dir: The run folder.
        weights: File names (inside ``run_dir``) holding the trained weights (``best.weights.h5``).
        work: The work folder whose ``build.json`` names the build (default: ``MAMMO_WORK`` or ``data/work``).

    Returns:
        ``{"build", "trained_at", "weights": {file: sha256}}``.

    Example:
        >>> write_trained("data/work/runs/arm_baseline_s0", [BEST_WEIGHTS])["build"]  # doctest: +SKIP
        '43ae897ef1f0'
    """
    run_dir = Path(run_dir)
    record = {
        "build": build_identity(work)["id"],
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "weights": {name: sha256(run_dir / name) for name in weights},
    }
    write_atomic(run_dir / TRAINED, (to_json(record, indent=1) + "\n").encode())
    return record


def trained_run(run_dir: str | Path) -> dict[str, Any]:
    """What a results file records of one run it scored: the run, the build that trained it and its weights' digest.

    Args:
        run_dir: The run folder (or a detector's folder).

    Returns:
        ``run`` (folder name), ``trained_build``, ``trained_at``, ``weights_file``, ``weights_sha256`` (full digest)
        and ``weights_match`` (True: the weights on disk are the ones trained). A run trained before runs recorded
        their build has ``trained_build`` None (and None for the rest): it is not counted as this build's.

    Raises:
        RunRecordError: The weights on disk differ from the recorded digest, or the record is malformed; the message
            names the run folder.
    """
    run_dir = Path(run_dir)
    entry = {"run": run_dir.name, "trained_build": None, "trained_at": None}
    entry.update(weights_file=None, weights_sha256=None, weights_match=None)
    path = run_dir / TRAINED
    if not path.is_file():
        return entry
    try:
        record = json.loads(path.read_text())
        weights = dict(record["weights"])
    except (ValueError, KeyError, TypeError) as exc:
        raise RunRecordError(f"{portable_path(path)}: malformed training record ({exc})") from None
    for name, digest in weights.items():
        found = sha256(run_dir / name) if (run_dir / name).is_file() else "missing"
        if found != digest:
            raise RunRecordError(
                f"{portable_path(run_dir)}: {name} is not the file trained in build {record.get('build')} at "
                f"{record.get('trained_at')} (recorded sha256 {digest[:12]}, on disk {found[:12]}); retrain the run "
                "(delete its folder) instead of scoring weights of unknown origin"
            )
    name, digest = next(iter(weights.items()), (None, None))
    entry.update(trained_build=record.get("build"), trained_at=record.get("trained_at"))
    entry.update(weights_file=name, weights_sha256=digest, weights_match=bool(weights))
    return entry


def trained_runs(folders: Iterable[str | Path]) -> list[dict[str, Any]]:
    """:func:`trained_run` of each run folder, once each (in the order given).

    Args:
        folders: Run folders (e.g. ``r.model_path.parent`` of each ``TrainResult``, or a detector record's ``folder``).

    Returns:
        One entry per distinct folder.
    """
    seen: dict[Path, dict[str, Any]] = {}
    for folder in folders:
        key = Path(folder).resolve()
        if key not in seen:
            seen[key] = trained_run(folder)
    return list(seen.values())


def trained_line(entries: list[dict[str, Any]], build: str | None = None) -> str:
    """One line naming the builds that trained the runs a notebook used, for its rendered output.

    Args:
        entries: :func:`trained_runs`.
        build: The current build id (default: the work folder's :func:`~mammo_utils.utils.build_identity`).

    Returns:
        E.g. ``3 runs, all trained in this build 43ae897ef1f0; weights sha256: arm_baseline_s0 1a2b3c4d5e6f, …``.

    Example:
        >>> trained_line([{"run": "r", "trained_build": None, "weights_sha256": None}], "b")
        '1 run: 1 with no training record (trained before runs recorded their build: r)'
    """
    build = build or build_identity()["id"]
    groups: dict[str | None, list[str]] = {}
    for entry in entries:
        groups.setdefault(entry.get("trained_build"), []).append(entry["run"])
    n = len(entries)
    head = f"{n} run{'s' if n != 1 else ''}"
    if set(groups) == {build}:
        shown = [f"{e['run']} {e['weights_sha256'][:12]}" for e in entries if e.get("weights_sha256")]
        more = (
            f" and {len(shown) - DIGESTS_SHOWN} more (results file: trained_runs)" if len(shown) > DIGESTS_SHOWN else ""
        )
        return f"{head}, all trained in this build {build}; weights sha256: {', '.join(shown[:DIGESTS_SHOWN])}{more}"
    parts = [f"{len(groups[build])} trained in this build {build}"] if build in groups else []
    parts += [
        f"{len(runs)} trained in build {b} (not this one: {', '.join(runs)})"
        for b, runs in groups.items()
        if b not in (build, None)
    ]
    if None in groups:
        unrecorded = ", ".join(groups[None])
        parts.append(
            f"{len(groups[None])} with no training record (trained before runs recorded their build: {unrecorded})"
        )
    return f"{head}: " + "; ".join(parts)
