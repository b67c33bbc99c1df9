"""Keras metric versions of the RSNA score, for the training logs (the epoch-end evaluation uses :mod:`metrics`)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mammo")
class ProbabilisticF1(keras.metrics.Metric):
    """Streaming probabilistic F-beta over all batches of an epoch (image level).

    Accumulates ``ctp = sum(p * y)``, ``cfp = sum(p * (1 - y))`` and ``sum(y)``, then
    ``(1 + b^2) P R / (b^2 P + R)`` with ``P = ctp / (ctp + cfp)`` and ``R = ctp / sum(y)``; 0 when undefined.
    Equals :func:`mammo_utils.evaluation.metrics.pfbeta` on the concatenated batches. Sample weights scale each image.

    Args:
        beta: Weight of recall.
        name: Metric name.
    """

    def __init__(self, beta: float = 1.0, name: str = "pf1", **kwargs):
        super().__init__(name=name, **kwargs)
        if beta <= 0:
            raise ValueError(f"beta must be > 0, got {beta}")
        self.beta = float(beta)
        self.ctp = self.add_variable(shape=(), initializer="zeros", name="ctp")
        self.cfp = self.add_variable(shape=(), initializer="zeros", name="cfp")
        self.pos = self.add_variable(shape=(), initializer="zeros", name="pos")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y = ops.reshape(ops.cast(y_true, "float32"), (-1,))
        p = ops.clip(ops.reshape(ops.cast(y_pred, "float32"), (-1,)), 0.0, 1.0)
        w = ops.ones_like(y) if sample_weight is None else ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
        self.ctp.assign_add(ops.sum(p * y * w))
        self.cfp.assign_add(ops.sum(p * (1.0 - y) * w))
        self.pos.assign_add(ops.sum(y * w))

    def result(self):
        eps = keras.backend.epsilon()
        precision = self.ctp / ops.maximum(self.ctp + self.cfp, eps)
        recall = self.ctp / ops.maximum(self.pos, eps)
        b2 = self.beta**2
        return ops.where(
            precision + recall > 0, (1 + b2) * precision * recall / ops.maximum(b2 * precision + recall, eps), 0.0
        )

    def reset_state(self):
        for v in (self.ctp, self.cfp, self.pos):
            v.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "beta": self.beta}
