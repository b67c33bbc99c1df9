"""``POST /v1/predict``: one DICOM / PNG / JPEG / TIFF upload (multipart field ``file``) -> probability,
decision, laterality/view, the lesion detector's boxes and per-stage timings; ``?explain=true`` adds Grad-CAM:
``heatmap_png_base64`` (the overlay on the model's input, RGB PNG) and ``heatmap_original_png_base64`` (the map
alone over the uploaded image's own frame, 8-bit grey PNG with the file's aspect, for drawing on the image).

With a detector bundled in the export, ``boxes`` lists its findings in the uploaded image's own pixel
coordinates (``class, score, x_min, y_min, x_max, y_max``) and ``detector`` describes it; without one both are
``null``, said explicitly."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile

from ...inference import DISCLAIMER, Predictor
from ..deps import authorised, ready_predictor, service
from ..uploads import score_upload, spool

router = APIRouter()

_EXAMPLE = {
    "request_id": "9f1c…",
    "probability": 0.83,
    "threshold": 0.58,
    "decision": "recall",
    "laterality": "L",
    "view": "CC",
    "boxes": [{"class": "mass", "score": 0.41, "x_min": 1210.0, "y_min": 2144.5, "x_max": 1388.0, "y_max": 2301.0}],
    "detector": {"classes": ["mass", "spiculated_mass", "calcification_cluster"], "operating_score": 0.3},
    "model": {"name": "mammo-cancer-classifier", "registry_version": "3", "runtime": "onnx"},
    "timing_ms": {"spool": 2.1, "hash": 1.3, "decode": 35.0, "crop": 6.2, "model": 3.9, "drift_features": 0.4},
}


@router.post(
    "/v1/predict",
    summary="Score one mammogram",
    dependencies=[Depends(authorised)],
    responses={
        200: {"content": {"application/json": {"example": _EXAMPLE}}},
        400: {
            "description": "not a mammogram: corrupt, no pixel data, unsupported syntax, too small, empty,"
            " or declaring more pixels than MAMMO_MAX_PIXELS"
        },
        401: {"description": "missing or wrong bearer token (checked before the body is read)"},
        413: {"description": "upload over the size limit (declared or streamed)"},
        415: {"description": "content type that is not DICOM or an image"},
        503: {"description": "queue full or inference past MAMMO_INFERENCE_TIMEOUT_S (see Retry-After)"},
    },
)
async def predict(
    request: Request,
    file: UploadFile = File(..., description="DICOM (.dcm) or PNG/JPEG/TIFF mammogram"),
    explain: bool = Query(False, description="add the Grad-CAM overlay and map (PNGs, base64)"),
    predictor: Predictor = Depends(ready_predictor),
) -> dict:
    state = service(request)
    with tempfile.TemporaryDirectory(prefix="mammo-upload-") as folder:
        upload = await spool(state, file, Path(folder))
        result = await score_upload(state, predictor, upload, explain)
    model = predictor.describe()
    return {**result, "detector": model["detector"], "model": model, "disclaimer": DISCLAIMER}
