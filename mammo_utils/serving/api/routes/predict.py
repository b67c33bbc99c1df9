"""``POST /v1/predict``: one DICOM / PNG / JPEG / TIFF upload (multipart field ``file``) -> probability,
decision, laterality/view, the lesion detector's boxes and per-stage timings; ``?explain=true`` adds Grad-CAM:
``heatmap_png_base64`` (the overlay on the model's input, RGB PNG) and ``heatmap_original_png_base64`` (the map
alone over the uploaded image's own frame, 8-bit grey PNG with the file's aspect, for drawing on the image), and
``heatmap_note``: the map shows where the score is sensitive, not where a lesion is (not a localisation).

With a detector bundled in the export, ``boxes`` lists its findings in the uploaded image's own pixel
coordinates (``class, score, x_min, y_min, x_max, y_max``) and ``detector`` describes it; without one both are
``null``, said explicitly."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile

from ...inference import DISCLAIMER, Predictor
from ..deps import authorised, ready_predictor, service
from ..schemas import EXPLAIN_QUERY, PREDICT, error_responses, ok_response
from ..uploads import score_upload, spool

router = APIRouter()


@router.post(
    "/v1/predict",
    summary="Score one mammogram",
    dependencies=[Depends(authorised)],
    responses={
        200: ok_response(PREDICT, description="the probability, decision, boxes and timings of the upload"),
        **error_responses(400, 401, 413, 415, 500, 503),
    },
)
async def predict(
    request: Request,
    file: UploadFile = File(..., description="DICOM (.dcm) or PNG/JPEG/TIFF mammogram"),
    explain: bool = Query(False, description=EXPLAIN_QUERY),
    predictor: Predictor = Depends(ready_predictor),
) -> dict:
    state = service(request)
    with tempfile.TemporaryDirectory(prefix="mammo-upload-") as folder:
        upload = await spool(state, file, Path(folder))
        result = await score_upload(state, predictor, upload, explain)
    model = predictor.describe()
    return {**result, "detector": model["detector"], "model": model, "disclaimer": DISCLAIMER}
