"""The export folder's layout and its two readers: ``model.json`` (:func:`load_artifact`) and the drift
reference ``reference.json`` (:func:`read_reference`), both checked against the SHA-256 digests ``model.json``
records.

It sits in the modeling layer because loading a model (:mod:`.resolve`), exporting it, serving it and
monitoring it all read the same folder; the converters and runtimes that write and run the formats stay in
:mod:`mammo_utils.export`.

Example:
    >>> manifest = load_artifact("data/work/export/champion")  # doctest: +SKIP
    >>> reference = read_reference("data/work/export/champion")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..data.preprocess import Preprocessing

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
#: The drift reference written beside the model (:func:`mammo_utils.evaluation.drift.reference_statistics`).
REFERENCE_FILE = "reference.json"
INPUT_NAME = "image"
OUTPUT_NAME = "probability"


class ExportError(ValueError):
    """An export that cannot be made or trusted (bad reference, failed parity, corrupt artifact)."""


def sha256(path: Path) -> str:
    """SHA-256 of a file, or of a folder's files (sorted relative paths and contents)."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        with open(file, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def is_export_folder(path: str | Path) -> bool:
    """True for a folder holding an export manifest (``model.json``)."""
    return (Path(path) / ARTIFACT).is_file()


def load_artifact(folder: str | Path, verify: bool = True) -> dict:
    """Read an export folder's ``model.json`` and (by default) check every file's SHA-256.

    Args:
        folder: Export folder.
        verify: Recompute and compare the hashes.

    Returns:
        The ``model.json`` content.

    Raises:
        ExportError: Missing or malformed ``model.json``, a missing file, or a hash mismatch.
    """
    folder = Path(folder)
    path = folder / ARTIFACT
    if not path.is_file():
        raise ExportError(f"{path}: missing; not an export folder (make one with `mammo export`)")
    try:
        manifest = json.loads(path.read_text())
        Preprocessing.from_dict(manifest["preprocessing"])
        formats = manifest["formats"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ExportError(f"{path}: malformed ({exc})") from None
    if verify:
        for fmt, entry in formats.items():
            file = folder / entry["path"]
            if not file.exists():
                raise ExportError(f"{file}: listed in {ARTIFACT} as {fmt} but missing")
            if sha256(file) != entry["sha256"]:
                raise ExportError(f"{file}: SHA-256 differs from {ARTIFACT}; the {fmt} file was changed or corrupted")
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
    if sha256(path) != entry["sha256"]:
        raise ExportError(f"{path}: SHA-256 differs from {ARTIFACT}; the drift reference was changed or corrupted")
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise ExportError(f"{path}: not valid JSON ({exc})") from None
