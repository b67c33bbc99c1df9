"""DICOM reading: codecs, VOI functions, MONOCHROME1, reduced-resolution decode, bad input."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset

from mammo_utils import constants as C
from mammo_utils.data.dicom import DicomReadError, apply_window, read_dicom, read_header
from mammo_utils.data.synthetic import MACHINES, to_stored_pixels, write_dicom
from mammo_utils.data.synthetic_render import render_mammogram

ROW = {"patient_id": 12345, "image_id": 678, "laterality": "L", "view": "CC"}


@pytest.fixture(scope="module")
def rendering():
    return render_mammogram(np.random.default_rng(5), 512, 416, "L", "CC", "C", False, "mass")


def _write(tmp_path, image, **machine_changes):
    machine = dataclasses.replace(MACHINES[0], **machine_changes)
    pixels, tags = to_stored_pixels(image, machine)
    path = tmp_path / f"{machine.transfer_syntax}_{machine.photometric}_{machine.bits_stored}.dcm"
    write_dicom(path, pixels, machine, ROW, tags)
    return path


def test_every_transfer_syntax_decodes_to_the_same_image(tmp_path, rendering):
    images = [
        read_dicom(_write(tmp_path, rendering.image, transfer_syntax=ts, bits_stored=12))
        for ts in (C.EXPLICIT_VR_LITTLE_ENDIAN, C.JPEG_LOSSLESS_SV1, C.JPEG2000_LOSSLESS)
    ]
    for img in images[1:]:
        assert np.array_equal(img, images[0])  # all three codecs are lossless
    assert np.abs(images[0] - rendering.image).max() < 2e-3  # window maps stored values back to display


def test_monochrome1_is_inverted(tmp_path, rendering):
    mono2 = read_dicom(_write(tmp_path, rendering.image, photometric=C.MONOCHROME2, bits_stored=14))
    mono1 = read_dicom(_write(tmp_path, rendering.image, photometric=C.MONOCHROME1, bits_stored=14))
    stored = pydicom.dcmread(tmp_path / f"{C.JPEG_LOSSLESS_SV1}_{C.MONOCHROME1}_14.dcm").pixel_array
    assert stored[rendering.breast_mask].mean() < stored[~rendering.breast_mask].mean()  # dense = dark when stored
    assert np.abs(mono1 - mono2).max() < 1e-3 and mono1[rendering.breast_mask].mean() > 0.3


def test_window_functions_match_hand_computed_values():
    x = np.array([70.0, 74.5, 100.0, 112.75, 124.6, 130.0])
    assert np.allclose(apply_window(x, 100, 51, "LINEAR"), [0, 0, 0.51, 0.765, 1, 1], atol=1e-6)
    assert np.allclose(apply_window(x, 100, 51, "LINEAR_EXACT"), np.clip((x - 100) / 51 + 0.5, 0, 1), atol=1e-6)
    sig = apply_window(x, 100, 51, "SIGMOID")
    assert sig[2] == pytest.approx(0.5) and sig[3] == pytest.approx(1 / (1 + np.exp(-1)), abs=1e-6)
    with pytest.raises(ValueError, match="VOILUTFunction"):
        apply_window(x, 100, 51, "CUBIC")


def _tiny_dataset(path, pixels, **tags):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = C.DIGITAL_MAMMOGRAPHY_PRESENTATION_SOP
    meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    meta.TransferSyntaxUID = C.EXPLICIT_VR_LITTLE_ENDIAN
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, "1.2.3.4"
    ds.Rows, ds.Columns = pixels.shape[:2]
    ds.SamplesPerPixel = pixels.shape[2] if pixels.ndim == 3 else 1
    ds.PhotometricInterpretation = "RGB" if pixels.ndim == 3 else "MONOCHROME2"
    if pixels.ndim == 3:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    for k, v in tags.items():
        setattr(ds, k, v)
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def test_voi_window_and_lut_sequence_and_rescale_from_a_file(tmp_path):
    pixels = np.arange(0, 4096, 16, dtype=np.uint16).reshape(16, 16)
    p = _tiny_dataset(
        tmp_path / "w.dcm",
        pixels,
        WindowCenter=1000,
        WindowWidth=800,
        VOILUTFunction="SIGMOID",
        RescaleSlope=2,
        RescaleIntercept=-100,
    )
    expected = 1 / (1 + np.exp(-4 * (pixels * 2.0 - 100 - 1000) / 800))
    assert np.allclose(read_dicom(p), expected, atol=1e-5)
    lut_item = Dataset()
    lut_item.LUTDescriptor = [4096, 0, 12]
    lut_item.LUTData = (4095 - np.arange(4096)).astype("<u2").tobytes()
    q = _tiny_dataset(tmp_path / "lut.dcm", pixels, VOILUTSequence=[lut_item], WindowCenter=5, WindowWidth=2)
    assert np.allclose(read_dicom(q), (4095 - pixels) / 4095, atol=1e-6)  # the LUT wins over the window
    none = _tiny_dataset(tmp_path / "plain.dcm", pixels)
    out = read_dicom(none)
    assert out.min() == 0 and out.max() == 1  # min-max when there is no window


def test_reduced_resolution_matches_full_decode(tmp_path):
    big = render_mammogram(np.random.default_rng(1), 2048, 1664, "R", "MLO", "B", False, "calcification_cluster")
    path = _write(tmp_path, big.image, transfer_syntax=C.JPEG2000_LOSSLESS, bits_stored=12)
    fast = read_dicom(path, max_size=512)
    full = read_dicom(path)
    ref = cv2.resize(full, (fast.shape[1], fast.shape[0]), interpolation=cv2.INTER_AREA)
    assert fast.shape == (512, 416)
    assert np.abs(fast - ref).mean() < 0.01


def test_header_has_no_patient_identifiers(tmp_path, rendering):
    h = read_header(_write(tmp_path, rendering.image))
    assert h["rows"] == 512 and h["laterality"] == "L" and h["view"] == "CC"
    assert h["transfer_syntax_name"] == "JPEG lossless"
    lowered = {k.lower() for k in h}
    assert not any(k.lower() in lowered for k in C.PHI_KEYWORDS) and "patient_id" not in lowered
    assert str(ROW["patient_id"]) not in " ".join(str(v) for v in h.values())


def test_bad_inputs_raise_clear_errors(tmp_path, rendering):
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    noise = tmp_path / "noise.dcm"
    noise.write_bytes(np.random.default_rng(0).bytes(5000))
    good = _write(tmp_path, rendering.image, transfer_syntax=C.JPEG2000_LOSSLESS, bits_stored=12)
    truncated = tmp_path / "truncated.dcm"
    truncated.write_bytes(good.read_bytes()[: int(good.stat().st_size * 0.6)])
    no_pixels = tmp_path / "nopixels.dcm"
    ds = pydicom.dcmread(good)
    del ds.PixelData
    ds.save_as(no_pixels)
    rgb = _tiny_dataset(tmp_path / "rgb.dcm", np.zeros((8, 8, 3), np.uint16))
    cases = {
        empty: "empty",
        noise: "not a DICOM",
        truncated: "cannot decode|unreadable|no pixel data",
        no_pixels: "no pixel data",
        rgb: "grayscale",
    }
    for path, reason in cases.items():
        with pytest.raises(DicomReadError, match=reason) as info:
            read_dicom(path, max_size=128)
        assert path.name in str(info.value)
    with pytest.raises(DicomReadError, match="no such file"):
        read_dicom(tmp_path / "missing.dcm")


@pytest.mark.real_rsna
def test_real_rsna_files(real_rsna):
    files = sorted((real_rsna / "train_images").rglob("*.dcm"))
    assert len(files) == 5
    for f in files:
        h = read_header(f)
        img = read_dicom(f, max_size=1024)
        assert max(img.shape) == 1024 and img.dtype == np.float32 and np.isfinite(img).all()
        full = read_dicom(f)
        ref = cv2.resize(full, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_AREA)
        assert np.abs(img - ref).mean() < 0.01
        # the breast is brighter than the background whatever the photometric interpretation
        cols = img.shape[1]
        left, right = img[:, : cols // 3].mean(), img[:, -cols // 3 :].mean()
        assert (left > right) == (h["laterality"] == "L")
    mono1 = read_header(real_rsna / "train_images" / "10006" / "462822612.dcm")
    assert mono1["photometric"] == "MONOCHROME1" and mono1["voi_function"] == "SIGMOID" and mono1["n_windows"] == 4


@pytest.mark.parametrize("keyword, tag, vr", [("NumberOfFrames", 0x00280008, "IS"), ("RescaleSlope", 0x00281053, "DS")])
def test_malformed_header_value_is_a_dicom_read_error(tmp_path, rendering, keyword, tag, vr):
    """A header value such as IS '1A' must not escape as a bare ValueError ("invalid literal for int()")."""
    good = _write(tmp_path, rendering.image, transfer_syntax=C.EXPLICIT_VR_LITTLE_ENDIAN, bits_stored=12)
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    ds = pydicom.dcmread(good)
    ds[tag] = RawDataElement(Tag(tag), vr, 2, b"1A", 0, False, True)  # written as is, parsed only when read
    bad = tmp_path / f"bad_{keyword}.dcm"
    ds.save_as(bad)
    for reader in (read_dicom, read_header):
        if reader is read_header and keyword == "NumberOfFrames":
            continue  # the header reader never looks at NumberOfFrames
        with pytest.raises(DicomReadError, match="malformed DICOM") as info:
            reader(bad)
        assert bad.name in str(info.value) and "1A" in str(info.value)


@pytest.mark.real_rsna
def test_declared_pixel_limit_and_decompression_bomb_are_refused_before_a_full_decode(real_rsna, monkeypatch):
    """A file declaring more pixels than allowed fails from its header; Pillow's bomb error is not retried in full."""
    from PIL import Image

    path = sorted((real_rsna / "train_images").rglob("*.dcm"))[0]
    header = read_header(path)
    declared = header["rows"] * header["columns"]
    with pytest.raises(DicomReadError, match=f"declares {declared:,} pixels"):
        read_dicom(path, max_size=512, max_pixels=declared - 1)
    assert read_dicom(path, max_size=512, max_pixels=declared).shape[0] >= 512

    def full_decode(self):  # the fallback a bomb must never reach
        raise AssertionError("full decode attempted after a decompression-bomb error")

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", declared // 4)  # Pillow raises above twice this
    monkeypatch.setattr(type(pydicom.dcmread(path, stop_before_pixels=True)), "pixel_array", property(full_decode))
    with pytest.raises(DicomReadError, match="too large to decode"):
        read_dicom(path, max_size=512)
