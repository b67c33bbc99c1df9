"""Patient-grouped, cancer-stratified train/validation/test splits and the leakage check.

A patient contributes 4+ images and both breasts, so every split is made at patient level:
no patient appears in two splits or two folds. Stratification is on the patient's cancer
label (optionally crossed with site), using scikit-learn's ``StratifiedGroupKFold``.

Example:
    >>> df = make_splits(load_train(root), n_folds=5, test_size=0.15, seed=0)  # doctest: +SKIP
    >>> check_leakage(df)  # raises LeakageError on any patient overlap  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..utils import write_csv_atomic
from .rsna import breast_table

TEST = "test"
CV = "cv"


class LeakageError(ValueError):
    """A patient appears in more than one split or fold."""


def _strata(df: pd.DataFrame, by_site: bool) -> pd.Series:
    label = df.groupby("patient_id")["cancer"].transform("max").astype(int)
    if by_site and "site_id" in df.columns:
        label = label * 100 + df["site_id"].astype(int)
    return label


def _group_kfold(df: pd.DataFrame, n_splits: int, seed: int, by_site: bool):
    from sklearn.model_selection import StratifiedGroupKFold

    n_patients = df.patient_id.nunique()
    if n_patients < n_splits:
        raise ValueError(f"cannot make {n_splits} patient-grouped folds from {n_patients} patients")
    skf = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return skf.split(np.zeros(len(df)), _strata(df, by_site), groups=df["patient_id"])


def make_splits(
    df: pd.DataFrame, n_folds: int = 5, test_size: float = 0.15, seed: int = 0, by_site: bool = False
) -> pd.DataFrame:
    """Add ``split`` (``test`` / ``cv``) and ``fold`` (0..n_folds-1, -1 for test) columns.

    Args:
        df: One row per image with ``patient_id`` and ``cancer`` (``site_id`` when ``by_site``).
        n_folds: Cross-validation folds of the non-test patients (>= 2).
        test_size: Approximate share of patients held out for the test set, in (0, 0.5].
        seed: Random seed (same seed -> same splits).
        by_site: Stratify on (cancer, site) instead of cancer alone.

    Returns:
        A copy of ``df`` with ``split`` and ``fold``.

    Raises:
        ValueError: Invalid sizes or too few patients.
    """
    if n_folds < 2:
        raise ValueError(f"n_folds must be >= 2, got {n_folds}")
    if not 0 < test_size <= 0.5:
        raise ValueError(f"test_size must be in (0, 0.5], got {test_size}")
    out = df.copy().reset_index(drop=True)
    out["split"], out["fold"] = CV, -1
    n_test_splits = max(2, int(round(1.0 / test_size)))
    _, test_idx = next(_group_kfold(out, n_test_splits, seed, by_site))
    out.loc[test_idx, "split"] = TEST
    cv = out.index[out.split == CV]
    for fold, (_, val_idx) in enumerate(_group_kfold(out.loc[cv].reset_index(drop=True), n_folds, seed + 1, by_site)):
        out.loc[cv[val_idx], "fold"] = fold
    check_leakage(out)
    return out


def check_leakage(df: pd.DataFrame) -> None:
    """Raise :class:`LeakageError` if any patient sits in two splits or two folds.

    Args:
        df: Frame with ``patient_id``, ``split`` and ``fold``.
    """
    per_patient = df.groupby("patient_id")[["split", "fold"]].nunique()
    leaked = per_patient[(per_patient.split > 1) | (per_patient.fold > 1)]
    if len(leaked):
        raise LeakageError(
            f"{len(leaked)} patient(s) appear in more than one split/fold (first: {list(leaked.index[:5])})"
        )


def fold_frames(df: pd.DataFrame, fold: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(train, validation, test) frames for one cross-validation fold."""
    cv = df[df.split == CV]
    return cv[cv.fold != fold], cv[cv.fold == fold], df[df.split == TEST]


def fold_counts(df: pd.DataFrame, fold: int) -> dict[str, dict[str, int]]:
    """Images, patients, breasts and breasts with cancer of the training folds, the validation fold and the test
    split of one cross-validation fold (what a model card states about its data).

    Args:
        df: Output of :func:`make_splits` (``split``, ``fold``, ``patient_id``, ``laterality``, ``cancer``).
        fold: The validation fold.

    Returns:
        ``{"train": {...}, "validation": {...}, "test": {...}}``, each ``images, patients, breasts, cancer_breasts``.

    Example:
        >>> rows = pd.DataFrame({"patient_id": [1, 1, 2, 3], "laterality": ["L", "R", "L", "L"],
        ...                      "cancer": [1, 0, 0, 0], "split": ["cv", "cv", "cv", "test"], "fold": [0, 0, 1, -1]})
        >>> fold_counts(rows, 1)["train"]
        {'images': 2, 'patients': 1, 'breasts': 2, 'cancer_breasts': 1}
    """
    counts = {}
    for name, part in zip(("train", "validation", "test"), fold_frames(df, fold)):
        breasts = breast_table(part)
        counts[name] = {"images": len(part), "patients": int(part.patient_id.nunique()), "breasts": len(breasts),
                        "cancer_breasts": int(breasts.cancer.sum())}  # fmt: skip
    return counts


def split_table(df: pd.DataFrame) -> pd.DataFrame:
    """Images, breasts, patients, positives and site/machine mix per split and fold.

    Args:
        df: Output of :func:`make_splits`.

    Returns:
        One row per (split, fold).
    """
    frame = df.assign(part=np.where(df.split == TEST, "test", "fold " + df.fold.astype(str)))
    g = frame.groupby("part")
    table = g.agg(images=("image_id", "size"), patients=("patient_id", "nunique"), positives=("cancer", "sum"))
    breasts = breast_table(frame, part=("part", "first")).groupby("part").cancer
    table["breasts"], table["positive breasts"] = breasts.size(), breasts.sum()
    table["image rate"] = table.positives / table.images
    if "site_id" in df.columns:
        table["site mix"] = g.site_id.apply(
            lambda s: ", ".join(f"{k}:{v:.0%}" for k, v in s.value_counts(normalize=True).sort_index().items())
        )
    if "machine_id" in df.columns:
        table["machines"] = g.machine_id.nunique()
    return table


def load_or_make_splits(df: pd.DataFrame, path: str | Path, **kwargs) -> pd.DataFrame:
    """Reuse the splits saved at ``path`` when they cover exactly these images, else make and save them.

    Args:
        df: Image frame.
        path: CSV of ``image_id, patient_id, split, fold``.
        **kwargs: Passed to :func:`make_splits`.

    Returns:
        ``df`` with ``split`` and ``fold``.
    """
    path = Path(path)
    if path.exists():
        saved = pd.read_csv(path)
        if set(saved.image_id) == set(df.image_id):
            out = df.drop(columns=["split", "fold"], errors="ignore").merge(
                saved[["image_id", "split", "fold"]], on="image_id"
            )
            check_leakage(out)
            return out
    out = make_splits(df, **kwargs)
    write_csv_atomic(out[["image_id", "patient_id", "split", "fold"]], path)
    return out
