"""What the web app draws (:mod:`mammo_utils.serving.render`), on real arrays: boxes land where their stored
coordinates say, the heat-map leaves the tissue visible, an upload decodes to its own frame, and the decision
reads as a reader says it."""

from __future__ import annotations

import base64

import cv2
import numpy as np
import pytest

from mammo_utils.serving.client import decision_label
from mammo_utils.serving.render import (
    BOX_COLOURS,
    HEAT_FLOOR,
    breast_window,
    decode_for_display,
    decode_map,
    draw_boxes,
    hanging_order,
    render_image,
)


def _tissue(shape=(400, 300), seed=0) -> np.ndarray:
    """A breast-like grey image: a bright half-disc with texture on a black background."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    inside = (rows - shape[0] / 2) ** 2 / (shape[0] / 2.2) ** 2 + cols**2 / (shape[1] * 0.8) ** 2 < 1
    texture = cv2.GaussianBlur(rng.random(shape).astype(np.float32), (0, 0), 3)
    return np.where(inside, 0.35 + 0.6 * (texture - texture.min()) / np.ptp(texture), 0.0).astype(np.float32)


def test_a_box_is_drawn_where_its_stored_coordinates_say():
    picture = np.zeros((500, 250, 3), np.uint8)  # a 2000 x 1000 stored frame shown at a quarter
    box = {"class": "mass", "score": 0.81, "x_min": 400.0, "y_min": 1000.0, "x_max": 800.0, "y_max": 1600.0}
    out = draw_boxes(picture, [box], scale=(0.25, 0.25), classes=["mass", "calcification_cluster"])
    colour = np.array(BOX_COLOURS[0])
    on = np.all(out == colour, axis=-1)
    assert on[250:400, 100].all() and on[250:400, 199].all()  # left and right edges, x = 100 and 199
    assert on[399, 100:200].all()  # the bottom edge
    assert not out[260:390, 110:190].any()  # the inside stays the image
    assert not out[420:, :].any() and not out[:, 210:].any()  # nothing past the box
    assert on[200:250, 100:150].any() and (out[200:250, 100:200] == 0).all(axis=-1).any()  # the label above
    assert draw_boxes(picture, [box], scale=(0.25, 0.25), origin=(50, 100))[150:300, 50].any()  # a window's offset


def test_the_heatmap_overlay_leaves_the_tissue_visible():
    grey = _tissue()
    heat = np.zeros((100, 75), np.float32)
    heat[40:60, 10:30] = 1.0  # one hot spot
    heat = cv2.GaussianBlur(heat, (0, 0), 4)
    heat /= heat.max()
    stored = grey.shape
    picture = render_image(grey, stored, heat=heat, crop=False)
    assert picture.shape == (*grey.shape, 3) and picture.dtype == np.uint8
    luminance = picture.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    assert np.corrcoef(luminance.ravel(), grey.ravel())[0, 1] > 0.8
    cold = cv2.resize(heat, grey.shape[::-1]) < HEAT_FLOOR
    plain = np.round(255 * grey).astype(np.uint8)
    assert np.all(picture[cold] == plain[cold][:, None])  # no colour where the map is low
    hot = picture[170:230, 50:100].astype(int)
    assert np.abs(hot[..., 0] - hot[..., 2]).mean() > 10  # coloured at the hot spot


def test_zoom_keeps_the_breast_and_the_boxes_aligned():
    grey = np.zeros((400, 300), np.float32)
    grey[50:350, 150:300] = _tissue((300, 150))  # the breast on the right, black elsewhere
    stored = (4000, 3000)
    box = {"class": "mass", "score": 0.5, "x_min": 2000.0, "y_min": 1500.0, "x_max": 2500.0, "y_max": 2500.0}
    full = render_image(grey, stored, [box], crop=False)
    zoomed = render_image(grey, stored, [box], crop=True)
    x0, y0, x1, y1 = breast_window(grey)
    assert 100 < x0 < 150 and x1 - x0 < 200 and y0 < 150 and y1 > 250  # the breast (and the box) only
    assert np.all(zoomed[150 - y0 : 250 - y0, 200 - x0] == BOX_COLOURS[0])  # the box's left edge, x = 200
    np.testing.assert_array_equal(zoomed, full[y0:y1, x0:x1])  # the same picture, only windowed


def test_a_dicom_decodes_to_its_own_frame_and_a_map_round_trips(synth_root):
    import pydicom

    path = sorted((synth_root / "train_images").rglob("*.dcm"))[0]
    grey, stored = decode_for_display(path.read_bytes(), max_side=128)
    header = pydicom.dcmread(path, stop_before_pixels=True)
    assert stored == (header.Rows, header.Columns) and max(grey.shape) == 128
    assert abs(grey.shape[0] / grey.shape[1] - header.Rows / header.Columns) < 0.02
    png = cv2.imencode(".png", np.array([[0, 255], [128, 64]], np.uint8))[1].tobytes()
    np.testing.assert_allclose(decode_map(base64.b64encode(png).decode()), [[0, 1], [128 / 255, 64 / 255]])
    image = cv2.imencode(".png", (grey * 255).astype(np.uint8))[1].tobytes()
    again, size = decode_for_display(image, max_side=64)
    assert size == grey.shape and max(again.shape) == 64
    with pytest.raises(ValueError):
        decode_for_display(b"not an image at all" * 20)


@pytest.mark.real_rsna
def test_a_real_rsna_dicom_decodes_for_display(real_rsna):
    path = real_rsna / "train_images" / "10006" / "462822612.dcm"  # MONOCHROME1, 16-bit, SIGMOID VOI
    grey, stored = decode_for_display(path.read_bytes())
    assert stored == (5355, 4915) and max(grey.shape) == 1024
    assert 0.0 <= grey.min() and grey.max() <= 1.0 and grey.std() > 0.05


def test_hanging_order_and_decision_label():
    images = [{"index": i, "laterality": s, "view": v} for i, (s, v) in enumerate(
        [("L", "MLO"), ("R", "CC"), ("", ""), ("L", "CC"), ("R", "MLO")])]  # fmt: skip
    assert [i["index"] for i in hanging_order(images)] == [1, 3, 4, 0, 2]
    assert decision_label({"probability": 0.412, "threshold": 0.229, "decision": "recall"}) == (
        "Recall — p = 0.412 ≥ threshold 0.229"
    )
    # more decimals until the probability and the threshold differ on the page
    assert decision_label({"probability": 0.23451, "threshold": 0.23454, "decision": "routine"}) == (
        "Routine — p = 0.23451 < threshold 0.23454"
    )


def test_labels_of_nested_boxes_do_not_cover_each_other():
    from mammo_utils.serving.render import label_position

    placed = []
    boxes = [(40, 60, 120, 160), (50, 70, 100, 110)]  # a mass inside a spiculated-mass box, tops 10 px apart
    for box in boxes:
        placed.append(label_position((90, 18), box, box[0], 400, placed))
    (a0, a1, a2, a3), (b0, b1, b2, b3) = placed
    assert a2 <= b0 or b2 <= a0 or a3 <= b1 or b3 <= a1, placed  # the two labels do not intersect
    assert placed[0][3] <= boxes[0][1]  # the first (best) label keeps its place above its box
    picture = np.zeros((400, 300, 3), np.uint8)
    two = [
        {"class": "mass", "score": 0.17, "x_min": 50, "y_min": 70, "x_max": 100, "y_max": 110},
        {"class": "spiculated_mass", "score": 0.15, "x_min": 40, "y_min": 60, "x_max": 120, "y_max": 160},
    ]
    assert draw_boxes(picture, two, scale=(1.0, 1.0)).any()
    # the inner box's label is not drawn across the outer box's outline (above the inner box it would be)
    inner = label_position((40, 18), boxes[1], boxes[1][0], 400, [], others=boxes)
    outer = boxes[0]
    assert outer[0] < inner[0] and inner[2] < outer[2] and outer[1] < inner[1] and inner[3] < outer[3], inner
