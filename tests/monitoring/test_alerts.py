"""The Prometheus alert rules load and each fires under its fault in promtool's unit tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool not installed (Debian package `prometheus`; run_all.sh --tests installs it as root)")
    return path


def test_rules_are_valid(promtool):
    out = subprocess.run([promtool, "check", "rules", str(RULES / "alerts.yml")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "6 rules found" in out.stdout + out.stderr


def test_rule_unit_tests_pass(promtool):
    out = subprocess.run([promtool, "test", "rules", "alerts_test.yml"], cwd=RULES, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout + out.stderr


def test_every_alert_is_unit_tested():
    import yaml

    rules = {r["alert"] for g in yaml.safe_load((RULES / "alerts.yml").read_text())["groups"] for r in g["rules"]}
    tests = yaml.safe_load((RULES / "alerts_test.yml").read_text())["tests"]
    fired = {case["alertname"] for t in tests for case in t["alert_rule_test"] if case.get("exp_alerts")}
    assert rules == fired, f"rules never shown firing: {rules - fired}"
