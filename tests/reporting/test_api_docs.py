"""The API section's documents: the exported OpenAPI examples come from the reported export, the readable page
shows them with what in them is illustrative, the benchmark's DICOMs are described from its record, and no
figure's ``alt`` text carries markup."""

from __future__ import annotations

import html
import json
from html.parser import HTMLParser

import pytest


class _Alts(HTMLParser):
    """Every ``<img>``'s ``alt`` as the browser reads it (entities decoded)."""

    def __init__(self):
        super().__init__()
        self.alts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.alts.append(dict(attrs)["alt"])


def alts(page: str) -> list[str]:
    parser = _Alts()
    parser.feed(page)
    return parser.alts


def _predict_example(schema: dict) -> dict:
    ok = schema["paths"]["/v1/predict"]["post"]["responses"]["200"]
    return ok["content"]["application/json"]["examples"]["example"]


def test_exported_docs_take_their_examples_from_the_reported_export(tmp_path, fake_export):
    from mammo_utils.reporting.api_docs import export_api_docs

    folder = fake_export(tmp_path / "export", detector_score=0.0101)
    schema_path, page_path = export_api_docs(tmp_path / "api", folder)
    example = _predict_example(json.loads(schema_path.read_text()))
    assert example["value"]["threshold"] == 0.255 and example["value"]["model"]["registry_version"] == "17"
    assert example["value"]["detector"]["operating_score"] == 0.0101
    page = page_path.read_text()
    assert "example (from the reported export)" in page and "run arm_tuned_s2, registry version 17" in page
    assert "&quot;threshold&quot;: 0.255" in page and "<code>ErrorDetail</code>" in page
    assert "<b>415</b>" in page and "0.58" not in page
    # the overlay is described as the service labels it, on both scoring routes
    from mammo_utils.serving.inference import HEATMAP_NOTE

    note = html.escape(HEATMAP_NOTE)
    assert "<li><code>heatmap_note</code> (string): present with the heat-map" in page
    assert "<li><code>images[].heatmap_note</code> (string)" in page and page.count(note) == 4  # 2 fields, 2 params

    plain, _ = export_api_docs(tmp_path / "plain")  # no export: said to be illustrative
    assert _predict_example(json.loads(plain.read_text()))["summary"] == "illustrative"


def _book(tmp_path, dicom: dict):
    from mammo_utils.reporting.facts import FactBook

    (tmp_path / "api_load.json").write_text(json.dumps({"dicom": dicom}))
    return FactBook(tmp_path)


def _text(markup: str) -> str:
    from mammo_utils.reporting.markup import alt_text

    return alt_text(markup)


@pytest.mark.parametrize(
    "dicom, expected",
    [
        (
            {
                "source": "synthetic 4096x3328",
                "size": "4096x3328",
                "files": 9,
                "transfer_syntaxes": {"JPEG lossless": 9},
            },
            "9 synthetic 4096x3328 DICOMs (all JPEG lossless)",
        ),
        (
            {
                "source": "synthetic 4096x3328",
                "size": "4096x3328",
                "files": 9,
                "transfer_syntaxes": {"JPEG 2000 lossless": 5, "JPEG lossless": 4},
            },
            "9 synthetic 4096x3328 DICOMs (5 JPEG 2000 lossless, 4 JPEG lossless)",
        ),
        (
            {"source": "data/real", "size": "3000x2400, 4096x3328", "files": 3, "transfer_syntaxes": {"JPEG 2000": 3}},
            "3 DICOMs of 3000x2400, 4096x3328 from data/real (all JPEG 2000)",
        ),
        ({"source": "synthetic 512x416", "size": "512x416", "files": 2}, "2 synthetic 512x416 DICOMs"),
    ],
)
def test_the_benchmarks_dicoms_are_described_from_its_record(tmp_path, dicom, expected):
    from mammo_utils.reporting.final_report import bench_dicoms

    book = _book(tmp_path, dicom)
    text = bench_dicoms(book, "api_load.json")
    assert _text(text) == expected
    assert 'data-fact="api.files"' in text  # the count is a fact of the record


def test_figure_alt_text_is_the_captions_text_without_markup(tmp_path):
    from PIL import Image

    from mammo_utils.reporting import screens, slides
    from mammo_utils.reporting.final_report import _figure

    (tmp_path / "figures").mkdir()
    for name in ("web_app.png", "monitoring.png"):
        Image.new("RGB", (40, 30), "white").save(tmp_path / "figures" / name)
    caption = "The web app, taken by <code>mammo screens</code> &amp; kept."
    figure = _figure(tmp_path, "figures/web_app.png", caption)
    assert alts(figure) == ["The web app, taken by mammo screens & kept."]
    assert "<figcaption>" + caption + "</figcaption>" in figure  # the caption keeps its markup
    page = screens.with_screens('<h2 id="limits">', tmp_path)
    slide = slides._slide("Web app <code>x</code>", figure=tmp_path / "figures" / "web_app.png")
    for alt in alts(page) + alts(slide):
        assert "<" not in alt and ">" not in alt, alt
