"""``GET /v1/model``: the served model's metadata (``model.json`` without file hashes or paths)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ...inference import DISCLAIMER, Predictor
from ..deps import authorised, ready_predictor

router = APIRouter()


@router.get("/v1/model", summary="Model metadata", dependencies=[Depends(authorised)])
async def model_info(predictor: Predictor = Depends(ready_predictor)) -> dict:
    info = {k: v for k, v in predictor.info.items() if k not in ("formats", "model_file")}
    return {**info, "serving": predictor.describe(), "disclaimer": DISCLAIMER}
