"""What an operating point measured on an enriched test set means in a screening population (Bayes).

The embedded set has far more cancers than screening does, so precision, F1 and PPV measured on it flatter the
model; sensitivity and specificity do not depend on prevalence and carry over. :func:`screening_translation`
turns one operating point into recalls per 1,000 screened breasts and PPV at another prevalence;
:func:`screening_range` does it at the ends of the two rates' intervals. :func:`screening_prevalence` is the one
prevalence the notebooks and the final report translate to (the real RSNA ``train.csv``'s breast cancer rate, else
:data:`FALLBACK_PREVALENCE`), so they never quote two.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from .metrics import ppv_at_prevalence

#: Prevalence used when the real RSNA ``train.csv`` is not on this machine: the real training set's share of
#: breasts with cancer is about 2% (492 of 23,826 breasts in the competition's ``train.csv``).
FALLBACK_PREVALENCE = 0.02


def breast_cancer_rate(df: pd.DataFrame) -> float:
    """Share of breasts (``patient_id`` × ``laterality``) with a cancer in an RSNA ``train.csv`` frame.

    Args:
        df: One row per image (``patient_id``, ``laterality``, ``cancer``).

    Returns:
        The rate in [0, 1].

    Example:
        >>> breast_cancer_rate(pd.DataFrame({"patient_id": [1, 1, 1], "laterality": ["L", "L", "R"],
        ...                                  "cancer": [1, 1, 0]}))
        0.5
    """
    return float(df.groupby(["patient_id", "laterality"]).cancer.max().mean())


@dataclasses.dataclass(frozen=True)
class Prevalence:
    """The screening prevalence every document translates to, and where it comes from.

    Attributes:
        value: Share of breasts with cancer.
        real: Whether it was read from the real RSNA ``train.csv`` (else :data:`FALLBACK_PREVALENCE`).
    """

    value: float
    real: bool

    @property
    def origin(self) -> str:
        """Where the value comes from, in words (Markdown)."""
        if self.real:
            return "the real RSNA training set's share of breasts with cancer, read from its `train.csv`"
        return (
            "the fallback rounded from the real RSNA training set's share of breasts with cancer (no real "
            "`train.csv` on this machine)"
        )


def screening_prevalence(real_csv: str | Path | None, root: str | Path | None = None) -> Prevalence:
    """The one screening prevalence of the notebooks and the report: the real RSNA ``train.csv``'s breast cancer rate
    when that file is here, else :data:`FALLBACK_PREVALENCE`.

    Args:
        real_csv: Path of the real ``train.csv`` (``mammo_utils.reporting.build.real_train_csv``), or None.
        root: Folder a relative ``real_csv`` is read from (default: the current folder).

    Returns:
        A :class:`Prevalence`.
    """
    if real_csv is None:
        return Prevalence(FALLBACK_PREVALENCE, real=False)
    path = Path(real_csv) if root is None or Path(real_csv).is_absolute() else Path(root) / real_csv
    if not path.is_file():
        return Prevalence(FALLBACK_PREVALENCE, real=False)
    return Prevalence(breast_cancer_rate(pd.read_csv(path, usecols=["patient_id", "laterality", "cancer"])), real=True)


def screening_translation(sensitivity: float, specificity: float, prevalence: float = 0.02) -> dict[str, float]:
    """What an operating point means in a screening population of another prevalence (Bayes).

    Args:
        sensitivity: Share of cancers called.
        specificity: Share of non-cancers cleared.
        prevalence: Share of cancers in the target population.

    Returns:
        ``recalls_per_1000`` (calls per 1,000 screened), ``cancers_found_per_1000``, ``false_recalls_per_1000`` and
        ``ppv`` (share of calls that are cancers: sens·p / (sens·p + (1 − spec)(1 − p))).

    Example:
        >>> round(screening_translation(0.9, 0.9, 0.02)["recalls_per_1000"], 1)
        116.0
    """
    found = 1000 * sensitivity * prevalence
    false = 1000 * (1 - specificity) * (1 - prevalence)
    return {
        "recalls_per_1000": found + false,
        "cancers_found_per_1000": found,
        "false_recalls_per_1000": false,
        "ppv": ppv_at_prevalence(sensitivity, specificity, prevalence),
    }


def screening_range(
    sensitivity: tuple[float, float], specificity: tuple[float, float], prevalence: float = 0.02
) -> dict[str, tuple[float, float]]:
    """Recalls per 1,000 and PPV at the ends of the sensitivity and specificity intervals (taken together).

    Both are monotone in each rate (recalls rise with sensitivity and fall with specificity; PPV rises with both),
    so the interval ends bound them; the bound ignores how the two rates co-vary, so it is wider than a joint
    interval would be.

    Args:
        sensitivity: ``(low, high)`` of the sensitivity interval.
        specificity: ``(low, high)`` of the specificity interval.
        prevalence: Share of cancers in the target population.

    Returns:
        ``{"recalls_per_1000": (low, high), "ppv": (low, high)}``.

    Example:
        >>> {k: tuple(round(v, 3) for v in r) for k, r in screening_range((0.8, 0.9), (0.9, 0.95), 0.02).items()}
        {'recalls_per_1000': (65.0, 116.0), 'ppv': (0.14, 0.269)}
    """
    (s_lo, s_hi), (sp_lo, sp_hi) = sensitivity, specificity
    return {
        "recalls_per_1000": (
            screening_translation(s_lo, sp_hi, prevalence)["recalls_per_1000"],
            screening_translation(s_hi, sp_lo, prevalence)["recalls_per_1000"],
        ),
        "ppv": (
            screening_translation(s_lo, sp_lo, prevalence)["ppv"],
            screening_translation(s_hi, sp_hi, prevalence)["ppv"],
        ),
    }
