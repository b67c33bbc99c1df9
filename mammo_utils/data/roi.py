"""Breast region of interest: find the breast, crop it, put the chest wall on the left.

The breast is the largest connected component of an Otsu threshold of the lightly
blurred image, after a morphological opening that detaches thin bright structures.
Burned-in labels, markers and detector borders are separate, smaller components and
fall outside the crop.

Orientation convention: :func:`crop_breast` returns crops with the chest wall on the
**left** for both lateralities (right breasts and any image whose breast touches the
right edge are mirrored), so a network sees one orientation. The returned box is in the
pixel coordinates of the input image, before any flip.
"""

from __future__ import annotations

import warnings

import numpy as np

Box = tuple[int, int, int, int]


def breast_mask(image: np.ndarray) -> np.ndarray | None:
    """Mask of the largest bright component (the breast), or None if none is plausible.

    Args:
        image: 2-D float image in [0, 1] (bright = tissue), as from ``read_dicom``.

    Returns:
        bool mask of the image's shape, or None when no component covers >= 1% of the image.
    """
    import cv2

    img8 = np.clip(np.asarray(image, np.float32) * 255.0, 0, 255).astype(np.uint8)
    k = max(3, (min(img8.shape) // 100) | 1)
    blurred = cv2.GaussianBlur(img8, (k, k), 0)
    if blurred.max() == blurred.min():
        return None
    thresh, _ = cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    binary = (blurred > max(thresh * 0.5, 5)).astype(np.uint8)
    binary = cv2.morphologyEx(binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if n <= 1:
        return None
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    if stats[largest, cv2.CC_STAT_AREA] < 0.01 * binary.size:
        return None
    return labels == largest


def chest_wall_on_right(mask: np.ndarray) -> bool:
    """True if the breast mass sits on the right half (the chest wall is on the right)."""
    cols = mask.shape[1]
    return bool(mask[:, cols // 2 :].sum() > mask[:, : cols // 2].sum())


def crop_breast(image: np.ndarray, flip: bool = True, mask: np.ndarray | None = None) -> tuple[np.ndarray, Box]:
    """Crop the breast and orient the chest wall to the left.

    Args:
        image: 2-D float image in [0, 1] (bright = tissue).
        flip: Mirror crops whose chest wall is on the right (default True).
        mask: A breast mask already computed with :func:`breast_mask` (computed here when None).

    Returns:
        ``(crop, box)``: the crop (never empty; mirrored when needed) and its half-open box
        ``(x_min, y_min, x_max, y_max)`` in input pixels. When no breast is found, the whole
        image (oriented the same way) and its full box are returned with a warning.

    Example:
        >>> crop, (x0, y0, x1, y1) = crop_breast(read_dicom(path, max_size=1024))  # doctest: +SKIP
    """
    image = np.asarray(image)
    if image.ndim != 2 or image.size == 0:
        raise ValueError(f"crop_breast expects a non-empty 2-D image, got shape {image.shape}")
    if mask is None:
        mask = breast_mask(image)
    rows, cols = image.shape
    if mask is None:
        warnings.warn("crop_breast: no breast found; returning the whole image", RuntimeWarning, stacklevel=2)
        return image.copy(), (0, 0, cols, rows)
    ys, xs = np.nonzero(mask)
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    crop = image[box[1] : box[3], box[0] : box[2]]
    if flip and chest_wall_on_right(mask):
        crop = crop[:, ::-1]
    return np.ascontiguousarray(crop), box
