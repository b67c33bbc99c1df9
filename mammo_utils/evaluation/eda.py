"""Exploratory-analysis tables for an RSNA-layout dataset (used by ``01_eda``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from .. import constants as C
from ..data.dicom import DicomReadError, read_header
from ..data.rsna import breast_ids, breast_table
from .metrics import wilson_interval
from .subgroups import UNKNOWN, band_order


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


def _numeric_order(index: pd.Index) -> pd.Index:
    """Sort labels numerically when they are numbers ("2" before "10"), a missing value's group (``unknown``) last."""

    def key(value):
        try:
            return (0, float(value), "")
        except (TypeError, ValueError):
            return (2 if value == UNKNOWN else 1, 0.0, str(value))

    return pd.Index(sorted(index, key=key), name=index.name)


def rate_by(df: pd.DataFrame, column: str, bands: Callable[[pd.Series], pd.Series] | None = None) -> pd.DataFrame:
    """Cancer rate per value of ``column`` **per breast** (the unit RSNA labels and scores), with Wilson 95% CIs.

    A breast counts in a group when any of its images has that value (a breast with CC and MLO images counts under
    both views); the images of one breast are not independent, so they are never counted as separate trials.
    Missing values are their own group, ``unknown`` (:data:`~mammo_utils.evaluation.subgroups.UNKNOWN`, the model
    card's name for it); groups are ordered numerically when their labels are numbers.

    Args:
        df: ``train.csv`` frame.
        column: Column to group by (e.g. ``site_id``, ``machine_id``, ``density``, ``age``).
        bands: Optional labelling of a numeric column's values, e.g.
            :func:`~mammo_utils.evaluation.subgroups.age_band` (the age bands the model card's subgroups use too);
            its groups are then ordered by their bounds.

    Returns:
        Frame with ``images``, ``breasts``, ``positives`` (breasts with cancer), ``rate``, ``ci_low``, ``ci_high``.
    """
    key = df[column] if bands is None else bands(df[column])
    key = key.astype(object).where(key.notna(), UNKNOWN)
    key = key.map(lambda v: f"{v:g}" if isinstance(v, float) else str(v))
    frame = pd.DataFrame({"key": key.to_numpy(), "breast": breast_ids(df).to_numpy(), "cancer": df.cancer.to_numpy()})
    grouped = frame.groupby("key")
    out = pd.DataFrame({"images": grouped.size(), "breasts": grouped.breast.nunique()})
    out["positives"] = frame[frame.cancer == 1].groupby("key").breast.nunique().reindex(out.index).fillna(0).astype(int)
    out["rate"] = out["positives"] / out["breasts"]
    out["ci_low"], out["ci_high"] = wilson_interval(out["positives"], out["breasts"])
    out.index.name = column
    if bands is not None:
        return out.loc[sorted(out.index, key=band_order)]
    return out.loc[_numeric_order(out.index)]


def rate_test(table: pd.DataFrame) -> dict:
    """Test that every group of a :func:`rate_by` table has the same cancer rate per breast.

    Fisher's exact test for two groups, a chi-square test of homogeneity for more. Each breast counts once; the two
    breasts of a patient are not independent, which makes the p-value, if anything, too small.

    Args:
        table: :func:`rate_by` output (``breasts``, ``positives``), one row per group compared.

    Returns:
        ``test`` (its name), ``p_value`` and ``groups``.

    Raises:
        ValueError: Fewer than two groups.
    """
    from scipy.stats import chi2_contingency, fisher_exact

    if len(table) < 2:
        raise ValueError(f"a rate test needs two or more groups, got {len(table)}")
    counts = np.c_[table.positives.to_numpy(int), (table.breasts - table.positives).to_numpy(int)]
    if len(table) == 2:
        name, p = "Fisher's exact test", fisher_exact(counts).pvalue
    else:
        name, p = "chi-square test", chi2_contingency(counts).pvalue
    return {"test": name, "p_value": float(p), "groups": len(table)}


def rate_test_sentence(table: pd.DataFrame, groups: str, alpha: float = 0.05) -> str:
    """:func:`rate_test` of a :func:`rate_by` table in words, whichever way it falls ("" with fewer than two groups).

    Args:
        table: The groups compared.
        groups: What a group is, in the plural (``"sites"``).
        alpha: Significance level.

    Returns:
        e.g. ``"Fisher's exact test p = 0.389: no difference in cancer rate between sites that this test can
        establish"``.
    """
    if len(table) < 2:
        return ""
    from .compare import format_p

    test = rate_test(table)
    figures = f"{test['test']} {format_p(test['p_value'])}"
    if test["p_value"] < alpha:
        return f"{figures}: the cancer rate differs between {groups}, so {groups[:-1]} carries label information"
    return f"{figures}: no difference in cancer rate between {groups} that this test can establish"


def missing_values(df: pd.DataFrame) -> pd.DataFrame:
    """Count and share of missing values per RSNA column."""
    cols = [c for c in C.RSNA_COLUMNS if c in df.columns]
    miss = df[cols].isna().sum()
    return pd.DataFrame({"missing": miss, "share": miss / len(df)}).sort_values("missing", ascending=False)


def missing_by_site(df: pd.DataFrame, columns: tuple[str, ...] = ("BIRADS", "density", "age")) -> pd.DataFrame:
    """Share of images with a missing value, per site (missingness that encodes the site is a shortcut).

    Args:
        df: ``train.csv`` frame with ``site_id``.
        columns: Columns to count (those absent from ``df`` are skipped).

    Returns:
        One row per site, one column per counted column (share of that site's images), plus ``images``.
    """
    cols = [c for c in columns if c in df.columns]
    table = df[cols].isna().groupby(df["site_id"]).mean()
    table["images"] = df.groupby("site_id").size()
    return table


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
        "missing BIRADS": (
            int(birads.isna().sum()) if birads is not None else len(df),
            _missing_note(df, "BIRADS"),
        ),
        "missing age": (int(df["age"].isna().sum()), "impute or drop before using age as an input"),
    }
    return pd.DataFrame([(k, v[0], v[1]) for k, v in findings.items()], columns=["finding", "count", "note"]).set_index(
        "finding"
    )


def format_by_site(shares: pd.Series) -> str:
    """``site 1: 16%, site 2: 88%`` from a share per site id (a column of :func:`missing_by_site`).

    Args:
        shares: Shares in [0, 1] indexed by site id.

    Returns:
        The comma-separated text, in the series' order.
    """
    return ", ".join(f"site {k}: {v:.0%}" for k, v in shares.items())


def _missing_note(df: pd.DataFrame, column: str) -> str:
    """``missing by site (site 1: 16%, site 2: 88%)``, or a plain note without a site column."""
    if column not in df.columns or "site_id" not in df.columns:
        return "missing by design"
    return f"missing by site ({format_by_site(missing_by_site(df, (column,))[column])})"


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
                            "laterality",
                            "view",
                        )
                    },
                    "error": "",
                }
            )
        except DicomReadError as exc:
            rows.append({**base, "error": str(exc)})
    return pd.DataFrame(rows)


#: Breast pixels drawn at random from each image :func:`intensity_by_machine` reads.
INTENSITY_PIXELS = 2000
#: Pixels at or below this processed intensity are background, not breast.
BREAST_FLOOR = 0.02


def intensity_by_machine(df: pd.DataFrame, per_machine: int = 12, max_size: int = 256, seed: int = 0) -> pd.DataFrame:
    """Breast-pixel intensities after the DICOM pipeline (VOI, MONOCHROME1), sampled per machine.

    Machines whose processed images still look different give a network a shortcut ("this machine → this
    risk"); this is the evidence for or against it.

    Args:
        df: ``train.csv`` frame (with ``path``).
        per_machine: Images read per machine.
        max_size: Decode size (reduced JPEG 2000 levels: fast).
        seed: Sampling seed.

    Returns:
        Long frame ``machine_id, image_id, intensity`` (:data:`INTENSITY_PIXELS` random pixels of each image's breast,
        above :data:`BREAST_FLOOR`); its ``attrs`` record the sampling (``per_machine``, ``seed``, ``pixels`` and
        ``available``: each machine's image count), which :func:`intensity_sampling_text` states.
    """
    from ..data.dicom import read_dicom

    rng = np.random.default_rng(seed)
    rows = []
    for machine, part in df.groupby("machine_id"):
        for r in part.sample(min(per_machine, len(part)), random_state=seed).itertuples():
            try:
                pixels = read_dicom(r.path, max_size=max_size).reshape(-1)
            except DicomReadError:
                continue
            breast = pixels[pixels > BREAST_FLOOR]
            take = rng.choice(breast, size=min(INTENSITY_PIXELS, breast.size), replace=False) if breast.size else breast
            rows.append(pd.DataFrame({"machine_id": machine, "image_id": r.image_id, "intensity": take}))
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["machine_id", "image_id", "intensity"])
    available = {machine: len(part) for machine, part in df.groupby("machine_id")}
    out.attrs.update(per_machine=per_machine, seed=seed, pixels=INTENSITY_PIXELS, available=available)
    return out


def intensity_sampling_text(samples: pd.DataFrame) -> str:
    """How :func:`intensity_by_machine` sampled, in words: a figure's image count is the sample's, not the machine's.

    Args:
        samples: :func:`intensity_by_machine` output (its ``attrs`` record the sampling).

    Returns:
        Markdown sentences.
    """
    attrs = samples.attrs
    read = samples.groupby("machine_id").image_id.nunique()
    available = attrs.get("available", {})
    total = sum(available.values()) if available else None
    of = f" of the {total:,} in the table" if total else ""
    return (
        f"Sampling: at most {attrs.get('per_machine', '?')} images per machine, drawn at random (seed "
        f"{attrs.get('seed', '?')}), and {attrs.get('pixels', INTENSITY_PIXELS):,} random breast pixels (intensity "
        f"above {BREAST_FLOOR}) of each; {int(read.sum()):,} images of {len(read)} machines were read{of}. An image "
        "count in the legend is that sample's size, not the machine's share of the data (the rate figures above "
        "count every breast)."
    )
