"""The paired patient-level comparison: it finds a real difference, finds none between equals, and pairs patients."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mammo_utils.evaluation.compare import arm_interval, paired_auc_difference, pairwise_table, verdict
from mammo_utils.evaluation.metrics import roc_auc


def _frame(n_patients: int, seed: int, signal: float, noise_seed: int) -> pd.DataFrame:
    """Two images per breast, two breasts per patient; the score is ``signal * label + noise``."""
    rng = np.random.default_rng(seed)
    labels = rng.random((n_patients, 2)) < 0.3
    noise = np.random.default_rng(noise_seed)
    rows = []
    for p in range(n_patients):
        for side, lat in enumerate("LR"):
            for view in ("CC", "MLO"):
                y = int(labels[p, side])
                rows.append(
                    {
                        "patient_id": 1000 + p,
                        "laterality": lat,
                        "view": view,
                        "image_id": len(rows),
                        "cancer": y,
                        "prediction": 1 / (1 + np.exp(-(signal * y + noise.normal()))),
                    }
                )
    return pd.DataFrame(rows)


def test_a_better_model_is_found_higher():
    strong = [_frame(120, 0, 3.0, s) for s in range(3)]
    weak = [_frame(120, 0, 0.3, 10 + s) for s in range(3)]
    test = paired_auc_difference(strong, weak, n=400)
    assert test["difference"] > 0.2 and test["low"] > 0 and test["p_value"] < 0.01
    assert test["patients"] == 120 and test["breasts"] == 240 and test["runs_a"] == 3
    assert "strong is higher" in verdict("strong", "weak", test)
    reverse = paired_auc_difference(weak, strong, n=400)
    assert reverse["difference"] == pytest.approx(-test["difference"])
    assert "strong is higher" in verdict("weak", "strong", reverse)


def test_arm_interval_covers_the_seed_mean_and_widens_with_seed_spread():
    """The mean over seeds gets an interval around it; runs that disagree more give a wider one."""
    agree = [_frame(80, 1, 2.0, s) for s in range(3)]
    out = arm_interval(agree, n=300)
    assert out["value"] == pytest.approx(np.mean([paired_auc_difference([r], [r], n=20)["auc_a"] for r in agree]))
    assert out["low"] < out["value"] < out["high"] and out["runs"] == 3 and out["patients"] == 80
    spread = [_frame(80, 1, 2.0, 0), _frame(80, 1, 0.2, 1), _frame(80, 1, 4.0, 2)]
    wide = arm_interval(spread, n=300)
    assert wide["high"] - wide["low"] > out["high"] - out["low"]
    with pytest.raises(ValueError, match="metric"):
        arm_interval(agree, metric="accuracy")


def test_equal_models_are_not_separated():
    a = [_frame(60, 4, 1.0, s) for s in range(3)]
    b = [_frame(60, 4, 1.0, 20 + s) for s in range(3)]
    test = paired_auc_difference(a, b, n=400)
    assert test["low"] < 0 < test["high"] and test["p_value"] > 0.05
    assert "no difference" in verdict("a", "b", test)


def test_false_positive_rate_is_near_the_level():
    """Under the null (same recipe, other noise) about 5% of comparisons reject at 0.05, not far more."""
    p = [
        paired_auc_difference([_frame(50, k, 1.0, k + 1000)], [_frame(50, k, 1.0, k + 5000)], n=200)["p_value"]
        for k in range(60)
    ]
    assert np.mean(np.asarray(p) < 0.05) <= 0.12


def test_observed_difference_is_the_difference_of_mean_breast_aucs():
    a, b = [_frame(50, 2, 1.5, 0), _frame(50, 2, 1.5, 1)], [_frame(50, 2, 0.5, 2)]
    test = paired_auc_difference({0: a[0], 1: a[1]}, {0: b[0]}, n=50)

    def breast_auc(frame):
        breasts = frame.groupby(["patient_id", "laterality"]).agg(y=("cancer", "max"), s=("prediction", "mean"))
        return roc_auc(breasts.y, breasts.s)

    assert test["difference"] == pytest.approx(np.mean([breast_auc(f) for f in a]) - breast_auc(b[0]))


def test_pairing_narrows_the_interval_compared_with_independent_noise():
    """Models that share each patient's difficulty: the paired interval is far narrower than either AUC's spread."""
    base = _frame(80, 3, 1.0, 0)
    shifted = base.assign(prediction=base.prediction + 0.02 * base.cancer)
    test = paired_auc_difference([shifted], [base], n=400)
    assert test["difference"] >= 0 and test["high"] - test["low"] < 0.05


def test_bad_arms_are_refused():
    with pytest.raises(ValueError, match="at least one run"):
        paired_auc_difference([], [_frame(10, 0, 1.0, 0)])
    one_class = _frame(10, 0, 1.0, 0).assign(cancer=0)
    with pytest.raises(ValueError, match="both classes"):
        paired_auc_difference([one_class], [one_class])


def test_pairwise_table_compares_every_arm_with_the_reference():
    arms = {"ref": [_frame(60, 4, 2.0, 0)], "x": [_frame(60, 4, 0.0, 1)], "y": [_frame(60, 4, 2.0, 2)]}
    table = pairwise_table(arms, "ref", n=200)
    assert list(table.index) == ["x", "y"] and table.loc["x", "difference"] < 0
    with pytest.raises(KeyError, match="reference arm"):
        pairwise_table(arms, "nope")
