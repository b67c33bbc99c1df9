"""What the web app shows of a scored image: the uploaded file's own pixels at a readable size, the lesion
detector's boxes drawn where their coordinates say, and the Grad-CAM map as a light overlay that leaves the tissue
visible.

The API returns boxes in the uploaded file's stored pixels and, with ``explain``, the Grad-CAM map over the same
frame (``heatmap_original_png_base64``); this module decodes the upload with the project's readers
(:func:`~mammo_utils.data.dicom.read_dicom`: VOI window, MONOCHROME1 inverted; or
:func:`~.inference.read_image_file`), scales both onto it and draws.

Example:
    >>> grey, stored = decode_for_display(Path("a.dcm").read_bytes())  # doctest: +SKIP
    >>> picture = render_image(grey, stored, result["boxes"], decode_map(result["heatmap_original_png_base64"]))
    ... # doctest: +SKIP
"""

from __future__ import annotations

import base64
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .. import constants as C
from ..data.dicom import PREAMBLE_BYTES, has_dicom_preamble, read_dicom, read_header, resize_longest
from ..data.roi import crop_breast
from ..evaluation.explain import overlay
from .inference import read_image_file

#: Longest side (pixels) an image is decoded to for display: sharp at a full column's width.
DISPLAY_SIDE = 1024
#: Heat-map opacity at the map's peak, and the map value below which nothing is coloured.
HEAT_ALPHA, HEAT_FLOOR = 0.35, 0.5
#: Colormap of the heat-map overlay (dark red -> yellow on its upper half; perceptually uniform).
HEAT_CMAP = "inferno"
#: Box colours (RGB), one per detector class in the detector's order; chosen to stand out from grey and inferno.
BOX_COLOURS = ((0, 220, 255), (255, 64, 255), (64, 255, 64), (255, 255, 255))


def decode_for_display(data: bytes, max_side: int = DISPLAY_SIDE) -> tuple[np.ndarray, tuple[int, int]]:
    """An uploaded file's pixels for display, and the size of its stored frame (what box coordinates refer to).

    Args:
        data: The uploaded bytes (DICOM, or a PNG/JPEG/TIFF image).
        max_side: Longest side of the returned image (never upsampled).

    Returns:
        ``(grey, (rows, columns))``: a float32 [0, 1] image (bright = dense) with the file's aspect, and the
        stored frame's size.

    Raises:
        DicomReadError / ValueError: The bytes are not a readable mammogram.
    """
    with tempfile.TemporaryDirectory(prefix="mammo-display-") as folder:
        path = Path(folder) / "upload"
        path.write_bytes(data)
        if has_dicom_preamble(data[:PREAMBLE_BYTES]):
            header = read_header(path)
            return read_dicom(path, max_size=max_side), (int(header["rows"]), int(header["columns"]))
        image = read_image_file(path)
        return resize_longest(image, max_side), image.shape


def decode_map(png_base64: str) -> np.ndarray:
    """A grey PNG in base64 (e.g. ``heatmap_original_png_base64``) as a float32 [0, 1] map."""
    import cv2

    raw = np.frombuffer(base64.b64decode(png_base64), np.uint8)
    arr = cv2.imdecode(raw, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_GRAYSCALE)
    if arr is None:
        raise ValueError("the heat-map is not a readable PNG")
    return arr.astype(np.float32) / (65535.0 if arr.dtype == np.uint16 else 255.0)


def _apart(r, p) -> bool:
    """True when rectangles ``r`` and ``p`` (``(x0, y0, x1, y1)``) do not intersect."""
    return r[2] <= p[0] or p[2] <= r[0] or r[3] <= p[1] or p[3] <= r[1]


def _off_edges(r, box) -> bool:
    """True when rectangle ``r`` does not lie on ``box``'s outline: apart from it, or wholly inside it."""
    return _apart(r, box) or (box[0] < r[0] and r[2] < box[2] and box[1] < r[1] and r[3] < box[3])


def label_position(size, box, left: int, height: int, placed, others=()) -> tuple[int, int, int, int]:
    """Where a box's label goes: above the box, else below it, else stepped down, never over a placed label and,
    where a place allows it, not on another box's outline.

    Args:
        size: ``(width, height)`` of the label in pixels.
        box: ``(x0, y0, x1, y1)`` of its box.
        left: The label's left edge.
        height: The picture's height.
        placed: Labels already placed, ``(x0, y0, x1, y1)`` each.
        others: The other boxes, ``(x0, y0, x1, y1)`` each: a label covering one's outline hides where it runs.

    Returns:
        ``(x0, y0, x1, y1)`` of the label: the first candidate clear of placed labels and other boxes' outlines,
        else the first clear of placed labels, else the above-the-box one.

    Example:
        >>> label_position((40, 10), (5, 30, 60, 80), 5, 200, [(5, 19, 45, 29)])
        (5, 81, 45, 91)
        >>> label_position((40, 10), (20, 40, 50, 60), 20, 200, [], others=[(10, 35, 90, 120)])
        (20, 61, 60, 71)
    """
    tw, th = size
    above = box[1] - th - 1 if box[1] - th - 1 >= 0 else max(0, box[1])
    tops = [above, box[3] + 1] + [above + k * (th + 1) for k in range(1, 8)]
    candidates = [(left, t, left + tw, t + th) for t in tops if 0 <= t and t + th <= height]
    clear = [r for r in candidates if all(_apart(r, p) for p in placed)]
    tidy = (r for r in clear if all(_off_edges(r, o) for o in others if tuple(o) != tuple(box)))
    return next(tidy, clear[0] if clear else (left, above, left + tw, above + th))


def draw_boxes(
    picture: np.ndarray,
    boxes: Sequence[dict],
    scale: tuple[float, float],
    origin: tuple[int, int] = (0, 0),
    classes: Sequence[str] = (),
) -> np.ndarray:
    """Draw detector boxes (class and score labelled) on an RGB picture of the stored frame at another size.

    A stored pixel ``(x, y)`` is drawn at ``(x * scale[1] - origin[0], y * scale[0] - origin[1])``.

    Args:
        picture: ``(H, W, 3)`` uint8 RGB picture (the stored frame resized, or a window of it).
        boxes: ``[{"class", "score", "x_min", "y_min", "x_max", "y_max"}]`` in stored pixels (the API's).
        scale: ``(rows, columns)`` picture pixels per stored pixel.
        origin: ``(x, y)`` of the picture's top-left corner in the resized frame (a window's offset).
        classes: The detector's classes (their order picks the colours; unknown classes come after them).

    Returns:
        A copy of ``picture`` with each box outlined (inside its edges) and labelled above it (or inside at the
        top edge when there is no room above); a label that would cover another box's label or outline moves
        below its box, or further down (:func:`label_position`).
    """
    import cv2

    out = np.ascontiguousarray(picture.copy())
    h, w = out.shape[:2]
    line = max(2, round(max(h, w) / 250))
    font = max(0.5, max(h, w) / 900)
    weight = max(1, round(font * 1.5))
    names = list(classes)
    drawn = []
    for box in sorted(boxes, key=lambda b: b["score"]):  # the best box drawn last, on top
        if box["class"] not in names:
            names.append(box["class"])
        colour = BOX_COLOURS[names.index(box["class"]) % len(BOX_COLOURS)]
        x0, y0 = round(box["x_min"] * scale[1]) - origin[0], round(box["y_min"] * scale[0]) - origin[1]
        x1, y1 = (
            max(x0 + 1, round(box["x_max"] * scale[1]) - origin[0]),
            max(y0 + 1, round(box["y_max"] * scale[0]) - origin[1]),
        )
        cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), colour, line)
        text = f"{box['class'].replace('_', ' ')} {box['score']:.2f}"
        drawn.append((box["score"], text, colour, (x0, y0, x1, y1)))
    placed: list[tuple[int, int, int, int]] = []
    for _, text, colour, (x0, y0, x1, y1) in sorted(drawn, key=lambda d: -d[0]):  # the best box's label first
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font, weight)
        size = (tw + 6, th + base + 4)
        left = min(max(0, x0), max(0, w - size[0]))
        others = [d[3] for d in drawn]
        rect = label_position(size, (x0, y0, x1, y1), left, h, placed, others)
        placed.append(rect)
        cv2.rectangle(out, rect[:2], rect[2:], colour, -1)
        cv2.putText(out, text, (rect[0] + 3, rect[1] + th + 2), cv2.FONT_HERSHEY_SIMPLEX, font, (0, 0, 0), weight,
                    cv2.LINE_AA)  # fmt: skip
    return out


def breast_window(grey: np.ndarray, margin: float = 0.03) -> tuple[int, int, int, int]:
    """The breast's box in a display image, widened by ``margin`` of the longest side (the whole image when no
    breast is found): :func:`~mammo_utils.data.roi.crop_breast`'s box, without its flip.

    Returns:
        ``(x0, y0, x1, y1)`` half-open, inside the image.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no breast found: the whole image, said by its size
        _, (x0, y0, x1, y1) = crop_breast(grey, flip=False)
    pad = round(margin * max(grey.shape))
    return max(0, x0 - pad), max(0, y0 - pad), min(grey.shape[1], x1 + pad), min(grey.shape[0], y1 + pad)


def render_image(
    grey: np.ndarray,
    stored: tuple[int, int],
    boxes: Sequence[dict] | None = None,
    heat: np.ndarray | None = None,
    classes: Sequence[str] = (),
    crop: bool = True,
) -> np.ndarray:
    """The picture the web app shows: the grey image, the heat-map where it is high, the boxes on top.

    Args:
        grey: ``(H, W)`` float [0, 1] image of the whole stored frame (:func:`decode_for_display`).
        stored: ``(rows, columns)`` of the stored frame.
        boxes: Detector boxes in stored pixels (None or empty: none drawn).
        heat: Map in [0, 1] over the same frame at any resolution (None: no overlay). Coloured with
            :data:`HEAT_CMAP` only above :data:`HEAT_FLOOR`, at most :data:`HEAT_ALPHA` opaque.
        classes: The detector's classes (box colours).
        crop: Show the breast's window only (:func:`breast_window`) instead of the whole frame.

    Returns:
        ``(h, w, 3)`` uint8 RGB: ``(H, W)`` or the breast's window of it.
    """
    import cv2

    x0, y0, x1, y1 = breast_window(grey) if crop else (0, 0, grey.shape[1], grey.shape[0])
    window = grey[y0:y1, x0:x1]
    if heat is not None:
        full = cv2.resize(np.asarray(heat, np.float32), grey.shape[::-1], interpolation=cv2.INTER_LINEAR)
        picture = overlay(window, full[y0:y1, x0:x1], alpha=HEAT_ALPHA, floor=HEAT_FLOOR, cmap=HEAT_CMAP)
    else:
        picture = np.repeat(np.round(255 * np.clip(window, 0, 1)).astype(np.uint8)[..., None], 3, axis=-1)
    if not boxes:
        return picture
    scale = (grey.shape[0] / stored[0], grey.shape[1] / stored[1])
    return draw_boxes(picture, boxes, scale, (x0, y0), classes)


def hanging_order(images: Sequence[dict]) -> list[dict]:
    """Scored images in a reading room's order: CC views before MLO (then other views), right breast before left.

    Shown two to a row, a four-view study reads R-CC | L-CC over R-MLO | L-MLO; images without laterality or
    view keep their upload order after the others.

    Example:
        >>> [f"{i['laterality']}-{i['view']}" for i in hanging_order([
        ...     {"index": 0, "laterality": "L", "view": "MLO"}, {"index": 1, "laterality": "R", "view": "CC"},
        ...     {"index": 2, "laterality": "L", "view": "CC"}, {"index": 3, "laterality": "R", "view": "MLO"}])]
        ['R-CC', 'L-CC', 'R-MLO', 'L-MLO']
    """
    views = [*C.STANDARD_VIEWS, *C.EXTRA_VIEWS]
    sides = ("R", "L")

    def key(image: dict) -> tuple[int, int, int]:
        view, side = image.get("view") or "", image.get("laterality") or ""
        return (
            views.index(view) if view in views else len(views),
            sides.index(side) if side in sides else len(sides),
            image.get("index", 0),
        )

    return sorted(images, key=key)
