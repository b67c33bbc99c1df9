"""The service's edge, as one ASGI middleware, and its logging.

:class:`Edge` sees every HTTP request before FastAPI does, so nothing below it can skip a rule:

- ``/v1/*`` without the bearer token (``MAMMO_API_TOKEN``) gets 401 before a byte of the body is read; the
  token is compared in constant time (:func:`token_matches`).
- A declared ``Content-Length`` over the limit gets 413 at once; a body without one (chunked) is counted while it
  streams, and the request is cut at the limit with 413: no more than the limit is ever handed to the
  multipart parser, so no more than that reaches a temporary file.
- Every request is counted in ``mammo_requests_total`` and timed in ``mammo_request_latency_seconds`` under its
  route *template* (``/v1/predict``; ``unmatched`` for an unknown path), never the raw path, and with
  ``explain`` "true"/"false"; an unhandled exception is answered 500 here and counted as ``status="500"``.
- One JSON log line per request (route template, method, status, duration): no query string, file name or
  patient identifier reaches a log line; an upload is named by its SHA-256 or its index (:func:`log_event`).
"""

from __future__ import annotations

import logging
import re
import time
import warnings
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.routing import compile_path

from ...utils import to_json
from .deps import ServiceState, token_matches

log = logging.getLogger("mammo.api")

#: Query values FastAPI reads as a true boolean (for the ``explain`` label).
_TRUE = {"1", "true", "on", "yes", "y", "t"}


def log_event(event: str, **fields: Any) -> None:
    """One JSON line on the ``mammo.api`` logger.

    A library configured later (``logging.config.dictConfig`` with ``disable_existing_loggers``, as loading a model
    through MLflow can do) may have disabled the logger: it is re-enabled here, so no request goes unlogged.
    """
    log.disabled = False
    log.info(to_json({"ts": round(time.time(), 3), "event": event, **fields}, default=str))


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


def route_templates(app: FastAPI) -> list[tuple[re.Pattern, str]]:
    """``(regex, template)`` of every route the app documents (its OpenAPI paths), for :func:`route_template`."""
    paths = list(app.openapi()["paths"])
    if app.openapi_url:
        paths.append(app.openapi_url)
    if app.docs_url:
        paths.append(app.docs_url)
    return [(compile_path(path)[0], path) for path in paths]


def route_template(templates: list[tuple[re.Pattern, str]], path: str) -> str:
    """The path template a request path belongs to (``unmatched`` when none): a bounded metric label.

    Example:
        >>> route_template([(compile_path("/v1/predictions/{request_id}")[0], "/v1/predictions/{request_id}")],
        ...                "/v1/predictions/9f1c")
        '/v1/predictions/{request_id}'
    """
    return next((template for regex, template in templates if regex.match(path)), "unmatched")


class Edge:
    """ASGI middleware: token and size limits before the body, then metrics, logs and 500s (module docstring).

    Args:
        app: The inner ASGI application.
        fastapi_app: The FastAPI application (its routes give the template label).
        state: The service state (settings and metrics).
    """

    def __init__(self, app, fastapi_app: FastAPI, state: ServiceState):
        self.app, self.fastapi_app, self.state = app, fastapi_app, state
        self.templates: list[tuple[re.Pattern, str]] | None = None  # built on the first request

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics, settings = self.state.metrics, self.state.settings
        if self.templates is None:
            self.templates = route_templates(self.fastapi_app)
        route = route_template(self.templates, scope["path"])
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        explain = "true" if query.get("explain", [""])[-1].lower() in _TRUE else "false"
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        guarded = scope["path"].startswith("/v1/")
        limit = settings.max_upload_bytes
        status = {"code": 500, "started": False, "cut": False}
        received = 0

        async def send_tracked(message) -> None:
            if status["cut"]:  # 413 already answered: what the app says after the cut is dropped
                return
            if message["type"] == "http.response.start":
                status.update(code=message["status"], started=True)
            await send(message)

        async def answer(code: int, detail: str, extra: dict | None = None) -> None:
            response = JSONResponse({"detail": detail}, status_code=code, headers=extra)
            await response(scope, receive, send_tracked)

        async def receive_limited():
            nonlocal received
            if status["cut"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if not status["started"]:
                        await answer(413, _too_large(settings.max_upload_mb), {"Connection": "close"})
                    status["cut"] = True  # the app sees a disconnect: its parser stops, nothing more is written
                    return {"type": "http.disconnect"}
            return message

        start = time.perf_counter()
        metrics.in_flight.inc()
        try:
            length = headers.get("content-length", "")
            if guarded and settings.token and not token_matches(headers.get("authorization", ""), settings.token):
                challenge = {"WWW-Authenticate": "Bearer", "Connection": "close"}
                await answer(401, "missing or wrong bearer token", challenge)
            elif guarded and length.isdigit() and int(length) > limit:
                await answer(413, _too_large(settings.max_upload_mb, int(length)), {"Connection": "close"})
            else:
                await self.app(scope, receive_limited if guarded else receive, send_tracked)
        except Exception as exc:  # noqa: BLE001 - a bug answers 500 and the server stays up
            if not status["cut"]:
                log_event("error", route=route, method=scope["method"], error=type(exc).__name__)
                status["code"] = 500
                if not status["started"]:
                    await answer(500, f"internal error ({type(exc).__name__})")
        finally:
            metrics.in_flight.dec()
        if status["cut"]:
            status["code"] = 413
        seconds = time.perf_counter() - start
        metrics.requests.labels(route, scope["method"], str(status["code"])).inc()
        metrics.latency.labels(route, explain).observe(seconds)
        if route != "/metrics":
            ms = round(1000 * seconds, 1)
            log_event("request", route=route, method=scope["method"], status=status["code"], ms=ms)


def _too_large(limit_mb: float, declared: int | None = None) -> str:
    size = f"upload of {declared / 1e6:.1f} MB" if declared is not None else "upload"
    return f"{size} exceeds the limit of {limit_mb:g} MB"


def install(app: FastAPI, state: ServiceState) -> None:
    """Put :class:`Edge` in front of ``app`` and a last-resort 500 handler behind it."""
    app.add_middleware(Edge, fastapi_app=app, state=state)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):  # only reached if Edge itself failed
        log_event("error", route="unknown", error=type(exc).__name__)
        return JSONResponse({"detail": f"internal error ({type(exc).__name__})"}, status_code=500)
