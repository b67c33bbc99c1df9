"""The repository keeps its promises: README commands and paths exist, pins are pinned."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_readme_paths_exist():
    readme = (REPO / "README.md").read_text()
    paths = set(re.findall(r"`((?:notebooks|mammo_utils|benchmarks|tests|reports|\.ci|\.github)/[\w./-]+)`", readme))
    assert paths, "README names no repository paths"
    missing = [p for p in paths if not (REPO / p).exists() and not p.startswith("reports/")]
    assert not missing, f"README names missing paths: {missing}"


def test_readme_starts_with_the_two_setup_commands():
    readme = (REPO / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    assert "bash run_all.sh" in first_block and "bash run_all.sh --tests" in first_block
    assert "run_all.sh --tests" in (REPO / ".ci" / "run").read_text()


def test_requirements_are_pinned():
    lines = [
        l.strip() for l in (REPO / "requirements.txt").read_text().splitlines() if l.strip() and not l.startswith("#")
    ]
    assert lines and all("==" in l for l in lines), [l for l in lines if "==" not in l]
    assert "requirements.txt" in (REPO / "environment.yml").read_text()


def test_every_mammo_subcommand_the_readme_names_exists():
    from mammo_utils.cli import COMMANDS

    readme = (REPO / "README.md").read_text()
    named = set(re.findall(r"\bmammo ([a-z][a-z-]*)", readme)) - {"screening"}
    assert named, "README names no mammo subcommand"
    assert named <= set(COMMANDS), f"README names subcommands that do not exist: {sorted(named - set(COMMANDS))}"
    assert not re.search(r"python -m mammo_utils\.\w", readme), "README uses a removed per-module CLI"


def test_ruff_lint_and_format_are_clean():
    import subprocess
    import sys

    for args in (["check", "."], ["format", "--check", "."]):
        proc = subprocess.run([sys.executable, "-m", "ruff", *args], cwd=REPO, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-1000:]
