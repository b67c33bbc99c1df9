"""Subgroup tests count patients, not breasts: a patient's two breasts (same site, machine, age) count once per rate;
a group whose cancers are all missed is flagged; the same tests over an arm's seeds say in how many each is flagged."""

from __future__ import annotations

import pandas as pd
import pytest
from scipy.stats import fisher_exact

from mammo_utils.evaluation.subgroups import (
    holm,
    patient_outcomes,
    replication_of,
    replication_sentence,
    subgroup_replication,
    subgroup_tests,
    with_subgroup_columns,
)


def _patient(pid, machine, left, right, scores=(0.1, 0.1), views=("CC", "MLO")):
    """Image rows of one patient: cancer label and score per breast (left, right), two views each."""
    return [
        {"patient_id": pid, "laterality": lat, "view": v, "cancer": y, "prediction": s, "machine_id": machine}
        for lat, y, s in (("L", left, scores[0]), ("R", right, scores[1]))
        for v in views
    ]


def _frame(missed_machine=29, n=12):
    """Machine 29: every cancer missed; machine 48: every cancer called; all normal breasts cleared everywhere."""
    rows = []
    for p in range(n):
        machine = missed_machine if p % 2 else 48
        hit = 0.1 if machine == missed_machine else 0.9
        rows += _patient(p, machine, 1, 0, scores=(hit, 0.1))
    return pd.DataFrame(rows)


def test_a_machine_whose_cancers_are_all_missed_is_flagged():
    tests = subgroup_tests(_frame(n=20), 0.5, ["machine_id"])
    sens = {t["group"]: t for t in tests if t["rate"] == "sensitivity"}
    assert (sens["29"]["k"], sens["29"]["n"], sens["29"]["rest_k"], sens["29"]["rest_n"]) == (0, 10, 10, 10)
    assert sens["29"]["p_value"] == pytest.approx(fisher_exact([[0, 10], [10, 0]]).pvalue)
    assert sens["29"]["different"] and sens["48"]["different"]
    spec = [t for t in tests if t["rate"] == "specificity"]
    assert spec and not any(t["different"] for t in spec)  # every normal breast cleared on both machines
    assert all(t["unit"] == "patients" for t in tests)
    assert [t["p_holm"] for t in tests] == pytest.approx(holm([t["p_value"] for t in tests]).tolist())


def test_two_breasts_of_one_patient_count_once():
    # one patient with both breasts cancer, one called: she is one cancer patient, called
    # one patient with two normal breasts, one called: she is one patient, not cleared
    rows = _patient(1, 29, 1, 1, scores=(0.9, 0.1)) + _patient(2, 29, 0, 0, scores=(0.1, 0.9))
    rows += _patient(3, 48, 1, 0, scores=(0.1, 0.1)) + _patient(4, 48, 0, 0, scores=(0.1, 0.1))
    outcomes = patient_outcomes(pd.DataFrame(rows), 0.5, "machine_id").set_index(["rate", "patient_id"])
    assert len(outcomes) == 5  # 2 cancer patients + 3 with a normal breast (patient 1 has none), 8 breasts
    assert outcomes.loc[("sensitivity", 1), "ok"] and not outcomes.loc[("sensitivity", 3), "ok"]
    assert not outcomes.loc[("specificity", 2), "ok"] and outcomes.loc[("specificity", 4), "ok"]
    tests = {(t["group"], t["rate"]): t for t in subgroup_tests(pd.DataFrame(rows), 0.5, ["machine_id"])}
    sens29, spec29 = tests[("29", "sensitivity")], tests[("29", "specificity")]
    assert (sens29["k"], sens29["n"], sens29["rest_k"], sens29["rest_n"]) == (1, 1, 0, 1)  # not 1/2 breasts
    assert (spec29["k"], spec29["n"], spec29["rest_k"], spec29["rest_n"]) == (0, 1, 2, 2)  # not 1/2 breasts


def test_a_patient_is_on_one_side_only_even_when_her_breasts_differ():
    rows = _patient(1, 29, 0, 0)
    rows[2]["machine_id"] = rows[3]["machine_id"] = 48  # her right breast on another machine
    rows += _patient(2, 48, 0, 0)
    outcomes = patient_outcomes(pd.DataFrame(rows), 0.5, "machine_id")
    assert outcomes.groupby("patient_id").size().tolist() == [1, 1]
    assert outcomes.set_index("patient_id").loc[1, "group"] == "29"  # her first (left) breast's machine


def test_missing_column_is_named():
    with pytest.raises(ValueError, match="site_id"):
        subgroup_tests(_frame(), 0.5, ["site_id"])


def test_replication_counts_the_seeds_that_flag_each_test():
    flagged, calm = _frame(n=20), _frame(n=20).assign(prediction=0.9)  # calm: every breast called, nothing differs
    preds = {0: flagged, 1: calm, 2: calm}
    rows = subgroup_replication(preds, {0: 0.5, 1: 0.5, 2: 0.5}, ["machine_id"])
    row = replication_of(rows, {"attribute": "machine_id", "group": 29, "rate": "sensitivity"})
    assert (row["flagged_in"], row["tested_in"], row["seeds"], row["flagged_seeds"]) == (1, 3, 3, [0])
    assert row["unit"] == "patients"
    assert replication_of(rows, {"attribute": "machine_id", "group": "29", "rate": "specificity"})["flagged_in"] == 0
    # each seed at its own threshold: at 0.05 seed 0 calls every breast too, so nothing is flagged anywhere
    assert not any(r["flagged_in"] for r in subgroup_replication(preds, {0: 0.05, 1: 0.5, 2: 0.5}, ["machine_id"]))
    assert "machine_id 29 sensitivity flagged in 1 of 3" in replication_sentence(rows)
    with pytest.raises(ValueError, match="no threshold"):
        subgroup_replication(preds, {0: 0.5}, ["machine_id"])
    with pytest.raises(ValueError, match="no seed"):
        subgroup_replication({}, 0.5, ["machine_id"])


def test_subgroup_columns_come_from_the_metadata():
    pred = pd.DataFrame({"image_id": [1, 2, 3], "prediction": [0.1, 0.2, 0.3]})
    meta = pd.DataFrame({"site_id": [1, 2, 1], "machine_id": [29, 48, 29], "density": ["A", None, "B"],
                         "age": [45.0, 72.0, None]}, index=pd.Index([1, 2, 3], name="image_id"))  # fmt: skip
    out = with_subgroup_columns(pred, meta)
    assert out.machine_id.tolist() == [29, 48, 29]
    assert out.age_band.tolist() == ["<50", ">=70", "unknown"] and out.density.tolist() == ["A", "unknown", "B"]
    assert "machine_id" not in pred  # a copy
