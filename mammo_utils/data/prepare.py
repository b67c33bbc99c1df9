"""Everything a stage needs before it reads an image: the dataset, its cache, its splits and the leakage check.

Training, tuning, detection, export and the notebooks all start here, so they see the same cache and the same
patient-grouped folds. :func:`data_for_model` does the same for an already trained model, with the cache
sizes taken from the model's own preprocessing record.

Example:
    >>> df, cache = prepare_data(get_config("small"))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from ..config import Config
from ..utils import quiet_stderr
from .pipeline import cache_paths
from .preprocess import Preprocessing, preprocess_dataset
from .rsna import load_train
from .splits import check_leakage, load_or_make_splits
from .synthetic import ensure_dataset


def prepare_data(cfg: Config, progress: bool = True) -> tuple[pd.DataFrame, Path]:
    """Cache, splits and leakage check for a configuration.

    Args:
        cfg: Run configuration.
        progress: Show the preprocessing progress bar.

    Returns:
        ``(images with split/fold, cache_dir)``.

    Raises:
        LeakageError: A patient appears in two splits or folds.
    """
    ensure_dataset(cfg, progress=progress)
    df = load_train(cfg.data_root)
    cache, _ = preprocess_dataset(
        cfg.data_root, cfg.cache_root, cfg.cache_size, cfg.cache_bits, workers=cfg.workers, progress=progress
    )
    df = load_or_make_splits(df, cfg.splits_path, n_folds=cfg.n_folds, test_size=cfg.test_size, seed=cfg.split_seed)
    check_leakage(df)
    return df, cache


def data_for_model(cfg: Config, info: dict) -> tuple[Config, pd.DataFrame, Path]:
    """The configuration, split images and cache a model was trained on (sizes taken from the model's info).

    Args:
        cfg: Configuration (data root, work dir, splits, fold); its sizes are replaced by the model's own.
        info: The model's info (``preprocessing``).

    Returns:
        ``(configuration, images with split/fold/png, cache folder)``.
    """
    spec = Preprocessing.from_dict(info["preprocessing"])
    cfg = dataclasses.replace(cfg, cache_size=spec.cache_size, cache_bits=spec.cache_bits, image_size=spec.image_size)
    with quiet_stderr():
        df, cache = prepare_data(cfg, progress=False)
    return cfg, cache_paths(df, cache), cache
