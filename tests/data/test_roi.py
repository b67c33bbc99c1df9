"""Breast crop: lesions kept, burned-in labels removed, chest wall to the left, graceful failure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mammo_utils.data.dicom import read_dicom
from mammo_utils.data.roi import crop_breast
from mammo_utils.data.synthetic_render import render_mammogram


def _inside(box, outer):
    return box[0] >= outer[0] and box[1] >= outer[1] and box[2] <= outer[2] and box[3] <= outer[3]


@pytest.mark.parametrize("laterality", ["L", "R"])
@pytest.mark.parametrize("view", ["CC", "MLO"])
def test_crop_keeps_lesions_drops_labels_and_orients(laterality, view):
    for seed in range(4):
        r = render_mammogram(np.random.default_rng(seed), 512, 416, laterality, view, "B", seed == 3, "spiculated_mass")
        crop, box = crop_breast(r.image)
        x0, y0, x1, y1 = box
        assert crop.shape == (y1 - y0, x1 - x0)
        for l in r.lesions:
            assert _inside((l.x_min, l.y_min, l.x_max, l.y_max), box)
        assert not r.label_mask[y0:y1, x0:x1].any(), "burned-in label inside the crop"
        assert r.breast_mask[y0:y1, x0:x1].sum() == r.breast_mask.sum()  # no breast tissue lost
        half = crop.shape[1] // 2
        assert crop[:, :half].mean() > crop[:, half:].mean()  # chest wall on the left after the flip


def test_every_planted_lesion_of_the_synthetic_set_stays_in_the_crop(synth_root):
    df = pd.read_csv(synth_root / "train.csv").set_index("image_id")
    boxes = pd.read_csv(synth_root / "boxes.csv")
    for b in boxes.itertuples():
        r = df.loc[b.image_id]
        _, box = crop_breast(read_dicom(synth_root / "train_images" / str(r.patient_id) / f"{b.image_id}.dcm"))
        assert _inside((b.x_min, b.y_min, b.x_max, b.y_max), box)


def test_no_breast_returns_whole_image_with_warning():
    blank = np.zeros((64, 48), np.float32)
    with pytest.warns(RuntimeWarning, match="no breast"):
        crop, box = crop_breast(blank)
    assert crop.shape == blank.shape and box == (0, 0, 48, 64)
    with pytest.raises(ValueError, match="2-D"):
        crop_breast(np.zeros((0, 3)))


def test_bright_border_is_not_the_breast():
    r = render_mammogram(np.random.default_rng(0), 400, 320, "L", "CC", "C", False, None)
    img = r.image.copy()
    img[:, -3:] = 1.0  # a detector edge / collimator line on the far side
    _, (x0, y0, x1, y1) = crop_breast(img)
    assert x1 < 320 - 3 and r.breast_mask[y0:y1, x0:x1].sum() == r.breast_mask.sum()


@pytest.mark.real_rsna
def test_real_rsna_crops(real_rsna):
    for f in sorted((real_rsna / "train_images").rglob("*.dcm")):
        img = read_dicom(f, max_size=1024)
        crop, (x0, y0, x1, y1) = crop_breast(img)
        assert 0.08 < (x1 - x0) * (y1 - y0) / img.size < 0.95
        assert crop[:, : crop.shape[1] // 2].mean() > crop[:, crop.shape[1] // 2 :].mean()
