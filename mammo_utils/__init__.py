"""mammo_utils: screening-mammography breast-cancer detection on the RSNA layout.

Modules (one job each): ``constants``, ``config``, ``synthetic`` / ``synthetic_render``
(embedded dataset), ``data`` (train.csv), ``dicom`` (reading), ``roi`` (breast crop),
``preprocess`` (cache), ``eda``, ``plots``, ``notebook`` (setup helpers), ``splits``,
``augment``, ``pipeline``, ``models``, ``keras_metrics``, ``metrics``, ``evaluate``,
``train``, ``tracking``.
Heavy libraries (TensorFlow, MLflow) are imported only by the modules that need them.
"""

__version__ = "0.1.0"
