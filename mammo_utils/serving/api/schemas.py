"""What the OpenAPI document says about the scoring routes: the error body, each refusal's status, and the 200
examples.

Every refusal is ``{"detail": "<reason>"}`` (:class:`ErrorDetail`; FastAPI's own 422 keeps its list of field
errors). :func:`error_responses` declares the statuses a route answers with, each described once here
(:data:`ERRORS`). A 200 example is built from a model description (:func:`~..inference.describe_model`):
:func:`fill_examples` puts the served export's model, threshold and detector in (``mammo report`` passes the
export it reports on); without one every value is illustrative, and each example's description says which of its
values come from the export and which are illustrative.

Example:
    >>> fill_examples(create_app(ServiceSettings()).openapi(), describe_export("export/champion"))  # doctest: +SKIP
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from ..inference import DISCLAIMER, HEATMAP_NOTE

#: The scoring routes.
PREDICT, STUDIES = "/v1/predict", "/v1/studies"

_RETRY = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}
#: Each refusal's status and when the service answers with it.
ERRORS = {
    400: "not a mammogram: empty, not a DICOM/PNG/JPEG/TIFF, corrupt, no pixel data, unsupported transfer syntax, "
    "smaller than the minimum side, or declaring more pixels than MAMMO_MAX_PIXELS",
    401: "missing or wrong bearer token when MAMMO_API_TOKEN is set (checked before the body is read)",
    413: "request body over MAMMO_MAX_UPLOAD_MB (declared Content-Length, or cut while it streams)",
    415: "content type that is not DICOM, octet-stream or an image type",
    500: "internal error: a broken export (a file differing from its model.json digest) or a bug; the server "
    "stays up and counts it",
    503: "model still loading, more requests waiting than MAMMO_MAX_CONCURRENCY + MAMMO_MAX_QUEUE allow, "
    "inference past MAMMO_INFERENCE_TIMEOUT_S, or the prediction store not answering (Retry-After on all but "
    "the first)",
}


#: The fields ``?explain=true`` adds to each scored image, as the OpenAPI document describes them.
EXPLAIN_FIELDS = {
    "heatmap_png_base64": {"type": "string", "description": "the Grad-CAM overlay on the model's input (RGB PNG, "
                           "base64)"},
    "heatmap_original_png_base64": {"type": "string", "description": "the Grad-CAM map alone over the uploaded "
                                    "image's own frame (8-bit grey PNG, base64; 255 = its peak)"},
    "heatmap_note": {"type": "string", "const": HEATMAP_NOTE, "description": "present with the heat-map, always "
                     f'"{HEATMAP_NOTE}": the map is not a localisation'},
}  # fmt: skip
#: The ``explain`` query parameter, described once for both scoring routes.
EXPLAIN_QUERY = f'add the Grad-CAM overlay and map (PNGs, base64) and heatmap_note ("{HEATMAP_NOTE}")'


def response_schema(path: str) -> dict:
    """The part of a scoring route's 200 body that its example cannot show: the fields ``?explain=true`` adds.

    Args:
        path: A route of :data:`EXAMPLES`.

    Returns:
        A JSON schema (any other field is allowed; the example shows them).
    """
    image = {"type": "object", "properties": EXPLAIN_FIELDS}
    if path == STUDIES:
        return {"type": "object", "properties": {"images": {"type": "array", "items": image}}}
    return image


class ErrorDetail(BaseModel):
    """Body of every refusal (all statuses but FastAPI's 422)."""

    detail: str = Field(..., description="why the request was refused; an upload is named by its index")


def error_responses(*codes: int) -> dict:
    """The ``responses=`` entries of a route's refusals.

    Args:
        *codes: Statuses from :data:`ERRORS`.

    Returns:
        ``{code: {"model": ErrorDetail, "description": ...}}`` (503 also names ``Retry-After``).

    Raises:
        ValueError: A status without a description in :data:`ERRORS`.
    """
    unknown = [c for c in codes if c not in ERRORS]
    if unknown:
        raise ValueError(f"error_responses: no description for status {unknown}; known: {sorted(ERRORS)}")
    return {
        c: {"model": ErrorDetail, "description": ERRORS[c], **({"headers": _RETRY} if c == 503 else {})} for c in codes
    }


_ILLUSTRATIVE_MODEL = {
    "name": "mammo-cancer-classifier",
    "backbone": "efficientnet_b0",
    "registry_version": "3",
    "run_id": "0123456789abcdef0123456789abcdef",
    "run_name": "example_run",
    "input": [512, 256],
    "runtime": "onnx",
    "threshold": 0.5,
    "version": "0123456789ab",
    "detector": {
        "classes": ["mass", "spiculated_mass", "calcification_cluster"],
        "input": [256, 128],
        "operating_score": 0.3,
        "registry_version": "2",
        "run_id": "fedcba9876543210fedcba9876543210",
    },
}
#: Per-image values no export holds (a scored upload's own): illustrative in every example.
_IMAGE = {
    "probability": 0.83,
    "laterality": "L",
    "view": "CC",
    "timing_ms": {"spool": 2.1, "hash": 1.3, "decode": 35.0, "crop": 6.2, "model": 3.9, "drift_features": 0.4},
}
_BOX = {"score": 0.41, "x_min": 1210.0, "y_min": 2144.5, "x_max": 1388.0, "y_max": 2301.0}
_ILLUSTRATIVE_FIELDS = "request_id, upload_sha256, probability, laterality, view, boxes' positions and timings"


def _image(model: dict, probability: float, n: int = 0) -> dict:
    """One scored image (the ``n``-th of a request) as the service returns it, under ``model``'s threshold and
    detector."""
    detector = model["detector"]
    boxes = None
    if detector is not None:  # a box is kept at or above the detector's operating score
        score = max(_BOX["score"], float(detector["operating_score"] or 0.0))
        boxes = [{"class": detector["classes"][0], **_BOX, "score": round(score, 4)}]
    decision = "recall" if probability >= model["threshold"] else "routine"
    return {
        "request_id": f"9f1c2e4b7a0d4c3f8e6b5a4d3c2b1a{n:02d}",
        "upload_sha256": f"3b7e0c1d{n:02d}" * 6 + "0" * 4,
        **_IMAGE,
        "probability": probability,
        "threshold": model["threshold"],
        "decision": decision,
        "boxes": boxes,
    }


def predict_example(model: dict) -> dict:
    """A ``/v1/predict`` 200 body for ``model`` (a :func:`~..inference.describe_model` dict)."""
    image = _image(model, _IMAGE["probability"])
    return {**image, "detector": model["detector"], "model": model, "disclaimer": DISCLAIMER}


def studies_example(model: dict) -> dict:
    """A ``/v1/studies`` 200 body for ``model``: two scored images of one breast and a refused third file."""
    images = [_image(model, p, n) for n, p in enumerate((_IMAGE["probability"], 0.61))]
    probability = sum(i["probability"] for i in images) / len(images)
    refused = {"index": 2, "error": "upload 2: not a DICOM (no DICM preamble) nor a PNG/JPEG/TIFF image", "status": 400}
    return {
        "images": [*({"index": i, **image} for i, image in enumerate(images)), refused],
        "breasts": [{"laterality": "L", "probability": probability,
                     "decision": "recall" if probability >= model["threshold"] else "routine", "images": 2}],
        "threshold": model["threshold"],
        "aggregation": "mean",
        "detector": model["detector"],
        "disclaimer": DISCLAIMER,
    }  # fmt: skip


#: The routes whose 200 response carries an example, and its builder.
EXAMPLES = {PREDICT: predict_example, STUDIES: studies_example}


def example_description(model: dict | None) -> str:
    """Which of an example's values come from an export (``model``) and which are illustrative."""
    if model is None:
        return (
            "Illustrative values throughout: these docs were generated without an export (`mammo report` fills the "
            "model, threshold and detector from the export it reports on; a running service's /v1/model "
            "describes the model it serves)."
        )
    detector = (
        f"its detector (operating score {model['detector']['operating_score']:g})"
        if model["detector"] is not None
        else "no detector (boxes and detector are null, as this export serves them)"
    )
    return (
        f"model, threshold ({model['threshold']:g}) and {detector} are those of the export this document was "
        f"generated from: run {model['run_name']}, registry version {model['registry_version']}, export version "
        f"{model['version']}. The decision follows from the probability at that threshold. Illustrative: "
        f"{_ILLUSTRATIVE_FIELDS}."
    )


def ok_response(path: str, model: dict | None = None, description: str = "") -> dict:
    """A route's 200 response with its example (``model`` None: the illustrative model) and the fields
    ``?explain=true`` adds (:func:`response_schema`).

    Args:
        path: A route of :data:`EXAMPLES`.
        model: The served model's description, or None.
        description: The 200 response's own description.
    """
    value = EXAMPLES[path](model or _ILLUSTRATIVE_MODEL)
    summary = "from the reported export" if model is not None else "illustrative"
    example = {"summary": summary, "description": example_description(model), "value": value}
    body = {"schema": response_schema(path), "examples": {"example": example}}
    return {"description": description, "content": {"application/json": body}}


def fill_examples(schema: dict, model: dict) -> dict:
    """Put ``model``'s example into every 200 response of :data:`EXAMPLES` in an OpenAPI document (in place).

    Args:
        schema: The app's OpenAPI document.
        model: The description of the export being documented (:func:`~..inference.describe_export`).

    Returns:
        ``schema``.
    """
    for path in EXAMPLES:
        ok = schema["paths"][path]["post"]["responses"]["200"]
        ok["content"]["application/json"]["examples"] = ok_response(path, model)["content"]["application/json"][
            "examples"
        ]
    return schema
