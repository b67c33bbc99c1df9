"""``mammo screens`` on a tiny export: the web app and Prometheus's page, captured from the running services."""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from mammo_utils.modeling.artifact import version_id
from mammo_utils.reporting import provenance, screens


def test_the_monitoring_page_uses_the_grafana_dashboards_queries():
    panels = screens.dashboard_queries()
    assert len(panels) == 3
    rate, p95, errors = (panel.expr for panel in panels)
    assert "rate(mammo_requests_total" in rate
    assert p95.startswith("histogram_quantile(0.95") and "mammo_request_latency_seconds_bucket" in p95
    assert 'status=~"5.."' in errors and errors.startswith("(sum(") and ") or vector(0)) / sum(" in errors
    url = screens.monitoring_url("http://127.0.0.1:9", panels)
    assert url.startswith("http://127.0.0.1:9/classic/graph?g0.expr=") and "g2.expr=" in url
    tabs = {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlparse(url).query).items() if k.endswith(".tab")}
    assert tabs == {"g0.tab": "0", "g1.tab": "0", "g2.tab": "1"}  # the 5xx share as its value: "0", not a flat line
    config = json.loads(screens.prometheus_config("http://127.0.0.1:8123", []))
    assert config["scrape_configs"][0]["job_name"] == screens.JOB  # the job alerts.yml and the dashboard select
    assert config["scrape_configs"][0]["static_configs"][0]["targets"] == ["127.0.0.1:8123"]


def test_each_graph_is_headed_by_its_dashboard_panel_and_unit(tmp_path):
    panels = screens.dashboard_queries()
    assert [(p.unit, p.part) for p in panels] == [("reqps", ""), ("s", "p95"), ("percentunit", "")]
    rate, latency, errors = (screens.panel_heading(p) for p in panels)
    assert rate == 'PromQL of Grafana panel "/v1 requests per second by route and status" · y-axis: requests per second'
    assert latency.startswith('PromQL of Grafana panel "Latency p50 / p95 by route') and latency.endswith(
        '" (its p95 query) · y-axis: seconds'
    )
    assert errors == 'PromQL of Grafana panel "5xx share of /v1 requests" · value: share of requests (0-1)'
    assert screens.unit_words("reqps") == "requests per second"
    with pytest.raises(ValueError, match=r"'ms' has no words in UNIT_WORDS"):
        screens.panel_heading(screens.Panel("Latency", "x", "ms"))
    # the unit and the query taken come from the dashboard file: a changed unit or legend changes the heading
    board = json.loads((screens.project_root() / screens.DASHBOARD).read_text())
    for panel in board["panels"]:
        if panel["title"].startswith("Latency p50"):
            panel["fieldConfig"]["defaults"]["unit"] = "percentunit"
            panel["targets"][-1]["legendFormat"] = ""
    (tmp_path / "board.json").write_text(json.dumps(board))
    changed = screens.dashboard_queries(tmp_path / "board.json")[1]
    assert (changed.unit, changed.part) == ("percentunit", "B")  # no legend: the query's refId
    with pytest.raises(ValueError, match="KEY_PANELS"):
        screens.dashboard_queries(tmp_path / "board.json", panels=("No such panel",))


def test_the_report_shows_the_monitoring_figure_with_an_honest_caption(tmp_path):
    page = '<h2 id="mlops">6.</h2><p>x</p><h2 id="limits">7.</h2>'
    assert screens.with_screens(page, tmp_path) == page  # not captured: nothing added
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "monitoring.png").write_bytes(b"png")
    shown = screens.with_screens(page, tmp_path)
    assert shown.index('src="figures/monitoring.png"') < shown.index('<h2 id="limits">')
    assert "Grafana is not installable on this build machine" in shown
    assert "(the dashboard panel's title and the unit of its values) is added to the page from that dashboard" in shown
    assert "an upload to /v1/predict every 1 s" in shown  # the load's periods, from traffic.LOAD_PERIODS


def _has_points(query: str) -> bool:
    """Whether the fake Prometheus returns a series for ``query``: every query but a 5xx one without fallback."""
    return "5.." not in query or "or vector(0)" in query


@pytest.fixture
def fake_prometheus():
    """A stand-in for Prometheus's HTTP API: ``state["since"]`` is when series begin (None: no data),
    ``state["requests"]`` the counter, ``state["others"]`` more ``(labels, since, value)`` series of the rate and
    latency panels; no request failed, so a 5xx query has data only through its ``or vector(0)`` fallback (as in
    Prometheus, an empty numerator without it leaves the whole ratio empty)."""
    state = {"since": None, "requests": 0.0, "others": []}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            url = urllib.parse.urlparse(self.path)
            params = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
            result = []
            if url.path.endswith("/query") and params["query"] == screens.REQUESTS_EXPR and state["requests"]:
                result = [{"metric": {}, "value": [time.time(), str(state["requests"])]}]
            elif url.path.endswith("/query_range") and state["since"] is not None and _has_points(params["query"]):
                series = [({"route": "/v1/predict"}, state["since"], "0.5")]
                series += state["others"] if "5.." not in params["query"] else []
                for labels, since, value in series:
                    start, end = max(float(params["start"]), since), float(params["end"])
                    values = [[t, value] for t in np.arange(start, end, 1.0)]
                    result += [{"metric": labels, "values": values}] if values else []
            body = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": result}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()


def test_the_monitoring_shot_waits_for_requests_and_filled_panels(fake_prometheus):
    url, state = fake_prometheus
    queries = screens.dashboard_queries()
    # before the load: no requests, no series -> a clear error once the bounded wait is over
    started = time.monotonic()
    with pytest.raises(RuntimeError, match=r"0 requests counted.*requests per second[^']*': 0%.*Status > Targets"):
        screens.wait_for_panels(url, queries, window_s=4, timeout=0.6, poll=0.1)
    assert time.monotonic() - started < 5
    # requests counted but the series only just began: it waits until they fill the graph's range
    state.update(requests=9.0, since=time.time())
    started = time.monotonic()
    filled = screens.wait_for_panels(url, queries, window_s=4, min_coverage=0.5, timeout=30, poll=0.1)
    assert 1.5 <= time.monotonic() - started < 10
    assert list(filled) == [p.title for p in queries] and min(filled.values()) >= 0.5  # the 5xx share's 0 line too
    # series without a counted request are not enough
    state.update(requests=0.0, since=time.time() - 10)
    with pytest.raises(RuntimeError, match="0 requests counted"):
        screens.wait_for_panels(url, queries, window_s=4, timeout=0.3, poll=0.1)
    assert screens.panel_coverage(url, queries[0][1], window_s=20) == pytest.approx(0.5, abs=0.1)
    assert screens.panel_coverage(url, queries[2][1], window_s=20) == pytest.approx(0.5, abs=0.1)  # a 0 line
    without_fallback = queries[2][1].replace(" or vector(0)", "").replace("((", "(", 1).replace(")) /", ") /", 1)
    assert screens.panel_coverage(url, without_fallback, window_s=20) == 0.0  # what the panel drew before
    with pytest.raises(ValueError, match="DATA_PANELS"):
        screens.wait_for_panels(url, [screens.Panel("Unreadable files", "x")], timeout=0)
    with pytest.raises(ValueError, match="min_coverage"):
        screens.wait_for_panels(url, queries, min_coverage=0)


def test_every_series_of_a_panel_must_be_drawn_across_the_graph(fake_prometheus):
    url, state = fake_prometheus
    queries = screens.dashboard_queries()
    rate, latency = queries[0].expr, queries[1].expr
    state.update(requests=9.0, since=time.time() - 30)
    assert screens.panel_coverage(url, latency, window_s=20) == 1.0
    # a route with one request before the range: in the legend, but its quantile is NaN, so it draws no line
    state["others"].append(({"route": "/v1/studies", "explain": "true"}, time.time() - 30, "NaN"))
    assert screens.panel_coverage(url, latency, window_s=20) == 0.0
    with pytest.raises(RuntimeError, match=r"least-covered series of each panel covers '/v1 requests[^;]*': 0%"):
        screens.wait_for_panels(url, queries, window_s=20, timeout=0.3, poll=0.1)
    # the load reached it: it counts from its first drawn point, the panel from its least-covered series
    state["others"][0] = ({"route": "/v1/studies", "explain": "true"}, time.time() - 5, "0.8")
    assert screens.panel_coverage(url, rate, window_s=20) == pytest.approx(0.25, abs=0.06)
    assert screens.series_coverage([[70, "NaN"], [80, "0.2"], [90, "+Inf"]], end=100, window_s=40) == 0.5
    assert screens.series_coverage([[70, "NaN"]], end=100, window_s=40) == 0.0


def test_the_upload_carries_a_neutral_name(tmp_path):
    dicom = tmp_path / "data" / "10006" / "462822612.dcm"
    dicom.parent.mkdir(parents=True)
    dicom.write_bytes(b"DICM" * 8)
    copy = screens.neutral_copy(dicom, tmp_path / "upload")
    assert copy.name == screens.UPLOAD_NAME and copy.read_bytes() == dicom.read_bytes()
    assert not any(ch.isdigit() for ch in screens.UPLOAD_NAME)  # no image or patient id in the shown name


@pytest.mark.slow
def test_screens_of_the_running_services_are_images_with_the_exports_digest(tiny_export, synth_root, tmp_path):
    if not all(shutil.which(b) for b in ("chromium", "chromedriver", "prometheus")):
        pytest.skip("Debian chromium, chromium-driver and prometheus are needed (run_all.sh --tests installs them)")
    from PIL import Image

    _, export, _ = tiny_export
    dicom = sorted((synth_root / "train_images").rglob("*.dcm"))[0]
    lines = []
    written = screens.capture_screens(export, tmp_path / "figures", dicom, say=lines.append, settle=False)
    load = [line for line in lines if line.startswith("steady load")]
    assert len(load) == 1 and "failed" not in load[0], lines  # every route answered as it should, until the shot
    monitoring = tuple(round(v * screens.MONITORING_SCALE) for v in screens.MONITORING_WINDOW)
    for name, window in (("web_app", screens.WINDOW), ("monitoring", monitoring)):
        image = np.asarray(Image.open(written[name]).convert("L"), float)
        if name == "monitoring":  # cut to its panels: the page's width at most, and less than its height
            assert image.shape[1] <= window[0] and image.shape[0] < window[1], image.shape
        else:
            assert image.shape == window[::-1], name
        assert image.std() > 5 and len(np.unique(image)) > 16, f"{name}.png is blank"
        record = json.loads(written[f"{name}_provenance"].read_text())["provenance"]
        assert record["digest"] == version_id(export)
        assert provenance.absolute_paths(record) == []
        assert dicom.stem not in json.dumps(record)  # the image id is neither shown nor recorded
        if name == "web_app":  # the decision the page shows, as its text (the slide prints it at a readable size)
            decision, caption = record["result"]["decision"], record["result"]["caption"]
            assert len(decision) == 1 and re.fullmatch(
                r"(Recall|Routine) — p = \d\.\d{3,} [≥<] threshold \d\.\d{3,}", decision[0]
            ), record["result"]
            assert len(caption) == 1 and caption[0].startswith(screens.CAPTION_STARTS), record["result"]
    if os.environ.get("MAMMO_SCREENSHOTS"):  # to look at them (as tests/serving/test_app.py does)
        shutil.copytree(tmp_path / "figures", os.environ["MAMMO_SCREENSHOTS"], dirs_exist_ok=True)
    checks = provenance.check_artifacts(tmp_path, export)
    assert [(c.artifact, c.status) for c in checks] == [
        ("figures/web_app.png", "current"),
        ("figures/monitoring.png", "current"),
    ]


def test_the_screenshots_upload_a_test_cancer_with_a_lesion_box(synth_root, tmp_path):
    import pandas as pd

    from mammo_utils.data.rsna import load_boxes, load_train

    df = load_train(synth_root)
    boxed = set(load_boxes(synth_root).image_id)
    patients = sorted(df.patient_id.unique())
    test_patients = patients[len(patients) // 2 :]
    splits = tmp_path / "splits.csv"
    pd.DataFrame(
        {"image_id": df.image_id, "split": ["test" if p in test_patients else "cv" for p in df.patient_id]}
    ).to_csv(splits, index=False)
    chosen = screens.demo_dicom(synth_root, splits)
    row = df[df.image_id == int(chosen.stem)].iloc[0]
    assert row.cancer == 1 and row.patient_id in test_patients and row.image_id in boxed
    labels = set(load_boxes(synth_root).query("image_id == @row.image_id").label)
    assert labels & {"mass", "spiculated_mass"}  # a lesion the detector can find, when the test split has one
    from mammo_utils.data.rsna import DataError

    with pytest.raises(DataError, match="train.csv: missing"):  # a bad data root names the missing file
        screens.demo_dicom(tmp_path / "nowhere")


def test_the_monitoring_shot_is_cut_to_its_panels(tmp_path):
    from PIL import Image

    shot = tmp_path / "monitoring.png"
    page = np.full((300, 200, 3), 255, np.uint8)
    page[:20] = 30  # the navigation bar
    page[60:240, 20:180] = 120  # the panels
    Image.fromarray(page).save(shot)
    region = {"left": 10, "top": 30, "right": 90, "bottom": 120}  # CSS pixels, at 2 device pixels each
    assert screens.crop_to_panels(shot, region, scale=2, margin=0) == shot
    cut = np.asarray(Image.open(shot).convert("RGB"))
    assert cut.shape[:2] == (180, 160) and (cut == 120).all()  # the panels only: no bar, no blank page under them
    screens.crop_to_panels(shot, None, scale=2)  # no panels found: the image stays as it is
    assert np.asarray(Image.open(shot)).shape[:2] == (180, 160)
    assert "mammo-panel-heading" in screens.PANELS_SCRIPT and "nav.navbar" in screens.PANELS_SCRIPT


def test_the_graphs_wait_for_the_longest_rate_window():
    from mammo_utils.reporting.screens import dashboard_queries, rate_window_s

    assert rate_window_s(dashboard_queries()) == 300.0  # the dashboard's rate(...[5m])
    assert rate_window_s([]) == 0.0
