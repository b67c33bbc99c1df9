"""Augmentation layers and the tf.data pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from mammo_utils.data.pipeline import make_dataset, throughput
from mammo_utils.evaluation.evaluate import breast_predictions
from mammo_utils.modeling.augment import RandomGamma, build_augmentation
from mammo_utils.modeling.losses import class_weights, make_loss


def _images(n=6, h=64, w=32):
    return np.random.default_rng(0).random((n, h, w, 1)).astype("float32")


def test_augmentation_is_identity_at_inference_and_changes_in_training():
    x = _images()
    aug = build_augmentation(0.8, seed=1)
    assert np.array_equal(np.asarray(aug(x, training=False)), x)
    y = np.asarray(aug(x, training=True))
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.abs(y - x).mean() > 0.05
    assert np.array_equal(np.asarray(build_augmentation(0.0)(x, training=True)), x)
    with pytest.raises(ValueError, match="strength"):
        build_augmentation(1.5)


def test_random_gamma_reference_and_serialisation():
    import keras

    x = _images(2)
    layer = RandomGamma(0.3, seed=0)
    y = np.asarray(layer(x, training=True))
    g = np.log(y[0].clip(1e-6)) / np.log(x[0].clip(1e-6))  # one gamma per image
    assert 0.7 <= np.median(g) <= 1.3 and np.std(g[(x[0] > 0.05) & (x[0] < 0.95)]) < 1e-3
    clone = RandomGamma.from_config(layer.get_config())
    assert clone.factor == 0.3
    assert keras.saving.get_registered_object("mammo>RandomGamma") is RandomGamma


def test_augmentation_runs_in_tf_data():
    import tensorflow as tf

    aug = build_augmentation(0.5, seed=0)
    ds = tf.data.Dataset.from_tensor_slices(_images(4)).batch(2).map(lambda b: aug(b, training=True))
    shapes = [tuple(b.shape) for b in ds]
    assert shapes == [(2, 64, 32, 1), (2, 64, 32, 1)]


def test_pipeline_shapes_and_natural_order(synth_cache):
    cache, df = synth_cache
    ds = make_dataset(df, cache, batch_size=4, image_size=(96, 48), training=False)
    labels = []
    for x, y in ds:
        assert x.shape[1:] == (96, 48, 1) and x.dtype.name == "float32"
        assert float(x.numpy().min()) >= 0 and float(x.numpy().max()) <= 1
        labels.append(y.numpy())
    assert np.concatenate(labels).tolist() == df.cancer.astype(float).tolist()


def test_balanced_sampling_matches_ratio(synth_cache):
    cache, df = synth_cache
    ds = make_dataset(df, cache, batch_size=32, training=True, pos_ratio=0.3, seed=1)
    labels = np.concatenate([y.numpy() for _, y in ds.take(30)])
    assert abs(labels.mean() - 0.3) < 0.05
    assert throughput(ds, n_batches=3, warmup=1) > 0


def test_sample_weights_and_class_weights(synth_cache):
    cache, df = synth_cache
    w = class_weights(df.cancer)
    assert w[1] * df.cancer.sum() == pytest.approx(w[0] * (len(df) - df.cancer.sum()))
    x, y, sw = next(iter(make_dataset(df, cache, batch_size=8, sample_weights=w)))
    assert np.allclose(sw.numpy(), np.where(y.numpy() == 1, w[1], w[0]))
    with pytest.raises(ValueError, match="pos_ratio"):
        make_dataset(df, cache, training=True, pos_ratio=1.5)
    assert make_loss("focal").name == "binary_focal_crossentropy"


def test_breast_view():
    import pandas as pd

    df = pd.DataFrame({"patient_id": [1, 1, 1, 2], "laterality": ["L", "L", "R", "L"], "cancer": [1, 1, 0, 0]})
    out = breast_predictions(df, [0.2, 0.6, 0.1, 0.3], agg="mean")
    assert out.breast_id.tolist() == ["1_L", "1_R", "2_L"]
    assert out.prediction.tolist() == pytest.approx([0.4, 0.1, 0.3]) and out.cancer.tolist() == [1, 0, 0]
    assert breast_predictions(df, [0.2, 0.6, 0.1, 0.3], agg="max").prediction.iloc[0] == pytest.approx(0.6)
