"""Immutable, versioned releases and the champion pointer that is switched atomically.

Layout of an export root (``data/work/export``, mounted whole at ``/models`` by compose)::

    versions/<version>/   one export each, named by the first 12 hex digits of its model.json's SHA-256,
                          never modified once renamed into place
    champion -> versions/<version>
                          a relative symlink: what the service and the triggers read (Azure's
                          deployment names the version it resolves to: :func:`azure_deployment`)

A release is written to ``versions/.partial-*`` (every format checked against Keras on the way), renamed to
``versions/<version>`` and only then may the pointer move: :func:`switch_pointer` writes a temporary symlink and
renames it over ``champion`` (``rename(2)`` is atomic), so a reader sees either the old version or the new one,
whole. A running service compares the pointer's target with the version it loaded
(:class:`mammo_utils.serving.inference.LivePredictor`) and swaps to the new one without a restart; a container
keeps seeing switches because the export root is mounted, not the champion folder.

Example:
    >>> version = publish(staging, "data/work/export")  # doctest: +SKIP
    >>> switch_pointer("data/work/export/champion", version)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from ..modeling.artifact import ExportError, is_export_folder, load_artifact, version_id

#: Sub-folder of an export root holding one folder per released version.
VERSIONS = "versions"
#: The pointer's name (``Config.champion_export``).
CHAMPION = "champion"


def staging_folder(root: str | Path) -> Path:
    """A fresh temporary folder under ``<root>/versions`` (same file system, so publishing is a rename)."""
    folder = Path(root) / VERSIONS / f".partial-{uuid.uuid4().hex[:12]}"
    folder.parent.mkdir(parents=True, exist_ok=True)
    return folder


def publish(staging: str | Path, root: str | Path) -> Path:
    """Rename a complete, verified export folder to ``<root>/versions/<version>`` and return that folder.

    Raises:
        ExportError: The staged folder's files do not match its ``model.json``.
    """
    staging = Path(staging)
    load_artifact(staging)  # every listed digest checked before the folder becomes a version
    target = Path(root) / VERSIONS / version_id(staging)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():  # the same model.json bytes: the same release, already published
        shutil.rmtree(staging)
    else:
        staging.rename(target)
    return target


def switch_pointer(pointer: str | Path, version: str | Path) -> Path:
    """Point ``pointer`` at ``version`` atomically (a temporary relative symlink renamed over it).

    A legacy pointer that is a real folder (exports made before versioned releases) is first moved into
    ``versions/`` under its own digest, so nothing is deleted.

    Args:
        pointer: The champion pointer (``<root>/champion``).
        version: A published version folder under the same root.

    Returns:
        The version folder the pointer now resolves to.

    Raises:
        ExportError: ``version`` is not an export folder.
    """
    pointer, version = Path(pointer), Path(version)
    if not is_export_folder(version):
        raise ExportError(f"{version}: not an export folder; refusing to point {pointer} at it")
    pointer.parent.mkdir(parents=True, exist_ok=True)
    if pointer.is_dir() and not pointer.is_symlink():
        if is_export_folder(pointer):
            legacy = pointer.parent / VERSIONS / version_id(pointer)
            legacy.parent.mkdir(parents=True, exist_ok=True)
            pointer.rename(legacy) if not legacy.exists() else shutil.rmtree(pointer)
        elif any(pointer.iterdir()):
            raise ExportError(f"{pointer}: a non-empty folder that is not an export; move it away first")
        else:
            pointer.rmdir()
    temp = pointer.with_name(f".{pointer.name}.{uuid.uuid4().hex[:8]}")
    os.symlink(os.path.relpath(version.resolve(), pointer.parent.resolve()), temp)
    os.replace(temp, pointer)
    return version.resolve()


def current_version(pointer: str | Path) -> Path | None:
    """The version folder a pointer resolves to now (None when there is no champion yet)."""
    pointer = Path(pointer)
    return pointer.resolve() if is_export_folder(pointer) else None


def versions(root: str | Path) -> list[Path]:
    """Published versions under ``root``, oldest first."""
    folder = Path(root) / VERSIONS
    found = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")] if folder.is_dir() else []
    return sorted(found, key=lambda p: p.stat().st_mtime)


#: What ``deploy/azureml/deployment.yml`` writes where the released version's folder name goes.
VERSION_PLACEHOLDER = "VERSION"


def azure_deployment(template: str | Path, pointer: str | Path) -> dict:
    """The Azure ML online deployment of the version a pointer resolves to now (never the pointer itself).

    Azure registers the model folder the spec's ``model.path`` names by uploading its files; a symlink (the
    champion pointer) would register whatever it pointed at during the upload, under a name that says nothing of
    the version. The spec therefore names the immutable ``versions/<version>`` folder (an absolute path) and the
    service's ``MAMMO_MODEL_DIR`` inside the container ends in the same version name; the model is tagged with the
    version and the SHA-256 of its ``model.json``.

    Args:
        template: ``deploy/azureml/deployment.yml`` (``VERSION`` where the version goes).
        pointer: The champion pointer (or an export folder, used as it resolves).

    Returns:
        The spec, ready for ``yaml.safe_dump`` and ``az ml online-deployment create -f``.

    Raises:
        ExportError: ``pointer`` does not resolve to an export folder.

    Example:
        >>> spec = azure_deployment("deploy/azureml/deployment.yml", "data/work/export/champion")  # doctest: +SKIP
        >>> spec["model"]["path"]  # doctest: +SKIP
        '/repo/data/work/export/versions/3f2a9c1e0b7d'
    """
    import yaml

    from ..modeling.artifact import ARTIFACT, sha256

    version = current_version(pointer)
    if version is None:
        raise ExportError(f"{pointer}: no export there; release one with `mammo export --out {pointer}`")
    spec = yaml.safe_load(Path(template).read_text())
    model = spec["model"]
    model["path"] = version.as_posix()
    model["tags"] = {
        **(model.get("tags") or {}),
        "release": version.name,
        "model_json_sha256": sha256(version / ARTIFACT),
    }
    env = spec.setdefault("environment_variables", {})
    env["MAMMO_MODEL_DIR"] = f"/var/azureml-app/azureml-models/{model['name']}/{model['version']}/{version.name}"
    return spec


def write_azure_deployment(template: str | Path, pointer: str | Path, out: str | Path) -> Path:
    """Write :func:`azure_deployment`'s spec to ``out`` (YAML, with the template's ``$schema`` first).

    Returns:
        ``out``.
    """
    import yaml

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    header = f"# generated by `mammo export --azure-spec` from {Path(template).name}: do not edit\n"
    out.write_text(header + yaml.safe_dump(azure_deployment(template, pointer), sort_keys=False))
    return out
