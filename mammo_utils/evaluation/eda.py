"""Exploratory-analysis tables for an RSNA-layout dataset (used by ``01_eda``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import constants as C
from ..data.dicom import DicomReadError, read_header
from ..data.rsna import breast_table


def wilson_interval(k: np.ndarray, n: np.ndarray, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion k/n.

    Args:
        k: Successes.
        n: Trials (> 0).
        z: Normal quantile (1.96 = 95%).

    Returns:
        ``(low, high)`` arrays.
    """
    k, n = np.asarray(k, float), np.asarray(n, float)
    p = np.divide(k, n, out=np.zeros_like(k), where=n > 0)
    denom = 1 + z**2 / np.maximum(n, 1)
    centre = (p + z**2 / (2 * np.maximum(n, 1))) / denom
    half = z * np.sqrt(p * (1 - p) / np.maximum(n, 1) + z**2 / (4 * np.maximum(n, 1) ** 2)) / denom
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def class_balance(df: pd.DataFrame) -> pd.DataFrame:
    """Positives and rate at image, breast and patient level.

    Args:
        df: ``train.csv`` frame.

    Returns:
        Frame indexed by level with ``n``, ``positives``, ``rate``.
    """
    breasts = breast_table(df)
    patients = df.groupby("patient_id")["cancer"].max()
    rows = {
        "images": (len(df), int(df.cancer.sum())),
        "breasts": (len(breasts), int(breasts.cancer.sum())),
        "patients": (len(patients), int(patients.sum())),
    }
    out = pd.DataFrame(rows, index=["n", "positives"]).T
    out["rate"] = out["positives"] / out["n"]
    return out


def rate_by(df: pd.DataFrame, column: str, bins: list[float] | None = None) -> pd.DataFrame:
    """Cancer rate per value of ``column`` (missing values are their own group) with 95% CIs.

    Args:
        df: ``train.csv`` frame.
        column: Column to group by (e.g. ``site_id``, ``machine_id``, ``density``, ``age``).
        bins: Optional bin edges for numeric columns (e.g. age bands).

    Returns:
        Frame with ``images``, ``positives``, ``rate``, ``ci_low``, ``ci_high`` per group.
    """
    key = df[column]
    if bins is not None:
        key = pd.cut(key, bins=bins, right=False).astype(str)
    key = key.astype(object).where(key.notna(), "missing").astype(str)
    grouped = df.groupby(key.rename(column))["cancer"].agg(images="size", positives="sum")
    grouped["rate"] = grouped["positives"] / grouped["images"]
    grouped["ci_low"], grouped["ci_high"] = wilson_interval(grouped["positives"], grouped["images"])
    return grouped


def missing_values(df: pd.DataFrame) -> pd.DataFrame:
    """Count and share of missing values per RSNA column."""
    cols = [c for c in C.RSNA_COLUMNS if c in df.columns]
    miss = df[cols].isna().sum()
    return pd.DataFrame({"missing": miss, "share": miss / len(df)}).sort_values("missing", ascending=False)


def views_per_patient(df: pd.DataFrame) -> pd.DataFrame:
    """Distribution of images per patient: how many patients have 1, 2, ... images.

    Args:
        df: ``train.csv`` frame.

    Returns:
        Frame indexed by ``images_per_patient`` with a ``patients`` column.
    """
    per_patient = df.groupby("patient_id").size().value_counts().sort_index()
    return per_patient.rename_axis("images_per_patient").to_frame("patients")


def annotation_issues(df: pd.DataFrame) -> pd.DataFrame:
    """Label combinations a reader should know about before trusting the labels.

    Args:
        df: ``train.csv`` frame.

    Returns:
        Frame with ``count`` and ``note`` per finding (image level unless the name says breast).
    """
    inconsistent = int((breast_table(df, labels=("cancer", "nunique"))["labels"] > 1).sum())
    birads = df.get("BIRADS")
    findings = {
        "cancer with BIRADS 1 or 2 (negative/benign read)": (
            int(((birads.isin([1, 2])) & (df.cancer == 1)).sum()) if birads is not None else 0,
            "screening read disagrees with the biopsy outcome: interval/missed cancers",
        ),
        "BIRADS 0 (recall) without cancer": (
            int(((birads == 0) & (df.cancer == 0)).sum()) if birads is not None else 0,
            "recalled but negative: hard negatives, not label noise",
        ),
        "biopsy without cancer": (
            int(((df.biopsy == 1) & (df.cancer == 0)).sum()),
            "suspicious-looking benign findings",
        ),
        "cancer without biopsy": (int(((df.biopsy == 0) & (df.cancer == 1)).sum()), "should be 0: label error if not"),
        "invasive without cancer": (
            int(((df.invasive == 1) & (df.cancer == 0)).sum()),
            "should be 0: label error if not",
        ),
        "difficult negative cases": (
            int(df.get("difficult_negative_case", pd.Series(False, index=df.index)).sum()),
            "negatives flagged as hard; useful as an auxiliary target",
        ),
        "breasts whose images disagree on cancer": (inconsistent, "cancer is a breast label copied to every view"),
        "missing BIRADS (site 2 never reports it)": (
            int(birads.isna().sum()) if birads is not None else len(df),
            "missing by site, not at random",
        ),
        "missing age": (int(df["age"].isna().sum()), "impute or drop before using age as an input"),
    }
    return pd.DataFrame([(k, v[0], v[1]) for k, v in findings.items()], columns=["finding", "count", "note"]).set_index(
        "finding"
    )


def header_inventory(
    df: pd.DataFrame, max_files: int | None = 500, seed: int = 0, progress: bool = True
) -> pd.DataFrame:
    """DICOM header facts for (a sample of) the images, read without decoding pixels.

    Args:
        df: Frame with ``path``, ``image_id``, ``site_id``, ``machine_id``.
        max_files: Sample size (None = all files).
        seed: Sampling seed.
        progress: Show a progress bar.

    Returns:
        One row per file: ids, site, machine, size, photometric, bits, transfer syntax, VOI function
        and ``error`` for unreadable files.
    """
    from tqdm.auto import tqdm

    sample = df if max_files is None or len(df) <= max_files else df.sample(max_files, random_state=seed)
    rows = []
    for r in tqdm(sample.itertuples(), total=len(sample), desc="DICOM headers", disable=not progress):
        base = {"image_id": r.image_id, "site_id": r.site_id, "machine_id": r.machine_id}
        try:
            h = read_header(r.path)
            rows.append(
                {
                    **base,
                    **{
                        k: h[k]
                        for k in (
                            "rows",
                            "columns",
                            "photometric",
                            "bits_stored",
                            "transfer_syntax_name",
                            "voi_function",
                            "n_windows",
                        )
                    },
                    "error": "",
                }
            )
        except DicomReadError as exc:
            rows.append({**base, "error": str(exc)})
    return pd.DataFrame(rows)
