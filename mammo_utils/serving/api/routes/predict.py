"""``POST /v1/predict``: one DICOM / PNG / JPEG / TIFF upload (multipart field ``file``) -> probability,
decision, laterality/view and timings; ``?explain=true`` adds a Grad-CAM overlay (PNG, base64)."""

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
    "model": {"name": "mammo-cancer-classifier", "registry_version": "3", "runtime": "onnx"},
    "timing_ms": {"read_preprocess": 41.2, "inference": 3.9},
}


@router.post(
    "/v1/predict",
    summary="Score one mammogram",
    dependencies=[Depends(authorised)],
    responses={
        200: {"content": {"application/json": {"example": _EXAMPLE}}},
        400: {"description": "not a mammogram: corrupt, no pixel data, unsupported syntax, too small, empty"},
        413: {"description": "upload over the size limit"},
        415: {"description": "content type that is not DICOM or an image"},
    },
)
async def predict(
    request: Request,
    file: UploadFile = File(..., description="DICOM (.dcm) or PNG/JPEG/TIFF mammogram"),
    explain: bool = Query(False, description="add a Grad-CAM overlay (PNG, base64)"),
    predictor: Predictor = Depends(ready_predictor),
) -> dict:
    state = service(request)
    with tempfile.TemporaryDirectory(prefix="mammo-upload-") as folder:
        upload = await spool(state, file, Path(folder))
        result = await score_upload(state, predictor, upload, explain)
    return {
        **result,
        "model": predictor.describe(),
        "boxes": None,  # no lesion detector deployed with this model
        "disclaimer": DISCLAIMER,
    }
