"""Evaluation layer: metrics, evaluation of predictions (image and per breast), EDA tables and figures.

May import: ``data`` and the base modules (never ``modeling``: the trainer calls evaluation, not the reverse).
"""
