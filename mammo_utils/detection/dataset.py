"""Detection batches: cached crops with their boxes, and augmentation that moves the boxes with the pixels.

The detector trains on the classifier's cache (same crops, same patient-grouped folds, so no patient is in
the detector's training set and the classifier's test set). Augmentation is done in numpy on the batch, where
the affine matrix that moves the image also moves the box corners:

- horizontal flip (p = 0.5) and, at ``strength >= 0.5``, vertical flip (as the classifier's augmentation);
- scale ``1 ± 0.25·strength`` about the image centre and translation ``± 0.1·strength`` of the size;
- boxes are clipped to the image and dropped when less than 40% of their area is left.

Targets follow keras-cv's dense format: ``{"boxes": (B, K, 4) xyxy, "classes": (B, K)}`` padded with -1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..data.preprocess import read_cached

#: Padded number of boxes per image in a batch (the embedded set has at most one lesion per image).
MAX_BOXES = 8
#: Share of a box's area that must stay inside the image after augmentation.
MIN_VISIBLE = 0.4


def affine_boxes(boxes: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Move ``xyxy`` boxes with a 2x3 affine matrix (no rotation) and clip them to ``size``.

    Args:
        boxes: ``(K, 4)`` boxes.
        matrix: The 2x3 matrix applied to the image (``cv2.warpAffine`` convention: output = M @ [x, y, 1]).
        size: ``(height, width)`` of the output image.

    Returns:
        ``(boxes, keep)``: the moved, clipped boxes and a mask of those keeping >= :data:`MIN_VISIBLE` of their area.
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    corners = np.stack([b[:, [0, 1]], b[:, [2, 3]]], axis=1)  # (K, 2, 2)
    moved = corners @ matrix[:, :2].T + matrix[:, 2]
    lo, hi = moved.min(axis=1), moved.max(axis=1)
    full = np.prod(hi - lo, axis=1)
    lo = np.clip(lo, 0, [size[1], size[0]])
    hi = np.clip(hi, 0, [size[1], size[0]])
    out = np.concatenate([lo, hi], axis=1)
    kept = np.prod(np.maximum(hi - lo, 0), axis=1)
    keep = (kept >= MIN_VISIBLE * np.maximum(full, 1e-9)) & (kept > 0)
    return out.astype(np.float32), keep


def random_affine(rng: np.random.Generator, size: tuple[int, int], strength: float) -> np.ndarray:
    """A random flip/scale/translate 2x3 matrix for an image of ``size`` (identity at strength 0)."""
    h, w = size
    sx = sy = 1.0 + rng.uniform(-0.25, 0.25) * strength
    if strength > 0 and rng.random() < 0.5:
        sx = -sx
    if strength >= 0.5 and rng.random() < 0.5:
        sy = -sy
    tx, ty = rng.uniform(-0.1, 0.1, 2) * strength * np.array([w, h])
    cx, cy = w / 2, h / 2
    return np.array([[sx, 0, cx - sx * cx + tx], [0, sy, cy - sy * cy + ty]], np.float64)


def augment(
    image: np.ndarray, boxes: np.ndarray, classes: np.ndarray, rng: np.random.Generator, strength: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flip/scale/translate one ``(H, W)`` image and its boxes together.

    Returns:
        ``(image, boxes, classes)`` with the boxes that stay visible.
    """
    import cv2

    size = image.shape[:2]
    matrix = random_affine(rng, size, strength)
    out = cv2.warpAffine(
        np.asarray(image, np.float32), matrix, (size[1], size[0]), flags=cv2.INTER_LINEAR, borderValue=0.0
    )
    moved, keep = affine_boxes(boxes, matrix, size)
    return out, moved[keep], np.asarray(classes)[keep]


def pad_targets(boxes: list[np.ndarray], classes: list[np.ndarray], max_boxes: int = MAX_BOXES) -> dict:
    """Dense keras-cv targets from per-image lists, padded with -1.

    Raises:
        ValueError: An image has more than ``max_boxes`` boxes.
    """
    n = len(boxes)
    out_b = -np.ones((n, max_boxes, 4), np.float32)
    out_c = -np.ones((n, max_boxes), np.float32)
    for i, (b, c) in enumerate(zip(boxes, classes)):
        if len(b) > max_boxes:
            raise ValueError(f"image {i} has {len(b)} boxes; raise MAX_BOXES ({max_boxes})")
        out_b[i, : len(b)] = b
        out_c[i, : len(c)] = c
    return {"boxes": out_b, "classes": out_c}


def load_stack(rows: pd.DataFrame, cache_dir: str | Path) -> np.ndarray:
    """``(N, H, W)`` float32 images of ``rows`` (with ``png``) from the cache."""
    return np.stack([read_cached(cache_dir, png) for png in rows.png]).astype(np.float32)


def detection_batches(images: np.ndarray, rows: pd.DataFrame, batch_size: int, strength: float, seed: int):
    """A ``keras.utils.PyDataset`` of augmented training batches (reshuffled every epoch).

    Args:
        images: ``(N, H, W)`` cached images.
        rows: The images' rows with ``boxes`` / ``classes`` (:func:`~mammo_utils.detection.boxes.cache_boxes`).
        batch_size: Images per batch.
        strength: Augmentation strength in [0, 1].
        seed: Seed of the shuffling and augmentation.

    Returns:
        A dataset yielding ``(images (B, H, W, 1), {"boxes", "classes"})``.
    """
    import keras

    boxes, classes = list(rows.boxes), list(rows.classes)

    class _Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.rng = np.random.default_rng(seed)
            self.order = self.rng.permutation(len(images))

        def __len__(self):
            return int(np.ceil(len(images) / batch_size))

        def on_epoch_end(self):
            self.order = self.rng.permutation(len(images))

        def __getitem__(self, index):
            idx = self.order[index * batch_size : (index + 1) * batch_size]
            out_i, out_b, out_c = [], [], []
            for i in idx:
                img, b, c = augment(images[i], boxes[i], classes[i], self.rng, strength)
                out_i.append(img)
                out_b.append(b)
                out_c.append(c)
            return np.stack(out_i)[..., None], pad_targets(out_b, out_c)

    return _Batches()
