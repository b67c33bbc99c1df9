"""``POST /v1/studies``: several files of one patient (field ``files``) -> per-image results (or each file's
error), with the detector's boxes as in ``/v1/predict`` (and its Grad-CAM PNGs and ``heatmap_note`` with
``?explain=true``), and per-breast probabilities and decisions (``aggregation`` names how a breast's images are
combined).

Each image is named by its ``index`` in the request, never by the client's file name."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, File, HTTPException, Query, Request, UploadFile

from ...inference import DISCLAIMER, Predictor
from ..deps import authorised, ready_predictor, service
from ..schemas import EXPLAIN_QUERY, STUDIES, error_responses, ok_response
from ..uploads import score_upload, spool

router = APIRouter()


@router.post(
    "/v1/studies",
    summary="Score several images of one patient, per breast",
    dependencies=[Depends(authorised)],
    responses={
        200: ok_response(
            STUDIES,
            description="each image's result, or its refusal in place (status 400 or 415 with the error, as "
            "/v1/predict would answer it alone), and each breast's probability and decision",
        ),
        **error_responses(401, 413, 500, 503),
    },
)
async def studies(
    request: Request,
    files: list[UploadFile] = File(..., description="the images of one patient (DICOM or images)"),
    explain: bool = Query(False, description="for each image: " + EXPLAIN_QUERY),
    predictor: Predictor = Depends(ready_predictor),
) -> dict:
    import pandas as pd

    state = service(request)
    images = []
    with tempfile.TemporaryDirectory(prefix="mammo-study-") as folder:
        for i, file in enumerate(files):
            try:
                upload = await spool(state, file, Path(folder), index=i)
                result = await score_upload(state, predictor, upload, explain)
                images.append({"index": i, **result})
            except HTTPException as exc:
                if exc.status_code in (401, 413, 503):
                    raise
                images.append({"index": i, "error": exc.detail, "status": exc.status_code})
    scored = pd.DataFrame([r for r in images if "probability" in r])
    breasts = []
    if not scored.empty:
        frame = scored.assign(patient_id=0, image_id=scored["index"], laterality=scored.laterality.replace("", "?"))
        table = predictor.predict_breasts(frame)
        breasts = [
            {
                "laterality": r.laterality,
                "probability": float(r.prediction),
                "decision": r.decision,
                "images": int(r.n_images),
            }
            for r in table.itertuples()
        ]
    detector = predictor.describe()["detector"]
    return {
        "images": images,
        "breasts": breasts,
        "threshold": predictor.threshold,
        "aggregation": predictor.aggregation,
        "detector": detector,
        "disclaimer": DISCLAIMER,
    }
