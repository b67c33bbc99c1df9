"""tf.data input pipeline from the PNG cache (and nothing else: losses live in ``modeling.losses``).

The pipeline reads the cache's PNGs (paths from its manifest) (8- or 16-bit) with
``tf.io.decode_png(dtype=uint16)``, scales to [0, 1] float32 ``(H, W, 1)``, resizes when
``image_size`` differs from the cache, and batches with parallel map and AUTOTUNE prefetch.
Channel replication and ImageNet normalisation happen inside the models, augmentation
too (see :mod:`mammo_utils.modeling.augment`), so the pipeline stays cheap.

Training with ``pos_ratio`` draws positives and negatives from two repeated streams
(``tf.data.Dataset.sample_from_datasets``) so each batch holds about that share of positives;
such a dataset is infinite and is used with ``steps_per_epoch``. Evaluation datasets are
always finite and on the natural distribution.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..utils import quiet_stderr, time_calls
from .preprocess import MANIFEST_NAME

#: Manifest of images imported into a cache from outside the dataset (labelled production feedback:
#: :mod:`mammo_utils.workflows.feedback_data`), relative to the cache folder; same columns as the cache's own.
IMPORTED_MANIFEST = "imported/manifest.csv"


def cache_paths(df: pd.DataFrame, cache_dir: str | Path) -> pd.DataFrame:
    """Attach ``png`` paths and keep the rows whose cached image exists (manifest status ``ok``).

    Images imported into the cache (:data:`IMPORTED_MANIFEST`, e.g. labelled feedback) resolve the same way.

    Args:
        df: Image frame with ``patient_id``, ``image_id``, ``cancer``.
        cache_dir: Cache folder made by :func:`mammo_utils.data.preprocess.preprocess_dataset`.

    Returns:
        The filtered frame with a ``png`` column.

    Raises:
        FileNotFoundError: If the cache folder has no manifest.
    """
    cache_dir = Path(cache_dir)
    manifest = cache_dir / MANIFEST_NAME
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest}: no cache manifest; build it with `mammo preprocess`")
    ok = pd.read_csv(manifest, usecols=["image_id", "status", "png"])
    if (cache_dir / IMPORTED_MANIFEST).is_file():
        ok = pd.concat([ok, pd.read_csv(cache_dir / IMPORTED_MANIFEST, usecols=["image_id", "status", "png"])])
    png = dict(zip(ok.image_id[ok.status == "ok"], ok.png[ok.status == "ok"]))
    out = df[df.image_id.isin(png)].copy()
    out["png"] = [str(cache_dir / png[i]) for i in out.image_id]
    return out


def resize_for_model(images, image_size: tuple[int, int] | None):
    """Resize ``(..., H, W, 1)`` float images to the model's size the way the pipeline does (area, antialiased).

    Args:
        images: Tensor or array of prepared images.
        image_size: (H, W), or None to keep the size.

    Returns:
        A float32 tensor.
    """
    import tensorflow as tf

    images = tf.convert_to_tensor(images, tf.float32)
    if image_size is None or tuple(images.shape[-3:-1]) == tuple(image_size):
        return images
    return tf.image.resize(images, image_size, method="area", antialias=True)


def _decoder(image_size: tuple[int, int]):
    import tensorflow as tf

    def decode(path):
        img = tf.io.decode_png(tf.io.read_file(path), channels=1, dtype=tf.uint16)
        img = resize_for_model(tf.cast(img, tf.float32) / 65535.0, image_size)
        return img if image_size is None else tf.ensure_shape(img, (*image_size, 1))

    return decode


def make_dataset(
    df: pd.DataFrame,
    cache_dir: str | Path,
    batch_size: int = 16,
    image_size: tuple[int, int] | None = None,
    training: bool = False,
    pos_ratio: float | None = None,
    sample_weights: dict[int, float] | None = None,
    split: str | None = None,
    seed: int = 0,
    cache_in_memory: bool = False,
    augment=None,
    shuffle_buffer: int = 2048,
    ordered: bool = False,
):
    """Build a ``tf.data.Dataset`` of ``(image, label[, weight])`` batches from the cache.

    Args:
        df: Image frame (``patient_id``, ``image_id``, ``cancer``; ``split`` when ``split`` is given).
        cache_dir: Cache folder.
        batch_size: Batch size.
        image_size: (H, W) fed to the model; None keeps the cache size.
        training: Shuffle (and balance when ``pos_ratio`` is set); evaluation keeps the file order.
        pos_ratio: Share of positives per training batch; None = natural distribution.
        sample_weights: ``{0: w0, 1: w1}`` to yield per-example weights (e.g. :func:`class_weights`).
        split: Keep only rows whose ``split`` column equals this value.
        seed: Shuffle / sampling seed.
        cache_in_memory: Cache decoded images in RAM (small datasets).
        augment: Optional callable applied to batches in tf.data (``augment(x, training=True)``).
        shuffle_buffer: Shuffle buffer size.
        ordered: Keep the element order of a training stream fixed (repeatable runs: the trainer passes
            ``cfg.deterministic``); by default training streams may reorder elements for speed.

    Returns:
        The dataset (infinite when training with ``pos_ratio``, else finite).

    Raises:
        ValueError: Empty selection, or ``pos_ratio`` outside (0, 1) or without both classes.
    """
    import tensorflow as tf

    if split is not None:
        df = df[df["split"] == split]
    rows = cache_paths(df, cache_dir)
    if rows.empty:
        raise ValueError(f"no cached images for this selection (split={split!r}) in {cache_dir}")
    decode = _decoder(tuple(image_size) if image_size else None)
    auto = tf.data.AUTOTUNE

    def stream(frame: pd.DataFrame, repeat: bool):
        labels = frame.cancer.to_numpy(np.float32)
        ds = tf.data.Dataset.from_tensor_slices((frame.png.to_numpy(), labels))
        if training:
            ds = ds.shuffle(min(len(frame), shuffle_buffer), seed=seed, reshuffle_each_iteration=True)
        ds = ds.map(lambda p, y: (decode(p), y), num_parallel_calls=auto, deterministic=ordered or not training)
        if cache_in_memory:
            ds = ds.cache()
        return ds.repeat() if repeat else ds

    if training and pos_ratio is not None:
        if not 0.0 < pos_ratio < 1.0:
            raise ValueError(f"pos_ratio must be in (0, 1), got {pos_ratio}")
        pos, neg = rows[rows.cancer == 1], rows[rows.cancer == 0]
        if pos.empty or neg.empty:
            raise ValueError("balanced sampling needs both positive and negative images")
        ds = tf.data.Dataset.sample_from_datasets(
            [stream(pos, True), stream(neg, True)], weights=[pos_ratio, 1.0 - pos_ratio], seed=seed
        )
    else:
        ds = stream(rows, False)
    if sample_weights is not None:
        w = tf.constant([sample_weights[0], sample_weights[1]], tf.float32)
        ds = ds.map(lambda x, y: (x, y, tf.gather(w, tf.cast(y, tf.int32))), num_parallel_calls=auto)
    ds = ds.batch(batch_size, drop_remainder=training, num_parallel_calls=auto)
    if augment is not None:
        ds = ds.map(lambda x, *rest: (augment(x, training=True), *rest), num_parallel_calls=auto)
    return with_pipeline_options(ds, deterministic=ordered or not training)


def with_pipeline_options(ds, deterministic: bool):
    """The project's tf.data options: data sharding across replicas, element order, a private thread pool.

    The private pool (one thread per core) keeps decoding off TensorFlow's inter-op pool, which a repeatable run
    shrinks to one thread (:func:`mammo_utils.utils.seed_everything`), so input and training steps do not have to
    share that thread. (Step times on the 2-core CPU were too noisy, 550-1140 ms either way, to show a gain.)

    Args:
        ds: A dataset.
        deterministic: Keep the element order fixed.

    Returns:
        The dataset with the options applied, prefetching.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    options.deterministic = deterministic
    options.threading.private_threadpool_size = os.cpu_count() or 1
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def steps_per_epoch(n_images: int, batch_size: int) -> int:
    """Batches that show each training image about once per epoch (for infinite balanced datasets)."""
    return max(1, int(np.ceil(n_images / batch_size)))


def throughput(ds, n_batches: int = 20, warmup: int = 2) -> float:
    """Images per second a dataset delivers (after ``warmup`` batches).

    Args:
        ds: Batched dataset yielding ``(images, ...)``.
        n_batches: Batches timed.
        warmup: Batches skipped before timing.

    Returns:
        Images per second.
    """
    sizes: list[int] = []
    with quiet_stderr():  # tf.data's graph rewrites log C++ notices (e.g. about Keras layers in a map) to fd 2
        it = iter(ds)
        seconds = time_calls(lambda: sizes.append(int(next(it)[0].shape[0])), repeats=n_batches, warmup=warmup)
    return sum(sizes[warmup:]) / sum(seconds)
