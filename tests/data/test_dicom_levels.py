"""Reduced-resolution JPEG 2000 decoding at sizes Pillow mis-predicts, the fast lossless-JPEG decoder, and the
``MAMMO_FAST_DECODE`` switch."""

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


def test_the_bit_depth_check_shows_pillow_scaling_a_12_bit_codestream_to_16_bits(awkward_j2k, tmp_path):
    from mammo_utils.data.j2k import bit_depth_check

    check = bit_depth_check(awkward_j2k)
    assert check["bits_stored"] == check["codestream_bits"] == 12
    assert check["stored_max"] <= 4095 < check["pillow_max"]  # the decoded maximum is not the bit depth
    assert check["pillow_max"] == check["stored_max"] << 4 or check["pillow_max"] // 16 == check["stored_max"]
    assert check["reduced_max"] <= 4095  # shifted back into the stored range
    lossless = next(m for m in MACHINES if m.transfer_syntax != C.JPEG2000_LOSSLESS and "4.9" not in m.transfer_syntax)
    other = tmp_path / "other.dcm"
    pixels, tags = to_stored_pixels(np.zeros((64, 48), np.float32), lossless)
    write_dicom(other, pixels, lossless, {"patient_id": 1, "image_id": 3, "laterality": "L", "view": "CC"}, tags)
    with pytest.raises(ValueError, match="not a JPEG 2000 file"):
        bit_depth_check(other)


def test_switch_off_decodes_in_full(awkward_j2k, monkeypatch):
    import mammo_utils.data.dicom as dicom

    monkeypatch.setenv(FAST_DECODE_ENV, "0")
    monkeypatch.setattr(dicom, "_decode_j2k_reduced", lambda *a: pytest.fail("reduced decode with the switch off"))
    assert read_dicom(awkward_j2k, max_size=128).shape == (128, 102)


@pytest.mark.parametrize("machine_id", [49, 93])  # 12-bit MONOCHROME2 and 14-bit MONOCHROME1 lossless JPEG
def test_lossless_jpeg_takes_the_fast_decoder_with_pydicoms_exact_values(machine_id, tmp_path, monkeypatch):
    from mammo_utils.data.ljpeg import decode_lossless_jpeg

    machine = next(m for m in MACHINES if m.machine_id == machine_id)
    assert machine.transfer_syntax == C.JPEG_LOSSLESS_SV1
    image = render_mammogram(np.random.default_rng(5), 700, 560, "R", "MLO", "C", False, "mass").image
    pixels, tags = to_stored_pixels(image, machine)
    path = tmp_path / "ljpeg.dcm"
    write_dicom(path, pixels, machine, {"patient_id": 1, "image_id": 2, "laterality": "R", "view": "MLO"}, tags)
    ds = pydicom.dcmread(path)
    fast = decode_lossless_jpeg(ds)
    assert fast is not None and fast.dtype == ds.pixel_array.dtype and np.array_equal(fast, ds.pixel_array)
    assert np.array_equal(fast, pixels)  # lossless: what was written

    dataset_type = type(ds)
    with monkeypatch.context() as patch:  # read_dicom uses it: pydicom's own decoder is never reached
        patch.setattr(dataset_type, "pixel_array", property(lambda self: pytest.fail("pydicom decoder used")))
        quick = read_dicom(path, max_size=256)
    monkeypatch.setenv(FAST_DECODE_ENV, "0")
    assert np.array_equal(quick, read_dicom(path, max_size=256))  # same image either way


def test_the_fast_lossless_decoder_declines_what_it_cannot_decode(tmp_path):
    from mammo_utils.data.ljpeg import decode_lossless_jpeg

    machine = next(m for m in MACHINES if m.machine_id == 49)
    image = render_mammogram(np.random.default_rng(6), 300, 240, "L", "CC", "B", False, "mass").image
    pixels, tags = to_stored_pixels(image, machine)
    path = tmp_path / "ljpeg.dcm"
    write_dicom(path, pixels, machine, {"patient_id": 1, "image_id": 2, "laterality": "L", "view": "CC"}, tags)
    ds = pydicom.dcmread(path)
    ds.Rows = 301  # the header disagrees with the codestream: pydicom decides (and names the problem)
    assert decode_lossless_jpeg(ds) is None
    ds = pydicom.dcmread(path)
    ds.PixelRepresentation = 1
    assert decode_lossless_jpeg(ds) is None
    other = next(m for m in MACHINES if m.transfer_syntax == C.JPEG2000_LOSSLESS)
    j2k = tmp_path / "j2k.dcm"
    pixels, tags = to_stored_pixels(image, other)
    write_dicom(j2k, pixels, other, {"patient_id": 1, "image_id": 3, "laterality": "L", "view": "CC"}, tags)
    assert decode_lossless_jpeg(pydicom.dcmread(j2k)) is None
