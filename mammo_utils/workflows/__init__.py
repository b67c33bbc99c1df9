"""The top layer: work that spans stages. Retraining (:mod:`.retrain`: train, export, gate, promote); the
generated documents live beside it in :mod:`mammo_utils.reporting`.

May import every layer below (data, evaluation, modeling, detection, export, serving, monitoring).
"""
