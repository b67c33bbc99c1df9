"""Metrics checked against hand computations and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from mammo_utils.evaluation.metrics import (
    best_threshold,
    binary_report,
    bootstrap_ci,
    pfbeta,
    sensitivity_at_specificity,
)


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
    assert rep["f1"] == pytest.approx(skm.f1_score(y, pred)) and rep["accuracy"] == pytest.approx(
        skm.accuracy_score(y, pred)
    )
    assert rep["tp"] + rep["fn"] == y.sum() and rep["tn"] + rep["fp"] == (1 - y).sum()
    t = best_threshold(y, s, "f1")
    assert binary_report(y, s, t)["f1"] >= rep["f1"]
    assert 0 <= sensitivity_at_specificity(y, s, 0.9) <= 1
    lo, hi = bootstrap_ci(y, s, skm.roc_auc_score, n=200)
    assert lo < rep["roc_auc"] < hi


@pytest.mark.parametrize("case", range(40))
def test_report_equals_sklearn_with_ties_and_edge_thresholds(case):
    # rounded scores make many ties (the per-breast means of a small test set tie often); thresholds at, below
    # and above every score exercise empty and full positive predictions
    rng = np.random.default_rng(case)
    n = int(rng.integers(2, 60))
    y = (rng.random(n) < rng.uniform(0.05, 0.6)).astype(int)
    s = np.round(rng.random(n), int(rng.integers(1, 3)))
    t = float(rng.choice([0.0, 0.5, 1.01, s[0]]))
    rep = binary_report(y, s, t)
    pred = (s >= t).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y, pred, labels=[0, 1]).ravel()
    assert (rep["tn"], rep["fp"], rep["fn"], rep["tp"]) == (tn, fp, fn, tp)
    assert rep["precision"] == pytest.approx(skm.precision_score(y, pred, zero_division=0))
    assert rep["recall"] == pytest.approx(skm.recall_score(y, pred, zero_division=0))
    assert rep["f1"] == pytest.approx(skm.f1_score(y, pred, zero_division=0))
    assert rep["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    if y.min() != y.max():
        assert rep["roc_auc"] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
        assert rep["pr_auc"] == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)
    else:
        assert np.isnan(rep["roc_auc"]) and np.isnan(rep["pr_auc"])


def test_ppv_at_prevalence_follows_bayes():
    from mammo_utils.evaluation.metrics import ppv_at_prevalence

    # 1000 breasts at 2%: 20 cancers, 18 found; 980 healthy, 98 false recalls -> 18 / 116
    assert abs(ppv_at_prevalence(0.9, 0.9, 0.02) - 18 / 116) < 1e-9
    assert ppv_at_prevalence(0.0, 1.0, 0.02) == 0.0
    assert ppv_at_prevalence(0.9, 0.9, 0.5) == pytest.approx(0.9)
    with pytest.raises(ValueError, match="prevalence"):
        ppv_at_prevalence(0.9, 0.9, 0.0)


def test_evaluate_predictions_breast_level_and_frozen_threshold():
    import pandas as pd

    from mammo_utils.evaluation.evaluate import evaluate_predictions, metrics_table, prevalence_note

    # patient 1 L: cancer (two views), patient 1 R and patient 2 L/R healthy
    pred = pd.DataFrame(
        {
            "patient_id": [1, 1, 1, 1, 2, 2, 2, 2],
            "laterality": ["L", "L", "R", "R", "L", "L", "R", "R"],
            "cancer": [1, 1, 0, 0, 0, 0, 0, 0],
            "prediction": [0.9, 0.5, 0.2, 0.1, 0.3, 0.3, 0.6, 0.0],
        }
    )
    val = evaluate_predictions(pred)
    assert val["breast"]["n"] == 4 and val["breast"]["positives"] == 1
    assert val["breast"]["roc_auc"] == 1.0 and val["breast"]["f1"] == 1.0  # mean 0.7 beats every healthy breast
    assert 0.3 < val["threshold"] <= 0.7  # any cut between the best healthy (0.3) and the cancer (0.7) breast
    test = evaluate_predictions(pred.assign(prediction=pred.prediction * 0.5), threshold=val["threshold"])
    assert test["threshold"] == val["threshold"] and test["breast"]["tp"] == 0
    table = metrics_table({"validation": val, "test": test})
    assert table.loc[("validation", "image"), "n"] == 8
    assert "of every 1000" in prevalence_note(val["breast"])


def test_keras_probabilistic_f1_matches_numpy_over_batches():
    pytest.importorskip("keras")
    from mammo_utils.modeling.keras_metrics import ProbabilisticF1

    rng = np.random.default_rng(4)
    y = (rng.random(64) < 0.2).astype("float32")
    p = rng.random(64).astype("float32")
    metric = ProbabilisticF1()
    for start in range(0, 64, 16):  # streamed over four batches
        metric.update_state(y[start : start + 16], p[start : start + 16])
    assert float(metric.result()) == pytest.approx(pfbeta(y, p), rel=1e-5)
    metric.reset_state()
    metric.update_state(np.zeros(4), np.zeros(4))
    assert float(metric.result()) == 0.0
    assert float(ProbabilisticF1(beta=2.0).get_config()["beta"]) == 2.0


def test_a_value_that_rounds_to_zero_prints_without_a_minus_sign():
    from mammo_utils.evaluation.metrics import difference_with_interval, format_number, format_with_interval

    assert format_number(-0.0002, "+.3f") == "+0.000" and format_number(-0.0002, "+.4f") == "-0.0002"
    assert format_number(-0.0, ".2f") == "0.00" and format_number(-0.004, ".1%") == "-0.4%"
    assert format_number(-1e-9, ".1e") == "-1.0e-09" and format_number(float("-inf"), ".3f") == "-inf"
    assert format_with_interval(0.0024, (-0.0002, 0.0075), "+.3f") == "+0.002 [+0.000, +0.007]"
    assert difference_with_interval({"difference": -0.0004, "low": -0.02, "high": 0.01}) == "+0.000 [-0.020, +0.010]"
