"""The detector's test metrics as tables for reading: each value with its 95% patient-level interval.

Example:
    >>> format_with_interval(0.194, (0.154, 0.249))
    '0.194 [0.154, 0.249]'
"""

from __future__ import annotations

import pandas as pd

from ..evaluation.metrics import format_with_interval
from .evaluate import OPERATING_LABELS
from .metrics import FROC_RATES, OPERATING_FPI, froc_key


def metrics_table(det: dict, classes) -> pd.DataFrame:
    """The detector's test metrics as a table (value and 95% patient-level interval).

    A FROC rate the measured curve does not reach reads "not reached (curve ends at x FP/image)"; where the curve
    ends and its sensitivity there are rows of their own (when recorded).

    Args:
        det: :func:`~mammo_utils.detection.evaluate.evaluate_detections`'s result.
        classes: Class names (one AP row each, in this order).

    Returns:
        Columns ``test metric`` and ``value [95% CI]``.
    """
    fmt = format_with_interval
    reach = det.get("froc_max_fp_per_image")
    end = f" (curve ends at {reach:.2f} FP/image)" if reach is not None else ""
    per_class_ci = det.get("per_class_ci") or {}
    op_ci = det.get("operating_point_ci") or {}
    rows = [
        ("mAP@0.5", fmt(det["map50"], det.get("map50_ci"))),
        ("mAP@[.5:.95]", fmt(det["map50_95"], det.get("map50_95_ci"))),
        *[(f"AP@0.5 {name}", fmt(det["per_class"][name], per_class_ci.get(name))) for name in classes],
        ("AP@0.5 class-agnostic", fmt(det["map50_agnostic"], det.get("map50_agnostic_ci"))),
        *[
            (
                f"FROC sensitivity at {r:g} FP/image",
                fmt(det["froc"][froc_key(r)], det["froc_ci"][froc_key(r)])
                + (end if det["froc"][froc_key(r)] is None else ""),
            )
            for r in FROC_RATES
        ],  # fmt: skip
        *(
            [
                (
                    "FROC: false positives per image where the test curve ends",
                    fmt(reach, det.get("froc_max_fp_per_image_ci")),
                ),
                (
                    "FROC sensitivity where the test curve ends (every kept box)",
                    fmt(det["froc_end_sensitivity"], det.get("froc_end_sensitivity_ci")),
                ),
            ]
            if det.get("froc_end_sensitivity") is not None
            else []
        ),  # fmt: skip
        *[(label, fmt(det["operating_point"][key], op_ci.get(key))) for key, label in OPERATING_LABELS.items()],
        (
            f"breast recall at score >= {det['operating_score']:.4f} (the operating score set on validation for "
            f"{OPERATING_FPI:g} FP/image)",
            fmt(det["breast_recall"], det.get("breast_recall_ci")),
        ),  # fmt: skip
    ]
    return pd.DataFrame(rows, columns=["test metric", "value [95% CI]"])


def localisation_table(det: dict, cam: dict) -> pd.DataFrame:
    """Detector vs classifier Grad-CAM on the same test lesions: pointing game and class-agnostic AP@0.5."""
    fmt = format_with_interval
    rows = []
    for name, res in (("YOLOv8 detector (top box centre)", det), ("classifier Grad-CAM (peak / CAM boxes)", cam)):
        pg = res["pointing_game"]
        rows.append(
            {
                "method": name,
                "pointing-game hit rate": fmt(pg["hit_rate"], pg.get("hit_rate_ci")),
                "chance (box share of breast)": f"{pg['chance']:.3f}",
                "hit rate - chance": fmt(pg["margin"], pg.get("margin_ci")),
                "AP@0.5 class-agnostic": fmt(res["map50_agnostic"], res.get("map50_agnostic_ci")),
                "lesion images": pg["n"],
            }
        )
    return pd.DataFrame(rows)


def seed_table(rows: list[dict]) -> pd.DataFrame:
    """One row per detector seed: training, validation mAP@0.5 and test mAP with its patient-bootstrap interval.

    Args:
        rows: :func:`~mammo_utils.detection.evaluate.score_seeds`'s rows (``test_map50_ci`` and
            ``test_map50_95_ci`` optional: without them the value is printed alone).

    Returns:
        Columns ``seed``, ``best epoch``, ``epochs run``, ``stop reason``, ``s / epoch``, ``validation mAP@0.5``,
        ``test mAP@0.5 [95% CI]``, ``test mAP@[.5:.95] [95% CI]``.

    Example:
        >>> row = {"seed": 2, "best_epoch": 8, "epochs_run": 8, "stop_reason": "budget", "seconds_per_epoch": 20.0,
        ...        "val_map50": 0.36, "test_map50": 0.275, "test_map50_ci": (0.236, 0.330), "test_map50_95": 0.113}
        >>> seed_table([row]).iloc[0]["test mAP@0.5 [95% CI]"]
        '0.275 [0.236, 0.330]'
    """
    fmt = format_with_interval
    return pd.DataFrame(
        [
            {
                "seed": r["seed"],
                "best epoch": r.get("best_epoch"),
                "epochs run": r.get("epochs_run"),
                "stop reason": r.get("stop_reason"),
                "s / epoch": round(r["seconds_per_epoch"], 1) if r.get("seconds_per_epoch") is not None else None,
                "validation mAP@0.5": f"{r['val_map50']:.3f}",
                "test mAP@0.5 [95% CI]": fmt(r["test_map50"], r.get("test_map50_ci")),
                "test mAP@[.5:.95] [95% CI]": fmt(r["test_map50_95"], r.get("test_map50_95_ci")),
            }
            for r in rows
        ]
    )


def blank_seeds(runs: list[dict]) -> list:
    """Detector seeds that found no lesion on validation (validation mAP@0.5 of 0 or missing): runs that never began.

    Args:
        runs: One record per seed with ``seed`` and ``val_map50`` (07's per-seed rows, or the recorded ``seeds.runs``).

    Returns:
        Their seeds, in order.

    Example:
        >>> blank_seeds([{"seed": 0, "val_map50": 0.21}, {"seed": 1, "val_map50": 0.0}, {"seed": 2, "val_map50": None}])
        [1, 2]
    """
    return [r["seed"] for r in runs if not (r.get("val_map50") or 0) > 0]


def still_improving_seeds(runs: list[dict], max_epochs: int) -> list:
    """Detector seeds that ran the whole epoch budget with their best validation epoch the last one: still improving
    when the budget ended (budget-limited runs, not converged ones).

    Args:
        runs: One record per seed with ``seed``, ``epochs_run`` and ``best_epoch`` (07's per-seed rows, or the
            recorded ``seeds.runs``).
        max_epochs: The epoch budget.

    Returns:
        Their seeds, in order.

    Example:
        >>> runs = [{"seed": 0, "epochs_run": 8, "best_epoch": 8}, {"seed": 1, "epochs_run": 8, "best_epoch": 7},
        ...         {"seed": 2, "epochs_run": 5, "best_epoch": 5}]
        >>> still_improving_seeds(runs, 8)
        [0]
    """
    return [r["seed"] for r in runs if r["epochs_run"] >= max_epochs and r["best_epoch"] == r["epochs_run"]]


def pointing_seed_table(over_seeds: dict) -> pd.DataFrame:
    """One row per classifier seed: Grad-CAM pointing-game hits, hit rate, chance, margin and peaks off the breast.

    Every interval is the 95% patient bootstrap the pointing summary recorded (whole patients resampled).

    Args:
        over_seeds: :func:`~mammo_utils.detection.gradcam_seeds.pointing_over_seeds`'s result.

    Returns:
        Columns ``seed``, ``run``, ``hits / lesion images``, ``hit rate [95% patient bootstrap]``, ``chance``,
        ``hit rate - chance [95% patient bootstrap]``, ``beats chance``, and, when recorded, ``peaks off breast / …``
        and ``off-breast share, … [95% patient bootstrap]`` for the lesion images and the lesion-free images (for
        ``images``, all together, in a record without the split).

    Example:
        >>> pg = {"seed": 0, "run_name": "arm_a_s0", "hits": 8, "n": 10, "hit_rate": 0.8, "hit_rate_ci": (0.49, 0.94),
        ...       "chance": 0.1, "margin": 0.7, "margin_ci": (0.4, 0.9), "beats_chance": True}
        >>> pointing_seed_table({"runs": [pg]}).iloc[0]["hit rate [95% patient bootstrap]"]
        '0.800 [0.490, 0.940]'
    """
    fmt = format_with_interval
    rows = []
    for r in over_seeds["runs"]:
        row = {
            "seed": r["seed"],
            "run": r.get("run_name"),
            "hits / lesion images": f"{r['hits']} / {r['n']}",
            "hit rate [95% patient bootstrap]": fmt(r["hit_rate"], r.get("hit_rate_ci")),
            "chance": f"{r['chance']:.3f}",
            "hit rate - chance [95% patient bootstrap]": fmt(r["margin"], r.get("margin_ci")),
            "beats chance": "yes" if r["beats_chance"] else "no",
        }
        off = r.get("off_breast") or {}
        parts = [("lesion images", off.get("lesion")), ("lesion-free images", off.get("no_lesion"))]
        if off and not all(part for _, part in parts):  # an older record: every test image together
            parts = [("images", off)]
        for name, part in parts if off else []:
            row[f"peaks off breast / {name}"] = f"{part['off']} / {part['images']}"
            row[f"off-breast share, {name} [95% patient bootstrap]"] = fmt(part["share"], (part["low"], part["high"]))
        rows.append(row)
    return pd.DataFrame(rows)


#: A hit rate whose interval lies below this misses the lesion box on most lesion images (07 and the report say so).
HALF = 0.5


def _share(part: dict) -> str:
    """``k of n (x% [lo, hi])`` of a share record (``off``, ``images``, ``share``, ``low``, ``high``)."""
    return f"{part['off']} of {part['images']} ({part['share']:.1%} [{part['low']:.1%}, {part['high']:.1%}])"


def peaks_markdown(off: dict, pointing: dict, floor: float) -> str:
    """Where the champion's Grad-CAM maps peak on the test images, as 07's Markdown: on lesion images inside the
    lesion box or off the breast, on lesion-free images off the breast (the final report's sentence, from the same
    records).

    Args:
        off: :func:`~mammo_utils.evaluation.explain.peaks_off_breast`'s result with its ``lesion`` / ``no_lesion``
            split (without it: every test image together).
        pointing: The same maps' pointing summary (``hits``, ``n``, ``hit_rate``, ``hit_rate_ci``).
        floor: The cached pixel value at or below which a pixel is not breast.

    Returns:
        Markdown.

    Example:
        >>> part = {"off": 2, "images": 4, "share": 0.5, "low": 0.25, "high": 0.75}
        >>> pg = {"hits": 1, "n": 4, "hit_rate": 0.25, "hit_rate_ci": (0.0, 0.6)}
        >>> peaks_markdown({**part, "lesion": part, "no_lesion": part}, pg, 0.05)[:60]
        "On the 4 test images with a lesion, the champion's Grad-CAM "
    """
    where = f"off the breast (background or padding, cached pixel ≤ {floor})"
    how = (
        f"95% patient bootstrap: {off.get('resamples', '?')} resamples of the {off.get('patients', '?')} test patients"
    )
    if not (off.get("lesion") and off.get("no_lesion")):
        return (
            f"Grad-CAM's peak falls {where} in **{_share(off)}** of the test images, lesion-free ones included ({how})."
        )
    low, high = pointing["hit_rate_ci"]
    text = (
        f"On the {off['lesion']['images']} test images with a lesion, the champion's Grad-CAM peak falls **inside the "
        f"lesion box in {pointing['hits']}** ({pointing['hit_rate']:.1%} [{low:.1%}, {high:.1%}]) and **{where} in "
        f"{_share(off['lesion'])}**; on the {off['no_lesion']['images']} lesion-free images it falls off the breast "
        f"in **{_share(off['no_lesion'])}**, where a classifier keyed on the image border or the breast's size would "
        f"look ({how})."
    )
    if high < HALF:
        text += (
            f" Its peak misses the lesion box on most lesion images (the hit rate's upper limit is below {HALF:.0%}), "
            "so a map shows where the score is sensitive, not where the lesion is."
        )
    return text
