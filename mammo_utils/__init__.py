"""mammo_utils: screening-mammography breast-cancer detection on the RSNA layout.

Layers, each importing only from the ones before it (a test walks every import to hold this)::

    constants, utils, config          vocabulary, small helpers, settings (no writes, no data generation)
    data/                             RSNA layout, synthetic set, DICOM, breast crop, cache, splits, tf.data
    evaluation/                       metrics, evaluation, EDA, figures
    modeling/                         augmentation, models, losses, trainer, run folders, MLflow
    serving/                          inference on new files (the path notebooks, API and app share)
    cli, notebook                     the ``mammo`` command and the notebooks' Setup: may import any layer

Heavy libraries (TensorFlow, Keras, MLflow) are imported only by the modules that need them, so
``import mammo_utils`` and ``mammo --help`` start fast.
"""

__version__ = "0.2.0"
