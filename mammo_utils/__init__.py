"""mammo_utils: screening-mammography breast-cancer detection on the RSNA layout.

Layers, each importing only from the layers above it in this list (``tests/test_architecture.py`` walks every
import, function-level ones included, and fails on an upward import, a cycle between files or a cycle between
packages)::

    constants, utils, config          vocabulary, small helpers, the one Config (settings only: no writes)
    data/                             RSNA layout, synthetic set, DICOM, breast crop, cache, splits, tf.data,
                                      prepare (dataset + cache + splits + leakage check for every stage)
    evaluation/                       metrics, evaluation, EDA and its figures, shared figures, Grad-CAM,
                                      drift statistics (PSI, KS, the verdict)
    modeling/                         augmentation, models, losses, trainer, run folders, MLflow (tracking),
                                      the export folder's readers (artifact), the one model resolver (resolve),
                                      the one cached-image scorer (score), tuning, pruning
    detection/ export/ serving/       lesion detector; SavedModel/ONNX/TFLite export and runtimes; the inference
    monitoring/                       path and the REST API; drift windows, feedback store, retraining triggers.
                                      Inside this layer only serving imports the others (listed in the test)
    workflows/ reporting/             work spanning stages: retraining (train, export, gate); generated documents
    cli, notebook                     the ``mammo`` command and the notebooks' Setup: may import any layer

Heavy libraries (TensorFlow, Keras, MLflow) are imported only by the modules that need them, so
``import mammo_utils`` and ``mammo --help`` start fast.
"""

__version__ = "0.2.0"
