"""The common "Setup" of every numbered notebook: platform bootstrap, configuration, seeds, data.

Every notebook opens with the same two lines (the first only matters where the package is not installed,
as on a fresh Kaggle/Colab clone)::

    import sys, pathlib; sys.path.insert(0, str(pathlib.Path.cwd().parent))
    from mammo_utils.notebook import setup
    cfg = setup(profile, data_root, seed=seed, epochs=epochs, image_size=image_size)
"""

from __future__ import annotations

import importlib.util
import os
import platform
import subprocess
import sys
from typing import Any

from .config import Config, get_config
from .data.synthetic import ensure_dataset
from .utils import (
    build_identity,
    deterministic_threads,
    import_tensorflow,
    portable_path,
    seed_everything,
    versions,
)

if importlib.util.find_spec("tensorflow") is not None:
    import_tensorflow()  # now, quietly: a later `import keras` in a notebook cell would print TF's C++ banner

#: Packages Kaggle/Colab images lack (import name -> pip requirement, pinned as in requirements.txt).
PLATFORM_EXTRAS = {
    "pydicom": "pydicom==3.0.2",
    "pylibjpeg": "pylibjpeg==2.1.0",
    "openjpeg": "pylibjpeg-openjpeg==2.6.0",
    "libjpeg": "pylibjpeg-libjpeg==2.5.0",
    "imagecodecs": "imagecodecs",
    "keras_cv": "keras-cv==0.9.0",
    "keras_tuner": "keras-tuner==1.4.8",
    "mlflow": "mlflow==3.17.2",
}

#: Notebook parameters that map onto configuration fields when not None (``image_size`` also sets the cache).
_PARAMETER_FIELDS = ("epochs", "finetune_epochs", "weights", "backbone", "workers", "det_epochs", "det_patience")


def platform_name() -> str:
    """``kaggle``, ``colab`` or ``local``."""
    if os.path.isdir("/kaggle/input"):
        return "kaggle"
    if "google.colab" in sys.modules or os.environ.get("COLAB_RELEASE_TAG"):
        return "colab"
    return "local"


def bootstrap(install: bool | None = None) -> list[str]:
    """Install the packages a hosted notebook platform lacks (no-op locally).

    Args:
        install: Force (True) or forbid (False) installing; default: only on Kaggle/Colab.

    Returns:
        The requirements that were installed.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow start-up chatter out of the rendered reports
    if install is None:
        install = platform_name() != "local"
    missing = [req for mod, req in PLATFORM_EXTRAS.items() if importlib.util.find_spec(mod) is None]
    if install and missing:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *missing], check=True)
        return missing
    return []


def notebook_overrides(image_size: str | None = None, **parameters: Any) -> dict[str, Any]:
    """Config overrides from notebook parameters, skipping the ones left at None.

    ``image_size`` sets the cache size too (the small notebooks cache at the size they train at).

    Args:
        image_size: ``"HxW"`` or None.
        **parameters: Any of ``epochs``, ``finetune_epochs``, ``weights``, ``backbone``, ``workers``, ``det_epochs``,
            ``det_patience``.

    Returns:
        The overrides for :func:`~mammo_utils.config.get_config`.

    Raises:
        ValueError: A parameter that is not a notebook setting.
    """
    unknown = sorted(set(parameters) - set(_PARAMETER_FIELDS))
    if unknown:
        raise ValueError(f"unknown notebook parameter(s) {unknown}; known: {list(_PARAMETER_FIELDS)} and image_size")
    out = {k: v for k, v in parameters.items() if v is not None}
    if image_size is not None:
        out.update(image_size=image_size, cache_size=image_size)
    return out


def setup(
    profile: str = "small",
    data_root: Any = None,
    seed: int | None = None,
    gpu: bool = False,
    image_size: str | None = None,
    **parameters: Any,
) -> Config:
    """The common Setup cell: bootstrap, config, seeds, data; the environment goes into the build record.

    Nothing is printed: the platform, accelerators and library versions are written once per build into the work
    folder's ``build.json`` (:func:`~mammo_utils.utils.build_identity`), which the final report shows.

    Args:
        profile: Run profile (``small`` / ``full``).
        data_root: Dataset folder (None: auto-detect, see ``mammo_utils.config``).
        seed: Random seed (default: the config's).
        gpu: Also import TensorFlow and record the visible GPUs.
        image_size: ``"HxW"`` for model and cache, or None for the profile's.
        **parameters: Notebook parameters (:func:`notebook_overrides`) and other config fields.

    Returns:
        The :class:`~mammo_utils.config.Config`.
    """
    bootstrap()
    known = {k: parameters.pop(k) for k in list(parameters) if k in _PARAMETER_FIELDS}
    overrides = {**parameters, **notebook_overrides(image_size, **known)}
    if seed is not None:
        overrides["seed"] = seed
    cfg = get_config(profile, data_root, **overrides)
    if cfg.deterministic:
        deterministic_threads()  # before TensorFlow's runtime starts (its thread pools are fixed then)
    ensure_dataset(cfg, progress=False)
    environment = {"platform": platform_name(), "profile": cfg.profile, "data": portable_path(cfg.data_root)}
    if gpu:
        tf = import_tensorflow()
        environment["gpus"] = [d.name for d in tf.config.list_physical_devices("GPU")]
    seed_everything(cfg.seed, deterministic=cfg.deterministic)
    import pandas as pd

    pd.set_option("display.max_colwidth", None)  # table labels (arm pairs, run names) printed whole, never cut
    # the platform and versions go into the build record (the final report's provenance section), not the output
    build_identity(cfg.work_dir, {**environment, "machine": platform.machine(), "versions": versions()})
    return cfg


def shown_table(table, decimals: int = 3, blanks: dict[str, str] | None = None, blank: str = "—"):
    """A results table as a notebook shows it: numbers rounded, and an empty cell where a value does not exist,
    instead of pandas' ``NaN``.

    Args:
        table: A ``pandas.DataFrame``.
        decimals: Decimals of the numbers.
        blanks: Per column, what its empty cells say (e.g. ``{"gzip_mb": "n/a (folder)"}``); others read ``blank``.
        blank: The text of an empty cell (say under the table what it means).

    Returns:
        A new ``DataFrame`` (the input is unchanged).

    Example:
        >>> import pandas as pd
        >>> shown_table(pd.DataFrame({"auc": [0.91234, None]}), 2)["auc"].tolist()
        [0.91, '—']
    """
    out = table.round(decimals).astype(object)
    for column in out.columns:
        out[column] = out[column].where(table[column].notna(), (blanks or {}).get(column, blank))
    return out
