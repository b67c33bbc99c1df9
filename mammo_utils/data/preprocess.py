# Size: it owns the cache: recipe, layout, manifest and parallel resumable writing.
"""Preprocessing cache: DICOM -> breast crop -> fixed-size 8/16-bit PNG, resumable and parallel.

Each image is read with :func:`mammo_utils.data.dicom.read_dicom` (VOI window, MONOCHROME1
inversion, reduced-resolution JPEG 2000 decode), cropped with
:func:`mammo_utils.data.roi.crop_breast` (chest wall on the left), resized with its aspect
ratio kept and padded with zeros on the right/bottom to ``size``, and written to
``<cache>/<patient_id>/<image_id>.png`` (:func:`cache_png_path`, the one place that spells it).
Writes go to a temporary file that is renamed, so a killed run never leaves a corrupt PNG; a
rerun skips finished images. :func:`prepare_image` is the image recipe, shared by the cache and
by inference on new files (:mod:`mammo_utils.serving.inference`), so both see the same pixels.

``manifest.csv`` has one row per image: ``status`` (ok / failed), ``error``, ``png`` (relative to
the cache folder), the crop box in original pixels (clipped to the image), original size,
``scale`` (cache pixels per original pixel) and ``flipped``, so boxes can be mapped from DICOM to
cache coordinates.

CLI::

    mammo preprocess --data data/rsna-synthetic --image-size 1024x512 --workers 4
"""

from __future__ import annotations

import csv
import dataclasses
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import constants as C
from ..utils import write_atomic, write_csv_atomic
from .dicom import read_dicom, read_header
from .roi import breast_mask, chest_wall_on_right, crop_breast
from .rsna import load_train

MANIFEST_COLUMNS = [
    "image_id",
    "patient_id",
    "status",
    "error",
    "png",
    "orig_rows",
    "orig_cols",
    "crop_x_min",
    "crop_y_min",
    "crop_x_max",
    "crop_y_max",
    "scale",
    "flipped",
]
#: Bumped when the image recipe or the cache layout changes, so old caches are not reused by mistake
#: (v2: ``png`` paths relative to the cache folder, crop boxes clipped to the image).
RECIPE_VERSION = 2
#: JPEG 2000 files are decoded at the resolution level just above this multiple of the cache's longest side.
DECODE_OVERSAMPLING = 2
MANIFEST_NAME = "manifest.csv"


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """How an image becomes a model input; saved beside every model so inference never re-derives it.

    Attributes:
        cache_size: (height, width) of the prepared image (the cache's size).
        cache_bits: 8 or 16: the prepared image is quantised to this depth, as in the cache.
        image_size: (height, width) the model takes (resized from ``cache_size`` when different).
        recipe_version: :data:`RECIPE_VERSION` of the recipe.
        decode_oversampling: :data:`DECODE_OVERSAMPLING`.
        crop: The crop rule (documentation for readers of the JSON).
        voi: The intensity rule (documentation for readers of the JSON).
    """

    cache_size: tuple[int, int]
    cache_bits: int
    image_size: tuple[int, int]
    recipe_version: int = RECIPE_VERSION
    decode_oversampling: int = DECODE_OVERSAMPLING
    crop: str = "largest Otsu component; chest wall flipped to the left; aspect kept, zero-padded right/bottom"
    voi: str = "rescale, first VOI window (LINEAR/LINEAR_EXACT/SIGMOID or VOI LUT), MONOCHROME1 inverted"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view (sizes as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Preprocessing":
        """Inverse of :meth:`to_dict`.

        Raises:
            ValueError: A recipe version this code does not reproduce, or a missing field.
        """
        try:
            spec = cls(
                **{**values, "cache_size": tuple(values["cache_size"]), "image_size": tuple(values["image_size"])}
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"preprocessing parameters are incomplete or malformed: {exc}") from None
        if spec.recipe_version != RECIPE_VERSION:
            raise ValueError(
                f"model was trained on preprocessing recipe v{spec.recipe_version}; this code makes v{RECIPE_VERSION}"
            )
        return spec


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


def quantize(image: np.ndarray, bits: int) -> np.ndarray:
    """Round a [0, 1] image to the integer levels of a ``bits``-deep PNG and back to [0, 1] (what the cache stores)."""
    top = 255 if bits == 8 else 65535
    return (np.round(np.clip(image, 0, 1) * top) / top).astype(np.float32)


def original_box(box, reduced_shape: tuple[int, int], orig_shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """Map a half-open box from a reduced-resolution decode back to stored-pixel coordinates, clipped to the image.

    Reduced-resolution JPEG 2000 levels round sizes up, so scaling the far edge can land one pixel past
    the image (4916 on a 4915-column file); the result is clipped to ``[0, columns] x [0, rows]``.

    Args:
        box: ``(x0, y0, x1, y1)`` in the reduced image.
        reduced_shape: (rows, columns) of the reduced image.
        orig_shape: (rows, columns) of the stored image.

    Returns:
        ``(x0, y0, x1, y1)`` in stored pixels with ``0 <= x0 < x1 <= columns`` and ``0 <= y0 < y1 <= rows``.
    """
    rows, cols = orig_shape
    ky, kx = rows / reduced_shape[0], cols / reduced_shape[1]
    x0, y0, x1, y1 = box
    x0, x1 = min(max(0, round(x0 * kx)), cols - 1), min(cols, round(x1 * kx))
    y0, y1 = min(max(0, round(y0 * ky)), rows - 1), min(rows, round(y1 * ky))
    return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)


def prepare_array(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, dict]:
    """Crop the breast (chest wall left), fit and pad a [0, 1] image to ``size``: the recipe after decoding.

    Args:
        image: 2-D float image in [0, 1], bright = dense.
        size: (height, width) of the output.

    Returns:
        ``(image, info)`` with ``box`` (crop in input pixels), ``scale`` (output per input pixel),
        ``flipped`` and ``warnings``.
    """
    mask = breast_mask(image)  # computed once: used by the crop and for the flip flag
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        crop, box = crop_breast(image, mask=mask)
    out, scale = fit_and_pad(crop, size)
    return out, {
        "box": box,
        "scale": scale,
        "flipped": bool(mask is not None and chest_wall_on_right(mask)),
        "warnings": "; ".join(str(w.message) for w in caught),
    }


def prepare_image(
    path: str | Path, size: tuple[int, int], max_pixels: int | None = None, timings: dict | None = None
) -> tuple[np.ndarray, dict]:
    """The image recipe: DICOM -> ``read_dicom`` -> ``crop_breast`` -> ``fit_and_pad`` (float [0, 1]).

    Args:
        path: DICOM file.
        size: (height, width) of the output.
        max_pixels: Refuse a file declaring more pixels than this before decoding (see ``read_dicom``).
        timings: When given, receives the seconds spent in ``decode`` (header + pixels) and ``crop``.

    Returns:
        ``(image, info)``: the padded float image and its manifest fields (``orig_rows``, ``orig_cols``,
        ``crop_*`` in stored pixels, ``scale`` = output pixels per stored pixel, ``flipped``, ``warnings``,
        and the header's ``laterality`` / ``view``).

    Raises:
        DicomReadError: The file cannot be read as a mammogram.
    """
    t0 = time.perf_counter()
    header = read_header(path)
    image = read_dicom(path, max_size=DECODE_OVERSAMPLING * max(size), max_pixels=max_pixels)
    t1 = time.perf_counter()
    out, prep = prepare_array(image, size)
    if timings is not None:
        timings.update(decode=t1 - t0, crop=time.perf_counter() - t1)
    x0, y0, x1, y1 = original_box(prep["box"], image.shape, (header["rows"], header["columns"]))
    info = {
        "orig_rows": header["rows"],
        "orig_cols": header["columns"],
        "crop_x_min": x0,
        "crop_y_min": y0,
        "crop_x_max": x1,
        "crop_y_max": y1,
        "scale": prep["scale"] * image.shape[0] / header["rows"],
        "flipped": prep["flipped"],
        "warnings": prep["warnings"],
        "laterality": header["laterality"],
        "view": header["view"],
    }
    return out, info


def cache_png_path(patient_id: int, image_id: int) -> Path:
    """Path of an image's PNG relative to its cache folder: ``<patient_id>/<image_id>.png``."""
    return Path(str(int(patient_id))) / f"{int(image_id)}.png"


def process_one(task: tuple) -> dict:
    """Decode, crop, resize and cache one image; never raises for a bad file.

    Any failure (unreadable DICOM, a malformed header value, a decoder crash, a full disk) is recorded in
    the row's ``error`` as ``<ExceptionType>: <message>`` with ``status`` "failed".

    Args:
        task: ``(dicom_path, cache_dir, image_id, patient_id, size, bits)``.

    Returns:
        The image's manifest row.
    """
    src, cache_dir, image_id, patient_id, size, bits = task
    rel = cache_png_path(patient_id, image_id)
    row = {"image_id": image_id, "patient_id": patient_id, "png": rel.as_posix(), "status": "failed", "error": ""}
    try:
        out, info = prepare_image(src, size)
        write_atomic(Path(cache_dir) / rel, to_png_bytes(out, bits))
        row.update({k: v for k, v in info.items() if k in MANIFEST_COLUMNS}, status="ok", error=info["warnings"])
    except Exception as exc:  # noqa: BLE001 - the contract: a bad file is a manifest row, never a crash
        row["error"] = f"{type(exc).__name__}: {exc}"
    return row


def _done_rows(partial: Path) -> dict[int, dict]:
    if not partial.exists():
        return {}
    done = {}
    with partial.open(newline="") as fh:
        for r in csv.DictReader(fh):
            if r.get("status") == "ok" and (partial.parent / r["png"]).is_file():
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

    if bits not in C.CACHE_BITS:
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
        (r.path, str(cache), int(r.image_id), int(r.patient_id), tuple(size), bits)
        for r in df.itertuples()
        if int(r.image_id) not in done
    ]
    rows = list(done.values())
    new_file = not partial.exists()
    with partial.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS)
        if new_file:
            writer.writeheader()
        bar = tqdm(
            total=len(df), initial=len(done), desc=f"cache {cache.name}", unit="img", disable=not progress or not tasks
        )
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
    numeric = [c for c in MANIFEST_COLUMNS if c not in ("status", "error", "png", "flipped")]
    manifest[numeric] = manifest[numeric].apply(pd.to_numeric, errors="coerce")
    manifest["image_id"] = manifest["image_id"].astype("int64")
    manifest["flipped"] = manifest["flipped"].astype(str).str.lower().eq("true")
    manifest["error"] = manifest["error"].fillna("").astype(str)
    manifest = manifest.drop_duplicates("image_id", keep="last").sort_values("image_id").reset_index(drop=True)
    write_csv_atomic(manifest, cache / MANIFEST_NAME)
    return cache, manifest


def cache_dir_for(cache_root: str | Path, data_root: str | Path, size: tuple[int, int], bits: int) -> Path:
    """The cache folder of a dataset for given settings: ``<cache_root>/<dataset>_<key>``."""
    return Path(cache_root) / f"{Path(data_root).name}_{cache_key(tuple(size), bits)}"


def read_cached(cache_dir: str | Path, png: str | Path) -> np.ndarray:
    """A cached PNG as float32 [0, 1] (8- or 16-bit), e.g. for figures.

    Args:
        cache_dir: Cache folder.
        png: The manifest's ``png`` (relative to ``cache_dir``).

    Returns:
        2-D float32 array.

    Raises:
        FileNotFoundError: The PNG is missing or unreadable.
    """
    import cv2

    path = Path(cache_dir) / png
    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise FileNotFoundError(f"{path}: missing or not a PNG")
    return arr.astype(np.float32) / (255.0 if arr.dtype == np.uint8 else 65535.0)


def crop_statistics(manifest: pd.DataFrame, size: tuple[int, int]) -> pd.DataFrame:
    """Per cached image: crop size, share of the image area (the X-ray detector field) kept, and share of the
    cached input that is padding.

    Args:
        manifest: The cache's manifest (rows with ``status == "ok"`` are used).
        size: (height, width) of the cache.

    Returns:
        One row per image: ``image_id, crop_h, crop_w, kept_area, padding``.
    """
    ok = manifest[manifest.status == "ok"]
    crop_w, crop_h = ok.crop_x_max - ok.crop_x_min, ok.crop_y_max - ok.crop_y_min
    filled = (crop_w * ok.scale).clip(upper=size[1]) * (crop_h * ok.scale).clip(upper=size[0])
    return pd.DataFrame(
        {
            "image_id": ok.image_id,
            "crop_h": crop_h,
            "crop_w": crop_w,
            "kept_area": crop_w * crop_h / (ok.orig_cols * ok.orig_rows),
            "padding": 1.0 - filled / (size[0] * size[1]),
        }
    ).reset_index(drop=True)
