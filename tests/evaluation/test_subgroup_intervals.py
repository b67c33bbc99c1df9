"""Every subgroup metric carries its interval: Wilson for sensitivity and specificity (a 9-of-9 group is not
certain), a patient bootstrap for the AUC (as the usable resamples give it, with their count), and none where the
group has one class or too few breasts of one, with the reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def _frame(rng, site, patients, cancers, separation):
    rows = []
    for p in range(patients):
        for lat in "LR":
            y = int(p < cancers and lat == "L")
            for view in ("CC", "MLO"):
                score = float(np.clip(0.5 + separation * (y - 0.5) + rng.normal(0, 0.15), 0, 1))
                rows.append({"patient_id": site * 1000 + p, "laterality": lat, "view": view, "cancer": y,
                             "prediction": score, "site_id": site})  # fmt: skip
    return rows


def test_subgroup_rows_carry_wilson_and_bootstrap_intervals():
    from mammo_utils.evaluation.metrics import wilson_interval
    from mammo_utils.evaluation.subgroups import subgroup_metrics

    rng = np.random.default_rng(0)
    pred = pd.DataFrame(_frame(rng, 1, 20, 9, 0.9) + _frame(rng, 2, 30, 10, 0.2) + _frame(rng, 3, 6, 0, 0.5))
    table = subgroup_metrics(pred, 0.5, "site_id", n=300)
    one = table.loc[1]
    assert one.cancers == 9 and one.sensitivity == 1.0
    assert (one.sensitivity_low, one.sensitivity_high) == pytest.approx(
        [float(v) for v in wilson_interval(9, 9, 1.959964)]
    )
    assert one.sensitivity_low == pytest.approx(0.701, abs=0.001)  # what 9 cases can show
    two = table.loc[2]
    assert two.roc_auc_low <= two.roc_auc <= two.roc_auc_high and two.roc_auc_high - two.roc_auc_low > 0.05
    assert two.specificity_low < two.specificity <= two.specificity_high
    assert two.roc_auc_missing is None and 0 < two.roc_auc_resamples <= 300
    few = subgroup_metrics(pd.DataFrame(_frame(rng, 4, 6, 2, 0.9)), 0.5, "site_id").loc[4]
    assert few.roc_auc == 1.0 and np.isnan([few.roc_auc_low, few.roc_auc_high]).all()  # 2 cancers: no interval
    assert few.roc_auc_missing.startswith("2 breast(s) of the rarer class") and few.roc_auc_resamples == 0
    three = table.loc[3]  # no cancer: no AUC and no sensitivity, hence no interval either
    assert np.isnan([three.roc_auc, three.roc_auc_low, three.sensitivity, three.sensitivity_low]).all()
    assert three.roc_auc_missing.startswith("0 breast(s)")


def test_a_perfectly_ranked_group_gets_the_interval_its_resamples_give():
    from mammo_utils.evaluation.subgroups import auc_interval, subgroup_metrics

    rng = np.random.default_rng(0)
    perfect = subgroup_metrics(pd.DataFrame(_frame(rng, 5, 20, 8, 3.0)), 0.5, "site_id", n=200).loc[5]
    assert perfect.roc_auc == 1.0 and (perfect.roc_auc_low, perfect.roc_auc_high) == (1.0, 1.0)
    assert perfect.roc_auc_missing is None
    # resamples with one class only are dropped and counted: 8 cancer patients of 20 rarely all vanish
    assert 190 <= perfect.roc_auc_resamples <= 200
    # one patient holds all 5 cancer breasts, 19 others 5 normal ones each: about a third of the resamples miss her
    y = np.array([1] * 5 + [0] * 95)
    s = np.where(y == 1, 0.9, 0.1) + np.linspace(0, 0.01, 100)
    out = auc_interval(y, s, np.arange(100) // 5, 300, 0, 0.05)
    assert 150 < out["roc_auc_resamples"] < 250 and out["roc_auc_low"] == 1.0 and out["roc_auc_missing"] is None
    # two patients, one per class: a resample of two draws holds both classes only when it draws both patients
    y = np.array([1] * 5 + [0] * 5)
    runs = [auc_interval(y, y + np.arange(10) / 100, y, 3, seed, 0.05) for seed in range(30)]
    empty = [r for r in runs if r["roc_auc_resamples"] == 0]
    assert empty and all(r["roc_auc_missing"] == "none of 3 patient resamples held both classes" for r in empty)
    assert all(np.isnan([r["roc_auc_low"], r["roc_auc_high"]]).all() for r in empty)
    assert any(r["roc_auc_resamples"] == 3 and r["roc_auc_low"] == 1.0 for r in runs)
