"""Magnitude pruning reaches its schedule's sparsity and keeps pruned weights at zero while training."""

from __future__ import annotations

import numpy as np
import pytest


def test_polynomial_schedule():
    from mammo_utils.modeling.prune import PolynomialSparsity

    s = PolynomialSparsity(0.0, 0.8, begin_step=10, end_step=110)
    assert s(0) == 0.0 and s(10) == 0.0 and s(110) == pytest.approx(0.8) and s(500) == pytest.approx(0.8)
    assert s(60) == pytest.approx(0.8 - 0.8 * 0.5**3)  # cubic ramp: 0.7 after half the steps
    with pytest.raises(ValueError, match="final"):
        PolynomialSparsity(0.0, 1.0, 0, 10)
    with pytest.raises(ValueError, match="end_step"):
        PolynomialSparsity(0.0, 0.5, 10, 10)


def test_pruning_callback_reaches_target_and_model_still_learns():
    import keras

    from mammo_utils.modeling.prune import MagnitudePruning, PolynomialSparsity, prunable_kernels, sparsity

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 20)).astype("float32")
    y = (x[:, :3].sum(1) > 0).astype("float32")
    model = keras.Sequential(
        [keras.Input((20,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1, activation="sigmoid")]
    )
    assert len(prunable_kernels(model)) == 1  # the one-unit output stays dense
    model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
    callback = MagnitudePruning(PolynomialSparsity(0.0, 0.75, 0, 40), frequency=5)
    history = model.fit(x, y, epochs=15, batch_size=32, callbacks=[callback], verbose=0)
    assert sparsity(model) == pytest.approx(0.75, abs=0.01)
    assert history.history["accuracy"][-1] > 0.9  # three informative inputs survive 75% sparsity
