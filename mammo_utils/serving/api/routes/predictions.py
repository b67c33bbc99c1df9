"""``GET /v1/predictions/{request_id}``: a served prediction as the store keeps it: time, model (name, version,
digest), probability, threshold, decision, the image statistics of the drift monitor, its current label and the
label's history (every correction with its author and reason). No patient identifier or file name is stored."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Depends, HTTPException, Path, Request

from ..deps import authorised, service

router = APIRouter()


@router.get(
    "/v1/predictions/{request_id}",
    summary="A served prediction with its label and the label's history",
    dependencies=[Depends(authorised)],
    responses={404: {"description": "unknown request_id"}},
)
async def prediction(request: Request, request_id: str = Path(..., min_length=8, max_length=64)) -> dict:
    record = await anyio.to_thread.run_sync(service(request).store.get_prediction, request_id)
    if record is None:
        raise HTTPException(404, f"request_id {request_id!r} was not served by this deployment")
    return record
