"""What the generated documents say: every sentence has a computation or a reference behind it.

Strict JSON (no bare NaN, a reason for each missing value), the operating point at 90% specificity with its count
and Wilson interval, the screening-prevalence translation, how often the test split was scored, subgroup tests
(Fisher + Holm) instead of an uncomputed claim, no hard-coded sizes in the prose, the real-RSNA column's origin,
FROC only inside its measured range, the export facts, references that resolve, and the slides' conclusions.
"""

from __future__ import annotations

import ast
import html
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
REPORTING = REPO / "mammo_utils" / "reporting"


def _strict(text: str):
    def refuse(name):
        raise ValueError(f"bare {name} in JSON")

    return json.loads(text, parse_constant=refuse)


# --- 1. strict JSON ------------------------------------------------------------------------------------------------
def test_results_are_written_as_strict_json_with_reasons(tmp_path):
    from mammo_utils.utils import save_results

    payload = {"summary": [{"variant": "a", "val AUC sd": np.float64("nan")}], "auc": float("inf"), "ok": 1.5}
    path = save_results("x", payload, tmp_path)
    data = _strict(path.read_text())
    assert data["summary"][0]["val AUC sd"] is None and data["auc"] is None and data["ok"] == 1.5
    assert data["missing"]["summary.0.val AUC sd"].startswith("one seed: no spread")
    assert "one class only" in data["missing"]["auc"]


def test_results_name_the_build_of_the_work_folder_until_a_rebuild_removes_it(tmp_path, monkeypatch):
    from mammo_utils.utils import BUILD_FILE, build_identity, save_results

    work = tmp_path / "work"
    monkeypatch.setenv("MAMMO_WORK", str(work))
    first = json.loads(save_results("04_baseline", {"auc": 0.9}, tmp_path).read_text())["build"]
    again = json.loads(save_results("05_transfer", {"auc": 0.8}, tmp_path).read_text())["build"]
    assert first["id"] == again["id"] == build_identity()["id"] and len(first["id"]) == 12
    assert first["written_at"].endswith("Z") and (work / BUILD_FILE).is_file()
    (work / BUILD_FILE).unlink()  # what a full rebuild does with the reports store
    assert json.loads(save_results("04_baseline", {"auc": 0.9}, tmp_path).read_text())["build"]["id"] != first["id"]


def test_fact_book_json_is_strict_and_says_why(tmp_path):
    from mammo_utils.reporting.facts import FactBook
    from mammo_utils.utils import save_results

    save_results("05_transfer", {"summary": [{"val AUC sd": float("nan")}]}, tmp_path / "reports" / "results")
    book = FactBook(tmp_path)
    assert book.get("sd", "reports/results/05_transfer.json#summary.0.val AUC sd").text == "n/a"
    facts = _strict(book.to_json())
    assert facts[0]["value"] is None and facts[0]["missing"].startswith("one seed")


def test_no_json_writer_in_the_package_allows_nan():
    """Every ``json.dump(s)`` in the package is strict, or hashes/keys nothing a reader parses (listed)."""
    hashes = {("modeling/tune.py", "digest"), ("modeling/run_state.py", "sha256")}
    loose = []
    for path in sorted((REPO / "mammo_utils").rglob("*.py")):
        rel = path.relative_to(REPO / "mammo_utils").as_posix()
        source = path.read_text()
        for node in ast.walk(ast.parse(source)):
            call = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            if not call or node.func.attr not in ("dump", "dumps") or getattr(node.func.value, "id", None) != "json":
                continue
            strict = any(k.arg == "allow_nan" and getattr(k.value, "value", True) is False for k in node.keywords)
            line = source.splitlines()[node.lineno - 1]
            if not strict and not any(rel == f and word in line for f, word in hashes):
                loose.append(f"{rel}:{node.lineno}")
    assert not loose, f"json.dump(s) without allow_nan=False (use mammo_utils.utils.to_json): {loose}"


def test_built_documents_and_results_are_strict_json(built):
    """What ``mammo report`` writes is strict JSON (the notebooks' results files are rewritten by their next run,
    through the same writer, :func:`test_results_are_written_as_strict_json_with_reasons`)."""
    reports, _, _ = built
    for path in (reports / "results" / "champion_eval.json", reports / "report_facts.json"):
        _strict(path.read_text())
    for fact in json.loads((reports / "report_facts.json").read_text()):
        if fact["value"] is None:
            assert fact.get("missing"), f"{fact['key']} is null without a reason"


# --- 2. sensitivity at 90% specificity -----------------------------------------------------------------------------
def test_operating_point_at_specificity_counts():
    from mammo_utils.evaluation.metrics import sensitivity_at_specificity
    from mammo_utils.reporting.champion import operating_point_at_specificity

    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(40, int), np.ones(12, int)]
    s = np.r_[rng.uniform(0, 0.7, 40), rng.uniform(0.3, 1, 12)]
    op = operating_point_at_specificity(y, s, 0.9)
    assert op["n"] == 12 and op["specificity"] >= 0.9
    assert op["sensitivity"] == pytest.approx(op["k"] / 12) == pytest.approx(sensitivity_at_specificity(y, s, 0.9))
    assert op["negatives_cleared"] == int(np.sum(s[y == 0] < op["threshold"]))


def test_report_shows_sensitivity_at_90_specificity(built):
    reports, _, _ = built
    op = json.loads((reports / "results" / "champion_eval.json").read_text())["sensitivity_at_specificity"]
    page = (reports / "final_report.html").read_text()
    assert "Sensitivity at 90% specificity" in page
    assert 'data-fact="op.k" title="source: ' in page and f">{op['k']:,}</span>" in page
    baseline = json.loads((REPO / "reports" / "results" / "04_baseline.json").read_text())
    k = round(baseline["test_breast_ci"]["sens_at_spec"]["value"] * baseline["test_counts"]["positives"])
    assert f"{k} of {baseline['test_counts']['positives']} (95% patient-bootstrap interval" in page
    # one metric, one interval: the report quotes the champion's bootstrap interval, as 04-06 show it
    ci = json.loads((reports / "results" / "champion_eval.json").read_text())["test_breast_ci"]["sens_at_spec"]
    assert (op["low"], op["high"]) == pytest.approx((ci["low"], ci["high"]))
    assert "Wilson 95% interval" not in page.split("Sensitivity at 90% specificity")[1][:2000]


# --- 3. how often the test split was scored ------------------------------------------------------------------------
def test_report_counts_the_test_scorings_and_never_says_once(built):
    reports, _, _ = built
    results = reports / "results"

    def load(name):
        return json.loads((results / f"{name}.json").read_text())

    expected = (
        len(load("04_baseline")["seeds"]["runs"])
        + len(load("05_transfer")["runs"])
        + sum(a["seeds"] for a in load("06_tuning")["arms"])
        + load("07_detection")["seeds"]["n"]
        + len(load("08_export")["formats"])
        + ("gradcam_pointing" in load("07_detection"))  # the champion's Grad-CAM on the test lesions
        + len(load("07_detection").get("gradcam_seeds", {}).get("other_seeds", []))  # its arm's other seeds' Grad-CAM
        + ("drift" in load("08_export"))  # the champion's test scores in 08's drift check
        + 1  # the report's own champion evaluation
    )
    page = re.sub(r"<[^>]+>", "", (reports / "final_report.html").read_text())  # the words read
    assert f"It was not scored once: {expected} test scorings are recorded" in page
    for doc in ("final_report.html", "model_card.md", "slides.html"):
        text = (reports / doc).read_text().lower()
        assert "scored once" not in text.replace("not scored once", "")


# --- 4. subgroup tests ---------------------------------------------------------------------------------------------
def test_subgroup_tests_are_fisher_with_holm():
    from scipy.stats import fisher_exact

    from mammo_utils.evaluation.subgroups import holm, subgroup_tests

    rows = []
    for patient in range(40):
        site = 1 if patient < 20 else 2
        cancer = int(patient % 4 == 0)
        pred = (0.9 if cancer else 0.1) if site == 1 else 0.6
        rows.append({"patient_id": patient, "laterality": "L", "cancer": cancer, "prediction": pred, "site_id": site})
    tests = subgroup_tests(pd.DataFrame(rows), 0.5, ["site_id"])
    spec = next(t for t in tests if t["group"] == "1" and t["rate"] == "specificity")
    assert (spec["k"], spec["n"], spec["rest_k"], spec["rest_n"]) == (15, 15, 0, 15)
    assert spec["p_value"] == pytest.approx(fisher_exact([[15, 0], [0, 15]]).pvalue)
    assert [t["p_holm"] for t in tests] == pytest.approx(holm([t["p_value"] for t in tests]).tolist())
    assert spec["different"]
    assert holm([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.03, 0.06, 0.06])


def test_model_card_prints_the_subgroup_tests_not_an_uncomputed_claim(built):
    reports, _, _ = built
    card = (reports / "model_card.md").read_text()
    assert "not significant at these sizes" not in card
    tests = json.loads((reports / "results" / "champion_eval.json").read_text())["subgroup_tests"]
    assert "| attribute | group | rate | group k/n (patients) | rest k/n (patients) | Fisher p | Holm p |" in card
    assert all(t["unit"] == "patients" for t in tests)
    assert card.count("| site | ") + card.count("| machine | ") >= sum(
        t["attribute"] in ("site_id", "machine_id") for t in tests
    )
    assert "Holm's correction" in card
    # every subgroup AUC cell follows one rule: a dash with fewer than MIN_AUC_INTERVAL breasts of a class, a marked
    # dash when the interval has zero width, else the AUC with its interval; each mark explained once
    from mammo_utils.evaluation.subgroups import MIN_AUC_INTERVAL
    from mammo_utils.reporting.model_card import NO_AUC, SUBGROUP_LABELS, ZERO_WIDTH

    recorded = json.loads((reports / "results" / "champion_eval.json").read_text())["subgroups"]
    expected = [r for column in SUBGROUP_LABELS for r in recorded[column]]
    rows = [line.split(" | ") for line in card.splitlines() if re.match(r"\| [^|]+ \| \d+ \| \d+ \| ", line)]
    assert len(rows) == len(expected)
    for cells, row in zip(rows, expected):
        few = min(row["cancers"], row["breasts"] - row["cancers"]) < MIN_AUC_INTERVAL
        zero = not few and row["roc_auc_low"] is not None and row["roc_auc_low"] == row["roc_auc_high"]
        interval = r"\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]"
        assert re.fullmatch(NO_AUC if few else NO_AUC + ZERO_WIDTH if zero else interval, cells[3]), (cells, row)
    for cell, note in ((NO_AUC, f"{NO_AUC} no ROC-AUC: fewer than"), (NO_AUC + ZERO_WIDTH, f"{NO_AUC}{ZERO_WIDTH} no")):
        assert card.count(note) == any(r[3] == cell for r in rows)


def test_subgroups_that_differ_reach_the_limitations_and_the_model_card_caveats(tmp_path):
    from mammo_utils.reporting.facts import FactBook
    from mammo_utils.reporting.final_report import section_limits_roadmap
    from mammo_utils.reporting.model_card import subgroup_flags

    def test(group, k, n, different, p_holm):
        return {"attribute": "machine_id", "group": group, "rate": "sensitivity", "k": k, "n": n, "rest_k": 50,
                "rest_n": 53, "p_value": p_holm / 4, "p_holm": p_holm, "different": different}  # fmt: skip

    results = tmp_path / "reports" / "results"
    results.mkdir(parents=True)
    (results / "04_baseline.json").write_text(json.dumps({"subgroup_tests": [test("29", 2, 7, True, 0.0043)]}))
    (results / "champion_eval.json").write_text(json.dumps({"subgroup_tests": [test("29", 6, 7, False, 1.0)] * 3}))
    book = FactBook(tmp_path)
    text = subgroup_flags(
        book, {"04": f"{book.results}/04_baseline.json", "champion": f"{book.results}/champion_eval.json"}, book.md
    )
    assert text == (
        "04 (1 tests over machine, counted in breasts, one Holm family): machine 29, sensitivity 2/7 against 50/53 "
        "for the rest (the group's 29% [8%, 64%], Wilson 95%; Holm p 0.0043); champion (3 tests over machine, "
        "counted in breasts, one Holm family): none differs"
    )
    limits = section_limits_roadmap(book)
    assert "<b>Subgroups.</b>" in limits and "machine 29, sensitivity" in limits
    (results / "04_baseline.json").write_text(json.dumps({}))  # not recorded: that model is left out, not invented
    assert subgroup_flags(book, {"04": f"{book.results}/04_baseline.json"}, book.md) == ""


def _recorded_test(group, rate, k, n, different, p_holm):
    return {"attribute": "machine_id", "group": group, "rate": rate, "k": k, "n": n, "rest_k": 40, "rest_n": 42,
            "p_value": p_holm / 4, "p_holm": p_holm, "different": different, "unit": "patients"}  # fmt: skip


def _replicated(group, rate, flagged_in):
    return {"attribute": "machine_id", "group": group, "rate": rate, "flagged_in": flagged_in, "tested_in": 3,
            "seeds": 3, "flagged_seeds": list(range(flagged_in)), "unit": "patients"}  # fmt: skip


def test_the_card_says_in_how_many_seeds_a_subgroup_flag_repeats(tmp_path):
    from mammo_utils.reporting.facts import FactBook
    from mammo_utils.reporting.model_card import subgroup_flags, subgroup_tests_md

    results = tmp_path / "reports" / "results"
    results.mkdir(parents=True)
    tests = [
        _recorded_test("29", "sensitivity", 2, 7, True, 0.0043),
        _recorded_test("48", "specificity", 9, 10, False, 1),
    ]
    seeds = [
        _replicated("29", "sensitivity", 1),
        _replicated("48", "specificity", 2),
        _replicated("7", "sensitivity", 0),
    ]
    (results / "champion_eval.json").write_text(
        json.dumps({"subgroup_tests": tests, "subgroup_replication": {"arm": "tuned", "tests": seeds}})
    )
    (results / "04_baseline.json").write_text(
        json.dumps({"subgroup_tests": tests[1:], "subgroup_replication": {"arm": "baseline", "tests": seeds[2:]}})
    )
    book = FactBook(tmp_path)
    src = f"{book.results}/champion_eval.json"
    text = subgroup_flags(book, {"champion": src, "04": f"{book.results}/04_baseline.json"}, book.md)
    assert text == (
        "champion (2 tests over machine, counted in patients, one Holm family): machine 29, sensitivity 2/7 against "
        "40/42 for the rest (the group's 29% [8%, 64%], Wilson 95%; Holm p 0.0043; flagged in 1 of 3 seeds of its "
        "arm); flagged only by other seeds of its arm: machine 48, specificity (2 of 3 seeds); "
        "04 (1 tests over machine, counted in patients, one Holm family): none differs, nor in any of its arm's 3 seeds"
    )
    table = subgroup_tests_md(book, src)
    assert "| attribute | group | rate | group k/n (patients) | rest k/n (patients) |" in table
    assert "| machine | 29 | sensitivity | 2/7 | 40/42 | 0.001 | 0.004 | yes | 1/3 |" in table
    assert "each seed of the champion's arm (tuned)" in table and "all other test patients" in table
    (results / "champion_eval.json").write_text(json.dumps({"subgroup_tests": tests}))  # no seeds recorded
    plain = subgroup_tests_md(FactBook(tmp_path), src)
    assert "seeds of its arm flagging it" not in plain and "| yes |" in plain


def _subgroup_row(group, breasts, cancers, low, high, auc=1.0, column="machine_id"):
    return {column: group, "breasts": breasts, "cancers": cancers, "roc_auc": auc, "roc_auc_low": low,
            "roc_auc_high": high, "sensitivity": 0.5, "sensitivity_low": 0.2, "sensitivity_high": 0.8,
            "specificity": 0.9, "specificity_low": 0.8, "specificity_high": 0.95}  # fmt: skip


def test_subgroup_auc_cells_follow_one_rule(tmp_path):
    """Fewer than MIN_AUC_INTERVAL breasts of either class: a dash; an interval of zero width: a marked dash, its note
    naming the group with its counts; otherwise the AUC with its interval; the marks are explained once under all
    the tables."""
    from mammo_utils.evaluation.subgroups import MIN_AUC_INTERVAL
    from mammo_utils.reporting.facts import FactBook
    from mammo_utils.reporting.model_card import NO_AUC, SUBGROUP_LABELS, ZERO_WIDTH, subgroup_tables_md

    few = MIN_AUC_INTERVAL - 1
    rows = [
        _subgroup_row(29, 40, 8, 1.0, 1.0),  # perfectly ranked: every resample 1.0
        _subgroup_row(48, 40, 2, None, None),  # 2 cancers: too few, even though ranked right
        _subgroup_row(49, 40, 10, 0.81, 0.97, auc=0.9),
        _subgroup_row(50, MIN_AUC_INTERVAL + few, MIN_AUC_INTERVAL, None, None),  # too few without cancer
        _subgroup_row(51, 2 * MIN_AUC_INTERVAL, MIN_AUC_INTERVAL, 0.7, 0.9, auc=0.8),  # exactly enough of both
    ]
    results = tmp_path / "reports" / "results"
    results.mkdir(parents=True)
    subgroups = {c: [{**r, c: r["machine_id"]} for r in rows] for c in SUBGROUP_LABELS}
    (results / "champion_eval.json").write_text(json.dumps({"subgroups": subgroups}))
    book = FactBook(tmp_path)
    text = subgroup_tables_md(book, f"{book.results}/champion_eval.json")
    table = text.split("\n\n")[1]  # the machine table
    assert f"| 29 | 40 | 8 | {NO_AUC}{ZERO_WIDTH} |" in table and "[1.000, 1.000]" not in text
    assert f"| 48 | 40 | 2 | {NO_AUC} |" in table and "ranked right" not in text
    assert "| 49 | 40 | 10 | 0.900 [0.810, 0.970] |" in table
    assert f"| 50 | {MIN_AUC_INTERVAL + few} | {MIN_AUC_INTERVAL} | {NO_AUC} |" in table
    assert f"| 51 | {2 * MIN_AUC_INTERVAL} | {MIN_AUC_INTERVAL} | 0.800 [0.700, 0.900] |" in table
    assert text.count(f"{NO_AUC} no ROC-AUC: fewer than {MIN_AUC_INTERVAL} breasts of a class") == 1
    note = next(line for line in text.splitlines() if line.startswith(NO_AUC + ZERO_WIDTH))
    assert "zero width" in note and "not informative at this size" in note
    # one entry per marked group and attribute, its counts computed from the row: 8 cancers, 40 - 8 others
    assert note.count("all 8 cancer breasts score above all 32 others (AUC 1.000)") == len(SUBGROUP_LABELS)
    assert "machine 29: all 8" in note and "age band 29: all 8" in note and "machine 49" not in note
    plain = {c: [{**rows[2], c: 49}] for c in SUBGROUP_LABELS}  # nothing marked: no note on marks
    (results / "champion_eval.json").write_text(json.dumps({"subgroups": plain}))
    book = FactBook(tmp_path)
    text = subgroup_tables_md(book, f"{book.results}/champion_eval.json")
    assert "no ROC-AUC" not in text and "zero width" not in text


def _recipe(**changes):
    recipe = {"weights": None, "epochs": 2, "finetune_epochs": 8, "batch_size": 16, "learning_rate": 0.0015,
              "finetune_lr": 0.001, "lr_schedule": "cosine", "pooling": "gem", "dropout": 0.1, "pos_ratio": 0.1,
              "loss": "bce", "augment_strength": 0.0, "freeze_bn": False}  # fmt: skip
    return {**recipe, **changes}


def _baseline_arch(**changes):
    arch = {"kind": "from-scratch CNN", "backbone": "baseline", "pretrained": False, "pooling": "gem", "dropout": 0.1,
            "output": "sigmoid", "parameters": 295314, "blocks": 4, "convs_per_block": 2, "kernel": 3,
            "filters": [16, 32, 64, 128], "block_pool": 2}  # fmt: skip
    return {**arch, **changes}


def _card_book(tmp_path, model: dict, **extra):
    from mammo_utils.reporting.facts import FactBook

    results = tmp_path / "reports" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "champion_eval.json").write_text(json.dumps({"model": model, **extra}))
    book = FactBook(tmp_path)
    return book, f"{book.results}/champion_eval.json"


def test_the_architecture_is_printed_from_its_record_or_said_missing(tmp_path):
    from mammo_utils.reporting.card_details import architecture_text

    book, src = _card_book(tmp_path, {"backbone": "baseline", "architecture": _baseline_arch()})
    assert architecture_text(book, src) == (
        "from-scratch CNN: 4 blocks of 2 conv-BN-ReLU layers (3x3 kernels) and a 2x2 max-pool, with 16, 32, 64 and "
        "128 filters; GeM pooling, dropout 0.1, one sigmoid unit; 295,314 parameters"
    )
    assert book.facts["card.arch.parameters"].source == src + "#model.architecture.parameters"
    transfer = {"kind": "transfer", "backbone": "efficientnet_lite0", "pretrained": True, "pooling": "avg",
                "dropout": 0.0, "output": "sigmoid", "parameters": 3_400_000}  # fmt: skip
    book, src = _card_book(tmp_path, {"architecture": transfer, "recipe": _recipe(weights="imagenet")})
    text = architecture_text(book, src)
    assert text.startswith("`efficientnet_lite0` backbone with pretrained weights (imagenet)")
    assert "global average pooling, no dropout, one sigmoid unit; 3,400,000 parameters" in text
    book, src = _card_book(tmp_path, {"backbone": "baseline"})  # an older record: says what is missing
    assert architecture_text(book, src).startswith("`baseline` (this evaluation records no layer structure")


def test_the_recipe_prints_each_setting_once_and_only_those_that_apply(tmp_path):
    from mammo_utils.reporting.card_details import recipe_line

    book, src = _card_book(tmp_path, {"architecture": _baseline_arch(), "recipe": _recipe()})
    line = recipe_line(book, src)
    assert line == (
        "- Training recipe (from the run's configuration): random initialisation; at most 10 epochs on the whole "
        "network at learning rate 0.0015: without pretrained weights there is no head-only stage, so the trainer runs "
        "the recipe's `epochs` (2) and `finetune_epochs` (8) as one stage and leaves `finetune_lr` unused; "
        "learning-rate schedule `cosine` (the trainer ramps the rate up linearly over the first steps, then decays it "
        "along a cosine); batch size 16; 10% cancer images per batch (balanced sampling); binary cross-entropy loss; "
        "augmentation strength 0 (none).\n"
    )
    assert "freeze" not in line and "0.001;" not in line and line.count("random") == 1  # no fine-tuning settings
    pretrained = _baseline_arch(kind="transfer", pretrained=True)
    recipe = _recipe(weights="imagenet", freeze_bn=True, augment_strength=0.5)
    book, src = _card_book(tmp_path, {"architecture": pretrained, "recipe": recipe})
    line = recipe_line(book, src)
    assert line.startswith("- Training recipe (from the run's configuration): initialised from imagenet; 2 epochs on "
                           "the head at learning rate 0.0015, then 8 on everything at 0.001 with the backbone's "
                           "batch-norm statistics frozen;")  # fmt: skip
    assert line.count("augmentation strength 0.5") == 1 and "(none)" not in line and "pooling" not in line
    book, src = _card_book(tmp_path, {"recipe": _recipe()})  # no architecture recorded: the head goes here
    assert "pooling gem; dropout 0.1." in recipe_line(book, src)
    book, src = _card_book(tmp_path, {"architecture": _baseline_arch(), "recipe": _recipe(epochs=1, finetune_epochs=0)})
    line = recipe_line(book, src)
    assert "; at most 1 epoch on the whole network" in line and "`epochs` (1) and `finetune_epochs` (0)" in line
    book, src = _card_book(tmp_path, {"architecture": _baseline_arch(), "recipe": _recipe(lr_schedule="step")})
    assert "; learning-rate schedule `step`; " in recipe_line(book, src)  # no words for it: the recorded value only


def test_files_read_collects_what_was_read_even_as_a_known_fact(tmp_path):
    from mammo_utils.reporting.facts import files_read, has_source

    book, src = _card_book(tmp_path, {"runtime": "onnx"})
    book.md("other.runtime", src + "#model.runtime", "str")  # read earlier, by another document
    with files_read() as read:
        assert book.md("other.runtime", src + "#model.runtime", "str") == "onnx"  # cached: still a read
        assert not has_source(book, "reports/results/absent.json#key")  # no such file: nothing was read
    assert read == {src}
    with files_read() as outer, files_read() as inner:
        has_source(book, src + "#model.missing_key")  # the file was opened, the key is absent
    assert outer == inner == {src}


def test_the_served_runtime_carries_08s_parity_and_08_becomes_a_source(tmp_path):
    from mammo_utils.reporting.facts import files_read
    from mammo_utils.reporting.model_card import served_parity

    book, src = _card_book(tmp_path, {"runtime": "onnx"})
    assert served_parity(book, src) == ""  # 08 not recorded: nothing claimed
    parity = {"reference": "keras", "split": "validation", "images": 277,
              "onnx": {"max_abs_diff": 9.5e-07, "flipped_breasts": 0, "breasts": 120}}  # fmt: skip
    (tmp_path / "reports" / "results" / "08_export.json").write_text(json.dumps({"parity": parity}))
    book, src = _card_book(tmp_path, {"runtime": "onnx"})
    with files_read() as read:
        text = served_parity(book, src)
    assert text == (
        " (08's export gate: on the 277 validation images its probabilities differ from the reference (keras) "
        "model's by at most 9.5e-07, and 0 of 120 breast decisions change)"
    )
    assert read == {src, f"{book.results}/08_export.json"}
    book, src = _card_book(tmp_path, {"runtime": "keras"})  # the reference itself: no comparison
    assert served_parity(book, src) == ""


def test_training_data_gives_the_training_and_validation_folds(tmp_path):
    from mammo_utils.reporting.card_details import training_data_text

    counts = {"fold": 1, "train": {"images": 900, "patients": 192, "breasts": 384, "cancer_breasts": 96},
              "validation": {"images": 210, "patients": 48, "breasts": 96, "cancer_breasts": 24}}  # fmt: skip
    book, src = _card_book(tmp_path, {}, split_counts=counts)
    assert training_data_text(book, src, "the set") == (
        "Trained on the training folds of the set: 900 images of 192 patients (384 breasts, 96 with cancer). The "
        "checkpoint and the decision threshold were chosen on validation fold 1: 210 images of 48 patients (96 "
        "breasts, 24 with cancer)."
    )
    book, src = _card_book(tmp_path, {})
    assert "not recorded in this champion evaluation" in training_data_text(book, src, "the set")


def test_the_real_train_csv_is_named_and_checksummed_never_shown_by_its_path(tmp_path):
    import hashlib

    from mammo_utils.reporting.facts import FactBook
    from mammo_utils.reporting.final_report import section_data

    frame = pd.DataFrame({"patient_id": [1, 1], "laterality": ["L", "R"], "cancer": [0, 1], "site_id": [1, 1],
                          "machine_id": [2, 2], "implant": [0, 0], "age": [50, 50]})  # fmt: skip
    (tmp_path / "private-copy").mkdir()
    frame.to_csv(tmp_path / "private-copy" / "train.csv", index=False)
    frame.to_csv(tmp_path / "train.csv", index=False)
    digest = hashlib.sha256((tmp_path / "private-copy" / "train.csv").read_bytes()).hexdigest()
    book = FactBook(tmp_path)
    page = section_data(book, "private-copy/train.csv", "train.csv")
    assert "private-copy" not in page
    assert f'title="source: Kaggle RSNA competition train.csv, SHA-256 {digest[:12]}#images"' in page
    assert "competition's <code>train.csv</code> [ref:rsna-competition]" in page and f">{digest[:12]}</span>" in page
    assert book.facts["real.sha256"].value == digest
    assert book.facts["real.images"].source == "private-copy/train.csv#images"  # re-read here from this path
    listed = {f["key"]: f for f in json.loads(book.to_json())}
    # report_facts.json publishes the SHA-256 label only, never this machine's path
    assert listed["real.images"]["source"] == f"Kaggle RSNA competition train.csv, SHA-256 {digest[:12]}#images"
    assert "private-copy" not in book.to_json() and listed["real.sha256"]["value"] == digest
    assert listed["embedded.images"]["source"] == "train.csv#images"  # a project file keeps its path
    assert book.source_files() == sorted([f"Kaggle RSNA competition train.csv, SHA-256 {digest[:12]}", "train.csv"])


def test_the_champion_takes_the_seed_tests_06_recorded_for_its_own_arm(tmp_path):
    from mammo_utils.evaluation.subgroups import SUBGROUP_COLUMNS
    from mammo_utils.reporting.champion import interval_reasons, recorded_replication
    from mammo_utils.utils import save_results

    record = {"arm": "tuned", "runs": ["arm_tuned_s0", "arm_tuned_s1"], "seeds": [0, 1],
              "columns": list(SUBGROUP_COLUMNS), "tests": [_replicated("29", "sensitivity", 1)]}  # fmt: skip
    assert recorded_replication(tmp_path, "arm_tuned_s1", SUBGROUP_COLUMNS) is None  # 06 has not run
    save_results("06_tuning", {"champion_subgroup_replication": record}, tmp_path)
    got = recorded_replication(tmp_path, "arm_tuned_s1", SUBGROUP_COLUMNS)
    assert got["tests"] == record["tests"] and got["source"] == "06_tuning.json#champion_subgroup_replication"
    assert recorded_replication(tmp_path, "arm_baseline_s0", SUBGROUP_COLUMNS) is None  # another arm's export
    assert recorded_replication(tmp_path, "arm_tuned_s1", SUBGROUP_COLUMNS[:2]) is None  # another family
    subgroups = {"machine_id": [{"roc_auc_missing": None}, {"roc_auc_missing": "2 breast(s) of the rarer class"}]}
    reasons = interval_reasons(subgroups)
    assert reasons == {"subgroups.machine_id.1.roc_auc_low": "2 breast(s) of the rarer class",
                       "subgroups.machine_id.1.roc_auc_high": "2 breast(s) of the rarer class"}  # fmt: skip
    path = save_results("x", {"subgroups": {"machine_id": [{"roc_auc_low": float("nan")}]},
                              "missing": {"subgroups.machine_id.0.roc_auc_low": "why"}}, tmp_path)  # fmt: skip
    assert json.loads(path.read_text())["missing"] == {"subgroups.machine_id.0.roc_auc_low": "why"}


# --- 5. fixed prose ------------------------------------------------------------------------------------------------
def test_reporting_prose_has_no_hard_coded_sizes_or_false_claims():
    for path in REPORTING.glob("*.py"):
        text = path.read_text()
        assert not re.search(r"\b\d{2,4}x\d{2,4}\b", text), f"{path.name}: a hard-coded image size"
        assert "already runs per site" not in text


def test_synthetic_wording_follows_the_data(tmp_path):
    from mammo_utils.reporting.facts import FactBook
    from mammo_utils.reporting.final_report import section_data, section_limits_roadmap

    pd.DataFrame(
        {"patient_id": [1, 1], "laterality": ["L", "R"], "cancer": [0, 1], "site_id": [1, 1], "machine_id": [2, 2],
         "implant": [0, 0], "age": [50, 50]}
    ).to_csv(tmp_path / "train.csv", index=False)  # fmt: skip
    book = FactBook(tmp_path)
    real_data = section_data(book, None, "train.csv", synthetic=False) + section_limits_roadmap(book, synthetic=False)
    assert "synthetic" not in real_data.lower()
    assert "embedded synthetic set" in section_data(book, None, "train.csv", synthetic=True)


# --- 6. prevalence translation -------------------------------------------------------------------------------------
def test_screening_translation_is_bayes():
    from mammo_utils.evaluation.screening import screening_translation

    at = screening_translation(0.8, 0.95, 0.02)
    assert at["ppv"] == pytest.approx(0.8 * 0.02 / (0.8 * 0.02 + 0.05 * 0.98))
    assert at["recalls_per_1000"] == pytest.approx(1000 * (0.8 * 0.02 + 0.05 * 0.98))


def test_report_translates_precision_to_screening_prevalence(built):
    from mammo_utils.evaluation.screening import screening_translation
    from mammo_utils.reporting.evidence import FALLBACK_PREVALENCE

    reports, _, _ = built
    ci = json.loads((reports / "results" / "champion_eval.json").read_text())["test_breast_ci"]
    facts = {f["key"]: f for f in json.loads((reports / "report_facts.json").read_text())}
    real = facts.get("real.cancer_breast_rate")
    prevalence = real["value"] if real else FALLBACK_PREVALENCE
    at = screening_translation(ci["recall"]["value"], ci["specificity"]["value"], prevalence)
    raw = (reports / "final_report.html").read_text()
    page = re.sub(r"<[^>]+>", "", raw)
    assert f"point values: {at['recalls_per_1000']:.1f} recalls per 1,000 screened breasts" in page
    assert 'title="computed: Bayes, from results/champion_eval.json' in raw  # hovered, it says how it was computed
    assert f"PPV {at['ppv']:.1%}; PPV = sens·p" in page
    # the range at the ends of the two intervals comes first (a specificity of 1.000 cannot pin down a rate)
    low = screening_translation(ci["recall"]["low"], ci["specificity"]["high"], prevalence)["recalls_per_1000"]
    high = screening_translation(ci["recall"]["high"], ci["specificity"]["low"], prevalence)["recalls_per_1000"]
    assert f"would recall between {low:.0f} and {high:.0f} of every 1,000 screened breasts" in page


# --- 7. real RSNA column -------------------------------------------------------------------------------------------
def test_real_rsna_column_is_absent_cleanly_and_says_where_it_comes_from(tmp_path):
    from mammo_utils.reporting.facts import FactBook
    from mammo_utils.reporting.final_report import section_data

    pd.DataFrame(
        {"patient_id": [1, 1], "laterality": ["L", "R"], "cancer": [0, 1], "site_id": [1, 1], "machine_id": [2, 2],
         "implant": [0, 0], "age": [50, 50]}
    ).to_csv(tmp_path / "train.csv", index=False)  # fmt: skip
    without = section_data(FactBook(tmp_path), None, "train.csv")
    assert "<th>real RSNA</th>" not in without and "not on this machine" not in without
    assert "The real RSNA column is absent" in without and "mammo download" in without
    with_real = section_data(FactBook(tmp_path), "train.csv", "train.csv")
    assert "<th>real RSNA</th>" in with_real and "Kaggle download" in with_real


# --- 8. pointing game ----------------------------------------------------------------------------------------------
def test_pointing_game_interval_on_the_page_is_the_recorded_one(built):
    reports, _, _ = built
    det = json.loads((reports / "results" / "07_detection.json").read_text())["gradcam_pointing"]
    page = (reports / "final_report.html").read_text()
    assert 'data-fact="d07.pg.hits"' in page and 'data-fact="d07.pg.low"' in page
    if det.get("interval") == "patient bootstrap":  # 07 rendered with patient resampling
        assert 'data-fact="d07.pg.patients"' in page and "Wilson 95% interval over images" not in page
    else:  # a store written before: the image-level interval, named as such
        assert "Wilson 95% interval over images" in page


def _gradcam_record(tmp_path, off_low: float = 0.41, split: bool = True) -> Path:
    """A 07 results file with patient-bootstrap Grad-CAM records and FROC resample counts, under ``tmp_path``
    (``split``: the off-breast peaks also counted on lesion and on lesion-free images)."""
    from mammo_utils.detection.gradcam_seeds import pointing_over_seeds

    boot = {"interval": "patient bootstrap", "patients": 118, "resamples": 2000}
    off = {"off": 294, "images": 556, "share": 0.5288, "low": off_low, "high": 0.6412, **boot}
    if split:  # by images with and without a lesion (07 records both since it split them)
        off["lesion"] = {"off": 60, "images": 141, "share": 0.4256, "low": 0.33, "high": 0.52, **boot}
        off["no_lesion"] = {"off": 234, "images": 415, "share": 0.5639, "low": 0.47, "high": 0.66, **boot}
    pg = {"hits": 51, "n": 141, "hit_rate": 0.3617, "hit_rate_ci": [0.27, 0.46], "chance": 0.0469, "margin": 0.3149,
          "margin_ci": [0.22, 0.41], **boot}  # fmt: skip
    runs = [{"seed": s, "run_name": f"arm_t_s{s}", "off_breast": off, **pg} for s in range(3)]
    runs[1] = {**runs[1], "margin_ci": [-0.01, 0.3]}
    record = {
        "gradcam_pointing": pg,
        "gradcam_peaks_off_breast": off,
        "gradcam_seeds": pointing_over_seeds(runs),
        "froc": {"sens@0.1fp": 0.49, "sens@0.4fp": 0.8, "sens@1fp": None},
        "froc_ci": {"sens@0.1fp": [0.42, 0.64], "sens@0.4fp": [0.73, 0.87], "sens@1fp": None},
        "froc_reached": {"sens@0.1fp": {"reached": 200, "resamples": 200},
                         "sens@0.4fp": {"reached": 163, "resamples": 200},
                         "sens@1fp": {"reached": 0, "resamples": 200}},
        "froc_max_fp_per_image": 0.45,
    }  # fmt: skip
    (tmp_path / "07.json").write_text(json.dumps(record))
    return tmp_path


def test_gradcam_prose_names_the_patient_bootstrap_and_keeps_the_counts(tmp_path):
    from mammo_utils.reporting.evidence import froc_sentence, peaks_off_breast_text
    from mammo_utils.reporting.facts import FactBook
    from mammo_utils.reporting.final_report import _pointing_interval, gradcam_seeds_html

    book = FactBook(_gradcam_record(tmp_path))
    off = peaks_off_breast_text(book, "07.json", book.html)
    plain = " ".join(html.unescape(re.sub(r"<[^>]+>", "", off)).split())
    assert "95% patient bootstrap" in off and "Wilson" not in off
    # lesion images: inside the box and off the breast; lesion-free images: off the breast, each with its interval
    assert (
        "On the 141 test images with a lesion" in plain
        and "inside the lesion box in 51 (36.2% [27.0%, 46.0%])" in plain
    )
    assert "off the breast (background or padding) in 60 (42.6% [33.0%, 52.0%])" in plain
    assert "on the 415 lesion-free images it falls off the breast in 234 (56.4% [47.0%, 66.0%])" in plain
    assert "misses the lesion box on most lesion images" in plain  # the hit rate's upper limit 46% < 50%
    (tmp_path / "older").mkdir()
    older = FactBook(_gradcam_record(tmp_path / "older", split=False))  # a record from before the split
    old_text = peaks_off_breast_text(older, "07.json", older.html)
    assert ">294<" in old_text and "lesion-free ones included" in old_text and "lesion box" not in old_text
    assert "118" in _pointing_interval(book, "07.json#gradcam_pointing")
    seeds = gradcam_seeds_html(book, "07.json")
    assert "95% patient-bootstrap interval does not lie above 0 for seed(s) 1" in seeds
    assert ">51<" in seeds and ">141<" in seeds and ">42.6%<" in seeds and ">56.4%<" in seeds  # beside each rate
    froc = froc_sentence(book, "07.json")
    assert re.sub(r"<[^>]+>", "", froc).count("resamples reach") == 2 and ">163<" in froc
    assert "reach 1 FP/image" not in froc  # a rate past the test curve: no interval, no count


def test_the_gradcam_slide_leads_with_where_the_maps_peak_by_kind_of_image_then_a_row_per_seed(tmp_path):
    from mammo_utils.reporting.facts import FactBook
    from mammo_utils.reporting.slides import gradcam_list

    record = _gradcam_record(tmp_path)
    data = json.loads((record / "07.json").read_text())
    data["gradcam_seeds"]["champion_seed"] = 2
    (record / "07.json").write_text(json.dumps(data))
    text = gradcam_list(FactBook(record), "07.json")
    plain = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())
    assert plain.startswith("On the 141 test images with a lesion")
    assert plain.index("lesion-free") < plain.index("beats chance on 2 of 3") < plain.index("margin over chance")
    assert "lower bound of the margin > 0" in plain and "Wilson" not in plain
    assert text.count("<tr>") == 4 and plain.count("(champion)") == 1 and "2 (champion)" in plain
    # each seed: the hit rate, the margin as point [low, high] and the off-breast shares, all facts
    assert plain.count("36.2% [ 27.0% , 46.0% ]") == 4 and "+0.315 [ -0.010 , +0.300 ]" in plain  # lead + 3 rows
    assert plain.count("42.6% [ 33.0% , 52.0% ]") == 4 and plain.count("56.4% [ 47.0% , 66.0% ]") == 4
    assert "52.9%" not in plain  # the share over every image, lesion-free ones included, is not the headline
    assert 'data-fact="d07.cs1.low"' in text and 'data-fact="d07.cs2.offf"' in text


# --- 9. FROC reach -------------------------------------------------------------------------------------------------
def test_froc_is_quoted_only_inside_its_measured_range(tmp_path):
    from mammo_utils.reporting.evidence import froc_sentence
    from mammo_utils.reporting.facts import FactBook

    (tmp_path / "d.json").write_text(
        json.dumps({"froc": {"sens@0.5fp": 0.7, "sens@1fp": None, "sens@2fp": None}, "froc_max_fp_per_image": 0.6})
    )
    book = FactBook(tmp_path)
    text = froc_sentence(book, "d.json")
    assert "not reached at 1, 2 FP/image" in text and 'data-fact="d07.froc.0.5"' in text
    assert "d07.froc.1" not in text and "measured up to" in text


def test_froc_values_and_the_curve_end_carry_their_recorded_intervals(tmp_path):
    from mammo_utils.reporting.evidence import froc_sentence
    from mammo_utils.reporting.facts import FactBook

    recorded = {
        "froc": {"sens@0.5fp": 0.7, "sens@1fp": None},
        "froc_ci": {"sens@0.5fp": [0.61, 0.78], "sens@1fp": None},
        "froc_max_fp_per_image": 0.6,
        "froc_max_fp_per_image_ci": [0.52, 0.69],
        "froc_end_sensitivity": 0.74,
        "froc_end_sensitivity_ci": [0.66, 0.81],
    }
    (tmp_path / "d.json").write_text(json.dumps(recorded))
    book = FactBook(tmp_path)
    text = re.sub(r"<[^>]+>", "", froc_sentence(book, "d.json"))
    assert "measured up to 0.60 [0.52, 0.69] false positives per image" in text
    assert "sensitivity 0.700 [0.610, 0.780] at 0.5 FP/image" in text
    assert text.endswith("where the curve ends, every kept box counted, sensitivity 0.740 [0.660, 0.810]")
    assert book.facts["d07.froc_end.high"].source == "d.json#froc_end_sensitivity_ci.1"


def test_the_detector_operating_point_follows_the_recorded_rate_and_the_curve_end(tmp_path):
    """The operating rate is read from the record (never typed in); a target past the validation curve is named."""
    from mammo_utils.reporting.evidence import froc_sentence
    from mammo_utils.reporting.facts import FactBook

    base = {"froc": {"sens@0.25fp": 0.7}, "froc_max_fp_per_image": 0.45, "operating_score": 0.0832,
            "breast_recall": 0.9, "breast_recall_ci": [0.85, 0.95]}  # fmt: skip
    inside = {**base, "record": {"operating_fp_per_image": 0.25, "operating_fp_per_image_reached": 0.249,
                                 "val_curve_end_fp_per_image": 0.46}}  # fmt: skip
    (tmp_path / "d.json").write_text(json.dumps(inside))
    book = FactBook(tmp_path)
    text = re.sub(r"<[^>]+>", "", froc_sentence(book, "d.json"))
    assert "the operating score chosen on validation at 0.25 false positives per image is 0.0832" in text
    assert "90.0% [85.0%, 95.0%] of the test breasts with a lesion" in text and "short of" not in text
    assert book.facts["d07.op.rate"].source == "d.json#record.operating_fp_per_image"
    past = {**base, "operating_score": 0.0101, "record": {"operating_fp_per_image": 1.0,
                                                          "operating_fp_per_image_reached": 0.46}}  # fmt: skip
    (tmp_path / "e.json").write_text(json.dumps(past))
    text = re.sub(r"<[^>]+>", "", froc_sentence(FactBook(tmp_path), "e.json"))
    assert "the validation curve ends at 0.46 false positives per image, short of the 1 FP/image target" in text
    assert "lowest score the detector keeps (0.0101)" in text
    counted = {**inside, "breast_recall_k": 18, "breast_recall_n": 20}
    (tmp_path / "f.json").write_text(json.dumps(counted))
    text = re.sub(r"<[^>]+>", "", froc_sentence(FactBook(tmp_path), "f.json"))
    assert "18 of 20 test breasts with a lesion get a correct box (90.0% [85.0%, 95.0%], 95% patient bootstrap)" in text


def test_box_fit_medians_are_quoted_with_their_sibling_intervals(tmp_path):
    from mammo_utils.reporting.evidence import value_with_interval
    from mammo_utils.reporting.facts import FactBook

    fit = {"median_iou": 0.0987, "median_iou_ci": [0.0739, 0.1379], "median_area_ratio": 9.72}
    (tmp_path / "d.json").write_text(json.dumps({"gradcam_box_fit": fit}))
    book = FactBook(tmp_path)
    plain = lambda html: re.sub(r"<[^>]+>", "", html)  # noqa: E731
    assert plain(value_with_interval(book, "iou", "d.json", "gradcam_box_fit.median_iou", ".2f")) == "0.10 [0.07, 0.14]"
    assert plain(value_with_interval(book, "area", "d.json", "gradcam_box_fit.median_area_ratio", ".1f")) == "9.7"


def test_budget_limited_detector_seeds_are_named_and_07_and_08_have_their_figures(tmp_path):
    from mammo_utils.reporting.facts import FactBook
    from mammo_utils.reporting.final_report import _detection_figure, _export_figure, budget_limited_sentence, grid_note

    runs = [{"seed": s, "epochs_run": 8, "best_epoch": b} for s, b in ((0, 8), (1, 7), (2, 8))]
    facts = {"seeds": {"runs": runs, "chosen_seed": 2}, "budget": {"max_epochs": 8}, "test_images": 556,
             "froc_max_fp_per_image": 0.4478}  # fmt: skip
    (tmp_path / "d.json").write_text(json.dumps(facts))
    (tmp_path / "e.json").write_text(json.dumps({"formats": [{"index": "keras"}, {"index": "onnx"}]}))
    (tmp_path / "reports" / "figures").mkdir(parents=True)
    for name in ("07_froc.png", "08_export_formats.png"):
        (tmp_path / "reports" / "figures" / name).write_bytes(b"png")
    book = FactBook(tmp_path)
    plain = lambda html: re.sub(r"<[^>]+>", "", html)  # noqa: E731
    sentence = plain(budget_limited_sentence(book, "d.json"))
    assert sentence.startswith(" Seeds 0 and 2 were still improving on validation at epoch 8")
    assert "budget-limited" in sentence and "may raise" in sentence and "Seeds 0, 1" not in sentence
    froc = _detection_figure(book, "d.json")
    assert 'src="figures/07_froc.png"' in froc and "seed (2) on the 556 test images" in plain(froc)
    assert "0.45 FP/image" in plain(froc) and 'data-fact="d07.fig.end"' in froc
    export = _export_figure(book, "e.json")
    assert 'src="figures/08_export_formats.png"' in export and 'alt="The 2 rows' in export
    assert plain(export).startswith("The 2 rows of the table above")
    runs[0]["best_epoch"] = runs[2]["best_epoch"] = 6  # every seed past its best: nothing to say
    (tmp_path / "d.json").write_text(json.dumps(facts))
    assert budget_limited_sentence(FactBook(tmp_path), "d.json") == ""
    (tmp_path / "reports" / "results").mkdir()
    (tmp_path / "reports" / "results" / "champion_eval.json").write_text(json.dumps({"model": {"threshold": 0.19128}}))
    note = plain(grid_note(FactBook(tmp_path)))
    assert "a recalled cancer, a missed cancer and a cancer-free image" in note and note.endswith("decision at 0.191.")


def test_detector_seeds_carry_their_test_intervals_and_the_sd_is_named_a_spread(tmp_path):
    from mammo_utils.reporting.facts import FactBook
    from mammo_utils.reporting.final_report import _seed_intervals, _seed_mean_interval
    from mammo_utils.reporting.slides import _detector_seeds

    runs = [
        {"seed": 0, "val_map50": 0.31, "test_map50": 0.252, "test_map50_ci": [0.21, 0.30]},
        {"seed": 1, "val_map50": 0.29, "test_map50": 0.271, "test_map50_ci": [0.23, 0.32]},
    ]
    seeds = {"n": 2, "runs": runs, "test_map50": {"mean": 0.2615, "sd": 0.0134, "mean_ci": [0.225, 0.305]}}
    (tmp_path / "d.json").write_text(json.dumps({"seeds": seeds}))
    book = FactBook(tmp_path)
    plain = lambda html: re.sub(r"<[^>]+>", "", html)  # noqa: E731
    assert plain(_seed_intervals(book, "d.json")).endswith("seed 0 0.252 [0.210, 0.300]; seed 1 0.271 [0.230, 0.320].")
    assert "interval [0.225, 0.305]" in plain(_seed_mean_interval(book, "d.json"))
    table = plain(_detector_seeds(FactBook(tmp_path), "d.json").replace("</td>", " |"))
    assert "seed 1 |0.290 |0.271 [0.230, 0.320] |" in table and "95% patient bootstrap" in table
    # an older record without the intervals: no sentence, and the slide prints the values alone
    for run in runs:
        del run["test_map50_ci"]
    del seeds["test_map50"]["mean_ci"]
    (tmp_path / "old.json").write_text(json.dumps({"seeds": seeds}))
    old = FactBook(tmp_path)
    assert _seed_intervals(old, "old.json") == "" and _seed_mean_interval(old, "old.json") == ""
    slide = plain(_detector_seeds(old, "old.json").replace("</td>", " |"))
    assert "seed 0 |0.310 |0.252 |" in slide and "bootstrap" not in slide


# --- 10. export facts ----------------------------------------------------------------------------------------------
def test_export_table_has_rows_and_the_facts_are_kept(built):
    from mammo_utils.reporting.facts import fact_key

    reports, _, _ = built
    formats = json.loads((reports / "results" / "08_export.json").read_text())["formats"]
    facts = {f["key"] for f in json.loads((reports / "report_facts.json").read_text())}
    for row in formats:
        name = fact_key(row.get("format", row.get("index")))  # "pruned50+keras" is keyed pruned50_keras
        assert {f"e08.{name}.size_mb", f"e08.{name}.ms_b1_median", f"e08.{name}.delta_auc"} <= facts
    page = (reports / "final_report.html").read_text()
    table = page.split("<h3>Export</h3>")[1].split("</table>")[0]
    assert table.count("<tr>") == len(formats) + 1


# --- 11. references ------------------------------------------------------------------------------------------------
def _notebook_markdown() -> str:
    text = []
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "markdown":
                text.append("".join(cell["source"]))
    return "\n".join(text)


def _prose(path: Path) -> list[str]:
    """The string constants of a module that are not docstrings (the text its documents print)."""
    tree = ast.parse(path.read_text())
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
    ]


def test_every_reference_resolves_and_every_reference_is_cited():
    from mammo_utils.reporting.references import REFERENCES, markers

    sources = "\n".join(s for p in REPORTING.glob("*.py") if p.name != "references.py" for s in _prose(p))
    used = set(markers(sources)) | set(markers(_notebook_markdown()))
    assert used <= set(REFERENCES), f"unknown references: {sorted(used - set(REFERENCES))}"
    assert set(REFERENCES) <= used, f"listed but never cited: {sorted(set(REFERENCES) - used)}"
    for citation, url in REFERENCES.values():
        assert citation.strip() and url.startswith("https://")


def test_built_documents_number_and_list_their_references(built):
    from mammo_utils.reporting.references import REFERENCES

    reports, _, _ = built
    for doc in ("final_report.html", "model_card.md", "slides.html"):
        assert "[ref:" not in (reports / doc).read_text(), f"{doc}: an unrendered citation marker"
    page = (reports / "final_report.html").read_text()
    cited = re.findall(r'<a class="cite" href="#ref-([a-z0-9-]+)">\[(\d+)\]</a>', page)
    listed = re.findall(r'<li id="ref-([a-z0-9-]+)">', page)
    from mammo_utils.reporting.references import cited_in

    notebooks = set(cited_in(REPO / "notebooks"))
    assert cited and set(k for k, _ in cited) | notebooks == set(listed) and set(listed) <= set(REFERENCES)
    assert [int(n) for _, n in cited if _ == listed[0]][0] == 1
    # every citation a notebook links to (final_report.html#ref-key) has its anchor in the list
    linked = set(re.findall(r"final_report\.html#ref-([a-z0-9-]+)", "".join(
        p.read_text() for p in (REPO / "notebooks").glob("*.ipynb")
    )))  # fmt: skip
    assert linked and linked <= set(listed), f"notebook citations without a reference: {linked - set(listed)}"
    card = (reports / "model_card.md").read_text()
    assert "## References" in card and '<a id="ref-model-cards"></a>' in card


# --- 12. slides ----------------------------------------------------------------------------------------------------
def test_slides_say_what_05_and_06_concluded_and_that_data_is_synthetic(built):
    reports, _, _ = built
    deck = (reports / "slides.html").read_text()
    transfer = json.loads((reports / "results" / "05_transfer.json").read_text())
    head = "Chosen on validation: <b><span" if transfer["champion_moved"] else "Best validation mean: <b><span"
    assert head in deck and f">{transfer['chosen']}</span>" in deck
    assert re.search(r" − [^<:]+: ([^<]+ (higher|lower)|no difference shown)", deck)
    assert "the champion alias" in deck
    assert "(synthetic data)" in deck and "<b>Synthetic data</b>" in deck
    plain = re.sub(r"<[^>]+>", "", deck)
    assert re.search(r"The test split was scored \d+ times", plain) and "of every 1,000 screened breasts" in plain
    assert 'class="fact computed" title="computed: sum of the test scorings' in deck  # hovered, it says how
    export = json.loads((reports / "results" / "08_export.json").read_text())
    stamped = re.search(r"Export <code><span[^>]*>([0-9a-f]{12})</span></code>, build", deck)  # the title slide's
    assert bool(stamped) == bool(export.get("build")) and (not stamped or stamped[1] == export["provenance"]["digest"])
    has_demo = (reports / "figures" / "web_app.png").is_file()
    assert ("Live demo output goes here" in deck) != has_demo


def test_no_number_in_fixed_reporting_prose_without_a_fact():
    """Digits in the printed prose of the reporting modules are section numbers, notebook numbers, formulas, the
    pF1 range quoted from a cited write-up, HTTP codes or units; every other number is a fact."""
    allowed = re.compile(r"^(\d|90|95|10|1,000|0[1-8]|2000|0\.53|0\.56|400|413|415|\d(st|nd|th))$")
    found = set()
    for path in REPORTING.glob("*.py"):
        if path.name in ("references.py", "diagrams.py"):  # citations; the diagram's labels are service ports
            continue
        for text in _prose(path):
            prose = re.sub(r"<[^>]+>|\{[^}]*\}|`[^`]*`|https?://\S+|#\S+|\.\w+\b|%[^%]*%", " ", text)
            for number in re.findall(r"(?<![\w.-])\d[\d,.]*(?:st|nd|th)?", prose):
                if not allowed.match(number.rstrip(".,")):
                    found.add(f"{path.name}: {number} in {text[:60]!r}")
    assert not found, f"numbers in reporting prose without a fact: {sorted(found)}"


# --- 10. Grad-CAM over the champion arm's seeds ----------------------------------------------------------------------
def test_gradcam_verdict_names_the_seeds_that_do_not_beat_chance(tmp_path):
    from mammo_utils.detection.gradcam_seeds import pointing_over_seeds
    from mammo_utils.reporting.facts import FactBook
    from mammo_utils.reporting.final_report import gradcam_seeds_html
    from mammo_utils.reporting.slides import _gradcam_seeds

    def run(seed, low):
        return {"seed": seed, "run_name": f"arm_t_s{seed}", "hits": 9, "n": 12, "hit_rate": 0.75,
                "hit_rate_ci": [0.47, 0.91], "chance": 0.05, "margin": 0.7, "margin_ci": [low, 0.9]}  # fmt: skip

    for name, lows in (("all.json", (0.4, 0.3, 0.2)), ("mixed.json", (0.4, -0.1, 0.2))):
        over = pointing_over_seeds([run(s, low) for s, low in enumerate(lows)])
        (tmp_path / name).write_text(json.dumps({"gradcam_seeds": over}))
    book = FactBook(tmp_path)
    every = gradcam_seeds_html(book, "all.json")
    assert "beats chance on every seed" in every and 'data-fact="d07.cs.n"' in every and "+0.200" in every
    mixed = gradcam_seeds_html(FactBook(tmp_path), "mixed.json")
    assert "for seed(s) 1" in mixed and "every seed" not in mixed and "-0.100" in mixed
    assert "beats chance on 2 of" in re.sub(r"<[^>]+>", "", _gradcam_seeds(FactBook(tmp_path), "mixed.json"))
    assert "margin +0.700 [+0.400, +0.900]" in re.sub(r"<[^>]+>", "", every)  # point [interval], not "lo to hi"
    (tmp_path / "one.json").write_text(json.dumps({"gradcam_seeds": pointing_over_seeds([run(0, 0.4)])}))
    assert gradcam_seeds_html(FactBook(tmp_path), "one.json") == "" and gradcam_seeds_html(book, "none.json") == ""


def test_the_model_card_tabulates_gradcam_per_seed_with_its_verdict(tmp_path):
    from mammo_utils.detection.gradcam_seeds import pointing_over_seeds
    from mammo_utils.reporting.card_details import gradcam_seeds_md
    from mammo_utils.reporting.facts import FactBook

    off = {"share": 0.5, "low": 0.4, "high": 0.6, "off": 5, "images": 10, "interval": "patient bootstrap"}
    runs = [{"seed": s, "run_name": f"arm_t_s{s}", "hits": 9 - s, "n": 12, "hit_rate": (9 - s) / 12,
             "hit_rate_ci": [0.4, 0.9], "chance": 0.05, "margin": (9 - s) / 12 - 0.05, "margin_ci": [low, 0.8],
             "interval": "patient bootstrap", "off_breast": off} for s, low in enumerate((0.3, -0.02, 0.1))
    ]  # fmt: skip
    (tmp_path / "07.json").write_text(json.dumps({"gradcam_seeds": pointing_over_seeds(runs)}))
    table = gradcam_seeds_md(FactBook(tmp_path), "07.json")
    rows = [line for line in table.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert rows[1] == "| 1 | 8 of 12, 66.7% [40.0%, 90.0%] | +0.617 [-0.020, +0.800] | 50.0% [40.0%, 60.0%] |"
    assert len(rows) == 3 and "beats chance on 2 of 3 seeds" in table and "not on seed(s) 1" in table
    (tmp_path / "one.json").write_text(json.dumps({"gradcam_seeds": pointing_over_seeds(runs[:1])}))
    assert gradcam_seeds_md(FactBook(tmp_path), "one.json") == ""


@pytest.mark.parametrize(
    ("observed", "expected"),
    [
        (0.010, "within the image-by-image level"),
        (0.020, "within the patient-by-patient one"),
        (0.166, "still 7.3x the patient-by-patient one"),
    ],
)
def test_the_drift_paragraph_states_what_the_two_nulls_measured(tmp_path, observed, expected):
    from mammo_utils.reporting.facts import FactBook
    from mammo_utils.reporting.final_report import _chance_psi_sentence

    results = tmp_path / "reports" / "results"
    results.mkdir(parents=True)
    record = {
        "drift": {"test split": [{"feature": "mean", "psi": 0.5}, {"feature": "p10", "psi": observed}]},
        "drift_chance": {"window": 500, "feature": "p10", "q95": {"p10": 0.0148, "mean": 0.9},
                         "q95_patients": {"p10": 0.0228, "mean": 0.9}, "test_patients": 120},
    }  # fmt: skip
    (results / "08_export.json").write_text(json.dumps(record))
    book = FactBook(tmp_path)
    text = re.sub(r"<[^>]+>", "", _chance_psi_sentence(book, f"{book.results}/08_export.json"))  # the words read
    assert expected in text and "not tested" not in text
    assert "0.015" in text and "0.023" in text  # both levels, read from the record
    del record["drift_chance"]["q95_patients"]  # an older 08 record: nothing is claimed about patients
    (results / "08_export.json").write_text(json.dumps(record))
    assert _chance_psi_sentence(FactBook(tmp_path), f"{book.results}/08_export.json") == ""


def test_printed_pdf_links_no_file_of_this_machine(tmp_path):
    """The PDF keeps web links and drops links to the folder's other files (Chromium would print file:// paths)."""
    import shutil

    from mammo_utils.reporting.build import print_pdf

    if not (shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")):
        pytest.skip("headless Chromium is not installed (run_all.sh --tests installs Debian's chromium as root)")
    page = tmp_path / "final_report.html"
    page.write_text(
        '<html><body><p><a href="04_baseline_cnn.html">notebook 04</a> and '
        '<a href="https://www.kaggle.com/competitions/rsna-breast-cancer-detection">RSNA</a></p></body></html>'
    )
    pdf = print_pdf(page, tmp_path / "final_report.pdf")
    assert pdf is not None and pdf.read_bytes().startswith(b"%PDF")
    data = pdf.read_bytes()
    assert b"file://" not in data and b"04_baseline_cnn.html" not in data
    assert b"https://www.kaggle.com/competitions/rsna-breast-cancer-detection" in data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["final_report.html", "final_report.pdf"]


@pytest.mark.parametrize(
    ("median", "expected"),
    [(0.05, "within that level: its 120 patients differ"), (0.2, "2.2x that level: its 120 patients differ")],
)
def test_the_drift_paragraph_reads_the_held_out_null_first(tmp_path, median, expected):
    from mammo_utils.reporting.facts import FactBook
    from mammo_utils.reporting.final_report import _chance_psi_sentence

    results = tmp_path / "reports" / "results"
    results.mkdir(parents=True)
    record = {
        "drift": {"test split": [{"feature": "p10", "psi": 0.166}]},
        "drift_chance": {"window": 500, "feature": "p10", "q95": {"p10": 0.0148}, "q95_patients": {"p10": 0.0228},
                         "test_patients": 120,
                         "held_out": {"window": 138, "patients": 60, "q95": {"p10": 0.09},
                                      "test_median": {"p10": median}}},
    }  # fmt: skip
    (results / "08_export.json").write_text(json.dumps(record))
    book = FactBook(tmp_path)
    text = re.sub(r"<[^>]+>", "", _chance_psi_sentence(book, f"{book.results}/08_export.json"))  # the words read
    primary, context = text.split("For context, windows")  # the held-out null first, the in-reference ones after
    assert "drawn patient by patient from the validation fold" in primary and expected in primary
    assert "0.090" in primary and f"{median:.3f}" in primary and "0.015" in context and "0.023" in context
    assert "the held-out level above is that null" in context and "08 does not build" not in text


def test_where_05_left_the_alias_is_worded_once_from_its_record(tmp_path):
    from mammo_utils.reporting.facts import FactBook, alias_after_05
    from mammo_utils.utils import save_results

    results = tmp_path / "reports" / "results"
    assert alias_after_05(FactBook(tmp_path), "it") == ""  # 05 not run: nothing said
    save_results("05_transfer", {"chosen": "lite0", "champion_moved": False, "champion_arm": "baseline"}, results)
    stayed = alias_after_05(FactBook(tmp_path), "lite0")
    assert stayed.startswith("the champion alias stayed with 04's baseline run") and "put lite0 above" in stayed
    save_results("05_transfer", {"chosen": "lite0", "champion_moved": True, "champion_arm": "lite0"}, results)
    assert alias_after_05(FactBook(tmp_path), "it").startswith("the champion alias moved to it")


def test_the_threshold_sentence_says_where_the_choice_sits_in_the_equally_good_range(tmp_path):
    from mammo_utils.evaluation.metrics import best_threshold, f1_optimal_range
    from mammo_utils.reporting.facts import FactBook
    from mammo_utils.reporting.threshold_text import threshold_choice
    from mammo_utils.utils import save_results

    labels, scores = [0, 0, 0, 1, 1], [0.05, 0.1, 0.2, 0.3, 0.9]  # separated: F1 1 from above 0.2 to 0.3
    chosen = best_threshold(labels, scores)  # the midpoint of the best range, on no validation score
    found = f1_optimal_range(labels, scores, chosen)
    assert chosen == pytest.approx(0.25) and chosen not in scores
    assert (found["low"], found["high"], found["f1"], found["at_top"]) == (0.2, 0.3, 1.0, False)
    assert found["midpoint"] == pytest.approx(chosen)
    lowest = best_threshold([0, 0, 1, 1, 1], [0.1, 0.4, 0.45, 0.7, 0.9])  # F1 1 on (0.4, 0.45]: the lowest tie
    assert lowest == pytest.approx(0.425)
    results = tmp_path / "reports" / "results"
    assert threshold_choice(FactBook(tmp_path), FactBook(tmp_path).md) == ""  # nothing recorded: nothing said
    save_results("champion_eval", {"threshold_choice": {**found, "breasts": 5, "cancers": 2}}, results)
    book = FactBook(tmp_path)
    text = threshold_choice(book, book.md)
    assert "every threshold above 0.200 and up to 0.300 gives the same predictions (F1 1.000)" in text
    assert "takes that range's midpoint, so no validation breast scores within 0.050 of the threshold" in text
    at_top = f1_optimal_range(labels, scores, 0.3)  # a threshold frozen by the older rule, on the lowest cancer
    save_results("champion_eval", {"threshold_choice": {**at_top, "breasts": 5, "cancers": 2}}, results)
    book = FactBook(tmp_path)
    text = threshold_choice(book, book.md)
    assert "at the top of that range" in text and "midpoint would be 0.250" in text
    on_a_score = {**found, "threshold": 0.3, "low": 0.3 - 2e-8, "high": 0.4, "f1": 0.8, "at_top": False}
    save_results("champion_eval", {"threshold_choice": {**on_a_score, "midpoint": 0.35, "breasts": 5}}, results)
    book = FactBook(tmp_path)
    text = threshold_choice(book, book.md)
    assert "lands 2.0e-08 below it (float noise)" in text and "such as its midpoint 0.350" in text


def _export_record(tmp_path, formats, drift=None) -> Path:
    """A minimal 08 record in ``tmp_path/reports/results`` (the FactBook's results folder)."""
    results = tmp_path / "reports" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "08_export.json").write_text(json.dumps({"formats": formats, "drift": drift or {}}))
    return results / "08_export.json"


def test_the_export_table_names_what_each_change_is_measured_against(tmp_path):
    from mammo_utils.reporting.evidence import export_table
    from mammo_utils.reporting.facts import FactBook

    def row(name, against, delta, low, high):
        return {"index": name, "size_mb": 1.0, "ms_b1_median": 1.0, "val_delta_auc": 0.0, "breast_auc": 0.99,
                "delta_auc": delta, "delta_auc_low": low, "delta_auc_high": high, "flipped_breasts": 0,
                **({"delta_against": against} if against else {})}  # fmt: skip

    measured = [row("keras", "keras", 0.0, 0.0, 0.0), row("tflite-int8", "keras", 0.0024, -0.0002, 0.0075),
                row("pruned50+keras", "keras", 0.0021, -0.0003, 0.0061),
                row("pruned50+tflite-int8", "pruned50+keras", -0.0007, -0.0023, 0.0)]  # fmt: skip
    measured[1] |= {"val_flipped_breasts": 1, "val_breasts": 120}  # the gate's second criterion, as 08 records it
    _export_record(tmp_path, measured)
    header, rows = export_table(FactBook(tmp_path))
    plain = [[re.sub(r"<[^>]+>", "", cell) for cell in r] for r in rows]
    against = header.index("changes against")
    change = header.index("test AUC change [95% CI, paired]")
    flips = header.index("validation breasts flipped (the gate)")
    assert [r[flips] for r in plain] == ["n/a", "1 of 120", "n/a", "n/a"]  # a row without the record says so
    assert 'data-fact="e08.tflite-int8.val_flipped_breasts"' in rows[1][flips]
    assert [r[against] for r in plain] == ["— (the reference of the changes)", "keras", "keras", "pruned50+keras"]
    assert plain[2][change] == "+0.0021 [-0.0003, +0.0061]"  # the pruned Keras model against the unpruned one
    assert 'data-fact="e08.pruned50_keras.delta_against"' in rows[2][against]  # read from the record
    # an older record, before delta_against: the pruned Keras row was the reference of the pruned rows
    _export_record(tmp_path, [{k: v for k, v in r.items() if k != "delta_against"} for r in measured])
    _, rows = export_table(FactBook(tmp_path))
    assert [re.sub(r"<[^>]+>", "", r[against]) for r in rows] == [
        "— (the reference of the changes)", "keras", "— (the reference of the changes on the pruned rows)",
        "pruned50+keras"]  # fmt: skip


def test_the_drift_paragraph_says_which_images_the_reference_features_and_scores_come_from(tmp_path):
    from mammo_utils.reporting.facts import FactBook
    from mammo_utils.reporting.final_report import _reference_sentence

    window = [{"feature": "mean", "psi": 0.03, "n_reference": 833}, {"feature": "p10", "psi": 0.16, "n_reference": 833},
              {"feature": "score", "psi": 0.02, "n_reference": 277}]  # fmt: skip
    _export_record(tmp_path, [], {"test split": window})
    book = FactBook(tmp_path)
    text = re.sub(r"<[^>]+>", "", _reference_sentence(book, f"{book.results}/08_export.json"))
    assert text.startswith("The export's reference holds the image features of 833 training images and the scores of "
                           "277 validation images")  # fmt: skip
    assert "training images' feature and score" not in text
    _export_record(tmp_path, [], {"test split": window[:2]})  # no scores recorded: only the features are named
    text = _reference_sentence(FactBook(tmp_path), f"{book.results}/08_export.json")
    assert "833" in text and "validation" not in text
    _export_record(tmp_path, [])  # 08 recorded no drift window
    assert _reference_sentence(FactBook(tmp_path), f"{book.results}/08_export.json") == ""


def test_nested_box_sentence_gives_every_seed_its_paired_change():
    import tempfile

    from mammo_utils.reporting.facts import FactBook
    from mammo_utils.reporting.final_report import nested_boxes_sentence

    seeds = [{"seed": s, "val_map50_kept": k, "val_map50_suppressed": d, "difference": d - k, "low": lo, "high": hi}
             for s, k, d, lo, hi in ((0, 0.316, 0.241, -0.12, -0.03), (1, 0.293, 0.25, -0.09, 0.01))]  # fmt: skip
    nested = {"overlap": 0.5, "n": 2, "seeds": seeds, "lower_on": [0], "higher_on": []}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "d.json").write_text(json.dumps({"nested_boxes": nested}))
        text = re.sub(r"<[^>]+>", "", nested_boxes_sentence(FactBook(root), "d.json"))
        assert "with a paired 95% patient-bootstrap interval below 0 on 1 and above 0 on 0 of 2 seeds" in text
        assert "as served, then with the step" in text
        assert "seed 0 0.316 to 0.241, change -0.075 [-0.120, -0.030]" in text
        assert "seed 1 0.293 to 0.250, change -0.043 [-0.090, +0.010]" in text
        assert text.endswith("so it is not applied: the service keeps every box the model's NMS keeps.")
        (root / "d.json").write_text(json.dumps({}))
        assert nested_boxes_sentence(FactBook(root), "d.json") == ""


def test_the_serving_slide_prints_the_live_output_the_screenshot_recorded(tmp_path):
    from mammo_utils.reporting.facts import FactBook
    from mammo_utils.reporting.slides import _serving_slide

    figs = tmp_path / "reports" / "figures"
    figs.mkdir(parents=True)
    Image.new("RGB", (40, 30), "white").save(figs / "web_app.png")
    record = {"digest": "0123456789ab", "uploaded": "example.dcm"}
    (figs / "web_app.json").write_text(json.dumps({"provenance": record}))
    assert "Live output" not in _serving_slide(FactBook(tmp_path), figs)  # a sidecar without the page's text
    shown = {"decision": ["Recall — p = 0.999 ≥ threshold 0.191"], "caption": ["Detector: 2 findings boxed."]}
    (figs / "web_app.json").write_text(json.dumps({"provenance": {**record, "result": shown}}))
    slide = _serving_slide(FactBook(tmp_path), figs)
    plain = " ".join(html.unescape(re.sub(r"<[^>]+>", "", slide)).split())
    assert "Live output for example.dcm: Recall — p = 0.999 ≥ threshold 0.191 (Detector: 2 findings boxed.)" in plain
    assert 'title="source: reports/figures/web_app.json#provenance.result.decision.0"' in slide
