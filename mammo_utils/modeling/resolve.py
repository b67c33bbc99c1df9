"""The one model resolver: a ``.keras`` file, a run folder, an export folder or an MLflow registry URI.

Everything that loads a classifier for Keras (the service's :class:`~mammo_utils.serving.inference.Predictor`
when it is not given an export folder, export, detection, reporting, retraining, notebooks) calls
:func:`resolve_model`, so ``mammo serve``, ``mammo predict``, ``mammo export`` and ``mammo detect evaluate``
all accept the same references.

Example:
    >>> model, info = resolve_model("models:/mammo-cancer-classifier@champion")  # doctest: +SKIP
    >>> model, info = resolve_model("data/work/runs/04_baseline")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import run_state as R
from .artifact import FILES, is_export_folder, load_artifact

#: Prefix of an MLflow model-registry reference (``models:/<name>@<alias>`` or ``models:/<name>/<version>``).
REGISTRY_PREFIX = "models:/"


def is_registry_ref(ref: str | Path) -> bool:
    """True for ``models:/<name>@<alias>`` / ``models:/<name>/<version>``."""
    return str(ref).startswith(REGISTRY_PREFIX)


def check_model_ref(ref: str | Path, what: str = "--model") -> str:
    """Refuse a reference that names nothing (before a slow load): returns it as a string.

    Raises:
        FileNotFoundError: A path that does not exist.
        ValueError: A registry reference without a name and an alias or version.
    """
    ref = str(ref)
    if is_registry_ref(ref):
        name, sep, rest = ref.removeprefix(REGISTRY_PREFIX).partition("@")
        if not name or (sep and not rest) or (not sep and "/" not in name):
            raise ValueError(f"{what} {ref}: a registry reference is models:/<name>@<alias> or models:/<name>/<N>")
        return ref
    if not Path(ref).exists():
        raise FileNotFoundError(f"{what} {ref}: no such export folder, run folder or .keras file")
    return ref


def resolve_model(
    ref: str | Path, work_dir: str | Path | None = None, tracking_uri: str | None = None
) -> tuple[Any, dict]:
    """Load the Keras model and its info from a file, a run folder, an export folder or the MLflow registry.

    Args:
        ref: A ``.keras`` file (with ``model_info.json`` beside it), a run folder, an export folder (its
            ``model.keras`` and ``model.json``, hashes checked), or ``models:/<name>@<alias>`` /
            ``models:/<name>/<version>`` (the configured MLflow store).
        work_dir: Where registry downloads go (default: a temporary folder).
        tracking_uri: MLflow store a registry reference is read from (default: the one already set, e.g. by
            :func:`mammo_utils.modeling.tracking.configure`, else ``MLFLOW_TRACKING_URI``).

    Returns:
        ``(keras model, info dict)``; the info holds ``preprocessing`` and ``threshold`` in every case.

    Raises:
        ModelInfoError: A missing or malformed run folder, or a registry reference that cannot be loaded.
        ExportError: An export folder whose files do not match ``model.json``.
    """
    import keras

    from . import keras_metrics, models  # noqa: F401 - registers the custom layers and metric

    ref = str(ref)
    if is_registry_ref(ref):
        from .tracking import load_registered_model

        return load_registered_model(ref, work_dir, tracking_uri)
    if is_export_folder(ref):
        manifest = load_artifact(ref)
        info = {**manifest, **manifest.get("training", {}), "model_file": FILES["keras"]}
        return keras.saving.load_model(Path(ref) / FILES["keras"], compile=False), info
    model_path, info = R.load_model_info(ref)
    return keras.saving.load_model(model_path, compile=False), info
