# Size: the detector's figures (training curves, FROC, box mapping, the rule-picked grids, page and slide).
"""Figures of the detection notebook: box mapping, training curves, FROC, and test images with boxes and Grad-CAM.

Ground truth is drawn in green, detections in orange (a colour-blind-safe pair), each detection labelled with
its class and score.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..evaluation.figure_check import place_legend
from .metrics import FROC_RATES

TRUTH_COLOUR = "#1b9e77"
DETECTION_COLOUR = "#d95f02"


def _draw(ax, boxes, colour, labels=None, lw=1.5):
    from matplotlib.patches import Rectangle

    for i, (x0, y0, x1, y1) in enumerate(np.asarray(boxes, float).reshape(-1, 4)):
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=colour, linewidth=lw))
        if labels is not None:
            ax.text(x0, y0 - 2, labels[i], color=colour, fontsize=7, va="bottom")


def plot_box_mapping(stored: np.ndarray, stored_boxes, cached: np.ndarray, cached_boxes, title: str = ""):
    """The same lesion box on the stored image and, mapped, on the cached crop.

    Args:
        stored: The decoded DICOM (``read_dicom``), any size.
        stored_boxes: ``(K, 4)`` boxes in its pixels.
        cached: The cached crop.
        cached_boxes: The boxes mapped to it.
        title: Figure title.

    Returns:
        The figure.
    """
    import matplotlib.pyplot as plt

    ratios = [stored.shape[1] / stored.shape[0], cached.shape[1] / cached.shape[0]]
    fig, axes = plt.subplots(1, 2, figsize=(8, 5), gridspec_kw={"width_ratios": ratios})
    for ax, img, boxes, name in (
        (axes[0], stored, stored_boxes, "stored DICOM"),
        (axes[1], cached, cached_boxes, "cache"),
    ):
        ax.imshow(img, cmap="gray", vmin=0, vmax=1)
        _draw(ax, boxes, TRUTH_COLOUR)
        ax.set_title(f"{name}: {img.shape[0]}x{img.shape[1]} px", fontsize=9)
        ax.set_xlabel("column (px)")
        ax.set_ylabel("row (px)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


#: Line style of each training-loss component in :func:`plot_detector_history` (the colour names the seed).
LOSS_STYLES = {"loss": "-", "box_loss": "--", "class_loss": ":"}


def _validation_curve(ax, history: dict, key: str, best_epoch: int | None, colour, label: str, width: float):
    """One seed's validation metric where it was computed, the kept (best) epoch starred."""
    values = np.asarray(history.get(key, []), float)
    epochs = np.arange(1, len(values) + 1)
    at = np.isfinite(values)
    ax.plot(epochs[at], values[at], "o-", ms=3, color=colour, lw=width, label=label)
    if best_epoch is not None and 1 <= best_epoch <= len(values) and at[best_epoch - 1]:
        ax.plot([best_epoch], [values[best_epoch - 1]], "*", ms=11, color=colour, mec="black", mew=0.5)


def plot_detector_history(records: list[dict], chosen: int | None = None, title: str = "Detector training"):
    """Every seed's training losses and validation mAP per epoch, the kept (best validation) epoch starred.

    Args:
        records: Training records of the seeds (:func:`~mammo_utils.detection.train.train_detector`'s: ``seed``,
            ``history`` with ``loss``, ``box_loss``, ``class_loss``, ``val_map50``, ``val_map50_95``, and
            ``best_epoch``).
        chosen: The seed scored in detail (drawn thicker, named in the legend).
        title: Figure title.

    Returns:
        The figure: training losses (colour: seed; line style: component), validation mAP@0.5 and mAP@[.5:.95].

    Raises:
        ValueError: ``records`` is empty.

    Example:
        >>> fig = plot_detector_history([{"seed": 0, "history": {"loss": [3, 2]}, "best_epoch": 2}])  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    if not records:
        raise ValueError("plot_detector_history: records is empty; pass one training record per seed")
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    colours = plt.get_cmap("tab10").colors
    seeds = []
    for k, record in enumerate(records):
        history, colour = record["history"], colours[k % len(colours)]
        width = 2.2 if record.get("seed") == chosen else 1.2
        label = f"seed {record.get('seed')}" + (" (chosen)" if record.get("seed") == chosen else "")
        seeds.append(Line2D([], [], color=colour, lw=width, label=label))
        epochs = np.arange(1, len(history["loss"]) + 1)
        for key, style in LOSS_STYLES.items():
            if key in history:
                axes[0].plot(epochs, history[key], style, color=colour, lw=width)
        for ax, key in zip(axes[1:], ("val_map50", "val_map50_95")):
            _validation_curve(ax, history, key, record.get("best_epoch"), colour, label, width)
    styles = [Line2D([], [], color="dimgrey", ls=style, label=key) for key, style in LOSS_STYLES.items()]
    axes[0].set(xlabel="epoch", ylabel="training loss (CIoU box + BCE class)", title="training losses", yscale="log")
    place_legend(axes[0], handles=seeds + styles, fontsize=7)
    for ax, name in zip(axes[1:], ("mAP@0.5", "mAP@[.5:.95]")):
        ax.set(xlabel="epoch", ylabel=f"validation {name}", ylim=(0, 1), title=f"validation {name} (* kept epoch)")
        place_legend(ax, fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


#: Points of the operating-rate labels on the FROC figure (dark, readable at notebook width).
FROC_LABEL_PT = 10.0


def plot_froc(curves: dict, rates=FROC_RATES, title: str = "FROC on the test patients"):
    """FROC curves (sensitivity vs false positives per image), drawn only over the measured range.

    The x axis ends just past the farthest measured point, where each curve ends with a tick mark; an operating
    rate inside it is marked with a labelled dotted line, one beyond it is named in the title as not reached (no
    value is carried forward to it).

    Args:
        curves: ``{name: (fp_per_image, sensitivity)}``.
        rates: Operating points of interest.
        title: Figure title.

    Returns:
        The figure.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.4), layout="constrained")
    reach = max((float(np.max(fpi)) for fpi, _ in curves.values() if len(fpi)), default=0.0)
    for name, (fpi, sens) in curves.items():
        (line,) = ax.step(fpi, sens, where="post", label=f"{name} (measured to {float(np.max(fpi)):.2f} FP/image)")
        if len(fpi):  # the curve stops where the measurement stops: no plateau carried past it
            ax.plot([fpi[-1]], [sens[-1]], marker="|", ms=12, mew=2, color=line.get_color())
    inside = [r for r in rates if r <= reach]
    for r in inside:
        ax.axvline(r, color="grey", lw=0.8, ls=":")
        ax.annotate(f"{r:g} FP/image", (r, 0.02), xytext=(3, 0), textcoords="offset points",
                    fontsize=FROC_LABEL_PT, color="#222222", rotation=90, va="bottom")  # fmt: skip
    outside = [f"{r:g}" for r in rates if r > reach]
    if outside:
        title = f"{title}\n(not reached, no value reported: {', '.join(outside)} FP/image)"
    ax.set(
        xlabel="false positives per image", ylabel="lesion sensitivity (IoU >= 0.5)", ylim=(-0.04, 1.02), title=title
    )
    ax.set_xlim(-0.03 * reach, max(reach * 1.05, 1e-3))  # both axes start below 0: their "0.0" labels stay apart
    fig.legend(fontsize=8, loc="outside lower center")  # below the axes, never over the curve
    return fig


#: How a detection grid picks its images, in words (the figure's caption and the slide's foot say it).
GRID_RULE = (
    "a recalled cancer, a missed cancer and a cancer-free image (decision per breast at the frozen threshold), "
    "each its group's median by image p (a grid of several per group: spread over the group's p quantiles); "
    "cancers from images with a lesion box"
)
#: The groups of :data:`GRID_RULE`, in the grid's order.
GRID_GROUPS = ("recalled cancer", "missed cancer", "cancer-free")


def _median_picks(positions: np.ndarray, p: np.ndarray, k: int) -> list[int]:
    """``k`` positions spread over ``positions`` sorted by ``p`` (``k`` = 1: the lower median; ties in split order)."""
    ranked = positions[np.argsort(p[positions], kind="stable")]
    m = len(ranked)
    return [int(ranked[((2 * j + 1) * m - 1) // (2 * k)]) for j in range(min(k, m))]


def outcome_order(
    frame: pd.DataFrame, p, threshold: float, per_group: int = 1, agg: str = "mean", by_column: bool = False
) -> tuple[np.ndarray, list[str]]:
    """Which test images a detection grid shows, by :data:`GRID_RULE`, with their captions.

    Args:
        frame: Test rows (``patient_id``, ``laterality``, ``view``, ``cancer``, ``boxes``).
        p: The classifier's probability per row.
        threshold: The frozen breast-level decision threshold.
        per_group: Images per group of :data:`GRID_GROUPS` (spread over the group's p quantiles; 1: the median).
        agg: How image scores combine per breast (the model's ``breast_aggregation``).
        by_column: Interleave the groups (first pick of each group, then the second…), so a grid with one column
            per group shows each group in its own column.

    Returns:
        ``(positions, titles)``: row positions grouped as :data:`GRID_GROUPS` (an empty group is skipped), and a
        caption per image with the image p, the breast p and the decision at ``threshold``.

    Example:
        >>> frame = pd.DataFrame({"patient_id": [1, 1, 2, 3], "laterality": ["L", "L", "R", "L"],
        ...                       "view": ["CC", "MLO", "CC", "CC"], "cancer": [1, 1, 1, 0],
        ...                       "boxes": [np.ones((1, 4)), np.ones((1, 4)), np.ones((1, 4)), np.zeros((0, 4))]})
        >>> outcome_order(frame, [0.9, 0.5, 0.1, 0.2], 0.5)[0].tolist()
        [1, 2, 3]
        >>> frame = pd.concat([frame, frame.assign(patient_id=frame.patient_id + 10)], ignore_index=True)
        >>> outcome_order(frame, [0.9, 0.5, 0.1, 0.2] * 2, 0.5, per_group=2, by_column=True)[0].tolist()
        [1, 2, 3, 0, 6, 7]
    """
    from ..evaluation.evaluate import breast_predictions

    p = np.asarray(p, float).reshape(-1)
    rows = frame.reset_index(drop=True)
    breasts = breast_predictions(rows.assign(image_id=np.arange(len(rows))), p, agg)
    breast_p = rows.merge(breasts[["patient_id", "laterality", "prediction"]], on=["patient_id", "laterality"],
                          how="left").prediction.to_numpy()  # fmt: skip
    cancer, lesion = rows.cancer.to_numpy() == 1, rows.boxes.map(len).to_numpy() > 0
    groups = (cancer & lesion & (breast_p >= threshold), cancer & lesion & (breast_p < threshold), ~cancer & ~lesion)
    picks = [_median_picks(np.flatnonzero(mask), p, per_group) for mask in groups]
    if by_column:
        order = [g[k] for k in range(per_group) for g in picks if k < len(g)]
    else:
        order = [i for g in picks for i in g]
    titles = []
    for i in order:
        r, hit = rows.iloc[i], breast_p[i] >= threshold
        titles.append(
            f"{r.laterality}-{r.view} {'cancer' if r.cancer else 'no cancer'}, image p={p[i]:.2f}\n"
            f"breast p={breast_p[i]:.2f} {'≥' if hit else '<'} {threshold:.3f}: {'recall' if hit else 'no recall'}"
        )
    return np.asarray(order, int), titles


def plot_detection_grid(
    images,
    truths,
    detections,
    heats,
    classes,
    titles,
    min_score: float,
    ncols: int = 4,
    max_width: float = 11.0,
    fontsize: float = 9.0,
    subtitle: str = "",
):
    """Test images with ground truth and detections, each followed by its Grad-CAM.

    Boxes carry no text (labels of nearby boxes overlap): one caption over each image pair names the image, the
    top detection's class and score and how many more boxes pass the operating score. The Grad-CAM panel shows
    the map scaled to its own peak over a dimmed image, each pixel as opaque as its value (so the hot region
    stands out and the cold one shows the anatomy), its peak marked; one colour bar gives the scale.

    Args:
        images: ``(N, H, W)`` cached images.
        truths: Ground-truth entries per image.
        detections: Detector entries per image.
        heats: ``(N, H, W)`` Grad-CAM maps (or None to skip the overlays).
        classes: Class names.
        titles: One title per image.
        min_score: Detections below this score are not drawn (the operating point).
        ncols: Most image pairs per row (fewer when the images are tall, so the text stays at a readable size).
        max_width: Most inches the grid of pairs may take (11 for a page; a slide takes a wider one).
        fontsize: Points of the captions and the colour bar (the title is two points larger).
        subtitle: A last title line (e.g. how the images were picked).

    Returns:
        The figure.
    """
    import matplotlib.pyplot as plt

    n = len(images)
    per = 2 if heats is not None else 1
    h, w = np.asarray(images[0]).shape[:2]
    panel_h = 3.4
    panel_w = max(1.7, panel_h * w / h)  # a caption of about 30 characters fits over a pair at 9 pt
    ncols = max(1, min(ncols, n, int(max_width // (panel_w * per + 0.3))))
    rows = int(np.ceil(n / ncols))
    fig = plt.figure(figsize=(ncols * (panel_w * per + 0.3) + 1.0, rows * (panel_h + 0.75) + 0.9), layout="constrained")
    grid, side = fig.subfigures(1, 2, width_ratios=[ncols * (panel_w * per + 0.3), 0.8])
    pairs = np.atleast_1d(grid.subfigures(rows, ncols, squeeze=False).ravel())
    mappable = None
    for i, sub in enumerate(pairs):
        axes = np.atleast_1d(sub.subplots(1, per))
        for ax in axes:
            ax.set_axis_off()
        if i >= n:
            continue
        ax = axes[0]
        ax.imshow(images[i], cmap="gray", vmin=0, vmax=1)
        _draw(ax, truths[i]["boxes"], TRUTH_COLOUR, lw=2)
        scores = np.asarray(detections[i]["scores"], float).reshape(-1)
        keep = scores >= min_score
        _draw(ax, np.asarray(detections[i]["boxes"]).reshape(-1, 4)[keep], DETECTION_COLOUR, lw=1.8)
        if keep.any():
            top = int(np.flatnonzero(keep)[np.argmax(scores[keep])])
            name = classes[int(np.asarray(detections[i]["classes"]).reshape(-1)[top])].replace("_", " ")
            note = f"top box: {name} {scores[top]:.2f}" + (
                f"\n+{int(keep.sum()) - 1} more box(es)" if keep.sum() > 1 else "\nno other box"
            )
        else:
            note = "no box above the\noperating score"
        sub.suptitle(f"{titles[i]}\n{note}", fontsize=fontsize)
        if heats is not None:
            hx = axes[1]
            heat = np.asarray(heats[i], float)
            heat = heat / heat.max() if heat.max() > 0 else heat
            hx.imshow(np.asarray(images[i], float) * 0.5, cmap="gray", vmin=0, vmax=1)  # dimmed anatomy
            mappable = hx.imshow(heat, cmap="inferno", vmin=0, vmax=1, alpha=np.clip(0.25 + heat, 0, 0.95))
            _draw(hx, truths[i]["boxes"], TRUTH_COLOUR, lw=1.5)
            r, c = np.unravel_index(int(np.argmax(heat)), heat.shape)
            hx.plot([c], [r], marker="+", color="cyan", ms=12, mew=2.5)
    cax = side.subplots(3, 1, height_ratios=[1, 2, 1])
    for ax in cax:
        ax.set_axis_off()
    if mappable is not None:  # one scale for every Grad-CAM panel, beside the grid
        cax[1].set_axis_on()
        bar = side.colorbar(mappable, cax=cax[1])
        bar.set_label("Grad-CAM / its peak", fontsize=fontsize)
        bar.ax.tick_params(labelsize=fontsize)
    fig.suptitle(
        "Test images: ground truth (green), detections at the operating score (orange)"
        + ("\nright of each: classifier Grad-CAM (+ = peak)" if heats is not None else "")
        + (f"\n{subtitle}" if subtitle else ""),
        fontsize=fontsize + 2,
    )
    return fig


#: Points of the slide grid's captions (12 pt at 100 dpi stays over 14 pixels on a 1280x720 slide).
SLIDE_GRID_PT = 12.0


def plot_slide_detection_grid(images, truths, detections, heats, classes, titles, min_score: float, pairs: int = 3,
                               fontsize: float = SLIDE_GRID_PT, subtitle: str = ""):  # fmt: skip
    """The grid for a slide: fewer, larger pairs in one row, with large captions.

    Keeps the first ``pairs - 1`` images and the last one (with :func:`outcome_order`'s one image per group: all of
    them, a recalled cancer, a missed one and a cancer-free image).

    Args:
        images, truths, detections, heats, classes, titles, min_score: As :func:`plot_detection_grid`.
        pairs: Image pairs shown.
        fontsize: Points of the captions.
        subtitle: As :func:`plot_detection_grid`.

    Returns:
        The figure.
    """
    n = len(images)
    keep = list(range(n)) if n <= pairs else [*range(pairs - 1), n - 1]
    pick = lambda seq: [seq[i] for i in keep]  # noqa: E731
    return plot_detection_grid(
        np.asarray(images)[keep], pick(truths), pick(detections), None if heats is None else np.asarray(heats)[keep],
        classes, pick(titles), min_score, ncols=pairs, max_width=12.0, fontsize=fontsize, subtitle=subtitle,
    )  # fmt: skip
