"""Lesion detection: boxes through preprocessing, the YOLOv8 detector, its training and its metrics.

Modules: :mod:`.boxes` (stored <-> cache coordinates; ``boxes.csv`` itself is read by
:func:`mammo_utils.data.rsna.load_boxes`), :mod:`.dataset` (batches and box-aware augmentation),
:mod:`.detector` (the keras-cv model and its contract), :mod:`.train` (folds, MLflow, registry),
:mod:`.metrics` (IoU, COCO mAP, FROC, pointing game), :mod:`.evaluate` (the test tables, Grad-CAM
comparison), :mod:`.plots`.

May import: data, evaluation, modeling and the base modules (no other package of its layer).
"""
