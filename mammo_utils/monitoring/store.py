# Size: the store interface, its versioned schema and migrations, and both back-ends share one SQL text: split, the
# dialect differences (column types, locks, triggers) would hide from the statements they change.
"""The prediction store: every served prediction and its ground-truth label, in SQLite or PostgreSQL.

One setting names it for the service, ``mammo retrain`` and ``mammo monitor`` alike (``--store URL`` or
``MAMMO_STORE_URL``; :func:`parse_store_url` checks it):

- ``sqlite:///PATH`` (relative) or ``sqlite:////ABSOLUTE/PATH``: one file, WAL journal. The default is
  ``sqlite:///<work>/monitoring/feedback.db`` (:attr:`mammo_utils.config.Config.store_url`), the work folder
  being resolved the same way by every command. A bare file path means the same.
- ``postgresql://USER@HOST:PORT/DB`` (``postgres://`` too): a server shared by replicas, surviving any
  container. Give the password through ``PGPASSWORD`` or ``~/.pgpass`` rather than in the URL; a password in
  the URL works but is never printed (:func:`redact`).

Tables (schema version 3, the same SQL on both back-ends but for column types)::

    schema_migrations(version, applied_at, description)          -- one row per applied migration
    predictions(request_id, ts, model_name, model_version, model_digest,
                probability, threshold, decision, upload_sha256, features)
    labels(id, request_id, ts, label, previous, source, author, reason)   -- append-only audit trail
    images(request_id, height, width, bits, laterality, view, png)       -- the model-input image (optional)

No patient identifier and no client file name is stored: a prediction is keyed by the random request id the API
returned, names its upload by SHA-256 and keeps the drift monitor's image statistics (``features``) and, unless
the service is told not to (``MAMMO_KEEP_IMAGES=off``), the image the model scored: the breast's crop at the
export's cache size as a PNG, pixels without any header, which is what a labelled prediction needs to join the
next challenger's training data (:mod:`mammo_utils.workflows.feedback_data`). A label is
never overwritten: the first label of a prediction is a row, a correction is a new row naming the previous label,
who made it and why (:meth:`Store.add_label`), and the database refuses UPDATE and DELETE on ``labels``. The
current label is the newest row.

Migrations run when a store is opened, inside one transaction holding the store's write lock (so replicas
starting together migrate once): a schema-1 ``feedback.db`` of earlier versions (``predictions`` +
``feedback``, no version table) becomes schema 3 with every prediction and label kept.

Example:
    >>> store = open_store("sqlite:///:memory:")
    >>> store.record_prediction("r1", probability=0.9, threshold=0.5, decision="recall", model_version="3")
    >>> store.add_label("r1", 1, source="biopsy")
    'labelled'
    >>> store.get_prediction("r1")["label"]["label"]
    1
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import numpy as np
import pandas as pd

from ..config import ConfigError
from ..evaluation.drift import DRIFT_WINDOW
from ..evaluation.metrics import pfbeta, roc_auc
from ..utils import to_json

#: The schema this code reads and writes.
SCHEMA_VERSION = 3
#: URL schemes of each back-end.
SCHEMES = {"sqlite": "sqlite", "postgresql": "postgresql", "postgres": "postgresql"}
#: What a store setting accepts, in words (said in every error).
ACCEPTED = "sqlite:///PATH or postgresql://USER@HOST:PORT/DB"
#: Length limits of the free-text fields of a label.
MAX_TEXT = 200


class StoreError(RuntimeError):
    """The store cannot be used (a schema newer than this code, a broken database)."""


class StoreUnavailable(StoreError):
    """The store's server does not answer (the service replies 503: nothing is served unrecorded)."""


class StoreURLError(ConfigError):
    """A store setting that is not a store URL; the message names the setting."""


class UnknownPrediction(KeyError):
    """No prediction has this request id."""


class LabelConflict(ValueError):
    """A different label exists already and no reason for a correction was given."""


def redact(url: str) -> str:
    """The URL with its password (if any) replaced by ``***``: what logs and summaries show."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = unquote(parts.username or "")
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[-1]}"))


def parse_store_url(url: str | Path, setting: str = "MAMMO_STORE_URL") -> tuple[str, str]:
    """Check a store setting: ``(back-end, target)``, the target being a file path or a PostgreSQL URL.

    Args:
        url: ``sqlite:///PATH``, ``postgresql://USER@HOST:PORT/DB`` or a bare file path (SQLite).
        setting: The flag or variable it came from, named in the error.

    Raises:
        StoreURLError: An unknown scheme, a PostgreSQL URL without host or database, a SQLite path that is a
            folder.
    """
    text = str(url).strip()
    if not text:
        raise StoreURLError(f"{setting} must be {ACCEPTED}, got ''")
    if "://" not in text:
        scheme, path = "sqlite", text
    else:
        scheme = text.split("://", 1)[0].lower()
        if scheme not in SCHEMES:
            raise StoreURLError(f"{setting} must be {ACCEPTED}: unknown scheme {scheme!r} in {redact(text)!r}")
        scheme = SCHEMES[scheme]
        if scheme == "postgresql":
            parts = urlsplit(text)
            try:
                port = parts.port
            except ValueError:
                port = -1
            if not parts.hostname or not parts.path.strip("/") or port == -1:
                raise StoreURLError(f"{setting} must be {ACCEPTED}: {redact(text)!r} names no host, port or database")
            return "postgresql", text
        path = text[len("sqlite:///") :] if text.lower().startswith("sqlite:///") else ""
        if not path:
            raise StoreURLError(f"{setting} must be {ACCEPTED} (three slashes, then the file): got {text!r}")
    if path != ":memory:" and Path(path).expanduser().is_dir():
        raise StoreURLError(f"{setting} must name a file, not a folder: {path!r} is a folder ({ACCEPTED})")
    return "sqlite", path if path == ":memory:" else str(Path(path).expanduser())


def sqlite_url(path: str | Path) -> str:
    """``sqlite:///<path>`` of a file (an absolute path gives the four-slash form)."""
    return f"sqlite:///{Path(path).as_posix()}"


def open_store(url: str | Path, setting: str = "MAMMO_STORE_URL") -> "Store":
    """Open (creating and migrating when needed) the store a URL names.

    Raises:
        StoreURLError: A bad URL, naming ``setting``.
        StoreUnavailable: The PostgreSQL server does not answer.
        StoreError: A schema newer than this code.
    """
    backend, target = parse_store_url(url, setting)
    return SQLiteStore(target) if backend == "sqlite" else PostgresStore(target)


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- schema ----------------------------------------------------------------------------------------------------
# Statements use ? placeholders and the tokens {FLOAT} and {ID}, replaced per back-end.
_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at {FLOAT} NOT NULL, "
    "description TEXT NOT NULL)"
)
_V1 = [
    "CREATE TABLE IF NOT EXISTS predictions (request_id TEXT PRIMARY KEY, ts {FLOAT} NOT NULL, "
    "probability {FLOAT} NOT NULL, threshold {FLOAT} NOT NULL, decision TEXT NOT NULL, upload_sha256 TEXT NOT NULL, "
    "features TEXT NOT NULL DEFAULT '{}')",
    "CREATE TABLE IF NOT EXISTS feedback (request_id TEXT PRIMARY KEY REFERENCES predictions(request_id), "
    "ts {FLOAT} NOT NULL, label INTEGER NOT NULL CHECK (label IN (0, 1)), source TEXT NOT NULL DEFAULT '')",
    "CREATE INDEX IF NOT EXISTS predictions_ts ON predictions(ts)",
]
_V2 = [
    "ALTER TABLE predictions ADD COLUMN model_name TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE predictions ADD COLUMN model_version TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE predictions ADD COLUMN model_digest TEXT NOT NULL DEFAULT ''",
    "CREATE TABLE labels (id {ID}, request_id TEXT NOT NULL REFERENCES predictions(request_id), "
    "ts {FLOAT} NOT NULL, label INTEGER NOT NULL CHECK (label IN (0, 1)), "
    "previous INTEGER CHECK (previous IN (0, 1)), source TEXT NOT NULL DEFAULT '', "
    "author TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '')",
    "CREATE INDEX labels_request ON labels(request_id, id)",
    "CREATE INDEX labels_ts ON labels(ts)",
    "INSERT INTO labels (request_id, ts, label, previous, source, author, reason) "
    "SELECT request_id, ts, label, NULL, source, '', 'label of schema 1 (feedback table)' FROM feedback ORDER BY ts",
    "DROP TABLE feedback",
    "{APPEND_ONLY}",
]
_V3 = [
    "CREATE TABLE images (request_id TEXT PRIMARY KEY REFERENCES predictions(request_id), "
    "height INTEGER NOT NULL, width INTEGER NOT NULL, bits INTEGER NOT NULL CHECK (bits IN (8, 16)), "
    "laterality TEXT NOT NULL DEFAULT '', view TEXT NOT NULL DEFAULT '', png {BLOB} NOT NULL)",
]
#: (version, description, statements): applied in order to reach :data:`SCHEMA_VERSION`.
MIGRATIONS = [
    (1, "served predictions and their feedback", _V1),
    (2, "model name, version and digest of each prediction; labels as an append-only audit trail", _V2),
    (3, "the model-input image of each prediction (cropped, cache size, no header), for training on feedback", _V3),
]
_COLUMNS = (
    "request_id, ts, model_name, model_version, model_digest, probability, threshold, decision, upload_sha256, features"
)
#: The newest label row of each prediction.
_CURRENT = "SELECT MAX(id) FROM labels GROUP BY request_id"


class Store:
    """A prediction store (use :func:`open_store`); thread-safe, one connection guarded by a lock.

    Attributes:
        url: The store's URL without its password.
        backend: ``sqlite`` or ``postgresql``.
    """

    backend = ""
    _tokens: dict[str, str] = {}
    _lock_prediction = "SELECT request_id FROM predictions WHERE request_id = ?"

    def __init__(self, url: str):
        self.url = redact(url)
        self._lock = threading.RLock()
        self._db: Any = None
        with self._lock:
            self._db = self._connect()
            self._migrate()

    # --- back-end hooks ----------------------------------------------------------------------------------------
    def _connect(self) -> Any:
        raise NotImplementedError

    def _sql(self, statement: str) -> str:
        for token, value in self._tokens.items():
            statement = statement.replace("{" + token + "}", value)
        return statement

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Callable[..., Any]]:
        raise NotImplementedError
        yield  # pragma: no cover

    def _tables(self, run: Callable[..., Any]) -> set[str]:
        raise NotImplementedError

    def _run(self, sql: str, params: tuple = ()) -> Any:
        """One statement outside an explicit transaction (autocommit)."""
        raise NotImplementedError

    # --- schema ------------------------------------------------------------------------------------------------
    def _migrate(self) -> None:
        with self._transaction() as run:
            tables = self._tables(run)
            if "schema_migrations" not in tables:
                run(self._sql(_VERSION_TABLE))
                if "predictions" in tables:  # a feedback.db written before the schema had a version
                    run(
                        "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                        (1, time.time(), "found: a store written before the schema had a version"),
                    )
            current = int(run("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0])
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.url}: schema version {current} is newer than this code's {SCHEMA_VERSION}; upgrade mammo"
                )
            for version, description, statements in MIGRATIONS:
                if version <= current:
                    continue
                for statement in statements:
                    for sql in self._sql(statement).split(";;"):
                        if sql.strip():
                            run(sql)
                run("INSERT INTO schema_migrations VALUES (?, ?, ?)", (version, time.time(), description))

    def schema_version(self) -> int:
        """The schema version of the database (:data:`SCHEMA_VERSION` once opened)."""
        return int(self._query("SELECT MAX(version) FROM schema_migrations")[0][0])

    def migrations(self) -> list[dict[str, Any]]:
        """The applied migrations, oldest first: ``version, applied_at, description``."""
        rows = self._query("SELECT version, applied_at, description FROM schema_migrations ORDER BY version")
        return [{"version": v, "applied_at": _iso(t), "description": d} for v, t, d in rows]

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return list(self._run(sql, params).fetchall())

    # --- writes ------------------------------------------------------------------------------------------------
    def record_prediction(
        self,
        request_id: str,
        *,
        probability: float,
        threshold: float,
        decision: str,
        features: dict | None = None,
        upload_sha256: str = "",
        model_name: str = "",
        model_version: str = "",
        model_digest: str = "",
        ts: float | None = None,
        image: dict | None = None,
    ) -> None:
        """Record a served prediction (a request id is recorded once), with its model-input image when given.

        Args:
            request_id: The random id the API returned.
            probability: The model's probability of cancer.
            threshold: The operating threshold it was compared with.
            decision: ``recall`` or ``routine``.
            features: Image statistics of the drift monitor (:func:`mammo_utils.evaluation.drift.image_features`).
            upload_sha256: SHA-256 of the uploaded file.
            model_name, model_version, model_digest: The served model (registry name and version, SHA-256 of
                the format that scored).
            ts: Time (seconds since the epoch; default now).
            image: The prepared image the model scored, for training on this prediction once it is labelled:
                ``png`` (bytes), ``height``, ``width``, ``bits`` (the export's cache size and bit depth),
                ``laterality``, ``view`` (:meth:`training_images` reads them back). Pixels only: the crop of the
                breast at cache size, with no DICOM header.
        """
        values = (
            request_id,
            time.time() if ts is None else float(ts),
            str(model_name or ""),
            str(model_version or ""),
            str(model_digest or ""),
            float(probability),
            float(threshold),
            str(decision),
            str(upload_sha256 or ""),
            to_json(features or {}),
        )
        with self._lock:  # two autocommit statements (each reconnects once to a restarted server)
            self._run(f"INSERT INTO predictions ({_COLUMNS}) VALUES ({', '.join('?' * 10)})", values)
            if image is not None:
                self._run(
                    "INSERT INTO images (request_id, height, width, bits, laterality, view, png) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        request_id,
                        int(image["height"]),
                        int(image["width"]),
                        int(image["bits"]),
                        str(image.get("laterality") or ""),
                        str(image.get("view") or ""),
                        bytes(image["png"]),
                    ),
                )

    def add_prediction(
        self, request_id: str, probability: float, threshold: float, decision: str, upload_sha256: str, features: dict
    ) -> None:
        """Record a served prediction without model identity (the schema-1 call)."""
        self.record_prediction(
            request_id,
            probability=probability,
            threshold=threshold,
            decision=decision,
            upload_sha256=upload_sha256,
            features=features,
        )

    def add_label(
        self, request_id: str, label: int, source: str = "", author: str = "", reason: str = "", ts: float | None = None
    ) -> str:
        """Label a served prediction, or correct its label: never a silent overwrite.

        Args:
            request_id: The ``request_id`` the API returned.
            label: 1 cancer, 0 no cancer.
            source: Where the label came from (e.g. ``biopsy``).
            author: Who gave or corrected it.
            reason: Why a label is corrected (required to change an existing label).
            ts: Time (default now).

        Returns:
            ``labelled`` (first label), ``unchanged`` (the same label again: nothing written) or ``corrected``
            (a new audit row naming the previous label, the author and the reason).

        Raises:
            ValueError: A label that is not 0 or 1.
            UnknownPrediction: No prediction has this request id.
            LabelConflict: A different label exists and ``reason`` is empty.
        """
        if label not in (0, 1) or isinstance(label, bool):
            raise ValueError(f"label must be 0 or 1, got {label!r}")
        source, author, reason = (str(x or "").strip()[:MAX_TEXT] for x in (source, author, reason))
        with self._lock, self._transaction() as run:
            if run(self._sql(self._lock_prediction), (request_id,)).fetchone() is None:
                raise UnknownPrediction(request_id)
            row = run(
                "SELECT label, source FROM labels WHERE request_id = ? ORDER BY id DESC LIMIT 1", (request_id,)
            ).fetchone()
            previous = None if row is None else int(row[0])
            if previous == label:
                return "unchanged"
            if previous is not None and not reason:
                raise LabelConflict(
                    f"request_id {request_id!r} is labelled {previous} already (source {row[1] or 'unknown'!r}); "
                    "a correction needs a reason"
                )
            run(
                "INSERT INTO labels (request_id, ts, label, previous, source, author, reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (request_id, time.time() if ts is None else float(ts), int(label), previous, source, author, reason),
            )
        return "labelled" if previous is None else "corrected"

    def correct_label(self, request_id: str, label: int, reason: str, author: str = "", source: str = "") -> str:
        """Correct a prediction's label (a new audit row; ``reason`` is required)."""
        if not str(reason or "").strip():
            raise LabelConflict("a correction needs a reason")
        return self.add_label(request_id, label, source, author, reason)

    def add_feedback(self, request_id: str, label: int, source: str = "") -> bool:
        """The first label of a prediction (the schema-1 call): False when no prediction has this request id.

        Raises:
            ValueError: A label that is not 0 or 1.
            LabelConflict: A different label exists (correct it with :meth:`correct_label`).
        """
        try:
            self.add_label(request_id, label, source)
        except UnknownPrediction:
            return False
        return True

    # --- reads -------------------------------------------------------------------------------------------------
    def get_prediction(self, request_id: str) -> dict[str, Any] | None:
        """A stored prediction with its current label and the label's history (oldest first), or None."""
        with self._lock:
            row = self._run(f"SELECT {_COLUMNS} FROM predictions WHERE request_id = ?", (request_id,)).fetchone()
            if row is None:
                return None
            history = self._run(
                "SELECT ts, label, previous, source, author, reason FROM labels WHERE request_id = ? ORDER BY id",
                (request_id,),
            ).fetchall()
        rid, ts, name, version, digest, probability, threshold, decision, sha, features = row
        events = [
            {"time": _iso(t), "ts": t, "label": y, "previous": p, "source": s, "author": a, "reason": r}
            for t, y, p, s, a, r in history
        ]
        current = None
        if events:
            last = events[-1]
            current = {k: last[k] for k in ("label", "source", "author", "time", "ts")}
            current["corrections"] = len(events) - 1
        return {
            "request_id": rid,
            "time": _iso(ts),
            "ts": ts,
            "model": {"name": name, "version": version, "digest": digest},
            "probability": probability,
            "threshold": threshold,
            "decision": decision,
            "upload_sha256": sha,
            "features": json.loads(features),
            "label": current,
            "label_history": events,
        }

    def recent_predictions(self, limit: int = DRIFT_WINDOW) -> pd.DataFrame:
        """The last ``limit`` predictions (newest first) with their features expanded into columns."""
        rows = self._query(
            "SELECT request_id, ts, probability, features FROM predictions ORDER BY ts DESC LIMIT ?", (int(limit),)
        )
        frame = pd.DataFrame(rows, columns=["request_id", "ts", "probability", "features"])
        features = pd.DataFrame([json.loads(f) for f in frame.features], index=frame.index)
        return pd.concat([frame.drop(columns="features"), features], axis=1)

    def labelled(self, limit: int = DRIFT_WINDOW, since: float = 0.0) -> pd.DataFrame:
        """The last ``limit`` labelled predictions by the time of their current label (newest first).

        Returns:
            ``probability, threshold, label, ts, request_id, model_version, decision`` (``label`` the current
            one, ``ts`` when it was given).
        """
        rows = self._query(
            "SELECT p.probability, p.threshold, l.label, l.ts, p.request_id, p.model_version, p.decision "
            f"FROM labels l JOIN predictions p ON p.request_id = l.request_id WHERE l.id IN ({_CURRENT}) "
            "AND l.ts >= ? ORDER BY l.ts DESC, l.id DESC LIMIT ?",
            (float(since), int(limit)),
        )
        columns = ["probability", "threshold", "label", "ts", "request_id", "model_version", "decision"]
        return pd.DataFrame(rows, columns=columns)

    def rolling_metrics(self, limit: int = DRIFT_WINDOW) -> dict[str, Any]:
        """Sensitivity, specificity, ROC-AUC and pF1 of the last ``limit`` labelled predictions.

        Returns:
            ``labelled``, ``positives``, ``sensitivity``, ``specificity``, ``auc``, ``pf1`` (NaN where undefined).
        """
        frame = self.labelled(limit)
        y = frame.label.to_numpy(int)
        p = frame.probability.to_numpy(float)
        decided = p >= frame.threshold.to_numpy(float)
        positives, negatives = int(y.sum()), int((1 - y).sum())
        return {
            "labelled": len(frame),
            "positives": positives,
            "sensitivity": float(decided[y == 1].mean()) if positives else float("nan"),
            "specificity": float((~decided[y == 0]).mean()) if negatives else float("nan"),
            "auc": roc_auc(y, p) if len(frame) else float("nan"),
            "pf1": pfbeta(y, p) if positives else float("nan"),
        }

    def training_images(self, height: int, width: int, bits: int) -> pd.DataFrame:
        """Labelled predictions whose model-input image was kept at this cache size and bit depth.

        Args:
            height, width, bits: The cache geometry of the model to be trained (images of another size are left
                out: :meth:`image_counts` says how many).

        Returns:
            One row per prediction, oldest first: ``request_id, ts, model_version, probability, label, label_id,
            label_ts, label_source, corrections, laterality, view, png`` (``label`` the current one; ``png``
            bytes).
        """
        rows = self._query(
            "SELECT p.request_id, p.ts, p.model_version, p.probability, l.label, l.id, l.ts, l.source, "
            "(SELECT COUNT(*) FROM labels c WHERE c.request_id = p.request_id) - 1, i.laterality, i.view, i.png "
            "FROM predictions p JOIN images i ON i.request_id = p.request_id "
            f"JOIN labels l ON l.request_id = p.request_id WHERE l.id IN ({_CURRENT}) "
            "AND i.height = ? AND i.width = ? AND i.bits = ? ORDER BY p.ts, p.request_id",
            (int(height), int(width), int(bits)),
        )
        columns = ["request_id", "ts", "model_version", "probability", "label", "label_id", "label_ts"]
        columns += ["label_source", "corrections", "laterality", "view", "png"]
        frame = pd.DataFrame(rows, columns=columns)
        frame["png"] = [bytes(b) for b in frame.png]  # PostgreSQL returns memoryview
        return frame

    def image_counts(self) -> pd.DataFrame:
        """Kept images per cache geometry: ``height, width, bits, images, labelled``."""
        rows = self._query(
            "SELECT i.height, i.width, i.bits, COUNT(*), "
            "SUM(CASE WHEN EXISTS (SELECT 1 FROM labels l WHERE l.request_id = i.request_id) THEN 1 ELSE 0 END) "
            "FROM images i GROUP BY i.height, i.width, i.bits ORDER BY COUNT(*) DESC"
        )
        frame = pd.DataFrame(rows, columns=["height", "width", "bits", "images", "labelled"])
        return frame.astype(int) if len(frame) else frame

    def count_labelled_since(self, since: float) -> int:
        """Predictions labelled (or relabelled) after the time ``since`` (seconds since the epoch)."""
        rows = self._query("SELECT COUNT(DISTINCT request_id) FROM labels WHERE ts >= ?", (float(since),))
        return int(rows[0][0])

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


class SQLiteStore(Store):
    """The store in one SQLite file (WAL journal: the API's writers and a reader such as ``mammo retrain --check``
    do not block each other), or in memory (``":memory:"``).

    Args:
        path: Database file (created with its folder), or ``":memory:"``.
    """

    backend = "sqlite"
    _tokens = {
        "FLOAT": "REAL",
        "BLOB": "BLOB",
        "ID": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "APPEND_ONLY": "CREATE TRIGGER labels_no_update BEFORE UPDATE ON labels BEGIN "
        "SELECT RAISE(ABORT, 'labels are append-only: a correction is a new row'); END;;"
        "CREATE TRIGGER labels_no_delete BEFORE DELETE ON labels BEGIN "
        "SELECT RAISE(ABORT, 'labels are append-only: a correction is a new row'); END",
    }

    def __init__(self, path: str | Path):
        self.path = str(path)
        super().__init__(sqlite_url(self.path) if self.path != ":memory:" else "sqlite:///:memory:")

    def _connect(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        return db

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Callable[..., Any]]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")  # the write lock from the start: one writer migrates or labels
            try:
                yield self._db.execute
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _tables(self, run: Callable[..., Any]) -> set[str]:
        return {r[0] for r in run("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}

    def _run(self, sql: str, params: tuple = ()) -> Any:
        return self._db.execute(sql, params)


class PostgresStore(Store):
    """The store on a PostgreSQL server (psycopg 3). A lost connection is reopened once per call; a server that
    does not answer raises :class:`StoreUnavailable`.

    Args:
        url: ``postgresql://USER@HOST:PORT/DB`` (libpq reads a password from ``PGPASSWORD`` or ``~/.pgpass``).
    """

    backend = "postgresql"
    _tokens = {
        "FLOAT": "DOUBLE PRECISION",
        "BLOB": "BYTEA",
        "ID": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        "APPEND_ONLY": "CREATE OR REPLACE FUNCTION mammo_labels_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$fn$ BEGIN RAISE EXCEPTION 'labels are append-only: a correction is a new row'; END $fn$;;"
        "CREATE TRIGGER labels_append_only BEFORE UPDATE OR DELETE ON labels "
        "FOR EACH ROW EXECUTE FUNCTION mammo_labels_append_only()",
    }
    _lock_prediction = "SELECT request_id FROM predictions WHERE request_id = ? FOR UPDATE"
    #: Key of the advisory lock that serialises migrations of replicas starting together.
    MIGRATION_LOCK = 0x6D616D6D6F

    def __init__(self, url: str):
        self._conninfo = url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url
        super().__init__(url)

    def _connect(self) -> Any:
        import psycopg

        try:
            return psycopg.connect(self._conninfo, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as exc:
            reason = str(exc).replace(self._conninfo, self.url).strip().splitlines()
            raise StoreUnavailable(f"{self.url}: cannot connect ({reason[-1] if reason else 'no reason'})") from None

    def _with_reconnect(self, call: Callable[[], Any]) -> Any:
        import psycopg

        with self._lock:
            if self._db is None or self._db.closed or self._db.broken:
                self._db = self._connect()
            try:
                return call()
            except psycopg.OperationalError:
                if not (self._db.closed or self._db.broken):
                    raise
            self._db = self._connect()  # the server restarted or dropped us: once more on a new connection
            return call()

    def _execute(self, sql: str, params: tuple = ()) -> Any:
        return self._db.execute(sql.replace("?", "%s"), params or None)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Callable[..., Any]]:
        with self._lock:
            if self._db is None or self._db.closed or self._db.broken:
                self._db = self._connect()
            with self._db.transaction():
                if self._migrating:  # replicas starting together: one migrates, the others then find it done
                    self._execute("SELECT pg_advisory_xact_lock(?)", (self.MIGRATION_LOCK,))
                yield self._execute

    _migrating = False

    def _migrate(self) -> None:
        self._migrating = True
        try:
            super()._migrate()
        finally:
            self._migrating = False

    def _tables(self, run: Callable[..., Any]) -> set[str]:
        rows = run("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
        return {r[0] for r in rows.fetchall()}

    def _run(self, sql: str, params: tuple = ()) -> Any:
        return self._with_reconnect(lambda: self._execute(sql, params))


def nan_to_none(values: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe copy (NaN → None)."""
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in values.items()}
