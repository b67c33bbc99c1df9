"""The monitoring stack of deploy/: alert rules, their promtool unit tests, Alertmanager's routes, Grafana's queries.

promtool and amtool come from Debian's `prometheus` and `prometheus-alertmanager` packages (run_all.sh --tests
installs them as root); the tests that need them skip, saying so, where they are missing.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus"
ALERTMANAGER = DEPLOY / "alertmanager" / "alertmanager.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "mammo.json"

#: Metrics and labels the rules use that the serving code does not export yet (the rules are written against these
#: names; the promtool tests feed them). Each entry says what the service must add; once it does, the entry is moot.
PENDING_METRICS = {
    # gauge, no labels: labelled cancers among the rolling window's labelled predictions (rolling_metrics' positives)
    "mammo_feedback_positives",
}
PENDING_LABELS = {
    # label of the latency histogram: "true" for /v1/predict?explain=true, "false" otherwise
    ("mammo_request_latency_seconds", "explain"),
}


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (Debian package `{package}`; run_all.sh --tests installs it as root)")
    return path


@pytest.fixture(scope="module")
def promtool() -> str:
    return _tool("promtool", "prometheus")


@pytest.fixture(scope="module")
def amtool() -> str:
    return _tool("amtool", "prometheus-alertmanager")


def _rules() -> list[dict]:
    return [r for g in yaml.safe_load((RULES / "alerts.yml").read_text())["groups"] for r in g["rules"]]


def _unit_cases() -> list[dict]:
    tests = yaml.safe_load((RULES / "alerts_test.yml").read_text())["tests"]
    return [case for t in tests for case in t["alert_rule_test"]]


def test_rules_are_valid(promtool):
    out = subprocess.run([promtool, "check", "rules", str(RULES / "alerts.yml")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{len(_rules())} rules found" in out.stdout + out.stderr


def test_rule_unit_tests_pass(promtool):
    out = subprocess.run([promtool, "test", "rules", "alerts_test.yml"], cwd=RULES, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout + out.stderr


def test_every_alert_is_unit_tested_firing_and_silent():
    rules = {r["alert"] for r in _rules()}
    cases = _unit_cases()
    fired = {c["alertname"] for c in cases if c.get("exp_alerts")}
    silent = {c["alertname"] for c in cases if not c.get("exp_alerts")}
    assert rules == fired, f"rules never shown firing: {rules - fired}"
    always_on = {r["alert"] for r in _rules() if r["expr"].strip() == "vector(1)"}
    assert rules - always_on <= silent, f"rules never shown silent: {rules - always_on - silent}"


def test_every_alert_has_a_severity_and_a_runbook_line():
    for rule in _rules():
        assert rule["labels"]["severity"] in {"critical", "warning", "none"}, rule["alert"]
        runbook = rule["annotations"].get("runbook", "")
        assert len(runbook) > 40 and "\n" not in runbook.strip(), f"{rule['alert']}: runbook must be one line"
        assert rule["annotations"].get("summary"), rule["alert"]


def test_an_outage_is_seen():
    scrape_jobs = {j["job_name"] for j in yaml.safe_load((RULES / "prometheus.yml").read_text())["scrape_configs"]}
    exprs = {r["alert"]: " ".join(r["expr"].split()) for r in _rules()}
    assert 'up{job="mammo-api"} == 0' in exprs.values()
    assert 'absent(up{job="mammo-api"})' in exprs.values()
    assert "mammo-api" in scrape_jobs  # the job the two alerts name
    assert any(e == "vector(1)" for e in exprs.values())  # the watchdog: proves that alerts can be delivered


def test_ratios_quantiles_and_accuracy_alerts_have_minimum_guards():
    for rule in _rules():
        expr = " ".join(rule["expr"].split())
        if " / " in expr or "histogram_quantile" in expr or "mammo_feedback_metric" in expr:
            assert re.search(r"\band\b.*>= \d+", expr), f"{rule['alert']} has no minimum-count guard: {expr}"
    by_name = {r["alert"]: " ".join(r["expr"].split()) for r in _rules()}
    assert re.search(r"mammo_feedback_positives >= (\d+)", by_name["MammoSensitivityDrop"])
    assert int(re.search(r"mammo_feedback_positives >= (\d+)", by_name["MammoSensitivityDrop"]).group(1)) >= 10
    # unreadable files over files received (a study is several files in one request), never over requests
    decode = by_name["MammoHighDecodeErrorRatio"]
    assert "/ sum(increase(mammo_input_bytes_count" in decode and "mammo_requests_total" not in decode
    # traffic counts /v1 routes only, not Prometheus' scrapes of /metrics or the probes of /health
    assert 'route=~"/v1/.*"' in by_name["MammoHigh5xxRate"]
    # latency: per route, and Grad-CAM requests apart from plain ones
    latency = {name: e for name, e in by_name.items() if "mammo_request_latency_seconds" in e}
    assert any('explain="true"' in e for e in latency.values())
    assert any('explain!="true"' in e and 'route="/v1/predict"' in e for e in latency.values())
    assert any('route="/v1/studies"' in e for e in latency.values())


def _exported() -> tuple[set[str], dict[str, tuple[str, ...]]]:
    """Sample names the service can expose, and each metric's label names."""
    from mammo_utils.serving.metrics import ServiceMetrics

    metrics = ServiceMetrics()
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"], "gauge": [""]}
    names = {f.name + s for f in metrics.registry.collect() for s in suffixes.get(f.type, [""])}
    labels = {
        collector._name: tuple(collector._labelnames)
        for collector in vars(metrics).values()
        if hasattr(collector, "_labelnames")
    }
    return names, labels


def _used_metric_names(text: str) -> set[str]:
    return set(re.findall(r"\bmammo_[a-z_]+\b", text))


def test_rules_and_dashboard_use_metrics_the_service_exports_or_that_are_declared_pending():
    names, labels = _exported()
    exprs = [r["expr"] for r in _rules()] + [target["expr"] for _, target in _dashboard_targets()]
    used = set().union(*map(_used_metric_names, exprs))
    unknown = used - names - PENDING_METRICS
    assert not unknown, f"metrics neither exported by mammo_utils/serving/metrics.py nor declared pending: {unknown}"
    assert "explain" in labels["mammo_request_latency_seconds"] or (
        ("mammo_request_latency_seconds", "explain") in PENDING_LABELS
    )


def test_alertmanager_config_is_valid_and_routes_by_severity(amtool):
    out = subprocess.run([amtool, "check-config", str(ALERTMANAGER)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr

    def receiver(*labels: str) -> str:
        cmd = [amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER}", *labels]
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()

    assert receiver("severity=critical", "alertname=MammoApiDown") == "oncall"
    assert receiver("severity=warning", "alertname=MammoPredictLatencyHigh") == "team"
    assert receiver("severity=none", "alertname=MammoAlertingWatchdog") == "heartbeat"
    config = yaml.safe_load(ALERTMANAGER.read_text())
    urls = [c["url"] for r in config["receivers"] for c in r.get("webhook_configs", [])]
    assert urls and all(re.match(r"https?://[^/]+\.invalid(/|$)", u) for u in urls)  # placeholders that go nowhere


def test_prometheus_config_is_valid_and_sends_to_the_compose_alertmanager(promtool):
    out = subprocess.run([promtool, "check", "config", str(RULES / "prometheus.yml")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    prometheus = yaml.safe_load((RULES / "prometheus.yml").read_text())
    targets = prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert "alertmanager" in compose["services"] and targets == ["alertmanager:9093"]


def _dashboard_targets() -> list[tuple[dict, dict]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [(panel, target) for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_dashboard_never_draws_cumulative_buckets_as_a_distribution():
    for panel, target in _dashboard_targets():
        if "_bucket" in target["expr"]:
            assert "histogram_quantile" in target["expr"] or (
                target.get("format") == "heatmap" and panel["type"] == "heatmap"
            ), f"panel {panel['title']!r} shows cumulative buckets as they are"


def test_dashboard_queries_parse(promtool, tmp_path):
    rules = [
        {
            "record": f"dashboard:panel{panel['id']}:{target['refId']}",
            "expr": target["expr"].replace("$__rate_interval", "5m"),
        }
        for panel, target in _dashboard_targets()
    ]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    out = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def _panel_expr(title: str) -> str:
    return next(t["expr"] for panel, t in _dashboard_targets() if panel["title"].startswith(title))


def test_the_5xx_panel_draws_zero_while_nothing_fails_and_the_share_once_something_does(promtool, tmp_path):
    expr = _panel_expr("5xx share")
    ok = {"series": 'mammo_requests_total{route="/v1/predict", status="200"}', "values": "0+60x20"}
    failing = {"series": 'mammo_requests_total{route="/v1/predict", status="500"}', "values": "0+15x20"}
    tests = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {  # only 200s: the panel shows a zero series, not "no data"
                "interval": "1m",
                "input_series": [ok],
                "promql_expr_test": [{"expr": expr, "eval_time": "10m", "exp_samples": [{"labels": "{}", "value": 0}]}],
            },
            {  # 15 of 75 requests a minute fail: the share is 0.2
                "interval": "1m",
                "input_series": [ok, failing],
                "promql_expr_test": [
                    {"expr": expr, "eval_time": "10m", "exp_samples": [{"labels": "{}", "value": 0.2}]}
                ],
            },
            {  # no traffic at all: no share is defined, so the panel stays empty rather than claiming 0
                "interval": "1m",
                "input_series": [{"series": 'up{job="mammo-api"}', "values": "1x20"}],
                "promql_expr_test": [{"expr": expr, "eval_time": "10m", "exp_samples": []}],
            },
        ],
    }
    (tmp_path / "panel_test.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    out = subprocess.run([promtool, "test", "rules", "panel_test.yml"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
