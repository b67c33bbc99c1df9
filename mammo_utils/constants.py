"""Domain vocabulary for screening mammography (RSNA layout).

Every string that names an RSNA column, a view, a laterality or a DICOM transfer
syntax lives here, so the rest of the package never scatters literals around.
"""

from __future__ import annotations

#: Columns of the RSNA ``train.csv`` in their original order.
RSNA_COLUMNS: tuple[str, ...] = (
    "site_id",
    "patient_id",
    "image_id",
    "laterality",
    "view",
    "age",
    "cancer",
    "biopsy",
    "invasive",
    "BIRADS",
    "implant",
    "density",
    "machine_id",
    "difficult_negative_case",
)

#: Columns of ``boxes.csv`` (lesion boxes of the synthetic set, stored-pixel coordinates).
BOX_COLUMNS: tuple[str, ...] = ("image_id", "x_min", "y_min", "x_max", "y_max", "label")

LATERALITIES: tuple[str, ...] = ("L", "R")
STANDARD_VIEWS: tuple[str, ...] = ("CC", "MLO")
#: Rare extra views seen in RSNA (AT: axillary tail, ML/LM: lateral views, LMO).
EXTRA_VIEWS: tuple[str, ...] = ("AT", "ML", "LM", "LMO")
DENSITIES: tuple[str, ...] = ("A", "B", "C", "D")
LESION_TYPES: tuple[str, ...] = ("mass", "spiculated_mass", "calcification_cluster")

#: A breast is the unit RSNA scores: one prediction per (patient, laterality).
BREAST_KEYS: tuple[str, ...] = ("patient_id", "laterality")

# DICOM vocabulary -----------------------------------------------------------------
DIGITAL_MAMMOGRAPHY_PRESENTATION_SOP = "1.2.840.10008.5.1.4.1.1.1.2"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
JPEG_LOSSLESS_SV1 = "1.2.840.10008.1.2.4.70"
JPEG2000_LOSSLESS = "1.2.840.10008.1.2.4.90"
TRANSFER_SYNTAX_NAMES: dict[str, str] = {
    EXPLICIT_VR_LITTLE_ENDIAN: "uncompressed",
    "1.2.840.10008.1.2": "uncompressed (implicit)",
    JPEG_LOSSLESS_SV1: "JPEG lossless",
    "1.2.840.10008.1.2.4.57": "JPEG lossless (process 14)",
    JPEG2000_LOSSLESS: "JPEG 2000 lossless",
    "1.2.840.10008.1.2.4.91": "JPEG 2000",
    "1.2.840.10008.1.2.5": "RLE lossless",
}
MONOCHROME1 = "MONOCHROME1"
MONOCHROME2 = "MONOCHROME2"

#: DICOM keywords that identify a person; never logged, returned or tracked.
PHI_KEYWORDS: frozenset[str] = frozenset(
    {
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientAddress",
        "PatientTelephoneNumbers",
        "OtherPatientIDs",
        "OtherPatientNames",
        "ReferringPhysicianName",
        "InstitutionName",
        "InstitutionAddress",
        "AccessionNumber",
        "OperatorsName",
        "PerformingPhysicianName",
    }
)

#: Kaggle input folder of the competition data.
KAGGLE_RSNA_DIR = "/kaggle/input/rsna-breast-cancer-detection"

#: Classification networks by name: the from-scratch baseline, the ``keras.applications`` backbones
#: and EfficientNet-Lite0 (ImageNet weights from a pinned package, no download) that
#: :mod:`mammo_utils.modeling.models` builds.
MODEL_NAMES = (
    "baseline",
    "resnet50",
    *(f"efficientnetb{i}" for i in range(8)),
    *(f"efficientnetv2b{i}" for i in range(4)),
    "inceptionv3",
    "efficientnet_lite0",
)

# Choices of the configuration (one list each; config validates against them, builders use them) -----
#: Global pooling of the classification head.
POOLINGS: tuple[str, ...] = ("avg", "max", "gem")
#: Training losses.
LOSSES: tuple[str, ...] = ("bce", "focal")
#: Learning-rate schedules.
LR_SCHEDULES: tuple[str, ...] = ("cosine", "plateau")
#: Validation metrics that select checkpoints: image ROC-AUC or per-breast probabilistic F1.
MONITORS: tuple[str, ...] = ("val_breast_auc", "val_auc", "val_pf1")
#: Bits per pixel of the PNG cache.
CACHE_BITS: tuple[int, ...] = (8, 16)
#: How image scores become one breast score.
BREAST_AGGREGATIONS: tuple[str, ...] = ("mean", "max")
#: Name of the breast key column (RSNA's submission calls it ``prediction_id``: ``<patient_id>_<laterality>``).
BREAST_ID = "breast_id"

#: Formats ``mammo export`` writes (besides the Keras inference model), in the order they are written.
EXPORT_FORMATS = ("savedmodel", "onnx", "tflite-fp16", "tflite-int8")
#: Export gate defaults for quantised TFLite files (see ``mammo_utils.export.runtime``): the largest validation
#: breast ROC-AUC drop and the largest share of validation breast decisions flipped against Keras.
MAX_AUC_DROP, MAX_FLIP_RATE = 0.02, 0.02

#: KerasTuner search strategies ``mammo tune --tuner`` accepts; the first is the default.
TUNERS = ("hyperband", "bayesian", "random")
#: Criteria a search may declare to decide tuned vs default (``mammo tune --decision-metric``): the paired tests'
#: metrics (:data:`mammo_utils.evaluation.compare.METRICS` keys); the first is the default.
DECISION_METRICS = ("log_loss", "roc_auc")

#: Drift thresholds on the Population Stability Index: below PSI_STABLE "stable", above PSI_DRIFT "drift",
#: between "watch" (the credit-scoring convention; :func:`mammo_utils.evaluation.drift.status`).
PSI_STABLE, PSI_DRIFT = 0.1, 0.25
#: Fewest current values (served predictions, cached images) a drift verdict is drawn from.
DRIFT_MIN_PREDICTIONS = 30
#: Latest served predictions (and labelled feedback) the service and the retraining triggers look at.
DRIFT_WINDOW = 500

#: Formats an export folder can be scored with (``mammo serve --runtime``, ``MAMMO_RUNTIME``): the Keras
#: inference model every export holds, then the exported formats.
RUNTIMES = ("keras", *EXPORT_FORMATS)
#: The format the service scores with unless ``mammo serve --runtime`` / ``MAMMO_RUNTIME`` names another: float32
#: ONNX, whose scores match Keras within the parity tolerance (a quantised file may be faster, not equal).
SERVED_RUNTIME = "onnx"
