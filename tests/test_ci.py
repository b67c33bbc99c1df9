"""The GitHub workflow (.github/workflows/ci.yml): tests on the Python it sets up, a release only after they pass,
actions pinned by commit."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"


def _workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def _steps(job: str) -> list[dict]:
    return _workflow()["jobs"][job]["steps"]


def test_actions_are_pinned_by_full_commit_sha_with_the_release_named():
    uses = re.findall(r"uses:\s*(\S+)(.*)", WORKFLOW.read_text())
    assert uses
    for action, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}", action), f"not pinned by commit: {action}"
        assert re.search(r"#\s*v\d+(\.\d+)*", comment), f"{action}: name the release in a comment"


def test_tests_run_on_the_python_that_was_set_up():
    steps = _steps("tests")
    versions = [
        s["with"]["python-version"]
        for job in ("tests", "docker")
        for s in _steps(job)
        if "setup-python" in s.get("uses", "")
    ]
    assert versions == ["3.11", "3.11"]
    run = next(s["run"] for s in steps if ".ci/run" in s.get("run", ""))
    # `sudo bash .ci/run` resets PATH to the system's, and run_all.sh would build the venv on another Python
    assert "sudo bash" not in run
    assert not run.startswith("sudo") or 'env "PATH=$PATH"' in run
    check = steps[[i for i, s in enumerate(steps) if ".ci/run" in s.get("run", "")][0] + 1]["run"]
    assert ".venv/bin/python" in check and "(3, 11)" in check


def test_the_image_is_built_after_the_tests_and_published_only_from_a_passing_tag():
    jobs = _workflow()["jobs"]
    assert jobs["docker"]["needs"] in ("tests", ["tests"])
    publish = [s for s in jobs["docker"]["steps"] if "docker push" in s.get("run", "")]
    assert len(publish) == 1
    condition = publish[0]["if"]
    assert "success()" in condition and "refs/tags/v" in condition
    steps = jobs["docker"]["steps"]
    assert steps.index(publish[0]) == len(steps) - 1  # after the build and the smoke test
    assert "secrets.GITHUB_TOKEN" not in publish[0]["run"]  # passed through env, not pasted into the script
    assert all(job.get("permissions", {}).get("packages") != "write" for name, job in jobs.items() if name != "docker")
    assert _workflow()["permissions"] == {"contents": "read"}


def test_ci_checks_that_compose_refuses_to_start_without_its_secrets():
    run = next(s["run"] for s in _steps("tests") if "docker compose" in s.get("run", ""))
    assert "config --quiet" in run and "MAMMO_API_TOKEN=ci" in run and "GRAFANA_ADMIN_PASSWORD=ci" in run
    assert "without MAMMO_STORE_PASSWORD" in run and "MAMMO_STORE_PASSWORD=ci" in run


def test_ci_installs_postgresql_so_the_store_tests_run_against_a_real_server():
    # .ci/run -> run_all.sh --tests as root: the apt step installs Debian's postgresql when its binaries are absent
    script = (REPO / "run_all.sh").read_text()
    assert 'compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || need+=(postgresql)' in script
    assert "run_all.sh --tests" in (REPO / ".ci" / "run").read_text()


def test_smoke_test_uses_a_token_and_binds_to_localhost():
    run = next(s["run"] for s in _steps("docker") if "docker run" in s.get("run", ""))
    assert "-p 127.0.0.1:8000:8000" in run and "MAMMO_API_TOKEN=" in run
    assert "= 401" in run  # a request without the token is refused
