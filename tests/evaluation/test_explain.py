"""Grad-CAM: the right shape for every project model, and a peak on the lesion a trained model found."""

from __future__ import annotations

import numpy as np
import pytest

from mammo_utils.evaluation.explain import gradcam, overlay, peak_location


@pytest.mark.parametrize(
    "name", ["baseline", "resnet50", "efficientnetb0", "efficientnetv2b0", "inceptionv3", "efficientnet_lite0"]
)
@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_maps_have_the_input_size_for_every_architecture(name, method):
    """Baseline and transfer backbones (nested models, in-model augmentation and preprocessing) all explain."""
    from mammo_utils.modeling.models import build_model

    size = (96, 80)
    model = build_model(name, size, weights=None, augment_strength=0.5)
    x = np.random.default_rng(0).uniform(0, 1, (2, *size, 1)).astype(np.float32)
    heat = gradcam(model, x, method=method)
    assert heat.shape == (2, *size) and heat.dtype == np.float32
    assert np.isfinite(heat).all() and heat.min() >= 0 and heat.max() <= 1


def test_mixed_precision_model_gives_float32_maps():
    import keras

    from mammo_utils.modeling.models import build_model

    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_model("baseline", (64, 48))
        heat = gradcam(model, np.random.default_rng(1).uniform(0, 1, (3, 64, 48, 1)).astype(np.float32))
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert heat.shape == (3, 64, 48) and heat.dtype == np.float32 and np.isfinite(heat).all()


def test_a_saturated_probability_still_gets_a_map():
    """At p = 1.0 the sigmoid is flat: Grad-CAM differentiates the logit, so the most confident cancer keeps the
    map it had before saturating (the logit's gradient does not depend on the head's bias)."""
    import keras

    from mammo_utils.modeling.models import build_model

    keras.utils.set_random_seed(2)  # the initial weights, whatever ran before (an unseeded draw can kill the map)
    model = build_model("baseline", (64, 48), augment_strength=0.0)
    x = np.random.default_rng(2).uniform(0, 1, (4, 64, 48, 1)).astype(np.float32)
    before = gradcam(model, x)
    head = model.get_layer("cancer")
    head.bias.assign(np.full(head.bias.shape, 60.0, np.float32))  # sigmoid(60 + ...) == 1.0 in float32
    assert float(np.min(model.predict(x, verbose=0))) == 1.0
    after = gradcam(model, x)
    assert before.max() > 0 and np.allclose(before, after, atol=1e-5)


def test_unknown_method_is_refused():
    from mammo_utils.modeling.models import build_model

    with pytest.raises(ValueError, match="method must be one of"):
        gradcam(build_model("baseline", (64, 48)), np.zeros((1, 64, 48, 1), np.float32), method="cam")


def _blob_images(n: int, size: int, rng: np.random.Generator):
    """Textured backgrounds; half the images carry a bright 10x10 'lesion' at a random place."""
    images = rng.normal(0.35, 0.08, (n, size, size)).astype(np.float32)
    labels = np.arange(n) % 2
    boxes = np.zeros((n, 4), int)
    for i in np.flatnonzero(labels):
        r, c = rng.integers(4, size - 14, 2)
        images[i, r : r + 10, c : c + 10] += 0.4
        boxes[i] = (c, r, c + 10, r + 10)
    return np.clip(images, 0, 1)[..., None], labels, boxes


@pytest.mark.slow  # trains a CNN for 12 epochs: 38 s measured on a shared 2-core machine
def test_gradcam_peaks_on_the_lesion_a_trained_model_finds():
    """Learning test: a small CNN learns 'bright blob = positive'; its Grad-CAM peak falls inside the blob."""
    import keras

    from mammo_utils.modeling.models import build_model

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y, _ = _blob_images(256, 48, rng)
    model = build_model("baseline", (48, 48), filters=(8, 16, 32), augment_strength=0.0, dropout=0.0)
    model.compile(keras.optimizers.Adam(3e-3), "binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=12, batch_size=32, verbose=0)
    xt, yt, bt = _blob_images(40, 48, np.random.default_rng(1))
    assert model.evaluate(xt, yt, verbose=0)[1] >= 0.9  # it learned the task
    heat = gradcam(model, xt[yt == 1])
    hits = []
    for h, (x0, y0, x1, y1) in zip(heat, bt[yt == 1]):
        r, c = peak_location(h)
        hits.append(y0 - 2 <= r < y1 + 2 and x0 - 2 <= c < x1 + 2)  # 2 px: one feature cell at stride 8 is 8 px
    chance = (14 * 14) / (48 * 48)
    assert np.mean(hits) >= 0.7 > chance * 3, f"pointing-game hit rate {np.mean(hits):.2f}"


def test_overlay_is_rgb_uint8_of_the_image_size():
    out = overlay(np.zeros((40, 20)), np.ones((5, 5)))
    assert out.shape == (40, 20, 3) and out.dtype == np.uint8


def test_peaks_off_the_breast_are_counted_with_their_interval():
    import numpy as np

    from mammo_utils.evaluation.explain import peaks_off_breast

    images = np.zeros((4, 8, 8))
    images[:, :, :4] = 0.7  # the breast fills the left half, the right half is background
    heats = np.zeros((4, 8, 8))
    heats[0, 2, 1] = heats[1, 5, 2] = 1.0  # on tissue
    heats[2, 3, 6] = heats[3, 7, 7] = 1.0  # on background: a border shortcut would peak here
    found = peaks_off_breast(images, heats, groups=["a", "b", "c", "d"])
    assert (found["off"], found["images"], found["share"], found["patients"]) == (2, 4, 0.5, 4)
    assert found["interval"] == "patient bootstrap" and 0 <= found["low"] < 0.5 < found["high"] <= 1
    paired = peaks_off_breast(images, heats, groups=["a", "a", "b", "b"])  # both off-peaks are one patient's views
    assert (paired["low"], paired["high"]) == (0.0, 1.0) and paired["patients"] == 2
    assert peaks_off_breast(images[:2], heats[:2])["off"] == 0


def test_peaks_off_the_breast_are_split_by_images_with_and_without_a_lesion():
    import numpy as np

    from mammo_utils.evaluation.explain import peaks_off_breast

    images = np.zeros((6, 8, 8))
    images[:, :, :4] = 0.7  # the breast fills the left half
    heats = np.zeros((6, 8, 8))
    heats[[0, 1, 2], 2, 1] = 1.0  # on tissue
    heats[[3, 4, 5], 3, 6] = 1.0  # on background
    lesion = [
        True,
        True,
        False,
        True,
        False,
        False,
    ]  # lesion images: 0, 1 on tissue, 3 off; lesion-free: 2 on, 4, 5 off
    found = peaks_off_breast(images, heats, groups=list("abcdef"), lesion=lesion)
    assert (found["off"], found["images"]) == (3, 6)  # every image together, as before
    assert (found["lesion"]["off"], found["lesion"]["images"]) == (1, 3)
    assert (found["no_lesion"]["off"], found["no_lesion"]["images"]) == (2, 3)
    assert found["lesion"]["share"] == pytest.approx(1 / 3) and found["no_lesion"]["interval"] == "patient bootstrap"
    assert peaks_off_breast(images, heats, lesion=[True] * 6)["no_lesion"] is None  # no lesion-free image: no record
    with pytest.raises(ValueError, match="one lesion flag per image"):
        peaks_off_breast(images, heats, lesion=[True])
