# Size: one record format, its check per artifact kind (export, build, scored runs) and the report's marks.
"""Which build each cited artifact came from: record the export beside it, check it when the report is built.

Every artifact the final report cites beside the notebooks' results (the API load test's JSON, the web-app and
monitoring screenshots) records the export it was measured on: the **digest** of that export's ``model.json``
(its first 12 hex digits of SHA-256, :func:`~mammo_utils.modeling.artifact.version_id`, which names a release's
``versions/<digest>`` folder), the training run, the time and, for a screenshot, the URL path it shows. A JSON
artifact carries it under its own ``provenance`` key; any other file in a sidecar ``<name>.json`` beside it
(``figures/web_app.png`` -> ``figures/web_app.json``).

``mammo report`` compares each record with the export it reports on (the champion pointer's ``model.json``), and
each notebook's results file (``results/*.json``) with the build that export was made in (the ``build`` id that
:func:`~mammo_utils.utils.save_results` and the export's ``model.json`` record): an artifact of another build, or
one that records no build, is marked in the report with a visible warning, and
``mammo report --strict`` (what ``run_all.sh`` runs) refuses to build. A results file of a training notebook (04-07)
also lists the runs it scored (``trained_runs``: :func:`~mammo_utils.modeling.run_state.trained_run`, each with the
build that trained it): a run trained in another build, or with no training record, fails the check too, so results
stamped with this build cannot rest on checkpoints trained elsewhere. Paths are recorded relative to the
repository or the work folder (:func:`portable_path`), never as this machine's absolute paths.

Example:
    >>> stamp = build_stamp("data/work/export/champion")  # doctest: +SKIP
    >>> write_sidecar("reports/figures/web_app.png", "data/work/export/champion", url_path="/")  # doctest: +SKIP
    >>> [c.status for c in check_artifacts("reports", "data/work/export/champion")]  # doctest: +SKIP
    ['current', 'current', 'other build']
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..modeling.artifact import ARTIFACT, build_stamp, record, version_id  # noqa: F401 - re-exported
from ..utils import build_identity, portable_path, to_json, write_atomic  # noqa: F401 - portable_path re-exported

#: Key of the record inside a JSON artifact (and the whole content of a sidecar).
KEY = "provenance"
#: Artifacts under ``reports/`` the final report cites besides the notebooks' results (checked when present),
#: plus every ``benchmarks/*.json``.
CITED = ("figures/web_app.png", "figures/monitoring.png")
#: Results files of the notebooks that train (or reuse) runs: each must list them (``trained_runs``).
TRAINING_RESULTS = tuple(f"results/{name}.json" for name in ("04_baseline", "05_transfer", "06_tuning", "07_detection"))
#: Check results that fail ``--strict``.
FAILING = ("other build", "unrecorded", "runs of another build", "runs unrecorded")
#: Absolute paths that name a machine's folders (a string starting with one of these is not portable).
MACHINE_PREFIXES = ("/home/", "/work/", "/tmp/", "/root/", "/Users/", "/private/", "/var/", "/mnt/", "/kaggle/")


class ProvenanceError(RuntimeError):
    """A cited artifact comes from another build (or records none) and the report was asked to be strict."""


def sidecar(artifact: str | Path) -> Path:
    """Where a non-JSON artifact's record lives: ``<name>.json`` beside it."""
    return Path(artifact).with_suffix(".json")


def write_sidecar(artifact: str | Path, export_dir: str | Path, url_path: str | None = None, **extra: Any) -> Path:
    """Write ``artifact``'s provenance sidecar (atomic) and return its path.

    Args:
        artifact: The file made from ``export_dir`` (a PNG).
        export_dir: The export it shows.
        url_path: The page's URL path for a screenshot.
        **extra: More fields.

    Returns:
        The sidecar path.
    """
    path = sidecar(artifact)
    payload = {KEY: record(export_dir, url_path, artifact=Path(artifact).name, **extra)}
    write_atomic(path, (to_json(payload, indent=1) + "\n").encode())
    return path


def read_record(artifact: str | Path) -> dict[str, Any] | None:
    """An artifact's provenance record (its ``provenance`` key, or its sidecar's), None when it has none."""
    artifact = Path(artifact)
    source = artifact if artifact.suffix == ".json" else sidecar(artifact)
    try:
        found = json.loads(source.read_text()).get(KEY)
    except (OSError, ValueError, AttributeError):
        return None
    return found if isinstance(found, dict) else None


@dataclass(frozen=True)
class Check:
    """The provenance check of one artifact.

    Attributes:
        artifact: Path relative to the reports folder (``figures/web_app.png``).
        status: ``current`` (same export digest), ``other build``, ``unrecorded`` (no record) or ``missing``.
        recorded: The digest (or build id) the artifact records (None when unrecorded).
        expected: The current export's digest (or build id).
        recorded_at: When the artifact was made (from its record).
        kind: What ``recorded`` names: ``export`` (a benchmark, a screenshot) or ``build`` (a results file).
        runs: A results file's scored runs as ``(run, build that trained it or None)``; statuses ``runs of another
            build`` and ``runs unrecorded`` name the runs at fault.
    """

    artifact: str
    status: str
    recorded: str | None
    expected: str
    recorded_at: str | None = None
    kind: str = "export"
    runs: tuple[tuple[str, str | None], ...] = ()

    @property
    def failing(self) -> bool:
        """True when the artifact must not be cited as this build's."""
        return self.status in FAILING

    def message(self) -> str:
        """One sentence for the report and the error."""
        if self.status == "unrecorded":
            return f"{self.artifact} records no build; it cannot be shown to come from {self.kind} {self.expected}"
        if self.status == "other build":
            return (
                f"{self.artifact} is from another build: {self.kind} {self.recorded} (made {self.recorded_at}), "
                f"not the current {self.kind} {self.expected}"
            )
        if self.status == "runs of another build":
            foreign = ", ".join(f"{run} (build {b})" for run, b in self.runs if b not in (None, self.expected))
            return f"{self.artifact} scores runs trained in another build: {foreign}, not the current {self.expected}"
        if self.status == "runs unrecorded":
            names = ", ".join(run for run, b in self.runs if b is None) or "none listed"
            return (
                f"{self.artifact} scores runs with no training record ({names}): they cannot be shown to be trained in "
                f"build {self.expected}"
            )
        return f"{self.artifact}: {self.kind} {self.expected} ({self.status})"


def check_artifact(reports: str | Path, rel: str, expected: str) -> Check:
    """Compare one artifact's record with the current export's digest.

    Args:
        reports: The reports folder.
        rel: The artifact's path relative to it.
        expected: The current export's digest (:func:`build_stamp`'s ``digest``).

    Returns:
        A :class:`Check`.
    """
    path = Path(reports) / rel
    if not path.is_file():
        return Check(rel, "missing", None, expected)
    found = read_record(path)
    if found is None or not found.get("digest"):
        return Check(rel, "unrecorded", None, expected)
    status = "current" if found["digest"] == expected else "other build"
    return Check(rel, status, found["digest"], expected, found.get("recorded_at"))


def check_result(reports: str | Path, rel: str, build: str, digest: str) -> Check:
    """Compare one notebook results file with the current build (and, when it records one, the export).

    Args:
        reports: The reports folder.
        rel: The file's path relative to it (``results/04_baseline.json``).
        build: The current build id (the export's ``model.json`` ``build``).
        digest: The current export's digest (checked too when the file records an export, as 08's does).

    Returns:
        A :class:`Check` of kind ``build`` (``unrecorded`` when the file names no build; ``runs of another build``
        or ``runs unrecorded`` when a run it scored was trained elsewhere or has no training record, or a
        :data:`TRAINING_RESULTS` file lists no runs).
    """
    try:
        payload = json.loads((Path(reports) / rel).read_text())
        found = payload.get("build") or {}
    except (OSError, ValueError, AttributeError):
        payload, found = {}, {}
    if not isinstance(found, dict) or not found.get("id"):
        return Check(rel, "unrecorded", None, build, kind="build")
    runs = tuple((str(r.get("run")), r.get("trained_build")) for r in payload.get("trained_runs") or ())
    status = "current" if found["id"] == build else "other build"
    if status == "current" and any(b not in (None, build) for _, b in runs):
        status = "runs of another build"
    elif status == "current" and (any(b is None for _, b in runs) or (rel in TRAINING_RESULTS and not runs)):
        status = "runs unrecorded"
    if status == "current" and read_record(Path(reports) / rel):
        by_export = check_artifact(reports, rel, digest)
        if by_export.failing:
            return by_export
    return Check(rel, status, found["id"], build, found.get("written_at"), kind="build", runs=runs)


#: Results files ``mammo report`` writes itself (checked after it wrote them, not before).
WRITTEN_BY_REPORT = ("results/champion_eval.json",)


def check_artifacts(
    reports: str | Path, export_dir: str | Path, cited: tuple[str, ...] = CITED, skip: tuple[str, ...] = ()
) -> list[Check]:
    """Check every cited artifact present under ``reports`` against the export the report describes.

    Benchmarks and screenshots are checked against the export's digest; every notebook results file against the
    build the export was made in (:func:`check_result`).

    Args:
        reports: The reports folder.
        export_dir: The current export (the champion pointer).
        cited: Artifacts to check besides ``benchmarks/*.json`` and ``results/*.json``.
        skip: Artifacts left out (:data:`WRITTEN_BY_REPORT` before the report rewrites them).

    Returns:
        One :class:`Check` per artifact that exists (missing ones are the report's own "not built yet" notes).
    """
    reports = Path(reports)
    stamp = build_stamp(export_dir)
    build = stamp.get("build") or build_identity()["id"]
    names = sorted(p.relative_to(reports).as_posix() for p in (reports / "benchmarks").glob("*.json"))
    checks = [check_artifact(reports, rel, stamp["digest"]) for rel in (*names, *cited)]
    results = sorted(p.relative_to(reports).as_posix() for p in (reports / "results").glob("*.json"))
    checks = [c for c in checks if c.artifact not in skip]
    results = [rel for rel in results if rel not in skip]
    checks += [check_result(reports, rel, build, stamp["digest"]) for rel in results]
    return [c for c in checks if c.status != "missing"]


def enforce(checks: list[Check]) -> None:
    """Raise when any artifact is from another build or records none (``mammo report --strict``).

    Raises:
        ProvenanceError: Naming every such artifact and how to rebuild it.
    """
    bad = [c for c in checks if c.failing]
    if bad:
        lines = "; ".join(c.message() for c in bad)
        retrain = (
            " Results scoring runs of another build need those runs retrained in this one (`bash run_all.sh` removes "
            "data/work/runs/arm_* and data/work/detector first)."
            if any(c.status.startswith("runs") for c in bad)
            else ""
        )
        raise ProvenanceError(
            f"{lines}. Rebuild them against the current export (`mammo screens`, `python benchmarks/bench_api.py "
            f"--out reports/benchmarks/api_load.json`) or delete them; without --strict the report marks them.{retrain}"
        )


def warning_html(check: Check) -> str:
    """The visible note printed beside an artifact from another build."""
    return f'<p class="note provenance-warning">⚠ From another build: {html.escape(check.message())}.</p>'


def runs_html(checks: list[Check]) -> str:
    """One paragraph counting the distinct runs the results files scored and how many this build trained.

    Args:
        checks: :func:`check_artifacts` results (each results file's ``runs``).

    Returns:
        HTML (empty when no results file lists runs).

    Example:
        >>> runs = (("r0", "b"), ("r1", None))
        >>> runs_html([Check("results/04_baseline.json", "runs unrecorded", "b", "b", kind="build", runs=runs)])
        '<p class="src">Runs trained in this build: 1 of 2 (scored by results/04_baseline.json; not: r1).</p>'
    """
    runs: dict[str, set[str | None]] = {}
    files = [c.artifact for c in checks if c.runs]
    for check in checks:
        for run, trained in check.runs:
            runs.setdefault(run, set()).add(trained)
    if not runs:
        return ""
    expected = next(c.expected for c in checks if c.runs)
    others = sorted(run for run, trained in runs.items() if trained != {expected})
    current = len(runs) - len(others)
    not_here = f"; not: {html.escape(', '.join(others))}" if others else ""
    return (
        f'<p class="src">Runs trained in this build: {current} of {len(runs)} '
        f"(scored by {html.escape(', '.join(files))}{not_here}).</p>"
    )


def environment_html(build: dict[str, Any] | None) -> str:
    """One paragraph naming the build and the machine it ran on (what the notebooks' set-up recorded).

    Args:
        build: :func:`~mammo_utils.utils.build_identity` (None or without ``environment``: only the id, if any).

    Returns:
        HTML (empty without a build).

    Example:
        >>> env = {"platform": "local", "machine": "x86_64", "gpus": [], "versions": {"python": "3.11.7"}}
        >>> environment_html({"id": "abc", "started_at": "2026-12-04T15:00Z", "environment": env})[15:]
        'Build <code>abc</code>, started 2026-12-04T15:00Z on local (x86_64, no GPU): python 3.11.7.</p>'
    """
    if not build or not build.get("id"):
        return ""
    env = build.get("environment") or {}
    where = ""
    if env:
        gpus = env.get("gpus")
        accel = "" if gpus is None else f", {len(gpus)} GPU" if gpus else ", no GPU"
        where = f" on {html.escape(str(env.get('platform', '?')))} ({html.escape(str(env.get('machine', '?')))}{accel})"
    libs = ", ".join(f"{html.escape(k)} {html.escape(str(v))}" for k, v in (env.get("versions") or {}).items())
    span = build.get("trained") or {}
    counts = span.get("experiments") or {span.get("experiment", "?"): span.get("runs")}
    held = " and ".join(f"<code>{html.escape(str(name))}</code> ({n})" for name, n in counts.items())
    trained = (
        f" Its store's experiment{'s' if len(counts) > 1 else ''} {held} hold{'' if len(counts) > 1 else 's'} "
        f"{span['runs']} MLflow runs, started from {html.escape(str(span['first_start']))} and "
        f"ended by {html.escape(str(span['last_end']))}: a notebook rendered after its runs were trained re-scores "
        "their checkpoints (its render time is not its training time)."
        if span.get("runs")
        else ""
    )
    started = html.escape(str(build.get("started_at")))
    return (
        f'<p class="src">Build <code>{html.escape(build["id"])}</code>, started {started}'
        f"{where}{': ' + libs if libs else ''}.{trained}</p>"
    )


def annotate(page: str, checks: list[Check], build: dict[str, Any] | None = None) -> str:
    """Mark an HTML report: a warning before each failing artifact's figure or section, and a provenance table.

    A figure is found by its ``src``; a JSON artifact by the first fact whose source names it (the warning goes
    before that paragraph). The table (artifact, recorded export, status) goes before the Sources section.

    Args:
        page: The report's HTML.
        checks: :func:`check_artifacts` results.
        build: The build record (:func:`environment_html`), printed under the table.

    Returns:
        The annotated HTML.
    """
    for check in (c for c in checks if c.failing):
        name = re.escape(check.artifact)
        anchor = re.search(rf'<figure><img src="{name}"', page) or re.search(
            rf"<(?:h3|p)\b(?:(?!<(?:h3|p)\b).)*?title=\"source: [^\"]*{name}#", page, re.S
        )
        note = warning_html(check)
        page = page[: anchor.start()] + note + page[anchor.start() :] if anchor else page
    if checks:
        rows = "".join(
            f"<tr><td><code>{html.escape(c.artifact)}</code></td><td>{c.kind} <code>{c.recorded or '—'}</code></td>"
            f"<td>{html.escape(c.recorded_at or '—')}</td><td>{'⚠ ' if c.failing else ''}{c.status}</td></tr>"
            for c in checks
        )
        expected = {c.kind: c.expected for c in checks}
        against = " and ".join(
            f"{what} <code>{expected[kind]}</code>"
            for kind, what in (("export", "the export's <code>model.json</code> digest"), ("build", "the build id"))
            if kind in expected
        )
        table = (
            '<h3 id="provenance">Provenance of the cited artifacts</h3><p class="src">Each benchmark and screenshot '
            "is checked against the export this report describes, and each notebook's results file against the "
            f"build that export was made in: {against}.</p>"
            "<table><tr><th>artifact</th><th>recorded</th><th>made</th><th>status</th></tr>"
            f"{rows}</table>{runs_html(checks)}{environment_html(build)}"
        )
        marker = page.find('<h2 id="sources">')
        page = page[:marker] + table + "\n" + page[marker:] if marker >= 0 else page + table
    return page


def absolute_paths(value: Any, where: str = "") -> list[str]:
    """Every string in a JSON value that is a machine's absolute path (``where: path`` each).

    A string counts when it starts with one of :data:`MACHINE_PREFIXES`, or starts with ``/`` and exists on
    this machine; URL paths (``/v1/predict``) and other strings pass.

    Args:
        value: Parsed JSON.
        where: Location prefix in the messages.

    Returns:
        ``["runs.0.model: /work/...", ...]``.
    """
    if isinstance(value, dict):
        return [hit for k, v in value.items() for hit in absolute_paths(v, f"{where}.{k}".lstrip("."))]
    if isinstance(value, list):
        return [hit for i, v in enumerate(value) for hit in absolute_paths(v, f"{where}.{i}".lstrip("."))]
    if isinstance(value, str) and value.startswith("/") and len(value) > 1:
        if value.startswith(MACHINE_PREFIXES) or (len(value) < 4096 and Path(value).exists() and value.count("/") > 1):
            return [f"{where}: {value}"]
    return []
