"""Metrics checked against hand computations and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from mammo_utils.metrics import best_threshold, binary_report, bootstrap_ci, pfbeta, sensitivity_at_specificity


def test_pfbeta_hand_computed():
    # ctp = 0.9 + 0.6 = 1.5, cfp = 0.2, precision = 1.5/1.7, recall = 1.5/2
    p, r = 1.5 / 1.7, 0.75
    assert pfbeta([1, 0, 1], [0.9, 0.2, 0.6]) == pytest.approx(2 * p * r / (p + r))
    assert pfbeta([0, 0], [0.3, 0.1]) == 0.0 and pfbeta([1, 0], [0.0, 0.0]) == 0.0
    assert pfbeta([1, 0, 1], [1, 0, 1]) == 1.0
    with pytest.raises(ValueError, match="length"):
        pfbeta([1, 0], [0.5])


def test_pfbeta_on_binary_predictions_equals_f1():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    pred = rng.integers(0, 2, 200)
    assert pfbeta(y, pred) == pytest.approx(skm.f1_score(y, pred))


def test_report_matches_sklearn():
    rng = np.random.default_rng(1)
    y = (rng.random(300) < 0.2).astype(int)
    s = np.clip(0.3 * y + rng.random(300) * 0.7, 0, 1)
    rep = binary_report(y, s, threshold=0.5)
    pred = (s >= 0.5).astype(int)
    assert rep["roc_auc"] == pytest.approx(skm.roc_auc_score(y, s))
    assert rep["pr_auc"] == pytest.approx(skm.average_precision_score(y, s))
    assert rep["f1"] == pytest.approx(skm.f1_score(y, pred)) and rep["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert rep["tp"] + rep["fn"] == y.sum() and rep["tn"] + rep["fp"] == (1 - y).sum()
    t = best_threshold(y, s, "f1")
    assert binary_report(y, s, t)["f1"] >= rep["f1"]
    assert 0 <= sensitivity_at_specificity(y, s, 0.9) <= 1
    lo, hi = bootstrap_ci(y, s, skm.roc_auc_score, n=200)
    assert lo < rep["roc_auc"] < hi
