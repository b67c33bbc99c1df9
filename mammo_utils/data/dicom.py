"""Reading mammography DICOM files: pixels as display-ready float images, headers without pixels.

The pixel path follows the DICOM grayscale pipeline (PS3.3 C.11): stored values ->
modality rescale (slope/intercept) -> the first VOI transform (VOI LUT Sequence, or a
window with VOILUTFunction LINEAR, LINEAR_EXACT or SIGMOID, or min-max when the file
has neither) -> MONOCHROME1 inversion, giving float32 in [0, 1] with bright = dense.

JPEG 2000 files (RSNA site 2) are decoded at a reduced resolution level when
``max_size`` asks for a small image, so a 1024-px target never pays for a full
5000-px decode; lossless JPEG (RSNA site 1) goes to a faster decoder (:mod:`.ljpeg`); other syntaxes are decoded
in full by pydicom and resized with area averaging. ``MAMMO_FAST_DECODE=0`` turns both shortcuts off.

Example:
    >>> img = read_dicom("train_images/10011/220375232.dcm", max_size=1024)  # doctest: +SKIP
    >>> img.dtype, img.max() <= 1.0  # doctest: +SKIP
    (dtype('float32'), True)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .. import constants as C
from .j2k import (  # noqa: F401 - j2k_precision and FAST_DECODE_ENV re-exported
    FAST_DECODE_ENV,
    _decode_j2k_reduced,
    _reduce_level,
    fast_decode_enabled,
    j2k_precision,
    pillow_safe_level,
)
from .ljpeg import decode_lossless_jpeg

J2K_SYNTAXES = frozenset({C.JPEG2000_LOSSLESS, "1.2.840.10008.1.2.4.91"})


class DicomReadError(ValueError):
    """A file is not a readable single-frame grayscale DICOM image (message names file and reason)."""


def _fail(path: Any, reason: str) -> DicomReadError:
    return DicomReadError(f"{path}: {reason}")


#: Bytes to read from a file's start to check the DICOM preamble (128-byte preamble + ``DICM``).
PREAMBLE_BYTES = 132


def has_dicom_preamble(head: bytes) -> bool:
    """True when a file's first :data:`PREAMBLE_BYTES` bytes carry the DICOM Part 10 marker ``DICM`` at 128.

    The one preamble check: the download verification, the service's upload sniffing and :func:`is_dicom_file`
    call it.

    Example:
        >>> has_dicom_preamble(bytes(128) + b"DICM"), has_dicom_preamble(b"\x89PNG")
        (True, False)
    """
    return len(head) >= PREAMBLE_BYTES and head[128:PREAMBLE_BYTES] == b"DICM"


def is_dicom_file(path: str | Path) -> bool:
    """True for a file that starts with the DICOM preamble (reads only its first bytes)."""
    with open(path, "rb") as handle:
        return has_dicom_preamble(handle.read(PREAMBLE_BYTES))


def _open(path: str | Path, pixels: bool):
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = Path(path)
    if not path.is_file():
        raise _fail(path, "no such file")
    if path.stat().st_size == 0:
        raise _fail(path, "empty file")
    try:
        return pydicom.dcmread(path, stop_before_pixels=not pixels)
    except InvalidDicomError:
        raise _fail(path, "not a DICOM file (no DICM preamble / file meta)") from None
    except Exception as exc:  # truncated headers, bad element lengths, ...
        raise _fail(path, f"unreadable DICOM header ({type(exc).__name__}: {exc})") from None


def _first(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value[0]) if hasattr(value, "__len__") and not isinstance(value, str) else float(value)
    except (TypeError, ValueError, IndexError):
        return None


def read_header(path: str | Path) -> dict[str, Any]:
    """Metadata RSNA work needs, read without decoding pixels (no patient identifiers).

    Args:
        path: DICOM file.

    Returns:
        Dict with ``rows, columns, photometric, bits_stored, bits_allocated,
        transfer_syntax, transfer_syntax_name, window_center, window_width,
        n_windows, voi_function, has_voi_lut, rescale_slope, rescale_intercept,
        pixel_padding_value, laterality, view, manufacturer, model, sop_class``.

    Raises:
        DicomReadError: If the file is missing, not DICOM, or holds a malformed header value.
    """
    return _guard(path, lambda: _header(_open(path, pixels=False)))


def _guard(path: Any, work):
    """Run ``work()``; any failure that is not already a :class:`DicomReadError` becomes one naming ``path``.

    pydicom parses element values lazily, so a malformed IS/DS value (``'1A'``) surfaces as a bare
    ``ValueError`` only when read; this keeps every failure of the public readers the project's error.
    """
    try:
        return work()
    except DicomReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - the contract: one error type, naming the file
        raise _fail(path, f"malformed DICOM ({type(exc).__name__}: {exc})") from None


def _header(ds) -> dict[str, Any]:
    ts = str(ds.file_meta.get("TransferSyntaxUID", ""))
    centers = ds.get("WindowCenter")
    n_windows = (
        0 if centers is None else (len(centers) if hasattr(centers, "__len__") and not isinstance(centers, str) else 1)
    )
    header = {
        "rows": int(ds.get("Rows", 0) or 0),
        "columns": int(ds.get("Columns", 0) or 0),
        "photometric": str(ds.get("PhotometricInterpretation", "")),
        "bits_stored": int(ds.get("BitsStored", 0) or 0),
        "bits_allocated": int(ds.get("BitsAllocated", 0) or 0),
        "transfer_syntax": ts,
        "transfer_syntax_name": C.TRANSFER_SYNTAX_NAMES.get(ts, ts),
        "window_center": _first(centers),
        "window_width": _first(ds.get("WindowWidth")),
        "n_windows": n_windows,
        "voi_function": str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR"),
        "has_voi_lut": "VOILUTSequence" in ds,
        "rescale_slope": float(ds.get("RescaleSlope", 1) or 1),
        "rescale_intercept": float(ds.get("RescaleIntercept", 0) or 0),
        "pixel_padding_value": ds.get("PixelPaddingValue"),
        "laterality": str(ds.get("ImageLaterality", ds.get("Laterality", "")) or ""),
        "view": str(ds.get("ViewPosition", "") or ""),
        "manufacturer": str(ds.get("Manufacturer", "") or ""),
        "model": str(ds.get("ManufacturerModelName", "") or ""),
        "sop_class": str(ds.get("SOPClassUID", "")),
    }
    leaked = set(header) & {k.lower() for k in C.PHI_KEYWORDS}
    if leaked:  # an explicit check, not an assert: it must hold under ``python -O`` too
        raise RuntimeError(f"read_header would return patient identifiers {sorted(leaked)}")
    return header


def _decode(ds, path: Path, max_size: int | None) -> np.ndarray:
    from PIL import Image

    ts = str(ds.file_meta.get("TransferSyntaxUID", ""))
    wanted = _reduce_level(int(ds.Rows), int(ds.Columns), max_size) if fast_decode_enabled() else 0
    level = pillow_safe_level(int(ds.Rows), int(ds.Columns), wanted)
    try:
        arr = None
        if ts in J2K_SYNTAXES and level > 0:
            try:
                arr = _decode_j2k_reduced(ds, path, level)
            except Image.DecompressionBombError as exc:  # never retried in full: that is what it guards against
                raise _fail(path, f"JPEG 2000 codestream too large to decode ({exc})") from None
            except Exception:  # noqa: BLE001 - Pillow cannot read this codestream: full decode below
                arr = None
        elif ts == C.JPEG_LOSSLESS_SV1 and fast_decode_enabled():
            arr = decode_lossless_jpeg(ds)
        if arr is None:
            arr = ds.pixel_array
    except DicomReadError:
        raise
    except Exception as exc:
        raise _fail(path, f"cannot decode pixel data ({C.TRANSFER_SYNTAX_NAMES.get(ts, ts)}): {exc}") from None
    return np.asarray(arr)


def declared_pixels(ds) -> int:
    """Rows x Columns x NumberOfFrames as the header declares them (nothing decoded)."""
    frames = max(1, int(ds.get("NumberOfFrames", 1) or 1))
    return int(ds.get("Rows", 0) or 0) * int(ds.get("Columns", 0) or 0) * frames


def _check_image(ds, path: Path, max_pixels: int | None = None) -> None:
    if "PixelData" not in ds:
        raise _fail(path, "no pixel data")
    if max_pixels is not None and declared_pixels(ds) > max_pixels:
        raise _fail(
            path,
            f"declares {declared_pixels(ds):,} pixels (Rows x Columns x frames), over the limit of {max_pixels:,}",
        )
    photometric = str(ds.get("PhotometricInterpretation", ""))
    if int(ds.get("SamplesPerPixel", 1) or 1) != 1 or photometric not in (C.MONOCHROME1, C.MONOCHROME2):
        raise _fail(path, f"not a grayscale image (PhotometricInterpretation={photometric or 'missing'})")
    if int(ds.get("NumberOfFrames", 1) or 1) != 1:
        raise _fail(path, f"multi-frame image ({ds.NumberOfFrames} frames) where a single mammogram is expected")
    for key in ("Rows", "Columns", "BitsStored"):
        if not ds.get(key):
            raise _fail(path, f"missing {key}")


def apply_window(x: np.ndarray, center: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """Apply a DICOM VOI window, returning values in [0, 1] (PS3.3 C.11.2.1.2).

    Args:
        x: Modality values (after rescale).
        center: WindowCenter.
        width: WindowWidth (> 0; must be >= 1 for LINEAR).
        function: ``LINEAR``, ``LINEAR_EXACT`` or ``SIGMOID``.

    Returns:
        float32 array in [0, 1].

    Raises:
        ValueError: Unknown function or non-positive width.
    """
    function = (function or "LINEAR").upper()
    x = np.asarray(x, np.float32)
    if width <= 0:
        raise ValueError(f"WindowWidth must be > 0, got {width}")
    if function == "LINEAR":
        width = max(width, 1.0)
        out = (x - (center - 0.5)) / max(width - 1.0, 1e-6) + 0.5
    elif function == "LINEAR_EXACT":
        out = (x - center) / width + 0.5
    elif function == "SIGMOID":
        out = 1.0 / (1.0 + np.exp(np.clip(-4.0 * (x - center) / width, -80, 80)))
    else:
        raise ValueError(f"unknown VOILUTFunction {function!r} (expected LINEAR, LINEAR_EXACT or SIGMOID)")
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _voi(ds, values: np.ndarray) -> np.ndarray:
    """The first VOI transform of the file, output in [0, 1]."""
    if "VOILUTSequence" in ds and len(ds.VOILUTSequence):
        item = ds.VOILUTSequence[0]
        n_entries, first_mapped, bits = (int(v) for v in item.LUTDescriptor)
        n_entries = n_entries or 65536
        lut = np.frombuffer(item.LUTData, np.uint16) if isinstance(item.LUTData, bytes) else np.asarray(item.LUTData)
        lut = lut[:n_entries].astype(np.float32)
        index = np.clip(np.round(values) - first_mapped, 0, len(lut) - 1).astype(np.int64)
        return lut[index] / float(2**bits - 1)
    center, width = _first(ds.get("WindowCenter")), _first(ds.get("WindowWidth"))
    if center is not None and width is not None and width > 0:
        return apply_window(values, center, width, str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR"))
    lo, hi = float(values.min()), float(values.max())
    return ((values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)).astype(np.float32)


def resize_longest(image: np.ndarray, max_size: int) -> np.ndarray:
    """Resize so the longest side is ``max_size`` (area averaging; never upsamples).

    Args:
        image: 2-D array.
        max_size: Target longest side in pixels.

    Returns:
        The resized float32 image.
    """
    import cv2

    rows, cols = image.shape
    scale = max_size / max(rows, cols)
    if scale >= 1.0:
        return image
    size = (max(1, round(cols * scale)), max(1, round(rows * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def read_dicom(path: str | Path, max_size: int | None = None, max_pixels: int | None = None) -> np.ndarray:
    """Read a mammogram as float32 in [0, 1], bright = dense tissue.

    Args:
        path: DICOM file.
        max_size: Longest side of the output in pixels; ``None`` keeps full resolution.
            JPEG 2000 files are decoded at the nearest resolution level above it.
        max_pixels: Refuse, before anything is decoded, a file whose header declares more pixels than this
            (Rows x Columns x NumberOfFrames): a small file declaring a huge image cannot exhaust memory.

    Returns:
        2-D float32 array in [0, 1].

    Raises:
        DicomReadError: Not DICOM, truncated, no pixels, colour or multi-frame, broken
            or unsupported compression, or non-finite values.
    """
    path = Path(path)
    if max_size is not None and int(max_size) < 8:
        raise ValueError(f"max_size must be >= 8 pixels, got {max_size!r}")
    return _guard(path, lambda: _read(path, max_size, max_pixels))


def _read(path: Path, max_size: int | None, max_pixels: int | None = None) -> np.ndarray:
    ds = _open(path, pixels=True)
    _check_image(ds, path, max_pixels)
    arr = _decode(ds, path, max_size)
    if arr.ndim != 2:
        raise _fail(path, f"decoded to shape {arr.shape}, expected a 2-D grayscale image")
    bits = int(ds.BitsStored)
    if int(ds.get("PixelRepresentation", 0)) == 0:
        # reduced-resolution decodes can overshoot 2**BitsStored - 1 (J2K precision > BitsStored)
        arr = np.clip(arr, 0, 2**bits - 1)
    padding = ds.get("PixelPaddingValue")
    pad_mask = (arr == padding) if padding is not None else None
    values = arr.astype(np.float32) * float(ds.get("RescaleSlope", 1) or 1) + float(ds.get("RescaleIntercept", 0) or 0)
    out = _voi(ds, values)
    if str(ds.PhotometricInterpretation) == C.MONOCHROME1:
        out = 1.0 - out
    if pad_mask is not None:
        out[pad_mask] = 0.0
    if max_size is not None:
        out = resize_longest(out, int(max_size))
    if not np.isfinite(out).all():
        raise _fail(path, "pixel values are not finite after windowing")
    return np.ascontiguousarray(np.clip(out, 0.0, 1.0), dtype=np.float32)
