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


def load_boxes(data_root: str | Path) -> pd.DataFrame:
    """Lesion boxes (``boxes.csv``) when the dataset has them, else an empty frame with the columns."""
    path = Path(data_root) / "boxes.csv"
    if not path.is_file():
        return pd.DataFrame(columns=list(C.BOX_COLUMNS))
    return pd.read_csv(path)


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
