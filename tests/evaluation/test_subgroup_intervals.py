"""Every subgroup metric carries its interval: Wilson for sensitivity and specificity (a 9-of-9 group is not
certain), a patient bootstrap for the AUC, and none where the group has one class."""

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
    few = subgroup_metrics(pd.DataFrame(_frame(rng, 4, 6, 2, 0.9)), 0.5, "site_id").loc[4]
    assert few.roc_auc == 1.0 and np.isnan([few.roc_auc_low, few.roc_auc_high]).all()  # 2 cancers: no [1, 1]
    perfect = subgroup_metrics(pd.DataFrame(_frame(rng, 5, 20, 8, 3.0)), 0.5, "site_id").loc[5]
    assert perfect.roc_auc == 1.0 and np.isnan([perfect.roc_auc_low, perfect.roc_auc_high]).all()  # no [1, 1]
    three = table.loc[3]  # no cancer: no AUC and no sensitivity, hence no interval either
    assert np.isnan([three.roc_auc, three.roc_auc_low, three.sensitivity, three.sensitivity_low]).all()
    assert three.specificity_low < three.specificity_high
