"""Request middleware and logging: the upload limit checked before a body is read, Prometheus request
metrics, one JSON log line per request, and a 500 (never a crash) for an unexpected error.

No query string, file name or patient identifier reaches a log line: a request is logged by route, method,
status and duration, an upload by its SHA-256 (:func:`log_event`).
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .deps import ServiceState

log = logging.getLogger("mammo.api")


def log_event(event: str, **fields: Any) -> None:
    """One JSON line on the ``mammo.api`` logger."""
    log.info(json.dumps({"ts": round(time.time(), 3), "event": event, **fields}, default=str))


def configure_logging() -> None:
    """JSON lines of ``mammo.api`` on stderr (once), whatever uvicorn did to the root logger."""
    logging.getLogger("pydicom").setLevel(logging.ERROR)  # its warnings name the temporary upload file
    warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom(\..*)?")
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


def install(app: FastAPI, state: ServiceState) -> None:
    """Add the limit/metrics middleware and the catch-all error handler to ``app``."""
    metrics, settings = state.metrics, state.settings

    @app.middleware("http")
    async def observe(request: Request, call_next):
        length = request.headers.get("content-length")
        too_large = length and length.isdigit() and int(length) > settings.max_upload_bytes
        if request.url.path.startswith("/v1/") and too_large:
            # refused before the body is read: the client is told at once, nothing is buffered
            metrics.requests.labels(request.url.path, request.method, "413").inc()
            return JSONResponse(
                {"detail": f"upload of {int(length) / 1e6:.1f} MB exceeds the limit of {settings.max_upload_mb:g} MB"},
                status_code=413,
            )
        start = time.perf_counter()
        metrics.in_flight.inc()
        try:
            response = await call_next(request)
        finally:
            metrics.in_flight.dec()
        route = getattr(request.scope.get("route"), "path", "unmatched")
        seconds = time.perf_counter() - start
        metrics.requests.labels(route, request.method, str(response.status_code)).inc()
        metrics.latency.labels(route).observe(seconds)
        if route != "/metrics":
            log_event(
                "request", route=route, method=request.method, status=response.status_code, ms=round(1000 * seconds, 1)
            )
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):  # a bug answers 500 and the server stays up
        log_event("error", route=request.url.path, error=type(exc).__name__)
        return JSONResponse({"detail": f"internal error ({type(exc).__name__})"}, status_code=500)
