"""What the routes depend on: the service's state (loaded predictor, store, drift reference), authorisation
and the ready predictor, as FastAPI dependencies.

Example:
    >>> @router.get("/v1/model", dependencies=[Depends(authorised)])  # doctest: +SKIP
    ... async def model_info(predictor: Predictor = Depends(ready_predictor)): ...
"""

from __future__ import annotations

import dataclasses
import functools
import hmac
from typing import Any

import anyio
from fastapi import HTTPException, Request

from ...monitoring.store import Store
from ..inference import Predictor
from ..metrics import ServiceMetrics
from .settings import ServiceSettings


@dataclasses.dataclass
class ServiceState:
    """Everything one app instance holds (on ``app.state.service``).

    Attributes:
        settings: The validated settings.
        metrics: Its Prometheus metrics.
        predictor: The loaded model (None until the lifespan loads it).
        store: The prediction store (opened in the lifespan, :func:`mammo_utils.monitoring.store.open_store`).
        model_identity: ``model_name``, ``model_version``, ``model_digest`` of the served model, recorded with each
            prediction.
        reference: The model's drift reference (None for a run folder or an export without one).
        ready: True once the model answered a warm-up inference.
        waiting: Requests waiting for or running an inference.
        semaphore: Bounds inferences running at once (``max_concurrency``).
    """

    settings: ServiceSettings
    metrics: ServiceMetrics
    predictor: Predictor | None = None
    store: Store | None = None
    model_identity: dict[str, str] = dataclasses.field(default_factory=dict)
    reference: dict | None = None
    ready: bool = False
    waiting: int = 0
    semaphore: Any = None

    async def record(self, request_id: str, result: dict, features: dict, upload_sha256: str) -> None:
        """Record a served prediction (probability, threshold, decision, image statistics, model identity) in the
        store, off the event loop, before it is returned: nothing is served unrecorded (a store that does not
        answer gives 503)."""
        record = functools.partial(
            self.store.record_prediction,
            request_id,
            probability=result["probability"],
            threshold=result["threshold"],
            decision=result["decision"],
            features=features,
            upload_sha256=upload_sha256,
            **self.model_identity,
        )
        await anyio.to_thread.run_sync(record)


def service(request: Request) -> ServiceState:
    """The app's :class:`ServiceState`."""
    return request.app.state.service


def token_matches(header: str, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <token>``, compared in constant time.

    Example:
        >>> token_matches("Bearer s3cret", "s3cret"), token_matches("Bearer guess", "s3cret")
        (True, False)
    """
    return hmac.compare_digest(header.encode("utf-8", "replace"), f"Bearer {token}".encode())


def authorised(request: Request) -> None:
    """401 without ``Authorization: Bearer <MAMMO_API_TOKEN>`` when a token is set (the edge middleware checks
    it first, before the body is read; this keeps each route safe on its own)."""
    token = service(request).settings.token
    if token and not token_matches(request.headers.get("authorization", ""), token):
        raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})


def ready_predictor(request: Request) -> Predictor:
    """The loaded predictor, or 503 while it is still loading."""
    state = service(request)
    if not state.ready:
        raise HTTPException(503, "model not loaded yet")
    return state.predictor


def store(request: Request) -> Store:
    """The prediction store."""
    return service(request).store
