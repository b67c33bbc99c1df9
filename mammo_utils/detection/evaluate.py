# Size: the detector's test metrics, every seed's test intervals and Grad-CAM's share one patient resampling.
"""Score localisation on the test patients: the detector's boxes and the classifier's Grad-CAM, on one table.

- Detector: COCO mAP@0.5 and mAP@[.5:.95] with per-class AP, class-agnostic AP, FROC sensitivity at
  :data:`~mammo_utils.detection.metrics.FROC_RATES` false positives per image (and where the measured curve ends),
  per-breast recall at the operating score chosen on validation
  (:data:`~mammo_utils.detection.metrics.OPERATING_FPI` FP/image), and the pointing game of its top box's centre.
- Classifier: Grad-CAM's peak in the pointing game, and CAM-to-box boxes scored with the same class-agnostic AP.
- Every headline number carries a patient-level bootstrap 95% interval (whole patients resampled), each seed's
  test mAP too (:func:`score_seeds`).

The pointing game's chance rate is the share of the breast covered by the lesion boxes: a pointer dropped at a
random breast pixel hits a box that often.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import Config
from ..evaluation.metrics import SHARE_RESAMPLES
from .detector import AGNOSTIC_OVERLAP, predict_boxes, suppress_overlaps
from .metrics import (
    agnostic,
    bootstrap_interval,
    bootstrap_intervals,
    breast_hits,
    breast_recall,
    cam_boxes,
    coco_map,
    froc,
    operating_point,
    pointing_game,
    resample_keys,
    top_box_overlap,
)
from .train import DetectionData, truth

#: Bootstrap resamples of the detection intervals.
N_BOOT = 200
#: Grey level above which a cached pixel counts as breast (the chance region of the pointing game).
BREAST_LEVEL = 0.05


def _subset(entries: list[dict], idx: np.ndarray) -> list[dict]:
    return [entries[i] for i in idx]


def box_centre_points(preds: list[dict], size: tuple[int, int]) -> list[tuple[int, int]]:
    """(row, column) of each image's top-scoring box centre (image centre when there is no box)."""
    out = []
    for p in preds:
        boxes = np.asarray(p["boxes"]).reshape(-1, 4)
        if len(boxes):
            x0, y0, x1, y1 = boxes[0]
            out.append((int((y0 + y1) / 2), int((x0 + x1) / 2)))
        else:
            out.append((size[0] // 2, size[1] // 2))
    return out


def pointing_summary(points, gt: list[dict], images: np.ndarray, groups, n_boot: int = SHARE_RESAMPLES) -> dict:
    """Pointing-game hit rate, chance rate and their difference, with 95% patient-bootstrap intervals.

    Args:
        points: Peak ``(row, column)`` per image.
        gt: Ground truth per image.
        images: ``(N, H, W)`` images (their breast region is the chance region).
        groups: Patient id per image.
        n_boot: Resamples of whole patients (fixed seed 0, so a rebuild repeats the intervals).

    Returns:
        ``hits`` (count), ``n`` images with a lesion, ``hit_rate`` = hits/n with ``hit_rate_ci``, ``chance``,
        ``margin`` = hit rate - chance with ``margin_ci`` (both intervals from the same patient resamples; a point
        when every resample agrees, e.g. all hits), ``patients`` (with a lesion image), ``resamples`` and
        ``interval`` ("patient bootstrap").
    """
    regions = [np.asarray(img) > BREAST_LEVEL for img in images]
    result = pointing_game(points, gt, regions)
    has_box = np.array([len(np.asarray(g["boxes"]).reshape(-1, 4)) > 0 for g in gt])
    hit, chance = result["hits"].astype(float), result["chance"]
    groups = np.asarray(groups)[has_box]
    out = {"hits": int(hit.sum()), "n": int(len(hit)), "hit_rate": float(hit.mean()) if len(hit) else float("nan"),
           "chance": float(chance.mean()) if len(hit) else float("nan")}  # fmt: skip
    out["margin"] = out["hit_rate"] - out["chance"]
    if len(hit):
        ci = bootstrap_intervals(
            lambda i: {"hit_rate": hit[i].mean(), "margin": hit[i].mean() - chance[i].mean()}, groups, n_boot
        )
        out.update({"hit_rate_ci": ci["hit_rate"], "margin_ci": ci["margin"]})
        out.update({"patients": int(len(np.unique(groups))), "resamples": int(n_boot), "interval": "patient bootstrap"})
    return out


def box_fit(gt: list[dict], preds: list[dict], groups, n: int = N_BOOT) -> dict:
    """How each image's top box sits on its lesion, with patient-bootstrap intervals of the medians.

    Args:
        gt: Ground truth per image.
        preds: Boxes per image (the detector's, or Grad-CAM's :func:`~mammo_utils.detection.metrics.cam_boxes`).
        groups: Patient id per image.
        n: Resamples.

    Returns:
        :func:`~mammo_utils.detection.metrics.top_box_overlap`'s ``median_iou``, ``median_area_ratio`` and ``n``,
        with ``median_iou_ci`` and ``median_area_ratio_ci`` (None when no resample has an image that counts).
    """
    out = top_box_overlap(gt, preds)

    def statistics(idx):
        fit = top_box_overlap(_subset(gt, idx), _subset(preds, idx))
        return {k: fit[k] for k in ("median_iou", "median_area_ratio")}

    ci = bootstrap_intervals(statistics, groups, n)
    out.update({f"{k}_ci": ci.get(k) for k in ("median_iou", "median_area_ratio")})
    return out


#: Operating-point statistics with a patient-bootstrap interval (:func:`evaluate_detections`) and their table labels.
OPERATING_LABELS = {"precision": "precision at the operating score (IoU >= 0.5)", "mean_iou": "mean IoU of the hits",
                    "recall": "recall at the operating score (IoU >= 0.5)"}  # fmt: skip


def evaluate_detections(data: DetectionData, score: float, test_preds: list[dict], classes) -> dict:
    """Detector metrics on the test split (the operating point from validation).

    Every interval comes from one set of :data:`N_BOOT` resamples of whole test patients (all statistics of a
    resample are computed on the same images). A class absent from a resample is skipped for that class.

    Args:
        data: The split frames and images.
        score: The operating score chosen on validation (the training record's ``operating_score``).
        test_preds: Detector output on test images.
        classes: Class names.

    Returns:
        ``map50``, ``map50_95``, ``per_class`` (AP@0.5) with ``per_class_ci``, ``map50_agnostic``, ``froc``
        (sensitivities; None where the curve does not reach the rate), ``froc_max_fp_per_image`` and
        ``froc_end_sensitivity`` (where the test curve ends and its sensitivity there, every kept box counted),
        ``froc_curve``, ``operating_fp_per_image`` (false positives per test image at the operating score),
        ``breast_recall`` (with ``breast_recall_k`` of ``breast_recall_n`` breasts with a lesion; its
        interval resamples patients, each drawn copy's breasts counted), ``operating_score``, ``operating_point``,
        ``pointing_game`` and the ``*_ci`` intervals (``map50_ci``, ``map50_95_ci``, ``map50_agnostic_ci``,
        ``froc_max_fp_per_image_ci``, ``froc_end_sensitivity_ci``, ``breast_recall_ci``, ``froc_ci``,
        ``operating_fp_per_image_ci``,
        ``operating_point_ci``), and ``froc_reached``: per FROC rate, ``{"reached", "resamples"}``, how many of the
        patient resamples' curves reach that rate (the rate's interval is over those only).
    """
    gt = truth(data.test)
    groups = data.test.patient_id.to_numpy()
    breasts = list(zip(data.test.patient_id, data.test.laterality))
    main = coco_map(gt, test_preds, classes)
    out = {**main, "map50_agnostic": coco_map(agnostic(gt), agnostic(test_preds))["map50"]}
    curve = froc(gt, test_preds)
    out["froc_curve"] = [arr.tolist() for arr in curve.pop("curve")]
    out["froc_max_fp_per_image"] = curve.pop("max_fp_per_image")
    out["froc_end_sensitivity"] = curve.pop("end_sensitivity")
    out["froc"] = curve
    out["operating_score"] = score
    out["operating_point"] = operating_point(gt, test_preds, score)
    out["operating_fp_per_image"] = out["operating_point"]["fp"] / len(gt) if gt else float("nan")
    hits = breast_hits(gt, test_preds, breasts, score)
    out["breast_recall"] = float(np.mean(list(hits.values()))) if hits else float("nan")
    out["breast_recall_k"], out["breast_recall_n"] = int(sum(hits.values())), len(hits)

    def statistics(idx):
        g, p = _subset(gt, idx), _subset(test_preds, idx)
        m = coco_map(g, p, classes)
        values = {"map50": m["map50"], "map50_95": m["map50_95"]}
        values.update({f"ap50/{k}": v for k, v in m["per_class"].items()})
        values["map50_agnostic"] = coco_map(agnostic(g), agnostic(p))["map50"]
        f = froc(g, p)
        values.update({f"froc/{k}": v for k, v in f.items() if k.startswith("sens@")})
        values.update({"froc_max_fp_per_image": f["max_fp_per_image"], "froc_end_sensitivity": f["end_sensitivity"]})
        values["breast_recall"] = breast_recall(g, p, resample_keys(idx, breasts), score)
        op = operating_point(g, p, score)
        values.update({f"op/{k}": v for k, v in op.items() if k in OPERATING_LABELS})
        values["operating_fp_per_image"] = op["fp"] / len(g)
        return values

    ci, defined = bootstrap_intervals(statistics, groups, N_BOOT, counts=True)
    for key in (
        "map50",
        "map50_95",
        "map50_agnostic",
        "breast_recall",
        "froc_max_fp_per_image",
        "froc_end_sensitivity",
        "operating_fp_per_image",
    ):
        out[f"{key}_ci"] = ci.get(key)
    out["per_class_ci"] = {k: ci.get(f"ap50/{k}") for k in out["per_class"]}
    out["operating_point_ci"] = {k: ci.get(f"op/{k}") for k in OPERATING_LABELS}
    # an interval only where the point itself is measured (never for a rate the test curve does not reach)
    out["froc_ci"] = {k: ci.get(f"froc/{k}") if v is not None else None for k, v in curve.items()}
    # how many resamples' curves reach each rate: its interval rests on those only
    out["froc_reached"] = {k: {"reached": defined.get(f"froc/{k}", 0), "resamples": N_BOOT} for k in curve}
    size = data.images["test"].shape[1:3]
    out["pointing_game"] = pointing_summary(box_centre_points(test_preds, size), gt, data.images["test"], groups)
    return out


def seed_scores(record: dict, test: dict) -> dict:
    """One seed's row: how it trained, its validation mAP and its test mAP (point values).

    Args:
        record: :func:`~mammo_utils.detection.train.train_detector`'s record.
        test: :func:`~mammo_utils.detection.metrics.coco_map` of its test predictions.

    Returns:
        ``seed, best_epoch, epochs_run, stop_reason, train_seconds, seconds_per_epoch, val_map50, val_map50_95,
        test_map50, test_map50_95``.

    Example:
        >>> record = {"seed": 1, "val": {"map50": 0.3, "map50_95": 0.1}}
        >>> seed_scores(record, {"map50": 0.25, "map50_95": 0.09})["test_map50"]
        0.25
    """
    keys = ("seed", "best_epoch", "epochs_run", "stop_reason", "train_seconds", "seconds_per_epoch")
    out = {k: record.get(k) for k in keys}
    out.update(val_map50=record["val"]["map50"], val_map50_95=record["val"]["map50_95"])
    out.update(test_map50=test["map50"], test_map50_95=test["map50_95"])
    return out


#: The test statistics of every seed that :func:`seed_intervals` bootstraps.
SEED_TEST_KEYS = ("map50", "map50_95")


def seed_intervals(gt: list[dict], preds: dict, classes, groups, n: int = N_BOOT) -> dict:
    """Patient-bootstrap intervals of each seed's test mAP and of the mean over the seeds, from one set of resamples.

    The resamples are those of :func:`evaluate_detections` (same patients, same random seed), so the chosen seed's
    interval here is the one its detailed metrics carry. The mean's interval holds the trained seeds fixed: it says
    how far test-patient sampling moves their mean, while the sd over seeds (:func:`seed_summary`) says how far
    retraining moves one run.

    Args:
        gt: Ground truth per test image.
        preds: ``{seed: predictions per test image}``.
        classes: Class names.
        groups: Patient id per test image.
        n: Resamples.

    Returns:
        ``{seed: {"test_map50_ci": (low, high), "test_map50_95_ci": ...}, "mean": {...}}`` (None where a statistic
        is undefined in every resample).
    """
    if not preds:
        raise ValueError("seed_intervals needs the predictions of at least one seed, got none")

    def statistics(idx):
        g = _subset(gt, idx)
        values = {}
        for seed, p in preds.items():
            m = coco_map(g, _subset(p, idx), classes)
            values.update({f"{seed}/{k}": m[k] for k in SEED_TEST_KEYS})
        for k in SEED_TEST_KEYS:
            values[f"mean/{k}"] = float(np.mean([values[f"{seed}/{k}"] for seed in preds]))
        return values

    ci = bootstrap_intervals(statistics, groups, n)
    return {name: {f"test_{k}_ci": ci.get(f"{name}/{k}") for k in SEED_TEST_KEYS} for name in [*preds, "mean"]}


def score_seeds(records: list[dict], data: DetectionData) -> tuple[list[dict], dict]:
    """Every seed's detector on the test patients: a row per seed with intervals, and the summary over seeds.

    Args:
        records: :func:`~mammo_utils.detection.train.train_detector`'s record of each seed.
        data: The split frames and images (the same for every seed: the split seed is fixed).

    Returns:
        ``(rows, summary)``: :func:`seed_scores`'s rows with ``test_map50_ci`` and ``test_map50_95_ci``, and
        :func:`seed_summary` of them with the mean's interval (``test_map50.mean_ci``).
    """
    from .detector import load_detector

    gt = truth(data.test)
    preds, rows, classes = {}, [], None
    for record in records:
        model, info = load_detector(record["folder"])
        classes = info["spec"].classes  # one recipe: the same classes for every seed
        preds[record["seed"]] = predict_boxes(model, data.images["test"])
        rows.append(seed_scores(record, coco_map(gt, preds[record["seed"]], classes)))
    ci = seed_intervals(gt, preds, classes, data.test.patient_id.to_numpy())
    for row in rows:
        row.update(ci[row["seed"]])
    return rows, seed_summary(rows, ci["mean"])


def spread(values) -> dict[str, float]:
    """``{"mean", "sd", "min", "max"}`` of values over seeds (sd with ddof 1, NaN for one value; all NaN for none).

    Example:
        >>> spread([1.0, 3.0]), spread([0.5])["sd"]
        ({'mean': 2.0, 'sd': 1.4142135623730951, 'min': 1.0, 'max': 3.0}, nan)
    """
    v = np.asarray(values, float)
    if not len(v):
        return {"mean": float("nan"), "sd": float("nan"), "min": float("nan"), "max": float("nan")}
    return {
        "mean": float(v.mean()),
        "sd": float(v.std(ddof=1)) if len(v) > 1 else float("nan"),
        "min": float(v.min()),
        "max": float(v.max()),
    }


def seed_summary(rows: list[dict], mean_ci: dict | None = None) -> dict:
    """Mean ± sd (ddof 1) over seeds of each numeric column of :func:`seed_scores`, and the chosen seed.

    The chosen seed is the one with the best **validation** mAP@0.5 (test plays no part in the choice). The sd is
    the spread over seeds, not an interval; the test means carry their patient-bootstrap interval when given.

    Args:
        rows: :func:`seed_scores`'s rows.
        mean_ci: :func:`seed_intervals`'s ``"mean"`` entry (``test_map50_ci``, ``test_map50_95_ci``), or None.

    Returns:
        ``{"seeds": [...], "chosen_seed": s, "<column>": {"mean", "sd", "min", "max"}}`` (sd NaN for one seed),
        ``test_map50`` and ``test_map50_95`` with ``mean_ci`` when ``mean_ci`` is given.
    """
    table = pd.DataFrame(rows)
    out: dict = {"seeds": [int(s) for s in table.seed], "n": len(table)}
    out["chosen_seed"] = int(table.seed.iloc[int(np.argmax(table.val_map50.to_numpy()))])
    for key in ("val_map50", "val_map50_95", "test_map50", "test_map50_95", "best_epoch", "epochs_run"):
        out[key] = spread(table[key])
    for key, ci in (mean_ci or {}).items():
        out[key.removesuffix("_ci")]["mean_ci"] = ci
    return out


def classifier_localisation(model, data: DetectionData, image_size: tuple[int, int], maps: bool = True) -> dict:
    """Grad-CAM of a classifier on the test images: pointing game and CAM-to-box AP (class-agnostic).

    Args:
        model: A project classifier (Keras).
        data: The split frames and images (cache size).
        image_size: The classifier's input size (maps are resized back to the cache size).
        maps: Also score the CAM boxes and return the maps (False: the pointing game only).

    Returns:
        ``pointing_game`` summary, ``peaks_off_breast`` (every test image, and split into images with and without a
        lesion; patient-bootstrap intervals),
        ``heat`` ``(N, H, W)`` maps at cache size and ``probabilities``; with ``maps`` also ``map50_agnostic``
        with ``_ci`` and ``cam_preds``.
    """
    import cv2

    from ..data.pipeline import resize_for_model
    from ..evaluation.explain import gradcam, gradcam_model, peak_location, peaks_off_breast

    images = data.images["test"]
    size = images.shape[1:3]
    x = np.asarray(resize_for_model(images[..., None], image_size), np.float32)
    grad_model = gradcam_model(model)
    heat, probs = [], []
    from ..utils import quiet_stderr

    for start in range(0, len(x), 16):
        batch = x[start : start + 16]
        with quiet_stderr():  # tf.data's C++ notices on predict
            heat.append(gradcam(model, batch, grad_model))
            probs.append(np.asarray(model.predict(batch, verbose=0), float).reshape(-1))
    heat = np.concatenate(heat)
    probs = np.concatenate(probs)
    heat = np.stack([cv2.resize(h, (size[1], size[0]), interpolation=cv2.INTER_LINEAR) for h in heat])
    gt = truth(data.test)
    groups = data.test.patient_id.to_numpy()
    points = [peak_location(h) for h in heat]
    lesion = [len(np.asarray(g["boxes"]).reshape(-1, 4)) > 0 for g in gt]
    out = {
        "pointing_game": pointing_summary(points, gt, images, groups),
        "peaks_off_breast": peaks_off_breast(images, heat, groups, lesion=lesion),
        "heat": heat,
        "probabilities": probs,
    }
    if not maps:
        return out
    preds = [cam_boxes(h, p) for h, p in zip(heat, probs)]
    out.update({
        "map50_agnostic": coco_map(agnostic(gt), preds)["map50"],
        "map50_agnostic_ci": bootstrap_interval(
            lambda idx: coco_map(agnostic(_subset(gt, idx)), _subset(preds, idx))["map50"], groups, N_BOOT
        ),
        "cam_preds": preds,
    })  # fmt: skip
    return out


def nested_box_check(data: DetectionData, val_preds: list[dict], classes, overlap: float = AGNOSTIC_OVERLAP) -> dict:
    """Validation mAP@0.5 with and without the class-agnostic suppression of nested boxes (off in the service).

    The model's NMS is class-agnostic by IoU, so a box of one class inside a larger box of another on the same
    lesion survives it. :func:`~mammo_utils.detection.detector.suppress_overlaps` would drop the lower-scoring one;
    whether that helps is measured here, on validation only.

    Args:
        data: The split frames and images.
        val_preds: The detector's validation boxes (the model's NMS only).
        classes: Class names.
        overlap: The suppression's threshold (intersection over the smaller box).

    Returns:
        ``overlap``, ``val_map50_kept`` (as served), ``val_map50_suppressed``, ``boxes_removed`` and ``boxes``
        (validation boxes before the step).
    """
    gt = truth(data.val)
    suppressed = [suppress_overlaps(p, overlap) for p in val_preds]
    return {
        "overlap": overlap,
        "val_map50_kept": coco_map(gt, val_preds, classes)["map50"],
        "val_map50_suppressed": coco_map(gt, suppressed, classes)["map50"],
        "boxes": int(sum(len(p["scores"]) for p in val_preds)),
        "boxes_removed": int(sum(len(p["scores"]) - len(q["scores"]) for p, q in zip(val_preds, suppressed))),
    }


def nested_box_seeds(records: list[dict], data: DetectionData, overlap: float = AGNOSTIC_OVERLAP, n: int = N_BOOT):
    """:func:`nested_box_check` for every detector seed, with the paired patient-bootstrap interval of the change.

    The question is whether the class-agnostic suppression of nested boxes should join the service's
    post-processing; it is answered on validation, per seed, by the change in validation mAP@0.5 (suppressed minus
    as served) over the same resampled validation patients.

    Args:
        records: :func:`~mammo_utils.detection.train.train_detector`'s record of each seed.
        data: The split frames and images.
        overlap: The suppression's threshold.
        n: Bootstrap resamples.

    Returns:
        ``overlap``, ``n`` (seeds), ``seeds`` (per seed: :func:`nested_box_check`'s fields, ``difference`` and
        its 95% interval ``low``, ``high``), ``lower_on`` and ``higher_on`` (the seeds whose interval lies wholly
        below / above 0).
    """
    from .detector import load_detector

    gt, groups, rows = truth(data.val), data.val.patient_id.to_numpy(), []
    for record in records:
        model, info = load_detector(record["folder"])
        classes = info["spec"].classes
        kept = predict_boxes(model, data.images["val"])
        dropped = [suppress_overlaps(p, overlap) for p in kept]

        def change(idx, kept=kept, dropped=dropped, classes=classes):
            truth_idx = _subset(gt, idx)
            return (
                coco_map(truth_idx, _subset(dropped, idx), classes)["map50"]
                - coco_map(truth_idx, _subset(kept, idx), classes)["map50"]
            )

        row = {"seed": record["seed"], **nested_box_check(data, kept, classes, overlap)}
        row["difference"] = row["val_map50_suppressed"] - row["val_map50_kept"]
        row["low"], row["high"] = bootstrap_interval(change, groups, n)
        rows.append(row)
    return {
        "overlap": overlap,
        "n": len(rows),
        "seeds": rows,
        "lower_on": [r["seed"] for r in rows if r["high"] < 0],
        "higher_on": [r["seed"] for r in rows if r["low"] > 0],
    }


def evaluate(
    cfg: Config, record: dict, classifier=None, classifier_size=None, data: DetectionData | None = None
) -> dict:
    """Load the detector of ``record``, predict validation and test images, score everything.

    Args:
        cfg: Configuration of the detector's data (same as training).
        record: :func:`~mammo_utils.detection.train.train_detector`'s record.
        classifier: Optional Keras classifier for the Grad-CAM comparison.
        classifier_size: Its input size.
        data: The split frames and images when already loaded (else loaded from ``cfg``).

    Returns:
        ``{"detector": metrics, "classifier": cam metrics or None, "data": DetectionData, "test_preds": [...]}``.
    """
    from .detector import load_detector
    from .train import load_detection_data

    model, info = load_detector(record["folder"])
    data = data if data is not None else load_detection_data(cfg)
    classes = info["spec"].classes
    test_preds = predict_boxes(model, data.images["test"])
    det = evaluate_detections(data, record["operating_score"], test_preds, classes)  # chosen on validation in training
    cam = classifier_localisation(classifier, data, classifier_size) if classifier is not None else None
    return {"detector": det, "classifier": cam, "data": data, "test_preds": test_preds, "classes": classes}


def summary_json(result: dict) -> dict:
    """The CLI's ``evaluate --json`` payload.

    Returns:
        ``map50, map50_95, per_class`` (+ ``per_class_ci``), ``map50_agnostic``, ``froc`` (None where the test
        curve, which ends at ``froc_max_fp_per_image`` with sensitivity ``froc_end_sensitivity``, does not reach the
        rate; ``froc_reached``: how many patient resamples reach each rate), ``breast_recall`` (+ ``breast_recall_k``,
        ``breast_recall_n``: breasts hit of breasts with a lesion), ``pointing_game``
        (Grad-CAM's hit rate when a classifier was scored, else None), ``detector_pointing_game``, ``pointing_chance``
        and the intervals.
    """
    det = result["detector"]
    cam = result.get("classifier")
    out = {
        "map50": det["map50"],
        "map50_ci": list(det["map50_ci"]),
        "map50_95": det["map50_95"],
        "map50_95_ci": list(det["map50_95_ci"]),
        "per_class": det["per_class"],
        "per_class_ci": {k: list(v) if v is not None else None for k, v in det["per_class_ci"].items()},
        "map50_agnostic": det["map50_agnostic"],
        "map50_agnostic_ci": det["map50_agnostic_ci"],
        "froc": det["froc"],
        "froc_ci": det["froc_ci"],
        "froc_reached": det.get("froc_reached"),
        "froc_max_fp_per_image": det["froc_max_fp_per_image"],
        "froc_max_fp_per_image_ci": det["froc_max_fp_per_image_ci"],
        "froc_end_sensitivity": det["froc_end_sensitivity"],
        "froc_end_sensitivity_ci": det["froc_end_sensitivity_ci"],
        "breast_recall": det["breast_recall"],
        "breast_recall_ci": det["breast_recall_ci"],
        "breast_recall_k": det.get("breast_recall_k"),
        "breast_recall_n": det.get("breast_recall_n"),
        "pointing_game": cam["pointing_game"]["hit_rate"] if cam is not None else None,
        "pointing_game_ci": list(cam["pointing_game"].get("hit_rate_ci", ())) if cam is not None else None,
        "detector_pointing_game": det["pointing_game"]["hit_rate"],
        "pointing_chance": det["pointing_game"]["chance"],
    }
    return out
