"""Reduced-resolution JPEG 2000 decoding at sizes Pillow mis-predicts, and the ``MAMMO_FAST_DECODE`` switch."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pydicom
import pytest

from mammo_utils import constants as C
from mammo_utils.data.dicom import FAST_DECODE_ENV, pillow_safe_level, read_dicom
from mammo_utils.data.synthetic import MACHINES, to_stored_pixels, write_dicom
from mammo_utils.data.synthetic_render import render_mammogram


def _pillow_side(n: int, level: int) -> int:
    """The size Pillow 13 allocates for a side of ``n`` pixels at ``level`` (Jpeg2KImagePlugin.load)."""
    power = 1 << level
    return int((n + (power >> 1)) / power)


@pytest.mark.parametrize("rows, cols", [(2776, 2082), (5355, 4915), (4096, 3328), (1042, 834), (3328, 2560)])
def test_safe_level_is_one_pillow_sizes_right(rows, cols):
    for wanted in range(0, 7):
        level = pillow_safe_level(rows, cols, wanted)
        assert level <= wanted and (level >= 1 or wanted == 0)
        for n in (rows, cols):
            assert _pillow_side(n, level) == math.ceil(n / (1 << level))  # what OpenJPEG decodes
    assert pillow_safe_level(2776, 2082, 3) == 2  # the real RSNA size that used to fall back to a full decode
    assert pillow_safe_level(4096, 3328, 4) == 4


@pytest.fixture(scope="module")
def awkward_j2k(tmp_path_factory):
    """A 12-bit JPEG 2000 lossless mammogram of 1042 x 834 px: level 3 (834 / 8 = 104.25) trips Pillow."""
    image = render_mammogram(np.random.default_rng(7), 1042, 834, "L", "CC", "B", False, "mass").image
    machine = dataclasses.replace(MACHINES[0], transfer_syntax=C.JPEG2000_LOSSLESS, bits_stored=12)
    pixels, tags = to_stored_pixels(image, machine)
    path = tmp_path_factory.mktemp("j2k") / "awkward.dcm"
    write_dicom(path, pixels, machine, {"patient_id": 1, "image_id": 2, "laterality": "L", "view": "CC"}, tags)
    return path


def test_reduced_decode_never_falls_back_to_a_full_decode(awkward_j2k, monkeypatch):
    dataset_type = type(pydicom.dcmread(awkward_j2k, stop_before_pixels=True))

    def full_decode(self):
        raise AssertionError("full decode: the reduced-resolution decode failed")

    with monkeypatch.context() as patch:
        patch.setattr(dataset_type, "pixel_array", property(full_decode))
        fast = read_dicom(awkward_j2k, max_size=128)
    monkeypatch.setenv(FAST_DECODE_ENV, "0")
    full = read_dicom(awkward_j2k, max_size=128)
    assert fast.shape == full.shape == (128, 102)
    assert np.abs(fast - full).mean() < 0.01  # area averaging of the full image vs the wavelet's low band


def test_switch_off_decodes_in_full(awkward_j2k, monkeypatch):
    import mammo_utils.data.dicom as dicom

    monkeypatch.setenv(FAST_DECODE_ENV, "0")
    monkeypatch.setattr(dicom, "_decode_j2k_reduced", lambda *a: pytest.fail("reduced decode with the switch off"))
    assert read_dicom(awkward_j2k, max_size=128).shape == (128, 102)
