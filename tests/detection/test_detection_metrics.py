"""Detection metrics: COCO AP at its extremes and on known rankings, FROC, breast recall, pointing game."""

from __future__ import annotations

import numpy as np
import pytest

from mammo_utils.detection.metrics import (
    FROC_RATES,
    OPERATING_FPI,
    agnostic,
    bootstrap_interval,
    bootstrap_intervals,
    breast_hits,
    breast_recall,
    cam_boxes,
    coco_map,
    froc,
    froc_key,
    iou_matrix,
    operating_point,
    pointing_game,
    resample_keys,
    score_at_fpi,
    top_box_overlap,
)


def _gt(rng, n_images=12, n_classes=3):
    out = []
    for _ in range(n_images):
        k = int(rng.integers(0, 3))
        xy = rng.uniform(0, 80, (k, 2))
        wh = rng.uniform(8, 30, (k, 2))
        out.append({"boxes": np.c_[xy, xy + wh], "classes": rng.integers(0, n_classes, k)})
    return out


def _pred(boxes, scores):
    return {"boxes": np.array(boxes, float), "scores": np.array(scores), "classes": np.zeros(len(scores), int)}


def test_iou_matrix_known_values():
    m = iou_matrix([[0, 0, 10, 10], [0, 0, 5, 10]], [[0, 0, 10, 10], [20, 20, 30, 30]])
    np.testing.assert_allclose(m, [[1.0, 0.0], [0.5, 0.0]])


def test_perfect_predictions_score_one_and_empty_ones_zero():
    gt = _gt(np.random.default_rng(0))
    perfect = [{"boxes": g["boxes"], "scores": np.ones(len(g["boxes"])), "classes": g["classes"]} for g in gt]
    result = coco_map(gt, perfect, ["a", "b", "c"])
    assert result["map50"] == pytest.approx(1.0) and result["map50_95"] == pytest.approx(1.0)
    assert all(v == pytest.approx(1.0) for v in result["per_class"].values())
    empty = [{"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "classes": np.zeros(0, int)} for _ in gt]
    assert coco_map(gt, empty, ["a", "b", "c"])["map50"] == 0.0


def test_ap_of_a_known_ranking():
    """Two lesions, three boxes: hit, false positive, hit -> COCO 101-point AP = (1 * 51 + 2/3 * 50) / 101."""
    gt = [{"boxes": np.array([[0, 0, 10, 10]]), "classes": np.array([0])},
          {"boxes": np.array([[50, 50, 60, 60]]), "classes": np.array([0])}]  # fmt: skip
    preds = [_pred([[0, 0, 10, 10], [30, 30, 40, 40]], [0.9, 0.8]), _pred([[50, 50, 60, 60]], [0.7])]
    assert coco_map(gt, preds)["map50"] == pytest.approx((51 + 50 * 2 / 3) / 101, abs=1e-6)


def test_wrong_class_or_poor_overlap_is_a_miss():
    gt = [{"boxes": np.array([[0, 0, 10, 10]]), "classes": np.array([1])}]
    wrong = [{"boxes": np.array([[0, 0, 10, 10]]), "scores": np.array([0.9]), "classes": np.array([0])}]
    assert coco_map(gt, wrong, ["a", "b"])["map50"] == 0.0
    assert coco_map(agnostic(gt), agnostic(wrong))["map50"] == pytest.approx(1.0)
    shifted = [{"boxes": np.array([[6, 0, 16, 10]]), "scores": np.array([0.9]), "classes": np.array([1])}]  # IoU 0.25
    assert coco_map(gt, shifted, ["a", "b"])["map50"] == 0.0


def test_froc_and_operating_point():
    gt = [
        {"boxes": np.array([[0, 0, 10, 10]]), "classes": np.array([0])},
        {"boxes": np.zeros((0, 4)), "classes": np.zeros(0)},
    ]
    preds = [_pred([[0, 0, 10, 10], [40, 40, 50, 50]], [0.5, 0.9]), _pred([[5, 5, 9, 9]], [0.8])]
    # ranking: FP (0.9), FP (0.8), TP (0.5): sensitivity 0 until 1 FP/image, then 1; the curve ends at 1 FP/image
    result = froc(gt, preds, rates=(0.5, 1.0, 2.0))
    assert result["sens@0.5fp"] == 0.0 and result["sens@1fp"] == 1.0
    assert result["max_fp_per_image"] == pytest.approx(1.0)
    assert result["sens@2fp"] is None  # beyond the measured curve: refused, not the last value carried forward
    assert score_at_fpi(gt, preds, 0.5) == pytest.approx(0.9)
    assert breast_recall(gt, preds, [("p", "L"), ("p", "R")], threshold=0.5) == 1.0
    point = operating_point(gt, preds, threshold=0.5)
    assert (point["tp"], point["fp"], point["lesions"]) == (1, 2, 1) and point["precision"] == pytest.approx(1 / 3)
    assert point["recall"] == 1.0 and point["mean_iou"] == 1.0
    assert operating_point(gt, preds, threshold=0.85)["recall"] == 0.0
    assert breast_recall(gt, preds, [("p", "L"), ("p", "R")], threshold=0.6) == 0.0


def test_top_box_overlap():
    gt = [{"boxes": np.array([[0, 0, 10, 10]]), "classes": np.array([0])}, {"boxes": np.zeros((0, 4)), "classes": []}]
    preds = [_pred([[0, 0, 20, 20], [0, 0, 10, 10]], [0.9, 0.1]), _pred([[1, 1, 2, 2]], [0.5])]
    out = top_box_overlap(gt, preds)  # the top box (0.9) is 4x the lesion and covers it: IoU 0.25
    assert out == {"median_iou": pytest.approx(0.25), "median_area_ratio": pytest.approx(4.0), "n": 1}


def test_pointing_game_and_chance():
    gt = [{"boxes": np.array([[0, 0, 10, 10]]), "classes": np.array([0])}]
    region = np.zeros((20, 20), bool)
    region[:, :10] = True  # the breast is the left half: the box covers half of it
    hit = pointing_game([(5, 5)], gt, [region])
    miss = pointing_game([(15, 15)], gt, [region])
    assert hit["hits"].tolist() == [True] and miss["hits"].tolist() == [False]
    assert hit["chance"].tolist() == [pytest.approx(0.5)]


def test_cam_boxes_find_each_hot_region():
    heat = np.zeros((40, 40), np.float32)
    heat[5:10, 5:12] = 1.0
    heat[30:35, 20:25] = 0.8
    heat[20, 20] = 0.3  # below half the peak: ignored
    out = cam_boxes(heat, score=0.5)
    assert sorted(map(tuple, out["boxes"].tolist())) == [(5, 5, 12, 10), (20, 30, 25, 35)]
    assert sorted(out["scores"].tolist()) == pytest.approx([0.4, 0.5])


def test_bootstrap_interval_brackets_the_statistic():
    values = np.r_[np.zeros(50), np.ones(50)]
    low, high = bootstrap_interval(lambda idx: values[idx].mean(), np.arange(100), n=300)
    assert 0.35 < low < 0.5 < high < 0.65


def test_froc_refuses_rates_beyond_the_measured_curve():
    """A detector with few boxes reaches only a low FP/image: every rate past it is None, never a plateau."""
    gt = [{"boxes": np.array([[0, 0, 10, 10]]), "classes": np.array([0])} for _ in range(4)]
    preds = [_pred([[0, 0, 10, 10]], [0.9]), _pred([[30, 30, 40, 40]], [0.8]), _pred([], []), _pred([], [])]
    result = froc(gt, preds, rates=(0.5, 1.0, 2.0))  # one FP over 4 images: the curve ends at 0.25 FP/image
    assert result["max_fp_per_image"] == pytest.approx(0.25)
    assert result["sens@0.5fp"] is None and result["sens@1fp"] is None and result["sens@2fp"] is None
    # the default rates: those up to the end are read on the curve, the ones past it refused
    default = froc(gt, preds)
    assert set(default) >= {froc_key(r) for r in FROC_RATES}
    assert all((default[froc_key(r)] is None) == (r > 0.25) for r in FROC_RATES)
    assert froc(gt, preds, rates=(0.25,))["sens@0.25fp"] == pytest.approx(0.25)
    # where the curve ends, every kept box counts: 1 of the 4 lesions found (the second box misses its lesion)
    assert result["end_sensitivity"] == pytest.approx(0.25)
    preds[2] = _pred([[0, 0, 10, 10]], [0.1])  # a low-scoring hit moves the end, not the FP count
    assert froc(gt, preds)["end_sensitivity"] == pytest.approx(0.5) and froc(gt, preds)["max_fp_per_image"] == 0.25


def _short_curve(n_images: int = 200, n_fp: int = 92, floor: float = 0.0101, seed: int = 0):
    """Validation-like images whose FROC curve ends at ``n_fp / n_images`` FP/image (0.46 by default), as the small
    detector's does: half the images hold a lesion, 80% of lesions are found, the lowest kept score is ``floor``."""
    rng = np.random.default_rng(seed)
    gt = [
        {"boxes": np.array([[10.0, 10, 30, 30]]), "classes": np.zeros(1, int)}
        if i < n_images // 2
        else {"boxes": np.zeros((0, 4)), "classes": np.zeros(0, int)}
        for i in range(n_images)
    ]
    boxes = [[] for _ in range(n_images)]
    scores = [[] for _ in range(n_images)]
    for i in range(int(0.8 * n_images // 2)):  # hits, ranked above most false positives
        boxes[i].append([10, 10, 30, 30])
        scores[i].append(rng.uniform(0.2, 1.0))
    fp_scores = np.r_[floor, rng.uniform(floor, 0.6, n_fp - 1)]  # the lowest-scoring box is a false positive
    for k, image in enumerate(rng.integers(0, n_images, n_fp)):
        boxes[image].append([60, 60, 70, 70])
        scores[image].append(fp_scores[k])
    preds = [_pred(b, s) for b, s in zip(boxes, scores)]
    return gt, preds


def test_default_froc_rates_and_operating_rate_lie_inside_a_curve_ending_short_of_half_a_false_positive():
    """The small detector's validation curve ends near 0.46 FP/image: every default FROC rate is read on such a curve,
    and the operating score is a point on it, above the detector's score floor (not the floor a target past the end
    falls to)."""
    floor = 0.0101
    gt, preds = _short_curve(floor=floor)
    assert list(FROC_RATES) == sorted(FROC_RATES) and OPERATING_FPI in FROC_RATES
    result = froc(gt, preds)
    assert result["max_fp_per_image"] == pytest.approx(0.46)
    values = [result[froc_key(r)] for r in FROC_RATES]
    assert None not in values and values == sorted(values) and 0 < values[0] < values[-1] <= result["end_sensitivity"]
    score = score_at_fpi(gt, preds)  # the default rate: OPERATING_FPI
    assert score > floor
    fp_per_image = operating_point(gt, preds, score)["fp"] / len(gt)
    assert OPERATING_FPI - 1 / len(gt) <= fp_per_image <= OPERATING_FPI  # on the curve, at the target
    assert operating_point(gt, preds, score)["recall"] == pytest.approx(result[froc_key(OPERATING_FPI)])
    # a target past the curve's end (the former 1 FP/image) falls to the floor: every kept box counted
    assert score_at_fpi(gt, preds, 1.0) == pytest.approx(floor)


def test_bootstrap_intervals_share_resamples_and_skip_undefined_values():
    values = np.r_[np.zeros(50), np.ones(50)]
    out = bootstrap_intervals(lambda idx: {"mean": values[idx].mean(), "never": None}, np.arange(100), n=300)
    assert 0.35 < out["mean"][0] < 0.5 < out["mean"][1] < 0.65
    assert out["never"] is None


def test_breast_recall_interval_is_a_patient_bootstrap_counting_each_drawn_copy():
    """The interval resamples patients with multiplicity: it equals a direct bootstrap of per-patient counts."""
    from mammo_utils.evaluation.metrics import cluster_members

    n_patients, thr = 30, 0.5
    hit_box, miss_box = _pred([[0, 0, 10, 10]], [0.9]), _pred([[50, 50, 60, 60]], [0.9])
    lesion = {"boxes": np.array([[0, 0, 10, 10]]), "classes": np.array([0])}
    gt, preds, breasts, groups = [], [], [], []
    for pid in range(n_patients):
        for side in ("L", "R"):
            for _view in ("CC", "MLO"):  # two views of one breast: one breast, not two
                gt.append(lesion)
                preds.append(miss_box if (pid < 4 and side == "L") else hit_box)
                breasts.append((pid, side))
                groups.append(pid)
    hits = breast_hits(gt, preds, breasts, thr)
    assert (sum(hits.values()), len(hits)) == (56, 60)

    def statistic(idx):
        return {"r": breast_recall([gt[i] for i in idx], [preds[i] for i in idx], resample_keys(idx, breasts), thr)}

    low, high = bootstrap_intervals(statistic, groups, n=200, seed=3)["r"]
    # direct: draw patients with the same generator, count every drawn patient's two breasts
    rng, members = np.random.default_rng(3), cluster_members(groups)
    per_patient = np.array([2 - (pid < 4) for pid in range(n_patients)])
    direct = [per_patient[rng.integers(0, len(members), len(members))].sum() / (2 * n_patients) for _ in range(200)]
    assert (low, high) == pytest.approx((np.quantile(direct, 0.025), np.quantile(direct, 0.975)))
    # keyed by breast alone, repeated patients merge and the resample shrinks to its distinct breasts
    merged = bootstrap_intervals(
        lambda idx: {"r": breast_recall([gt[i] for i in idx], [preds[i] for i in idx], [breasts[i] for i in idx], thr)},
        groups,
        n=200,
        seed=3,
    )["r"]
    assert merged != pytest.approx((low, high))
