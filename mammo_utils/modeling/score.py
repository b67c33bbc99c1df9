"""The one scorer of cached images, and the arrays the export formats are checked on.

- :func:`score_cached`: a Keras model's probability for every cached image of a frame (tf.data, natural order,
  no augmentation). The trainer, pruning, the export's drift reference and the retraining gate take their
  numbers from it.
- :func:`load_images` + :func:`predict_arrays`: the same images as one in-memory array, for what must run
  several runtimes on identical inputs (export parity, int8 calibration, the benchmark). The service scores
  files, not the cache: :class:`mammo_utils.serving.inference.Predictor`.

Example:
    >>> pred = score_cached(model, val_df, cache, cfg.image_size)  # doctest: +SKIP
    >>> pred[["image_id", "prediction"]].head()  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.pipeline import cache_paths, make_dataset, resize_for_model
from ..data.preprocess import read_cached


def score_cached(model, df: pd.DataFrame, cache_dir: str | Path, image_size, batch_size: int = 32) -> pd.DataFrame:
    """Predict every cached image of ``df`` (natural order, no augmentation).

    Args:
        model: A Keras model taking ``(H, W, 1)`` [0, 1] images.
        df: Image frame (``patient_id``, ``image_id``, ``laterality``, ``cancer``).
        cache_dir: Preprocessed cache.
        image_size: (H, W) the model takes.
        batch_size: Inference batch size.

    Returns:
        The rows that have a cached image, with a ``prediction`` column.
    """
    rows = cache_paths(df, cache_dir)
    ds = make_dataset(rows, cache_dir, batch_size=batch_size, image_size=image_size, training=False)
    out = rows.copy()
    out["prediction"] = np.asarray(model.predict(ds, verbose=0), float).reshape(-1)
    return out


@dataclasses.dataclass
class EvalSet:
    """Prepared images with their rows: the test split for parity, training images for calibration.

    Attributes:
        rows: Image rows (``patient_id``, ``laterality``, ``image_id``, ``cancer``).
        images: ``(N, H, W, 1)`` float32 at the model's input size.
    """

    rows: pd.DataFrame
    images: np.ndarray


def load_images(rows: pd.DataFrame, cache_dir: str | Path, image_size: tuple[int, int]) -> EvalSet:
    """Read cached PNGs of ``rows`` and resize them to the model's input exactly like the pipeline.

    Args:
        rows: Rows with ``png``.
        cache_dir: The cache folder.
        image_size: The model's (H, W).

    Returns:
        An :class:`EvalSet`.
    """
    images = np.stack([read_cached(cache_dir, png) for png in rows.png])[..., None]
    return EvalSet(rows.reset_index(drop=True), np.asarray(resize_for_model(images, image_size), np.float32))


def predict_arrays(model, images: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """Probabilities of a Keras model on ``(N, H, W, 1)`` images, in eager batches (no ``predict`` retracing)."""
    return np.concatenate(
        [
            np.asarray(model(images[i : i + batch_size], training=False), float).reshape(-1)
            for i in range(0, len(images), batch_size)
        ]
    )
