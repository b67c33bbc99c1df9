"""Atomic file writes: a temporary file beside the target, then a rename (never a half-written file)."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write bytes to ``path`` via a temporary file in the same folder and ``os.replace``.

    Args:
        path: Target file (its folder is created).
        data: Content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_csv_atomic(df, path: str | Path, **to_csv_kwargs) -> None:
    """Write a DataFrame as CSV (no index) atomically.

    Args:
        df: pandas DataFrame.
        path: Target file.
        **to_csv_kwargs: Extra ``DataFrame.to_csv`` options (e.g. ``lineterminator``).
    """
    write_atomic(path, df.to_csv(index=False, **to_csv_kwargs).encode())
