"""Every cited artifact records the export it came from; the report marks (or, strict, refuses) one that does not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mammo_utils.modeling.artifact import version_id
from mammo_utils.reporting import provenance
from mammo_utils.reporting.provenance import Check, ProvenanceError


def _export(folder: Path, run: str) -> Path:
    """A stand-in export folder: only its ``model.json`` matters to provenance (its digest names the build)."""
    folder.mkdir(parents=True)
    manifest = {
        "training": {"run_name": run, "mlflow_run_id": f"id-{run}"},
        "build": f"build-{run}",
        "exported_at": "2026-12-02T00:00:00Z",
    }
    (folder / "model.json").write_text(json.dumps(manifest))
    return folder


def _report_page() -> str:
    api = '<span class="fact" title="source: reports/benchmarks/api_load.json#runs.0.p95_s">0.5</span>'
    return (
        f'<h2 id="deployment">5.</h2><h3>API under load</h3><p>one client p95 {api} s</p>'
        '<figure><img src="figures/web_app.png" alt="x"><figcaption>app</figcaption></figure>'
        '<h2 id="sources">Sources</h2>'
    )


@pytest.fixture
def builds(tmp_path):
    """(reports folder, current export, an older export)."""
    return tmp_path / "reports", _export(tmp_path / "current", "new"), _export(tmp_path / "old", "old")


def test_a_matching_artifact_is_current_and_a_mismatching_one_is_marked(builds):
    reports, current, old = builds
    shot = reports / "figures" / "web_app.png"
    shot.parent.mkdir(parents=True)
    shot.write_bytes(b"png")
    side = provenance.write_sidecar(shot, current, url_path="/")
    assert side == reports / "figures" / "web_app.json"
    recorded = json.loads(side.read_text())["provenance"]
    assert recorded["digest"] == version_id(current) and recorded["url_path"] == "/"
    assert recorded["run_name"] == "new" and recorded["recorded_at"].endswith("Z")
    # a capture written later keeps the time its page was taken (the screens write both sidecars at the end)
    taken = provenance.write_sidecar(shot.with_name("other.png"), current, recorded_at="2026-01-02T03:04:05Z")
    assert json.loads(taken.read_text())["provenance"]["recorded_at"] == "2026-01-02T03:04:05Z"
    bench = reports / "benchmarks" / "api_load.json"
    bench.parent.mkdir(parents=True)
    bench.write_text(json.dumps({"runs": [], "provenance": provenance.record(old)}))

    results = reports / "results"
    results.mkdir()
    this_build = {"id": "build-new", "written_at": "2026-12-02T01:00:00Z"}
    (results / "08_export.json").write_text(json.dumps({"provenance": provenance.record(current), "build": this_build}))
    trained_here = [{"run": "arm_baseline_s0", "trained_build": "build-new"}]
    (results / "04_baseline.json").write_text(json.dumps({"build": this_build, "trained_runs": trained_here}))
    (results / "05_transfer.json").write_text(json.dumps({"build": {"id": "build-old", "written_at": "earlier"}}))
    (results / "06_tuning.json").write_text("{}")  # names no build

    checks = {c.artifact: c for c in provenance.check_artifacts(reports, current)}
    assert set(checks) == {
        "figures/web_app.png",
        "benchmarks/api_load.json",
        *(f"results/{n}.json" for n in ("04_baseline", "05_transfer", "06_tuning", "08_export")),
    }  # monitoring.png: not made, not listed
    assert checks["results/08_export.json"].status == "current" and checks["results/04_baseline.json"].kind == "build"
    assert checks["results/04_baseline.json"].status == "current"
    assert (checks["results/05_transfer.json"].status, checks["results/05_transfer.json"].recorded) == (
        "other build",
        "build-old",
    )
    assert checks["results/06_tuning.json"].status == "unrecorded"
    assert "not the current build build-new" in checks["results/05_transfer.json"].message()
    for name in ("05_transfer", "06_tuning"):  # out of the rest of this test's story
        del checks[f"results/{name}.json"]
    assert checks["figures/web_app.png"].status == "current" and not checks["figures/web_app.png"].failing
    stale = checks["benchmarks/api_load.json"]
    assert stale.status == "other build" and stale.recorded == version_id(old) and stale.expected == version_id(current)

    page = provenance.annotate(_report_page(), list(checks.values()))
    warning = page.index("From another build")
    assert page.index("<h3>API under load</h3>") < warning < page.index("one client p95")  # beside the numbers
    assert page.count("From another build") == 1  # the current screenshot is not marked
    assert page.index('id="provenance"') < page.index('<h2 id="sources">')
    with pytest.raises(ProvenanceError, match="benchmarks/api_load.json is from another build"):
        provenance.enforce(list(checks.values()))
    provenance.enforce([checks["figures/web_app.png"]])  # all current: no error


def _results(reports: Path, name: str, runs: list[tuple[str, str | None]] | None) -> None:
    """A results file of this build (``build-new``) that scored ``runs`` (name, build that trained it)."""
    payload = {"build": {"id": "build-new", "written_at": "2026-12-04T18:00:00Z"}}
    if runs is not None:
        payload["trained_runs"] = [
            {"run": run, "trained_build": build, "weights_sha256": "ab" * 32} for run, build in runs
        ]
    path = reports / "results" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload))


def test_results_scoring_runs_of_another_build_or_unrecorded_runs_are_refused(builds):
    reports, current, _ = builds
    _results(reports, "04_baseline", [("arm_baseline_s0", "build-new"), ("arm_baseline_s1", "build-new")])
    _results(reports, "05_transfer", [("arm_baseline_s0", "build-new"), ("arm_lite_s0", "build-old")])
    _results(reports, "06_tuning", [("arm_tuned_s0", "build-new"), ("arm_tuned_s1", None)])
    _results(reports, "07_detection", None)  # written before results listed their runs
    _results(reports, "03_splits", None)  # trains nothing: no runs to list
    checks = {c.artifact: c for c in provenance.check_artifacts(reports, current)}
    status = {name: c.status for name, c in checks.items()}
    assert status == {
        "results/03_splits.json": "current",
        "results/04_baseline.json": "current",
        "results/05_transfer.json": "runs of another build",
        "results/06_tuning.json": "runs unrecorded",
        "results/07_detection.json": "runs unrecorded",
    }
    assert checks["results/05_transfer.json"].message() == (
        "results/05_transfer.json scores runs trained in another build: arm_lite_s0 (build build-old), not the "
        "current build-new"
    )
    assert "no training record (arm_tuned_s1)" in checks["results/06_tuning.json"].message()
    assert "no training record (none listed)" in checks["results/07_detection.json"].message()
    with pytest.raises(ProvenanceError, match="arm_lite_s0 .build build-old.*retrained in this one"):
        provenance.enforce(list(checks.values()))
    provenance.enforce([checks["results/04_baseline.json"], checks["results/03_splits.json"]])

    page = provenance.annotate(_report_page(), list(checks.values()))
    assert (
        "Runs trained in this build: 3 of 5 (scored by results/04_baseline.json, results/05_transfer.json, "
        "results/06_tuning.json; not: arm_lite_s0, arm_tuned_s1)."
    ) in page


def test_an_artifact_without_a_record_is_marked_and_refused(builds):
    reports, current, _ = builds
    (reports / "figures").mkdir(parents=True)
    (reports / "figures" / "web_app.png").write_bytes(b"png")  # a hand-made screenshot: no sidecar
    (check,) = provenance.check_artifacts(reports, current)
    assert check == Check("figures/web_app.png", "unrecorded", None, version_id(current))
    page = provenance.annotate(_report_page(), [check])
    assert page.index("From another build") < page.index('<figure><img src="figures/web_app.png"')
    with pytest.raises(ProvenanceError, match="records no build"):
        provenance.enforce([check])


def test_report_strict_refuses_before_scoring_anything(builds, capsys):
    from mammo_utils.cli import main

    reports, current, old = builds
    shot = reports / "figures" / "web_app.png"
    shot.parent.mkdir(parents=True)
    shot.write_bytes(b"png")
    provenance.write_sidecar(shot, old)
    assert main(["report", "--model", str(current), "--out", str(reports), "--strict", "--no-pdf"]) == 2
    assert "figures/web_app.png is from another build" in capsys.readouterr().err
    assert not (reports / "final_report.html").exists()


def test_recorded_paths_are_relative_to_the_repository_or_the_work_folder(tmp_path, monkeypatch):
    from mammo_utils.utils import project_root

    root = project_root()
    assert provenance.portable_path(root / "data" / "work" / "export" / "champion") == "data/work/export/champion"
    monkeypatch.setenv("MAMMO_WORK", str(tmp_path / "work"))
    assert provenance.portable_path(tmp_path / "work" / "export" / "champion") == "$MAMMO_WORK/export/champion"
    assert provenance.portable_path(tmp_path / "elsewhere" / "x") == "…/elsewhere/x"
    versions = tmp_path / "work" / "export" / "versions" / "abc123"
    versions.mkdir(parents=True)
    (tmp_path / "work" / "export" / "champion").symlink_to(versions)  # the pointer is named, not its target
    assert provenance.portable_path(tmp_path / "work" / "export" / "champion") == "$MAMMO_WORK/export/champion"
    assert provenance.portable_path(versions / ".." / "abc123") == "$MAMMO_WORK/export/versions/abc123"
    assert provenance.record(_export(tmp_path / "work" / "e", "r"))["model"] == "$MAMMO_WORK/e"


def test_absolute_path_scan_finds_machine_paths_and_passes_url_paths(tmp_path):
    payload = {"model": "/work/fresh/data/work/export/champion", "url_path": "/v1/predict",
               "runs": [{"file": str(tmp_path)}, {"rel": "data/work/x"}], "note": "/ not a path"}  # fmt: skip
    assert provenance.absolute_paths(payload) == [
        "model: /work/fresh/data/work/export/champion",
        f"runs.0.file: {tmp_path}",
    ]


def test_the_training_span_names_every_experiment_it_counts():
    from mammo_utils.reporting.provenance import environment_html

    span = {"experiment": "mammo", "experiments": {"mammo": 23, "mammo-detection": 3}, "runs": 26,
            "first_start": "2026-12-04T18:37:18Z", "last_end": "2026-12-04T19:48:15Z"}  # fmt: skip
    text = environment_html({"id": "abc", "started_at": "t", "trained": span})
    assert "experiments <code>mammo</code> (23) and <code>mammo-detection</code> (3) hold 26 MLflow runs" in text
    assert "ended by 2026-12-04T19:48:15Z" in text
    one = environment_html({"id": "abc", "started_at": "t", "trained": {**span, "experiments": {"mammo": 23}}})
    assert "experiment <code>mammo</code> (23) holds 26" in one


def test_training_span_counts_the_detector_experiment_too(tmp_path):
    import mlflow

    from mammo_utils.config import Config
    from mammo_utils.modeling.tracking import configure, training_span

    cfg = Config().replace(work_dir=tmp_path / "work", mlflow_uri="", experiment="span-test")
    configure(cfg)
    for _ in range(2):
        with mlflow.start_run():
            pass
    assert training_span(cfg)["experiments"] == {"span-test": 2}  # no detector experiment: none created
    assert mlflow.MlflowClient().get_experiment_by_name("span-test-detection") is None
    configure(cfg.replace(experiment="span-test-detection"))
    with mlflow.start_run():
        pass
    span = training_span(cfg)
    assert span["experiments"] == {"span-test": 2, "span-test-detection": 1} and span["runs"] == 3
    assert span["first_start"] <= span["last_end"]
