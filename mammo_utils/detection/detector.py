# Size: the detector's contract, build, schedule, prediction with its class-agnostic suppression, and loading.
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
#: Prior probability the classification head starts at (RetinaNet's focal-loss paper, YOLOv8's head): its bias is
#: ``log(p / (1 - p))``, so the first batches' class loss is not dominated by ~700 anchors x 3 classes at score 0.5.
PRIOR_PROBABILITY = 0.01
#: Epochs of linear learning-rate warm-up (from 0 to the peak) before the cosine decay.
WARMUP_EPOCHS = 1
#: Version of the training recipe (head initialisation + schedule); part of the detector's folder key, so a change
#: here never reuses a detector trained with the old recipe.
DETECTOR_RECIPE = f"wu{WARMUP_EPOCHS}_prior{PRIOR_PROBABILITY:g}"
#: IoU at or above which keras-cv's NMS (inside the model) keeps only the higher-scoring of two boxes.
NMS_IOU = 0.5
#: Overlap, as intersection over the *smaller* box's area, at or above which :func:`suppress_overlaps` keeps only
#: the higher-scoring of two boxes of any classes (SAHI's "IOS" match metric). keras-cv's NMS ranks each anchor by
#: its best class score, so it is already class-agnostic, but by IoU: a "spiculated mass" box around a smaller
#: "mass" box on the same lesion has IoU far below :data:`NMS_IOU` and both survive. Intersection over the smaller
#: box is at least the IoU, so this step also drops every pair with IoU >= :data:`NMS_IOU`. It is off by default
#: in :func:`predict_boxes` (measured on validation by :func:`~mammo_utils.detection.evaluate.nested_box_check`:
#: it drops true-positive boxes nested in wrong ones); the check records both validation mAPs in 07's results.
AGNOSTIC_OVERLAP = NMS_IOU


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


def build_detector(
    spec: DetectorSpec,
    confidence: float = 0.01,
    max_detections: int = 20,
    seed: int = 0,
    prior: float | None = PRIOR_PROBABILITY,
):
    """A fresh YOLOv8 detector for single-channel [0, 1] images.

    keras-cv leaves the classification head's bias at 0, so every anchor starts at score 0.5: the first batches'
    class loss is then ~1000x the box loss, and with a full learning rate from step 0 some seeds collapse to a
    constant score that never ranks a lesion first. The head's bias is set to the prior ``prior`` instead
    (:func:`prior_bias`).

    Args:
        spec: The detector's contract.
        confidence: Lowest class score kept by non-max suppression (low, so AP sees the whole ranking).
        max_detections: Boxes kept per image after NMS.
        seed: Weight-initialisation seed.
        prior: Initial class probability of every anchor (``None``: keras-cv's zero bias, score 0.5).

    Returns:
        A compiled-ready ``keras_cv.models.YOLOV8Detector``.

    Example:
        >>> model = build_detector(DetectorSpec())  # doctest: +SKIP
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
        iou_threshold=NMS_IOU,
        confidence_threshold=confidence,
        max_detections=max_detections,
    )
    model = keras_cv.models.YOLOV8Detector(
        backbone=backbone,
        num_classes=len(spec.classes),
        bounding_box_format=spec.box_format,
        fpn_depth=spec.fpn_depth,
        prediction_decoder=decoder,
    )
    if prior is not None:
        for layer in class_output_layers(model):
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, np.full_like(bias, prior_bias(prior))])
    return model


def prior_bias(prior: float) -> float:
    """The logit bias that makes a sigmoid output ``prior`` when its input is 0.

    Args:
        prior: Probability in (0, 1).

    Returns:
        ``log(prior / (1 - prior))`` (-4.595 for 0.01).

    Raises:
        ValueError: ``prior`` is not in (0, 1).

    Example:
        >>> round(prior_bias(0.01), 3)
        -4.595
    """
    if not 0 < prior < 1:
        raise ValueError(f"prior must be in (0, 1), got {prior}")
    return float(np.log(prior / (1 - prior)))


def class_output_layers(model) -> list:
    """The last convolution of the classification head at each stride (keras-cv names ``*_class_3_conv``).

    Args:
        model: A keras-cv ``YOLOV8Detector``.

    Returns:
        Those layers, one per feature level.

    Raises:
        ValueError: The model has none (keras-cv renamed them).
    """
    layers = [layer for layer in model.layers if layer.name.endswith("_class_3_conv")]
    if not layers:
        raise ValueError("no '*_class_3_conv' layer in the detector: keras-cv's head naming changed")
    return layers


def learning_rate_schedule(learning_rate: float, steps: int, warmup_steps: int):
    """Linear warm-up from 0 to ``learning_rate`` over ``warmup_steps``, then cosine decay to 5% of it.

    Args:
        learning_rate: Peak learning rate.
        steps: Total training steps (warm-up included).
        warmup_steps: Steps of the warm-up (0: none; capped below ``steps``).

    Returns:
        A ``keras.optimizers.schedules.CosineDecay``.

    Example:
        >>> schedule = learning_rate_schedule(3e-3, 100, 10)  # doctest: +SKIP
        >>> float(schedule(0)), float(schedule(10))  # doctest: +SKIP
        (0.0, 0.003)
    """
    import keras

    if learning_rate <= 0 or steps < 1 or warmup_steps < 0:
        raise ValueError(
            f"need learning_rate > 0, steps >= 1, warmup_steps >= 0; got {learning_rate}, {steps}, {warmup_steps}"
        )
    warmup_steps = min(warmup_steps, steps - 1)
    if not warmup_steps:
        return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps, alpha=0.05)
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=steps - warmup_steps, alpha=0.05, warmup_target=learning_rate, warmup_steps=warmup_steps
    )


def compile_detector(model, learning_rate: float, steps: int, warmup_steps: int = 0) -> None:
    """Compile with AdamW (linear warm-up, then cosine decay), CIoU box loss and BCE class loss (YOLOv8's defaults).

    Args:
        model: A detector from :func:`build_detector`.
        learning_rate: Peak learning rate.
        steps: Total training steps.
        warmup_steps: Steps of linear warm-up from 0 (training uses :data:`WARMUP_EPOCHS` epochs of them).
    """
    import keras

    schedule = learning_rate_schedule(learning_rate, max(1, steps), warmup_steps)
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=5e-4, global_clipnorm=10.0),
        classification_loss="binary_crossentropy",
        box_loss="ciou",
    )


def overlap_smaller(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Intersection of ``box`` with each of ``others`` over the smaller box's area (1 when one holds the other).

    Args:
        box: One ``xyxy`` box.
        others: ``(K, 4)`` ``xyxy`` boxes.

    Returns:
        ``(K,)`` overlaps in [0, 1] (0 where a box has no area).

    Example:
        >>> overlap_smaller(np.array([0, 0, 10, 10.0]), np.array([[2, 2, 4, 4.0], [20, 20, 30, 30]])).tolist()
        [1.0, 0.0]
    """
    others = np.asarray(others, np.float64).reshape(-1, 4)
    width = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    height = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    smaller = np.minimum(area, areas)
    return np.where(smaller > 0, width * height / np.where(smaller > 0, smaller, 1), 0.0)


def suppress_overlaps(found: dict, overlap: float = AGNOSTIC_OVERLAP) -> dict:
    """Class-agnostic suppression: of two boxes of any classes that overlap by ``overlap`` or more (intersection
    over the smaller box, :func:`overlap_smaller`), keep the higher-scoring one.

    Args:
        found: One image's ``boxes`` ``(K, 4)``, ``scores`` ``(K,)`` and ``classes`` ``(K,)``, sorted by score.
        overlap: Threshold in (0, 1].

    Returns:
        The same keys with the suppressed boxes removed (order kept).

    Raises:
        ValueError: ``overlap`` is not in (0, 1].

    Example:
        >>> found = {"boxes": np.array([[0, 0, 10, 10], [1, 1, 5, 5], [20, 20, 30, 30.0]]),
        ...          "scores": np.array([0.17, 0.15, 0.1]), "classes": np.array([0, 1, 1])}
        >>> suppress_overlaps(found)["classes"].tolist()
        [0, 1]
    """
    if not 0 < overlap <= 1:
        raise ValueError(f"overlap must be in (0, 1], got {overlap!r}")
    boxes = np.asarray(found["boxes"], np.float64).reshape(-1, 4)
    keep: list[int] = []
    for i in range(len(boxes)):
        if not keep or overlap_smaller(boxes[i], boxes[keep]).max() < overlap:
            keep.append(i)
    return {k: np.asarray(v)[keep] for k, v in found.items()}


def predict_boxes(model, images: np.ndarray, batch_size: int = 16, agnostic_overlap: float | None = None) -> list[dict]:
    """Detections of a batch of images, after the model's NMS (and :func:`suppress_overlaps` when asked).

    Every caller (training's validation checks, 07's evaluation, the export's detector, the service) goes through
    here with the same default, so the boxes scored and the boxes shown are the same.

    Args:
        model: A trained detector.
        images: ``(N, H, W)`` or ``(N, H, W, 1)`` float [0, 1] images at the detector's size.
        batch_size: Prediction batch size.
        agnostic_overlap: :func:`suppress_overlaps`'s threshold (None, the default: the model's NMS only).

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
            found = {
                "boxes": np.asarray(pred["boxes"][i][:k], np.float32)[order],
                "scores": scores[order],
                "classes": np.asarray(pred["classes"][i][:k]).astype(int)[order],
            }
            out.append(found if agnostic_overlap is None else suppress_overlaps(found, agnostic_overlap))
    return out


def read_detector_info(folder: str | Path) -> dict:
    """A detector folder's ``detector.json`` (spec and training record, e.g. ``operating_score``), without loading
    the model.

    Args:
        folder: A folder written by training (or an export's ``detector/``).

    Returns:
        The record with ``info["spec"]`` a :class:`DetectorSpec`.

    Raises:
        FileNotFoundError: The folder has no ``detector.json``.
    """
    import json

    path = Path(folder) / DETECTOR_INFO
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no detector record here; train one with `mammo detect train`")
    info = json.loads(path.read_text())
    info["spec"] = DetectorSpec.from_dict(info["spec"])
    return info


def load_detector(folder: str | Path):
    """Load a saved detector and its spec from a folder written by training.

    Returns:
        ``(model, info)`` with ``info`` as :func:`read_detector_info` reads it.

    Raises:
        FileNotFoundError: The folder has no detector.
    """
    import keras
    import keras_cv  # noqa: F401 - registers the detector's classes for deserialisation

    path = Path(folder) / DETECTOR_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no detector here; train one with `mammo detect train`")
    return keras.models.load_model(path, compile=False), read_detector_info(folder)
