"""What a classifier of :mod:`.models` is made of, read from its layers: recorded at export, printed by the model card.

The description is read from the model itself (not from the configuration that asked for it), so it holds for any
``.keras`` file the export is given, and the model wrapped by the export's ``inference_model`` reads the same.

Example:
    >>> from mammo_utils.modeling.models import build_baseline_cnn
    >>> arch = describe_architecture(build_baseline_cnn((64, 32), filters=(4, 8), pooling="gem", dropout=0.2))
    >>> arch["kind"], arch["blocks"], arch["filters"], arch["pooling"], arch["dropout"]
    ('from-scratch CNN', 2, [4, 8], 'gem', 0.2)
"""

from __future__ import annotations

import re

import keras
from keras import layers

from .. import constants as C
from .models import BACKBONE_LAYER, ImagenetInput

#: Names the baseline builder gives its convolutions (``block<i>_conv<j>``).
_CONV_NAME = re.compile(r"^block(\d+)_conv(\d+)$")


def own_layers(model) -> list[layers.Layer]:
    """Every layer of a model and its nested models, except the inside of a transfer model's backbone.

    Args:
        model: A Keras model (nested models such as the export's ``*_core`` wrapper are walked into).

    Returns:
        Layers depth-first; the backbone sub-model is listed, its layers are not.
    """
    out = []
    for layer in getattr(model, "layers", []):
        out.append(layer)
        if layer.name != BACKBONE_LAYER:
            out.extend(own_layers(layer))
    return out


def _named(found: list[layers.Layer], name: str) -> layers.Layer | None:
    return next((layer for layer in found if layer.name == name), None)


def _blocks(found: list[layers.Layer]) -> dict:
    """The baseline's convolution blocks: ``blocks, convs_per_block, kernel, filters`` (widths per block) and
    ``block_pool`` (the max-pool closing each block: its size, None when there is none)."""
    convs = [(m, layer) for layer in found if isinstance(layer, layers.Conv2D) and (m := _CONV_NAME.match(layer.name))]
    widths: dict[int, int] = {}
    for match, layer in convs:
        widths.setdefault(int(match.group(1)), int(layer.filters))
    pool = _named(found, "block0_pool")
    return {
        "blocks": len(widths),
        "convs_per_block": len(convs) // len(widths) if widths else 0,
        "kernel": int(convs[0][1].kernel_size[0]) if convs else None,
        "filters": [widths[i] for i in sorted(widths)],
        "block_pool": int(pool.pool_size[0]) if isinstance(pool, layers.MaxPooling2D) else None,
    }


def describe_architecture(model: keras.Model) -> dict:
    """The classifier's architecture as recorded facts.

    Args:
        model: A model of :func:`~mammo_utils.modeling.models.build_model`, loaded or wrapped for export.

    Returns:
        ``kind`` (``from-scratch CNN`` or ``transfer``), ``backbone`` (the model's name), ``pretrained`` (backbone
        weights loaded: :class:`~mammo_utils.modeling.models.ImagenetInput` records it), ``blocks``,
        ``convs_per_block``, ``kernel``, ``filters`` and ``block_pool`` (the from-scratch CNN's conv-BN-ReLU blocks,
        each closed by a max-pool; absent for a transfer model), ``pooling`` (one of ``avg``/``max``/``gem``, None
        when not found), ``dropout`` (0 when the head has none), ``output`` (the last layer's activation) and
        ``parameters`` (all weights, trainable or not).

    Example:
        >>> from mammo_utils.modeling.models import build_baseline_cnn
        >>> describe_architecture(build_baseline_cnn((64, 32), filters=(4,)))["convs_per_block"]
        2
    """
    found = own_layers(model)
    adapters = [layer for layer in found if isinstance(layer, ImagenetInput)]
    transfer = any(layer.name == BACKBONE_LAYER for layer in found)
    dropout, head = _named(found, "head_dropout"), _named(found, "cancer")
    out = {
        "kind": "transfer" if transfer else "from-scratch CNN",
        "backbone": model.name,
        "pretrained": bool(adapters) and adapters[0].source_weights is not None,
        "pooling": next((p for p in C.POOLINGS if _named(found, f"{p}_pool") is not None), None),
        "dropout": float(dropout.rate) if dropout is not None else 0.0,
        "output": getattr(getattr(head, "activation", None), "__name__", None),
        "parameters": int(model.count_params()),
    }
    return out if transfer else {**out, **_blocks(found)}
