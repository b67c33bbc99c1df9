"""The detector's test tables: per-class AP intervals, FROC inside its measured range, the pointing game's interval."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mammo_utils.detection.evaluate import (
    box_fit,
    evaluate_detections,
    nested_box_check,
    pointing_summary,
    seed_intervals,
    seed_scores,
    seed_summary,
    summary_json,
)
from mammo_utils.detection.metrics import (
    FROC_RATES,
    OPERATING_FPI,
    coco_map,
    froc_key,
    operating_point,
    top_box_overlap,
)
from mammo_utils.detection.tables import metrics_table, seed_table
from mammo_utils.detection.train import DetectionData, stop_reason, truth

CLASSES = ("mass", "spiculated_mass", "calcification_cluster")


def _split(n_patients: int = 30, seed: int = 0):
    """Test images (2 per patient, one with a lesion) and noisy detections: hits, misses, wrong classes, FPs."""
    rng = np.random.default_rng(seed)
    rows, preds = [], []
    for p in range(n_patients):
        for lat in ("L", "R"):
            if lat == "L":
                xy = rng.uniform(5, 30, 2)
                box = np.r_[xy, xy + rng.uniform(10, 20, 2)][None]
                cls = np.array([p % 3])
            else:
                box, cls = np.zeros((0, 4)), np.zeros(0, int)
            rows.append({"patient_id": p, "laterality": lat, "boxes": box, "classes": cls})
            boxes, scores, classes = [], [], []
            if len(box) and rng.random() < 0.7:  # found, sometimes named wrongly, slightly off
                boxes.append(box[0] + rng.normal(0, 1.5, 4))
                scores.append(rng.uniform(0.3, 1.0))
                classes.append(int(cls[0]) if rng.random() < 0.8 else int((cls[0] + 1) % 3))
            for _ in range(int(rng.integers(0, 3))):  # false positives
                xy = rng.uniform(0, 40, 2)
                boxes.append(np.r_[xy, xy + 8])
                scores.append(rng.uniform(0.01, 0.6))
                classes.append(int(rng.integers(0, 3)))
            order = np.argsort(-np.asarray(scores), kind="stable")
            preds.append({
                "boxes": np.asarray(boxes, np.float32).reshape(-1, 4)[order],
                "scores": np.asarray(scores, np.float32)[order],
                "classes": np.asarray(classes, int)[order],
            })  # fmt: skip
    test = pd.DataFrame(rows)
    images = np.full((len(test), 64, 64), 0.5, np.float32)
    data = DetectionData(test.iloc[:0], test.iloc[:0], test, {"test": images}, cache=None)
    return data, preds


def test_per_class_ap_intervals_contain_the_point_value():
    data, preds = _split()
    det = evaluate_detections(data, score=0.3, test_preds=preds, classes=CLASSES)
    assert set(det["per_class_ci"]) == set(CLASSES)
    for name in CLASSES:
        low, high = det["per_class_ci"][name]
        assert 0.0 <= low <= det["per_class"][name] <= high <= 1.0, name
        assert high > low  # a real interval, not a point
    low, high = det["map50_ci"]
    assert low <= det["map50"] <= high
    table = metrics_table(det, CLASSES).set_index("test metric")["value [95% CI]"]
    assert "[" in table["AP@0.5 mass"]  # the per-class row prints its interval


def test_froc_rates_beyond_the_test_curve_are_reported_as_not_reached():
    data, preds = _split()
    # keep only the high-scoring boxes: the curve ends inside the FROC rates, so some are read and some refused
    sparse = [{k: v[p["scores"] >= 0.5] for k, v in p.items()} for p in preds]
    det = evaluate_detections(data, score=0.3, test_preds=sparse, classes=CLASSES)
    reach = det["froc_max_fp_per_image"]
    assert FROC_RATES[0] < reach < FROC_RATES[-1] and det["froc_curve"][0][-1] == pytest.approx(reach)
    table = metrics_table(det, CLASSES).set_index("test metric")["value [95% CI]"]
    for rate in FROC_RATES:
        key, row = froc_key(rate), table[f"FROC sensitivity at {rate:g} FP/image"]
        if rate > reach:
            assert det["froc"][key] is None and det["froc_ci"][key] is None and row.startswith("not reached")
        else:
            assert det["froc"][key] is not None and row.startswith(f"{det['froc'][key]:.3f} [")


def test_froc_records_how_many_patient_resamples_reach_each_rate():
    from mammo_utils.detection.evaluate import N_BOOT
    from mammo_utils.detection.metrics import froc
    from mammo_utils.evaluation.metrics import cluster_members, cluster_resample

    data, preds = _split()
    sparse = [{k: v[p["scores"] >= 0.5] for k, v in p.items()} for p in preds]  # a curve ending inside the rates
    det = evaluate_detections(data, score=0.3, test_preds=sparse, classes=CLASSES)
    gt, rng = truth(data.test), np.random.default_rng(0)  # the same resamples as the intervals (seed 0)
    members = cluster_members(data.test.patient_id.to_numpy())
    draws = [cluster_resample(members, rng) for _ in range(N_BOOT)]
    curves = [froc([gt[i] for i in idx], [sparse[i] for i in idx]) for idx in draws]
    counts = [det["froc_reached"][froc_key(rate)]["reached"] for rate in FROC_RATES]
    assert counts == [sum(c[froc_key(rate)] is not None for c in curves) for rate in FROC_RATES]
    assert counts == sorted(counts, reverse=True) and 0 < counts[-1] < counts[0] == N_BOOT  # a higher rate, fewer
    assert {r["resamples"] for r in det["froc_reached"].values()} == {N_BOOT}


def test_the_table_names_the_operating_rate_of_the_breast_recall():
    data, preds = _split()
    det = evaluate_detections(data, score=0.3, test_preds=preds, classes=CLASSES)
    rows = metrics_table(det, CLASSES)["test metric"]
    assert rows.str.contains(f"set on validation for {OPERATING_FPI:g} FP/image", regex=False).sum() == 1


def test_headline_statistics_all_carry_intervals_including_the_end_of_the_froc_curve():
    data, preds = _split()
    det = evaluate_detections(data, score=0.3, test_preds=preds, classes=CLASSES)
    for key in (
        "map50_95",
        "map50_agnostic",
        "froc_end_sensitivity",
        "froc_max_fp_per_image",
        "operating_fp_per_image",
    ):
        low, high = det[f"{key}_ci"]
        assert low <= det[key] <= high and high > low, key
    assert det["operating_fp_per_image"] == pytest.approx(det["operating_point"]["fp"] / len(data.test))
    # the end of the curve counts every kept box: the recall at a score below every box's
    assert det["froc_end_sensitivity"] == pytest.approx(operating_point(truth(data.test), preds, 0.0)["recall"])
    assert det["froc_max_fp_per_image"] == pytest.approx(det["froc_curve"][0][-1])
    assert "end_sensitivity" not in det["froc"]  # the rates only: the end is a key of its own
    table = metrics_table(det, CLASSES).set_index("test metric")["value [95% CI]"]
    low, high = det["froc_end_sensitivity_ci"]
    assert table["FROC sensitivity where the test curve ends (every kept box)"] == (
        f"{det['froc_end_sensitivity']:.3f} [{low:.3f}, {high:.3f}]"
    )


def test_evaluate_json_carries_every_headline_interval():
    import json

    data, preds = _split()
    det = evaluate_detections(data, score=0.3, test_preds=preds, classes=CLASSES)
    out = json.loads(json.dumps(summary_json({"detector": det, "classifier": None})))
    for key in (
        "map50",
        "map50_95",
        "map50_agnostic",
        "froc_max_fp_per_image",
        "froc_end_sensitivity",
        "breast_recall",
    ):
        assert out[f"{key}_ci"] == pytest.approx(list(det[f"{key}_ci"])), key
    assert set(out["froc_ci"]) == set(out["froc"]) == {froc_key(r) for r in FROC_RATES}
    assert out["pointing_game"] is None  # no classifier scored
    assert out["breast_recall"] == pytest.approx(out["breast_recall_k"] / out["breast_recall_n"])


def test_seed_intervals_share_the_detailed_resamples_and_bracket_the_mean():
    data, good = _split(seed=0)
    gt, groups = truth(data.test), data.test.patient_id.to_numpy()
    weak = [{**p, "scores": p["scores"][::-1].copy()} for p in good]  # the same boxes, scores reversed: worse ranking
    ci = seed_intervals(gt, {0: good, 1: weak}, CLASSES, groups)
    det = evaluate_detections(data, score=0.3, test_preds=good, classes=CLASSES)
    assert ci[0]["test_map50_ci"] == pytest.approx(det["map50_ci"])  # the same patient resamples as the details
    assert ci[0]["test_map50_95_ci"] == pytest.approx(det["map50_95_ci"])
    points = {s: coco_map(gt, p, CLASSES) for s, p in ((0, good), (1, weak))}
    for s in (0, 1):
        low, high = ci[s]["test_map50_ci"]
        assert low <= points[s]["map50"] <= high and high > low
    mean = np.mean([points[s]["map50"] for s in (0, 1)])
    low, high = ci["mean"]["test_map50_ci"]
    assert low <= mean <= high
    # the mean of two correlated seeds varies no more than the wider of them
    assert high - low <= max(ci[s]["test_map50_ci"][1] - ci[s]["test_map50_ci"][0] for s in (0, 1)) + 1e-9
    rows = [
        seed_scores({"seed": s, "val": {"map50": 0.5 - s / 10, "map50_95": 0.2}}, points[s]) | ci[s] for s in (0, 1)
    ]
    summary = seed_summary(rows, ci["mean"])
    assert summary["test_map50"]["mean"] == pytest.approx(mean)
    assert summary["test_map50"]["mean_ci"] == ci["mean"]["test_map50_ci"]
    assert summary["test_map50_95"]["mean_ci"] == ci["mean"]["test_map50_95_ci"]
    shown = seed_table([{**r, "seconds_per_epoch": 1.0} for r in rows])["test mAP@0.5 [95% CI]"]
    assert (
        shown.iloc[1] == f"{points[1]['map50']:.3f} [{ci[1]['test_map50_ci'][0]:.3f}, {ci[1]['test_map50_ci'][1]:.3f}]"
    )
    with pytest.raises(ValueError, match="at least one seed"):
        seed_intervals(gt, {}, CLASSES, groups)


def test_box_fit_medians_carry_patient_intervals():
    data, preds = _split()
    gt, groups = truth(data.test), data.test.patient_id.to_numpy()
    fit = box_fit(gt, preds, groups)
    assert {k: fit[k] for k in ("median_iou", "median_area_ratio", "n")} == top_box_overlap(gt, preds)
    for key in ("median_iou", "median_area_ratio"):
        low, high = fit[f"{key}_ci"]
        assert low <= fit[key] <= high and high > low, key
    empty = [{**p, "boxes": np.zeros((0, 4)), "scores": np.zeros(0)} for p in preds]  # no top box anywhere
    assert box_fit(gt, empty, groups)["median_iou_ci"] is None


def test_pointing_game_intervals_resample_patients_with_a_fixed_seed():
    """Hit rate and margin: patient bootstrap (a patient's views move together), the same on a rerun."""
    from mammo_utils.evaluation.metrics import patient_share

    n = 20
    gt = [{"boxes": np.array([[10, 10, 20, 20]]), "classes": np.array([0])} for _ in range(n)]
    images = np.ones((n, 40, 40), np.float32)
    points = [(15, 15)] * 12 + [(30, 30)] * 8
    patients = np.repeat(np.arange(5), 4)  # 5 patients, 4 views each: hits cluster by patient
    out = pointing_summary(points, gt, images, patients)
    assert (out["hits"], out["n"], out["hit_rate"], out["patients"]) == (12, 20, 0.6, 5)
    assert out["interval"] == "patient bootstrap" and out == pointing_summary(points, gt, images, patients)
    assert out["hit_rate_ci"] == pytest.approx(patient_share(np.arange(n) < 12, patients)["ci"])
    low, high = out["margin_ci"]
    assert low == pytest.approx(out["hit_rate_ci"][0] - out["chance"]) and high > out["margin"] > low
    independent = pointing_summary(points, gt, images, np.arange(n))
    assert np.ptp(out["hit_rate_ci"]) > np.ptp(independent["hit_rate_ci"])  # clustered hits: a wider interval


def test_seed_summary_chooses_on_validation_and_reports_the_spread():
    rows = [
        {"seed": 0, "val_map50": 0.5, "val_map50_95": 0.2, "test_map50": 0.9, "test_map50_95": 0.4,
         "best_epoch": 10, "epochs_run": 15},
        {"seed": 1, "val_map50": 0.7, "val_map50_95": 0.3, "test_map50": 0.3, "test_map50_95": 0.1,
         "best_epoch": 12, "epochs_run": 17},
    ]  # fmt: skip
    out = seed_summary(rows)
    assert out["chosen_seed"] == 1  # best validation mAP, whatever test says
    assert out["test_map50"]["mean"] == pytest.approx(0.6)
    assert out["test_map50"]["sd"] == pytest.approx(np.std([0.9, 0.3], ddof=1))


def test_stop_reason_names_early_stops_and_budget_limits():
    assert stop_reason(7, 12, 30, 5).startswith("early stop")
    assert "still at its best" in stop_reason(30, 30, 30, 5)
    assert stop_reason(27, 30, 30, 5).startswith("epoch budget")
    assert "stayed at 0" in stop_reason(1, 30, 30, 5, best=0.0)


def _pointing_run(seed: int, hit_at: list[bool], n_images: int = 20) -> dict:
    """A seed's pointing summary from constructed Grad-CAM peaks: a hit at the box centre, else far from it."""
    gt = [{"boxes": np.array([[10, 10, 14, 14]]), "classes": np.array([0])} for _ in range(n_images)]
    images = np.ones((n_images, 40, 40), np.float32)  # the box covers 1% of the breast: chance 0.01
    points = [(12, 12) if hit else (35, 35) for hit in hit_at]
    return {"seed": seed, "run_name": f"arm_a_s{seed}", **pointing_summary(points, gt, images, np.arange(n_images))}


def test_pointing_verdict_over_seeds_holds_only_if_every_seed_beats_chance():
    from mammo_utils.detection.gradcam_seeds import beats_chance, pointing_over_seeds
    from mammo_utils.detection.tables import pointing_seed_table

    good = [_pointing_run(s, [True] * 15 + [False] * 5) for s in (2, 0)]
    weak = _pointing_run(1, [False] * 20)  # its peaks never land in a box: no better than chance
    assert all(beats_chance(r) for r in good) and not beats_chance(weak)
    all_good = pointing_over_seeds(good)
    assert all_good["all_beat_chance"] and all_good["seeds"] == [0, 2] and all_good["failing_seeds"] == []
    assert all_good["hit_rate"]["mean"] == pytest.approx(0.75) and all_good["hit_rate"]["sd"] == pytest.approx(0.0)
    mixed = pointing_over_seeds([*good, weak])
    assert not mixed["all_beat_chance"] and mixed["failing_seeds"] == [1] and mixed["beating_seeds"] == [0, 2]
    assert mixed["margin"]["min"] == pytest.approx(0.0 - 0.01) and mixed["n"] == 3
    table = pointing_seed_table(mixed).set_index("seed")
    assert table.loc[1, "beats chance"] == "no" and table.loc[0, "beats chance"] == "yes"
    assert table.loc[0, "hits / lesion images"] == "15 / 20"
    low, high = good[0]["hit_rate_ci"]
    assert table.loc[0, "hit rate [95% patient bootstrap]"] == f"0.750 [{low:.3f}, {high:.3f}]"
    assert not pointing_over_seeds([])["all_beat_chance"]
    # peaks off the breast split by lesion / lesion-free images: a spread over seeds and two columns per kind
    part = {"off": 3, "images": 10, "share": 0.3, "low": 0.1, "high": 0.6}
    split = [{**r, "off_breast": {**part, "lesion": part, "no_lesion": {**part, "share": 0.5}}} for r in good]
    over = pointing_over_seeds(split)
    assert over["off_breast_lesion_share"]["mean"] == pytest.approx(0.3)
    assert over["off_breast_no_lesion_share"]["max"] == pytest.approx(0.5)
    row = pointing_seed_table(over).set_index("seed").loc[0]
    assert row["peaks off breast / lesion images"] == "3 / 10"
    assert row["off-breast share, lesion-free images [95% patient bootstrap]"] == "0.500 [0.100, 0.600]"
    with pytest.raises(ValueError, match="seed"):
        pointing_over_seeds([{"hit_rate": 0.5}])


def test_an_arm_runs_are_found_from_one_run_name(tmp_path):
    from mammo_utils.modeling.experiments import arm_run_name, arm_seed_runs

    for name in (arm_run_name("tuned", 0), arm_run_name("tuned", 2), "arm_tuned_s2_pruned50", "arm_tuned_extra_s0"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model_info.json").write_text("{}")
    (tmp_path / arm_run_name("tuned", 1)).mkdir()  # unfinished: no model info
    found = arm_seed_runs("arm_tuned_s2", tmp_path)
    assert list(found) == [0, 2] and found[0].name == "arm_tuned_s0"
    assert arm_seed_runs("arm_tuned_s2_pruned50", tmp_path) == {} and arm_seed_runs("04_baseline", tmp_path) == {}


def test_nested_box_check_scores_validation_with_and_without_the_suppression():
    """A true box of one class nested in a higher-scoring wrong-class box: the suppression drops the hit, so its
    validation mAP falls, and the check counts the box it removed."""
    data, preds = _split()
    data = DetectionData(data.test.iloc[:0], data.test, data.test.iloc[:0], {}, cache=None)
    gt = truth(data.val)
    first = next(i for i, g in enumerate(gt) if len(g["boxes"]))
    box, cls = gt[first]["boxes"][0], int(gt[first]["classes"][0])
    preds[first] = {  # a wrong class around the lesion, scoring above the exact hit inside it
        "boxes": np.array([box + np.array([-6, -6, 6, 6]), box], np.float32),
        "scores": np.array([0.99, 0.9], np.float32),
        "classes": np.array([(cls + 1) % 3, cls]),
    }
    out = nested_box_check(data, preds, CLASSES)
    assert out["val_map50_kept"] == pytest.approx(coco_map(gt, preds, CLASSES)["map50"])
    assert out["boxes_removed"] >= 1 and out["boxes"] == sum(len(p["scores"]) for p in preds)
    assert out["val_map50_suppressed"] != out["val_map50_kept"]
    none = nested_box_check(data, [{k: v[:0] for k, v in p.items()} for p in preds], CLASSES)
    assert none["boxes_removed"] == 0 and none["boxes"] == 0


def test_nested_box_seeds_pairs_the_change_over_validation_patients_per_seed(monkeypatch):
    """Seed 0's wrong-class boxes wrap every hit (the suppression loses them: the change's interval lies below 0);
    seed 1 has nothing nested (no change on any resample)."""
    from types import SimpleNamespace

    from mammo_utils.detection import detector as D
    from mammo_utils.detection import evaluate as E

    data, preds = _split()
    data = DetectionData(
        data.test.iloc[:0], data.test, data.test.iloc[:0], {"val": np.zeros((len(data.test), 8, 8))}, None
    )
    wrapped = []
    for g, p in zip(truth(data.val), preds):
        if len(g["boxes"]):
            box, cls = g["boxes"][0], int(g["classes"][0])
            p = {"boxes": np.array([box + np.array([-6, -6, 6, 6]), box], np.float32),
                 "scores": np.array([0.99, 0.9], np.float32), "classes": np.array([(cls + 1) % 3, cls])}  # fmt: skip
        wrapped.append(p)
    plain = [{k: v[:0] for k, v in p.items()} for p in preds]
    models = {0: wrapped, 1: plain}
    monkeypatch.setattr(D, "load_detector", lambda folder: (folder, {"spec": SimpleNamespace(classes=CLASSES)}))
    monkeypatch.setattr(E, "predict_boxes", lambda model, images: models[model])
    out = E.nested_box_seeds([{"seed": 0, "folder": 0}, {"seed": 1, "folder": 1}], data, n=50)
    first, second = out["seeds"]
    assert first["difference"] < 0 and first["high"] < 0 and out["lower_on"] == [0]
    assert second["difference"] == 0 and second["boxes_removed"] == 0 and out["higher_on"] == []
    assert first["difference"] == pytest.approx(first["val_map50_suppressed"] - first["val_map50_kept"])
