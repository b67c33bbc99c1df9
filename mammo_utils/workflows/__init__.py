"""The top layer: work that spans stages. Retraining (:mod:`.retrain`: train, export, gate, promote),
labelled feedback as training data (:mod:`.feedback_data`) and the promotion gate (:mod:`.gate`); the
generated documents live beside it in :mod:`mammo_utils.reporting`.

May import every layer below (data, evaluation, modeling, detection, export, serving, monitoring).
"""
