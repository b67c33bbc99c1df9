"""``POST /v1/feedback``: ground truth (e.g. a biopsy result) for a served prediction, stored with it.

A label is never silently overwritten: the same label again changes nothing, a different label needs a
``reason`` (409 without one) and is stored as a correction (a new audit row naming the previous label, the
author and the reason; ``GET /v1/predictions/{request_id}`` shows the history).
"""

from __future__ import annotations

from typing import Literal

import anyio
from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from ....monitoring.store import LabelConflict, UnknownPrediction
from ..deps import authorised, service

router = APIRouter()


class Feedback(BaseModel):
    """Body of ``POST /v1/feedback``."""

    request_id: str = Field(..., min_length=8, max_length=64, description="the request_id /v1/predict returned")
    label: Literal[0, 1] = Field(..., description="1: cancer confirmed, 0: no cancer")
    source: str = Field("", max_length=64, description="where the label comes from, e.g. biopsy")
    reason: str = Field(
        "", max_length=200, description="why an existing, different label is corrected (required to change one)"
    )
    author: str = Field("", max_length=64, description="who gives or corrects the label (a staff id, not a patient's)")


@router.post(
    "/v1/feedback",
    summary="Ground truth for a served prediction (e.g. the biopsy result), or its correction with a reason",
    dependencies=[Depends(authorised)],
    responses={
        404: {"description": "unknown request_id"},
        409: {"description": "a different label exists and no reason for a correction was given"},
    },
)
async def feedback(item: Feedback, request: Request) -> dict:
    state = service(request)
    try:
        status = await anyio.to_thread.run_sync(
            lambda: state.store.add_label(item.request_id, item.label, item.source, item.author, item.reason)
        )
    except UnknownPrediction:
        raise HTTPException(404, f"request_id {item.request_id!r} was not served by this deployment") from None
    except LabelConflict as exc:
        raise HTTPException(409, str(exc)) from None
    if status != "unchanged":
        state.metrics.feedback.labels(str(item.label)).inc()
    return {"stored": status != "unchanged", "status": status, "request_id": item.request_id, "label": item.label}
