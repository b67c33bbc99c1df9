"""``POST /v1/feedback``: ground truth (e.g. a biopsy result) for a served prediction, stored with it."""

from __future__ import annotations

from typing import Literal

import anyio
from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from ..deps import authorised, service

router = APIRouter()


class Feedback(BaseModel):
    """Body of ``POST /v1/feedback``."""

    request_id: str = Field(..., min_length=8, max_length=64, description="the request_id /v1/predict returned")
    label: Literal[0, 1] = Field(..., description="1: cancer confirmed, 0: no cancer")
    source: str = Field("", max_length=64, description="where the label comes from, e.g. biopsy")


@router.post(
    "/v1/feedback",
    summary="Ground truth for a served prediction (e.g. the biopsy result)",
    dependencies=[Depends(authorised)],
    responses={404: {"description": "unknown request_id"}},
)
async def feedback(item: Feedback, request: Request) -> dict:
    state = service(request)
    stored = await anyio.to_thread.run_sync(state.store.add_feedback, item.request_id, item.label, item.source)
    if not stored:
        raise HTTPException(404, f"request_id {item.request_id!r} was not served by this deployment")
    state.metrics.feedback.labels(str(item.label)).inc()
    return {"stored": True, "request_id": item.request_id}
