"""Preprocessing cache: DICOM -> breast crop -> fixed-size 8/16-bit PNG, resumable and parallel.

Each image is read with :func:`mammo_utils.dicom.read_dicom` (VOI window, MONOCHROME1
inversion, reduced-resolution JPEG 2000 decode), cropped with
:func:`mammo_utils.roi.crop_breast` (chest wall on the left), resized with its aspect
ratio kept and padded with zeros on the right/bottom to ``size``, and written to
``<cache>/<patient_id>/<image_id>.png``. Writes go to a temporary file that is renamed,
so a killed run never leaves a corrupt PNG; a rerun skips finished images.

``manifest.csv`` has one row per image: ``status`` (ok / failed), ``error``, the crop box
in original pixels, original size, ``scale`` (cache pixels per original pixel) and
``flipped``, so boxes can be mapped from DICOM to cache coordinates.

CLI::

    python -m mammo_utils.preprocess --data data/rsna-synthetic --out data/work/cache --size 1024x512 --workers 4
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import write_atomic, write_csv_atomic

MANIFEST_COLUMNS = [
    "image_id", "patient_id", "status", "error", "png", "orig_rows", "orig_cols",
    "crop_x_min", "crop_y_min", "crop_x_max", "crop_y_max", "scale", "flipped",
]
#: Bumped when the image recipe changes, so old caches are not reused by mistake.
RECIPE_VERSION = 1


def cache_key(size: tuple[int, int], bits: int) -> str:
    """Folder name of a cache made with these settings, e.g. ``1024x512_16bit_v1``."""
    return f"{size[0]}x{size[1]}_{bits}bit_v{RECIPE_VERSION}"


def fit_and_pad(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, float]:
    """Resize keeping the aspect ratio to fit ``size`` and zero-pad right/bottom.

    Args:
        image: 2-D float image.
        size: (height, width) of the output.

    Returns:
        ``(padded image, scale)`` where scale = output pixels per input pixel.
    """
    import cv2

    h, w = size
    rows, cols = image.shape
    scale = min(h / rows, w / cols)
    new = (max(1, min(w, round(cols * scale))), max(1, min(h, round(rows * scale))))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(np.ascontiguousarray(image, np.float32), new, interpolation=interp)
    out = np.zeros((h, w), np.float32)
    out[: resized.shape[0], : resized.shape[1]] = resized
    return out, scale


def to_png_bytes(image: np.ndarray, bits: int) -> bytes:
    """Encode a [0, 1] float image as an 8- or 16-bit grayscale PNG."""
    import cv2

    top = 255 if bits == 8 else 65535
    arr = np.round(np.clip(image, 0, 1) * top).astype(np.uint8 if bits == 8 else np.uint16)
    ok, buf = cv2.imencode(".png", arr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def process_one(task: tuple) -> dict:
    """Decode, crop, resize and cache one image; never raises for a bad file.

    Args:
        task: ``(dicom_path, png_path, image_id, patient_id, size, bits)``.

    Returns:
        The image's manifest row.
    """
    from .dicom import DicomReadError, read_dicom, read_header
    from .roi import chest_wall_on_right, breast_mask, crop_breast

    src, dst, image_id, patient_id, size, bits = task
    row = {"image_id": image_id, "patient_id": patient_id, "png": str(dst), "status": "failed", "error": ""}
    try:
        header = read_header(src)
        image = read_dicom(src, max_size=2 * max(size))
        mask = breast_mask(image)  # computed once: used by the crop and for the flip flag
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            crop, (x0, y0, x1, y1) = crop_breast(image, mask=mask)
        flipped = bool(mask is not None and chest_wall_on_right(mask))
        out, scale = fit_and_pad(crop, size)
        write_atomic(Path(dst), to_png_bytes(out, bits))
        k = header["rows"] / image.shape[0]
        row.update(
            status="ok",
            error="; ".join(str(w.message) for w in caught),
            orig_rows=header["rows"], orig_cols=header["columns"],
            crop_x_min=round(x0 * k), crop_y_min=round(y0 * k), crop_x_max=round(x1 * k), crop_y_max=round(y1 * k),
            scale=scale / k, flipped=flipped,
        )
    except (DicomReadError, ValueError, OSError) as exc:
        row["error"] = str(exc)
    return row


def _done_rows(partial: Path) -> dict[int, dict]:
    if not partial.exists():
        return {}
    done = {}
    with partial.open(newline="") as fh:
        for r in csv.DictReader(fh):
            if r.get("status") == "ok" and Path(r["png"]).is_file():
                done[int(r["image_id"])] = r
    return done


def preprocess_dataset(
    data_root: str | Path,
    cache_root: str | Path,
    size: tuple[int, int] = (1024, 512),
    bits: int = 16,
    workers: int = 1,
    df: pd.DataFrame | None = None,
    progress: bool = True,
) -> tuple[Path, pd.DataFrame]:
    """Build (or complete) the PNG cache of a dataset.

    Args:
        data_root: RSNA-layout folder.
        cache_root: Parent folder; the cache goes to ``cache_root/<dataset>_<cache_key>``.
        size: (height, width) of the cached images.
        bits: 8 or 16 bits per pixel.
        workers: Worker processes.
        df: Rows to process (default: all of ``train.csv``).
        progress: Show a progress bar.

    Returns:
        ``(cache folder, manifest dataframe)``.

    Raises:
        ValueError: Invalid ``size``, ``bits`` or ``workers``.
    """
    from tqdm.auto import tqdm

    from .data import load_train

    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits!r}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers!r}")
    if len(size) != 2 or min(size) < 16:
        raise ValueError(f"size must be (height, width) >= 16 px, got {size!r}")
    data_root = Path(data_root)
    cache = cache_dir_for(cache_root, data_root, size, bits)
    cache.mkdir(parents=True, exist_ok=True)
    for stale in cache.rglob(".*.tmp"):
        stale.unlink(missing_ok=True)
    df = load_train(data_root) if df is None else df
    partial = cache / "manifest.partial.csv"
    done = _done_rows(partial)
    tasks = [
        (r.path, str(cache / str(r.patient_id) / f"{r.image_id}.png"), int(r.image_id), int(r.patient_id), tuple(size), bits)
        for r in df.itertuples()
        if int(r.image_id) not in done
    ]
    rows = list(done.values())
    new_file = not partial.exists()
    with partial.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS)
        if new_file:
            writer.writeheader()
        bar = tqdm(total=len(df), initial=len(done), desc=f"cache {cache.name}", unit="img", disable=not progress)
        results = map(process_one, tasks) if workers == 1 else None
        pool = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None
        try:
            if pool is not None:
                results = pool.map(process_one, tasks, chunksize=8)
            for row in results:
                writer.writerow({k: row.get(k, "") for k in MANIFEST_COLUMNS})
                fh.flush()
                rows.append(row)
                bar.update()
        finally:
            bar.close()
            if pool is not None:
                pool.shutdown(cancel_futures=True)
    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    # rows resumed from manifest.partial.csv are strings: give every column its type back
    numeric = ["image_id", "patient_id", "orig_rows", "orig_cols", "crop_x_min", "crop_y_min", "crop_x_max", "crop_y_max", "scale"]
    manifest[numeric] = manifest[numeric].apply(pd.to_numeric, errors="coerce")
    manifest["image_id"] = manifest["image_id"].astype("int64")
    manifest["flipped"] = manifest["flipped"].astype(str).str.lower().eq("true")
    manifest["error"] = manifest["error"].fillna("").astype(str)
    manifest = manifest.drop_duplicates("image_id", keep="last").sort_values("image_id").reset_index(drop=True)
    write_csv_atomic(manifest, cache / "manifest.csv")
    return cache, manifest


def cache_dir_for(cache_root: str | Path, data_root: str | Path, size: tuple[int, int], bits: int) -> Path:
    """The cache folder of a dataset for given settings: ``<cache_root>/<dataset>_<key>``."""
    return Path(cache_root) / f"{Path(data_root).name}_{cache_key(tuple(size), bits)}"


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    from .config import ConfigError, parse_size, resolve_data_root
    from .data import DataError

    parser = argparse.ArgumentParser(description="Build the preprocessed PNG cache (resumable).")
    parser.add_argument("--data", default=None, help="RSNA-layout folder (default: auto-detected)")
    parser.add_argument("--out", default="data/work/cache", help="cache parent folder")
    parser.add_argument("--size", default="1024x512", help="height x width")
    parser.add_argument("--bits", type=int, default=16, choices=(8, 16))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    try:
        root = resolve_data_root(args.data)
        cache, manifest = preprocess_dataset(root, args.out, parse_size(args.size, "--size"), args.bits, args.workers)
    except (ConfigError, DataError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = manifest[manifest.status != "ok"]
    print(f"cache {cache}: {len(manifest) - len(failed)} ok, {len(failed)} failed")
    for r in failed.itertuples():
        print(f"  failed {r.image_id}: {r.error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
