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


def _runs_table(results) -> pd.DataFrame:
    """The per-run table :func:`variant_summary` reads, from fake runs' validation breast AUCs and log-losses."""
    from mammo_utils.evaluation.compare import breast_log_loss

    rows = [
        {"variant": a, "seed": s, "val breast AUC": r.val["breast"]["roc_auc"],
         "val log-loss": breast_log_loss(r.val_predictions), "test breast AUC": 0.5, "train s": 1.0}
        for (a, s), r in results.items()
    ]  # fmt: skip
    return pd.DataFrame(rows).set_index(["variant", "seed"])


def _arm_run(signal: float, seed: int, n_patients: int = 60):
    """A fake finished run scored on the same validation patients for every seed (other noise per seed)."""
    rng = np.random.default_rng(1000 + seed + int(signal * 100))
    labels = np.random.default_rng(7).random((n_patients, 2)) < 0.3
    rows = [
        {"patient_id": p, "laterality": lat, "cancer": int(labels[p, i])}
        for p in range(n_patients)
        for i, lat in enumerate("LR")
        for _ in range(2)
    ]
    frame = pd.DataFrame(rows)
    frame["prediction"] = 1 / (1 + np.exp(-(signal * frame.cancer + rng.normal(0, 1, len(frame)))))
    from mammo_utils.evaluation.evaluate import evaluate_predictions

    val = evaluate_predictions(frame)
    return SimpleNamespace(val_predictions=frame, test_predictions=frame, val=val, threshold=val["threshold"])


def test_arm_run_names_are_stable_and_safe():
    from mammo_utils.modeling.experiments import arm_run_name

    assert arm_run_name("efficientnet_lite0 ImageNet", 2) == "arm_efficientnet_lite0_imagenet_s2"
    assert arm_run_name("baseline", 0) == arm_run_name("Baseline", 0)
    with pytest.raises(ValueError, match="no letters"):
        arm_run_name(" — ", 0)


def test_the_arm_chosen_is_the_best_replicated_one_and_its_best_validation_run():
    from mammo_utils.modeling.experiments import choose_arm, chosen_run

    results = {("strong", s): _arm_run(3.0, s) for s in range(3)}
    results |= {("weak", s): _arm_run(0.2, s) for s in range(3)}
    results[("single", 0)] = _arm_run(6.0, 0)  # best on validation, but one run is not a replicated result
    runs = _runs_table(results)
    summary = variant_summary(runs)
    assert summary.index[0] == "single" and choose_arm(summary) == "strong"
    with pytest.raises(ValueError, match="4 or more runs"):
        choose_arm(summary, min_runs=4)
    seed, run = chosen_run(results, "strong")
    assert run.val["breast"]["roc_auc"] == max(results[("strong", s)].val["breast"]["roc_auc"] for s in range(3))


def test_paired_table_and_conclusion_follow_the_tests():
    from mammo_utils.modeling.conclusions import comparison_conclusion
    from mammo_utils.modeling.experiments import paired_table

    results = {(a, s): _arm_run(sig, s) for a, sig in (("strong", 3.0), ("weak", 0.2), ("twin", 3.0)) for s in range(3)}
    tests = paired_table(results, [("strong", "weak"), ("strong", "twin"), ("strong", "missing")])
    assert list(tests.index) == ["strong − weak", "strong − twin"]
    assert tests.loc["strong − weak", "low"] > 0 and "strong is higher" in tests.loc["strong − weak", "verdict"]
    assert "no difference" in tests.loc["strong − twin", "verdict"]
    runs = _runs_table(results)
    text = comparison_conclusion(variant_summary(runs), "strong", tests, min_auc=0.85)
    assert "**Chosen on validation: strong**" in text and "Below 0.85 at this budget: weak" in text
    assert all(v in text for v in tests.verdict)


def test_search_keeps_the_tuned_configuration_only_when_the_paired_test_says_so():
    from mammo_utils.evaluation.compare import paired_auc_difference
    from mammo_utils.modeling.tune import search_conclusion

    summary = {"objective_name": "val_breast_auc", "best": {"objective": 0.9},
               "trials": [{"objective": 0.9, "epochs": 6}, {"objective": 0.7, "epochs": 2}]}  # fmt: skip
    better = paired_auc_difference([_arm_run(3.0, s).val_predictions for s in range(3)],
                                   [_arm_run(0.2, s).val_predictions for s in range(3)], n=300)  # fmt: skip
    text, keep = search_conclusion(summary, better)
    assert keep == "tuned" and "**Kept: tuned**" in text and "from 0.700 to 0.900" in text
    retrained = better["auc_a"]  # the selection bias, measured both ways; the prose follows its sign
    high = search_conclusion({**summary, "best": {"objective": retrained + 0.05}}, better)[0]
    assert f"exceeds the same configuration retrained over 3 seeds ({retrained:.3f}, -0.050)" in high
    low = search_conclusion({**summary, "best": {"objective": retrained - 0.05}}, better)[0]
    assert f"scored {retrained:.3f}, above its 6-epoch trial ({retrained - 0.05:.3f})" in low
    assert "exceeds" not in low and "says nothing about the bias" in low
    same = paired_auc_difference([_arm_run(3.0, s).val_predictions for s in range(3)],
                                 [_arm_run(3.0, s + 10).val_predictions for s in range(3)], n=300)  # fmt: skip
    assert search_conclusion(summary, same)[1] == "baseline"


def test_a_declared_log_loss_criterion_decides_where_auc_is_saturated(tmp_path):
    from mammo_utils.evaluation.compare import paired_auc_difference, paired_difference
    from mammo_utils.modeling.tune import declare_decision, search_conclusion

    summary = {"objective_name": "val_breast_auc", "best": {"objective": 0.9},
               "trials": [{"objective": 0.9, "epochs": 2}],
               "declared": declare_decision(tmp_path, "log_loss")}  # fmt: skip
    # both arms rank every breast right (AUC 1.0); the tuned one is confident, the default hedges near 0.5
    sure = [_arm_run(3.0, s).val_predictions for s in range(3)]
    sure = [f.assign(prediction=np.where(f.cancer == 1, 0.95, 0.05)) for f in sure]
    hedged = [f.assign(prediction=np.where(f.cancer == 1, 0.55, 0.45)) for f in sure]
    auc = paired_auc_difference(sure, hedged, n=200)
    assert auc["difference"] == 0 and auc["auc_a"] == 1.0
    loss = paired_difference(sure, hedged, "log_loss", n=200)
    assert loss["metric"] == "log_loss" and loss["high"] < 0 and loss["value_a"] < loss["value_b"]
    text, keep = search_conclusion(summary, loss, auc=auc)
    assert keep == "tuned" and "declared before the search (`decision.json`" in text
    assert "before its first trial; the search refuses any other criterion): validation breast log-loss" in text
    assert "**tuned is better** (lower breast log-loss)" in text and "Validation AUC is saturated" in text
    assert "**uninformative** (saturated" in text and "tuned is higher" not in text  # no verdict from a saturated AUC
    # the same criterion keeps the default when the tuned arm is the hedging one
    assert search_conclusion(summary, paired_difference(hedged, sure, "log_loss", n=200), auc=auc)[1] == "baseline"


def test_a_tie_on_validation_auc_is_broken_on_validation_log_loss():
    from mammo_utils.modeling.experiments import choice_note, chosen_run

    runs = {("a", s): _arm_run(3.0, 0) for s in range(3)}  # identical AUCs: every seed ties
    for s, p in ((0, 0.6), (1, 0.9), (2, 0.8)):
        frame = runs[("a", s)].val_predictions
        runs[("a", s)] = SimpleNamespace(**{**vars(runs[("a", s)]), "val_predictions": frame.assign(
            prediction=np.where(frame.cancer == 1, p, 1 - p))})  # fmt: skip
    assert chosen_run(runs, "a")[0] == 1
    assert "validation breast log-loss breaks the tie" in choice_note(runs, "a")


def test_the_default_configuration_is_inside_the_search_space():
    from mammo_utils.config import get_config
    from mammo_utils.modeling.tune import SearchSpace

    assert SearchSpace().contains(get_config("small")) == []
    assert SearchSpace(poolings=("avg",), lr_max=5e-4).contains(get_config("small")) == ["learning_rate", "pooling"]


def test_arms_short_of_the_bar_are_explained_by_their_training_auc():
    from mammo_utils.modeling.conclusions import comparison_conclusion, last_training_auc

    results = {
        ("fit", 0): SimpleNamespace(history=pd.DataFrame({"auc": [0.6, 0.9]})),
        ("unfit", 0): SimpleNamespace(history=pd.DataFrame({"auc": [0.5, 0.52]})),
        ("unfit", 1): SimpleNamespace(history=pd.DataFrame({"auc": [0.49, 0.50]})),
    }
    train_auc = last_training_auc(results)
    assert train_auc["fit"] == 0.9 and train_auc["unfit"] == pytest.approx(0.51)
    summary = pd.DataFrame(
        {"seeds": [1, 2], "val AUC mean": [0.95, 0.5], "val AUC sd": [np.nan, 0.01], "test AUC mean": [0.9, 0.5],
         "test AUC sd": [np.nan, 0.02]}, index=pd.Index(["fit", "unfit"], name="variant"),
    )  # fmt: skip
    text = comparison_conclusion(summary, "fit", pd.DataFrame(columns=["verdict"]), train_auc=train_auc)
    assert "Below 0.85 at this budget: unfit (0.500)" in text and "unfit 0.51" in text and "not fit" in text
    assert "above chance" not in text  # no arm below the bar fitted its batches
    summary.loc["fit", "val AUC mean"] = 0.6  # fits its training batches (0.90), stays short on validation
    text = comparison_conclusion(summary, "fit", pd.DataFrame(columns=["verdict"]), train_auc=train_auc)
    assert "above chance (fit 0.90): these networks have begun to fit" in text and "unfit 0.51" in text
    # image-level balanced-batch AUC and breast-level validation AUC are not on the same terms: no over-fitting claim
    assert "generalise" not in text and "not compared" in text
    summary.loc["fit", "val AUC mean"] = 0.7  # validation above the training-batch AUC (as InceptionV3's 0.77 > 0.61)
    train_auc["fit"] = 0.61
    text = comparison_conclusion(summary, "fit", pd.DataFrame(columns=["verdict"]), train_auc=train_auc)
    assert "better than they generalise" not in text and "fit 0.61" in text


def test_the_budget_line_tells_equal_budgets_from_early_stopping():
    from mammo_utils.config import get_config
    from mammo_utils.modeling.conclusions import arm_budgets, budget_sentence

    cfg = get_config("small", epochs=2, finetune_epochs=8)
    arms = {"baseline": {"backbone": "baseline"}, "lite0": {"epochs": 1, "finetune_epochs": 9}, "short": {"epochs": 0}}
    budgets = arm_budgets(cfg, arms)
    assert budgets == {"baseline": 10, "lite0": 10, "short": 8}
    assert budget_sentence(budgets, {"baseline": 10, "lite0": 7, "short": 8}).startswith(
        "Budgets differ (epochs allowed: baseline 10, lite0 10, short 8)"
    )
    equal = {k: v for k, v in budgets.items() if k != "short"}
    stopped = budget_sentence(equal, {"baseline": 10, "lite0": 7})
    assert stopped.startswith("Equal budgets: every arm could train 10 epochs") and "lite0 7" in stopped
    assert "early stopping" not in budget_sentence(equal, {"baseline": 10, "lite0": 10})
    # a record without budgets falls back on the epochs trained, as before
    assert budget_sentence(None, {"a": 10, "b": 4}).startswith("Budgets differ (epochs trained: a 10, b 4)")
    assert budget_sentence(None, {"a": 10, "b": 10}) == ""


def test_the_champion_moves_only_on_a_paired_win_over_05s_choice():
    from mammo_utils.evaluation.compare import paired_difference
    from mammo_utils.modeling.tune import promotion

    strong = [_arm_run(3.0, s).val_predictions for s in range(3)]
    weak = [_arm_run(0.2, s).val_predictions for s in range(3)]
    win = paired_difference(strong, weak, "log_loss", n=200)
    move, text = promotion("tuned", "lite0", win)
    assert move and "Against the arm holding the champion alias (lite0)" in text and "**tuned is better**" in text
    same = paired_difference(strong, [_arm_run(3.0, s + 10).val_predictions for s in range(3)], "log_loss", n=200)
    assert "alias **moves to tuned**" in text
    stays, why = promotion("tuned", "lite0", same)
    assert not stays and "alias **stays with lite0**" in why  # equal means never move the alias
    assert not promotion("baseline", "lite0", win)[0] and not promotion("tuned", None, None)[0]
    # the test patients' check is printed beside the decision and never changes it
    lose = paired_difference(weak, strong, "log_loss", n=200)
    moved, checked = promotion("tuned", "lite0", win, heldout=lose)
    assert moved and "alias **moves to tuned**" in checked
    assert "same pair on the **test patients**" in checked and "**lite0 is better**" in checked


def test_each_arm_test_mean_gets_its_interval_over_patients_and_seeds():
    """summarise_variants prints no test mean without its interval: the mean lies inside, a better arm sits higher."""
    from mammo_utils.modeling.experiments import summarise_variants

    results = {(a, s): _arm_run(sig, s) for a, sig in (("strong", 3.0), ("weak", 0.2)) for s in range(3)}
    for run in results.values():
        run.history, run.params, run.train_seconds = pd.DataFrame({"loss": [1.0]}), 1000, 1.0
    _, arms = summarise_variants(results, n_boot=200)
    cols = list(arms.columns)
    assert cols[cols.index("test AUC mean") + 1 : cols.index("test AUC mean") + 3] == [
        "test AUC mean low",
        "test AUC mean high",
    ]
    for arm in ("strong", "weak"):
        row = arms.loc[arm]
        assert row["test AUC mean low"] <= row["test AUC mean"] <= row["test AUC mean high"]
    assert arms.loc["strong", "test AUC mean low"] > arms.loc["weak", "test AUC mean high"]


def _machine_run(seed: int, missed: bool, threshold: float = 0.5):
    """A run whose machine-29 cancers are all missed (``missed``) or all called; every normal breast cleared."""
    rows = []
    for p in range(20):
        machine = 29 if p % 2 else 48
        for lat, y in (("L", 1), ("R", 0)):
            score = 0.1 if (y == 0 or (missed and machine == 29)) else 0.9
            rows.append({"image_id": len(rows), "patient_id": p, "laterality": lat, "cancer": y, "prediction": score,
                         "machine_id": machine, "site_id": 1, "age": 55.0, "density": "B"})  # fmt: skip
    return SimpleNamespace(test_predictions=pd.DataFrame(rows), threshold=threshold, run_name=f"arm_a_s{seed}")


def test_an_arm_subgroup_flag_is_counted_over_its_seeds():
    from mammo_utils.evaluation.subgroups import SUBGROUP_COLUMNS, replication_of
    from mammo_utils.modeling.experiments import arm_subgroup_replication

    results = {("a", 0): _machine_run(0, True), ("a", 1): _machine_run(1, False), ("a", 2): _machine_run(2, False),
               ("b", 0): _machine_run(0, True)}  # fmt: skip
    out = arm_subgroup_replication(results, "a", SUBGROUP_COLUMNS)
    assert out["runs"] == ["arm_a_s0", "arm_a_s1", "arm_a_s2"] and out["seeds"] == [0, 1, 2]
    assert out["columns"] == list(SUBGROUP_COLUMNS)
    row = replication_of(out["tests"], {"attribute": "machine_id", "group": "29", "rate": "sensitivity"})
    assert (row["flagged_in"], row["seeds"], row["flagged_seeds"]) == (1, 3, [0])
    assert {r["attribute"] for r in out["tests"]} <= set(SUBGROUP_COLUMNS)  # age band added from age
    with pytest.raises(ValueError, match="'c' has no run"):
        arm_subgroup_replication(results, "c", SUBGROUP_COLUMNS)


def test_the_holder_after_05_is_found_among_06s_own_runs():
    from mammo_utils.modeling.tune import champion_replication, holder_runs

    results = {("baseline", 0): _machine_run(0, True), ("tuned", 0): _machine_run(0, False)}
    name, runs = holder_runs(None, {"chosen": "x", "champion_arm": "baseline"}, results, [0])
    assert name == "baseline" and list(runs) == [("baseline", 0)]  # nothing retrained: 06 trained it
    assert holder_runs(None, None, results, [0]) == (None, {})
    assert champion_replication(None, False, results, None, {}) is None  # holder unknown: nothing recorded


def test_the_recipe_table_shows_what_the_arms_ran_not_the_profile_default():
    from types import SimpleNamespace

    from mammo_utils.config import DETECTOR_FIELDS, PROFILES, Config
    from mammo_utils.modeling.conclusions import recipe_table

    cfg = SimpleNamespace(**{k: "profile default" for k in PROFILES["full"]})
    table = recipe_table(cfg, PROFILES["full"], {"epochs": "1 head epoch", "finetune_epochs": "9"})
    assert table.loc["epochs", "small (this run)"] == "1 head epoch" and table.loc["finetune_epochs"].iloc[0] == "9"
    assert table.loc["batch_size", "small (this run)"] == "profile default"
    assert table.loc["epochs", "full (GPU)"] == PROFILES["full"]["epochs"]
    with pytest.raises(ValueError, match="not classifier settings of the full profile"):
        recipe_table(cfg, PROFILES["full"], {"epoch": "typo"})
    # the detector's budget is 07's to set (it overrides the profile): no det_* row to contradict it
    assert set(DETECTOR_FIELDS) == {f for f in Config.__dataclass_fields__ if f.startswith("det_")}
    assert "det_epochs" in PROFILES["full"] and "det_epochs" not in table.index
    assert list(table.index) == [k for k in PROFILES["full"] if k not in DETECTOR_FIELDS]
    with pytest.raises(ValueError, match="not classifier settings"):
        recipe_table(cfg, PROFILES["full"], {"det_epochs": "8"})
