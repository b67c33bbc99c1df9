"""The search summary names one best trial whatever order the oracle lists its trials in."""

from __future__ import annotations

import itertools
from types import SimpleNamespace


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
