"""The search summary names one best trial whatever order the oracle lists its trials in."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest


def _search(trials):
    """A stand-in with KerasTuner's oracle shape: ``oracle.trials`` maps id -> trial (score, hyperparameters)."""
    oracle = SimpleNamespace(
        trials={
            tid: SimpleNamespace(
                trial_id=tid, status="COMPLETED", score=score, hyperparameters=SimpleNamespace(values={"lr": lr})
            )
            for tid, score, lr in trials
        }
    )
    return SimpleNamespace(oracle=oracle)


def test_tied_objectives_give_the_same_best_in_every_listing_order():
    from mammo_utils.modeling.tune import summarise

    trials = [("2", 0.75, 0.3), ("0", 0.75, 0.1), ("1", 0.5, 0.2), ("10", 0.75, 0.4), ("3", float("nan"), 0.5)]
    bests = set()
    for order in itertools.permutations(trials):
        summary = summarise(_search(order), "val_breast_auc", "sid")
        bests.add(summary["best"]["hyperparameters"]["lr"])
        assert [t["trial_id"] for t in summary["trials"]] == ["0", "2", "10", "1", "3"]
    assert bests == {0.1}


def test_unfinished_trials_follow_the_scored_ones_and_an_empty_search_has_no_best():
    from mammo_utils.modeling.tune import summarise

    summary = summarise(_search([("0", None, 0.1), ("1", 0.6, 0.2)]), "val_breast_auc", "sid")
    assert [t["trial_id"] for t in summary["trials"]] == ["1", "0"]
    assert summary["best"] == {"hyperparameters": {"lr": 0.2}, "objective": 0.6}
    empty = summarise(_search([("0", None, 0.1)]), "val_breast_auc", "sid")
    assert empty["best"] == {"hyperparameters": {}, "objective": None}


def test_a_criterion_declared_after_trials_says_so_and_a_verdict_on_another_criterion_is_refused(tmp_path):
    from mammo_utils.modeling.tune import declaration, declare_decision

    late = tmp_path / "late"
    (late / "trial_0").mkdir(parents=True)
    (late / "trial_1").mkdir()
    record = declare_decision(late, "log_loss")
    assert record["trials_before"] == 2
    assert declaration({"declared": record}, "log_loss").startswith("declared after 2 trials")
    early = declare_decision(tmp_path / "early", "log_loss")
    assert declaration({"declared": early}, "log_loss").startswith("declared before the search")
    assert "not recorded" in declaration({}, "log_loss")
    with pytest.raises(ValueError, match="declared 'log_loss'"):
        declaration({"declared": early}, "roc_auc")
    with pytest.raises(ValueError, match="must be one of"):
        declare_decision(tmp_path / "x", "accuracy")


def test_every_declarable_criterion_has_a_paired_test_and_the_cli_offers_exactly_those():
    from mammo_utils.cli import build_parser
    from mammo_utils.constants import DECISION_METRICS
    from mammo_utils.evaluation.compare import METRICS

    assert set(DECISION_METRICS) <= set(METRICS)
    (tune,) = [a for a in build_parser()._subparsers._group_actions if a.dest == "command"]
    (option,) = [a for a in tune.choices["tune"]._actions if "--decision-metric" in a.option_strings]
    assert tuple(option.choices) == DECISION_METRICS
