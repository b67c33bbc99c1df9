"""Notebook start-up helpers: platform bootstrap and the common "Setup" cell.

Every numbered notebook opens with::

    from mammo_utils.notebook import bootstrap, setup
    bootstrap()                 # on Kaggle/Colab: pip-installs what the platform lacks
    cfg = setup(profile, data_root)
"""

from __future__ import annotations

import importlib.util
import os
import platform
import random
import subprocess
import sys
from typing import Any

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


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and (when already imported) Keras/TensorFlow."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    if "keras" in sys.modules:
        import keras

        keras.utils.set_random_seed(seed)


def versions(
    packages: tuple[str, ...] = ("numpy", "pandas", "pydicom", "opencv-python-headless", "tensorflow", "tensorflow-cpu", "keras", "mlflow")
) -> dict[str, str]:
    """Installed versions of the given distributions (read from metadata, nothing imported)."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def setup(profile: str = "small", data_root: Any = None, seed: int | None = None, gpu: bool = False, **overrides: Any):
    """The common Setup cell: config, seeds, versions, platform and (optionally) accelerators.

    Args:
        profile: Run profile (``small`` / ``full``).
        data_root: Dataset folder (None: auto-detect, see ``mammo_utils.config``).
        seed: Random seed (default: the config's).
        gpu: Also import TensorFlow and list visible GPUs.
        **overrides: Config overrides.

    Returns:
        The :class:`~mammo_utils.config.Config`.
    """
    from .config import get_config

    cfg = get_config(profile, data_root, **overrides)
    seed_everything(cfg.seed if seed is None else seed)
    print(f"platform: {platform_name()} | profile: {cfg.profile} | data: {cfg.data_root}")
    print("versions:", ", ".join(f"{k} {v}" for k, v in versions().items()))
    if gpu:
        import tensorflow as tf

        print("GPUs:", [d.name for d in tf.config.list_physical_devices("GPU")] or "none (CPU run)")
    return cfg
