"""Served predictions and their later ground truth (e.g. a biopsy result), in SQLite, and the accuracy they give.

One file (WAL journal, so the API's writers and a reader such as ``mammo retrain --check`` do not block each
other) with two tables::

    predictions(request_id, ts, probability, threshold, decision, upload_sha256, features)   -- one per scored image
    feedback(request_id, ts, label, source)                                                   -- ground truth

No patient identifier is stored: a prediction is keyed by the random request id the API returned and names its
upload by SHA-256. :meth:`FeedbackStore.rolling_metrics` turns the last labelled predictions into sensitivity,
specificity, ROC-AUC and pF1 — accuracy drift measured, not guessed.

Example:
    >>> store = FeedbackStore(":memory:")
    >>> store.add_prediction("r1", 0.9, 0.5, "recall", "ab12", {})
    >>> store.add_feedback("r1", 1)
    True
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..evaluation.drift import DRIFT_WINDOW
from ..evaluation.metrics import pfbeta, roc_auc

_SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    request_id TEXT PRIMARY KEY, ts REAL NOT NULL, probability REAL NOT NULL, threshold REAL NOT NULL,
    decision TEXT NOT NULL, upload_sha256 TEXT NOT NULL, features TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS feedback (
    request_id TEXT PRIMARY KEY REFERENCES predictions(request_id), ts REAL NOT NULL,
    label INTEGER NOT NULL CHECK (label IN (0, 1)), source TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS predictions_ts ON predictions(ts);
"""


class FeedbackStore:
    """The SQLite store (thread-safe: one connection guarded by a lock).

    Args:
        path: Database file (created with its folder), or ``":memory:"``.
    """

    def __init__(self, path: str | Path):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def add_prediction(
        self, request_id: str, probability: float, threshold: float, decision: str, upload_sha256: str, features: dict
    ) -> None:
        """Record a served prediction."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO predictions VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    request_id,
                    time.time(),
                    float(probability),
                    float(threshold),
                    decision,
                    upload_sha256,
                    json.dumps(features),
                ),
            )

    def add_feedback(self, request_id: str, label: int, source: str = "") -> bool:
        """Record the ground truth of a served prediction.

        Args:
            request_id: The ``request_id`` the API returned.
            label: 1 cancer, 0 no cancer.
            source: Where the label came from (e.g. ``biopsy``).

        Returns:
            False when no prediction has this request id (nothing stored).

        Raises:
            ValueError: A label that is not 0 or 1.
        """
        if label not in (0, 1):
            raise ValueError(f"label must be 0 or 1, got {label!r}")
        with self._lock:
            known = self._db.execute("SELECT 1 FROM predictions WHERE request_id = ?", (request_id,)).fetchone()
            if not known:
                return False
            self._db.execute(
                "INSERT OR REPLACE INTO feedback VALUES (?, ?, ?, ?)", (request_id, time.time(), int(label), source)
            )
        return True

    def recent_predictions(self, limit: int = DRIFT_WINDOW) -> pd.DataFrame:
        """The last ``limit`` predictions (newest first) with their features expanded into columns."""
        with self._lock:
            rows = self._db.execute(
                "SELECT request_id, ts, probability, features FROM predictions ORDER BY ts DESC LIMIT ?", (limit,)
            ).fetchall()
        frame = pd.DataFrame(rows, columns=["request_id", "ts", "probability", "features"])
        features = pd.DataFrame([json.loads(f) for f in frame.features], index=frame.index)
        return pd.concat([frame.drop(columns="features"), features], axis=1)

    def labelled(self, limit: int = DRIFT_WINDOW, since: float = 0.0) -> pd.DataFrame:
        """The last ``limit`` labelled predictions (newest first): ``probability, threshold, label, ts``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT p.probability, p.threshold, f.label, f.ts FROM feedback f "
                "JOIN predictions p USING (request_id) WHERE f.ts >= ? ORDER BY f.ts DESC LIMIT ?",
                (since, limit),
            ).fetchall()
        return pd.DataFrame(rows, columns=["probability", "threshold", "label", "ts"])

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

    def count_labelled_since(self, since: float) -> int:
        """Labels received after the time ``since`` (seconds since the epoch)."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM feedback WHERE ts >= ?", (since,)).fetchone()[0])

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()


def nan_to_none(values: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe copy (NaN → None)."""
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in values.items()}
