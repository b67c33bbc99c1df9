"""Loading the RSNA-layout metadata (``train.csv``) and locating image files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import constants as C


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
    df["breast_id"] = df["patient_id"].astype(str) + "_" + df["laterality"].astype(str)
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


def breast_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per breast (patient_id, laterality) with its label and image count."""
    return (
        df.groupby(list(C.BREAST_KEYS), as_index=False)
        .agg(cancer=("cancer", "max"), n_images=("image_id", "size"), site_id=("site_id", "first"))
    )
