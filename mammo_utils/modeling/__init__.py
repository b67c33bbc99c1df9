"""Modeling layer: augmentation, models, losses, Keras metrics, the trainer, run folders and MLflow tracking.

May import: ``data``, ``evaluation`` and the base modules. Imported by: detection, export, serving,
monitoring, the CLI and notebooks.
"""
