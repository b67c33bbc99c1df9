"""Training losses and class weights (the two ways to handle a 2% positive rate besides balanced batches)."""

from __future__ import annotations

import numpy as np

from .. import constants as C


def class_weights(labels) -> dict[int, float]:
    """Balanced class weights ``n / (2 * n_c)`` (sklearn's "balanced").

    Args:
        labels: 0/1 labels.

    Returns:
        ``{0: w0, 1: w1}`` (both 1.0 when a class is absent).
    """
    labels = np.asarray(labels).astype(int)
    n, pos = len(labels), int(labels.sum())
    if pos == 0 or pos == n:
        return {0: 1.0, 1: 1.0}
    return {0: n / (2.0 * (n - pos)), 1: n / (2.0 * pos)}


def make_loss(kind: str = "bce", alpha: float = 0.75, gamma: float = 2.0):
    """Training loss: binary cross-entropy or class-balanced focal loss.

    Args:
        kind: One of :data:`mammo_utils.constants.LOSSES` (``bce`` or ``focal``).
        alpha: Focal weight of the positive class.
        gamma: Focal focusing parameter.

    Returns:
        A Keras loss.

    Raises:
        ValueError: Unknown ``kind``.
    """
    import keras

    if kind == "bce":
        return keras.losses.BinaryCrossentropy()
    if kind == "focal":
        return keras.losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=alpha, gamma=gamma)
    raise ValueError(f"loss must be one of {C.LOSSES}, got {kind!r}")
