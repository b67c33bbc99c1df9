# Size: one short function per slide whose text is computed from the runs, beside the deck in slide order.
"""The presentation (``reports/slides.html``): one self-contained file of slides that opens offline.

No reveal.js from a CDN: the deck is plain HTML with its stylesheet, a few lines of keyboard navigation
(arrows, space, Home/End) and every figure embedded as a data URI, so it shows the same on a laptop without
network. Numbers are facts of the same :class:`~mammo_utils.reporting.facts.FactBook` as the final report.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from ..config import PROFILES
from ..evaluation.compare import METRICS
from ..evaluation.screening import screening_range
from ..modeling.conclusions import budget_sentence
from .evidence import _try, peaks_off_breast_text, screening_point, share_text, test_scorings, verdict_words
from .facts import FactBook, FactError, alias_after_05, computed_html, has_source, name_real_csv, resolve
from .final_report import CHANCE_AUC, _size, declared_clause, grid_note, replication_sentence
from .markup import alt_text
from .slide_figures import CHAMPION_SLIDE, EXPORT_SLIDES, web_app_result

CSS = """html,body{margin:0;height:100%;font-family:system-ui,sans-serif;background:#1d2733}
section{display:none;box-sizing:border-box;width:100vw;height:100vh;padding:3vh 4vw;background:#fff;color:#222}
section.on{display:flex;flex-direction:column}h1{font-size:4.2vh;margin:0 0 2vh;color:#1d4e89}
h2{font-size:3.4vh;color:#1d4e89;margin:0 0 2vh}li,p{font-size:2.5vh;line-height:1.45}
.fig{flex:1;min-height:0;display:flex;justify-content:center;align-items:center}
.fig img{max-width:100%;max-height:100%;object-fit:contain}.foot{font-size:2.2vh;color:#555;margin-top:1vh}
.fact{border-bottom:1px dotted #888}section.big li,section.big p{font-size:3.1vh;line-height:1.5}
section.big table{font-size:3vh;margin:1vh 0 2vh}.body{flex:1;display:flex;flex-direction:column;justify-content:center}
section.title{justify-content:center}section.title h1{font-size:5.6vh}section.big td,section.big th{padding:1vh 1.2vw}
.split{flex:1;min-height:0;display:flex;gap:3vw}.split>ul,.split>.col{flex:1;align-self:center}
.split>.fig{flex:1.4;height:100%}
table{border-collapse:collapse;font-size:2.4vh}table.tight{font-size:2.1vh}
td,th{border-bottom:1px solid #ddd;padding:.6vh 1vw;text-align:left}
td+td{white-space:nowrap}
.num{position:fixed;right:2vw;bottom:1.5vh;color:#888;font-size:2vh}"""

SCRIPT = """const s=[...document.querySelectorAll('section')];let i=0;
function show(k){i=Math.max(0,Math.min(s.length-1,k));s.forEach((e,j)=>e.classList.toggle('on',j===i));
document.querySelector('.num').textContent=(i+1)+' / '+s.length;location.hash=i+1}
document.addEventListener('keydown',e=>{if(['ArrowRight','PageDown',' '].includes(e.key))show(i+1);
if(['ArrowLeft','PageUp'].includes(e.key))show(i-1);if(e.key==='Home')show(0);if(e.key==='End')show(s.length-1)});
document.addEventListener('click',e=>show(e.clientX>innerWidth/3?i+1:i-1));show((parseInt(location.hash.slice(1))||1)-1);"""


#: The exported champion's test confusion matrix drawn by ``mammo report`` (the champion slide shows it).
CHAMPION_CONFUSION = "champion_confusion_test_breast"


def data_uri(path: Path) -> str | None:
    """A file as a ``data:`` URI (PNG or SVG), or None when missing; a PNG's blank white margins are cut off, so a
    page screenshot fills its slide with what it shows."""
    if not path.is_file():
        return None
    if path.suffix == ".svg":
        return "data:image/svg+xml;base64," + base64.b64encode(path.read_bytes()).decode()
    return "data:image/png;base64," + base64.b64encode(trimmed_png(path)).decode()


def trimmed_png(path: Path, margin: int = 12) -> bytes:
    """A PNG's bytes without its near-white border (kept ``margin`` px around the content).

    Args:
        path: A PNG file.
        margin: Pixels of border kept around the content.

    Returns:
        PNG bytes (the file's own when there is nothing to cut).
    """
    import io

    from PIL import Image, ImageChops

    with Image.open(path) as im:
        rgb = im.convert("RGB")
        box = (
            ImageChops.difference(rgb, Image.new("RGB", rgb.size, (255, 255, 255)))
            .point(lambda v: 255 if v > 12 else 0)
            .getbbox()
        )
        if box is None or box == (0, 0, *rgb.size):
            return path.read_bytes()
        left, top = max(box[0] - margin, 0), max(box[1] - margin, 0)
        right, bottom = min(box[2] + margin, rgb.width), min(box[3] + margin, rgb.height)
        out = io.BytesIO()
        im.crop((left, top, right, bottom)).save(out, format="PNG")
        return out.getvalue()


def _safe(build) -> str:
    """The text ``build()`` makes, or a note when an artifact it reads is not built yet."""
    try:
        return build()
    except FactError as exc:
        return f"<p class='foot'>(not built yet: {html.escape(str(exc).split(': file')[0].strip(chr(39)))})</p>"


#: The detection grid a slide shows: 07's slide copy (three large pairs), else the page's.
DETECTION_GRIDS = ("07_detection_grid_slide.png", "07_detection_grid.png")


def _first(folder: Path, *names: str) -> Path:
    """The first of ``names`` that exists in ``folder`` (the last when none does: the slide says it is missing)."""
    return next((folder / n for n in names if (folder / n).is_file()), folder / names[-1])


def _page_or_slide(folder: Path, stem: str) -> Path:
    """A notebook figure's slide copy (``<stem>_slide.png``, larger text, fewer panels) when built, else its page
    figure (``<stem>.png``)."""
    return _first(folder, f"{stem}_slide.png", f"{stem}.png")


def _img(figure: Path, title: str, data: bytes | None = None) -> str:
    """A figure's ``<div class="fig">`` (``data``: PNG bytes to show instead of the file), or a "not built" note."""
    uri = "data:image/png;base64," + base64.b64encode(data).decode() if data else data_uri(figure)
    if not uri:
        return f'<p class="foot">(figure {html.escape(figure.name)} not built yet)</p>'
    return f'<div class="fig"><img src="{uri}" alt="{alt_text(title)}"></div>'


def _slide(title: str, body: str = "", figure: Path | None = None, foot: str = "", big: bool = False) -> str:
    """One slide: its title, ``body`` (HTML), the figure under it and a footnote; ``big``: larger text, centred in
    the slide's height (a slide of text only)."""
    img = _img(figure, title) if figure is not None else ""
    foot_html = f'<div class="foot">{foot}</div>' if foot else ""
    cls = ' class="big"' if big else ""
    body = f"<div class='body'>{body}</div>" if big else body  # text only: centred in the slide's height
    return f"<section{cls}><h2>{html.escape(title)}</h2>{body}{img}{foot_html}</section>"


def _split_slide(
    title: str, items: str, figure: Path, data: bytes | None = None, foot: str = "", left: str = ""
) -> str:
    """A slide with bullets (``<li>`` items) at the left and a figure at the right, as tall as the slide allows, and
    an optional footnote under both; ``left``: HTML shown instead of the bullets (a table)."""
    column = f"<div class='col'>{left}</div>" if left else f"<ul>{items}</ul>"
    body = f"<div class='split'>{column}{_img(figure, title, data)}</div>"
    foot_html = f'<div class="foot">{foot}</div>' if foot else ""
    return f"<section><h2>{html.escape(title)}</h2>{body}{foot_html}</section>"


def _recorded(book: FactBook, src: str, *keys: str) -> list | None:
    """The values of ``keys`` in the results file ``src``, or None when any is not recorded."""
    try:
        return [resolve(f"{src}#{key}", book.root) for key in keys]
    except FactError:
        return None


def transfer_conclusion(book: FactBook) -> str:
    """05's conclusion: its choice, and one table of its paired differences on validation (which decided) and on the
    test patients (no choice made from them); HTML, "" when 05 recorded no paired validation tests.

    Args:
        book: Facts.

    Returns:
        HTML.
    """
    src = f"{book.results}/05_transfer.json"
    if (recorded := _recorded(book, src, "chosen", "paired_validation")) is None:
        return ""
    chosen, pairs = recorded
    tests = {str(p.get("pair (test)", "")): i for i, p in enumerate((_recorded(book, src, "paired_test") or [[]])[0])}
    rows, single = [], []
    for i, pair in enumerate(pairs):
        name = str(pair.get("pair (val)", ""))
        a, _, b = name.partition(" − ")
        if min(pair.get("runs_a", 0), pair.get("runs_b", 0)) < 2:  # one seed: reported in 05, no verdict
            single.append(html.escape(b if chosen == a else a))
            continue
        test = book.difference_html(f"s05.test.{i}", f"{src}#paired_test.{tests[name]}") if name in tests else "—"
        label = _pair_label(pair["low"], pair["high"], html.escape(a), html.escape(b))
        rows.append(
            f"<tr><td>{label}</td><td>{book.difference_html(f's05.{i}', f'{src}#paired_validation.{i}')}</td>"
            f"<td>{test}</td></tr>"
        )
    head = f"<p>{_chosen_head(book, src, str(chosen), pairs)}"
    replicated = [i for i, pair in enumerate(pairs) if min(pair.get("runs_a", 0), pair.get("runs_b", 0)) >= 2]
    counts = sorted({int(pairs[i][side]) for i in replicated for side in ("runs_a", "runs_b")})
    seeds = (
        book.html("s05.seeds", f"{src}#paired_validation.{replicated[0]}.runs_a", "int")
        if len(counts) == 1
        else computed_html(f"{counts[0]}–{counts[-1]}", "the seeds of the compared arms, results/05_transfer.json")
        if counts
        else ""
    )
    tail = f"<p>Single-seed arms (not replicated, no verdict): {', '.join(sorted(set(single)))}.</p>" if single else ""
    if any("source-pretrained" in str(pair.get("pair (val)", "")) for pair in pairs):
        tail += _source_note(book, src)
    if not rows:
        return head + "</p>" + tail
    return (
        head + f"</p><table><tr><th>on validation (decides; arms of {seeds} seeds)</th>"
        "<th>validation Δ breast AUC [95%]</th>"
        "<th>test Δ [95%] (no choice made)</th></tr>" + "".join(rows[:6]) + "</table>" + tail
    )


def _source_note(book: FactBook, src: str) -> str:
    """The caveat under 05's table when its source task did not generalise (its held-out lesion AUC interval reaches
    chance, or lies below it): the source-pretrained rows test that one pretraining, not domain pretraining ("" when
    the interval lies above chance).

    Args:
        book: Facts.
        src: 05's results file (``source_pretraining.holdout``).

    Returns:
        HTML (a paragraph) or "".
    """
    held = src + "#source_pretraining.holdout"
    if not has_source(book, held + ".lesion_auc_ci.1"):
        return ""
    if float(resolve(held + ".lesion_auc_ci.0", book.root)) > CHANCE_AUC:  # it generalised: the rows test the idea
        return ""
    auc = book.pair_html("t05.source.auc", held + ".lesion_auc", held + ".lesion_auc_ci")
    return (
        f"<p>Source-pretrained rows: the source task itself never generalised (held-out lesion AUC {auc}, chance "
        f"{CHANCE_AUC}), so they test this one failed pretraining, not domain pretraining.</p>"
    )


def _pair_label(low: float, high: float, a: str, b: str) -> str:
    """A short row label for a paired difference ``a − b``: ``"a − b: no difference shown"`` (its 95% interval holds 0),
    else ``"a − b: a higher"`` or ``"a − b: a lower"``; a backbone both arms share (their first word) is left out.

    Args:
        low: Lower end of the interval.
        high: Upper end.
        a: Arm A's name (escaped by the caller).
        b: Arm B's name.

    Returns:
        HTML text.
    """
    first_a, _, rest_a = a.partition(" ")
    first_b, _, rest_b = b.partition(" ")
    if first_a == first_b and rest_a and rest_b:  # one backbone: its name once, the arms by their start
        a, b = rest_a, rest_b
    words = f"{a} higher" if low > 0 else f"{a} lower" if high < 0 else "no difference shown"
    return f"{a} − {b}: {words}"


def _chosen_head(book: FactBook, src: str, chosen: str, pairs: list[dict]) -> str:
    """05's choice in one sentence: "Chosen on validation" when it took the champion alias, else "Best validation
    mean …, not promoted" with why (its paired validation test against the alias holder, read from ``pairs``).

    Args:
        book: Facts.
        src: 05's results file.
        chosen: 05's chosen arm.
        pairs: 05's paired validation differences (``pair (val)`` ``"a − b"``, ``low``, ``high``).

    Returns:
        HTML (a sentence ending with a full stop).
    """
    name = f"<b>{book.html('s05.chosen', src + '#chosen', 'str')}</b>"
    holder = _recorded(book, src, "champion_moved", "champion_arm")
    if holder is None or holder[0]:
        alias = alias_after_05(book, "it")
        return f"Chosen on validation: {name}." + (f" {alias[0].upper()}{alias[1:]}." if alias else "")
    arms = {chosen, str(holder[1])}
    pair = next((p for p in pairs if set(str(p.get("pair (val)", "")).split(" − ")) == arms), None)
    why = (
        f"paired validation test against {html.escape(str(holder[1]))} inconclusive"
        if pair is None or pair["low"] <= 0 <= pair["high"]
        else "its paired validation test does not put it above that run"
    )
    return (
        f"Best validation mean: {name}, not promoted ({why}): the champion alias stayed with 04's "
        f"{html.escape(str(holder[1]))} run."
    )


def transfer_budget(book: FactBook) -> str:
    """05's training budget in one sentence (the slide's footnote), "" when 05 recorded none.

    Args:
        book: Facts.

    Returns:
        HTML.
    """
    src = f"{book.results}/05_transfer.json"
    epochs = _recorded(book, src, "epochs")
    budgets = _recorded(book, src, "budgets")
    if epochs and (sentence := budget_sentence(budgets[0] if budgets else None, epochs[0], html.escape)):
        return f"{sentence}. Differences: patient bootstrap, 95%."
    return ""


def _detector_seeds(book: FactBook, det: str) -> str:
    """A table of every detector seed's validation and test mAP@0.5 (a mean hides a seed that never began), under
    the chosen seed's row.

    Each test value carries its 95% patient-bootstrap interval where 07 recorded it (``test_map50_ci``).

    Args:
        book: Facts.
        det: 07's results file.

    Returns:
        HTML (a ``<table>``), "" without per-seed rows.
    """
    runs = _recorded(book, det, "seeds.runs")
    if not runs:
        return ""
    base = f"{det}#seeds.runs"
    rows = [
        f"<tr><td>seed {book.html(f'd07.seed{i}', f'{base}.{i}.seed', 'int')}</td>"
        f"<td>{book.html(f'd07.seed{i}.val', f'{base}.{i}.val_map50')}</td><td>"
        + (
            book.pair_html(f"d07.seed{i}.test", f"{base}.{i}.test_map50", f"{base}.{i}.test_map50_ci")
            if run.get("test_map50_ci")
            else book.html(f"d07.seed{i}.test", f"{base}.{i}.test_map50")
        )
        + "</td></tr>"
        for i, run in enumerate(runs[0])
    ]
    label = " [95% patient bootstrap]" if all(run.get("test_map50_ci") for run in runs[0]) else ""
    head = f"<tr><th>detector</th><th>validation mAP@0.5</th><th>test mAP@0.5{label}</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _off_breast_line(book: FactBook, det: str) -> str:
    """The line that leads the Grad-CAM slide: where the champion's maps peak on lesion and on lesion-free test
    images (:func:`~mammo_utils.reporting.evidence.peaks_off_breast_text`, the report's sentence; "" when 07 did not
    record it)."""
    text = peaks_off_breast_text(book, det, book.html)
    return f"<p>{text}.</p>" if text else ""


def _gradcam_row(book: FactBook, det: str, i: int, run: dict, champion: bool) -> str:
    """One seed's row of the Grad-CAM table: the hit rate, the margin over chance and the share of
    maps that peak off the breast, each with its 95% patient-bootstrap interval (the final report's fact keys).

    Args:
        book: Facts.
        det: 07's results file.
        i: The run's index in ``gradcam_seeds.runs``.
        run: That run's record (``off_breast`` with its ``lesion`` / ``no_lesion`` split optional: "—" without it).
        champion: Whether it is the champion's seed (marked).

    Returns:
        HTML (a ``<tr>``).
    """
    base, key = f"{det}#gradcam_seeds.runs.{i}", f"d07.cs{i}"
    off = run.get("off_breast") or {}
    margin = (
        f"{book.html(key + '.margin', base + '.margin', '+.3f')} "
        f"[{book.html(key + '.low', base + '.margin_ci.0', '+.3f')}, "
        f"{book.html(key + '.high', base + '.margin_ci.1', '+.3f')}]"
    )
    cells = [
        share_text(book.html, f"{key}.{short}", f"{base}.off_breast.{kind}") if off.get(kind) else "—"
        for kind, short in (("lesion", "offl"), ("no_lesion", "offf"))
    ]
    mark = " (champion)" if champion else ""
    values = [book.pair_html(key + ".pg", base + ".hit_rate", base + ".hit_rate_ci", "pct"), margin, *cells]
    # each interval under its value: five columns of "value [low, high]" on one line overflow the slide
    return (
        f"<tr><td style='white-space:nowrap'>{book.html(key, base + '.seed', 'int')}{mark}</td>"
        + "".join(f"<td>{v.replace(' [', '<br>[', 1)}</td>" for v in values)
        + "</tr>"
    )


def _gradcam_seeds(book: FactBook, det: str) -> str:
    """The pointing game per champion-arm seed: the verdict line, then a table (seed, hit rate, margin over chance,
    off-breast share on lesion and on lesion-free images), each value with its 95% patient-bootstrap interval.

    Args:
        book: Facts.
        det: 07's results file.

    Returns:
        HTML ("" when 07 recorded no per-seed runs).
    """
    recorded = _recorded(book, det, "gradcam_seeds.runs", "gradcam_seeds.beating_seeds")
    if recorded is None:
        return ""
    runs, beating = recorded
    champion = _try(book, det + "#gradcam_seeds.champion_seed")
    chance = det + "#gradcam_seeds.runs.0.chance"
    verdict = (
        f"<p>Grad-CAM beats chance on {book.html('d07.cs.beating', det + '#gradcam_seeds.beating_seeds|len', 'int')} "
        f"of {book.html('d07.cs.n', det + '#gradcam_seeds.n', 'int')} "
        "champion-arm seeds (patient-bootstrap lower bound of the margin&nbsp;&gt;&nbsp;0) in the pointing game: "
        f"the map's peak inside a lesion box, chance {book.html('d07.cs.chance', chance, 'pct')}.</p>"
    )
    head = (
        "<tr><th>seed</th><th>hit rate [95% CI]</th><th>margin over chance [CI]</th>"
        "<th>off the breast: lesion images [CI]</th><th>lesion-free images [CI]</th></tr>"
    )
    rows = "".join(_gradcam_row(book, det, i, run, run.get("seed") == champion) for i, run in enumerate(runs))
    return f"{verdict}<table class='tight'>{head}{rows}</table>"


def gradcam_list(book: FactBook, det: str) -> str:
    """The Grad-CAM slide: where the maps peak on lesion and lesion-free images first, then the verdict over seeds
    and its per-seed table.

    Args:
        book: Facts.
        det: 07's results file.

    Returns:
        HTML.
    """
    return _off_breast_line(book, det) + _gradcam_seeds(book, det)


def int8_line(book: FactBook, exp: str) -> str:
    """The int8 TFLite file's validation AUC change, whether the export gate passed it or refused it.

    Args:
        book: Facts.
        exp: The export results file (08).

    Returns:
        One sentence.
    """
    try:
        resolve(exp + "#refused.tflite-int8", book.root)
    except FactError:
        return "int8 TFLite validation AUC change (the export gate) " + book.html(
            "e08.int8.delta", exp + "#parity.tflite-int8.delta_auc", "+.4f"
        )
    return (
        "int8 TFLite refused by the export gate: validation AUC change "
        + book.html("e08.int8.delta", exp + "#refused.tflite-int8.delta_auc", "+.4f")
        + " (not shipped; see 08)"
    )


def _from_holder(book: FactBook, src: str) -> str:
    """`` from <arm>`` naming the arm that held the champion alias before 06 ("" when not recorded)."""
    holder = _recorded(book, src, "rival")
    return f" (from {html.escape(str(holder[0]))}, the arm holding it after 05)" if holder and holder[0] else ""


def search_conclusion(book: FactBook) -> str:
    """06's conclusion as a table: the search, the tuned arm against the default on validation (which decided) and on
    the test patients, and where the champion alias went; "" before 06 ran.

    Args:
        book: Facts.

    Returns:
        HTML (a ``<table>``).
    """
    src = f"{book.results}/06_tuning.json"
    if (recorded := _recorded(book, src, "champion_moved", "paired_validation")) is None:
        return ""
    moved, pair = recorded
    metric = pair.get("metric", "roc_auc")
    rows = [
        ("Search", f"{book.html('s06.trials', src + '#trials', 'int')} trials, ranked on "
                   f"{book.html('s06.objective', src + '#objective_name', 'str')}"),
        (f"Tuned vs default, validation {METRICS[metric][2]} (decides)",
         f"{verdict_words(pair['low'], pair['high'], 'tuned', 'default', metric)}: "
         f"{book.difference_html('s06', src + '#paired_validation')}"),
    ]  # fmt: skip
    if heldout := _recorded(book, src, "paired_test"):
        rows.append((
            "Same pair, test patients (no choice made)",
            f"{verdict_words(heldout[0]['low'], heldout[0]['high'], 'tuned', 'default', metric)}: "
            f"{book.difference_html('s06.test', src + '#paired_test')}",
        ))  # fmt: skip
    rows.append((
        "Kept", f"{book.html('s06.kept', src + '#kept', 'str')}; the champion alias "
                f"{'moved to it' if moved else 'stayed'}{_from_holder(book, src)}",
    ))  # fmt: skip
    return "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def search_note(book: FactBook) -> str:
    """The search slide's footnote: when 06 fixed its decision criterion ("" before 06 ran).

    Args:
        book: Facts.

    Returns:
        HTML.
    """
    src = f"{book.results}/06_tuning.json"
    if _recorded(book, src, "paired_validation") is None:
        return ""
    return f"Criterion {declared_clause(book, src)}. Differences: patient bootstrap, 95%."


def caveats_html(book: FactBook, real_csv: str | None) -> str:
    """The report's two main caveats as bullets: the champion at screening prevalence, and how often the test
    split was scored ("" for each one not recorded).

    Args:
        book: Facts.
        real_csv: Source of the real RSNA ``train.csv`` (None when absent).

    Returns:
        ``<li>`` items.
    """
    out = ""
    if (found := screening_point(book, real_csv)) and (ends := _screening_ends(book)):
        at, prevalence = found
        bounds = screening_range(*ends, prevalence)
        recalls, ppv = bounds["recalls_per_1000"], bounds["ppv"]
        how = (
            "Bayes, from results/champion_eval.json's test sensitivity and specificity (point and interval ends) at "
            f"{prevalence:.1%} prevalence"
        )
        rate = computed_html(
            f"{prevalence:.1%}", "the real RSNA train.csv's share of breasts with cancer, else the cited fallback"
        )
        span = computed_html(f"{recalls[0]:.0f}–{recalls[1]:.0f}", how)
        ppv_span = computed_html(f"{ppv[0]:.0%}–{ppv[1]:.0%}", how)
        point = computed_html(f"{at['recalls_per_1000']:.0f}", how)
        point_ppv = computed_html(f"{at['ppv']:.0%}", how)
        out += (
            f"<li>At {rate} prevalence: {span} recalls of every 1,000 screened breasts, PPV {ppv_span} (point {point}, "
            f"{point_ppv}; ranges from the ends of the test sensitivity and specificity intervals)</li>"
        )
    total, _ = test_scorings(book)
    if total:
        count = computed_html(str(total), "sum of the test scorings the final report lists, notebook by notebook")
        out += (
            f"<li>The test split was scored {count} times (every choice made on validation): read the chosen "
            "model's interval, not the best test number</li>"
        )
    return out


def key_results(book: FactBook, det: str) -> str:
    """The title slide's table of headline results: the champion on the test patients, and the lesion detector.

    Args:
        book: Facts.
        det: 07's results file.

    Returns:
        HTML (a ``<table>``), "" before the champion was scored.
    """
    ci = f"{book.results}/champion_eval.json#test_breast_ci."
    if _try(book, ci + "roc_auc.value") is None:
        return ""
    rows = [
        ("Champion classifier: test breast ROC-AUC", book.interval_html("title.auc", ci + "roc_auc")),
        ("Its sensitivity / specificity at the frozen threshold",
         f"{book.interval_html('title.sens', ci + 'recall', 'pct')} / "
         f"{book.interval_html('title.spec', ci + 'specificity', 'pct')}"),
    ]  # fmt: skip
    if _try(book, det + "#map50_ci") is not None:
        rows.append(("Lesion detector: test mAP@0.5", book.pair_html("title.map50", det + "#map50", det + "#map50_ci")))
    return (
        "<table><tr><th>Headline (test patients, 95% intervals)</th><th></th></tr>"
        + "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
        + "</table>"
    )


#: What each per-breast score answers (the problem slide's table).
SCORES = (
    ("ROC-AUC", "how well the score ranks breasts with cancer above the others, over every threshold"),
    ("pF1", "the RSNA competition's metric: F1 computed on the probabilities, not on decisions"),
    ("sensitivity at 90% specificity", "the share of cancers found when at most one healthy breast in ten is recalled"),
)


def _screening_ends(book: FactBook) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """The champion's test sensitivity and specificity intervals ``((low, high), (low, high))``, or None."""
    ci = f"{book.results}/champion_eval.json#test_breast_ci"
    ends = [_try(book, f"{ci}.{m}.{side}") for m in ("recall", "specificity") for side in ("low", "high")]
    if any(v is None for v in ends):
        return None
    return (float(ends[0]), float(ends[1])), (float(ends[2]), float(ends[3]))


def _build_line(book: FactBook, exp: str) -> str:
    """`` Export <digest>, build <id>.`` of the export the deck describes (08's record), or "" before 08 ran."""
    if not (has_source(book, exp + "#provenance.digest") and has_source(book, exp + "#build.id")):
        return ""
    digest = book.html("s.digest", exp + "#provenance.digest", "str")
    return f" Export <code>{digest}</code>, build <code>{book.html('s.build', exp + '#build.id', 'str')}</code>."


def _live_result(book: FactBook, figs: Path) -> str:
    """The live demo's output as slide text: the decision line and the caption the web app showed for the uploaded
    image, read from the screenshot's sidecar (``figures/web_app.json``, ``result``); "" when it recorded none."""
    src = book.source_path(figs / "web_app.json") + "#provenance"
    if _try(book, src + ".result.decision.0") is None:
        return ""
    caption = (
        f" ({book.html('s.app.caption', src + '.result.caption.0', 'str')})"
        if _try(book, src + ".result.caption.0")
        else ""
    )
    return (
        f"<li><b>Live output</b> for {book.html('s.app.file', src + '.uploaded', 'str')}: "
        f"<b>{book.html('s.app.decision', src + '.result.decision.0', 'str')}</b>{caption}</li>"
    )


def _serving_slide(book: FactBook, figs: Path) -> str:
    """The serving slide: the API in bullets (the heat-map's "not a localisation" label, :data:`HEATMAP_NOTE`, among
    them, and the live output as text: :func:`_live_result`) beside the web app's result (:func:`web_app_result`:
    the screenshot cut to its decision, image and caption), or a note where no screenshot was taken."""
    from ..serving.inference import HEATMAP_NOTE

    label = html.escape(HEATMAP_NOTE.split(" (see")[0])  # the note without its pointer to the report

    title = "Serving: API + web app (live demo)"
    items = (
        "<li>FastAPI on uvicorn: probability, boxes, Grad-CAM in one call; 4xx for bad uploads, the server stays "
        "up</li><li>The web app (Streamlit) calls the API: decision, probability against the frozen threshold, "
        "detector boxes over the Grad-CAM heat-map</li>"
        + _live_result(book, figs)
        + f"<li><b>The overlay is not a localisation</b>: API and app label it “{label}”</li>"
    )
    shot = figs / "web_app.png"
    if not shot.is_file():
        return _slide(
            title,
            f"<ul>{items}</ul><p class='foot'>Live demo output goes here: <code>reports/figures/web_app.png</code>, "
            "taken from the running app by the browser test, is not in this build.</p>",
        )
    return _split_slide(title, items, shot, web_app_result(shot))


def build_slides(book: FactBook, real_csv: str | None, embedded_csv: str, synthetic: bool = True) -> str:
    """The deck as one HTML string (figures from ``reports/figures`` embedded).

    Args:
        book: Facts (shared with the final report).
        real_csv: Source of the real RSNA ``train.csv`` (None when absent).
        embedded_csv: Source of the ``train.csv`` the runs used.
        synthetic: Whether that is the embedded synthetic set (said on the champion's slide).

    Returns:
        HTML text.
    """
    if real_csv:
        name_real_csv(book, real_csv)  # its facts are shown by that name, never by this machine's path
    figs = book.reports / "figures"
    r = book.results
    real = (
        f"<li>Real RSNA: {book.html('real.images', real_csv + '#images', 'int')} images, "
        f"{book.html('real.cancer_breast_rate', real_csv + '#cancer_breast_rate', 'pct')} of breasts with cancer</li>"
        if real_csv
        else ""
    )
    champion = f"{r}/champion_eval.json"
    ci = champion + "#test_breast_ci."
    op = champion + "#sensitivity_at_specificity"
    det = f"{r}/07_detection.json"
    exp = f"{r}/08_export.json"
    slides = [
        "<section class='big title'><h1>Screening-mammography cancer detection</h1><p>An end-to-end Keras/TensorFlow "
        "system on the RSNA layout: data, models, detection, export, serving, MLOps.</p>"
        + _safe(lambda: key_results(book, det))
        + ("<p><b>Synthetic data</b>: the runs use the embedded synthetic set. " if synthetic else "<p>")
        + "Research tool, not a medical device.</p>"
        "<p class='foot'>Generated by <code>mammo report</code> from the runs; every number is read from an "
        f"artifact or computed from such numbers (hover it for its source or how).{_build_line(book, exp)}</p>"
        "</section>",
        _slide(
            "The problem",
            "<ul><li>Screening: decide per woman whether to recall</li><li>Cancers are rare"
            + (
                f": {book.html('real.rate.problem', real_csv + '#cancer_breast_rate', 'pct')} of breasts in the real "
                "RSNA training set"
                if real_csv
                else " in screening (the final report gives the real RSNA rate and its source)"
            )
            + "</li><li>Errors: missed cancers vs unnecessary recalls</li>"
            "<li>Scored per breast (a breast: one side of one woman, all its views):</li></ul><table>"
            + "".join(f"<tr><th>{name}</th><td>{what}</td></tr>" for name, what in SCORES)
            + "</table>",
            big=True,
        ),  # fmt: skip
        _slide(
            "Data",
            f"<ul>{real}<li>Embedded synthetic set: {book.html('embedded.images', embedded_csv + '#images', 'int')} "
            f"images, {book.html('embedded.cancer_breast_rate', embedded_csv + '#cancer_breast_rate', 'pct')} of "
            "breasts "
            "positive (enriched)</li></ul>",
            _page_or_slide(figs, "01_samples"),
        ),  # fmt: skip
        _slide("Pipeline", "", figs / "pipeline.svg"),
        _slide("Preprocessing: VOI, MONOCHROME1, breast crop", "", _page_or_slide(figs, "02_crops")),
        _slide("Patient-grouped splits: cancer rate per part", "", _page_or_slide(figs, "03_split_balance")),
        _slide(
            "Baseline CNN: training and validation curves, every seed", "", _page_or_slide(figs, "04_learning_curves")
        ),
        _slide(
            "Transfer learning vs baseline (decided on validation)",
            _safe(lambda: transfer_conclusion(book)),
            foot=_safe(lambda: transfer_budget(book)),
        ),
        _slide(
            "Transfer learning: every arm over seeds (validation and test)",
            "",
            _page_or_slide(figs, "05_model_comparison"),
        ),
        _slide(
            "Hyper-parameter search",
            _safe(lambda: search_conclusion(book)),
            foot=_safe(lambda: search_note(book)),
            big=True,
        ),  # fmt: skip
        _slide("Hyper-parameter search: every trial (validation fold)", "", _page_or_slide(figs, "06_search")),
        _split_slide(
            "The champion on the test patients" + (" (synthetic data)" if synthetic else ""),
            _safe(
                lambda: (
                    f"<li>ROC-AUC {book.interval_html('champion.roc_auc', ci + 'roc_auc')}</li>"
                    f"<li>pF1 {book.interval_html('champion.pf1', ci + 'pf1')}</li>"
                    f"<li>Sensitivity {book.interval_html('champion.recall', ci + 'recall', 'pct')}, "
                    f"specificity {book.interval_html('champion.specificity', ci + 'specificity', 'pct')}</li>"
                    + (
                        f"<li>Sensitivity at 90% specificity {book.html('slide.op.sens', op + '.sensitivity', 'pct')} "
                        f"({book.html('slide.op.k', op + '.k', 'int')}/{book.html('slide.op.n', op + '.n', 'int')}) "
                        f"[{book.html('slide.op.low', op + '.low', 'pct')}, "
                        f"{book.html('slide.op.high', op + '.high', 'pct')}], at "
                        f"{book.html('slide.op.spec', op + '.specificity', 'pct')} specificity (a point of the test "
                        "ROC curve, not a decision rule)</li>"
                        if _try(book, op) is not None
                        else ""
                    )
                    + "<li>95% intervals: patient bootstrap; Wilson where every resample agrees</li>"
                    + (
                        "<li><b>Synthetic data</b>: the embedded synthetic set, not real screening data</li>"
                        if synthetic
                        else ""
                    )
                )
            ),
            _first(figs, f"{CHAMPION_SLIDE}.png", f"{CHAMPION_CONFUSION}.png"),
            foot=_safe(lambda: replication_sentence(book, "slide.arm", "the headline on this slide", short=True)),
        ),
        _split_slide(
            "Where: YOLOv8 lesion boxes",
            "",
            _page_or_slide(figs, "07_froc"),
            left=_safe(
                lambda: (
                    f"<p>mAP@0.5 {book.html('d07.map50', det + '#map50')} "
                    f"[{book.html('d07.map50.low', det + '#map50_ci.0')}, "
                    f"{book.html('d07.map50.high', det + '#map50_ci.1')}] (test; seed chosen on validation)</p>"
                    + _detector_seeds(book, det)
                )
            ),
        ),
        _slide("Where the classifier looked: Grad-CAM", _safe(lambda: gradcam_list(book, det)), big=True),
        _slide(
            "Where: detector boxes and Grad-CAM on test images",
            "",
            _first(figs, *DETECTION_GRIDS),
            foot=_safe(lambda: grid_note(book)),
        ),
        _slide(
            "Export: size and latency per format", "", _first(figs, f"{EXPORT_SLIDES[0]}.png", "08_export_formats.png")
        ),
        _slide(
            "Export: parity with the Keras model",
            "",
            _first(figs, f"{EXPORT_SLIDES[1]}.png", "08_export_formats.png"),
            _safe(lambda: int8_line(book, exp)),
        ),  # fmt: skip
        _serving_slide(book, figs),
        _slide(
            "Deployment and MLOps",
            "<ul><li>MLflow tracking + registry, champion alias</li><li>Prometheus metrics and tested alert rules, "
            "a provisioned Grafana dashboard (not run here: no package on this machine)</li>"
            "<li>Drift (PSI/KS), feedback, gated retraining</li></ul>",
            figs / "deployment.svg",
        ),  # fmt: skip
        _slide(
            "Limitations and roadmap",
            "<ul><li>Synthetic data: pipeline validated, not clinical performance</li>"
            + caveats_html(book, real_csv)
            + "<li>Real data at "
            + computed_html(
                _size(PROFILES["full"].get("image_size")), "the full profile's image size, mammo_utils/config.py"
            )
            + " on GPU (<code>mammo download</code>, "
            "profile <code>full</code>)</li>"
            "<li>Edge (int8), federated training across sites, speed (TensorRT), multi-modal (priors, "
            "four views, clinical data)</li></ul>",
            big=True,
        ),  # fmt: skip
    ]
    deck = "".join(slides)
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Screening mammography: slides</title>"
        f"<style>{CSS}</style></head><body>{deck}<div "
        f"class='num'></div><script>{SCRIPT}</script></body></html>\n"
    )
