"""Lesion detection: boxes through preprocessing, the YOLOv8 detector, its training and its metrics.

Modules: :mod:`.boxes` (stored <-> cache coordinates, ``boxes.csv``), :mod:`.dataset` (batches and box-aware
augmentation), :mod:`.detector` (the keras-cv model and its contract), :mod:`.train` (folds, MLflow, registry),
:mod:`.metrics` (IoU, COCO mAP, FROC, pointing game), :mod:`.evaluate` (the test tables, Grad-CAM comparison).
"""
