"""``mammo report``: evaluate the exported champion, then write every generated document into ``reports/``.

Outputs (all atomic writes):

- ``results/champion_eval.json``: the export scored on its test patients (overall and per subgroup);
- ``figures/pipeline.svg``, ``figures/deployment.svg``: the architecture diagrams;
- ``figures/slide_08_export_*.png``: 08's export table redrawn for the slides (:mod:`.slide_figures`);
- ``api/openapi.json`` + ``api/index.html``: the service's schema and a readable page;
- ``final_report.html`` (+ ``final_report.pdf`` when headless Chromium is installed);
- ``model_card.md`` (also copied into the export folder);
- ``slides.html`` (self-contained, offline);
- ``report_facts.json``: every number printed, with its source.

Each cited benchmark and screenshot is checked against the export the report describes
(:mod:`.provenance`): one from another build is marked in the report, and ``strict`` refuses to build.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from ..config import Config
from ..utils import build_identity, project_root, write_atomic
from .facts import FactBook

#: Where the real RSNA ``train.csv`` is looked for (relative to the project root), first match wins.
REAL_TRAIN_CSV = ("../shared/real-rsna/train.csv", "data/rsna/train.csv")


def real_train_csv(root: Path, cfg: Config) -> str | None:
    """Source path of the real RSNA ``train.csv``, or None.

    The data root's own ``train.csv`` when it is not synthetic (a user's ``mammo download``), else the first of
    :data:`REAL_TRAIN_CSV` that exists.

    Args:
        root: Project root.
        cfg: Configuration (its data root).

    Returns:
        A source path, or None when no real ``train.csv`` is on this machine.
    """
    if not is_synthetic(cfg) and (cfg.data_root / "train.csv").is_file():
        return str(cfg.data_root.resolve() / "train.csv")
    for rel in REAL_TRAIN_CSV:
        if (root / rel).is_file():
            return rel
    return None


def is_synthetic(cfg: Config) -> bool:
    """Whether the configured data is a synthetic set (the generator's ``synthetic_params.json`` is beside it).

    Args:
        cfg: Configuration (its data root).

    Returns:
        True for the embedded set or any set ``mammo synth`` wrote.
    """
    return (cfg.data_root / "synthetic_params.json").is_file()


#: A link to another file of the reports folder (not a web address, not an anchor in the page).
_LOCAL_LINK = re.compile(r'<a href="(?![a-z][a-z0-9+.-]*:|#)([^"]*)"[^>]*>(.*?)</a>', re.S)


def printable(page: str) -> str:
    """The report's HTML as the PDF prints it: links to the folder's other files become plain text.

    Chromium would print such a link as this machine's absolute ``file://`` address, which means nothing to a
    reader of the PDF; web links and the page's own anchors (``#ref-…``) stay links.

    Args:
        page: The report's HTML.

    Returns:
        The HTML to print.

    Example:
        >>> printable('<a href="04_baseline_cnn.html">04</a> <a href="#ref-x">[1]</a> <a href="https://x.org">x</a>')
        '<span class="file">04</span> <a href="#ref-x">[1]</a> <a href="https://x.org">x</a>'
    """
    return _LOCAL_LINK.sub(r'<span class="file">\2</span>', page)


def print_pdf(html_file: Path, pdf_file: Path) -> Path | None:
    """Print an HTML file to PDF with headless Chromium (None when it is not installed or fails).

    The page is printed from a :func:`printable` copy beside it (so its figures resolve), removed afterwards.
    """
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        return None
    partial = pdf_file.with_name(pdf_file.name + ".partial.pdf")
    source = html_file.with_name(f".{html_file.stem}.print.html")
    write_atomic(source, printable(html_file.read_text()).encode())
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
               f"--print-to-pdf={partial}", source.resolve().as_uri()]  # fmt: skip
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=120)
    except (subprocess.SubprocessError, OSError):
        return None
    finally:
        source.unlink(missing_ok=True)
    if not partial.is_file() or partial.stat().st_size == 0:
        return None
    partial.replace(pdf_file)
    return pdf_file


def champion_confusion(champion: dict, folder: Path) -> Path:
    """Draw the exported champion's per-breast test confusion matrix (from ``champion_eval.json``), and its slide copy.

    Args:
        champion: :func:`~mammo_utils.reporting.champion.evaluate_champion`'s payload.
        folder: The figures folder.

    Returns:
        The PNG's path.
    """
    from ..evaluation.plots import plot_confusion, save_fig
    from .slide_figures import champion_slide_confusion
    from .slides import CHAMPION_CONFUSION

    model = champion["model"]
    title = f"Exported champion {model['run_name']} (registry v{model['registry_version']}), test"
    save_fig(plot_confusion(champion["confusion"], title), CHAMPION_CONFUSION, folder)
    champion_slide_confusion(champion["confusion"], "Exported champion, test breasts", folder)
    if champion.get("roc"):
        roc_figure(champion, folder)
    return folder / f"{CHAMPION_CONFUSION}.png"


#: The exported champion's test ROC curve drawn by ``mammo report`` (the final report shows it).
CHAMPION_ROC = "champion_roc_test_breast"


def roc_figure(champion: dict, folder: Path) -> Path:
    """Draw the exported champion's per-breast test ROC curve with its frozen threshold and 90%-specificity point.

    Args:
        champion: :func:`~mammo_utils.reporting.champion.evaluate_champion`'s payload (with ``roc``).
        folder: The figures folder.

    Returns:
        The PNG's path.
    """
    from ..evaluation.plots import plot_roc, save_fig

    counts, op = champion["confusion"], champion.get("sensitivity_at_specificity") or {}
    points = {
        f"frozen threshold {counts['threshold']:.3f}": (
            counts["fp"] / max(counts["fp"] + counts["tn"], 1),
            counts["tp"] / max(counts["tp"] + counts["fn"], 1),
        )
    }
    if op.get("threshold") is not None and op.get("n"):
        label = f"best sensitivity at >= {op['specificity_target']:.0%} specificity"
        points[label] = (1 - op["specificity"], op["k"] / op["n"])
    model = champion["model"]
    title = f"Exported champion {model['run_name']}, test breasts"
    save_fig(plot_roc(champion["roc"]["fpr"], champion["roc"]["tpr"], points, title), CHAMPION_ROC, folder)
    return folder / f"{CHAMPION_ROC}.png"


def _training_span(cfg: Config) -> dict | None:
    """:func:`~mammo_utils.modeling.tracking.training_span` of the reports store, or None when it cannot be read."""
    from ..modeling.tracking import training_span

    try:
        return training_span(cfg)
    except Exception:  # noqa: BLE001 - a store that cannot be read leaves the sentence out, not the report
        return None


def build_reports(
    cfg: Config,
    export_dir: str | Path | None = None,
    reports: str | Path | None = None,
    pdf: bool = True,
    progress: Callable[[str], None] = print,
    strict: bool = False,
) -> dict[str, Path]:
    """Build every generated document.

    Args:
        cfg: Configuration (data root, work dir, splits).
        export_dir: The champion's export folder (default ``<work_dir>/export/champion``).
        reports: Output folder (default ``<project>/reports``).
        pdf: Also print the final report to PDF when Chromium is available.
        progress: One-line progress messages.
        strict: Refuse to build when a cited artifact is from another build or records none (without it, the
            report marks such an artifact with a visible warning).

    Returns:
        ``{name: path}`` of the files written.

    Raises:
        FileNotFoundError: No export folder (run notebook 08 or ``mammo export`` first).
        ProvenanceError: ``strict`` and an artifact from another build (nothing is written).
    """
    from .api_docs import export_api_docs
    from .champion import evaluate_champion
    from .diagrams import deployment_diagram, pipeline_diagram
    from .final_report import build_final_report
    from .model_card import build_model_card
    from .provenance import WRITTEN_BY_REPORT, annotate, check_artifacts, enforce
    from .screens import with_screens
    from .slide_figures import SlideTextError, export_slide_figures
    from .slides import build_slides

    root = project_root()
    reports = Path(reports) if reports else root / "reports"
    export_dir = Path(export_dir) if export_dir else cfg.champion_export
    if not (export_dir / "model.json").is_file():
        raise FileNotFoundError(f"{export_dir}: no exported model; run notebook 08 or `mammo export` first")
    provenance = check_artifacts(reports, export_dir, skip=WRITTEN_BY_REPORT)  # those are rewritten below
    for check in (c for c in provenance if c.failing):
        progress(f"warning: {check.message()}")
    if strict:
        enforce(provenance)
    out: dict[str, Path] = {}
    progress("scoring the exported champion on its test patients")
    champion = evaluate_champion(cfg, export_dir, folder=reports / "results")
    out["champion_eval"] = reports / "results" / "champion_eval.json"
    out["champion_confusion"] = champion_confusion(champion, reports / "figures")
    provenance = check_artifacts(reports, export_dir)  # now with the results this command wrote
    out["pipeline"] = pipeline_diagram(reports / "figures" / "pipeline.svg")
    out["deployment"] = deployment_diagram(reports / "figures" / "deployment.svg")
    try:
        for path in export_slide_figures(reports / "results" / "08_export.json", reports / "figures"):
            out[path.stem] = path  # the export table redrawn with slide-sized text
    except SlideTextError as exc:  # the slides then show 08's page figure
        progress(f"warning: {exc}")
    out["openapi"], out["api_page"] = export_api_docs(reports / "api", export_dir)
    book = FactBook(root, reports)
    real = real_train_csv(root, cfg)
    embedded = book.source_path(cfg.data_root / "train.csv")
    api_json = book.source_path(reports / "benchmarks" / "api_load.json")
    synthetic = is_synthetic(cfg)
    progress("writing final_report.html, model_card.md, slides.html")
    page = with_screens(build_final_report(book, real, embedded, api_json, synthetic), reports)
    write_atomic(
        reports / "final_report.html",
        annotate(page, provenance, {**build_identity(), "trained": _training_span(cfg)}).encode(),
    )
    out["final_report"] = reports / "final_report.html"
    card = build_model_card(book, real, embedded, synthetic)
    write_atomic(reports / "model_card.md", card.encode())
    write_atomic(export_dir / "model_card.md", card.encode())
    out["model_card"] = reports / "model_card.md"
    write_atomic(reports / "slides.html", build_slides(book, real, embedded, synthetic).encode())
    out["slides"] = reports / "slides.html"
    write_atomic(reports / "report_facts.json", (book.to_json() + "\n").encode())
    out["facts"] = reports / "report_facts.json"
    if pdf:
        printed = print_pdf(out["final_report"], reports / "final_report.pdf")
        if printed is not None:
            out["pdf"] = printed
    progress(f"{len(book.facts)} facts from {len({f.source.partition('#')[0] for f in book.facts.values()})} artifacts")
    return out
