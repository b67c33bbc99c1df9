# Size: the drift statistics, what the reference holds, the verdict and the chance levels a verdict is read against,
# one owner for all.
"""Drift between a model's reference data and what it sees now: PSI, the two-sample KS test and the verdict.

Pure NumPy/SciPy statistics, so every layer that needs them (export writes the reference, the service and the
retraining triggers compare against it) imports them from here, below all of them.

Hand-written on numpy/scipy (Evidently does not import with pandas 3; alibi-detect needs numpy < 2).

- :func:`psi`: Population Stability Index with quantile bins of the reference and a small epsilon for empty
  bins. Reading (the credit-scoring convention): **< 0.1 stable, 0.1–0.25 watch, > 0.25 drift**.
- :func:`ks`: two-sample Kolmogorov–Smirnov statistic and p-value (``scipy.stats.ks_2samp``).

Inputs are described by :func:`image_features` (intensity quantiles and spread of the preprocessed crop, the
share of breast pixels, the original image size) and the model's scores. :func:`reference_statistics` stores
them for the training images and validation scores next to an exported model (``reference.json``, read by
:func:`mammo_utils.modeling.artifact.read_reference`), :func:`drift_report` compares a current window with it,
feature by feature, and :func:`verdict` turns the largest PSI into the one verdict every caller shows.
:func:`held_out_psi` gives the PSI a window of new patients from the reference's population reaches by chance (the
null a drift reading compares with, :func:`held_out_reading`); :func:`chance_psi` the lower levels of windows drawn
from the reference itself (context).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> round(psi(rng.normal(size=5000), rng.normal(size=5000)), 3) < 0.1
    True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .. import constants as C
from .metrics import cluster_members

#: The thresholds and window sizes are defined once, in :mod:`mammo_utils.constants` (the configuration's
#: defaults are built from them too); they are named here for the callers of these statistics.
PSI_STABLE, PSI_DRIFT = C.PSI_STABLE, C.PSI_DRIFT
DRIFT_MIN_PREDICTIONS, DRIFT_WINDOW = C.DRIFT_MIN_PREDICTIONS, C.DRIFT_WINDOW
#: Verdict when nothing could be compared (too few values, or no feature in common): never an alarm.
UNKNOWN = "unknown"
#: Numeric features of one prepared image (see :func:`image_features`).
FEATURES = ("mean", "std", "p10", "p50", "p90", "breast_fraction", "orig_rows", "orig_cols")
_EPS = 1e-4


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10) -> float:
    """Population Stability Index of ``current`` against ``reference``.

    Bins are the reference's quantiles (so each holds ~1/bins of it); values outside its range fall in the
    end bins. ``PSI = Σ (c_i - r_i) · ln(c_i / r_i)`` over bin shares, with empty shares set to a small epsilon.

    Args:
        reference: Reference sample.
        current: Current sample.
        bins: Number of quantile bins.

    Returns:
        PSI (0 when the two distributions put the same share in every bin).

    Raises:
        ValueError: An empty sample.
    """
    ref = np.asarray(reference, float)
    cur = np.asarray(current, float)
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if ref.size == 0 or cur.size == 0:
        raise ValueError(f"psi needs two non-empty samples, got {ref.size} and {cur.size} values")
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    r = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=edges.size + 1) / ref.size
    c = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=edges.size + 1) / cur.size
    r, c = np.maximum(r, _EPS), np.maximum(c, _EPS)
    return float(np.sum((c - r) * np.log(c / r)))


def ks(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    """Two-sample Kolmogorov–Smirnov test.

    Returns:
        ``(statistic, p_value)``.
    """
    from scipy.stats import ks_2samp

    result = ks_2samp(np.asarray(reference, float), np.asarray(current, float))
    return float(result.statistic), float(result.pvalue)


def status(value: float) -> str:
    """The verdict of one PSI value: the one definition of the thresholds' meaning.

    ``stable`` below :data:`PSI_STABLE`, ``drift`` above :data:`PSI_DRIFT`, ``watch`` between (both ends
    included), and :data:`UNKNOWN` for NaN (nothing was compared: not evidence of drift, nor of stability).

    Example:
        >>> status(0.05), status(0.25), status(0.3), status(float("nan"))
        ('stable', 'watch', 'drift', 'unknown')
    """
    if not np.isfinite(value):
        return UNKNOWN
    return "stable" if value < PSI_STABLE else "watch" if value <= PSI_DRIFT else "drift"


def verdict(report: pd.DataFrame, n_current: int | None = None, min_values: int = DRIFT_MIN_PREDICTIONS) -> dict:
    """The overall drift verdict of a :func:`drift_report`: the status of its largest PSI.

    Args:
        report: :func:`drift_report` output (may be empty).
        n_current: Current values the report was drawn from (default: the largest ``n_current`` in it).
        min_values: Fewer current values than this give :data:`UNKNOWN`.

    Returns:
        ``{"verdict", "max_psi" (NaN when unknown), "feature" (argmax, or None), "n_current",
        "thresholds": {"stable", "drift"}}``.

    Example:
        >>> verdict(pd.DataFrame(columns=["psi"]))["verdict"]
        'unknown'
    """
    if n_current is None:
        n_current = int(report["n_current"].max()) if len(report) and "n_current" in report else 0
    psis = pd.to_numeric(report["psi"], errors="coerce").dropna() if len(report) else pd.Series(dtype=float)
    if n_current < min_values or psis.empty:
        worst, feature = float("nan"), None
    else:
        worst, feature = float(psis.max()), str(psis.idxmax())
    return {
        "verdict": status(worst),
        "max_psi": worst,
        "feature": feature,
        "n_current": int(n_current),
        "thresholds": {"stable": PSI_STABLE, "drift": PSI_DRIFT},
    }


def image_features(image: np.ndarray, orig_shape: tuple[int, int] | None = None) -> dict[str, float]:
    """Summary of one prepared image (cache recipe output, [0, 1]) for drift monitoring.

    Args:
        image: 2-D prepared image (breast crop, zero padding).
        orig_shape: (rows, columns) of the original image (NaN when unknown).

    Returns:
        :data:`FEATURES` → value; intensity statistics are over breast pixels (> 0) only.
    """
    x = np.asarray(image, np.float32).squeeze()
    breast = x[x > 0]
    values = breast if breast.size else np.zeros(1, np.float32)
    q10, q50, q90 = np.quantile(values, [0.1, 0.5, 0.9])
    rows, cols = orig_shape if orig_shape is not None else (np.nan, np.nan)
    return {
        "mean": float(values.mean()),
        "std": float(values.std()),
        "p10": float(q10),
        "p50": float(q50),
        "p90": float(q90),
        "breast_fraction": float(breast.size / x.size),
        "orig_rows": float(rows),
        "orig_cols": float(cols),
    }


def reference_statistics(features: pd.DataFrame, scores: Sequence[float], source: str = "") -> dict:
    """What a model's inputs and scores looked like when it was made (stored as ``reference.json``).

    Args:
        features: One row of :func:`image_features` per training image.
        scores: The model's scores on its validation images.
        source: Free text (e.g. ``"train fold images / validation scores"``).

    Returns:
        ``{"features": {name: [values]}, "scores": [...], "quantiles": {...}, "source": ...}``.
    """
    cols = [c for c in FEATURES if c in features]
    return {
        "source": source,
        "n_images": len(features),
        "features": {c: [round(float(v), 6) for v in features[c]] for c in cols},
        "quantiles": {c: [round(float(v), 6) for v in np.nanquantile(features[c], [0.05, 0.5, 0.95])] for c in cols},
        "scores": [round(float(s), 6) for s in scores],
    }


def adaptive_bins(n_reference: int, n_current: int, per_bin: int = 25, most: int = 10, least: int = 3) -> int:
    """Quantile bins for a PSI between samples of these sizes: 10, fewer when the smaller sample is small.

    PSI is biased upwards on small samples: with ``k`` equal-share bins and no drift its expected value is about
    ``(k - 1) · (1/n_ref + 1/n_cur)`` (0.15 for 10 bins, 256 reference and 76 current values — "watch" with no
    drift at all). Keeping ``per_bin`` values of the smaller sample in each bin keeps that bias under ~0.05.

    Returns:
        The number of bins (between ``least`` and ``most``).
    """
    return int(np.clip(min(n_reference, n_current) // per_bin, least, most))


def drift_report(reference: dict, features: pd.DataFrame, scores: Sequence[float] | None = None) -> pd.DataFrame:
    """PSI, KS and status per feature (and for the scores) of a current window against a reference.

    Args:
        reference: :func:`reference_statistics` output.
        features: Current :func:`image_features` rows.
        scores: Current model scores (optional).

    Returns:
        One row per feature: ``psi, ks, ks_pvalue, status, bins, n_reference, n_current`` (bins from
        :func:`adaptive_bins`).
    """
    rows = {}
    pairs = [(name, reference["features"][name], features[name]) for name in reference["features"] if name in features]
    if scores is not None and len(scores) and reference.get("scores"):
        pairs.append(("score", reference["scores"], scores))
    for name, ref, cur in pairs:
        ref, cur = np.asarray(ref, float), np.asarray(cur, float)
        ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
        if ref.size == 0 or cur.size == 0:
            continue
        bins = adaptive_bins(ref.size, cur.size)
        value = psi(ref, cur, bins)
        statistic, p_value = ks(ref, cur)
        rows[name] = {
            "psi": value,
            "ks": statistic,
            "ks_pvalue": p_value,
            "status": status(value),
            "bins": bins,
            "n_reference": int(ref.size),
            "n_current": int(cur.size),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("feature")


def reference_counts(report: pd.DataFrame) -> tuple[int, int | None]:
    """How many values a :func:`drift_report`'s reference holds: image features and scores (``n_reference``).

    Args:
        report: :func:`drift_report` output (indexed by feature; the model's scores are the ``score`` row).

    Returns:
        ``(images behind the image features, images behind the scores)``; None for the scores when the report has
        no ``score`` row.

    Example:
        >>> report = pd.DataFrame({"n_reference": [833, 833, 277]}, index=["mean", "p10", "score"])
        >>> reference_counts(report)
        (833, 277)
    """
    features = report.n_reference.drop(index="score", errors="ignore")
    scores = int(report.loc["score", "n_reference"]) if "score" in report.index else None
    return int(features.max()), scores


def reference_contents(n_features: int | str, n_scores: int | str | None) -> str:
    """What an export's drift reference holds, for a reader (:func:`reference_statistics`' two samples).

    The image features describe training-fold images; the scores are the model's on validation-fold images, since
    its scores on the images it was fitted to sit nearer 0 and 1 than on any new patient's.

    Args:
        n_features: Images behind the image features (:func:`reference_counts`; a number or a formatted fact).
        n_scores: Images behind the scores, or None when there are none.

    Returns:
        A clause (no capital, no full stop).

    Example:
        >>> reference_contents(833, 277).split(" (")[0]
        'the image features of 833 training images and the scores of 277 validation images'
    """
    text = f"the image features of {n_features} training images"
    if n_scores is None:
        return text
    return (
        f"{text} and the scores of {n_scores} validation images (the model's scores on the images it was trained "
        "on would sit nearer 0 and 1 than on new patients')"
    )


#: Random windows of a chance level and the quantile of their PSI reported (:func:`chance_psi`).
CHANCE_DRAWS, CHANCE_QUANTILE = 200, 0.95


def chance_psi(
    reference: dict,
    n_current: int,
    draws: int = CHANCE_DRAWS,
    seed: int = 0,
    q: float = CHANCE_QUANTILE,
    groups: Sequence | None = None,
) -> pd.Series:
    """The PSI each feature reaches by chance alone: windows of ``n_current`` values drawn from the reference itself.

    PSI grows with sampling noise in small windows, so a fixed threshold can flag an unchanged population. This is
    the level a same-population window of this size reaches (its ``q`` quantile over ``draws`` random windows,
    drawn without replacement). Without ``groups`` a window is drawn image by image; with ``groups`` (one patient
    id per reference image) it is drawn patient by patient: whole patients in random order, all their images
    together, until the window is full (the last patient cut to fit), which is how a window of new patients
    arrives. The two nulls differ only in that, so comparing them measures how much the images of one patient
    move together. A window drawn from the reference shares its values with it, so both levels sit below what a
    window of new patients reaches; :func:`held_out_psi` gives that level (the null to read a window against).

    Args:
        reference: :func:`reference_statistics` output.
        n_current: Size of the window to compare with.
        draws: Random windows.
        seed: Random seed.
        q: Quantile reported.
        groups: Patient (cluster) of each reference image, aligned with every feature's values; None draws
            images independently.

    Returns:
        Feature -> the ``q`` quantile of its PSI (bins as :func:`drift_report` chooses them).

    Raises:
        ValueError: ``groups`` does not hold one entry per reference value of a feature.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> ref = {"features": {"mean": rng.normal(size=2000).tolist()}}
        >>> float(chance_psi(ref, 100, draws=50)["mean"]) < 0.25
        True
        >>> patients = np.repeat(np.arange(500), 4)  # four images per patient
        >>> float(chance_psi(ref, 100, draws=50, groups=patients)["mean"]) < 0.25
        True
    """
    rng = np.random.default_rng(seed)
    out = {}
    for name, values in reference["features"].items():
        ref, members = _finite(values, groups, name, "reference")
        if ref.size < 2 or n_current < 1:
            continue
        out[name] = _window_quantile(ref, ref, members, min(n_current, ref.size), rng, draws, q)
    label = "patients" if groups is not None else "images"
    return pd.Series(out, name=f"chance PSI ({label}, q{q:g})", dtype=float)


def held_out_psi(
    reference: dict,
    held_out: pd.DataFrame | dict,
    size: int,
    groups: Sequence | None = None,
    draws: int = CHANCE_DRAWS,
    seed: int = 0,
    q: float = CHANCE_QUANTILE,
) -> pd.Series:
    """The PSI each feature reaches by chance in windows of a sample the reference did not see.

    :func:`chance_psi` draws its windows from the reference itself, so a window shares its images with the
    reference and its PSI sits lower than a new window's: for a window of ``m`` out of ``n`` reference values the
    no-drift PSI is about ``(k - 1) · (1/m - 1/n)`` instead of ``(k - 1) · (1/m + 1/n)`` (``k`` bins). Here the
    windows come from ``held_out`` (e.g. the validation fold's patients when the reference holds the training
    fold's images) and each is compared with the whole reference exactly as :func:`drift_report` compares a
    current window (same bins). Drawn like :func:`chance_psi`: without replacement, image by image or, with
    ``groups``, whole patients in random order cut to ``size``. Each window of a random held-out sample is itself a
    random sample of that population, so its PSI is a same-population draw; windows of one sample overlap,
    though, so the quantile rests on about ``len(held_out) / size`` independent windows. Applied to the current
    split itself (its own patients as ``groups``) it gives that split's PSI at the same window size.

    Args:
        reference: :func:`reference_statistics` output.
        held_out: Features of the held-out images (:func:`image_features` rows, or feature -> values); none of
            them, nor any image of their patients, may be in the reference.
        size: Window size (capped at the held-out sample's size).
        groups: Patient of each held-out image, aligned with its rows; None draws images independently.
        draws: Random windows.
        seed: Random seed.
        q: Quantile reported.

    Returns:
        Feature (of the reference and ``held_out`` both) -> the ``q`` quantile of its PSI against the reference.

    Raises:
        ValueError: ``groups`` does not hold one entry per held-out image.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> ref = {"features": {"mean": rng.normal(size=2000).tolist()}}
        >>> patients = np.repeat(np.arange(250), 4)  # four images per patient
        >>> same, shifted = {"mean": rng.normal(size=1000)}, {"mean": rng.normal(1.0, 1.0, size=1000)}
        >>> float(held_out_psi(ref, same, 100, patients, draws=50)["mean"]) < PSI_DRIFT
        True
        >>> float(held_out_psi(ref, shifted, 100, patients, draws=50, q=0.05)["mean"]) > PSI_DRIFT
        True
    """
    rng = np.random.default_rng(seed)
    out = {}
    for name, values in reference["features"].items():
        if name not in held_out:
            continue
        ref = _finite(values, None, name, "reference")[0]
        pool, members = _finite(held_out[name], groups, name, "held-out")
        if ref.size < 2 or pool.size < 1 or size < 1:
            continue
        out[name] = _window_quantile(ref, pool, members, min(size, pool.size), rng, draws, q)
    label = "patients" if groups is not None else "images"
    return pd.Series(out, name=f"held-out PSI ({label}, q{q:g})", dtype=float)


#: Largest share of a held-out sample one of its windows takes (:func:`held_out_window`).
HELD_OUT_SHARE = 0.5


def held_out_window(n_window: int, n_held_out: int, share: float = HELD_OUT_SHARE) -> int:
    """Window size of a held-out null: the current window's, capped at ``share`` of the held-out sample.

    A window as large as the held-out sample is that sample every time (one PSI, no spread); half of it leaves
    the draws room to differ. When the cap binds, read the current split at the same size (:func:`held_out_psi`
    on the current split), since PSI depends on the window size.

    Args:
        n_window: Size of the current window.
        n_held_out: Images in the held-out sample.
        share: Largest share of the held-out sample in one window.

    Returns:
        The window size (at least 1).

    Example:
        >>> held_out_window(500, 2000), held_out_window(500, 277)
        (500, 138)
    """
    return max(1, min(int(n_window), int(n_held_out * share)))


def _finite(values: Sequence[float], groups: Sequence | None, name: str, what: str) -> tuple[np.ndarray, list | None]:
    """The finite values of one feature and the patients' rows among them (None without ``groups``).

    Raises:
        ValueError: ``groups`` does not hold one entry per value.
    """
    x = np.asarray(values, float)
    if groups is not None and len(groups) != x.size:
        raise ValueError(f"groups has {len(groups)} entries but feature {name!r} has {x.size} {what} values")
    keep = np.isfinite(x)
    return x[keep], None if groups is None else cluster_members(np.asarray(groups)[keep])


def _window_quantile(
    ref: np.ndarray,
    pool: np.ndarray,
    members: list[np.ndarray] | None,
    size: int,
    rng: np.random.Generator,
    draws: int,
    q: float,
) -> float:
    """The ``q`` quantile of the PSI against ``ref`` of ``draws`` random windows of ``size`` out of ``pool`` (bins
    as :func:`drift_report` chooses them for a window of ``size``)."""
    bins = adaptive_bins(ref.size, size)
    windows = (_window(rng, pool.size, size, members) for _ in range(draws))
    return float(np.quantile([psi(ref, pool[idx], bins) for idx in windows], q))


def _window(rng: np.random.Generator, n: int, size: int, members: list[np.ndarray] | None) -> np.ndarray:
    """Indices of one random window of ``size`` out of ``n`` values: image by image, or whole clusters in random
    order (``members``, from :func:`~mammo_utils.evaluation.metrics.cluster_members`) cut to ``size``."""
    if members is None:
        return rng.choice(n, size, replace=False)
    return np.concatenate([members[g] for g in rng.permutation(len(members))])[:size]


#: What an observed PSI means against the two chance levels of :func:`chance_psi` (see :func:`chance_reading`).
CHANCE_READINGS = ("within", "patients", "beyond")


def chance_reading(observed: float, images: float, patients: float) -> str:
    """Where an observed PSI falls against the image-by-image and patient-by-patient chance levels.

    Args:
        observed: PSI of the window (e.g. the unchanged test split's largest feature PSI).
        images: Chance level with images drawn independently (:func:`chance_psi` without ``groups``).
        patients: Chance level with whole patients drawn (:func:`chance_psi` with ``groups``).

    Returns:
        ``"within"`` (no higher than the image level: sampling noise), ``"patients"`` (above the image level, not
        above the patient level: new patients alone explain it), or ``"beyond"`` (above both).

    Raises:
        ValueError: A level is not a finite number.

    Example:
        >>> chance_reading(0.01, 0.02, 0.05), chance_reading(0.04, 0.02, 0.05), chance_reading(0.2, 0.02, 0.05)
        ('within', 'patients', 'beyond')
    """
    _check_finite("chance_reading", observed, images, patients)
    return "within" if observed <= images else "patients" if observed <= patients else "beyond"


#: What an observed PSI means against the held-out chance level of :func:`held_out_psi` (see
#: :func:`held_out_reading`).
HELD_OUT_READINGS = ("within", "beyond")


def held_out_reading(observed: float, level: float) -> str:
    """Where an observed PSI falls against the held-out chance level: the primary reading of a drift check.

    The two levels of :func:`chance_reading` draw their windows from the reference itself and so sit low; this
    level is what new patients of the reference's population reach, so only a PSI above it is evidence that the
    current window differs from that population. Compare values at the same window size (:func:`held_out_window`).

    Args:
        observed: PSI of the current window (at the held-out windows' size).
        level: Chance level of windows of held-out patients (:func:`held_out_psi`).

    Returns:
        ``"within"`` (no higher than the held-out level: what new patients of the same population show) or
        ``"beyond"``.

    Raises:
        ValueError: A value is not a finite number.

    Example:
        >>> held_out_reading(0.03, 0.05), held_out_reading(0.2, 0.05)
        ('within', 'beyond')
    """
    _check_finite("held_out_reading", observed, level)
    return "within" if observed <= level else "beyond"


def _check_finite(caller: str, *values: float) -> None:
    """Raise ValueError naming ``caller`` when a value is not a finite number."""
    if not all(np.isfinite(v) for v in values):
        raise ValueError(f"{caller} needs finite values, got {', '.join(str(v) for v in values)}")
