"""The lesion detector: keras-cv's YOLOv8 with a small backbone built locally (no preset download).

Everything that defines the detector's contract is in :class:`DetectorSpec`: input size (divisible by the
largest stride, 32), box format (``xyxy`` pixels of the cached crop), the class list
(:data:`~mammo_utils.constants.LESION_TYPES`) and the backbone's widths and depths. YOLOv8 is anchor-free: each
cell of the stride-8/16/32 feature maps (P3-P5) predicts a box as distances to its edges and a class score,
assigned in training by the task-aligned assigner.

Why keras-cv and not KerasHub: KerasHub 0.32 has no YOLO; keras-cv 0.9.0 (maintenance only) builds, fits,
predicts and saves its ``YOLOV8Detector`` with Keras 3.15 and TensorFlow 2.21 (measured; see
``../shared/DEPENDENCIES.md``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from .. import constants as C

#: File name of a saved detector inside its folder.
DETECTOR_FILE = "detector.keras"
#: Sidecar JSON with the spec and the training record.
DETECTOR_INFO = "detector.json"


@dataclasses.dataclass(frozen=True)
class DetectorSpec:
    """What a detector takes and returns.

    Args:
        image_size: ``(height, width)`` input, both divisible by 32.
        classes: Lesion class names (index = class id).
        channels: Backbone widths of the four stages.
        depths: C2f blocks per stage.
        fpn_depth: C2f blocks in each feature-pyramid node.
        box_format: keras-cv box format of targets and outputs.
        strides: Feature-map strides the head predicts at (fixed by the backbone's P3-P5 levels).
    """

    image_size: tuple[int, int] = (256, 128)
    classes: tuple[str, ...] = C.LESION_TYPES
    channels: tuple[int, ...] = (16, 32, 64, 64)
    depths: tuple[int, ...] = (1, 1, 1, 1)
    fpn_depth: int = 1
    box_format: str = "xyxy"
    strides: tuple[int, ...] = (8, 16, 32)

    def __post_init__(self):
        h, w = self.image_size
        if h % 32 or w % 32:
            raise ValueError(f"detector image_size must be divisible by 32, got {self.image_size}")
        if len(self.channels) != 4 or len(self.depths) != 4:
            raise ValueError(f"channels and depths need 4 stages, got {self.channels} / {self.depths}")

    def to_dict(self) -> dict:
        """JSON-ready fields."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> "DetectorSpec":
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def build_detector(spec: DetectorSpec, confidence: float = 0.01, max_detections: int = 20, seed: int = 0):
    """A fresh YOLOv8 detector for single-channel [0, 1] images.

    Args:
        spec: The detector's contract.
        confidence: Lowest class score kept by non-max suppression (low, so AP sees the whole ranking).
        max_detections: Boxes kept per image after NMS.
        seed: Weight-initialisation seed.

    Returns:
        A compiled-ready ``keras_cv.models.YOLOV8Detector``.
    """
    import keras
    import keras_cv

    keras.utils.set_random_seed(seed)
    backbone = keras_cv.models.YOLOV8Backbone(
        stackwise_channels=list(spec.channels),
        stackwise_depth=list(spec.depths),
        include_rescaling=False,
        input_shape=(*spec.image_size, 1),
    )
    decoder = keras_cv.layers.NonMaxSuppression(
        bounding_box_format=spec.box_format,
        from_logits=False,
        iou_threshold=0.5,
        confidence_threshold=confidence,
        max_detections=max_detections,
    )
    return keras_cv.models.YOLOV8Detector(
        backbone=backbone,
        num_classes=len(spec.classes),
        bounding_box_format=spec.box_format,
        fpn_depth=spec.fpn_depth,
        prediction_decoder=decoder,
    )


def compile_detector(model, learning_rate: float, steps: int) -> None:
    """Compile with AdamW on a cosine schedule, CIoU box loss and BCE class loss (YOLOv8's defaults)."""
    import keras

    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(1, steps), alpha=0.05)
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=5e-4, global_clipnorm=10.0),
        classification_loss="binary_crossentropy",
        box_loss="ciou",
    )


def predict_boxes(model, images: np.ndarray, batch_size: int = 16) -> list[dict]:
    """Detections of a batch of images.

    Args:
        model: A trained detector.
        images: ``(N, H, W)`` or ``(N, H, W, 1)`` float [0, 1] images at the detector's size.
        batch_size: Prediction batch size.

    Returns:
        One dict per image: ``boxes`` ``(K, 4)`` xyxy pixels, ``scores`` ``(K,)``, ``classes`` ``(K,)`` int,
        sorted by score (K may be 0).
    """
    from ..utils import quiet_stderr

    x = np.asarray(images, np.float32)
    if x.ndim == 3:
        x = x[..., None]
    out = []
    for start in range(0, len(x), batch_size):
        with quiet_stderr():  # tf.data's C++ notices about graph attributes, printed on every predict
            pred = model.predict(x[start : start + batch_size], verbose=0)
        n = np.asarray(pred["num_detections"]).reshape(-1)
        for i in range(len(n)):
            k = int(n[i])
            scores = np.asarray(pred["confidence"][i][:k], np.float32)
            order = np.argsort(-scores, kind="stable")
            out.append(
                {
                    "boxes": np.asarray(pred["boxes"][i][:k], np.float32)[order],
                    "scores": scores[order],
                    "classes": np.asarray(pred["classes"][i][:k]).astype(int)[order],
                }
            )
    return out


def load_detector(folder: str | Path):
    """Load a saved detector and its spec from a folder written by training.

    Returns:
        ``(model, info)`` with ``info["spec"]`` a :class:`DetectorSpec`.

    Raises:
        FileNotFoundError: The folder has no detector.
    """
    import json

    import keras
    import keras_cv  # noqa: F401 - registers the detector's classes for deserialisation

    folder = Path(folder)
    path = folder / DETECTOR_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no detector here; train one with `mammo detect train`")
    info = json.loads((folder / DETECTOR_INFO).read_text())
    info["spec"] = DetectorSpec.from_dict(info["spec"])
    return keras.models.load_model(path, compile=False), info
