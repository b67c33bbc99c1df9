"""Boxes follow the pixels: stored <-> cache mapping, and a planted marker that must land in its mapped box."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mammo_utils import constants as C
from mammo_utils.detection.boxes import (
    BoxFileError,
    box_area_share,
    cache_boxes,
    load_boxes,
    to_cache_boxes,
    to_stored_boxes,
    to_stored_map,
)


@pytest.mark.parametrize("flipped", [False, True])
def test_round_trip_stored_cache_stored(flipped):
    row = {"crop_x_min": 37, "crop_y_min": 11, "crop_x_max": 401, "crop_y_max": 500, "scale": 0.37, "flipped": flipped}
    rng = np.random.default_rng(0)
    x0 = rng.uniform(40, 300, 20)
    y0 = rng.uniform(20, 400, 20)
    boxes = np.c_[x0, y0, x0 + rng.uniform(5, 90, 20), y0 + rng.uniform(5, 90, 20)]
    cache = to_cache_boxes(boxes, row)
    assert np.all(cache[:, 2] > cache[:, 0]) and np.all(cache[:, 3] > cache[:, 1])
    np.testing.assert_allclose(to_stored_boxes(cache, row), boxes, atol=1e-9)


@pytest.mark.parametrize("flipped", [False, True])
def test_a_cache_map_lands_on_the_stored_frame_where_its_box_is(flipped):
    row = {"crop_x_min": 300, "crop_y_min": 40, "crop_x_max": 1100, "crop_y_max": 1960, "scale": 0.1,
           "flipped": flipped, "orig_rows": 2000, "orig_cols": 1200}  # fmt: skip
    stored_box = np.array([[700, 900, 900, 1300]])
    cx0, cy0, cx1, cy1 = to_cache_boxes(stored_box, row)[0].round().astype(int)
    heat = np.zeros((256, 128), np.float32)  # the cache is 256 x 128; the crop fills 192 x 80 of it
    heat[cy0:cy1, cx0:cx1] = 1.0
    heat[:, 100:] = 1.0  # the padding: must not reach the stored frame
    frame = to_stored_map(heat, row, (256, 128), max_side=500)
    assert frame.shape == (500, 300)
    f = 500 / 2000
    inside = frame[int(900 * f) + 2 : int(1300 * f) - 2, int(700 * f) + 2 : int(900 * f) - 2]
    assert inside.min() > 0.9
    hot = np.argwhere(frame > 0.5)
    assert hot[:, 0].min() >= 900 * f - 3 and hot[:, 0].max() <= 1300 * f + 3
    assert hot[:, 1].min() >= 700 * f - 3 and hot[:, 1].max() <= 900 * f + 3
    assert frame[:, : int(300 * f)].max() == 0 and frame[:, int(1100 * f) + 1 :].max() == 0  # outside the crop


def test_flip_mirrors_within_the_crop():
    row = {"crop_x_min": 100, "crop_y_min": 0, "crop_x_max": 300, "crop_y_max": 400, "scale": 0.5, "flipped": "True"}
    # a box touching the crop's right edge lands at the cache's left edge once mirrored
    np.testing.assert_allclose(to_cache_boxes([[280, 40, 300, 60]], row), [[0, 20, 10, 30]])


def test_boxes_outside_the_crop_are_clipped_then_dropped(tmp_path):
    images = pd.DataFrame([{"image_id": 1, "crop_x_min": 100, "crop_y_min": 0, "crop_x_max": 200, "crop_y_max": 200,
                            "scale": 1.0, "flipped": False}])  # fmt: skip
    boxes = pd.DataFrame(
        [[1, 0, 0, 50, 50, "mass", 0], [1, 150, 10, 180, 40, "calcification_cluster", 2]],
        columns=[*C.BOX_COLUMNS, "class_id"],
    )
    out = cache_boxes(images, boxes, (200, 100))
    np.testing.assert_allclose(out.boxes[0], [[50, 10, 80, 40]])
    assert out.classes[0].tolist() == [2]


def test_load_boxes_names_the_file_and_the_problem(tmp_path):
    with pytest.raises(BoxFileError, match="boxes.csv: no boxes file"):
        load_boxes(tmp_path)
    (tmp_path / "boxes.csv").write_text("image_id,x_min,y_min,x_max,y_max,label\n1,0,0,5,5,tumour\n")
    with pytest.raises(BoxFileError, match=r"unknown labels \['tumour'\]"):
        load_boxes(tmp_path)
    (tmp_path / "boxes.csv").write_text("image_id,x_min,y_min,x_max,y_max,label\n1,9,0,5,5,mass\n")
    with pytest.raises(BoxFileError, match="x_max <= x_min"):
        load_boxes(tmp_path)
    (tmp_path / "boxes.csv").write_text("image_id,x_min,y_min,x_max,label\n")
    with pytest.raises(BoxFileError, match=r"missing columns \['y_max'\]"):
        load_boxes(tmp_path)


def test_box_area_share():
    assert box_area_share([[0, 0, 10, 10]], (20, 20)) == pytest.approx(0.25)
    assert box_area_share(np.zeros((0, 4)), (20, 20)) == 0.0


MONO1 = next(m for m in __import__("mammo_utils.data.synthetic", fromlist=["MACHINES"]).MACHINES
             if m.photometric == C.MONOCHROME1 and m.transfer_syntax == C.JPEG_LOSSLESS_SV1)  # fmt: skip
MONO2 = next(m for m in __import__("mammo_utils.data.synthetic", fromlist=["MACHINES"]).MACHINES
             if m.photometric == C.MONOCHROME2 and m.transfer_syntax == C.EXPLICIT_VR_LITTLE_ENDIAN)  # fmt: skip


@pytest.mark.parametrize("laterality", ["L", "R"])
@pytest.mark.parametrize("view", ["CC", "MLO"])
@pytest.mark.parametrize("machine", [MONO1, MONO2], ids=["MONOCHROME1", "MONOCHROME2"])
def test_planted_marker_lands_in_its_mapped_box(tmp_path, laterality, view, machine):
    """End to end: a bright marker in a DICOM, preprocessing to the cache, the mapped box holds the marker."""
    from mammo_utils.data.preprocess import prepare_image, quantize
    from mammo_utils.data.synthetic import to_stored_pixels, write_dicom
    from mammo_utils.data.synthetic_render import render_mammogram

    rows, cols = 400, 320
    rng = np.random.default_rng(7)
    rendering = render_mammogram(rng, rows, cols, laterality, view)
    image = rendering.image.copy()
    ys, xs = np.nonzero(rendering.breast_mask)
    # a point well inside the breast, off the crop's centre line (a mirrored mapping would miss it)
    cy = int(ys.mean())
    row_xs = xs[ys == cy]
    cx = int(np.quantile(row_xs, 0.2 if laterality == "L" else 0.8))
    image[cy - 3 : cy + 3, cx - 3 : cx + 3] = 1.0
    box = np.array([[cx - 8, cy - 8, cx + 8, cy + 8]], float)
    path = tmp_path / "marker.dcm"
    pixels, tags = to_stored_pixels(image, machine)
    write_dicom(path, pixels, machine, {"patient_id": 1, "image_id": 2, "laterality": laterality, "view": view}, tags)

    size = (256, 128)
    out, info = prepare_image(path, size)
    cached = quantize(out, 16)
    mapped = to_cache_boxes(box, info, size)[0]
    peak = np.argwhere(cached >= cached.max() - 1e-6).mean(axis=0)  # (row, col) of the marker
    assert mapped[1] <= peak[0] <= mapped[3] and mapped[0] <= peak[1] <= mapped[2], (peak, mapped, info["flipped"])
    # and the mapped box's centre maps back to the marker in stored pixels
    back = to_stored_boxes([mapped], info)[0]
    assert abs((back[0] + back[2]) / 2 - cx) <= 2 and abs((back[1] + back[3]) / 2 - cy) <= 2
