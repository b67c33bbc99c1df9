"""``GET /health`` (the process is up, no model needed) and ``GET /ready`` (200 once the model is loaded and
warmed up, else 503)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .... import __version__
from ..deps import service

router = APIRouter()


@router.get("/health", summary="Process is up")
async def health() -> dict:
    return {"status": "ok", "version": __version__}


@router.get("/ready", summary="Model loaded and warmed up", responses={503: {"description": "still loading"}})
async def ready(request: Request):
    state = service(request)
    if not state.ready:
        return JSONResponse({"ready": False}, status_code=503)
    return {"ready": True, "model": state.predictor.describe()}
