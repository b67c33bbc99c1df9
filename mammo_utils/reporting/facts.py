# Size: the fact book (read, format, remember, cite) and the few facts every document words the same way.
"""Numbers with their sources: every figure the final report, the model card and the slides print is a fact.

A fact is read from an artifact through a *source* string, and the same string is printed beside it (a tooltip
in HTML, a footnote in Markdown) and kept in ``reports/report_facts.json``, so a reader or a test can re-read
every number from where it came:

- ``reports/results/04_baseline.json#test_breast_ci.roc_auc.value``: a JSON file and a dotted path (list
  positions are numbers, ``[key=value]`` picks the list item whose ``key`` equals ``value``, ``*`` collects every
  item and a final ``|max``, ``|min`` or ``|len`` aggregates them);
- ``data/rsna-synthetic/train.csv#cancer_breast_rate``: a statistic of an RSNA ``train.csv`` (:data:`CSV_STATS`);
- ``deploy/prometheus/alerts.yml#alerts``: the number of alert rules in a Prometheus rule file;
- ``<any file>#sha256``: the SHA-256 of the file's bytes (printed with the ``hex12`` format: its first 12 digits).

Paths are relative to the project root (or absolute). A file that is not part of the project (the real RSNA
``train.csv`` of a user's download) is *shown* under a name instead of this machine's path
(:meth:`FactBook.show_as`), in the documents and in ``report_facts.json`` alike: the name carries the file's SHA-256,
so a reader re-reads the number from their own copy with that digest, and no path of this machine is published.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import html
import json
import math
import re
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import pandas as pd

from ..evaluation.metrics import format_number
from ..evaluation.screening import breast_cancer_rate
from ..utils import missing_reason, project_root, to_json


class FactError(KeyError):
    """A source that does not resolve (missing file or key): the message names both."""


def _breasts(df: pd.DataFrame) -> pd.DataFrame:
    return df.groupby(["patient_id", "laterality"]).cancer.max().reset_index()


#: Statistics of an RSNA ``train.csv`` a source may name.
CSV_STATS: dict[str, Callable[[pd.DataFrame], float]] = {
    "images": len,
    "patients": lambda df: df.patient_id.nunique(),
    "breasts": lambda df: len(_breasts(df)),
    "cancer_image_rate": lambda df: float(df.cancer.mean()),
    "cancer_breast_rate": breast_cancer_rate,  # the screening prevalence (evaluation.screening), one formula
    "cancer_patient_rate": lambda df: float(df.groupby("patient_id").cancer.max().mean()),
    "sites": lambda df: df.site_id.nunique(),
    "machines": lambda df: df.machine_id.nunique(),
    "implant_rate": lambda df: float(df.implant.mean()),
    "images_per_patient": lambda df: float(len(df) / df.patient_id.nunique()),
    "median_age": lambda df: float(df.age.median()),
}


#: Aggregations a source may end with (``…#runs.*.p95_s|max``), over the values a ``*`` segment collects.
AGGREGATES: dict[str, Callable[[list], Any]] = {"max": max, "min": min, "len": len, "sum": sum}


def _dotted_key(value: dict, parts: list[str], i: int) -> int:
    """How many parts from ``i`` name one key of ``value`` (keys may hold dots: ``sens@0.5fp``), 0 when none."""
    for j in range(len(parts), i, -1):
        if ".".join(parts[i:j]) in value:
            return j - i
    return 0


def _walk(value: Any, path: str, source: str) -> Any:
    parts = [p for p in path.split(".") if p]
    i = 0
    while i < len(parts):
        part = parts[i]
        if part == "*":
            items = value.values() if isinstance(value, dict) else value
            return [_walk(item, ".".join(parts[i + 1 :]), source) for item in items]
        if part.startswith("[") and part.endswith("]") and "=" in part:
            key, wanted = part[1:-1].split("=", 1)
            found = [item for item in value if str(item.get(key)) == wanted]
            if not found:
                raise FactError(f"{source}: no item with {key}={wanted}")
            value = found[0]
        elif isinstance(value, list):
            value = value[int(part)]
        elif isinstance(value, dict) and (n := _dotted_key(value, parts, i)):
            value = value[".".join(parts[i : i + n])]
            i += n
            continue
        else:
            raise FactError(f"{source}: no key {part!r}")
        i += 1
    return value


#: The files read inside each open :func:`files_read` block (innermost last).
_READING: ContextVar[tuple[set[str], ...]] = ContextVar("reading", default=())


def note_read(file: str) -> None:
    """Add ``file`` (the file part of a source) to every open :func:`files_read` block."""
    for files in _READING.get():
        files.add(file)


@contextlib.contextmanager
def files_read() -> Iterator[set[str]]:
    """Collect the file of every source read inside the block: resolved, or looked up as an already known fact.

    A document lists as its sources what it read, not a typed list that drifts from the code.

    Returns:
        A context manager yielding the set it fills (file parts of the sources, as the sources name them).

    Example:
        >>> with files_read() as read:
        ...     auc = FactBook().md("card.auc", "reports/results/champion_eval.json#test_breast_ci.roc_auc.value")
        >>> sorted(read)
        ['reports/results/champion_eval.json']
    """
    files: set[str] = set()
    token = _READING.set((*_READING.get(), files))
    try:
        yield files
    finally:
        _READING.reset(token)


def resolve(source: str, root: Path | None = None) -> Any:
    """The value a source string names (see the module docstring).

    Raises:
        FactError: Missing file, key or unknown statistic.
    """
    root = root or project_root()
    file, _, path = source.partition("#")
    full = Path(file) if Path(file).is_absolute() else root / file
    if not full.is_file():
        raise FactError(f"{source}: file {full} not found")
    note_read(file)  # an existing file was opened, even when the key turns out missing
    if path == "sha256":
        return hashlib.sha256(full.read_bytes()).hexdigest()
    if full.suffix == ".json":
        path, _, aggregate = path.partition("|")
        value = _walk(json.loads(full.read_text()), path, source)
        if aggregate:
            if aggregate not in AGGREGATES:
                raise FactError(f"{source}: unknown aggregate {aggregate!r}; known {sorted(AGGREGATES)}")
            value = AGGREGATES[aggregate](value)
        return value
    if full.suffix == ".csv":
        if path not in CSV_STATS:
            raise FactError(f"{source}: unknown statistic {path!r}; known {sorted(CSV_STATS)}")
        return CSV_STATS[path](pd.read_csv(full))
    if full.suffix in (".yml", ".yaml") and path == "alerts":
        return sum(1 for line in full.read_text().splitlines() if line.strip().startswith("- alert:"))
    raise FactError(f"{source}: cannot read {full.suffix} files")


def _absent(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def format_value(value: Any, fmt: str) -> str:
    """``fmt`` applied to ``value`` (``pct`` -> ``12.3%``, ``pct0`` -> ``12%``, ``int`` -> ``1,234``, ``hex12`` -> the
    first 12 characters of a digest; no ``-0.000``)."""
    if _absent(value):
        return "n/a"
    if fmt == "hex12":
        return str(value)[:12]
    if fmt == "pct":
        return f"{float(value):.1%}"
    if fmt == "pct0":
        return f"{float(value):.0%}"
    if fmt == "int":
        return f"{int(round(float(value))):,}"
    if fmt == "str":
        return str(value)
    return format_number(float(value), fmt)  # -0.0002 at "+.3f" prints +0.000, not -0.000


#: Characters a fact key may hold: it is printed in ``data-fact`` attributes and the JSON of every fact.
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def fact_key(key: str) -> str:
    """A fact key made of ``[A-Za-z0-9._-]`` only (any other character becomes ``_``), so that it is printed as is.

    Keys built from labels (``flag.04's.6.k``) would otherwise carry characters that HTML escapes
    (``&#x27;``) in ``data-fact`` attributes.

    Example:
        >>> fact_key("card.flag.04's.6.k"), fact_key("d07.froc.sens@1fp")
        ('card.flag.04_s.6.k', 'd07.froc.sens_1fp')
    """
    return _KEY_UNSAFE.sub("_", key)


@dataclasses.dataclass
class Fact:
    """One number (or word) and where it came from."""

    key: str
    value: Any
    text: str
    source: str
    fmt: str
    missing: str | None = None


class FactBook:
    """The facts of one document; each is read once from its source and printed with it.

    Args:
        root: Project root the sources are relative to.
        reports: The reports folder the documents are written to (default ``<root>/reports``); its ``results/``
            holds the notebooks' recorded numbers.
    """

    def __init__(self, root: Path | None = None, reports: Path | None = None):
        self.root = root or project_root()
        self.reports = Path(reports) if reports else self.root / "reports"
        self.results = self.source_path(self.reports / "results")
        self.facts: dict[str, Fact] = {}
        self.names: dict[str, str] = {}

    def show_as(self, file: str, name: str) -> None:
        """Show the facts read from ``file`` as coming from ``name`` (a tooltip, a source list), not from its path.

        Args:
            file: The file part of a source (as the facts name it).
            name: What a reader sees instead, e.g. "the RSNA competition's train.csv (SHA-256 0123456789ab)".
        """
        self.names[file] = name

    def shown(self, source: str) -> str:
        """A source as a reader sees it: ``name#path`` for a file given a name by :meth:`show_as`, else itself."""
        file, sep, path = source.partition("#")
        return self.names.get(file, file) + sep + path

    def source_files(self, prefix: str = "") -> list[str]:
        """The files the facts (whose key starts with ``prefix``) were read from, as shown, sorted."""
        return sorted({self.shown(f.source.partition("#")[0]) for k, f in self.facts.items() if k.startswith(prefix)})

    def source_path(self, path: Path) -> str:
        """``path`` as a source: relative to the root when inside it, else absolute."""
        try:
            return Path(path).resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(Path(path).resolve())

    def get(self, key: str, source: str, fmt: str = ".3f") -> Fact:
        """Read (once) and remember a fact.

        Args:
            key: A unique name, e.g. ``champion.test_auc``.
            source: Where the value is read (:func:`resolve`).
            fmt: ``format`` spec or ``pct`` / ``pct0`` / ``int`` / ``str``.

        Returns:
            The :class:`Fact`.
        """
        key = fact_key(key)
        if key not in self.facts:
            value = resolve(source, self.root)
            reason = self.missing(source) if _absent(value) else None
            self.facts[key] = Fact(key, value, format_value(value, fmt), source, fmt, reason)
        note_read(self.facts[key].source.partition("#")[0])  # an earlier document's fact is read here too
        return self.facts[key]

    def missing(self, source: str) -> str:
        """Why the value a source names is absent: the ``missing`` map of its results file, else a generic reason.

        Args:
            source: A JSON source whose value is ``None`` (or NaN).

        Returns:
            The reason.
        """
        file, _, path = source.partition("#")
        path = path.partition("|")[0]
        try:
            recorded = resolve(f"{file}#missing", self.root)
        except FactError:
            recorded = {}
        return recorded.get(path) if isinstance(recorded, dict) and path in recorded else missing_reason(path)

    def value(self, key: str, source: str, fmt: str = ".3f") -> Any:
        """The raw value of a fact (recorded like any other)."""
        return self.get(key, source, fmt).value

    def html(self, key: str, source: str, fmt: str = ".3f") -> str:
        """The fact as ``<span class="fact" data-fact=… title="source: …">text</span>``."""
        fact = self.get(key, source, fmt)
        return (
            f'<span class="fact" data-fact="{fact.key}" title="source: {html.escape(self.shown(fact.source))}">'
            f"{html.escape(fact.text)}</span>"
        )

    def md(self, key: str, source: str, fmt: str = ".3f") -> str:
        """The fact's text for Markdown (its source is listed in the document's source table)."""
        return self.get(key, source, fmt).text

    def interval_html(self, key: str, base: str, fmt: str = ".3f") -> str:
        """``value [low, high]`` from ``base.value`` / ``base.low`` / ``base.high`` as three facts."""
        return (
            f"{self.html(key, base + '.value', fmt)} [{self.html(key + '.low', base + '.low', fmt)}, "
            f"{self.html(key + '.high', base + '.high', fmt)}]"
        )

    def pair_html(self, key: str, value: str, ci: str, fmt: str = ".3f") -> str:
        """``value [low, high]`` from a value's source and its interval's ``[low, high]`` list source (three facts).

        Args:
            key: The value's fact key (its limits are ``key.low`` and ``key.high``).
            value: Source of the value, e.g. ``reports/results/07_detection.json#map50``.
            ci: Source of its ``[low, high]`` list, e.g. ``reports/results/07_detection.json#map50_ci``.
            fmt: Format of all three.

        Returns:
            HTML text.
        """
        return (
            f"{self.html(key, value, fmt)} [{self.html(key + '.low', ci + '.0', fmt)}, "
            f"{self.html(key + '.high', ci + '.1', fmt)}]"
        )

    def difference_html(self, key: str, base: str, fmt: str = "+.3f") -> str:
        """``+d [low, high]`` of a paired difference recorded at ``base`` (``difference``, ``low``, ``high``)."""
        return (
            f"{self.html(key + '.d', base + '.difference', fmt)} [{self.html(key + '.lo', base + '.low', fmt)}, "
            f"{self.html(key + '.hi', base + '.high', fmt)}]"
        )

    def to_json(self) -> str:
        """Every fact as strict JSON (key, value, text, source, format and ``missing``: why a value is ``null``).

        The source is written as the documents show it (:meth:`shown`): a file named by :meth:`show_as` appears by
        that name (with its SHA-256), never by this machine's path.
        """
        facts = [
            {k: v for k, v in dataclasses.asdict(f).items() if k != "missing" or v} | {"source": self.shown(f.source)}
            for f in self.facts.values()
        ]
        return to_json(facts, indent=1, default=str)


#: The attribute :meth:`FactBook.html` marks each printed fact with.
_PRINTED = re.compile(r'data-fact="([^"]*)"')


def computed_html(text: str, how: str) -> str:
    """A number computed from facts (a sum, a Bayes translation) or from the configuration, marked as the facts are:
    hovering it shows how it was computed.

    Args:
        text: The number as printed.
        how: What it is computed from, e.g. ``"sum of the test scorings listed in the final report"``.

    Returns:
        ``<span class="fact computed" title="computed: …">text</span>``.

    Example:
        >>> computed_html("38", "sum of the recorded test scorings")
        '<span class="fact computed" title="computed: sum of the recorded test scorings">38</span>'
    """
    return f'<span class="fact computed" title="computed: {html.escape(how)}">{html.escape(text)}</span>'


def printed_keys(page: str) -> set[str]:
    """The distinct facts an HTML text prints: the keys of its ``data-fact`` attributes (:meth:`FactBook.html`).

    Args:
        page: HTML text.

    Returns:
        The keys, each once.

    Example:
        >>> sorted(printed_keys('<i data-fact="a">1</i> <i data-fact="a">1</i> <i data-fact="b">2</i>'))
        ['a', 'b']
    """
    return {html.unescape(key) for key in _PRINTED.findall(page)}


def has_source(book: FactBook, source: str) -> bool:
    """Whether a source resolves (an optional key of a results file).

    Args:
        book: Facts (their ``root`` resolves relative paths).
        source: ``file#path`` as :func:`resolve` reads it.

    Returns:
        True when the value is recorded.
    """
    try:
        resolve(source, book.root)
        return True
    except FactError:
        return False


def alias_after_05(book: FactBook, chosen: str) -> str:
    """Where 05 left the champion alias, worded once for the report, the slides and the model card ("" when 05
    recorded no decision).

    Args:
        book: Facts (its ``results`` folder holds ``05_transfer.json``).
        chosen: How the caller names 05's chosen arm (its rendered fact, or "it").

    Returns:
        A lower-case clause, e.g. ``the champion alias stayed with 04's baseline run (the paired validation test
        does not put it above that run; a higher mean alone never moves the alias)``.
    """
    src = f"{book.results}/05_transfer.json"
    try:
        moved, holder = resolve(src + "#champion_moved", book.root), resolve(src + "#champion_arm", book.root)
    except FactError:
        return ""
    if moved:
        return f"the champion alias moved to {chosen} (its paired validation test puts it above 04's baseline run)"
    return (
        f"the champion alias stayed with 04's {html.escape(str(holder))} run (the paired validation test does not put "
        f"{chosen} above that run; a higher mean alone never moves the alias)"
    )


def name_real_csv(book: FactBook, real_csv: str) -> str:
    """Show the real RSNA ``train.csv`` as the competition's file with the SHA-256 of the copy read here, never by
    this machine's path (call it before printing any fact read from it).

    Args:
        book: Facts (the name is registered with :meth:`FactBook.show_as`).
        real_csv: Source path of the real ``train.csv`` (a user's copy from ``mammo download``).

    Returns:
        The name, e.g. ``Kaggle RSNA competition train.csv, SHA-256 0123456789ab`` (digest: fact ``real.sha256``).
    """
    digest = book.md("real.sha256", real_csv + "#sha256", "hex12")
    name = f"Kaggle RSNA competition train.csv, SHA-256 {digest}"
    book.show_as(real_csv, name)
    return name
