"""EfficientNet-Lite0 with ImageNet weights read offline: real photos classified, the reader's checks, transfer use."""

from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from mammo_utils.modeling import efficientnet_lite as L  # noqa: E402
from mammo_utils.modeling import models as M  # noqa: E402

CATS = set(range(281, 286))  # tabby, tiger cat, Persian, Siamese, Egyptian cat
CUPS = {967, 968, 504}  # espresso, cup, coffee mug


def _weights_file():
    try:
        path = L.default_weights_path()
    except L.WeightsFileError as exc:
        pytest.skip(str(exc))
    if not path.is_file():
        pytest.skip(f"{path} missing")
    return path


@pytest.fixture(scope="module")
def classifier():
    _weights_file()
    return M.imagenet_classifier("efficientnet_lite0")


def _photo(name: str) -> np.ndarray:
    data = pytest.importorskip("skimage.data")
    from PIL import Image

    image = Image.fromarray(getattr(data, name)()).resize((224, 224), Image.BILINEAR)
    return np.asarray(image, np.float32)[None]


@pytest.mark.parametrize("photo,expected", [("chelsea", CATS), ("coffee", CUPS)])
def test_classifies_scikit_image_photos(classifier, photo, expected):
    probs = classifier.predict(_photo(photo), verbose=0)
    assert probs.shape == (1, 1000)
    np.testing.assert_allclose(probs.sum(), 1.0, atol=1e-4)
    top5 = np.argsort(probs[0])[::-1][:5]
    assert set(top5.tolist()) & expected, f"{photo}: top-5 {top5.tolist()} has none of {sorted(expected)}"
    assert top5[0] in expected and probs[0, top5[0]] > 0.5  # measured 0.79 (Egyptian cat) and 0.90 (espresso)


def test_reader_counts_every_tensor():
    state = L.read_torch_legacy(_weights_file())
    assert len(state) == L.N_TENSORS == 296
    assert sum(v.size for v in state.values()) == L.N_VALUES  # 4.69 M
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3) and state["_fc.weight"].shape == (1000, 1280)
    assert all(v.dtype == np.float32 for k, v in state.items() if not k.endswith("num_batches_tracked"))


def test_classifier_holds_the_file_s_values(classifier):
    # every tensor but the 49 batch counters is in the model, each exactly once
    assert classifier.count_params() == L.N_VALUES - 49
    state = L.read_torch_legacy(_weights_file())
    np.testing.assert_array_equal(
        classifier.get_layer("block3_depthwise_conv").get_weights()[0][:, :, 7, 0],
        state["_blocks.3._depthwise_conv.weight"][7, 0],
    )


def test_missing_file_is_a_clear_error(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere.pth"
    with pytest.raises(L.WeightsFileError, match="nowhere.pth"):
        L.read_torch_legacy(missing)
    monkeypatch.setenv(L.WEIGHTS_ENV, str(missing))
    with pytest.raises(L.WeightsFileError, match="nowhere.pth"):
        M.imagenet_classifier("efficientnet_lite0")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "foreign"])
def test_corrupt_file_is_a_clear_error(tmp_path, damage):
    path = tmp_path / "bad.pth"
    if damage == "truncate":
        data = _weights_file().read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a torch file at all" * 10)
    else:  # a pickle that names an arbitrary global: refused, never executed
        path.write_bytes(pickle.dumps(L._MAGIC) + pickle.dumps(1001) + pickle.dumps({}) + pickle.dumps(shutil.rmtree))
    with pytest.raises(L.WeightsFileError, match="bad.pth"):
        L.read_torch_legacy(path)


def test_unknown_classifier_lists_the_choices():
    with pytest.raises(ValueError, match="efficientnet_lite0"):
        M.imagenet_classifier("resnet18")


def test_transfer_model_on_small_grey_input_saves_and_reloads(tmp_path):
    _weights_file()
    model = M.build_model("efficientnet_lite0", (128, 64), weights="imagenet", pooling="gem", augment_strength=0.5)
    assert model.input_shape == (None, 128, 64, 1) and M.is_pretrained(model)
    base = model.get_layer(M.BACKBONE_LAYER)
    assert base.output_shape == (None, 4, 2, 1280)
    assert M.set_backbone_trainable(model, False) == 5  # GeM p, head batch-norm gamma/beta, dense kernel/bias
    assert M.set_backbone_trainable(model, True) > 5
    x = np.random.default_rng(0).random((2, 128, 64, 1), dtype=np.float32)
    path = tmp_path / "lite0.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert M.is_pretrained(loaded)


def test_random_init_backbone_and_missing_weights_warning(monkeypatch, tmp_path):
    model = M.build_model("efficientnet_lite0", (96, 80), weights=None)
    assert not M.is_pretrained(model)
    monkeypatch.setenv(L.WEIGHTS_ENV, str(tmp_path / "absent.pth"))
    with pytest.warns(UserWarning, match="absent.pth"):
        model = M.build_model("efficientnet_lite0", (96, 80), weights="imagenet")
    assert not M.is_pretrained(model)
