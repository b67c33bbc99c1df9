"""Artifacts the writers record carry no absolute path of the machine that built them (checked on fresh outputs)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from mammo_utils.modeling.artifact import version_id
from mammo_utils.reporting import provenance

BENCH_API = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_api.py"


def _scan(paths: list[Path]) -> list[str]:
    """Every machine path found in the JSON files (``file: location: path``)."""
    return [f"{p.name}: {hit}" for p in paths for hit in provenance.absolute_paths(json.loads(p.read_text()))]


def test_export_manifest_results_and_sidecars_record_no_absolute_path(tiny_export, tmp_path):
    from mammo_utils.reporting.champion import evaluate_champion

    cfg, export, _ = tiny_export
    evaluate_champion(cfg, export, folder=tmp_path / "results")
    shot = tmp_path / "figures" / "web_app.png"
    shot.parent.mkdir()
    shot.write_bytes(b"png")
    provenance.write_sidecar(shot, export, url_path="/")
    results, sidecar = tmp_path / "results" / "champion_eval.json", tmp_path / "figures" / "web_app.json"
    assert _scan([export / "model.json", results, sidecar]) == []


@pytest.mark.slow
def test_the_api_benchmark_records_its_model_relative_and_the_exports_digest(tiny_export, tmp_path, monkeypatch):
    _, export, _ = tiny_export
    monkeypatch.setenv("MAMMO_WORK", str(tmp_path / "work"))  # its DICOMs and store go here, not into data/work
    spec = importlib.util.spec_from_file_location("bench_api", BENCH_API)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "reports" / "benchmarks" / "api_load.json"
    args = [
        "--model",
        str(export),
        "--requests",
        "4",
        "--single",
        "2",
        "--concurrency",
        "2",
        "--size",
        "256x208",
        "--settle",
        "0",
    ]
    bench.main([*args, "--out", str(out)])
    assert _scan([out]) == []
    recorded = json.loads(out.read_text())
    assert recorded["provenance"]["digest"] == version_id(export)
    assert not recorded["model"].startswith("/")
    (check,) = provenance.check_artifacts(tmp_path / "reports", export)
    assert check.status == "current"
