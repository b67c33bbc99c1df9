"""The "current" side of a drift check: features and scores of a cache folder or of the service's log.

Example:
    >>> cache = "data/work/cache/rsna-synthetic_256x128_16bit_v2"
    >>> features, scores = current_window(cache, "data/work/export/champion")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..data.preprocess import MANIFEST_NAME, read_cached
from .drift import image_features
from .feedback import FeedbackStore


def current_window(
    source: str | Path,
    model_dir: str | Path,
    splits: pd.DataFrame | None = None,
    split: str | None = None,
    intensity_scale: float = 1.0,
    limit: int = 500,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Features (and model scores) of what a model sees now.

    Args:
        source: A cache folder (``manifest.csv`` + PNGs: the features are computed and the images scored by the
            export in ``model_dir``) or the service's SQLite store (``feedback.db``: the logged features and scores
            of the last ``limit`` predictions).
        model_dir: Export folder that scores cached images.
        splits: Images with ``split`` (``mammo splits``), to keep one split of a cache.
        split: ``test`` or ``cv`` (None: every cached image).
        intensity_scale: Multiply cached intensities (clipped to [0, 1]) — a what-if for a brighter or darker
            acquisition, e.g. 0.8; 1 leaves them as they are.
        limit: Most images/predictions used.

    Returns:
        ``(features frame, scores)``.

    Raises:
        FileNotFoundError: ``source`` is neither a cache folder nor a store file.
    """
    from ..serving.inference import Predictor

    source = Path(source)
    if source.is_file() and source.suffix == ".db":
        recent = FeedbackStore(source).recent_predictions(limit)
        return recent.drop(columns=["request_id", "ts", "probability"]), recent.probability.to_numpy()
    manifest_path = source / MANIFEST_NAME
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{source}: neither a cache folder (no {MANIFEST_NAME}) nor a service store (.db)")
    manifest = pd.read_csv(manifest_path)
    manifest = manifest[manifest.status == "ok"]
    if split is not None:
        if splits is None:
            raise ValueError("--split needs the splits of this dataset (run `mammo splits`)")
        manifest = manifest[manifest.image_id.isin(splits.image_id[splits.split == split])]
    manifest = manifest.head(limit)
    images = [np.clip(read_cached(source, png) * intensity_scale, 0.0, 1.0) for png in manifest.png]
    features = pd.DataFrame(
        [image_features(img, (r.orig_rows, r.orig_cols)) for img, r in zip(images, manifest.itertuples())]
    )
    predictor = Predictor.load(model_dir)
    scores = predictor.predict_arrays(images, batch_size=16) if images else np.zeros(0)
    return features, scores
