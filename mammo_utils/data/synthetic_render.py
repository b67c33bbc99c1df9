"""Drawing of synthetic mammograms (the pixels; DICOM writing is in :mod:`mammo_utils.data.synthetic`).

Images are rendered as float32 "display" intensity in [0, 1] (bright = dense tissue),
with the chest wall on the left; :func:`render_mammogram` flips right breasts so that,
as in the real RSNA files, left breasts have the chest wall on the left of the image
and right breasts on the right.

What is drawn: a breast outline with an irregular skin line, a compression fall-off
towards the skin, fibroglandular texture whose amount follows the BI-RADS density,
a pectoral muscle triangle on MLO views, an implant when asked, burned-in view
labels and a marker square outside the breast, and planted lesions (masses,
spiculated masses, calcification clusters) whose bounding boxes are returned.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

#: Share of fibroglandular tissue per BI-RADS density letter ("" = unknown).
DENSITY_FRACTION = {"A": 0.12, "B": 0.3, "C": 0.5, "D": 0.7, "": 0.35}


@dataclasses.dataclass(frozen=True)
class Lesion:
    """A planted lesion: half-open pixel box ``[x_min, x_max) x [y_min, y_max)`` and its type."""

    x_min: int
    y_min: int
    x_max: int
    y_max: int
    label: str


@dataclasses.dataclass
class Rendering:
    """Output of :func:`render_mammogram`.

    Attributes:
        image: float32 (rows, cols) display intensity in [0, 1].
        breast_mask: bool mask of the breast (muscle included).
        label_mask: bool mask of burned-in text and markers.
        lesions: planted lesions in image coordinates (after the laterality flip).
    """

    image: np.ndarray
    breast_mask: np.ndarray
    label_mask: np.ndarray
    lesions: list[Lesion]


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float, stretch: float = 1.0) -> np.ndarray:
    """Gaussian-filtered white noise (``stretch`` x longer along x) with zero mean, unit std."""
    field = rng.standard_normal(shape).astype(np.float32)
    field = cv2.GaussianBlur(field, (0, 0), sigmaX=max(sigma * stretch, 0.5), sigmaY=max(sigma, 0.5))
    return (field - field.mean()) / (field.std() + 1e-6)


def _breast_geometry(rng: np.random.Generator, rows: int, cols: int, view: str):
    """Normalised radial coordinate ``r / R(theta)`` (<1 inside the breast) and the muscle mask."""
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    mlo = view in ("MLO", "ML", "LM", "LMO", "AT")
    y0 = rows * rng.uniform(0.5, 0.6) if mlo else rows * rng.uniform(0.46, 0.54)
    a = cols * rng.uniform(0.55, 0.75)
    b_down = rows * rng.uniform(0.3, 0.38)
    b_up = y0 * rng.uniform(1.0, 1.08) if mlo else b_down
    b = np.where(y < y0, b_up, b_down)
    upper = 1.0 / (1.0 + np.exp((y - y0) / (0.05 * rows)))
    a_map = a * (1.0 - (0.15 if mlo else 0.0) * upper)
    u, v = x / a_map, (y - y0) / b
    r = np.sqrt(u**2 + v**2)
    theta = np.arctan2(v, u)
    wobble = np.ones_like(theta)
    for k in (3, 5, 8):
        wobble += rng.uniform(0.005, 0.025) * np.sin(k * theta + rng.uniform(0, 2 * np.pi))
    rn = r / wobble
    muscle = np.zeros((rows, cols), bool)
    if mlo:
        px, py = cols * rng.uniform(0.22, 0.38), rows * rng.uniform(0.4, 0.6)
        muscle = (x / px + y / py) < 1.0
    return rn, muscle


def _place(rng: np.random.Generator, allowed: np.ndarray, extent: int) -> tuple[int, int] | None:
    """A random (x, y) whose distance to anything outside ``allowed`` exceeds ``extent``."""
    dist = cv2.distanceTransform(allowed.astype(np.uint8), cv2.DIST_L2, 5)
    ys, xs = np.nonzero(dist > extent + 2)
    if len(xs) == 0:
        return None
    i = rng.integers(len(xs))
    return int(xs[i]), int(ys[i])


def _draw_lesion(rng: np.random.Generator, image: np.ndarray, allowed: np.ndarray, kind: str) -> Lesion | None:
    """Add one lesion of ``kind`` inside ``allowed``; returns its box or None if it did not fit."""
    rows, cols = image.shape
    scale = rows / 512.0
    radius = rows * rng.uniform(0.022, 0.04)
    extent = int(np.ceil(radius * {"mass": 1.7, "spiculated_mass": 2.3}.get(kind, 1.3) + 2 * max(scale, 1.0)))
    where = _place(rng, allowed, extent)
    if where is None:
        return None
    cx, cy = where
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    d = np.sqrt((x - cx) ** 2 + (y - cy) ** 2)
    layer = np.zeros_like(image)
    if kind in ("mass", "spiculated_mass"):
        core = radius * (0.75 if kind == "spiculated_mass" else 1.0)
        contrast = rng.uniform(0.2, 0.32)
        layer += contrast / (1.0 + np.exp(np.clip((d - core) / (0.18 * core), -50, 50)))
        if kind == "spiculated_mass":
            spokes = np.zeros_like(image)
            for angle in rng.uniform(0, 2 * np.pi, rng.integers(8, 15)):
                length = radius * rng.uniform(1.4, 2.1)
                end = (int(cx + length * np.cos(angle)), int(cy + length * np.sin(angle)))
                cv2.line(spokes, (cx, cy), end, 1.0, max(1, int(round(1.5 * scale))), cv2.LINE_AA)
            layer += 0.6 * contrast * cv2.GaussianBlur(spokes, (0, 0), 0.6 * max(scale, 1.0))
    else:
        for _ in range(rng.integers(6, 16)):
            ang, rad = rng.uniform(0, 2 * np.pi), radius * np.sqrt(rng.uniform(0, 1))
            dx, dy = cx + rad * np.cos(ang), cy + rad * np.sin(ang)
            size = rng.uniform(1.0, 2.0) * max(scale, 1.0)
            layer += rng.uniform(0.4, 0.6) * np.exp(-((x - dx) ** 2 + (y - dy) ** 2) / (2 * size**2))
    # nothing of the lesion leaks outside its box: the layer is cut to the disk the box encloses
    image += layer * allowed * (d <= extent)
    return Lesion(
        max(cx - extent, 0), max(cy - extent, 0), min(cx + extent + 1, cols), min(cy + extent + 1, rows), kind
    )


def _draw_labels(image: np.ndarray, laterality: str, view: str, chest_left: bool) -> np.ndarray:
    """Burn the view label and a marker square into the corner away from the chest wall."""
    rows, cols = image.shape
    scale = rows / 512.0
    canvas = np.zeros((rows, cols), np.uint8)
    text = f"{laterality} {view}"
    font_scale = 0.45 * scale
    thickness = max(1, int(round(scale)))
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
    margin = int(0.02 * cols) + 1
    x0 = cols - tw - margin if chest_left else margin
    cv2.putText(canvas, text, (x0, th + margin), cv2.FONT_HERSHEY_SIMPLEX, font_scale, 255, thickness, cv2.LINE_8)
    side = max(3, int(0.025 * rows))
    mx = cols - side - margin if chest_left else margin
    my = rows - side - margin
    canvas[my : my + side, mx : mx + side] = 255
    mask = canvas > 0
    image[mask] = 1.0
    return mask


def render_mammogram(
    rng: np.random.Generator,
    rows: int,
    cols: int,
    laterality: str,
    view: str,
    density: str = "",
    implant: bool = False,
    lesion_type: str | None = None,
) -> Rendering:
    """Draw one synthetic mammogram.

    Args:
        rng: Random generator (the only source of randomness, so renders are reproducible).
        rows: Image height in pixels.
        cols: Image width in pixels.
        laterality: ``L`` (chest wall on the left) or ``R`` (chest wall on the right).
        view: ``CC``, ``MLO`` or an extra view name (drawn like MLO).
        density: BI-RADS density letter or ``""``.
        implant: Draw a breast implant.
        lesion_type: ``mass``, ``spiculated_mass``, ``calcification_cluster`` or None.

    Returns:
        A :class:`Rendering` with the image, masks and lesion boxes.
    """
    rn, muscle = _breast_geometry(rng, rows, cols, view)
    breast = rn < 1.0
    fraction = DENSITY_FRACTION.get(density, DENSITY_FRACTION[""])
    field = (
        0.35 * _smooth_noise(rng, (rows, cols), 0.004 * rows, 3.0)
        + 0.4 * _smooth_noise(rng, (rows, cols), 0.012 * rows, 2.5)
        + 0.25 * _smooth_noise(rng, (rows, cols), 0.04 * rows)
    )
    prior = np.clip(1.15 - rn, 0.0, 1.0)
    field = field + 1.2 * prior
    cut = np.quantile(field[breast], 1.0 - fraction) if breast.any() else 0.0
    dense = 1.0 / (1.0 + np.exp(-np.clip(field - cut, -20, 20) * 2.5))
    thickness = 0.72 + 0.28 * np.sqrt(np.clip(1.0 - rn**2, 0.0, 1.0))
    image = (0.32 + 0.36 * dense) * thickness
    skin_band = (rn > 0.985) & breast
    image[skin_band] += 0.12
    if muscle.any():
        image = np.where(muscle & breast, 0.72 + 0.08 * _smooth_noise(rng, (rows, cols), 0.03 * rows) * 0.3, image)
    if implant:
        cy, cx = rows * 0.5, cols * rng.uniform(0.18, 0.28)
        y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
        implant_mask = (((x - cx) / (cols * 0.2)) ** 2 + ((y - cy) / (rows * 0.2)) ** 2) < 1.0
        image = np.where(implant_mask & breast, 0.93, image)
    else:
        implant_mask = np.zeros_like(breast)
    image = np.where(breast, image, 0.0).astype(np.float32)
    lesions: list[Lesion] = []
    if lesion_type is not None:
        allowed = breast & ~muscle & ~implant_mask & (rn < 0.85)
        lesion = _draw_lesion(rng, image, allowed, lesion_type)
        if lesion is not None:
            lesions.append(lesion)
    image += rng.normal(0.0, 0.008, image.shape).astype(np.float32)
    image[~breast] = np.abs(image[~breast]) * 0.5
    label_mask = _draw_labels(image, laterality, view, chest_left=True)
    image = np.clip(image, 0.0, 1.0)
    if laterality == "R":
        image, breast, label_mask = image[:, ::-1], breast[:, ::-1], label_mask[:, ::-1]
        lesions = [Lesion(cols - l.x_max, l.y_min, cols - l.x_min, l.y_max, l.label) for l in lesions]
        # labels were drawn for a left breast: redraw them mirrored text-correctly.
        image = np.ascontiguousarray(image)
        image[label_mask] = 0.0
        label_mask = _draw_labels(image, laterality, view, chest_left=False)
    return Rendering(np.ascontiguousarray(image, dtype=np.float32), np.ascontiguousarray(breast), label_mask, lesions)
