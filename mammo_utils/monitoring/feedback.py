"""The schema-1 name of the prediction store, kept for its callers: :class:`FeedbackStore` is the SQLite back-end
of :mod:`mammo_utils.monitoring.store` (a file path, or ``":memory:"``); new code calls
:func:`~mammo_utils.monitoring.store.open_store` with a store URL, which also reaches PostgreSQL.

Example:
    >>> store = FeedbackStore(":memory:")
    >>> store.add_prediction("r1", 0.9, 0.5, "recall", "ab12", {})
    >>> store.add_feedback("r1", 1)
    True
"""

from __future__ import annotations

from .store import SQLiteStore, nan_to_none

#: The SQLite store under its schema-1 name.
FeedbackStore = SQLiteStore

__all__ = ["FeedbackStore", "nan_to_none"]
