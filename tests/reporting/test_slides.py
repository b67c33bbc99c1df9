"""The deck's slides that carry tables: 05's choice worded as promoted or not, 06's search, the title's headline."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from mammo_utils.reporting import slides
from mammo_utils.reporting.facts import FactBook

RESULTS = Path(__file__).resolve().parents[2] / "reports" / "results"


def _plain(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html.replace("</td>", " </td>"))).strip()


def _book(tmp_path: Path, **records) -> FactBook:
    """A FactBook over ``tmp_path/reports/results`` holding ``records`` (name -> JSON) and copies of real results."""
    folder = tmp_path / "reports" / "results"
    folder.mkdir(parents=True)
    for name, record in records.items():
        if isinstance(record, str):
            shutil.copy(RESULTS / record, folder / record)
        else:
            (folder / f"{name}.json").write_text(json.dumps(record))
    return FactBook(tmp_path)


def _transfer(moved: bool, low: float) -> dict:
    pairs = [{"pair (val)": "ImageNet − baseline", "low": low, "high": 0.05, "runs_a": 3, "runs_b": 3}]
    return {"chosen": "ImageNet", "champion_moved": moved, "champion_arm": "ImageNet" if moved else "baseline",
            "paired_validation": pairs}  # fmt: skip


def test_a_best_mean_that_did_not_take_the_alias_is_not_called_chosen(tmp_path):
    record = _transfer(moved=False, low=-0.03)
    book = _book(tmp_path, **{"05_transfer": record})
    head = _plain(
        slides._chosen_head(book, f"{book.results}/05_transfer.json", "ImageNet", record["paired_validation"])
    )
    assert head.startswith("Best validation mean: ImageNet, not promoted")
    assert "paired validation test against baseline inconclusive" in head and "stayed with 04's baseline run" in head
    assert "Chosen on validation" not in head


def test_a_promoted_arm_is_chosen_on_validation(tmp_path):
    record = _transfer(moved=True, low=0.01)
    book = _book(tmp_path, **{"05_transfer": record})
    head = _plain(
        slides._chosen_head(book, f"{book.results}/05_transfer.json", "ImageNet", record["paired_validation"])
    )
    assert head.startswith("Chosen on validation: ImageNet") and "moved to it" in head


def test_search_slide_is_a_table_with_its_criterion_in_the_footnote(tmp_path):
    if not (RESULTS / "06_tuning.json").is_file():
        pytest.skip("no 06 results in reports/results")
    record = json.loads((RESULTS / "06_tuning.json").read_text())
    book = _book(tmp_path, **{"06_tuning": "06_tuning.json"})
    table = slides.search_conclusion(book)
    assert table.startswith("<table>") and table.count("<tr>") == 3 + bool(record.get("paired_test"))
    assert f"{record['trials']} trials, ranked on {record['objective_name']}" in _plain(table)
    assert "<li>" not in table and "declared" not in table  # the long clause is the footnote's
    assert "Criterion" in slides.search_note(book) and slides.search_note(_book(tmp_path / "none")) == ""


def test_title_slide_headline_reads_the_champion_and_the_detector(tmp_path):
    if not all((RESULTS / n).is_file() for n in ("champion_eval.json", "07_detection.json")):
        pytest.skip("no champion or 07 results in reports/results")
    book = _book(tmp_path, **{"c": "champion_eval.json", "d": "07_detection.json"})
    table = slides.key_results(book, f"{book.results}/07_detection.json")
    champion = json.loads((RESULTS / "champion_eval.json").read_text())["test_breast_ci"]["roc_auc"]
    detector = json.loads((RESULTS / "07_detection.json").read_text())
    text = _plain(table)
    assert f"test breast ROC-AUC {champion['value']:.3f} [{champion['low']:.3f}, {champion['high']:.3f}]" in text
    assert f"mAP@0.5 {detector['map50']:.3f} [{detector['map50_ci'][0]:.3f}, {detector['map50_ci'][1]:.3f}]" in text
    assert slides.key_results(_book(tmp_path / "none"), "none.json") == ""


def test_transfer_rows_are_short_labels_with_the_verdict():
    from mammo_utils.reporting.slides import _pair_label

    assert _pair_label(-0.03, 0.05, "eff ImageNet", "baseline") == "eff ImageNet − baseline: no difference shown"
    assert _pair_label(0.27, 0.45, "eff ImageNet", "eff random init") == "ImageNet − random init: ImageNet higher"
    assert _pair_label(-0.4, -0.1, "a", "b") == "a − b: a lower"
