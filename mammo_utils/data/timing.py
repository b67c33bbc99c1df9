"""Decode-speed comparison shared by ``benchmarks/bench_dicom.py`` and ``02_preprocessing``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..utils import time_calls
from .dicom import read_dicom


def plain_decode_resize(path: str | Path, target: int) -> np.ndarray:
    """Baseline: pydicom full decode of the stored values, then ``cv2.resize`` to ``target`` px (longest side)."""
    import cv2
    import pydicom

    arr = pydicom.dcmread(path).pixel_array.astype(np.float32)
    s = min(1.0, target / max(arr.shape))
    return cv2.resize(arr, (round(arr.shape[1] * s), round(arr.shape[0] * s)), interpolation=cv2.INTER_AREA)


def fast_read(path: str | Path, target: int) -> np.ndarray:
    """The project's path: ``read_dicom(path, max_size=target)``."""
    return read_dicom(path, max_size=target)


READERS = {"pydicom full decode + cv2.resize": plain_decode_resize, "read_dicom(max_size)": fast_read}


def seconds_per_image(reader, paths: Sequence[str | Path], target: int) -> float:
    """Mean wall-clock seconds per file of ``reader`` (after one warm-up call).

    Args:
        reader: Callable ``(path, target) -> array``.
        paths: Files to read.
        target: Longest output side in pixels.

    Returns:
        Seconds per image.
    """

    def read_all():
        for p in paths:
            reader(p, target)

    reader(paths[0], target)  # warm-up: imports, decoder plugins
    return time_calls(read_all, repeats=1, warmup=0)[0] / len(paths)


def decode_table(paths: Sequence[str | Path], target: int) -> pd.DataFrame:
    """Seconds/image of each reader, and the speed-up of ``read_dicom`` over the baseline.

    Args:
        paths: Files to read.
        target: Longest output side in pixels.

    Returns:
        Frame indexed by reader with ``s_per_image`` and ``speedup``.
    """
    t = pd.DataFrame({"s_per_image": {name: seconds_per_image(fn, paths, target) for name, fn in READERS.items()}})
    t["speedup"] = t["s_per_image"].iloc[0] / t["s_per_image"]
    return t


def reduced_vs_full_difference(path: str | Path, target: int) -> float:
    """Mean |read_dicom(max_size) - resize(read_dicom(full))| as a fraction of the [0, 1] range."""
    import cv2

    small = read_dicom(path, max_size=target)
    full = read_dicom(path)
    ref = cv2.resize(full, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_AREA)
    return float(np.abs(small - ref).mean())
