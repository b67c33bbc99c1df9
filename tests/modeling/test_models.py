"""Model builders: shapes, in-graph ImageNet preprocessing, weights lookup and fallback, freezing, saving."""

from __future__ import annotations

import urllib.error
import warnings

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from mammo_utils.constants import MODEL_NAMES  # noqa: E402
from mammo_utils.modeling import models as M  # noqa: E402

X = np.random.default_rng(0).random((2, 96, 80, 1), dtype=np.float32)


@pytest.mark.parametrize(
    "name", ["baseline", "resnet50", "efficientnetb0", "efficientnetv2b0", "inceptionv3", "efficientnet_lite0"]
)
def test_every_family_builds_on_non_square_grey_input(name):
    model = M.build_model(name, (96, 80), weights=None)
    assert model.input_shape == (None, 96, 80, 1)
    y = model.predict(X, verbose=0)
    assert y.shape == (2, 1) and np.all((y >= 0) & (y <= 1))
    assert model.get_layer("cancer").dtype_policy.name == "float32"
    assert M.is_pretrained(model) is False


def test_config_names_match_builders():
    assert set(MODEL_NAMES) == {"baseline", *M.BACKBONES}


@pytest.mark.parametrize(
    "mode,reference",
    [("caffe", "resnet50"), ("tf", "inception_v3"), ("torch", "densenet")],
)
def test_imagenet_input_matches_keras_preprocess_input(mode, reference):
    """Grey [0, 1] -> what keras.applications.<x>.preprocess_input gives on the 0..255 RGB replica."""
    module = getattr(keras.applications, reference)
    rgb255 = np.repeat(X, 3, axis=-1) * 255.0
    expected = module.preprocess_input(rgb255.copy())
    got = keras.ops.convert_to_numpy(M.ImagenetInput(mode)(X))
    np.testing.assert_allclose(got, np.asarray(expected), rtol=1e-5, atol=1e-3)


def test_imagenet_input_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        M.ImagenetInput("bgr")


def test_gem_with_p_one_is_average_pooling():
    feats = np.random.default_rng(1).random((2, 5, 4, 3), dtype=np.float32) + 0.1
    gem = M.GeMPooling(p=1.0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(gem(feats)), feats.mean(axis=(1, 2)), rtol=1e-5)
    big = keras.ops.convert_to_numpy(M.GeMPooling(p=200.0)(feats))
    np.testing.assert_allclose(big, feats.max(axis=(1, 2)), rtol=0.03)


def test_augmentation_only_in_training():
    model = M.build_baseline_cnn((96, 80), augment_strength=1.0)
    a, b = model(X, training=False), model(X, training=False)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    aug = model.get_layer("augmentation")
    assert not np.allclose(keras.ops.convert_to_numpy(aug(X, training=True)), X)


def test_freeze_and_unfreeze_backbone_keeps_bn_frozen():
    model = M.build_transfer_model("efficientnetb0", (96, 80), weights=None, pooling="gem")
    head_only = M.set_backbone_trainable(model, False)
    assert head_only == 5  # GeM p, head batch-norm gamma and beta, dense kernel and bias
    base = model.get_layer(M.BACKBONE_LAYER)
    assert not base.trainable
    n = M.set_backbone_trainable(model, True)
    assert n > head_only
    bns = [l for l in base.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert bns and not any(l.trainable for l in bns)
    M.set_backbone_trainable(model, True, keep_bn_frozen=False)
    assert all(l.trainable for l in bns)


def test_random_init_backbones_get_fast_bn_momentum():
    model = M.build_transfer_model("resnet50", (96, 80), weights=None)
    bns = [l for l in model._flatten_layers(recursive=True) if isinstance(l, keras.layers.BatchNormalization)]
    assert bns and all(l.momentum == M.BN_MOMENTUM for l in bns)
    with pytest.raises(ValueError):
        M.set_bn_momentum(model, 1.5)


def test_save_and_load_round_trip(tmp_path):
    model = M.build_transfer_model("efficientnetb0", (96, 80), weights=None, pooling="gem")
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0), atol=1e-6)


def test_weights_loaded_from_mammo_weights_dir(tmp_path, monkeypatch):
    donor, source = M.make_backbone("efficientnetb0", (96, 80), weights=None)
    assert source is None
    donor.save_weights(tmp_path / "efficientnetb0.weights.h5")
    monkeypatch.setenv("MAMMO_WEIGHTS_DIR", str(tmp_path))
    model = M.build_transfer_model("efficientnetb0", (96, 80), weights="imagenet")
    assert M.is_pretrained(model) is True
    # the flag survives save/load (it lives in the ImagenetInput layer's config, not an ad-hoc attribute)
    model.save(tmp_path / "m.keras")
    assert M.is_pretrained(keras.saving.load_model(tmp_path / "m.keras", compile=False)) is True
    got = model.get_layer(M.BACKBONE_LAYER).get_weights()
    for a, b in zip(got, donor.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_offline_without_weights_warns_and_uses_random_init(tmp_path, monkeypatch):
    """No local file, empty Keras cache, network down: a warning naming the fix, never a crash."""
    from keras.src.utils import file_utils

    def offline(*args, **kwargs):
        raise urllib.error.URLError("network unreachable")

    monkeypatch.setattr(file_utils, "urlretrieve", offline)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("MAMMO_WEIGHTS_DIR", str(tmp_path / "empty"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = M.build_transfer_model("resnet50", (96, 80), weights="imagenet")
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert any("random initialisation" in m and "MAMMO_WEIGHTS_DIR" in m for m in messages), messages
    assert M.is_pretrained(model) is False
    assert model.predict(X, verbose=0).shape == (2, 1)


@pytest.mark.parametrize("bad", [(16, 16), (96,)])
def test_too_small_or_bad_input_shape(bad):
    with pytest.raises(ValueError, match="input_shape"):
        M.build_baseline_cnn(bad)


def test_unknown_backbone_names_the_choices():
    with pytest.raises(ValueError, match="resnet50"):
        M.make_backbone("vgg99", (96, 80))


def test_architecture_is_read_from_the_layers_and_survives_the_export_wrapper(tmp_path):
    from mammo_utils.export.convert import inference_model
    from mammo_utils.modeling.architecture import describe_architecture

    model = M.build_baseline_cnn((64, 32), filters=(4, 8, 12), dropout=0.25, pooling="avg", augment_strength=0.3)
    arch = describe_architecture(model)
    # parameters: 3x3 convs without bias, BN (4 per channel), head BN, dense; counted here from the builder's shapes
    convs = sum(
        9 * c_in * c_out + 4 * c_out + 9 * c_out * c_out + 4 * c_out for c_in, c_out in ((1, 4), (4, 8), (8, 12))
    )
    assert arch["parameters"] == convs + 4 * 12 + 12 + 1 == sum(int(np.prod(w.shape)) for w in model.weights)
    assert (arch["blocks"], arch["convs_per_block"], arch["kernel"], arch["filters"]) == (3, 2, 3, [4, 8, 12])
    assert (arch["pooling"], arch["dropout"], arch["output"], arch["block_pool"]) == ("avg", 0.25, "sigmoid", 2)
    assert arch["kind"] == "from-scratch CNN" and arch["pretrained"] is False
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", compile=False)
    assert describe_architecture(inference_model(loaded)) == arch  # what the export records
    plain = describe_architecture(M.build_baseline_cnn((64, 32), filters=(4,), dropout=0.0, pooling="max"))
    assert plain["dropout"] == 0.0 and plain["pooling"] == "max" and plain["blocks"] == 1
    transfer = describe_architecture(M.build_model("efficientnetb0", (64, 32), weights=None, pooling="gem"))
    assert transfer["kind"] == "transfer" and transfer["backbone"] == "efficientnetb0" and "blocks" not in transfer
    assert transfer["pooling"] == "gem" and transfer["pretrained"] is False
