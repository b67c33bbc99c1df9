"""The "current" side of a drift check: features and scores of a cache folder or of the service's log.

Example:
    >>> cache = "data/work/cache/rsna-synthetic_256x128_16bit_v2"
    >>> features, scores = current_window(cache, "data/work/export/champion")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..data.pipeline import resize_for_model
from ..data.preprocess import MANIFEST_NAME, Preprocessing, read_cached
from ..evaluation.drift import DRIFT_WINDOW, image_features
from ..modeling.resolve import resolve_model
from ..modeling.score import predict_arrays
from .store import Store, open_store


def current_window(
    source: str | Path | Store,
    model_dir: str | Path,
    splits: pd.DataFrame | None = None,
    split: str | None = None,
    intensity_scale: float = 1.0,
    limit: int = DRIFT_WINDOW,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Features (and model scores) of what a model sees now.

    Args:
        source: A cache folder (``manifest.csv`` + PNGs: the features are computed and the images scored by the
            export in ``model_dir``), or the service's prediction store (a :class:`~.store.Store`, or a SQLite
            ``.db`` file: the recorded features and scores of the last ``limit`` predictions).
        model_dir: The model that scores cached images: an export folder, run folder or ``models:/`` reference
            (:func:`mammo_utils.modeling.resolve.resolve_model`).
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
    if not isinstance(source, Store) and Path(source).is_file() and Path(source).suffix == ".db":
        source = open_store(source, "--current")
    if isinstance(source, Store):
        recent = source.recent_predictions(limit)
        return recent.drop(columns=["request_id", "ts", "probability"]), recent.probability.to_numpy()
    source = Path(source)
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
    if not images:
        return features, np.zeros(0)
    model, info = resolve_model(model_dir)
    size = Preprocessing.from_dict(info["preprocessing"]).image_size
    x = np.asarray(resize_for_model(np.stack(images)[..., None].astype(np.float32), size), np.float32)
    return features, predict_arrays(model, x)
