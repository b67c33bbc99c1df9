"""The generated documents: every number matches its source artifact, links resolve, slides open offline.

The report is built into a copy of the repository's ``reports/`` (the notebooks' rendered pages, figures and
recorded results) with the tiny export of the test session as the champion, so the champion's evaluation is a real
computation here. Sources are re-read by the test's own parsing, not by the report's resolver.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.facts, self.links, self.sections = [], [], 0
        self._open = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "span" and attrs.get("class") == "fact":
            self._open = {"key": attrs["data-fact"], "source": attrs["title"].removeprefix("source: "), "text": ""}
        for name in ("href", "src"):
            if attrs.get(name):
                self.links.append((tag, attrs[name]))
        if tag == "section":
            self.sections += 1

    def handle_data(self, data):
        if self._open is not None:
            self._open["text"] += data

    def handle_endtag(self, tag):
        if tag == "span" and self._open is not None:
            self.facts.append(self._open)
            self._open = None


def _parse(path: Path) -> _Collector:
    collector = _Collector()
    collector.feed(path.read_text())
    return collector


def _walk(value, path: str):
    """The test's own reading of ``a.b.0.[k=v].*.c|max``."""
    path, _, aggregate = path.partition("|")
    if aggregate:
        return {"max": max, "min": min, "len": len, "sum": sum}[aggregate](_walk(value, path))
    parts = [p for p in path.split(".") if p]
    i = 0
    while i < len(parts):
        part = parts[i]
        if part == "*":
            items = value.values() if isinstance(value, dict) else value
            return [_walk(item, ".".join(parts[i + 1 :])) for item in items]
        if part.startswith("[") and "=" in part:
            key, wanted = part[1:-1].split("=", 1)
            value = next(item for item in value if str(item[key]) == wanted)
        elif isinstance(value, list):
            value = value[int(part)]
        else:  # the longest run of parts that is one key (keys may hold dots: sens@0.5fp)
            j = next(j for j in range(len(parts), i, -1) if ".".join(parts[i:j]) in value)
            value, i = value[".".join(parts[i:j])], j
            continue
        i += 1
    return value


def _csv_stat(path: Path, stat: str) -> float:
    df = pd.read_csv(path)
    breasts = df.groupby(["patient_id", "laterality"]).cancer.max()
    return {
        "images": len(df),
        "patients": df.patient_id.nunique(),
        "breasts": len(breasts),
        "cancer_image_rate": df.cancer.mean(),
        "cancer_breast_rate": breasts.mean(),
        "cancer_patient_rate": df.groupby("patient_id").cancer.max().mean(),
        "sites": df.site_id.nunique(),
        "machines": df.machine_id.nunique(),
        "implant_rate": df.implant.mean(),
        "images_per_patient": len(df) / df.patient_id.nunique(),
        "median_age": df.age.median(),
    }[stat]


def _full(file: str) -> Path:
    return Path(file) if Path(file).is_absolute() else REPO / file


#: How report_facts.json names the real RSNA train.csv (its SHA-256 label, never a path of this machine).
_LABEL = re.compile(r"Kaggle RSNA competition train\.csv, SHA-256 ([0-9a-f]{12})")


def _labelled(file: str) -> Path:
    """The copy of the real ``train.csv`` here whose SHA-256 starts with the label's digest."""
    from mammo_utils.reporting.build import REAL_TRAIN_CSV

    digest = _LABEL.fullmatch(file)[1]
    found = [_full(rel) for rel in REAL_TRAIN_CSV if _full(rel).is_file()]
    found = [path for path in found if hashlib.sha256(path.read_bytes()).hexdigest().startswith(digest)]
    assert found, f"no train.csv here with SHA-256 {digest}"
    return found[0]


def _read_source(source: str):
    file, _, path = source.partition("#")
    full = _labelled(file) if _LABEL.fullmatch(file) else _full(file)
    if path == "sha256":
        return hashlib.sha256(full.read_bytes()).hexdigest()
    if full.suffix == ".json":
        return _walk(json.loads(full.read_text()), path)
    if full.suffix == ".csv":
        return _csv_stat(full, path)
    return sum(1 for line in full.read_text().splitlines() if line.strip().startswith("- alert:"))


def _matches(text: str, value) -> bool:
    """The printed text is the value, rounded as printed (percentages, thousands separators, signs)."""
    if isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value):  # a SHA-256, printed by its first 12 digits
        return text == value[:12]
    if isinstance(value, str) or value is None:
        return text == str(value) or (value is None and text == "n/a")
    if isinstance(value, list):
        return text == str(value)
    if text == "n/a":
        return value != value  # NaN
    number = float(text.replace(",", "").rstrip("%").replace("x", ""))
    scale = 100 if text.endswith("%") else 1
    decimals = len(text.rstrip("%").split(".")[1]) if "." in text else 0
    return abs(number - float(value) * scale) <= 0.5 * 10**-decimals + 1e-9


def test_every_number_matches_its_source(built):
    """Each printed fact re-read from the source ``report_facts.json`` records for it; its tooltip shows that source
    (or, for a file outside the project such as the real ``train.csv``, the name recorded as ``shown``)."""
    reports, _, _ = built
    listed = {f["key"]: f for f in json.loads((reports / "report_facts.json").read_text())}
    checked = 0
    for page in ("final_report.html", "slides.html"):
        for fact in _parse(reports / page).facts:
            record = listed[fact["key"]]
            assert fact["source"] == record["source"], fact
            value = _read_source(record["source"])
            assert _matches(fact["text"], value), f"{page}: {fact['key']} prints {fact['text']!r}, source has {value!r}"
            checked += 1
    assert checked >= 40


def test_no_document_shows_a_path_of_this_machine_for_the_real_train_csv(built):
    from mammo_utils.reporting.build import REAL_TRAIN_CSV

    reports, _, _ = built
    listed = {f["key"]: f for f in json.loads((reports / "report_facts.json").read_text())}
    if "real.images" not in listed:
        pytest.skip("no real RSNA train.csv on this machine: nothing is read from it")
    label = listed["real.images"]["source"].partition("#")[0]
    full = _labelled(label)  # report_facts.json names it by its SHA-256 label only
    path = next(rel for rel in REAL_TRAIN_CSV if _full(rel) == full)
    digest = hashlib.sha256(full.read_bytes()).hexdigest()[:12]
    for doc in ("final_report.html", "model_card.md", "slides.html", "report_facts.json"):
        text = (reports / doc).read_text()
        assert path not in text and "real-rsna" not in text, doc
    card = (reports / "model_card.md").read_text()
    assert "the Kaggle competition's `train.csv` [[" in card and f"SHA-256 `{digest}`" in card
    assert "#ref-rsna-competition" in card and f"- Kaggle RSNA competition train.csv, SHA-256 {digest}" in card


def test_champion_numbers_are_the_evaluation_of_the_export(built):
    reports, _, _ = built
    evaluation = json.loads((reports / "results" / "champion_eval.json").read_text())
    auc = evaluation["test_breast_ci"]["roc_auc"]
    card = (reports / "model_card.md").read_text()
    assert f"ROC-AUC {auc['value']:.3f} [{auc['low']:.3f}, {auc['high']:.3f}]" in card.replace("\n", " ")
    for heading in ("Model details", "Intended use", "Factors", "Metrics", "Evaluation data", "Training data",
                    "Quantitative analyses", "Ethical considerations", "Caveats and recommendations"):  # fmt: skip
        assert f"## {heading}" in card
    assert "not a medical device" in card
    assert evaluation["test_counts"]["n"] >= 1
    assert set(evaluation["subgroups"]) == {"site_id", "machine_id", "density", "age_band"}


def test_model_card_describes_the_exported_architecture_and_the_folds_it_was_trained_on(built):
    reports, _, export = built
    evaluation = json.loads((reports / "results" / "champion_eval.json").read_text())
    manifest = json.loads((export / "model.json").read_text())
    architecture = evaluation["model"]["architecture"]
    assert {k: v for k, v in architecture.items() if k != "recorded_in"} == manifest["architecture"]
    card = (reports / "model_card.md").read_text()
    filters = ", ".join(str(f) for f in architecture["filters"][:-1]) + f" and {architecture['filters'][-1]}"
    assert (
        f"- Architecture: from-scratch CNN: {architecture['blocks']} blocks of {architecture['convs_per_block']} "
        f"conv-BN-ReLU layers"
        in card
        and f"with {filters} filters;" in card
        and f"; {architecture['parameters']:,} parameters." in card
    )
    counts = evaluation["split_counts"]
    assert counts["test"]["breasts"] == evaluation["test_counts"]["n"]
    for part in ("train", "validation"):
        c = counts[part]
        assert f"{c['images']:,} images of {c['patients']:,} patients ({c['breasts']:,} breasts, " in card
    assert f"chosen on validation fold {counts['fold']}:" in card
    recipe = card.split("- Training recipe")[1].split("\n")[0]
    assert "freeze" not in recipe and recipe.count("augmentation") <= 1 and recipe.count("random") <= 1
    sources = card.split("## Sources\n")[1].split("\n\n")[0].splitlines()  # what the card read, 08's gate included
    for name in ("champion_eval.json", "07_detection.json", "08_export.json"):
        assert any(line.endswith(f"results/{name}`") for line in sources), (name, sources)


def test_model_card_travels_with_the_export(built):
    reports, _, export = built
    assert (export / "model_card.md").read_text() == (reports / "model_card.md").read_text()


def test_links_and_images_resolve(built):
    reports, _, _ = built
    page = _parse(reports / "final_report.html")
    local = [link for _, link in page.links if not link.startswith(("#", "data:", "https://"))]  # https: references
    assert local, "the report links its notebooks and figures"
    missing = [link for link in local if not (reports / link.split("#")[0]).is_file()]
    assert not missing, f"unresolved links: {missing}"
    assert any(link.startswith("figures/") for link in local) and "api/index.html" in local


def test_slides_open_offline(built):
    reports, _, _ = built
    text = (reports / "slides.html").read_text()
    deck = _parse(reports / "slides.html")
    assert 12 <= deck.sections <= 20  # a talk of 15-20 minutes: wide and tall figures have slides of their own
    # the export slides show the report's slide-sized copies of 08's figure (large values), not the page figure
    from mammo_utils.reporting.slide_figures import EXPORT_SLIDES

    assert all((reports / "figures" / f"{stem}.png").is_file() for stem in EXPORT_SLIDES)
    assert "Export: size and latency per format" in text and "Export: parity with the Keras model" in text
    css = text[text.index("<style>") : text.index("</style>")]
    assert ".foot{font-size:2.2vh" in css  # 16 px at 1280x720: a footnote's letters stay near 14 px
    external = [link for _, link in deck.links if re.match(r"(https?:)?//", link)]
    assert not external, f"slides reach the network: {external}"
    assert all(link.startswith("data:image/") for tag, link in deck.links if tag == "img")
    assert "<script src" not in text and "<link" not in text


def test_openapi_export_and_page(built):
    reports, _, export = built
    schema = json.loads((reports / "api" / "openapi.json").read_text())
    assert {"/v1/predict", "/v1/studies", "/v1/feedback", "/health", "/ready"} <= set(schema["paths"])
    page = (reports / "api" / "index.html").read_text()
    assert "/v1/predict" in page and "<script" not in page and 'href="openapi.json"' in page
    manifest = json.loads((export / "model.json").read_text())
    ok = schema["paths"]["/v1/predict"]["post"]["responses"]["200"]["content"]["application/json"]
    example = ok["examples"]["example"]
    assert example["summary"] == "from the reported export" and example["value"]["threshold"] == manifest["threshold"]
    assert example["value"]["model"]["run_name"] == manifest["training"]["run_name"]


def test_no_figure_alt_text_carries_markup(built):
    reports, _, _ = built
    page = (reports / "final_report.html").read_text()
    alts = re.findall(r'<img [^>]*alt="([^"]*)"', page)
    assert alts and not [a for a in alts if "<" in html.unescape(a)], alts


def test_pdf_is_printed_when_chromium_is_there(built):
    _, written, _ = built
    if shutil.which("chromium") is None:
        pytest.skip("chromium not installed here (run_all.sh --setup installs it as root)")
    assert written["pdf"].read_bytes()[:5] == b"%PDF-" and written["pdf"].stat().st_size > 10_000


def test_report_refuses_without_an_export(tiny_export, tmp_path):
    from mammo_utils.reporting.build import build_reports

    cfg, _, _ = tiny_export
    with pytest.raises(FileNotFoundError, match="no exported model"):
        build_reports(cfg, tmp_path / "nothing", tmp_path / "reports", pdf=False, progress=lambda line: None)


def test_slide_images_lose_their_blank_margins_and_keep_their_content(tmp_path):
    import io

    from PIL import Image

    from mammo_utils.reporting.slides import trimmed_png

    page = Image.new("RGB", (400, 300), (255, 255, 255))
    page.paste((200, 30, 30), (100, 50, 180, 120))  # the content: an 80 x 70 block
    framed = tmp_path / "framed.png"
    page.save(framed)
    cut = Image.open(io.BytesIO(trimmed_png(framed, margin=5)))
    assert cut.size == (90, 80)
    assert cut.getpixel((45, 40)) == (200, 30, 30) and cut.getpixel((0, 0)) == (255, 255, 255)
    full = tmp_path / "full.png"
    Image.new("RGB", (50, 40), (10, 10, 10)).save(full)
    assert trimmed_png(full) == full.read_bytes()  # nothing to cut: the file as it is
