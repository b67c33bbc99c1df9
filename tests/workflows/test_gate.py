"""The promotion gate on constructed predictions: promote, keep, NaN, too few cancers, a failing subgroup."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mammo_utils.workflows.gate import GatePolicy, gate_rows, promotion_gate


def _rows(n_patients=120, prevalence=0.4, seed=0):
    """Two images per breast, two breasts per patient; half the patients at site 1, half at site 2."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        for lat in "LR":
            cancer = int(rng.random() < prevalence)
            for v in range(2):
                rows.append(
                    {"patient_id": p, "laterality": lat, "image_id": f"{p}{lat}{v}", "cancer": cancer,
                     "site_id": 1 + p % 2, "machine_id": 29 if p % 8 == 0 else 21 + p % 2}
                )  # fmt: skip
    return pd.DataFrame(rows)


def _scored(rows, strength, seed, noise_machines=()):
    """Predictions that separate the classes by ``strength`` (noise only on ``noise_machines``)."""
    rng = np.random.default_rng(seed)
    signal = np.where(rows.machine_id.isin(noise_machines), 0.0, strength) * rows.cancer
    return rows.assign(prediction=1 / (1 + np.exp(-(signal + rng.normal(0, 1, len(rows)) - 1))))


POLICY = GatePolicy(min_cancers=20, subgroup_min_cancers=15, resamples=300)


def test_an_equally_good_challenger_is_promoted():
    rows = _rows()
    decision = promotion_gate(_scored(rows, 3.0, 1), _scored(rows, 3.2, 2), 0.5, 0.5, POLICY)
    assert decision["promote"], decision["reason"]
    assert decision["overall"]["auc"]["low"] > -POLICY.auc_margin
    checked = [k for k, v in decision["subgroups"].items() if v["checked"]]
    assert {"site_id=1", "site_id=2"} <= set(checked)


def test_a_worse_challenger_is_kept_out_with_the_interval_in_the_reason():
    rows = _rows()
    decision = promotion_gate(_scored(rows, 3.0, 1), _scored(rows, 0.8, 2), 0.5, 0.5, POLICY)
    assert not decision["promote"]
    assert decision["reason"].startswith("keep the champion: AUC difference")


def test_a_challenger_that_misses_cancers_at_its_threshold_is_kept_out():
    rows = _rows()
    champion, challenger = _scored(rows, 3.0, 1), _scored(rows, 3.0, 1)
    decision = promotion_gate(champion, challenger, 0.5, 0.9, POLICY)  # same scores, a threshold that misses
    assert not decision["promote"]
    assert "sensitivity difference" in decision["reason"]


def test_a_subgroup_where_the_challenger_fails_keeps_the_champion():
    rows = _rows(n_patients=200)
    champion = _scored(rows, 3.0, 1)
    challenger = _scored(rows, 3.0, 2, noise_machines=(29,))  # useless on one machine, an eighth of the patients
    policy = GatePolicy(auc_margin=0.15, sensitivity_margin=0.25, subgroup_min_cancers=15, resamples=300)
    decision = promotion_gate(champion, challenger, 0.5, 0.5, policy)
    assert decision["overall"]["passed"], decision["overall"]["failure"]  # the loss hides in the overall figures
    assert not decision["promote"]
    assert "machine_id=29: AUC difference" in decision["reason"]
    assert decision["subgroups"]["machine_id=29"]["checked"] and not decision["subgroups"]["machine_id=29"]["passed"]


def test_nan_predictions_keep_the_champion_and_say_which():
    rows = _rows()
    champion = _scored(rows, 3.0, 1)
    champion.loc[3, "prediction"] = np.nan
    decision = promotion_gate(champion, _scored(rows, 3.0, 2), 0.5, 0.5, POLICY)
    assert not decision["promote"] and decision["reason"] == "keep the champion: champion scored NaN"
    decision = promotion_gate(_scored(rows, 3.0, 1), _scored(rows, 3.0, 2), float("nan"), 0.5, POLICY)
    assert not decision["promote"] and "threshold is NaN" in decision["reason"]


def test_too_few_cancers_keep_the_champion():
    rows = _rows(n_patients=20, prevalence=0.1)
    decision = promotion_gate(_scored(rows, 5.0, 1), _scored(rows, 5.0, 2), 0.5, 0.5, POLICY)
    assert not decision["promote"]
    assert f"fewer than the {POLICY.min_cancers}" in decision["reason"]


@pytest.mark.parametrize("fraction", [0.3, 0.5])
def test_the_gate_split_is_a_stable_share_of_whole_patients(fraction):
    rows = _rows(n_patients=400)
    gate = gate_rows(rows, fraction)
    assert gate.patient_id.nunique() == pytest.approx(400 * fraction, rel=0.25)
    assert gate.equals(gate_rows(rows.sample(frac=1, random_state=0), fraction).sort_index())
    per_patient = rows.groupby("patient_id").size()
    assert (gate.groupby("patient_id").size() == per_patient[gate.patient_id.unique()]).all()
