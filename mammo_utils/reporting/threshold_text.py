"""How arbitrary the frozen decision threshold is: the sentence the final report and the model card print.

The F1-optimal rule (:func:`~mammo_utils.evaluation.metrics.best_threshold`) finds the interval of thresholds between
two consecutive validation scores that reaches the best F1 (every threshold in it gives the same validation
predictions) and takes its midpoint, so the frozen threshold sits on no validation score. ``champion_eval.json``
records that interval
(:func:`~mammo_utils.reporting.champion.validation_threshold_range`); this module words it.
"""

from __future__ import annotations

from collections.abc import Callable

from .facts import FactBook, has_source

#: A threshold closer than this to a validation score sits on that score up to float noise (re-scoring moves it).
NOISE = 1e-6


def threshold_choice(book: FactBook, render: Callable[[str, str, str], str]) -> str:
    """One sentence on the frozen threshold's place among the equally good validation thresholds, or "".

    Args:
        book: Facts (its ``results`` folder holds ``champion_eval.json``).
        render: ``book.md`` or ``book.html`` (the document's way of printing a fact).

    Returns:
        The sentence (ending in a full stop), "" when the evaluation recorded no interval.
    """
    src = f"{book.results}/champion_eval.json#threshold_choice"
    if not has_source(book, src + ".high"):
        return ""
    n = render("thr.breasts", src + ".breasts", "int")
    f1 = render("thr.f1", src + ".f1", ".3f")
    high = render("thr.high", src + ".high", ".3f")
    if book.value("thr.low", src + ".low") is None:
        return f"Every threshold up to {high} gives the same predictions on the {n} validation breasts (F1 {f1})."
    low, mid = render("thr.low", src + ".low", ".3f"), render("thr.mid", src + ".midpoint", ".3f")
    chosen = float(book.value("thr.threshold", src + ".threshold"))
    bounds = float(book.value("thr.low", src + ".low")), float(book.value("thr.high", src + ".high"))
    gap = chosen - bounds[0]
    if gap < NOISE:
        return (
            f"The rule (the lowest validation score reaching the best F1) set the threshold on a breast's score: "
            f"re-scored from the exported model, that breast lands {gap:.1e} below it (float noise), and on the {n} "
            f"validation breasts every threshold above {low} and up to {high} gives the re-scored predictions "
            f"(F1 {f1}). A threshold inside that range, such as its midpoint {mid}, would not hang on float noise; "
            "the frozen one does."
        )
    if abs(float(book.value("thr.mid", src + ".midpoint")) - chosen) < NOISE:
        return (
            f"On the {n} validation breasts (the Keras model's scores, which set it) every threshold above {low} and "
            f"up to {high} gives the same predictions (F1 {f1}); the rule takes that range's midpoint, so no "
            f"validation breast scores within {min(gap, bounds[1] - chosen):.3f} of the threshold."
        )
    where = (
        "at the top of that range: the lowest validation score reaching the best F1, so a test breast scored just "
        f"below it is called routine (the range's midpoint would be {mid})"
        if book.value("thr.top", src + ".at_top")
        else f"inside that range (its midpoint is {mid})"
    )
    return (
        f"On the {n} validation breasts (the Keras model's scores, which set it) every threshold above {low} and up "
        f"to {high} gives the same predictions "
        f"(F1 {f1}); the rule's choice sits {where}."
    )
