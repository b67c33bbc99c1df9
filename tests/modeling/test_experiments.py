"""Comparison tables over seeds: every test metric with its patient-level interval, confusion grids."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from mammo_utils.evaluation.evaluate import INTERVAL_METRICS, metrics_with_intervals
from mammo_utils.evaluation.metrics import binary_report, wilson_interval
from mammo_utils.modeling.experiments import per_run_test_metrics, variant_summary


def _run(scores_noise: float, seed: int, n_patients: int = 30):
    """A fake finished run: 2 images per breast, the score tracks the label plus noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        for lat in "LR":
            cancer = int(rng.random() < 0.3)
            for _ in range(2):
                rows.append({"patient_id": p, "laterality": lat, "cancer": cancer})
    frame = pd.DataFrame(rows)
    frame["prediction"] = np.clip(frame.cancer * 0.6 + rng.normal(0.2, scores_noise, len(frame)), 0, 1)
    return SimpleNamespace(test_predictions=frame, threshold=0.5)


def test_per_run_test_metrics_has_every_metric_with_an_interval_around_the_value():
    results = {("good", 0): _run(0.05, 0), ("noisy", 0): _run(0.5, 1)}
    table = per_run_test_metrics(results, n_boot=200)
    assert list(table.index) == list(results)
    assert set(INTERVAL_METRICS) <= set(table.columns) and (table.breasts == 60).all()
    for key in results:
        for metric in INTERVAL_METRICS:
            value, low, high = _parse(table.loc[key, metric])
            assert low <= value <= high, (key, metric, table.loc[key, metric])
    good_auc, noisy_auc = (_parse(table.loc[(name, 0), "roc_auc"])[0] for name in ("good", "noisy"))
    assert good_auc > 0.95 and noisy_auc < good_auc


def test_a_proportion_that_every_resample_agrees_on_gets_the_wilson_interval_of_its_count():
    # a perfectly separated run: sensitivity and specificity are 1 in every resample, so the percentile bootstrap
    # would print [1, 1]; the count (k of k) bounds what the sample can show
    run = _run(0.0, 3)
    ci = metrics_with_intervals(run.test_predictions, run.threshold, n=200)
    breasts = run.test_predictions.groupby(["patient_id", "laterality"]).cancer.first()
    positives, negatives = int(breasts.sum()), int((1 - breasts).sum())
    for metric, count in (("recall", positives), ("specificity", negatives), ("accuracy", len(breasts))):
        assert ci.loc[metric, "value"] == 1.0 and ci.loc[metric, "method"] == "wilson", metric
        low, high = wilson_interval(count, count)
        assert ci.loc[metric, "low"] == pytest.approx(float(low), abs=1e-4) and ci.loc[metric, "low"] < 1.0, metric
        assert ci.loc[metric, "high"] == 1.0, metric
    # fewer cases, wider interval: the positives are fewer than the negatives
    assert ci.loc["recall", "low"] < ci.loc["specificity", "low"]
    # a proportion that varies across resamples keeps its bootstrap interval
    noisy = _run(0.5, 1)
    ci = metrics_with_intervals(noisy.test_predictions, noisy.threshold, n=200)
    assert (ci.loc[["recall", "specificity", "f1", "roc_auc"], "method"] == "bootstrap").all()


def _parse(text: str) -> tuple[float, float, float]:
    """``"0.812 [0.700, 0.900]"`` -> (0.812, 0.7, 0.9)."""
    value, low, high = re.fullmatch(r"(\S+) \[(\S+), (\S+)\]", text).groups()
    return float(value), float(low), float(high)


def test_confusion_grid_has_one_panel_per_run():
    from mammo_utils.evaluation.plots import plot_confusions

    y = np.array([0, 0, 1, 1, 1])
    report = binary_report(y, np.array([0.1, 0.7, 0.8, 0.9, 0.2]), 0.5)
    fig = plot_confusions({f"run {i}": report for i in range(5)}, "test", columns=3)
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == 5
    texts = sorted(t.get_text() for t in drawn[0].texts)
    assert texts == sorted(["1 (50%)", "1 (50%)", "1 (33%)", "2 (67%)"])


def _tables(pre_val, rnd_val, pre_test=(0.6, 0.62), rnd_test=(0.58, 0.6), width=0.1):
    """Per-run and per-variant tables as summarise_variants builds them, for two variants over two seeds."""
    rows = []
    for name, vals, tests in (("pre", pre_val, pre_test), ("rnd", rnd_val, rnd_test)):
        for seed, (v, t) in enumerate(zip(vals, tests)):
            rows.append({"variant": name, "seed": seed, "val breast AUC": v, "test breast AUC": t,
                         "test AUC low": t - width, "test AUC high": t + width})  # fmt: skip
    runs = pd.DataFrame(rows).set_index(["variant", "seed"]).assign(**{"train s": 1.0})
    variants = variant_summary(runs)
    return runs, variants


def test_transfer_conclusion_weighs_the_validation_difference_against_the_seed_spread():
    from mammo_utils.modeling.experiments import transfer_conclusion

    # a 0.017 gain beside seeds 0.2 apart is noise
    text = transfer_conclusion(*_tables((0.55, 0.56), (0.43, 0.64)), "pre", "rnd")
    assert "**Chosen on validation: pre**" in text and "within the spread between seeds" in text
    assert "intervals overlap" in text
    # a gain far beyond a tight seed spread, with separated test intervals
    text = transfer_conclusion(*_tables((0.80, 0.81), (0.60, 0.61), (0.9, 0.9), (0.5, 0.5)), "pre", "rnd")
    assert "pretrained start helped" in text and "every pre interval lies above every rnd interval" in text
    # the other way round
    text = transfer_conclusion(*_tables((0.50, 0.51), (0.70, 0.71), (0.4, 0.4), (0.8, 0.8)), "pre", "rnd")
    assert "**Chosen on validation: rnd**" in text and "pretrained start hurt" in text
    assert "every rnd interval lies above every pre interval" in text
