"""Lossless JPEG (process 14, selection value 1: RSNA site 1) decoded by imagecodecs' liblj92.

Lossless JPEG has no resolution levels, so a full decode cannot be avoided; what can be chosen is the decoder.
pydicom's only plugin for this syntax (pylibjpeg-libjpeg) took 0.44-0.90 s for a 4096x3328 12-bit frame on the
project's 2-core machine, liblj92 0.08-0.16 s, with identical values. :func:`mammo_utils.data.dicom.read_dicom`
tries this decoder first when ``MAMMO_FAST_DECODE`` is on and falls back to pydicom when it returns None.

Example:
    >>> decode_lossless_jpeg(ds)  # doctest: +SKIP
    array([[...]], dtype=uint16)
"""

from __future__ import annotations

import numpy as np

from .. import constants as C


def decode_lossless_jpeg(ds) -> np.ndarray | None:
    """The stored values of a single-frame, unsigned, grey lossless-JPEG (SV1) dataset, or None.

    Args:
        ds: A pydicom dataset with pixel data.

    Returns:
        ``(Rows, Columns)`` unsigned integers as pydicom would decode them, or None when the dataset is not
        such a file, imagecodecs is missing, or the decoder refuses the codestream or returns another shape (the
        caller then decodes with pydicom, which names the problem if there is one).
    """
    if str(ds.file_meta.get("TransferSyntaxUID", "")) != C.JPEG_LOSSLESS_SV1:
        return None
    if int(ds.get("NumberOfFrames", 1) or 1) != 1 or int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        return None
    if int(ds.get("PixelRepresentation", 0) or 0) != 0:  # signed values: pydicom's decoder handles the sign
        return None
    try:
        import imagecodecs
        from pydicom.encaps import generate_frames

        frame = next(generate_frames(ds.PixelData, number_of_frames=1))
        arr = imagecodecs.ljpeg_decode(frame)
    except Exception:  # noqa: BLE001 - any refusal means "use pydicom's decoder"
        return None
    if arr.shape != (int(ds.Rows), int(ds.Columns)) or arr.dtype.kind != "u":
        return None
    return arr
