# Size: COCO mAP, FROC and the pointing game share the matching of detections to boxes and one resampling.
"""Detection metrics: IoU, COCO mAP (pycocotools), FROC, per-breast recall, pointing game, intervals.

Ground truth and predictions are lists with one entry per image:

- ground truth: ``{"boxes": (K, 4) xyxy, "classes": (K,)}``;
- predictions: ``{"boxes": (M, 4) xyxy, "scores": (M,), "classes": (M,)}``.

AP is computed by pycocotools (101-point interpolated precision, the COCO definition) so it matches published
numbers; mAP@0.5 is COCO's ``AP50`` and mAP@[.5:.95] its headline ``AP``. FROC follows mammography CAD papers:
sensitivity (share of lesions hit at IoU >= 0.5, class-agnostic) against mean false positives per image, read
at :data:`FROC_RATES` where the measured curve reaches them (None where it does not); the detector's operating
point is :data:`OPERATING_FPI` false positives per image on validation.

Example:
    >>> gt = [{"boxes": np.array([[10, 10, 30, 30]]), "classes": np.array([0])}]
    >>> pred = {"boxes": np.array([[10, 10, 30, 30]]), "scores": np.array([0.9]), "classes": np.array([0])}
    >>> round(coco_map(gt, [pred])["map50"], 6)
    1.0
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence

import numpy as np

from .boxes import box_mask

#: False positives per image at which FROC sensitivity is read. The detector keeps its top boxes above a score
#: floor, so its measured curve ends at a finite FP/image (the small profile's validation and test curves end a
#: little short of half a false positive per image): the rates lie inside that range, and a rate past a curve's end
#: is still reported as not reached (None), never read off a plateau.
FROC_RATES: tuple[float, ...] = (0.1, 0.25, 0.4)
#: False positives per image at the operating point (chosen on validation, used on test and by the service): one
#: of :data:`FROC_RATES`, inside the measured validation curves, so the operating score is a point on the curve
#: and not the detector's score floor.
OPERATING_FPI: float = 0.25


def froc_key(rate: float) -> str:
    """The key of FROC sensitivity at ``rate`` FP/image in :func:`froc`'s result (``0.25`` -> ``"sens@0.25fp"``)."""
    return f"sens@{rate:g}fp"


def iou_matrix(a, b) -> np.ndarray:
    """IoU of every pair of ``xyxy`` boxes: ``(len(a), len(b))``."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _to_coco(gt: Sequence[dict], preds: Sequence[dict], n_classes: int):
    from pycocotools.coco import COCO

    def xywh(b):
        b = np.asarray(b, float).reshape(-1, 4)
        return np.c_[b[:, :2], b[:, 2:] - b[:, :2]]

    images, annotations, detections = [], [], []
    for i, (g, p) in enumerate(zip(gt, preds)):
        images.append({"id": i, "width": 1, "height": 1})
        for box, cls in zip(xywh(g["boxes"]), np.asarray(g["classes"]).reshape(-1)):
            ann_id = len(annotations) + 1
            annotations.append(
                {
                    "id": ann_id,
                    "image_id": i,
                    "category_id": int(cls),
                    "bbox": box.tolist(),
                    "area": float(box[2] * box[3]),
                    "iscrowd": 0,
                }  # fmt: skip
            )
        for box, score, cls in zip(xywh(p["boxes"]), np.asarray(p["scores"]), np.asarray(p["classes"]).reshape(-1)):
            detections.append({"image_id": i, "category_id": int(cls), "bbox": box.tolist(), "score": float(score)})
    coco = COCO()
    coco.dataset = {"images": images, "annotations": annotations, "categories": [{"id": k} for k in range(n_classes)]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco, detections


def coco_map(gt: Sequence[dict], preds: Sequence[dict], class_names: Sequence[str] | None = None) -> dict:
    """COCO box AP of predictions against ground truth (pycocotools).

    Args:
        gt: Ground truth per image.
        preds: Predictions per image (same order).
        class_names: Names of class ids 0..K-1 (default: ids as strings, K from the data).

    Returns:
        ``{"map50", "map50_95", "per_class": {name: AP@0.5}}``; a class with no ground-truth box is left out of
        the mean (NaN in ``per_class``); no ground truth at all gives NaN; no predictions give 0.

    Raises:
        ValueError: ``gt`` and ``preds`` differ in length.
    """
    from pycocotools.cocoeval import COCOeval

    if len(gt) != len(preds):
        raise ValueError(f"coco_map: {len(gt)} ground-truth images but {len(preds)} prediction entries")
    ids = [np.asarray(x["classes"]).reshape(-1) for x in list(gt) + list(preds)]
    n_classes = len(class_names) if class_names else int(max([c.max() for c in ids if c.size] + [0]) + 1)
    names = list(class_names) if class_names else [str(k) for k in range(n_classes)]
    gt_coco, detections = _to_coco(gt, preds, n_classes)
    present = [k for k in range(n_classes) if gt_coco.getAnnIds(catIds=[k])]
    if not present:
        return {"map50": float("nan"), "map50_95": float("nan"), "per_class": {n: float("nan") for n in names}}
    if not detections:
        return {"map50": 0.0, "map50_95": 0.0, "per_class": {n: 0.0 if k in present else float("nan")
                                                               for k, n in enumerate(names)}}  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt_coco.loadRes(detections)
        ev = COCOeval(gt_coco, dt, "bbox")
        ev.params.catIds = present
        ev.params.maxDets = [1, 10, 100]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    precision = ev.eval["precision"]  # [iou thresholds, recall points, classes, area ranges, max dets]
    per_class = {n: float("nan") for n in names}
    for j, k in enumerate(present):
        p = precision[0, :, j, 0, -1]
        per_class[names[k]] = float(p[p > -1].mean()) if (p > -1).any() else 0.0
    return {"map50": float(max(ev.stats[1], 0.0)), "map50_95": float(max(ev.stats[0], 0.0)), "per_class": per_class}


def agnostic(entries: Sequence[dict]) -> list[dict]:
    """The same boxes with every class set to 0 (lesion vs background), for class-agnostic AP and FROC."""
    return [{**e, "classes": np.zeros(len(np.asarray(e["boxes"]).reshape(-1, 4)), int)} for e in entries]


def _match(g: dict, p: dict, iou: float, threshold: float | None = None):
    """Greedy class-agnostic matching in one image, highest score first; each lesion is hit at most once.

    Returns:
        ``(scores, hits, overlaps)`` per kept prediction in score order (``overlaps``: IoU with the lesion it hit).
    """
    gb = np.asarray(g["boxes"]).reshape(-1, 4)
    pb = np.asarray(p["boxes"]).reshape(-1, 4)
    ps = np.asarray(p["scores"], float).reshape(-1)
    if threshold is not None:
        pb, ps = pb[ps >= threshold], ps[ps >= threshold]
    order = np.argsort(-ps, kind="stable")
    taken = np.zeros(len(gb), bool)
    m = iou_matrix(pb, gb)
    hits, overlaps = [], []
    for i in order:
        j = int(np.argmax(np.where(taken, -1, m[i]))) if len(gb) else -1
        ok = j >= 0 and not taken[j] and m[i, j] >= iou
        if ok:
            taken[j] = True
        hits.append(ok)
        overlaps.append(m[i, j] if ok else 0.0)
    return ps[order], np.asarray(hits, bool), np.asarray(overlaps, float)


def _hits(gt: Sequence[dict], preds: Sequence[dict], iou: float):
    """Pooled class-agnostic matching over images: per prediction (score, is_hit)."""
    matched = [_match(g, p, iou) for g, p in zip(gt, preds)]
    if not matched:
        return np.zeros(0), np.zeros(0, bool)
    return np.concatenate([m[0] for m in matched]).astype(float), np.concatenate([m[1] for m in matched]).astype(bool)


def froc(gt: Sequence[dict], preds: Sequence[dict], rates: Sequence[float] = FROC_RATES, iou: float = 0.5) -> dict:
    """FROC: lesion sensitivity at given mean false positives per image (class-agnostic, IoU >= ``iou``).

    The curve is measured only as far as the detector's boxes reach: with every kept box counted, it ends at some
    FP/image (``max_fp_per_image``). A rate beyond that end is **not reached** and gives None, never the last
    measured sensitivity carried forward (what a lower score threshold would find there is unknown).

    Args:
        gt: Ground truth per image (images without lesions count for false positives).
        preds: Predictions per image.
        rates: FP/image operating points.
        iou: Hit criterion.

    Returns:
        ``{"sens@0.5fp": s, ...}`` (None beyond the measured range, NaN without lesions), ``max_fp_per_image``,
        ``end_sensitivity`` (the sensitivity where the curve ends: every kept box counted; NaN without lesions)
        and ``curve``: ``(fp_per_image, sensitivity)`` arrays.

    Example:
        >>> gt = [{"boxes": [[0, 0, 10, 10]], "classes": [0]}, {"boxes": [[0, 0, 10, 10]], "classes": [0]}]
        >>> preds = [{"boxes": [[0, 0, 10, 10], [20, 20, 30, 30]], "scores": [0.9, 0.5], "classes": [0, 0]},
        ...          {"boxes": np.zeros((0, 4)), "scores": [], "classes": []}]
        >>> out = froc(gt, preds, rates=(0.5, 1.0))
        >>> out["sens@0.5fp"], out["sens@1fp"], out["max_fp_per_image"], out["end_sensitivity"]
        (0.5, None, 0.5, 0.5)
    """
    n_lesions = sum(len(np.asarray(g["boxes"]).reshape(-1, 4)) for g in gt)
    scores, hit = _hits(gt, preds, iou)
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(hit[order])
    fp = np.cumsum(~hit[order])
    fpi = np.r_[0.0, fp / max(len(gt), 1)]
    sens = np.r_[0.0, tp / n_lesions] if n_lesions else np.full(len(fpi), np.nan)
    reach = float(fpi[-1])
    out: dict = {}
    for r in rates:
        if not n_lesions:
            out[froc_key(r)] = float("nan")
        else:
            out[froc_key(r)] = float(sens[fpi <= r].max()) if r <= reach + 1e-12 else None
    out["max_fp_per_image"] = reach
    out["end_sensitivity"] = float(sens[-1])
    out["curve"] = (fpi, sens)
    return out


def score_at_fpi(gt: Sequence[dict], preds: Sequence[dict], rate: float = OPERATING_FPI, iou: float = 0.5) -> float:
    """Lowest score threshold whose mean false positives per image stay <= ``rate`` (an operating point).

    Choose it on validation images and apply it to test images. When the measured curve ends before ``rate`` (every
    kept box counted), this is the lowest score the detector keeps: the curve's end, not a point at ``rate``.

    Args:
        gt: Ground truth per image.
        preds: Predictions per image.
        rate: Target mean false positives per image.
        iou: Hit criterion.

    Returns:
        The score threshold (1.0 without any box).

    Example:
        >>> gt = [{"boxes": [[0, 0, 10, 10]], "classes": [0]}, {"boxes": np.zeros((0, 4)), "classes": []}]
        >>> preds = [{"boxes": [[0, 0, 10, 10]], "scores": [0.6], "classes": [0]},
        ...          {"boxes": [[5, 5, 9, 9]], "scores": [0.8], "classes": [0]}]
        >>> score_at_fpi(gt, preds, 0.5)
        0.6
    """
    scores, hit = _hits(gt, preds, iou)
    if not len(scores):
        return 1.0
    order = np.argsort(-scores, kind="stable")
    fpi = np.cumsum(~hit[order]) / max(len(gt), 1)
    ok = np.flatnonzero(fpi <= rate)
    return float(scores[order][ok[-1]]) if len(ok) else float(scores[order][0]) + 1e-6


def operating_point(gt: Sequence[dict], preds: Sequence[dict], threshold: float, iou: float = 0.5) -> dict:
    """Precision, recall and mean IoU of the boxes scoring >= ``threshold`` (class-agnostic, hit at IoU >= ``iou``).

    Returns:
        ``{"precision", "recall", "mean_iou", "tp", "fp", "lesions"}`` (``mean_iou`` over the hits; NaN without any).
    """
    tp = fp = lesions = 0
    ious = []
    for g, p in zip(gt, preds):
        lesions += len(np.asarray(g["boxes"]).reshape(-1, 4))
        _, hits, overlaps = _match(g, p, iou, threshold)
        tp += int(hits.sum())
        fp += int((~hits).sum())
        ious.extend(overlaps[hits])
    return {
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": tp / lesions if lesions else float("nan"),
        "mean_iou": float(np.mean(ious)) if ious else float("nan"),
        "tp": tp,
        "fp": fp,
        "lesions": lesions,
    }


def top_box_overlap(gt: Sequence[dict], preds: Sequence[dict]) -> dict:
    """How each image's top-scoring box sits on its lesion: median IoU and median area ratio (top box / lesion box).

    Only images with a lesion and at least one box count; the lesion compared is the one the top box overlaps most.

    Returns:
        ``{"median_iou", "median_area_ratio", "n"}`` (NaN when no image counts).
    """
    ious, ratios = [], []
    for g, p in zip(gt, preds):
        gb = np.asarray(g["boxes"], float).reshape(-1, 4)
        pb = np.asarray(p["boxes"], float).reshape(-1, 4)
        if not len(gb) or not len(pb):
            continue
        top = pb[int(np.argmax(np.asarray(p["scores"], float).reshape(-1)))]
        overlaps = iou_matrix(top[None], gb)[0]
        j = int(np.argmax(overlaps))
        ious.append(overlaps[j])
        ratios.append(np.prod(top[2:] - top[:2]) / max(np.prod(gb[j, 2:] - gb[j, :2]), 1e-9))
    if not ious:
        return {"median_iou": float("nan"), "median_area_ratio": float("nan"), "n": 0}
    return {"median_iou": float(np.median(ious)), "median_area_ratio": float(np.median(ratios)), "n": len(ious)}


def breast_hits(
    gt: Sequence[dict], preds: Sequence[dict], breasts: Sequence, threshold: float, iou: float = 0.5
) -> dict:
    """Per breast with a lesion: is at least one of its lesions hit by a box scoring >= ``threshold``?

    Args:
        gt: Ground truth per image.
        preds: Predictions per image.
        breasts: Breast key per image (e.g. ``(patient_id, laterality)``; in a bootstrap resample use
            :func:`resample_keys` so that each copy of a patient counts as its own breasts).
        threshold: Operating score (see :func:`score_at_fpi`).
        iou: Hit criterion.

    Returns:
        ``{breast key: hit}`` over the breasts with at least one lesion box.
    """
    found: dict = {}
    for g, p, key in zip(gt, preds, breasts):
        gb = np.asarray(g["boxes"]).reshape(-1, 4)
        if not len(gb):
            continue
        keep = np.asarray(p["scores"]).reshape(-1) >= threshold
        m = iou_matrix(np.asarray(p["boxes"]).reshape(-1, 4)[keep], gb)
        found[key] = found.get(key, False) or bool((m >= iou).any())
    return found


def breast_recall(
    gt: Sequence[dict], preds: Sequence[dict], breasts: Sequence, threshold: float, iou: float = 0.5
) -> float:
    """Share of breasts with a lesion where at least one lesion is hit by a box scoring >= ``threshold``.

    Args:
        gt: Ground truth per image.
        preds: Predictions per image.
        breasts: Breast key per image (see :func:`breast_hits`).
        threshold: Operating score (see :func:`score_at_fpi`).
        iou: Hit criterion.

    Returns:
        Recall over breasts with at least one box (NaN if none).
    """
    found = breast_hits(gt, preds, breasts, threshold, iou)
    return float(np.mean(list(found.values()))) if found else float("nan")


def resample_keys(idx: Sequence[int], keys: Sequence) -> list[tuple]:
    """Keys of a patient-bootstrap resample's rows, tagged by which copy of their patient drew them.

    A patient drawn twice brings its breasts twice; keyed by breast alone the copies would merge into one, and the
    resample would count distinct breasts instead of the drawn ones. The j-th draw of a patient holds the j-th
    occurrence of each of its rows, so ``(key, j)`` separates the copies and keeps a breast's views together.

    Args:
        idx: Row indices of the resample (whole patients, with repeats).
        keys: Key per row of the full set (e.g. ``(patient_id, laterality)``).

    Returns:
        ``(key, copy)`` per row of ``idx``.

    Example:
        >>> resample_keys([0, 1, 0, 1, 2], ["a", "a", "b"])
        [('a', 0), ('a', 0), ('a', 1), ('a', 1), ('b', 0)]
    """
    seen: dict = {}
    out = []
    for i in idx:
        copy = seen.get(i, 0)
        seen[i] = copy + 1
        out.append((keys[i], copy))
    return out


def pointing_game(points: Sequence[tuple[int, int]], gt: Sequence[dict], regions: Sequence[np.ndarray]) -> dict:
    """Pointing game: does a map's peak fall inside a lesion box, and how often would chance do so?

    Args:
        points: ``(row, column)`` of each image's peak.
        gt: Ground truth per image (images without boxes are skipped).
        regions: Boolean masks of where a pointer could land by chance (the breast), per image.

    Returns:
        ``{"hits": (n,) bool, "chance": (n,) float}`` for the images with boxes, chance being the share of the
        region covered by the boxes.
    """
    hits, chance = [], []
    for (r, c), g, region in zip(points, gt, regions):
        boxes = np.asarray(g["boxes"]).reshape(-1, 4)
        if not len(boxes):
            continue
        inside = ((boxes[:, 0] <= c) & (c < boxes[:, 2]) & (boxes[:, 1] <= r) & (r < boxes[:, 3])).any()
        mask = box_mask(boxes, region.shape)
        hits.append(bool(inside))
        chance.append(float((mask & region).sum() / max(region.sum(), 1)))
    return {"hits": np.asarray(hits, bool), "chance": np.asarray(chance, float)}


def cam_boxes(heat: np.ndarray, score: float, level: float = 0.5) -> dict:
    """Boxes around the connected regions of a heat-map above ``level`` x its peak (CAM-to-box).

    Each region's score is ``score`` (the classifier's probability) times the region's peak, so the classifier's
    localisation is ranked like a detector's and scored by :func:`coco_map`.

    Returns:
        A prediction entry ``{"boxes", "scores", "classes"}`` (class 0: lesion).
    """
    import cv2

    heat = np.asarray(heat, np.float32)
    if heat.max() <= 0:
        return {"boxes": np.zeros((0, 4), np.float32), "scores": np.zeros(0, np.float32), "classes": np.zeros(0, int)}
    binary = (heat >= level * heat.max()).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    boxes, scores = [], []
    for k in range(1, n):
        x, y, w, h = stats[k, :4]
        boxes.append([x, y, x + w, y + h])
        scores.append(score * float(heat[labels == k].max()))
    return {
        "boxes": np.asarray(boxes, np.float32),
        "scores": np.asarray(scores, np.float32),
        "classes": np.zeros(len(boxes), int),
    }


def bootstrap_interval(values_fn, groups, n: int = 200, seed: int = 0, alpha: float = 0.05) -> tuple[float, float]:
    """Patient-level percentile interval of any statistic of a set of images.

    Args:
        values_fn: Callable taking row indices (a resample, with repeats) and returning a float.
        groups: Patient id per image.
        n: Resamples.
        seed: Random seed.
        alpha: 0.05 for 95%.

    Returns:
        ``(low, high)`` (NaN when every resample is undefined).
    """
    from ..evaluation.metrics import cluster_bootstrap

    def finite(idx):
        value = values_fn(idx)
        return value if np.isfinite(value) else None  # an undefined resample (e.g. no lesion) is skipped

    return cluster_bootstrap(finite, groups, n, seed, alpha)


def bootstrap_intervals(
    values_fn, groups, n: int = 200, seed: int = 0, alpha: float = 0.05, counts: bool = False
) -> dict | tuple[dict, dict]:
    """Patient-level percentile intervals of several statistics from one set of resamples.

    Args:
        values_fn: Callable taking row indices (a resample, with repeats) and returning ``{name: float}``.
        groups: Patient id per image.
        n: Resamples.
        seed: Random seed.
        alpha: 0.05 for 95%.
        counts: Also return how many resamples defined each statistic.

    Returns:
        ``{name: (low, high)}``; a resample where a statistic is undefined (None or NaN, e.g. no lesion of a class,
        a FROC rate past the resample's curve) is skipped for that statistic, and one never defined gives None.
        With ``counts``: ``(intervals, {name: resamples that defined it})``.

    Example:
        >>> ci, used = bootstrap_intervals(lambda i: {"a": 1.0, "b": None}, [0, 1], n=5, counts=True)
        >>> ci["b"], used
        (None, {'a': 5, 'b': 0})
    """
    from ..evaluation.metrics import cluster_members, cluster_resample

    rng = np.random.default_rng(seed)
    members = cluster_members(groups)
    values: dict[str, list[float]] = {}
    for _ in range(n):
        for name, value in values_fn(cluster_resample(members, rng)).items():
            values.setdefault(name, [])
            if value is not None and np.isfinite(value):
                values[name].append(float(value))
    intervals = {
        name: (float(np.quantile(v, alpha / 2)), float(np.quantile(v, 1 - alpha / 2))) if v else None
        for name, v in values.items()
    }
    return (intervals, {name: len(v) for name, v in values.items()}) if counts else intervals
