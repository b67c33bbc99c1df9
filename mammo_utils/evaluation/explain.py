"""Where the classifier looked: Grad-CAM heat-maps and overlays.

Grad-CAM (Selvaraju et al. 2017) weights the last convolutional feature map by the gradient of the cancer
score with respect to it (averaged over space), keeps the positive part and upsamples it to the input. The
feature map used is the input of the model's global pooling layer, so the same code serves the baseline CNN
and every transfer backbone (the backbone is a nested model whose output feeds the pooling), models loaded from
``.keras`` files and export folders' inference models (augmentation removed). The map is computed in float32
whatever the training precision.

Example:
    >>> from mammo_utils.evaluation.explain import gradcam
    >>> heat = gradcam(model, images)  # (N, H, W) in [0, 1]  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

#: Global pooling layer classes that end the convolutional part of every project model.
_POOLING_CLASSES = ("GlobalMaxPooling2D", "GlobalAveragePooling2D", "GeMPooling")


def _pooling_owner(model):
    """The (possibly nested) functional model that holds the global pooling layer, and that layer."""
    for layer in model.layers:
        if type(layer).__name__ in _POOLING_CLASSES:
            return model, layer
    for layer in model.layers:
        if hasattr(layer, "layers") and getattr(layer, "_is_graph_network", True):
            found = _pooling_owner(layer)
            if found is not None and found[0] is not None:
                return found
    return None, None


#: Name of the project classifiers' output layer (``Dense(1, activation="sigmoid")``, see
#: :func:`mammo_utils.modeling.models`): Grad-CAM differentiates its pre-activation (the logit).
HEAD = "cancer"


def _sigmoid_head(owner):
    """The output ``Dense`` with a sigmoid activation of ``owner`` (the classifier core), or None."""
    import keras

    try:
        head = owner.get_layer(HEAD)
    except ValueError:
        return None
    sigmoid = getattr(head, "activation", None) is keras.activations.sigmoid
    return head if isinstance(head, keras.layers.Dense) and sigmoid else None


def gradcam_model(model):
    """A model ``image -> (feature map, score input)`` sharing ``model``'s weights.

    The score Grad-CAM differentiates is the **logit** (the sigmoid's input), not the probability: at a
    probability of 1.0 the sigmoid is flat, its gradient vanishes, and the most confident cancers would get an
    empty map. The model's second output is the head's input (``h``); :func:`gradcam` forms ``h @ kernel + bias``
    with the head's own weights. A model without the project's sigmoid head falls back to its output.

    Args:
        model: A project classifier (``build_model``, a ``.keras`` file or an export's ``model.keras``).

    Returns:
        The Keras model used by :func:`gradcam`.

    Raises:
        ValueError: The model has no global pooling layer (not a project classifier).
    """
    import keras

    owner, pool = _pooling_owner(model)
    if owner is None:
        raise ValueError(f"model {model.name!r} has no global pooling layer to take a Grad-CAM feature map from")
    # an export wraps the classifier core between an input and a linear output; the core takes the image itself
    head = _sigmoid_head(owner)
    score = head.input if head is not None else owner.outputs[0]
    grad_model = keras.Model(owner.inputs, [pool.input, score], name=f"{model.name}_gradcam")
    grad_model.logit_head = head  # the Dense whose pre-activation is the score (None: the output itself)
    return grad_model


#: Map methods of :func:`gradcam`.
METHODS = ("gradcam", "gradcam++")


def gradcam(model, images: np.ndarray, grad_model=None, method: str = "gradcam") -> np.ndarray:
    """Grad-CAM (or Grad-CAM++) heat-maps of a batch, at the input's spatial size, scaled to [0, 1] per image.

    Grad-CAM weights each channel by its mean gradient. Grad-CAM++ (Chattopadhay et al. 2018) weights the
    positive gradients per position with ``alpha = g^2 / (2 g^2 + sum(A) g^3)`` (the closed form for an
    exponential score), which separates several instances of a class better; it costs nothing more here.

    Args:
        model: A project classifier.
        images: ``(N, H, W, 1)`` float32 model inputs (what the model scores).
        grad_model: A cached :func:`gradcam_model` of ``model`` (built when None).
        method: ``gradcam`` or ``gradcam++``.

    Returns:
        ``(N, H, W)`` float32 maps of the logit's gradient; an image whose logit has no positive gradient gets
        zeros.

    Raises:
        ValueError: Unknown ``method``.
    """
    import tensorflow as tf

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    grad_model = grad_model or gradcam_model(model)
    x = tf.convert_to_tensor(np.asarray(images, np.float32))
    with tf.GradientTape() as tape:
        raw, score = grad_model(x, training=False)
        score = tf.cast(score, tf.float32)
        head = getattr(grad_model, "logit_head", None)
        if head is not None:  # the logit: finite gradients even where the probability has saturated at 1.0
            score = tf.matmul(score, tf.cast(head.kernel, tf.float32)) + tf.cast(head.bias, tf.float32)
    # the gradient is taken at the layer's own tensor (float16 under mixed precision), then both go to float32
    grads = tf.cast(tape.gradient(score, raw), tf.float32)
    features = tf.cast(raw, tf.float32)
    if method == "gradcam":
        weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    else:
        g2, g3 = grads**2, grads**3
        total = tf.reduce_sum(features, axis=(1, 2), keepdims=True)
        denominator = 2.0 * g2 + total * g3
        alpha = g2 / tf.where(tf.abs(denominator) > 1e-12, denominator, tf.ones_like(denominator))
        weights = tf.reduce_sum(alpha * tf.nn.relu(grads), axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * features, axis=-1, keepdims=True))
    cam = tf.image.resize(cam, x.shape[1:3], method="bilinear")[..., 0].numpy()
    peak = cam.reshape(len(cam), -1).max(axis=1).reshape(-1, 1, 1)
    return np.where(peak > 0, cam / np.maximum(peak, 1e-12), 0.0).astype(np.float32)


def overlay(
    image: np.ndarray, heat: np.ndarray, alpha: float = 0.4, floor: float = 0.0, cmap: str = "cividis"
) -> np.ndarray:
    """An RGB uint8 picture of a grey image with a heat-map blended on top (colour-blind-safe ``cividis`` default).

    Each pixel's colour weight is ``alpha * clip((heat - floor) / (1 - floor), 0, 1)``: with ``floor`` > 0 only
    where the map is high is coloured, and the grey image stays as it is elsewhere.

    Args:
        image: ``(H, W)`` or ``(H, W, 1)`` grey image in [0, 1].
        heat: ``(h, w)`` map in [0, 1] (resized to the image).
        alpha: Heat-map opacity at the map's maximum, in [0, 1].
        floor: Map value below which nothing is coloured, in [0, 1).
        cmap: A Matplotlib colormap name.

    Returns:
        ``(H, W, 3)`` uint8.

    Raises:
        ValueError: ``alpha`` outside [0, 1] or ``floor`` outside [0, 1).
    """
    import cv2
    from matplotlib import colormaps

    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    if not 0 <= floor < 1:
        raise ValueError(f"floor must be in [0, 1), got {floor!r}")
    grey = np.asarray(image, np.float32).squeeze()
    heat = cv2.resize(np.asarray(heat, np.float32), grey.shape[::-1], interpolation=cv2.INTER_LINEAR)
    heat = np.clip(heat, 0, 1)
    colour = colormaps[cmap](heat)[..., :3]
    base = np.repeat(np.clip(grey, 0, 1)[..., None], 3, axis=-1)
    weight = alpha * np.clip((heat - floor) / (1 - floor), 0, 1)[..., None]
    return np.round(255 * ((1 - weight) * base + weight * colour)).astype(np.uint8)


def peak_location(heat: np.ndarray) -> tuple[int, int]:
    """(row, column) of a heat-map's maximum."""
    return tuple(int(v) for v in np.unravel_index(int(np.argmax(heat)), heat.shape))


#: Cached pixels at or below this value are background or padding (the breast is windowed well above it).
BREAST_FLOOR = 0.05


def peaks_off_breast(
    images: np.ndarray, heats: np.ndarray, groups=None, floor: float = BREAST_FLOOR, lesion=None
) -> dict:
    """How many Grad-CAM maps peak off the breast (on background or padding): a model looking at the image's
    border or size instead of the tissue would show here.

    Args:
        images: ``(N, H, W)`` images in [0, 1] (the maps' size).
        heats: ``(N, H, W)`` Grad-CAM maps.
        groups: Patient id per image, for the patient-bootstrap interval (None: each image its own patient).
        floor: Pixel value at or below which a pixel is not breast.
        lesion: One bool per image, True where it has a lesion box (None: no split). A peak off the breast on a
            lesion-free image says nothing about finding a lesion, so the share is also given per kind.

    Returns:
        ``{"off", "images", "share", "low", "high", "patients", "resamples", "interval"}``: the count, the images,
        the share and its 95% patient-bootstrap interval (:func:`~mammo_utils.evaluation.metrics.patient_share`,
        fixed seed); with ``lesion`` also ``"lesion"`` and ``"no_lesion"``, the same record over the images with and
        without a lesion (None for a kind with no image).

    Example:
        >>> img = np.zeros((2, 4, 4)); img[:, :, :2] = 0.6  # breast on the left half
        >>> heat = np.zeros((2, 4, 4)); heat[0, 1, 0] = 1; heat[1, 1, 3] = 1  # one peak on tissue, one off
        >>> peaks_off_breast(img, heat, groups=["p1", "p2"])["off"]
        1
        >>> peaks_off_breast(img, heat, groups=["p1", "p2"], lesion=[True, False])["no_lesion"]["off"]
        1
    """
    from .metrics import patient_share

    off = np.array([float(np.asarray(img)[peak_location(np.asarray(h))]) <= floor for img, h in zip(images, heats)])
    groups = np.arange(len(off)) if groups is None else np.asarray(groups)

    def record(keep: np.ndarray) -> dict | None:
        if not keep.any():
            return None
        share = patient_share(off[keep], groups[keep])
        low, high = share["ci"]
        return {"off": share["k"], "images": share["n"], "share": share["rate"], "low": low, "high": high,
                **{k: share[k] for k in ("patients", "resamples", "interval")}}  # fmt: skip

    out = record(np.ones(len(off), bool)) or {"off": 0, "images": 0, "share": float("nan")}
    if lesion is not None:
        lesion = np.asarray(lesion, bool).reshape(-1)
        if lesion.shape != off.shape:
            raise ValueError(f"peaks_off_breast needs one lesion flag per image, got {lesion.shape} for {off.shape}")
        out.update({"lesion": record(lesion), "no_lesion": record(~lesion)})
    return out
