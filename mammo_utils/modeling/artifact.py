"""The export folder's layout and its two readers: ``model.json`` (:func:`load_artifact`) and the drift
reference ``reference.json`` (:func:`read_reference`), both checked against the SHA-256 digests ``model.json``
records.

It sits in the modeling layer because loading a model (:mod:`.resolve`), exporting it, serving it and
monitoring it all read the same folder; the converters and runtimes that write and run the formats stay in
:mod:`mammo_utils.export`.

Digests: ``model.json`` records each file's own SHA-256 (what ``sha256sum`` prints); a folder format
(``saved_model/``, ``detector/``) records each of its files under ``files``. The folder's version is the
SHA-256 of ``model.json`` itself (:func:`version_id`), so ``sha256sum model.json`` and ``sha256sum -c`` on the
listed files verify a release with standard tools.

Example:
    >>> manifest = load_artifact("data/work/export/champion")  # doctest: +SKIP
    >>> reference = read_reference("data/work/export/champion")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from ..data.preprocess import Preprocessing
from ..utils import portable_path

#: File or folder of each format inside an export folder.
FILES = {
    "keras": "model.keras",
    "savedmodel": "saved_model",
    "onnx": "model.onnx",
    "tflite-fp16": "model_fp16.tflite",
    "tflite-int8": "model_int8.tflite",
}
#: The export folder's manifest (what a runtime needs, and every file's SHA-256).
ARTIFACT = "model.json"
#: Sub-folder of an export holding a bundled lesion detector (``mammo export --detector``).
DETECTOR_FOLDER = "detector"
#: The drift reference written beside the model (:func:`mammo_utils.evaluation.drift.reference_statistics`).
REFERENCE_FILE = "reference.json"
INPUT_NAME = "image"
OUTPUT_NAME = "probability"


class ExportError(ValueError):
    """An export that cannot be made or trusted (bad reference, failed parity, corrupt artifact)."""


def sha256(path: str | Path) -> str:
    """SHA-256 of one file's bytes: exactly what ``sha256sum FILE`` prints.

    Raises:
        IsADirectoryError: ``path`` is a folder (a folder's files are listed one by one, :func:`tree_digests`).
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: a folder has no single SHA-256; list its files with tree_digests()")
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tree_digests(folder: str | Path, exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """``{relative path: SHA-256}`` of every file under ``folder`` (POSIX paths, sorted), as ``sha256sum`` lists.

    Args:
        folder: The folder.
        exclude: Relative paths left out (``model.json`` itself).
    """
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    rel = [(p.relative_to(folder).as_posix(), p) for p in files]
    return {name: sha256(p) for name, p in rel if name not in exclude and not name.startswith(".")}


def entry_digests(folder: str | Path, relative: str) -> dict:
    """What ``model.json`` records of one file or folder inside an export: ``{"path", "sha256"}`` for a file,
    ``{"path", "files": {name inside it: sha256}}`` for a folder (SavedModel, ``detector/``)."""
    target = Path(folder) / relative
    if target.is_dir():
        return {"path": relative, "files": tree_digests(target)}
    return {"path": relative, "sha256": sha256(target)}


def _legacy_sha256(path: Path) -> str:
    """The digest of exports made before per-file digests (names hashed with the bytes); read-only support."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def _verify_entry(folder: Path, what: str, entry: dict) -> None:
    target = folder / entry["path"]
    if not target.exists():
        raise ExportError(f"{target}: listed in {ARTIFACT} as {what} but missing")
    if "files" in entry:
        for name, expected in entry["files"].items():
            file = target / name
            if not file.is_file():
                raise ExportError(f"{file}: listed in {ARTIFACT} as part of {what} but missing")
            if sha256(file) != expected:
                raise ExportError(f"{file}: SHA-256 differs from {ARTIFACT}; the {what} file was changed or corrupted")
    elif "sha256" in entry:
        plain = sha256(target) if target.is_file() else None
        if plain != entry["sha256"] and _legacy_sha256(target) != entry["sha256"]:  # exports made before v2
            raise ExportError(f"{target}: SHA-256 differs from {ARTIFACT}; the {what} file was changed or corrupted")


def verify_files(folder: str | Path, manifest: dict) -> None:
    """Check every file ``model.json`` lists (each format, the drift reference, a bundled detector).

    Raises:
        ExportError: A listed file is missing or its SHA-256 differs; the message names the file.
    """
    folder = Path(folder)
    for fmt, entry in manifest["formats"].items():
        _verify_entry(folder, fmt, entry)
    for key in ("drift_reference", "detector"):
        if manifest.get(key):
            _verify_entry(folder, key.replace("_", " "), manifest[key])


def version_id(folder: str | Path) -> str:
    """An export's version: the first 12 hex digits of its ``model.json``'s SHA-256 (``sha256sum model.json``).

    ``model.json`` lists every other file's digest, so this one digest pins the whole folder; a release folder is
    named by it (``versions/<version>``).
    """
    return sha256(Path(folder) / ARTIFACT)[:12]


def is_export_folder(path: str | Path) -> bool:
    """True for a folder holding an export manifest (``model.json``)."""
    return (Path(path) / ARTIFACT).is_file()


def load_artifact(folder: str | Path, verify: bool = True) -> dict:
    """Read an export folder's ``model.json`` and (by default) check every file's SHA-256.

    Args:
        folder: Export folder (or a champion pointer to one).
        verify: Recompute and compare the digests of every file ``model.json`` lists.

    Returns:
        The ``model.json`` content.

    Raises:
        ExportError: Missing or malformed ``model.json``, a missing file, or a digest mismatch (naming the file).
    """
    folder = Path(folder)
    path = folder / ARTIFACT
    if not path.is_file():
        raise ExportError(f"{path}: missing; not an export folder (make one with `mammo export`)")
    try:
        manifest = json.loads(path.read_text())
        Preprocessing.from_dict(manifest["preprocessing"])
        if not isinstance(manifest["formats"], dict):
            raise TypeError("formats is not a mapping")
    except (ValueError, KeyError, TypeError) as exc:
        raise ExportError(f"{path}: malformed ({exc})") from None
    if verify:
        verify_files(folder, manifest)
    return manifest


def read_reference(folder: str | Path, required: bool = False) -> dict | None:
    """The drift reference of an export folder, after checking it against the digest in ``model.json``.

    The one reader of ``reference.json``: the service, the retraining triggers, ``mammo monitor drift`` and
    notebook 08 call it.

    Args:
        folder: Export folder (a run folder has no reference).
        required: Raise instead of returning None when the folder has no reference.

    Returns:
        The reference (:func:`mammo_utils.evaluation.drift.reference_statistics` output), or None when the
        folder is not an export or holds no ``reference.json`` (and ``required`` is False).

    Raises:
        ExportError: The file differs from the digest ``model.json`` records, ``model.json`` records none, the
            file is not JSON, or (``required``) there is no reference.
    """
    folder = Path(folder)
    path = folder / REFERENCE_FILE
    if not (is_export_folder(folder) and path.is_file()):
        if required:
            raise ExportError(f"{path}: missing; export the model again with `mammo export`")
        return None
    entry = load_artifact(folder, verify=False).get("drift_reference") or {}
    if not entry.get("sha256"):
        raise ExportError(f"{folder / ARTIFACT}: records no digest of {REFERENCE_FILE}; export the model again")
    if sha256(path) != entry["sha256"] and _legacy_sha256(path) != entry["sha256"]:
        raise ExportError(f"{path}: SHA-256 differs from {ARTIFACT}; the drift reference was changed or corrupted")
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise ExportError(f"{path}: not valid JSON ({exc})") from None


def build_stamp(export_dir: str | Path) -> dict[str, Any]:
    """What identifies an export: its ``model.json`` digest, release folder and training run.

    Args:
        export_dir: Export folder or the champion pointer.

    Returns:
        ``{"digest", "release", "run_name", "mlflow_run_id", "build", "exported_at"}`` (``build``: the
        :func:`~mammo_utils.utils.build_identity` id the export was made in; None for an older export).

    Raises:
        FileNotFoundError: ``export_dir`` holds no ``model.json``.
    """
    folder = Path(export_dir)
    if not (folder / ARTIFACT).is_file():
        raise FileNotFoundError(f"{folder}: no {ARTIFACT}; run notebook 08 or `mammo export` first")
    manifest = json.loads((folder / ARTIFACT).read_text())
    training = manifest.get("training", {})
    return {
        "digest": version_id(folder),
        "release": folder.resolve().name,
        "run_name": training.get("run_name"),
        "mlflow_run_id": training.get("mlflow_run_id"),
        "build": manifest.get("build"),
        "exported_at": manifest.get("exported_at"),
    }


def record(export_dir: str | Path, url_path: str | None = None, **extra: Any) -> dict[str, Any]:
    """The provenance record of an artifact made now from ``export_dir`` (a benchmark's JSON, a screenshot's
    sidecar: :mod:`mammo_utils.reporting.provenance` checks it when the report is built).

    Args:
        export_dir: The export the artifact was measured on.
        url_path: For a screenshot, the page's URL path (``/``, ``/graph?...``); host and port are left out.
        **extra: More JSON-able fields (e.g. ``what="web app"``).

    Returns:
        :func:`build_stamp` plus ``recorded_at`` (UTC), ``model`` (:func:`portable_path`) and ``url_path``.
    """
    stamp = build_stamp(export_dir)
    stamp["model"] = portable_path(export_dir)
    stamp["recorded_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if url_path is not None:
        stamp["url_path"] = url_path
    return {**stamp, **extra}
