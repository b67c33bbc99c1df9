"""What an operating point measured on an enriched test set means in a screening population (Bayes).

The embedded set has far more cancers than screening does, so precision, F1 and PPV measured on it flatter the
model; sensitivity and specificity do not depend on prevalence and carry over. :func:`screening_translation`
turns one operating point into recalls per 1,000 screened breasts and PPV at another prevalence;
:func:`screening_range` does it at the ends of the two rates' intervals.
"""

from __future__ import annotations

from .metrics import ppv_at_prevalence


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
