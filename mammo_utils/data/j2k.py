"""JPEG 2000 at a reduced resolution level: which level to ask for, decoding it with Pillow, the codestream's
precision, and the ``MAMMO_FAST_DECODE`` switch (:func:`mammo_utils.data.dicom.read_dicom` calls them).

Each level halves both sides, so a 128-px model input never pays for a 4,000-px decode: on the real RSNA files a
level-2 decode takes about a tenth of the full one.

Example:
    >>> _reduce_level(4096, 3328, 256), pillow_safe_level(2776, 2082, 3)
    (4, 2)
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import numpy as np

#: Environment switch of the reduced-resolution JPEG 2000 decode: ``0`` turns it off (full decode, then area
#: resize), the baseline ``benchmarks/bench_api.py --compare`` measures beside the default (on).
FAST_DECODE_ENV = "MAMMO_FAST_DECODE"


def fast_decode_enabled() -> bool:
    """False only when ``MAMMO_FAST_DECODE`` is ``0`` (or ``false``/``off``/``no``): read at each decode."""
    return os.environ.get(FAST_DECODE_ENV, "1").strip().lower() not in ("0", "false", "off", "no")


def _reduce_level(rows: int, cols: int, max_size: int | None) -> int:
    """Largest JPEG 2000 resolution reduction that keeps the longest side >= ``max_size``."""
    if not max_size:
        return 0
    longest = max(rows, cols)
    return max(0, int(math.floor(math.log2(longest / max_size)))) if longest > max_size else 0


def pillow_safe_level(rows: int, cols: int, level: int) -> int:
    """Largest reduction ``<= level`` whose decoded size Pillow predicts right, so the decode cannot fail.

    OpenJPEG decodes a side of ``n`` pixels at reduction ``r`` to ``ceil(n / 2**r)`` pixels, but Pillow (13)
    allocates ``round(n / 2**r)`` and refuses the stream ("broken data stream") when they differ: a real
    2776x2082 RSNA file fails at level 3 (2082 / 8 = 260.25) and then paid for a full decode. The two agree
    when ``n mod 2**r`` is 0 or at least ``2**r / 2``; level 1 always qualifies.

    Args:
        rows: Image rows.
        cols: Image columns.
        level: The reduction wanted (:func:`_reduce_level`).

    Returns:
        The level to ask Pillow for (0 only when ``level`` is 0).

    Example:
        >>> pillow_safe_level(2776, 2082, 3), pillow_safe_level(4096, 3328, 4)
        (2, 4)
    """

    def agrees(n: int, r: int) -> bool:
        rest = n % (1 << r)
        return rest == 0 or rest >= (1 << r) // 2

    while level > 1 and not (agrees(rows, level) and agrees(cols, level)):
        level -= 1
    return level


def _decode_j2k_reduced(ds, path: Path, level: int) -> np.ndarray:
    """Decode the first J2K frame at resolution ``level`` (each level halves both sides) with Pillow."""
    from PIL import Image
    from pydicom.encaps import generate_frames

    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    with Image.open(io.BytesIO(frame)) as im:
        im.reduce = level
        im.load()
        arr = np.asarray(im)
    precision = j2k_precision(frame)
    if arr.dtype == np.uint16 and precision is not None and precision < 16:
        arr = arr >> (16 - precision)  # Pillow scales lower-precision codestreams up to 16 bits
    return arr


def j2k_precision(codestream: bytes) -> int | None:
    """Bit precision of the first component, read from the JPEG 2000 SIZ marker (None if absent)."""
    at = codestream.find(b"\xff\x51")
    if at < 0 or len(codestream) <= at + 40:
        return None
    return (codestream[at + 40] & 0x7F) + 1


def bit_depth_check(path: str | Path, level: int = 1) -> dict[str, int]:
    """What the JPEG 2000 decoders return for one file against what its header stores: why bit depth is never read
    from the decoded maximum.

    Args:
        path: A DICOM file with a JPEG 2000 transfer syntax.
        level: The reduced resolution level decoded beside the full one (each level halves both sides).

    Returns:
        ``bits_stored`` (BitsStored), ``codestream_bits`` (SIZ precision), ``stored_max`` (pydicom's maximum of the
        stored values), ``pillow_max`` (Pillow's full decode, unshifted) and ``reduced_max`` (the reduced decode,
        shifted back to the codestream's precision).

    Raises:
        ValueError: The file is not JPEG 2000.
    """
    import pydicom
    from PIL import Image
    from pydicom.encaps import generate_frames

    ds = pydicom.dcmread(path)
    if not str(ds.file_meta.TransferSyntaxUID).startswith("1.2.840.10008.1.2.4.9"):
        raise ValueError(f"{path}: not a JPEG 2000 file (transfer syntax {ds.file_meta.TransferSyntaxUID})")
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    with Image.open(io.BytesIO(frame)) as im:
        pillow_max = int(np.asarray(im).max())
    level = pillow_safe_level(int(ds.Rows), int(ds.Columns), level)
    return {
        "bits_stored": int(ds.BitsStored),
        "codestream_bits": j2k_precision(frame) or 0,
        "stored_max": int(ds.pixel_array.max()),
        "pillow_max": pillow_max,
        "reduced_max": int(_decode_j2k_reduced(ds, Path(path), level).max()),
    }
