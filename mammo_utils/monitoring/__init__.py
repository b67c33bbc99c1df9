"""Monitoring: what a deployed model sees now and when that calls for retraining.

Modules: :mod:`.window` (the "current" side of a drift check: a cache folder or the service's log),
:mod:`.store` (the prediction store: every served prediction and its ground-truth label, with an audit
trail of corrections, in SQLite or PostgreSQL; :mod:`.feedback` keeps its schema-1 name) and
:mod:`.triggers` (retraining triggers and the promotion gate). The statistics themselves (PSI, KS, the verdict)
are in :mod:`mammo_utils.evaluation.drift`; the retraining run is :mod:`mammo_utils.workflows.retrain`.

May import: ``data``, ``evaluation``, ``modeling`` and the base modules; never ``serving`` or ``export`` (the
service imports the prediction store from here).
"""
