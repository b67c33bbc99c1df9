"""The REST service: FastAPI on uvicorn over the one inference path (:class:`~..inference.Predictor`).

Start it with ``mammo serve --model REF`` (an export folder from ``mammo export``, a run folder with
``model_info.json``, or ``models:/<name>@<alias>``). Settings come from the project configuration and the
environment (:class:`.settings.ServiceSettings`), so the Docker image, compose file and Azure ML deployment
configure it the same way. Laid out as the FastAPI full-stack template does: :func:`create_app` only wires
the parts together::

    settings.py     ServiceSettings: built from Config + MAMMO_* variables, each field checked (variable named)
    deps.py         the service's state and the dependencies: authorisation, the ready predictor, the store
    middleware.py   the edge (token and upload limit before/while the body is read, request metrics by route
                    template, JSON log lines, 500 on a bug, counted)
    uploads.py      spool an upload (SHA-256, sniffed type) and score it behind the concurrency limit and the
                    inference timeout
    routes/         one router per resource: health (/health, /ready), model (/v1/model), metrics (/metrics),
                    predict (/v1/predict), studies (/v1/studies), feedback (/v1/feedback),
                    predictions (/v1/predictions/{request_id})

Every served prediction is recorded in the prediction store (``MAMMO_STORE_URL``: SQLite or PostgreSQL,
:mod:`mammo_utils.monitoring.store`) before it is returned, with the served model's name, version and digest;
a store that does not answer gives 503 with ``Retry-After`` rather than an unrecorded prediction.

Bad input never takes the server down: each problem has its status and a reason in ``detail`` (400 not an
image / corrupt / no pixel data / unsupported transfer syntax / too small / empty / more pixels declared than
``MAMMO_MAX_PIXELS``, 413 too large (declared or streamed), 415 content type, 422 missing field, 401 without
the bearer token when ``MAMMO_API_TOKEN`` is set, 503 with ``Retry-After`` when more requests wait than the
queue allows or scoring takes longer than ``MAMMO_INFERENCE_TIMEOUT_S``). Inference runs in worker threads
behind a semaphore, off the event loop. No patient identifier from a DICOM header and no client file name
reaches a response, a log line or a metric: the reader returns only technical fields and laterality/view,
responses name an upload by its index, and logs by its SHA-256.
"""

from __future__ import annotations

import contextlib

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ... import __version__
from ...modeling.artifact import read_reference
from ...monitoring.store import StoreUnavailable, open_store
from ..inference import DISCLAIMER, Predictor
from ..metrics import ServiceMetrics
from . import middleware
from .deps import ServiceState, model_identity
from .routes import ROUTERS
from .routes.feedback import Feedback
from .settings import ServiceSettings, SettingsError

__all__ = [
    "Feedback",
    "ServiceSettings",
    "SettingsError",
    "create_app",
    "create_app_from_env",
    "load_reference",
    "model_identity",
]


def load_reference(predictor: Predictor) -> dict | None:
    """The drift reference of the served export, read and digest-checked now (None for a run folder or an export
    without one); for a champion pointer, that of the version serving now. The gauges use the copy each version
    read when it loaded (:attr:`Predictor.reference`)."""
    return read_reference(predictor.folder) if predictor.folder is not None else None


def create_app(settings: ServiceSettings | None = None, predictor: Predictor | None = None) -> FastAPI:
    """Build the FastAPI application.

    Args:
        settings: Service settings (default :meth:`ServiceSettings.from_env`).
        predictor: An already loaded predictor (default: loaded from ``settings.model_dir`` at start-up).

    Returns:
        The application; the model loads and warms up in its lifespan.
    """
    state = ServiceState(settings or ServiceSettings.from_env(), ServiceMetrics(), predictor=predictor)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        settings = state.settings
        state.semaphore = anyio.Semaphore(max(1, settings.max_concurrency))
        if state.predictor is None:
            state.predictor = await anyio.to_thread.run_sync(
                lambda: Predictor.load(
                    settings.model_dir,
                    settings.runtime,
                    work_dir=settings.work_dir or None,
                    tracking_uri=settings.tracking_uri or None,
                )
            )
        state.predictor.max_pixels = settings.max_pixels  # refused before decoding: 400, memory flat
        state.store = await anyio.to_thread.run_sync(open_store, settings.store_url or "sqlite:///:memory:")
        load_reference(state.predictor)  # a bad reference.json stops the start, named, not the first scrape
        await anyio.to_thread.run_sync(state.predictor.warm_up)  # classifier and detector: no slow first request
        state.ready = True
        middleware.log_event(
            "ready", model=state.predictor.describe(), drift_reference=state.reference is not None, store=settings.store
        )
        yield
        state.store.close()

    app = FastAPI(
        title="mammo: screening-mammography cancer classifier",
        version=__version__,
        description=f"Scores DICOM/PNG mammograms with the exported classifier. {DISCLAIMER}",
        lifespan=lifespan,
    )
    app.state.service = state

    @app.exception_handler(StoreUnavailable)
    async def store_unavailable(request: Request, exc: StoreUnavailable) -> JSONResponse:
        middleware.log_event("store_unavailable", store=state.settings.store)
        return JSONResponse(
            {"detail": "prediction store unavailable; retry later"}, status_code=503, headers={"Retry-After": "5"}
        )

    middleware.install(app, state)
    for router in ROUTERS:
        app.include_router(router)
    return app


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (what ``mammo serve`` and the Docker image run)."""
    middleware.configure_logging()
    return create_app(ServiceSettings.from_env())
