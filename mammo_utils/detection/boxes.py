"""Lesion boxes that follow the pixels: stored DICOM coordinates <-> cached-crop coordinates.

Preprocessing (:func:`mammo_utils.data.preprocess.prepare_image`) crops the breast, mirrors crops whose chest
wall is on the right, scales by ``scale`` (output pixels per stored pixel) and pads right/bottom. The manifest
keeps every one of those facts per image (``crop_x_min … crop_y_max``, ``scale``, ``flipped``), so a box drawn on
the stored image maps to the cached PNG exactly, and a detector's box on the cached PNG maps back to the stored
image for display.

Boxes are half-open pixel boxes ``(x_min, y_min, x_max, y_max)`` (``xyxy``), as in ``boxes.csv``.

Example:
    >>> row = {"crop_x_min": 100, "crop_y_min": 0, "crop_x_max": 300, "crop_y_max": 400, "scale": 0.5,
    ...        "flipped": False}
    >>> to_cache_boxes([[150, 100, 200, 150]], row).tolist()
    [[25.0, 50.0, 50.0, 75.0]]
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..data.rsna import BoxFileError, load_boxes  # noqa: F401 - the one boxes reader, re-exported

#: Manifest fields the mapping needs.
GEOMETRY_FIELDS: tuple[str, ...] = ("crop_x_min", "crop_y_min", "crop_x_max", "crop_y_max", "scale", "flipped")


def _geometry(row: Mapping) -> tuple[float, float, float, float, float, bool]:
    missing = [f for f in GEOMETRY_FIELDS if f not in row]
    if missing:
        raise ValueError(f"box mapping needs the manifest fields {missing}; got {sorted(row)}")
    flipped = row["flipped"]
    if isinstance(flipped, str):
        flipped = flipped.strip().lower() == "true"
    x0, y0, x1, y1 = (float(row[k]) for k in GEOMETRY_FIELDS[:4])
    scale = float(row["scale"])
    if not scale > 0 or x1 <= x0 or y1 <= y0:
        raise ValueError(f"box mapping: invalid crop ({x0}, {y0}, {x1}, {y1}) or scale {scale}")
    return x0, y0, x1, y1, scale, bool(flipped)


def _as_boxes(boxes) -> np.ndarray:
    arr = np.asarray(boxes, np.float64).reshape(-1, 4)
    return arr


def to_cache_boxes(boxes, row: Mapping, size: tuple[int, int] | None = None) -> np.ndarray:
    """Map boxes from stored-DICOM pixels to cached-image pixels.

    Args:
        boxes: ``(N, 4)`` ``xyxy`` boxes in stored pixels.
        row: The image's manifest row (:data:`GEOMETRY_FIELDS`).
        size: Optional cache ``(height, width)``; boxes are clipped to it when given.

    Returns:
        ``(N, 4)`` float boxes in cache pixels (the part outside the crop is clipped away).
    """
    cx0, cy0, cx1, cy1, s, flipped = _geometry(row)
    b = _as_boxes(boxes)
    x0 = np.clip(b[:, 0], cx0, cx1) - cx0
    x1 = np.clip(b[:, 2], cx0, cx1) - cx0
    y0 = (np.clip(b[:, 1], cy0, cy1) - cy0) * s
    y1 = (np.clip(b[:, 3], cy0, cy1) - cy0) * s
    if flipped:
        width = cx1 - cx0
        x0, x1 = width - x1, width - x0
    out = np.stack([x0 * s, y0, x1 * s, y1], axis=1)
    if size is not None:
        out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, size[1])
        out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, size[0])
    return out


def to_stored_boxes(boxes, row: Mapping) -> np.ndarray:
    """Map boxes from cached-image pixels back to stored-DICOM pixels (the inverse of :func:`to_cache_boxes`).

    Args:
        boxes: ``(N, 4)`` ``xyxy`` boxes in cache pixels (e.g. detector output).
        row: The image's manifest row.

    Returns:
        ``(N, 4)`` float boxes in stored pixels, clipped to the crop.
    """
    cx0, cy0, cx1, cy1, s, flipped = _geometry(row)
    b = _as_boxes(boxes) / s
    x0, x1 = b[:, 0], b[:, 2]
    if flipped:
        width = cx1 - cx0
        x0, x1 = width - x1, width - x0
    out = np.stack([x0 + cx0, b[:, 1] + cy0, x1 + cx0, b[:, 3] + cy0], axis=1)
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], cx0, cx1)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], cy0, cy1)
    return out


def to_stored_map(heat: np.ndarray, row: Mapping, cache_size: tuple[int, int], max_side: int = 512) -> np.ndarray:
    """Lay a map over the cached image (e.g. a Grad-CAM heat-map) back onto the stored image's whole frame.

    The map is resized to the cache, cut to the breast's part of it (the padding dropped), mirrored back when
    the crop was flipped and pasted at the crop's place; outside the crop the map is 0. The frame is scaled down
    so that its longest side is at most ``max_side`` pixels (a heat-map is smooth), keeping the stored aspect.

    Args:
        heat: ``(h, w)`` map covering the whole cached image (any resolution, e.g. the model's input size).
        row: The image's geometry (:data:`GEOMETRY_FIELDS` plus ``orig_rows``, ``orig_cols``).
        cache_size: ``(height, width)`` of the cached image.
        max_side: Longest side of the returned frame in pixels.

    Returns:
        ``(R, C)`` float32 map with ``R / C`` = ``orig_rows / orig_cols``; a stored pixel ``(y, x)`` lies at
        ``(y * R / orig_rows, x * C / orig_cols)``.

    Example:
        >>> row = {"crop_x_min": 0, "crop_y_min": 0, "crop_x_max": 200, "crop_y_max": 400, "scale": 0.25,
        ...        "flipped": False, "orig_rows": 400, "orig_cols": 300}
        >>> to_stored_map(np.ones((100, 100), np.float32), row, (100, 100), max_side=40).shape
        (40, 30)
    """
    import cv2

    cx0, cy0, cx1, cy1, s, flipped = _geometry(row)
    rows, cols = int(row["orig_rows"]), int(row["orig_cols"])
    if int(max_side) < 1:
        raise ValueError(f"max_side must be >= 1 pixel, got {max_side!r}")
    f = min(1.0, max_side / max(rows, cols))
    out = np.zeros((max(1, round(rows * f)), max(1, round(cols * f))), np.float32)
    h, w = cache_size
    cache = cv2.resize(np.asarray(heat, np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    part = cache[: max(1, min(h, round((cy1 - cy0) * s))), : max(1, min(w, round((cx1 - cx0) * s)))]
    if flipped:
        part = part[:, ::-1]
    x0, y0 = min(round(cx0 * f), out.shape[1] - 1), min(round(cy0 * f), out.shape[0] - 1)
    x1, y1 = max(x0 + 1, min(out.shape[1], round(cx1 * f))), max(y0 + 1, min(out.shape[0], round(cy1 * f)))
    out[y0:y1, x0:x1] = cv2.resize(np.ascontiguousarray(part), (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    return out


def cache_boxes(images: pd.DataFrame, boxes: pd.DataFrame, size: tuple[int, int]) -> pd.DataFrame:
    """Attach each image's boxes in cache pixels.

    Args:
        images: Manifest rows (with :data:`GEOMETRY_FIELDS`, ``image_id``) of the images to use.
        boxes: :func:`load_boxes` output.
        size: Cache ``(height, width)``.

    Returns:
        ``images`` plus ``boxes`` (``(K, 4)`` float arrays in cache pixels, K may be 0) and ``classes``
        (``(K,)`` int arrays). Boxes that lie outside the breast crop entirely are dropped.
    """
    grouped = {k: g for k, g in boxes.groupby("image_id")}
    out_boxes, out_classes = [], []
    for row in images.to_dict("records"):
        g = grouped.get(row["image_id"])
        if g is None:
            out_boxes.append(np.zeros((0, 4), np.float32))
            out_classes.append(np.zeros((0,), np.int32))
            continue
        mapped = to_cache_boxes(g[["x_min", "y_min", "x_max", "y_max"]].to_numpy(), row, size)
        keep = (mapped[:, 2] - mapped[:, 0] >= 1) & (mapped[:, 3] - mapped[:, 1] >= 1)
        out_boxes.append(mapped[keep].astype(np.float32))
        out_classes.append(g.class_id.to_numpy()[keep].astype(np.int32))
    out = images.copy()
    out["boxes"] = out_boxes
    out["classes"] = out_classes
    return out


def box_mask(boxes, shape: tuple[int, int]) -> np.ndarray:
    """Boolean ``shape`` mask of the pixels any ``xyxy`` box touches (edges rounded outwards)."""
    mask = np.zeros(shape, bool)
    for x0, y0, x1, y1 in np.asarray(boxes).reshape(-1, 4):
        mask[int(np.floor(y0)) : int(np.ceil(y1)), int(np.floor(x0)) : int(np.ceil(x1))] = True
    return mask


def box_area_share(boxes: np.ndarray, size: tuple[int, int]) -> float:
    """Share of an image's area inside the union of ``boxes`` (the chance rate of a pointing game)."""
    return float(box_mask(boxes, size).mean())


def lesion_crop_share(boxes: pd.DataFrame, manifest: pd.DataFrame) -> pd.Series:
    """Share of its breast's crop box that each lesion box covers (how small a lesion is against the breast).

    Args:
        boxes: ``boxes.csv`` rows (:func:`~mammo_utils.data.rsna.load_boxes`), stored-pixel ``xyxy``.
        manifest: The cache's manifest (``image_id``, ``status``, ``crop_x_min … crop_y_max``); images that failed
            preprocessing are left out.

    Returns:
        One value per box of a cached image, in [0, 1] (the box clipped to the crop, over the crop's area).

    Example:
        >>> boxes = pd.DataFrame({"image_id": [1], "x_min": [10], "y_min": [10], "x_max": [30], "y_max": [20]})
        >>> manifest = pd.DataFrame({"image_id": [1], "status": ["ok"], "crop_x_min": [0], "crop_y_min": [0],
        ...                          "crop_x_max": [100], "crop_y_max": [200]})
        >>> lesion_crop_share(boxes, manifest).tolist()
        [0.01]
    """
    ok = manifest[manifest.status == "ok"]
    both = boxes.merge(ok[["image_id", "crop_x_min", "crop_y_min", "crop_x_max", "crop_y_max"]], on="image_id")
    width = (np.minimum(both.x_max, both.crop_x_max) - np.maximum(both.x_min, both.crop_x_min)).clip(lower=0)
    height = (np.minimum(both.y_max, both.crop_y_max) - np.maximum(both.y_min, both.crop_y_min)).clip(lower=0)
    crop = (both.crop_x_max - both.crop_x_min) * (both.crop_y_max - both.crop_y_min)
    return (width * height / crop).rename("lesion_share")
