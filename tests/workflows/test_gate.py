"""The promotion gate on constructed predictions: promote, keep, NaN, too few cancers, a failing subgroup."""

from __future__ import annotations

import dataclasses

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


def _borderline():
    """A challenger a little worse than the champion: AUC difference -0.016 [-0.029, -0.006] on 200 patients."""
    rows = _rows(n_patients=200)
    return _scored(rows, 3.0, 1), _scored(rows, 2.0, 3)


def test_the_auc_margin_flips_a_borderline_decision():
    champion, challenger = _borderline()
    policy = GatePolicy(sensitivity_margin=0.2, subgroups=(), resamples=1000)
    kept = promotion_gate(champion, challenger, 0.5, 0.5, policy)
    assert not kept["promote"] and "does not exclude a loss of 0.02" in kept["reason"]
    assert -0.04 < kept["overall"]["auc"]["low"] <= -0.02
    wider = promotion_gate(champion, challenger, 0.5, 0.5, dataclasses.replace(policy, auc_margin=0.04))
    assert wider["promote"], wider["reason"]


def test_the_gate_policy_is_the_configurations(tmp_path):
    from mammo_utils.config import ConfigError, get_config

    cfg = get_config("small", work_dir=tmp_path, gate_auc_margin=0.04, gate_min_cancers=5, gate_fraction=0.3)
    policy = GatePolicy.from_config(cfg)
    assert (policy.auc_margin, policy.min_cancers, policy.gate_fraction) == (0.04, 5, 0.3)
    assert policy.sensitivity_margin == cfg.gate_sensitivity_margin == GatePolicy().sensitivity_margin == 0.05
    assert GatePolicy.from_config(cfg, auc_margin=None, resamples=200).resamples == 200
    with pytest.raises(ConfigError, match=r"gate_auc_margin must be in \[0, 1\), got 1.5"):
        get_config("small", work_dir=tmp_path, gate_auc_margin=1.5)
    with pytest.raises(ConfigError, match="retrain_margin is now gate_auc_margin"):
        get_config("small", work_dir=tmp_path, retrain_margin=0.01)


def test_mammo_retrain_auc_margin_reaches_the_gate(tmp_path, monkeypatch, capsys):
    """`mammo retrain --auc-margin` sets the configuration the gate is built from: it flips the borderline case."""
    import json

    from mammo_utils.cli import main
    from mammo_utils.workflows import retrain as R

    champion, challenger = _borderline()

    def fake_retrain(cfg, export_dir, store, policy=None, force=False, **_):
        verdict = promotion_gate(
            champion, challenger, 0.5, 0.5, dataclasses.replace(GatePolicy.from_config(cfg), subgroups=())
        )
        return {"triggers": {}, "action": "promoted" if verdict["promote"] else "kept_champion", "gate": verdict}

    monkeypatch.setattr(R, "retrain", fake_retrain)
    base = ["retrain", "--force", "--json", "--work", str(tmp_path), "--store", f"sqlite:///{tmp_path / 's.db'}"]
    base += ["--sensitivity-margin", "0.2"]
    decisions = {}
    for margin in ("0.02", "0.04"):
        assert main([*base, "--auc-margin", margin]) == 0
        decisions[margin] = json.loads(capsys.readouterr().out)
    assert decisions["0.02"]["action"] == "kept_champion" and decisions["0.04"]["action"] == "promoted"
    assert decisions["0.04"]["gate"]["policy"]["auc_margin"] == 0.04
    assert decisions["0.04"]["gate"]["policy"]["sensitivity_margin"] == 0.2


def test_mammo_retrain_margin_was_renamed_and_says_so(capsys):
    from mammo_utils.cli import main

    assert main(["retrain", "--margin", "0.01"]) == 2
    err = capsys.readouterr().err
    assert "error: --margin was removed" in err and "use --auc-margin AUC" in err
    assert main(["retrain", "--set", "retrain_margin=0.01", "--check"]) == 2
    assert "retrain_margin is now gate_auc_margin" in capsys.readouterr().err
