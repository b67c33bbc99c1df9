"""Augmentation as Keras 3 preprocessing layers (active only in training, run inside the model graph).

Which transforms make sense for mammograms, and why:

- **Horizontal flip**: a left breast mirrored looks like a right one; both exist, so it is label-preserving.
  (Crops are normalised to chest-wall-left; flipping teaches invariance and matches flip test-time augmentation.)
- **Vertical flip**: not anatomical for MLO (the pectoral muscle moves to the bottom) but label-preserving for
  lesions; RSNA solutions used it as a regulariser, so it is on only at strength >= 0.5.
- **Small rotations (<= 10 degrees), zoom and translation**: positioning and compression vary between exams.
- **Brightness, contrast, gamma**: exposure, detector and VOI-window differences between machines.
- **Gaussian noise**: quantum noise at low dose.
- Not used: large rotations, shears, elastic warps or colour changes, which create non-existent anatomy.

``strength`` in [0, 1] scales every range at once; 0 returns an identity model.
"""

from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="mammo")
class RandomGamma(layers.Layer):
    """Random gamma ``x ** g`` with ``g ~ U[1 - factor, 1 + factor]`` on [0, 1] images (training only).

    Args:
        factor: Half-width of the gamma range, in [0, 1).
        seed: Random seed.

    Input/output: ``(batch, height, width, channels)`` float in [0, 1]; identity when ``training=False``.
    """

    def __init__(self, factor: float = 0.2, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= factor < 1:
            raise ValueError(f"RandomGamma factor must be in [0, 1), got {factor}")
        self.factor, self.seed = factor, seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        if not training or self.factor == 0:
            return x
        batch = ops.shape(x)[0]
        g = keras.random.uniform((batch, 1, 1, 1), 1 - self.factor, 1 + self.factor, seed=self.generator)
        return ops.power(ops.clip(x, 1e-6, 1.0), ops.cast(g, x.dtype))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "seed": self.seed}


def build_augmentation(strength: float = 0.5, seed: int = 0, name: str = "augmentation") -> keras.Sequential:
    """Augmentation pipeline for [0, 1] grayscale images ``(H, W, 1)``.

    Args:
        strength: 0 (identity) .. 1 (strongest) scaling of all ranges.
        seed: Base seed (each layer gets its own offset).
        name: Model name.

    Returns:
        A ``keras.Sequential`` that transforms only when called with ``training=True``.

    Raises:
        ValueError: If ``strength`` is outside [0, 1].
    """
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"augmentation strength must be in [0, 1], got {strength}")
    if strength == 0:
        return keras.Sequential([layers.Identity()], name=name)
    s = strength
    stack = [
        layers.RandomFlip("horizontal_and_vertical" if s >= 0.5 else "horizontal", seed=seed),
        layers.RandomRotation(10.0 / 360.0 * s, fill_mode="constant", seed=seed + 1),
        layers.RandomZoom(0.15 * s, fill_mode="constant", seed=seed + 2),
        layers.RandomTranslation(0.06 * s, 0.06 * s, fill_mode="constant", seed=seed + 3),
        layers.RandomBrightness(0.1 * s, value_range=(0.0, 1.0), seed=seed + 4),
        layers.RandomContrast(0.25 * s, value_range=(0.0, 1.0), seed=seed + 5),
        RandomGamma(0.25 * s, seed=seed + 6),
        layers.GaussianNoise(0.01 * s, seed=seed + 7),
    ]
    return keras.Sequential(stack, name=name)
