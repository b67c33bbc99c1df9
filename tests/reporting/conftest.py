"""The generated documents built once per session into a copy of ``reports/`` (shared by the reporting tests)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def built(tiny_export, tmp_path_factory):
    """``(reports folder, written files, export folder)`` of one ``build_reports`` run on the tiny export."""
    from mammo_utils.reporting.build import build_reports

    cfg, export, _ = tiny_export
    reports = tmp_path_factory.mktemp("built") / "reports"
    shutil.copytree(REPO / "reports", reports, ignore=shutil.ignore_patterns("*.pdf"))
    written = build_reports(cfg, export, reports, pdf=True, progress=lambda line: None)
    return reports, written, export
