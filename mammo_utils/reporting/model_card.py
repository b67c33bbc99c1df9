# Size: the card's sections in Mitchell et al.'s order, each with the helpers that compute its sentences.
"""The champion's model card (Mitchell et al. 2019 sections), in Markdown, every number from an artifact.

Written to ``reports/model_card.md`` and into the export folder beside ``model.json``, so the card travels with
the model it describes. The numbers come from ``reports/results/champion_eval.json`` (the export scored on its
test split, overall and per subgroup) and the export's ``model.json``; their sources are listed at the end.
"""

from __future__ import annotations

import math

from ..evaluation.subgroups import MIN_AUC_INTERVAL
from .card_details import architecture_text, gradcam_seeds_md, recipe_line, training_data_text
from .evidence import peaks_off_breast_text
from .facts import FactBook, FactError, alias_after_05, files_read, has_source, name_real_csv, resolve
from .references import Citations
from .threshold_text import threshold_choice

SUBGROUP_LABELS = {"site_id": "site", "machine_id": "machine", "density": "breast density", "age_band": "age band"}


#: Mark of a subgroup AUC shown without its interval because every patient resample gave the same AUC (the
#: percentile interval has zero width); explained under the tables with each such group's counts.
ZERO_WIDTH = "†"

#: A subgroup AUC cell without a number: fewer than :data:`MIN_AUC_INTERVAL` breasts of a class, or (marked
#: :data:`ZERO_WIDTH`) an interval of zero width.
NO_AUC = "—"


def _with_interval(book: FactBook, key: str, source: str, fmt: str) -> str:
    """``value [low, high]`` of one subgroup metric (its ``_low``/``_high`` siblings); ``n/a`` when the metric is
    undefined (no breast of the class it needs)."""
    value = book.md(key, source, fmt)
    if value == "n/a":
        return value
    low, high = book.get(key + ".low", source + "_low", fmt), book.get(key + ".high", source + "_high", fmt)
    return f"{value} [{low.text}, {high.text}]"


def _zero_width(row: dict) -> bool:
    """Whether a subgroup's recorded AUC interval has zero width (every patient resample gave the same AUC)."""
    low, high = row.get("roc_auc_low"), row.get("roc_auc_high")
    return low is not None and high is not None and math.isfinite(low) and low == high


def _zero_width_entry(book: FactBook, tag: str, base: str, name: str, row: dict) -> str:
    """``machine 21: all 11 cancer breasts score above all 23 others (AUC 1.000)``, computed from the group's counts."""
    auc = book.md(tag + ".auc", base + ".roc_auc", ".3f")
    cancers = int(book.value(tag + ".pos", base + ".cancers", "int"))
    others = int(book.value(tag + ".n", base + ".breasts", "int")) - cancers
    if float(row["roc_auc"]) == 1.0:
        return f"{name}: all {cancers} cancer breasts score above all {others} others (AUC {auc})"
    return f"{name}: AUC {auc} over {cancers} cancer breasts and {others} others, in every resample"


def _auc_cell(book: FactBook, tag: str, base: str, row: dict, name: str) -> tuple[str, str | None]:
    """The subgroup's ROC-AUC cell and, when the cell is marked :data:`ZERO_WIDTH`, the group's entry in the note.

    Args:
        book: Facts.
        tag: Fact-key prefix of the group's row (``card.machine_id.0``: its AUC is ``.auc``, its counts ``.n`` and
            ``.pos``).
        base: Source of the group's row.
        row: The recorded row (``breasts``, ``cancers``, ``roc_auc``, ``roc_auc_low``, ``roc_auc_high``).
        name: The group as the note names it (e.g. ``machine 21``).

    Returns:
        (:data:`NO_AUC` with fewer than :data:`MIN_AUC_INTERVAL` breasts of either class (too few to rank or
        resample); ``NO_AUC + ZERO_WIDTH`` and its note entry when every resample gave the same AUC; else the AUC
        with its interval and None.)
    """
    cancers = int(row["cancers"])
    if min(cancers, int(row["breasts"]) - cancers) < MIN_AUC_INTERVAL:
        return NO_AUC, None
    if _zero_width(row):
        return NO_AUC + ZERO_WIDTH, _zero_width_entry(book, tag, base, name, row)
    return _with_interval(book, tag + ".auc", base + ".roc_auc", ".3f"), None


def _subgroup_table(book: FactBook, src: str, column: str) -> tuple[str, list[str]]:
    """One attribute's subgroup table (Markdown): breasts, cancers, ROC-AUC, sensitivity and specificity with their
    95% intervals, and the note entries of its :data:`ZERO_WIDTH` cells (:func:`subgroup_tables_md` explains them)."""
    rows = resolve(f"{src}#subgroups.{column}", book.root)
    lines = [
        f"| {SUBGROUP_LABELS[column]} | breasts | cancers | ROC-AUC [95% CI] | sensitivity [95% CI] "
        "| specificity [95% CI] |",
        "|---|---|---|---|---|---|",
    ]
    entries = []
    for i, row in enumerate(rows):
        base = f"{src}#subgroups.{column}.{i}"
        auc, entry = _auc_cell(book, f"card.{column}.{i}", base, row, f"{SUBGROUP_LABELS[column]} {row[column]}")
        entries += [entry] if entry else []
        cells = [
            str(row[column]),
            book.md(f"card.{column}.{i}.n", base + ".breasts", "int"),
            book.md(f"card.{column}.{i}.pos", base + ".cancers", "int"),
            auc,
            *[
                _with_interval(book, f"card.{column}.{i}.{short}", base + "." + metric, "pct0")
                for short, metric in (("sens", "sensitivity"), ("spec", "specificity"))
            ],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines), entries


def subgroup_tables_md(book: FactBook, src: str) -> str:
    """Every subgroup table of the champion, then one note on the marks its cells use.

    Args:
        book: Facts.
        src: The champion's evaluation file (``subgroups``).

    Returns:
        Markdown: the tables and, when a cell is marked, what :data:`NO_AUC` and :data:`ZERO_WIDTH` mean (the
        latter with each such group's AUC and counts).
    """
    tables, entries = zip(*(_subgroup_table(book, src, column) for column in SUBGROUP_LABELS))
    zero = [entry for found in entries for entry in found]
    cells = [line for table in tables for line in table.splitlines()[2:]]
    notes = []
    if any(f"| {NO_AUC} |" in line for line in cells):
        notes.append(
            f"{NO_AUC} no ROC-AUC: fewer than {MIN_AUC_INTERVAL} breasts of a class (with cancer, or without) in the "
            "group, too few to rank or to resample."
        )
    if zero:
        notes.append(
            f"{NO_AUC}{ZERO_WIDTH} no interval: the group's AUC is the same in every patient resample, so its 95% "
            f"percentile interval has zero width and a bootstrap interval is not informative at this size — "
            f"{'; '.join(zero)}. A perfect ranking of so few breasts is not certainty."
        )
    notes.append("Sensitivity and specificity carry Wilson intervals of their counts; n/a: no breast of that class.")
    return "\n\n".join(tables) + "\n\n" + "\n".join(f"{note}  " for note in notes).rstrip()


def _unit(tests: list[dict]) -> str:
    """What a file's subgroup tests count: ``patients`` (recorded with each test), or ``breasts`` in older files."""
    return tests[0].get("unit", "breasts") if tests else "breasts"


def _replication(book: FactBook, src: str) -> dict[tuple, int]:
    """Index of each (attribute, group, rate) in the file's ``subgroup_replication.tests`` ({} when not recorded)."""
    try:
        rows = resolve(f"{src}#subgroup_replication.tests", book.root)
    except FactError:
        return {}
    return {(r["attribute"], str(r["group"]), r["rate"]): j for j, r in enumerate(rows)}


def _key(test: dict) -> tuple:
    return test["attribute"], str(test["group"]), test["rate"]


def _rates_text(unit: str) -> str:
    """What k/n counts for each rate, in words."""
    if unit != "patients":
        return "sensitivity (cancers called / cancers) and specificity (non-cancers cleared / non-cancers)"
    return (
        "each patient counted once per rate, since her two breasts share her site, machine and age and are not "
        "independent trials: sensitivity (patients with cancer called on a cancer breast / patients with cancer) and "
        "specificity (patients whose cancer-free breasts were all cleared / patients with a cancer-free breast)"
    )


def subgroup_tests_md(book: FactBook, src: str) -> str:
    """The Fisher's-exact table of each subgroup against the rest (Holm-corrected), with the seeds of the champion's
    arm that flag each row when recorded, and the sentence it supports.

    Args:
        book: Facts.
        src: The champion's evaluation file.

    Returns:
        Markdown: the table and a computed verdict, or a note that the tests were not recorded.
    """
    try:
        tests = resolve(f"{src}#subgroup_tests", book.root)
    except FactError:
        return "Subgroup differences were not tested in this build (rerun `mammo report`); no claim is made."
    unit = _unit(tests)
    if not tests:
        return f"No subgroup has {unit} of both kinds beside the rest: nothing to test, no claim is made."
    seeds = _replication(book, src)
    lines = [
        f"| attribute | group | rate | group k/n ({unit}) | rest k/n ({unit}) | Fisher p | Holm p | different at 5% |"
        + (" seeds of its arm flagging it |" if seeds else ""),
        "|---|---|---|---|---|---|---|---|" + ("---|" if seeds else ""),
    ]
    for i, t in enumerate(tests):
        base = f"{src}#subgroup_tests.{i}"
        cells = [
            SUBGROUP_LABELS.get(t["attribute"], t["attribute"]),
            str(t["group"]),
            t["rate"],
            f"{book.md(f'card.test.{i}.k', base + '.k', 'int')}/{book.md(f'card.test.{i}.n', base + '.n', 'int')}",
            f"{book.md(f'card.test.{i}.rk', base + '.rest_k', 'int')}/"
            f"{book.md(f'card.test.{i}.rn', base + '.rest_n', 'int')}",
            book.md(f"card.test.{i}.p", base + ".p_value", ".3f"),
            book.md(f"card.test.{i}.holm", base + ".p_holm", ".3f"),
            "yes" if t["different"] else "no",
        ]
        if seeds:
            cells.append(_seed_count(book.md, f"card.test.{i}", src, seeds.get(_key(t)), "{}/{}"))
        lines.append("| " + " | ".join(cells) + " |")
    different = [t for t in tests if t["different"]]
    verdict = (
        f"{len(different)} of {len(tests)} comparisons differ from the rest after Holm's correction: "
        + ", ".join(
            f"{SUBGROUP_LABELS.get(t['attribute'], t['attribute'])} {t['group']} ({t['rate']})" for t in different
        )  # fmt: skip
        + "."
        if different
        else f"None of the {len(tests)} comparisons differs from the rest after Holm's correction at 5%; with so few "
        f"{unit} per group this says the test split cannot detect a difference, not that there is none."
    )
    arm = (
        f" The last column repeats the tests on each seed of the champion's arm "
        f"({book.md('card.test.arm', src + '#subgroup_replication.arm', 'str')}), each run at its own frozen "
        "threshold and corrected the same way: a flag raised by one seed only belongs to that run, not to the recipe."
        if seeds
        else ""
    )
    return (
        f"Each subgroup against all other test {unit} at the frozen threshold, {_rates_text(unit)}: Fisher's exact "
        "test, two-sided [ref:fisher-exact], Holm's step-down correction over all the rows as one family [ref:holm]."
        + arm
        + "\n\n"
        + "\n".join(lines)
        + "\n\n"
        + verdict
    )


def _seed_count(render, tag: str, src: str, j: int | None, pattern: str) -> str:
    """``pattern`` filled with (seeds flagging the test, seeds) from ``subgroup_replication.tests.<j>``, or "—"."""
    if j is None:
        return "—"
    base = f"{src}#subgroup_replication.tests.{j}"
    return pattern.format(
        render(f"{tag}.rep", base + ".flagged_in", "int"), render(f"{tag}.seeds", base + ".seeds", "int")
    )


def subgroup_flags(book: FactBook, sources: dict[str, str], render, prefix: str = "") -> str:
    """One sentence per model on the subgroups that differ from the rest after Holm's correction, or that none do;
    with, when the file records the same tests on each seed of the model's arm, in how many seeds each flag repeats
    and which flags only other seeds raise.

    Args:
        book: Facts.
        sources: Model label → its evaluation file holding ``subgroup_tests`` (e.g. 04's baseline run and the
            champion); a file without them is skipped.
        render: ``book.html`` or ``book.md`` (how each number is printed).
        prefix: Prefix of the fact keys (``card.``: the model card lists the facts so keyed in its Sources).

    Returns:
        The sentences joined, or "" when no file recorded its tests.
    """
    said = []
    for label, src in sources.items():
        try:
            tests = resolve(f"{src}#subgroup_tests", book.root)
        except FactError:
            continue
        tag = f"{prefix}flag.{label.split()[0]}"
        seeds = _replication(book, src)
        flagged = [
            f"{SUBGROUP_LABELS.get(t['attribute'], t['attribute'])} {t['group']}, {t['rate']} "
            f"{render(f'{tag}.{i}.k', f'{src}#subgroup_tests.{i}.k', 'int')}/"
            f"{render(f'{tag}.{i}.n', f'{src}#subgroup_tests.{i}.n', 'int')} against "
            f"{render(f'{tag}.{i}.rk', f'{src}#subgroup_tests.{i}.rest_k', 'int')}/"
            f"{render(f'{tag}.{i}.rn', f'{src}#subgroup_tests.{i}.rest_n', 'int')} for the rest ({_wilson_text(t)}; "
            "Holm p "
            f"{render(f'{tag}.{i}.p', f'{src}#subgroup_tests.{i}.p_holm', '.3g')}"
            + (
                _seed_count(render, f"{tag}.{i}", src, seeds[_key(t)], "; flagged in {} of {} seeds of its arm")
                if _key(t) in seeds
                else ""
            )
            + ")"
            for i, t in enumerate(tests)
            if t["different"]
        ]
        kinds = ", ".join(dict.fromkeys(SUBGROUP_LABELS.get(t["attribute"], t["attribute"]) for t in tests))
        said.append(
            f"{label} ({len(tests)} tests over {kinds}, counted in {_unit(tests)}, one Holm family): "
            + ("; ".join(flagged) if flagged else "none differs")
            + _other_seeds(book, render, tag, src, seeds, {_key(t) for t in tests if t["different"]})
        )
    return "; ".join(said)


def _other_seeds(book: FactBook, render, tag: str, src: str, seeds: dict[tuple, int], shown: set) -> str:
    """What only the other seeds of the model's arm flag (``; flagged only by other seeds of its arm: …``), ``, nor
    in any of its arm's N seeds`` when no seed flags anything, or "" when the file records no seeds.

    Args:
        book: Facts.
        render: ``book.html`` or ``book.md``.
        tag: Fact-key prefix of the model.
        src: Its evaluation file.
        seeds: :func:`_replication` of that file.
        shown: Keys of the tests this run flags (already printed with their seed counts).

    Returns:
        The clause, starting with its separator.
    """
    if not seeds:
        return ""
    rows = resolve(f"{src}#subgroup_replication.tests", book.root)
    others = [(j, r) for j, r in enumerate(rows) if r["flagged_in"] and _key(r) not in shown]
    if not others:
        n = render(f"{tag}.seeds", f"{src}#subgroup_replication.tests.0.seeds", "int")
        return "" if shown else f", nor in any of its arm's {n} seeds"
    return "; flagged only by other seeds of its arm: " + ", ".join(
        f"{SUBGROUP_LABELS.get(r['attribute'], r['attribute'])} {r['group']}, {r['rate']} "
        + _seed_count(render, f"{tag}.other.{j}", src, j, "({} of {} seeds)")
        for j, r in others
    )


def alias_story(book: FactBook) -> str:
    """How the champion alias reached this model, from 05's and 06's recorded paired tests (a bullet, or "").

    Args:
        book: Facts (its ``results`` folder holds ``05_transfer.json`` and ``06_tuning.json``).

    Returns:
        A Markdown bullet ending in a newline, or "" when either notebook recorded no decision.
    """
    t05, t06 = f"{book.results}/05_transfer.json", f"{book.results}/06_tuning.json"
    try:
        moved06 = resolve(t06 + "#champion_moved", book.root)
        first = alias_after_05(book, book.md("card.a05", t05 + "#chosen", "str"))
    except FactError:
        return ""
    if not first:
        return ""
    second = (
        f"06's tuned configuration then beat the arm holding it on validation breast log-loss "
        f"({book.md('card.a06.d', t06 + '#paired_rival.difference', '+.3f')} "
        f"[{book.md('card.a06.lo', t06 + '#paired_rival.low', '+.3f')}, "
        f"{book.md('card.a06.hi', t06 + '#paired_rival.high', '+.3f')}], paired over patients and seeds), so the "
        "alias moved to this run"
        if moved06 and has_source(book, t06 + "#paired_rival.difference")
        else "06 did not move it"
    )
    return f"- How it became the champion: after 05, {first}; {second}.\n"


def _wilson_text(test: dict) -> str:
    """``group k/n: 29% [8%, 64%] (Wilson 95%)`` of a recorded subgroup test, computed from its counts."""
    from ..evaluation.metrics import wilson_interval

    low, high = (float(v) for v in wilson_interval(test["k"], test["n"]))
    return f"the group's {test['k'] / test['n']:.0%} [{low:.0%}, {high:.0%}], Wilson 95%"


def served_parity(book: FactBook, src: str) -> str:
    """What 08's export gate measured for the runtime that serves the champion, as a parenthesis (or "").

    Args:
        book: Facts (its ``results`` folder holds ``08_export.json``).
        src: The champion's evaluation file (``model.runtime``).

    Returns:
        `` (08's export gate: on the 277 validation images its probabilities differ from the reference (keras)
        model's by at most 9.5e-07, and 0 of 120 breast decisions change)``; "" when 08 recorded no parity for that
        runtime, or the runtime is the reference itself.
    """
    parity = f"{book.results}/08_export.json#parity"
    runtime = book.value("card.runtime", src + "#model.runtime", "str")
    reference = parity + ".reference"
    if (
        not has_source(book, f"{parity}.{runtime}.max_abs_diff")
        or book.value("card.parity.ref", reference, "str") == runtime
    ):
        return ""
    base = f"{parity}.{runtime}"
    return (
        f" (08's export gate: on the {book.md('card.parity.images', parity + '.images', 'int')} "
        f"{book.md('card.parity.split', parity + '.split', 'str')} images its probabilities differ from the "
        f"reference ({book.md('card.parity.ref', reference, 'str')}) model's by at most "
        f"{book.md('card.parity.diff', base + '.max_abs_diff', '.1e')}, and "
        f"{book.md('card.parity.flipped', base + '.flipped_breasts', 'int')} of "
        f"{book.md('card.parity.breasts', base + '.breasts', 'int')} breast decisions change)"
    )


def build_model_card(book: FactBook, real_csv: str | None, embedded_csv: str, synthetic: bool = True) -> str:
    """The model card as Markdown, its Sources the files it read (:func:`~.facts.files_read`).

    Args:
        book: Facts (sources relative to the project root).
        real_csv: Source of the real RSNA ``train.csv`` (None when absent).
        embedded_csv: Source of the ``train.csv`` the runs used.
        synthetic: Whether that is the embedded synthetic set.

    Returns:
        Markdown text; ``[ref:key]`` markers become numbered links to its References section.
    """
    with files_read() as read:
        card = _card_sections(book, real_csv, embedded_csv, synthetic)
    sources = sorted({book.shown(file) for file in read})
    citations = Citations()
    named = set(book.names.values())  # a file shown by its name (not a path of this project) is not code
    card = citations.cite(card, markdown=True) + "\n".join(f"- {s}" if s in named else f"- `{s}`" for s in sources)
    card += "\n"
    absent = [f for k, f in book.facts.items() if k.startswith("card.") and f.missing]
    if absent:
        card += "\nValues printed as n/a, and why:\n" + "".join(f"- `{f.key}`: {f.missing}\n" for f in absent)
    return card + "\n## References\n" + citations.references_md() + "\n"


def _card_sections(book: FactBook, real_csv: str | None, embedded_csv: str, synthetic: bool) -> str:
    """The card's text up to its ``## Sources`` heading (the arguments of :func:`build_model_card`)."""
    src = f"{book.results}/champion_eval.json"
    if real_csv:
        name_real_csv(book, real_csv)  # shown by name, never by this machine's path
    flagged = subgroup_flags(
        book, {"04's baseline run": f"{book.results}/04_baseline.json", "this champion": src}, book.md, "card."
    )
    flags = (
        f"- Subgroups at the frozen threshold, each against the rest of the test split (Fisher's exact test, "
        f"Holm-corrected) — {flagged}. A larger family makes Holm's correction stricter, so the two models' counts "
        "of differing groups are not directly comparable; a subgroup's behaviour belongs to a model, not to the data "
        "alone: re-check it for every model before release.\n"
        if flagged
        else ""
    )
    off = peaks_off_breast_text(book, f"{book.results}/07_detection.json", book.md, "card.d07.off")
    gradcam = f"- Explanations: {off} (07).\n" if off else ""
    seeds = gradcam_seeds_md(book, f"{book.results}/07_detection.json")
    seeds = f"\n{seeds}" if seeds else ""  # after the list, below the Explanations bullet it details
    data_name = "the embedded synthetic RSNA-layout set" if synthetic else f"the data set of `{embedded_csv}`"

    def ci(metric: str, fmt: str = ".3f") -> str:
        base = f"{src}#test_breast_ci.{metric}"
        return (
            f"{book.md(f'card.{metric}', base + '.value', fmt)} "
            f"[{book.md(f'card.{metric}.low', base + '.low', fmt)}, "
            f"{book.md(f'card.{metric}.high', base + '.high', fmt)}]"
        )

    recipe = recipe_line(book, src)
    alias = alias_story(book)
    real = (
        f"The real RSNA training set, the Kaggle competition's `train.csv` [ref:rsna-competition] (a user's copy comes "
        f"with `mammo download`; the copy read here has SHA-256 "
        f"`{book.md('real.sha256', real_csv + '#sha256', 'hex12')}`), "
        f"holds {book.md('card.real.images', real_csv + '#images', 'int')} images of "
        f"{book.md('card.real.patients', real_csv + '#patients', 'int')} patients, "
        f"{book.md('card.real.rate', real_csv + '#cancer_breast_rate', 'pct')} of their breasts with cancer."
        if real_csv
        else "The real RSNA set is not on this machine (a user's copy comes from their Kaggle download: "
        "`mammo download --out data/rsna` [ref:rsna-competition])."
    )
    enriched = ": enriched on purpose" if synthetic else ""
    synthetic_note = (
        "- Synthetic training data: the model has never seen a real mammogram; its numbers say nothing about patients."
        if synthetic
        else "- One data set and one test split: the numbers describe these patients, not a screening population."
    )
    subgroups = subgroup_tables_md(book, src)
    op = f"{src}#sensitivity_at_specificity"
    try:
        resolve(op, book.root)
        sens90 = (
            f" Sensitivity at 90% specificity: {book.md('card.op.k', op + '.k', 'int')} of "
            f"{book.md('card.op.n', op + '.n', 'int')} cancers ({book.md('card.op.sens', op + '.sensitivity', 'pct')}, "
            f"95% patient-bootstrap interval {book.md('card.op.low', op + '.low', 'pct')} to "
            f"{book.md('card.op.high', op + '.high', 'pct')}); a point read off the test ROC curve, its threshold set "
            "on the test negatives: a description of the curve, not a decision rule."
        )
    except FactError:
        sens90 = ""
    card = f"""# Model card: {book.md("card.name", src + "#model.name", "str")}

Sections after Mitchell et al. [ref:model-cards].

> Research tool, not a medical device: it does not diagnose, and no clinical decision may rest on it.

## Model details
- Classifier of screening mammograms: probability of cancer per image, averaged per breast (patient x laterality).
- Architecture: {architecture_text(book, src)}.
- Input {book.md("card.input", src + "#model.input", "str")} (rows, columns, channels), one grey channel in [0, 1]
  after the project's preprocessing (VOI LUT, MONOCHROME1 inversion, breast crop with the chest wall left, fit and pad).
- Training run `{book.md("card.run", src + "#model.run_name", "str")}`, MLflow registry version
  {book.md("card.version", src + "#model.registry_version", "str")} of `mammo-cancer-classifier`; exported
  {book.md("card.exported", src + "#model.exported_at", "str")}; served by
  {book.md("card.runtime", src + "#model.runtime", "str")}{served_parity(book, src)}.
{recipe}{alias}- Decision threshold frozen on validation: {book.md("card.threshold", src + "#model.threshold")}
  (recall at or above; the F1-optimal rule, the midpoint of the best range). {threshold_choice(book, book.md)}
- Built by the mammo project team; code, tests and reports in this repository.

## Intended use
- Intended: research on screening-mammography triage and ranking; education; engineering of the pipeline
  (preprocessing, evaluation, serving, monitoring) on the RSNA data layout.
- Intended users: ML engineers and researchers working with radiologists.
- Out of scope: diagnosis, screening decisions for real patients, any use without a radiologist's read; use on
  diagnostic (not screening) exams, implants-only or male mammography, or images from unseen vendors without
  a new evaluation.

## Factors
Acquisition site and machine (vendor, detector, VOI settings differ), breast density, age. Each is reported below
because performance can move with them.

## Metrics
Per breast: ROC-AUC (ranking) and pF1 (the RSNA metric, on probabilities); sensitivity and specificity at the
threshold frozen on validation (the recall trade-off); sensitivity at 90% specificity read off the test ROC curve.
Intervals: 95% percentile bootstrap over patients, except where every resample agrees (a rate of 1.000) and for
subgroup sensitivity and specificity (small counts): there the Wilson interval of the count. A subgroup AUC whose
resamples all agree gets no interval (marked {NO_AUC}{ZERO_WIDTH} under the tables, with the group's counts).

## Evaluation data
The held-out test patients of {data_name}:
{book.md("card.test_breasts", src + "#test_counts.n", "int")}
breasts of {book.md("card.test_patients", src + "#test_counts.patients", "int")} patients
({book.md("card.test_pos", src + "#test_counts.positives", "int")} with cancer),
{book.md("card.test_images", src + "#test_images", "int")} images;
no test patient was used for training or for the threshold, and the checkpoint, arm and hyper-parameters
were chosen on validation patients. The test split was still scored by many runs besides this one (the final
report counts them from the recorded results); their test numbers are reported, not used to choose.

## Training data
{training_data_text(book, src, data_name)} The whole set, training, validation and test patients together, holds
{book.md("card.emb.images", embedded_csv + "#images", "int")} images of
{book.md("card.emb.patients", embedded_csv + "#patients", "int")} patients
({book.md("card.emb.rate", embedded_csv + "#cancer_breast_rate", "pct")} of breasts positive{enriched}).

{real}

## Quantitative analyses
Overall (test, per breast): ROC-AUC {ci("roc_auc")}; pF1 {ci("pf1")}; sensitivity {ci("recall", "pct")};
specificity {ci("specificity", "pct")}.{sens90}

{subgroups}

{subgroup_tests_md(book, src)}

## Ethical considerations
{synthetic_note}
- False negatives miss cancers; false positives cause recalls: any real use needs
  a prospective evaluation at the local prevalence and recall rate.
- No patient identifier is stored, logged or returned by the service: uploads carrying PatientName, PatientID and
  birth date are checked against its responses, logs and prediction store (`tests/serving/test_api.py`,
  `tests/serving/test_store_api.py`).

## Caveats and recommendations
- Retrain and re-evaluate on real data (`mammo download`, the `full` profile) before drawing any conclusion.
- Monitor input drift and sensitivity on feedback in production (`mammo monitor drift`, `mammo retrain --check`).
- Small test split: intervals are wide.
{flags}{gradcam}{seeds}
## Sources
"""
    return card
