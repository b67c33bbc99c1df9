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
from ..inference import LivePredictor, Predictor
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
        ready: True once the model answered a warm-up inference.
        waiting: Requests waiting for or running an inference.
        semaphore: Bounds inferences running at once (``max_concurrency``).
    """

    settings: ServiceSettings
    metrics: ServiceMetrics
    predictor: Predictor | None = None
    store: Store | None = None
    ready: bool = False
    waiting: int = 0
    semaphore: Any = None

    @property
    def reference(self) -> dict | None:
        """The drift reference of the version serving now (a champion pointer's reference follows the pointer with
        the model: :attr:`Predictor.reference`); None before the model loads, for a run folder, or without one."""
        return self.predictor.reference if self.predictor is not None else None

    async def record(
        self,
        request_id: str,
        result: dict,
        features: dict,
        upload_sha256: str,
        predictor: Predictor,
        image: dict | None = None,
    ) -> None:
        """Record a served prediction (probability, threshold, decision, image statistics, the identity of the
        model version that scored it, and the model-input image when ``MAMMO_KEEP_IMAGES`` is on) in the store,
        off the event loop, before it is returned: nothing is served unrecorded (a store that does not answer
        gives 503)."""
        record = functools.partial(
            self.store.record_prediction,
            request_id,
            probability=result["probability"],
            threshold=result["threshold"],
            decision=result["decision"],
            features=features,
            upload_sha256=upload_sha256,
            image=image,
            **model_identity(predictor),
        )
        await anyio.to_thread.run_sync(record)


def model_identity(predictor: Predictor) -> dict[str, str]:
    """What the store records of a served model: registry name and version, and the SHA-256 of the format that
    scores (from ``model.json``; empty for a run folder, which has no manifest).

    Args:
        predictor: The model version that scored (a :class:`Predictor`, or a :class:`LivePredictor`'s current one).

    Returns:
        ``model_name``, ``model_version``, ``model_digest``.
    """
    described = predictor.describe()
    formats = predictor.info.get("formats") or {}
    digest = (formats.get(described["runtime"]) or {}).get("sha256") or ""
    version = described.get("registry_version") or described.get("run_id") or ""
    return {"model_name": str(described.get("name") or ""), "model_version": str(version), "model_digest": digest}


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
    """The version serving now, pinned for the whole request (a champion pointer that moves meanwhile changes the
    next request, never half of this one), or 503 while the model is still loading."""
    state = service(request)
    if not state.ready:
        raise HTTPException(503, "model not loaded yet")
    predictor = state.predictor
    return predictor.current() if isinstance(predictor, LivePredictor) else predictor


def store(request: Request) -> Store:
    """The prediction store."""
    return service(request).store
