"""The RSNA layout: ``train.csv``, image paths, lesion boxes and the breast key.

A data root holds ``train.csv`` and ``train_images/<patient_id>/<image_id>.dcm``; :func:`image_path`
is the one place that spells that path. A *breast* (``patient_id``, ``laterality``) is the unit RSNA
scores; :func:`breast_ids` is the one place that builds its key.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import constants as C


class DataError(ValueError):
    """The dataset folder or its ``train.csv`` is not in the RSNA layout."""


def load_train(data_root: str | Path) -> pd.DataFrame:
    """Read and normalise ``train.csv`` (types, breast id, file path).

    Args:
        data_root: RSNA-layout folder.

    Returns:
        The dataframe with every RSNA column plus ``breast_id`` ("patient_laterality") and ``path``.

    Raises:
        DataError: If ``train.csv`` is missing or lacks RSNA columns.
    """
    root = Path(data_root)
    csv = root / "train.csv"
    if not csv.is_file():
        raise DataError(f"{csv}: missing; a data root needs train.csv and train_images/")
    df = pd.read_csv(csv)
    missing = [c for c in ("patient_id", "image_id", "laterality", "view", "cancer") if c not in df.columns]
    if missing:
        raise DataError(f"{csv}: missing RSNA column(s) {missing}")
    df["patient_id"] = df["patient_id"].astype("int64")
    df["image_id"] = df["image_id"].astype("int64")
    if "difficult_negative_case" in df.columns:
        df["difficult_negative_case"] = df["difficult_negative_case"].astype(str).str.lower().eq("true")
    df[C.BREAST_ID] = breast_ids(df)
    df["path"] = [str(image_path(root, p, i)) for p, i in zip(df.patient_id, df.image_id)]
    return df


def image_path(data_root: str | Path, patient_id: int, image_id: int) -> Path:
    """``train_images/<patient_id>/<image_id>.dcm`` under ``data_root``."""
    return Path(data_root) / "train_images" / str(int(patient_id)) / f"{int(image_id)}.dcm"


class BoxFileError(ValueError):
    """A boxes file is missing, malformed or names unknown labels."""


def load_boxes(data_root: str | Path, required: bool = True) -> pd.DataFrame:
    """Read and check ``boxes.csv`` of a data root (stored-pixel ``xyxy`` boxes with a lesion label).

    The one reader of the boxes file: detection needs it (``required``); the EDA shows the boxes when the
    dataset has them (``required=False``: an empty frame with the columns when it has none).

    Args:
        data_root: Folder holding ``boxes.csv`` (the embedded set; VinDr-Mammo / CBIS-DDSM converted to it).
        required: Raise when the file is missing (else return an empty frame).

    Returns:
        The boxes, one row per box, with a ``class_id`` column (index in :data:`~mammo_utils.constants.LESION_TYPES`).

    Raises:
        BoxFileError: The file is missing (and ``required``), lacks a column, has an inverted box or an unknown label.
    """
    path = Path(data_root) / "boxes.csv"
    if not path.is_file():
        if not required:
            return pd.DataFrame(columns=[*C.BOX_COLUMNS, "class_id"])
        raise BoxFileError(f"{path}: no boxes file; detection needs boxes.csv with columns {list(C.BOX_COLUMNS)}")
    df = pd.read_csv(path)
    missing = [c for c in C.BOX_COLUMNS if c not in df.columns]
    if missing:
        raise BoxFileError(f"{path}: missing columns {missing} (expected {list(C.BOX_COLUMNS)})")
    unknown = sorted(set(df.label) - set(C.LESION_TYPES))
    if unknown:
        raise BoxFileError(f"{path}: unknown labels {unknown}; allowed {list(C.LESION_TYPES)}")
    bad = df[(df.x_max <= df.x_min) | (df.y_max <= df.y_min)]
    if len(bad):
        raise BoxFileError(
            f"{path}: {len(bad)} boxes with x_max <= x_min or y_max <= y_min, e.g. row {bad.index[0] + 2}"
        )
    df = df.copy()
    df["class_id"] = df.label.map({name: i for i, name in enumerate(C.LESION_TYPES)}).astype(int)
    return df


def breast_ids(df: pd.DataFrame) -> pd.Series:
    """The breast key ``<patient_id>_<laterality>`` of every row (RSNA's ``prediction_id``).

    Args:
        df: Rows with ``patient_id`` and ``laterality``.

    Returns:
        A string Series aligned with ``df``.
    """
    return df["patient_id"].astype("int64").astype(str) + "_" + df["laterality"].astype(str)


def breast_table(df: pd.DataFrame, **extra) -> pd.DataFrame:
    """One row per breast: its key, label (any cancer image), image count and any extra aggregates.

    Args:
        df: Image rows with ``patient_id``, ``laterality`` and ``cancer``.
        **extra: More ``name=(column, function)`` aggregates (pandas named aggregation).

    Returns:
        Columns ``breast_id, patient_id, laterality, cancer, n_images`` and the extras, one row per breast.
    """
    out = df.groupby(list(C.BREAST_KEYS), as_index=False).agg(
        cancer=("cancer", "max"), n_images=("cancer", "size"), **extra
    )
    out.insert(0, C.BREAST_ID, breast_ids(out))
    return out


def image_boxes(boxes: pd.DataFrame, image_id: int, scale: float = 1.0) -> list[list[float]]:
    """The lesion boxes of one image as ``[x_min, y_min, x_max, y_max]`` lists, scaled (e.g. to a reduced decode).

    Args:
        boxes: :func:`load_boxes` output (stored-pixel coordinates).
        image_id: The image.
        scale: Output pixels per stored pixel.

    Returns:
        One list per box (empty when the image has none).
    """
    rows = boxes[boxes.image_id == image_id][["x_min", "y_min", "x_max", "y_max"]]
    return (rows.to_numpy(float) * scale).tolist()
