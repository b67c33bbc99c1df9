# Size: paragraphs that each read several artifacts (operating point, scoring count, export table, FROC); split by
# section would scatter the shared fact-reading helpers.
"""Report paragraphs computed from several artifacts: the operating point at 90% specificity, the screening
translation of precision, how often the test split was scored, the export table and FROC inside its range.

Each function returns HTML built from :class:`~mammo_utils.reporting.facts.FactBook` facts (numbers read from an
artifact, printed with their source) and, where a number is derived from facts (a Wilson interval of a count, a
PPV at another prevalence, a sum of counts), says which facts and which formula it comes from. Each returns "" when
its artifacts were not built, so the report never prints a sentence without its numbers.
"""

from __future__ import annotations

import html

import numpy as np

from ..detection.tables import HALF
from ..evaluation.compare import METRICS
from ..evaluation.screening import FALLBACK_PREVALENCE, Prevalence, screening_range, screening_translation
from ..export.benchmark import delta_reference
from .facts import FactBook, FactError, computed_html, resolve


def _try(book: FactBook, source: str):
    try:
        return resolve(source, book.root)
    except FactError:
        return None


def operating_point_html(book: FactBook) -> str:
    """Sensitivity at 90% specificity (value, count k/n, patient-bootstrap interval) of the champion and 04's baseline.

    Both intervals are the 95% patient bootstrap of ``sens_at_spec`` that 04-06 show, so one metric has one interval
    wherever it appears.

    Args:
        book: Facts.

    Returns:
        An HTML paragraph ("" when neither artifact records it).
    """
    parts = []
    op = f"{book.results}/champion_eval.json#sensitivity_at_specificity"
    if _try(book, op) is not None:
        parts.append(
            f"the exported champion finds {book.html('op.k', op + '.k', 'int')} of "
            f"{book.html('op.n', op + '.n', 'int')} cancers ({book.html('op.sens', op + '.sensitivity', 'pct')}, "
            f"95% patient-bootstrap interval {book.html('op.low', op + '.low', 'pct')} to "
            f"{book.html('op.high', op + '.high', 'pct')}) "
            + (
                f"at the test ROC curve's point of threshold {book.html('op.threshold', op + '.threshold')}"
                if _try(book, op + ".threshold") is not None
                else "(no threshold calls a breast and keeps that specificity)"
            )
            + ", where it clears "
            f"{book.html('op.cleared', op + '.negatives_cleared', 'int')} of "
            f"{book.html('op.negatives', op + '.negatives', 'int')} non-cancer breasts "
            f"({book.html('op.spec', op + '.specificity', 'pct')} specificity)"
        )
    src = f"{book.results}/04_baseline.json"
    sens = _try(book, src + "#test_breast_ci.sens_at_spec.value")
    positives = _try(book, src + "#test_counts.positives")
    if sens is not None and positives:
        k = int(round(float(sens) * int(positives)))
        interval = src + "#test_breast_ci.sens_at_spec"
        parts.append(
            f"04's baseline finds {book.html('b04.sens90', interval + '.value', 'pct')} of its "
            f"{book.html('b04.positives', src + '#test_counts.positives', 'int')} test cancers, i.e. {k} of "
            f"{int(positives)} (95% patient-bootstrap interval {book.html('b04.sens90.low', interval + '.low', 'pct')} "
            f"to {book.html('b04.sens90.high', interval + '.high', 'pct')}, as 04 shows it)"
        )
    if not parts:
        return ""
    return (
        "<p><b>Sensitivity at 90% specificity</b> (a point read off the test ROC curve, so its threshold is set on "
        "the test negatives: a description of the curve, not a decision rule; the operating point of section 1, per "
        "breast on the "
        "test patients): "
        + "; ".join(parts)
        + ". "
        + (
            "These are two single runs with no paired test between them: read side by side, not as a ranking. "
            if len(parts) > 1
            else ""
        )
        + "The headline table above is at the threshold frozen on "
        "validation instead, so its sensitivity and specificity differ from this pair.</p>"
    )


def screening_point(book: FactBook, real_csv: str | None) -> tuple[dict, float] | None:
    """The champion's test sensitivity and specificity moved to screening prevalence (point values).

    Args:
        book: Facts.
        real_csv: Source of the real RSNA ``train.csv`` (its breast rate is the prevalence; else
            :data:`FALLBACK_PREVALENCE`).

    Returns:
        ``(screening_translation(...), prevalence)``, or None without the champion's evaluation.
    """
    ci = f"{book.results}/champion_eval.json#test_breast_ci"
    sens, spec = _try(book, ci + ".recall.value"), _try(book, ci + ".specificity.value")
    if sens is None or spec is None:
        return None
    prevalence = (
        float(book.value("real.cancer_breast_rate", real_csv + "#cancer_breast_rate", "pct"))
        if real_csv
        else FALLBACK_PREVALENCE
    )  # the same source and formula as the notebooks' :func:`~mammo_utils.evaluation.screening.screening_prevalence`
    return screening_translation(float(sens), float(spec), prevalence), prevalence


def prevalence_html(book: FactBook, real_csv: str | None) -> str:
    """Precision, F1 and pF1 moved to a screening prevalence: recalls per 1,000 screens and PPV (Bayes).

    The prevalence is the real RSNA ``train.csv``'s share of breasts with cancer when that file is here, else
    :data:`FALLBACK_PREVALENCE` (cited).

    Args:
        book: Facts.
        real_csv: Source of the real RSNA ``train.csv`` (None when absent).

    Returns:
        An HTML paragraph ("" without the champion's evaluation).
    """
    ci = f"{book.results}/champion_eval.json#test_breast_ci"
    found = screening_point(book, real_csv)
    if found is None:
        return ""
    at, prevalence = found
    if real_csv:
        where = (
            f"the real RSNA training set's breast prevalence "
            f"({book.html('real.cancer_breast_rate', real_csv + '#cancer_breast_rate', 'pct')}, read from its "
            "<code>train.csv</code>)"
        )
    else:
        origin = html.escape(Prevalence(prevalence, real=False).origin).replace("`train.csv`", "<code>train.csv</code>")
        where = f"a prevalence of {prevalence:.1%} of breasts ({origin} [ref:rsna-competition])"
    embedded = _try(book, f"{book.results}/champion_eval.json#test_counts")
    enriched = (
        f" at this test set's {embedded['positives'] / embedded['n']:.1%} breast prevalence"
        if embedded and embedded.get("n")
        else ""
    )
    return (
        f"<p><b>At screening prevalence.</b> Precision, F1 and pF1 above are measured{enriched}, far above real "
        "screening, and fall with prevalence; sensitivity, specificity and ROC-AUC do not. At the champion's "
        f"sensitivity ({book.html('champion.recall', ci + '.recall.value', 'pct')}) and specificity "
        f"({book.html('champion.specificity', ci + '.specificity.value', 'pct')}) and {where}, the same threshold "
        + _screening_range(book, ci, prevalence)
        + f"(point values: {_bayes(format(at['recalls_per_1000'], '.1f'))} recalls per 1,000 screened breasts, "
        f"{_bayes(format(at['cancers_found_per_1000'], '.1f'))} cancers found, "
        f"{_bayes(format(at['false_recalls_per_1000'], '.1f'))} false recalls, PPV "
        f"{_bayes(format(at['ppv'], '.1%'))}; PPV = sens·p / (sens·p + (1 − spec)(1 − p)), computed here from the "
        "two facts; a "
        "specificity measured on a few hundred breasts cannot pin down a false-recall rate of a few per 1,000, "
        "which is why the range comes first).</p>"
    )


def _bayes(text: str) -> str:
    """A screening-prevalence number, marked as computed (Bayes, from the champion's test rates and a prevalence)."""
    return computed_html(
        text, "Bayes, from results/champion_eval.json's test sensitivity and specificity and the screening prevalence"
    )


def _screening_range(book: FactBook, ci: str, prevalence: float) -> str:
    """The recall rate and PPV at the ends of the sensitivity and specificity intervals
    (:func:`~mammo_utils.evaluation.evaluate.screening_range`), or a bare verb without them."""
    ends = [_try(book, f"{ci}.{m}.{side}") for m in ("recall", "specificity") for side in ("low", "high")]
    if any(v is None for v in ends):
        return "would give "
    s_lo, s_hi, sp_lo, sp_hi = (float(v) for v in ends)
    bounds = screening_range((s_lo, s_hi), (sp_lo, sp_hi), prevalence)
    recalls, ppv = bounds["recalls_per_1000"], bounds["ppv"]
    return (
        f"would recall between {_bayes(format(recalls[0], '.0f'))} and {_bayes(format(recalls[1], '.0f'))} of every "
        f"1,000 screened breasts with a PPV between {_bayes(format(ppv[0], '.1%'))} and "
        f"{_bayes(format(ppv[1], '.1%'))} (both read at the ends of the two rates' 95% intervals taken "
        "together, so wider than a joint interval) "
    )


def _runs(book: FactBook, key: str, source: str) -> int:
    try:
        return int(book.value(key, source, "int") or 0)
    except FactError:
        return 0


def test_scorings(book: FactBook) -> tuple[int, list[str]]:
    """How many models were scored on the test split, counted from the recorded results, and by whom.

    Args:
        book: Facts.

    Returns:
        ``(total, items)``: the count and one HTML phrase per notebook's share of it (none recorded: ``(0, [])``).
    """
    r = book.results
    counted = [
        ("04", "baseline runs (one per seed)", "use.04", f"{r}/04_baseline.json#seeds.runs|len"),
        ("05", "transfer-learning runs (every arm, every seed)", "use.05", f"{r}/05_transfer.json#runs|len"),
        ("06", "runs of the two arms compared after the search", "use.06", f"{r}/06_tuning.json#arms.*.seeds|sum"),
        ("07", "lesion-detector runs (one per seed)", "use.07", f"{r}/07_detection.json#seeds.n"),
        ("08", "export-format rows (formats and pruned variants of the champion)", "use.08",
         f"{r}/08_export.json#formats|len"),
    ]  # fmt: skip
    items, total = [], 0
    for notebook, what, key, source in counted:
        n = _runs(book, key, source)
        if n:
            total += n
            items.append(f"{book.html(key, source, 'int')} {what} in {notebook}")
    others = f"{r}/07_detection.json#gradcam_seeds.other_seeds|len"
    if n_others := _try(book, others):  # the champion's arm-mates' Grad-CAM maps too (07's pointing game over seeds)
        total += int(n_others)
        items.append(
            f"{book.html('use.07.cam', others, 'int')} runs of the champion's arm besides the champion (its other "
            "seeds: Grad-CAM maps of every test image, the lesion images for the pointing game and all of them for "
            "the share peaking off the breast) in 07"
        )
    for source, what in (
        (f"{r}/07_detection.json#gradcam_pointing", "the champion's Grad-CAM maps of every test image in 07 (the "
         "lesion images for the pointing game, all of them for the share peaking off the breast)"),
        (f"{r}/08_export.json#drift", "the champion's scores of the test split for 08's drift check"),
        (f"{r}/champion_eval.json#test_counts.n", "the exported champion once more in this report (its ONNX file, for "
         "the model card)"),
    ):  # fmt: skip
        if _try(book, source) is not None:
            total += 1
            items.append(what)
    return total, items


def holdout_use_html(book: FactBook) -> str:
    """How many models were scored on the test split, counted from the recorded results, and why that is not a choice.

    Args:
        book: Facts.

    Returns:
        An HTML paragraph ("" when no results are recorded).
    """
    r = book.results
    total, items = test_scorings(book)
    if not items:
        return ""
    reused = ""
    base = _try(book, f"{r}/04_baseline.json#seeds.summary.0.variant")
    if base is not None:
        again = sum(
            int(row.get("seeds", 0))
            for src in (f"{r}/05_transfer.json#summary", f"{r}/06_tuning.json#arms")
            for row in (_try(book, src) or [])
            if row.get("variant") == base
        )
        if again:
            count = computed_html(str(again), "seeds of the reference arm in 05 and 06")
            reused = f" ({count} of them are 04's {html.escape(str(base))} runs listed again as the reference arm)"
    return (
        f"<p><b>How often the test split was scored.</b> It was not scored once: "
        f"{computed_html(str(total), 'sum of the scorings listed in this paragraph')} test scorings are recorded"
        f"{reused}: {'; '.join(items)}. Every choice (checkpoint, threshold, arm, hyper-parameters, alias) was made "
        "on validation patients; the test numbers of the other runs are reported so that the chosen one can be "
        "read against them, and none of them ranked anything. The more models are scored on one test split, the "
        "more one of them can look good by chance there: read the chosen model's test interval, not the best "
        "test number in the tables.</p>"
    )


def _against_cell(book: FactBook, name: str, item: dict, base: str) -> str:
    """The export table's "changes against" cell: the model a row's changes are measured against.

    Args:
        book: Facts.
        name: The row's format.
        item: The row as 08 recorded it.
        base: The row's source.

    Returns:
        HTML: the recorded ``delta_against`` (a record without it: the rule of
        :func:`~mammo_utils.export.benchmark.delta_reference`), or a note that the row is itself the reference.
    """
    against = delta_reference(name, item)
    if against == name:
        return "— (the reference of the changes" + (" on the pruned rows)" if "+" in name else ")")
    if "delta_against" in item:
        return book.html(f"e08.{name}.delta_against", f"{base}.delta_against", "str")
    return html.escape(against)


def export_table(book: FactBook) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the export table: every format row 08 recorded (size, latency, parity).

    Each row's changes (validation and test AUC, flips) are measured against the model its "changes against" cell
    names: Keras for the unpruned formats and for the pruned Keras model (what pruning changed), the pruned Keras
    model for the pruned int8 file.

    Args:
        book: Facts.

    Returns:
        ``(header, rows)``; no rows when 08 did not run.
    """
    src = f"{book.results}/08_export.json"
    formats = _try(book, src + "#formats") or []
    header = ["format", "size MB", "model call ms / image (batch 1, median)", "changes against",
              "validation AUC change (the gate)", "validation breasts flipped (the gate)",
              "test breast AUC [95% CI] (information)", "test AUC change [95% CI, paired]",
              "test breasts flipped"]  # fmt: skip
    rows = []
    for item in formats:
        name_key = "format" if "format" in item else "index"
        name = str(item.get(name_key))
        base = f"{src}#formats.[{name_key}={name}]"
        cells = [
            _export_cell(book, name, item, base, field, fmt)
            for field, fmt in (("size_mb", ".3f"), ("ms_b1_median", ".2f"), ("val_delta_auc", "+.4f"),
                               ("breast_auc", ".3f"), ("delta_auc", "+.4f"), ("flipped_breasts", "int"))
        ]  # fmt: skip
        gate = [*cells[2:3], _flips_cell(book, name, item, base)]
        rows.append([html.escape(name), *cells[:2], _against_cell(book, name, item, base), *gate, *cells[3:]])
    return header, rows


def _flips_cell(book: FactBook, name: str, item: dict, base: str) -> str:
    """``k of n``: the validation breasts whose decision at the frozen threshold a format flipped (the export gate's
    second criterion), out of the validation breasts it scored ("n/a" when 08 did not record them).

    Args:
        book, name, item, base: As :func:`_against_cell`.

    Returns:
        HTML.
    """
    if "val_flipped_breasts" not in item:
        return "n/a"
    flips = book.html(f"e08.{name}.val_flipped_breasts", f"{base}.val_flipped_breasts", "int")
    if "val_breasts" not in item:
        return flips
    return f"{flips} of {book.html(f'e08.{name}.val_breasts', f'{base}.val_breasts', 'int')}"


def _export_cell(book: FactBook, name: str, item: dict, base: str, field: str, fmt: str) -> str:
    """One number of an export table row, with its patient-bootstrap limits where 08 recorded them ("n/a" if absent).

    Args:
        book: Facts.
        name: The row's format.
        item: The row as 08 recorded it.
        base: The row's source.
        field: The column.
        fmt: Its format.

    Returns:
        HTML.
    """
    if field not in item:
        return "n/a"
    cell = book.html(f"e08.{name}.{field}", f"{base}.{field}", fmt)
    if f"{field}_low" in item:  # the test AUC and its change carry their patient-bootstrap limits
        cell += (
            f" [{book.html(f'e08.{name}.{field}.low', f'{base}.{field}_low', fmt)}, "
            f"{book.html(f'e08.{name}.{field}.high', f'{base}.{field}_high', fmt)}]"
        )
    return cell


def value_with_interval(book: FactBook, key: str, src: str, field: str, fmt: str = ".3f") -> str:
    """``value [low, high]`` of ``field`` in ``src`` when its interval is recorded, else the value alone.

    Args:
        book: Facts.
        key: The value's fact key (the limits are ``key.low`` and ``key.high``).
        src: The results file.
        field: The value's path in it; its interval is the sibling ``<field>_ci`` (``a.b`` -> ``a.b_ci``) or, for a
            value inside a map, the same key of the map's ``_ci`` twin (``froc.sens@1fp`` -> ``froc_ci.sens@1fp``).
        fmt: Format of all three.

    Returns:
        HTML text.
    """
    twins = [field + "_ci"] + ([field.replace(".", "_ci.", 1)] if "." in field else [])
    for field_ci in twins:
        if isinstance(_try(book, f"{src}#{field_ci}"), list):
            return book.pair_html(key, f"{src}#{field}", f"{src}#{field_ci}", fmt)
    return book.html(key, f"{src}#{field}", fmt)


def froc_sentence(book: FactBook, src: str) -> str:
    """FROC sensitivities inside the measured false-positive range; "not reached" for rates past it.

    Each value carries its recorded patient-bootstrap interval (``froc_ci``, ``froc_max_fp_per_image_ci``,
    ``froc_end_sensitivity_ci``); where the curve ends and its sensitivity there are quoted when recorded.

    Args:
        book: Facts.
        src: The detection results file.

    Returns:
        HTML text (a clause), "" without a FROC record.
    """
    froc = _try(book, src + "#froc")
    if not isinstance(froc, dict):
        return ""
    reach = value_with_interval(book, "d07.froc_reach", src, "froc_max_fp_per_image", ".2f")
    rates = sorted(froc, key=lambda k: float(k.removeprefix("sens@").removesuffix("fp")))
    inside, outside = [], []
    for rate in rates:
        fp = rate.removeprefix("sens@").removesuffix("fp")
        value = froc[rate]
        if value is None or (isinstance(value, float) and not np.isfinite(value)):
            outside.append(fp)
        else:
            inside.append(f"{value_with_interval(book, f'd07.froc.{fp}', src, f'froc.{rate}')} at {fp}")
    text = f"FROC (measured up to {reach} false positives per image): "
    if inside:
        text += (
            "sensitivity " + ", ".join(inside) + " FP/image (each interval over the patient resamples whose curve "
            "reaches that rate" + _froc_reached(book, src, [r for r in rates if froc[r] is not None]) + ")"
        )
    else:
        text += "none of the quoted operating rates lies inside the measured range"
    if outside:
        text += f"; not reached at {', '.join(outside)} FP/image (past the measured curve, so no number is quoted)"
    if _try(book, src + "#froc_end_sensitivity") is not None:
        end = value_with_interval(book, "d07.froc_end", src, "froc_end_sensitivity")
        text += f"; where the curve ends, every kept box counted, sensitivity {end}"
    return text + detector_operating_clause(book, src)


def _froc_reached(book: FactBook, src: str, rates: list[str]) -> str:
    """``: 200 of 200 resamples reach 0.1 FP/image, …`` from 07's ``froc_reached`` ("" when not recorded).

    Args:
        book: Facts.
        src: The detection results file.
        rates: The FROC keys quoted (``sens@0.4fp``), in order.

    Returns:
        HTML text.
    """
    cells = []
    for rate in rates:
        base = f"{src}#froc_reached.{rate}"
        if _try(book, base + ".reached") is None:
            return ""
        fp = rate.removeprefix("sens@").removesuffix("fp")
        cells.append(
            f"{book.html(f'd07.froc.{fp}.reached', base + '.reached', 'int')} of "
            f"{book.html(f'd07.froc.{fp}.resamples', base + '.resamples', 'int')} resamples reach {fp} FP/image"
        )
    return (": " + ", ".join(cells)) if cells else ""


def detector_operating_clause(book: FactBook, src: str) -> str:
    """The detector's operating point: the validation FP/image it was chosen at, its score, test breast recall there.

    When the validation curve ended before the target rate (recorded as ``record.val_curve_end_fp_per_image``; in
    older records, ``record.operating_fp_per_image_reached`` below the target), the clause says so: the score is
    then the lowest one the detector keeps, not a point at the target.

    Args:
        book: Facts.
        src: The detection results file.

    Returns:
        HTML text starting with "; " ("" when the operating rate or score is not recorded).
    """
    rate = _try(book, src + "#record.operating_fp_per_image")
    if rate is None or _try(book, src + "#operating_score") is None:
        return ""
    target = book.html("d07.op.rate", src + "#record.operating_fp_per_image", "g")
    score = book.html("d07.op.score", src + "#operating_score", ".3g")
    # older records lack the curve's end: the FP/image reached at the score is then below the target only there
    recorded = [
        f
        for f in ("val_curve_end_fp_per_image", "operating_fp_per_image_reached")
        if _try(book, f"{src}#record.{f}") is not None
    ]
    field = recorded[0] if recorded else None
    if field is not None and _try(book, f"{src}#record.{field}") < rate:
        shown = book.html("d07.op.val_end", f"{src}#record.{field}", ".2f")
        where = (
            f"the validation curve ends at {shown} false positives per image, short of the {target} FP/image "
            f"target, so the operating score is the lowest score the detector keeps ({score})"
        )
    else:
        where = f"the operating score chosen on validation at {target} false positives per image is {score}"
    if _try(book, src + "#breast_recall") is None:
        return f"; {where}"
    recall = value_with_interval(book, "d07.op.breast_recall", src, "breast_recall", "pct")
    if _try(book, src + "#breast_recall_n") is None:  # recorded before the counts were
        return f"; {where}, and at it {recall} of the test breasts with a lesion get a correct box"
    k = book.html("d07.op.breast_recall.k", src + "#breast_recall_k", "int")
    n = book.html("d07.op.breast_recall.n", src + "#breast_recall_n", "int")
    return (
        f"; {where}, and at it {k} of {n} test breasts with a lesion get a correct box ({recall}, 95% patient "
        "bootstrap)"
    )


def verdict_words(low: float, high: float, a: str, b: str, metric: str = "roc_auc") -> str:
    """Words for a paired difference ``a − b`` from its 95% interval (a loss: the lower one is better).

    Args:
        low: Lower end of the interval.
        high: Upper end.
        a: Arm A's name, as it should appear (escaped for HTML by the caller).
        b: Arm B's name.
        metric: A key of :data:`~mammo_utils.evaluation.compare.METRICS`.

    Returns:
        e.g. ``"A is higher than B"`` or ``"no difference between A and B that this test can establish"``.
    """
    _, lower, label = METRICS[metric]
    if lower and (low > 0 or high < 0):
        return f"{b if low > 0 else a} is better (lower {label})"
    if low > 0:
        return f"{a} is higher than {b}"
    if high < 0:
        return f"{a} is lower than {b}"
    return f"no difference between {a} and {b} that this test can establish"


def interval_label(book: FactBook, base: str) -> str:
    """``95% patient bootstrap`` when the record at ``base`` says its interval resamples patients, else the older
    ``Wilson 95% over images`` (results written before 07 resampled patients).

    Args:
        book: Facts.
        base: The record's source (``file#key``) holding ``interval``.

    Returns:
        The interval's name, for prose.
    """
    return (
        "95% patient bootstrap" if _try(book, base + ".interval") == "patient bootstrap" else "Wilson 95% over images"
    )


def share_text(render, key: str, base: str) -> str:
    """``x% [lo, hi]`` of a share record (``share``, ``low``, ``high`` at ``base``), for either renderer.

    Args:
        render: ``book.html`` or ``book.md``.
        key: The share's fact key (its limits are ``key.low`` and ``key.high``).
        base: Source of the record.

    Returns:
        Text.
    """
    return (
        f"{render(key, base + '.share', 'pct')} "
        f"[{render(key + '.low', base + '.low', 'pct')}, {render(key + '.high', base + '.high', 'pct')}]"
    )


def peaks_off_breast_text(book: FactBook, src: str, render, key: str = "d07.off") -> str:
    """Where 07's Grad-CAM maps peak on the test images, as a sentence: on lesion images inside the lesion box or
    off the breast (background or padding), and off the breast on lesion-free images, each share with its interval.

    A peak off the breast on a lesion-free image says nothing about finding a lesion, so the shares are given per
    kind of image when 07 recorded the split; an older record (every test image together) is quoted as such.

    Args:
        book: Facts.
        src: 07's results file.
        render: ``book.html`` or ``book.md``.
        key: Fact-key prefix (a document lists its sources by its prefix, e.g. ``card.``).

    Returns:
        The sentence (no final period), or "" when 07 did not record the peaks.
    """
    base = src + "#gradcam_peaks_off_breast"
    if _try(book, base + ".off") is None:
        return ""
    how = interval_label(book, base)
    lesion, free, pg = base + ".lesion", base + ".no_lesion", src + "#gradcam_pointing"
    if _try(book, lesion + ".off") is None or _try(book, free + ".off") is None or _try(book, pg + ".hits") is None:
        return (
            f"Grad-CAM peaks off the breast (background or padding) in {render(key, base + '.off', 'int')} of "
            f"{render(key + '.n', base + '.images', 'int')} test images, lesion-free ones included "
            f"({share_text(render, key + '.share', base)}, {how})"
        )
    rate = pair_text(render, key + ".in", pg + ".hit_rate", pg + ".hit_rate_ci", "pct")
    misses = (_try(book, pg + ".hit_rate_ci") or [None, None])[1]
    reading = (
        f": its peak misses the lesion box on most lesion images (the hit rate's upper limit is below {HALF:.0%}), "
        "so a map shows where the score is sensitive, not where the lesion is"
        if misses is not None and misses < HALF
        else ""
    )
    return (
        f"On the {render(key + '.les.n', lesion + '.images', 'int')} test images with a lesion, the champion's "
        f"Grad-CAM peak falls inside the lesion box in {render(key + '.in.k', pg + '.hits', 'int')} ({rate}) and off "
        f"the breast (background or padding) in {render(key + '.les', lesion + '.off', 'int')} "
        f"({share_text(render, key + '.les.share', lesion)}); on the "
        f"{render(key + '.free.n', free + '.images', 'int')} lesion-free images it falls off the breast in "
        f"{render(key + '.free', free + '.off', 'int')} ({share_text(render, key + '.free.share', free)}), "
        f"where a classifier keyed on the image border or the breast's size would look ({how}){reading}"
    )


def pair_text(render, key: str, value: str, ci: str, fmt: str = ".3f") -> str:
    """``value [low, high]`` from a value's source and its ``[low, high]`` list source, for either renderer.

    Args:
        render: ``book.html`` or ``book.md``.
        key: The value's fact key (its limits are ``key.low`` and ``key.high``).
        value: Source of the value.
        ci: Source of its interval list.
        fmt: Format of all three.

    Returns:
        Text.
    """
    return (
        f"{render(key, value, fmt)} [{render(key + '.low', ci + '.0', fmt)}, {render(key + '.high', ci + '.1', fmt)}]"
    )


def gradcam_seed_cells(book: FactBook, src: str, render, key: str = "d07.cs") -> list[dict]:
    """Each champion-arm seed's Grad-CAM pointing game (07's ``gradcam_seeds.runs``) as printed cells.

    Args:
        book: Facts.
        src: 07's results file.
        render: ``book.html`` or ``book.md``.
        key: Fact-key prefix (seed ``i``'s facts are ``<key><i>.*``).

    Returns:
        Per seed ``{"seed", "hits"`` (``k of n``), ``"rate"`` (``x% [lo, hi]``), ``"margin"`` (hit rate minus chance,
        ``+p [lo, hi]``), ``"off"`` (share of test images whose peak is off the breast, ``y% [lo, hi]``, "" when not
        recorded), ``"off_lesion"`` / ``"off_free"`` (the same over the images with / without a lesion, "" when not
        recorded)``}``; [] when fewer than two seeds were scored.
    """
    runs = _try(book, src + "#gradcam_seeds.runs") or []
    if len(runs) < 2:
        return []
    cells = []
    for i, run in enumerate(runs):
        base, k = f"{src}#gradcam_seeds.runs.{i}", f"{key}{i}"
        off = base + ".off_breast"
        cells.append(
            {
                "seed": render(k, base + ".seed", "int"),
                "hits": f"{render(k + '.hits', base + '.hits', 'int')} of {render(k + '.n', base + '.n', 'int')}",
                "rate": pair_text(render, k + ".pg", base + ".hit_rate", base + ".hit_rate_ci", "pct"),
                "margin": pair_text(render, k + ".margin", base + ".margin", base + ".margin_ci", "+.3f"),
                "off": share_text(render, k + ".off", off) if run.get("off_breast") else "",
                "off_lesion": (
                    share_text(render, k + ".offl", off + ".lesion")
                    if (run.get("off_breast") or {}).get("lesion")
                    else ""
                ),
                "off_free": (
                    share_text(render, k + ".offf", off + ".no_lesion")
                    if (run.get("off_breast") or {}).get("no_lesion")
                    else ""
                ),
            }
        )
    return cells


def gradcam_seed_verdict(book: FactBook, src: str, render, key: str = "d07.cs") -> str:
    """How many of the champion arm's seeds Grad-CAM beats chance on ("" when fewer than two were scored).

    A seed beats chance when the lower end of its margin's interval (hit rate minus chance) lies above 0.

    Args:
        book: Facts.
        src: 07's results file.
        render: ``book.html`` or ``book.md``.
        key: Fact-key prefix.

    Returns:
        ``Grad-CAM beats chance on k of n seeds (…)``, naming the seeds that do not when some fail.
    """
    base = src + "#gradcam_seeds"
    runs = _try(book, base + ".runs") or []
    if len(runs) < 2:
        return ""
    patient = all(run.get("interval") == "patient bootstrap" for run in runs)
    how = "95% patient-bootstrap interval" if patient else "interval (over images)"
    failing = _try(book, base + ".failing_seeds") or []
    text = (
        f"Grad-CAM beats chance on {render(key + '.beating', base + '.beating_seeds|len', 'int')} of "
        f"{render(key + '.n', base + '.n', 'int')} seeds (the lower end of the margin's {how} above 0)"
    )
    return text + (f"; not on seed(s) {', '.join(str(s) for s in failing)}" if failing else "")
