"""Modeling layer: augmentation, models, losses, Keras metrics, the trainer, run folders, MLflow tracking (every
MLflow call), tuning, pruning, and what every later stage needs to use a model: the export folder's readers
(:mod:`.artifact`: ``model.json``, ``reference.json``, digests checked), the one model resolver
(:mod:`.resolve`: path, run folder, export folder, ``models:/name@alias``) and the one scorer of cached images
(:mod:`.score`).

May import: ``data``, ``evaluation`` and the base modules. Imported by: detection, export, serving,
monitoring, workflows, reporting, the CLI and notebooks.
"""
