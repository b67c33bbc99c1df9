"""The latency benchmark and the soak run end to end with a tiny request count; their JSON is checked, not timed.

Also the reduced-resolution decode on the real RSNA files against the full decode, through the model: the
probability and the breast's crop box (original pixels, which the detector's boxes are mapped into) agree."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from mammo_utils.serving.inference import STAGES

REPO = Path(__file__).resolve().parents[2]
#: Largest |probability difference| accepted between the reduced-resolution and the full decode.
PROBABILITY_TOLERANCE = 0.02
#: Largest crop-box edge difference accepted, as a share of the image side.
BOX_TOLERANCE = 0.01


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _strings(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


def _no_absolute_paths(record: dict) -> None:
    bad = [s for s in _strings(record) if s.startswith("/") or re.match(r"^[A-Za-z]:\\", s)]
    assert not bad, f"absolute paths in the JSON: {bad}"


def test_bench_api_json_has_stages_digest_and_no_absolute_paths(tiny_export, synth_root, tmp_path):
    _, folder, _ = tiny_export
    out = tmp_path / "api.json"
    _script("bench_api").main(
        ["--model", str(folder), "--files", str(synth_root / "train_images"), "--compare", "--single", "2",
         "--requests", "0", "--settle", "0", "--out", str(out)]
    )  # fmt: skip
    record = json.loads(out.read_text())
    assert set(record["variants"]) == {"fast_decode", "full_decode"}
    from mammo_utils.modeling.artifact import ARTIFACT, sha256

    stamp = record["provenance"]  # one record of the export: the digest `mammo report` checks, run and input
    assert re.fullmatch(r"[0-9a-f]{12}", stamp["digest"]) and sha256(folder / ARTIFACT).startswith(stamp["digest"])
    assert "mlflow_run_id" in stamp and stamp["input"]["shape"][1:] == [96, 48, 1] and "export" not in record
    for variant in record["variants"].values():
        single = variant["runs"][0]
        assert single["run"] == "1 client" and single["requests"] == 2 and single["non_2xx"] == 0
        served = {"spool", "hash", "decode", "crop", "model", "drift_features"}
        assert served <= set(single["stages"]) <= set(STAGES)
        assert all({"p50_ms", "p95_ms", "n"} <= set(v) for v in single["stages"].values())
        assert served <= set(single["metrics_stages"])  # the /metrics histogram saw every stage
        assert all(v["count"] == 2 for v in single["metrics_stages"].values())
        assert {"start", "end"} <= set(variant["rss_mb"]) and {"p50_ms", "p95_ms"} <= set(single["outside_stages_ms"])
    assert record["one_client_p95_full_over_fast"] > 0
    assert record["machine"]["waited_for_quiet_s"] == 0 and record["machine"]["load_1m_at_start"] >= 0
    assert record["runs"] == record["variants"]["fast_decode"]["runs"] and record["dicom"]["size"]  # final report
    _no_absolute_paths(record)


def test_soak_json_summarises_the_rss_curve(tiny_export, synth_root, tmp_path):
    _, folder, _ = tiny_export
    out = tmp_path / "soak.json"
    _script("soak_api").main(
        ["--model", str(folder), "--files", str(synth_root / "train_images"), "--requests", "6", "--every", "2",
         "--out", str(out)]
    )  # fmt: skip
    record = json.loads(out.read_text())
    assert [p[0] for p in record["points"]] == [0, 2, 4, 6] and record["non_2xx"] == 0
    summary = record["summary"]
    assert set(summary) == {"rss_start_mb", "rss_10pct_mb", "rss_end_mb", "slope_last_half_mb_per_1000"}
    assert summary["rss_end_mb"] > 0
    _no_absolute_paths(record)


@pytest.mark.real_rsna
def test_reduced_decode_keeps_probability_and_crop_box_on_real_files(real_rsna, tiny_export, monkeypatch):
    from mammo_utils.data.dicom import FAST_DECODE_ENV
    from mammo_utils.serving.inference import Predictor

    _, folder, _ = tiny_export
    predictor = Predictor.load(folder)
    for path in sorted((real_rsna / "train_images").rglob("*.dcm")):
        results = {}
        for switch in ("1", "0"):
            monkeypatch.setenv(FAST_DECODE_ENV, switch)
            image, info = predictor.prepare(path)
            results[switch] = (float(predictor.predict_arrays([image])[0]), info)
        (p_fast, fast), (p_full, full) = results["1"], results["0"]
        assert abs(p_fast - p_full) <= PROBABILITY_TOLERANCE, path.name
        assert (fast["orig_rows"], fast["orig_cols"]) == (full["orig_rows"], full["orig_cols"])
        for edge, side in (
            ("x_min", "orig_cols"),
            ("x_max", "orig_cols"),
            ("y_min", "orig_rows"),
            ("y_max", "orig_rows"),
        ):
            assert abs(fast[f"crop_{edge}"] - full[f"crop_{edge}"]) <= BOX_TOLERANCE * full[side], (path.name, edge)
