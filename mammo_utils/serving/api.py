"""The REST service: FastAPI on uvicorn over the one inference path (:class:`~.inference.Predictor`).

Start it with ``mammo serve --model DIR`` (an export folder from ``mammo export``, or a run folder with
``model_info.json``). Settings come from the environment (:class:`ServiceSettings`), so the Docker image,
compose file and Azure ML deployment configure it the same way.

Routes::

    GET  /health        process up (no model needed)
    GET  /ready         200 once the model is loaded and a warm-up inference ran, else 503
    GET  /v1/model      the model's metadata (model.json without file hashes)
    GET  /metrics       Prometheus metrics
    POST /v1/predict    one DICOM / PNG / JPEG / TIFF upload (multipart field ``file``); ``?explain=true``
                        adds a Grad-CAM overlay (PNG, base64)
    POST /v1/studies    several files of one patient (field ``files``): per-image and per-breast results
    POST /v1/feedback   ground truth for a served prediction (``request_id``, ``label``), stored in SQLite

Bad input never takes the server down: each problem has its status and a reason in ``detail`` (400 not an
image / corrupt / no pixel data / unsupported transfer syntax / too small / empty, 413 too large, 415 content
type, 422 missing field, 401 without the bearer token when ``MAMMO_API_TOKEN`` is set, 503 when more requests
wait than the queue allows). Inference runs in worker threads behind a semaphore, off the event loop.
No patient identifier from a DICOM header reaches a response, a log line or a metric: the reader returns only
technical fields and laterality/view, and logs name an upload by its SHA-256.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import Any, Literal

import anyio
import numpy as np
from fastapi import Depends, FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from .. import __version__
from ..config import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, ConfigError, read_env
from ..constants import RUNTIMES
from ..data.dicom import DicomReadError
from ..monitoring.drift import REFERENCE_FILE, drift_report
from ..monitoring.feedback import FeedbackStore
from .inference import DISCLAIMER, Predictor
from .metrics import ServiceMetrics

log = logging.getLogger("mammo.api")

#: Content types accepted for an upload ("" = the client sent none).
ACCEPTED_TYPES = {
    "",
    "application/dicom",
    "application/octet-stream",
    "image/png",
    "image/jpeg",
    "image/tiff",
    "image/dicom",
}
_CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True)
class ServiceSettings:
    """The service's settings, read from the environment by :meth:`from_env`.

    Attributes:
        model_dir: ``MAMMO_MODEL_DIR``: export folder or run folder.
        runtime: ``MAMMO_RUNTIME``: export format that scores (default ``onnx``).
        max_upload_mb: ``MAMMO_MAX_UPLOAD_MB``: larger uploads get 413 (default 100).
        token: ``MAMMO_API_TOKEN``: when set, ``/v1/*`` needs ``Authorization: Bearer <token>``.
        max_concurrency: ``MAMMO_MAX_CONCURRENCY``: inferences running at once (default 2).
        max_queue: ``MAMMO_MAX_QUEUE``: requests allowed to wait beyond those; more get 503 (default 32).
        feedback_db: ``MAMMO_FEEDBACK_DB``: SQLite file of served predictions and feedback (default
            ``<MAMMO_WORK or ./data/work>/monitoring/feedback.db``).
        drift_window: ``MAMMO_DRIFT_WINDOW``: latest predictions compared with the model's reference (500).
        drift_min: ``MAMMO_DRIFT_MIN``: fewer predictions than this export no drift gauges (30).
    """

    model_dir: str = ""
    runtime: str = "onnx"
    max_upload_mb: float = 100.0
    token: str = ""
    max_concurrency: int = 2
    max_queue: int = 32
    feedback_db: str = ""
    drift_window: int = 500
    drift_min: int = 30

    @classmethod
    def from_env(cls, **overrides: Any) -> "ServiceSettings":
        """Settings from ``MAMMO_*`` variables, then ``overrides``; every variable is checked as it is read.

        Raises:
            ConfigError: A variable that is not what it must be, named with what it expects and the value
                received, e.g. ``MAMMO_MAX_UPLOAD_MB must be a positive number of megabytes, got 'lots'``.
        """
        d = cls()
        values = {
            "model_dir": read_env("MAMMO_MODEL_DIR", str, d.model_dir),
            "runtime": read_env("MAMMO_RUNTIME", str, d.runtime, choices=RUNTIMES),
            "max_upload_mb": read_env(
                "MAMMO_MAX_UPLOAD_MB", float, d.max_upload_mb, POSITIVE, "a positive number of megabytes"
            ),
            "token": os.environ.get("MAMMO_API_TOKEN", d.token),
            "max_concurrency": read_env(
                "MAMMO_MAX_CONCURRENCY", int, d.max_concurrency, AT_LEAST_ONE, "a whole number of inferences ≥ 1"
            ),
            "max_queue": read_env(
                "MAMMO_MAX_QUEUE", int, d.max_queue, NON_NEGATIVE, "a whole number of waiting requests ≥ 0"
            ),
            "feedback_db": read_env("MAMMO_FEEDBACK_DB", str, "")
            or str(Path(read_env("MAMMO_WORK", str, "data/work")) / "monitoring" / "feedback.db"),
            "drift_window": read_env(
                "MAMMO_DRIFT_WINDOW", int, d.drift_window, AT_LEAST_ONE, "a whole number of predictions ≥ 1"
            ),
            "drift_min": read_env(
                "MAMMO_DRIFT_MIN", int, d.drift_min, AT_LEAST_ONE, "a whole number of predictions ≥ 1"
            ),
        }
        if values["drift_min"] > values["drift_window"]:
            raise ConfigError(
                f"MAMMO_DRIFT_MIN ({values['drift_min']}) must be ≤ MAMMO_DRIFT_WINDOW ({values['drift_window']}):"
                " a window never holds more predictions than its size, so drift would never be measured"
            )
        if Path(values["feedback_db"]).is_dir():
            where = values["feedback_db"]
            raise ConfigError(
                f"MAMMO_FEEDBACK_DB (default <MAMMO_WORK>/monitoring/feedback.db) must name a file:"
                f" {where!r} is a folder"
            )
        if values["token"] != values["token"].strip():
            raise ConfigError(
                "MAMMO_API_TOKEN must not start or end with white space: HTTP strips it from the Authorization"
                " header, so no request would match"
            )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def sniff(head: bytes) -> str | None:
    """``dicom``, ``png``, ``jpeg`` or ``tiff`` from a file's first bytes (None: none of them)."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    return None


_SUFFIX = {"dicom": ".dcm", "png": ".png", "jpeg": ".jpg", "tiff": ".tif"}


class _Upload:
    """An upload spooled to a private temporary file, with its hash and kind."""

    def __init__(self, path: Path, sha256: str, size: int, kind: str, name: str):
        self.path, self.sha256, self.size, self.kind, self.name = path, sha256, size, kind, name


def _log(event: str, **fields: Any) -> None:
    log.info(json.dumps({"ts": round(time.time(), 3), "event": event, **fields}, default=str))


def create_app(settings: ServiceSettings | None = None, predictor: Predictor | None = None) -> FastAPI:
    """Build the FastAPI application.

    Args:
        settings: Service settings (default :meth:`ServiceSettings.from_env`).
        predictor: An already loaded predictor (default: loaded from ``settings.model_dir`` at start-up).

    Returns:
        The application; the model loads and warms up in its lifespan.
    """
    settings = settings or ServiceSettings.from_env()
    metrics = ServiceMetrics()
    state: dict[str, Any] = {"predictor": predictor, "ready": False, "waiting": 0}
    limit = int(settings.max_upload_mb * 1e6)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        state["semaphore"] = anyio.Semaphore(max(1, settings.max_concurrency))
        if state["predictor"] is None:
            state["predictor"] = await anyio.to_thread.run_sync(Predictor.load, settings.model_dir, settings.runtime)
        predictor = state["predictor"]
        state["store"] = FeedbackStore(settings.feedback_db or ":memory:")
        state["reference"] = load_reference(predictor)
        h, w = predictor.preprocessing.cache_size
        await anyio.to_thread.run_sync(predictor.predict_arrays, [np.zeros((h, w), np.float32)])
        state["ready"] = True
        _log("ready", model=predictor.describe(), drift_reference=state["reference"] is not None)
        yield
        state["store"].close()

    app = FastAPI(
        title="mammo: screening-mammography cancer classifier",
        version=__version__,
        description=f"Scores DICOM/PNG mammograms with the exported classifier. {DISCLAIMER}",
        lifespan=lifespan,
    )

    @app.middleware("http")
    async def observe(request: Request, call_next):
        length = request.headers.get("content-length")
        if request.url.path.startswith("/v1/") and length and length.isdigit() and int(length) > limit:
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
            _log(
                "request", route=route, method=request.method, status=response.status_code, ms=round(1000 * seconds, 1)
            )
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):  # a bug answers 500 and the server stays up
        _log("error", route=request.url.path, error=type(exc).__name__)
        return JSONResponse({"detail": f"internal error ({type(exc).__name__})"}, status_code=500)

    def authorised(request: Request) -> None:
        if settings.token and request.headers.get("authorization", "") != f"Bearer {settings.token}":
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    def predictor_ready() -> Predictor:
        if not state["ready"]:
            raise HTTPException(503, "model not loaded yet")
        return state["predictor"]

    async def spool(upload: UploadFile, folder: Path) -> _Upload:
        name = upload.filename or "upload"
        content_type = (upload.content_type or "").split(";")[0].strip().lower()
        if content_type not in ACCEPTED_TYPES:
            raise HTTPException(415, f"{name}: content type {content_type!r} is not a DICOM or image type")
        digest, size = hashlib.sha256(), 0
        target = folder / f"{uuid.uuid4().hex}.bin"
        with open(target, "wb") as handle:
            while chunk := await upload.read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise HTTPException(413, f"{name}: exceeds the upload limit of {settings.max_upload_mb:g} MB")
                digest.update(chunk)
                handle.write(chunk)
        metrics.input_bytes.observe(size)
        if size == 0:
            metrics.decode_errors.labels("empty").inc()
            raise HTTPException(400, f"{name}: empty upload")
        with open(target, "rb") as handle:
            kind = sniff(handle.read(132))
        if kind is None:
            metrics.decode_errors.labels("not_an_image").inc()
            raise HTTPException(400, f"{name}: not a DICOM (no DICM preamble) nor a PNG/JPEG/TIFF image")
        path = target.rename(target.with_suffix(_SUFFIX[kind]))
        return _Upload(path, digest.hexdigest(), size, kind, name)

    async def score(predictor: Predictor, upload: _Upload, explain: bool) -> dict:
        if state["waiting"] >= settings.max_concurrency + settings.max_queue:
            raise HTTPException(
                503, "server busy: too many requests waiting; retry later", headers={"Retry-After": "1"}
            )
        state["waiting"] += 1
        try:
            async with state["semaphore"]:
                result = await anyio.to_thread.run_sync(predictor.score_file, upload.path, explain)
        except (DicomReadError, ValueError) as exc:
            reason = str(exc).replace(str(upload.path), upload.name)
            metrics.decode_errors.labels("dicom" if upload.kind == "dicom" else "image").inc()
            _log("rejected", upload_sha256=upload.sha256[:16], kind=upload.kind, reason=reason.split(": ", 1)[-1])
            raise HTTPException(400, reason) from None
        finally:
            state["waiting"] -= 1
        metrics.scores.observe(result["probability"])
        metrics.stage_latency.labels("read_preprocess").observe(result["timing_ms"]["read_preprocess"] / 1000)
        metrics.stage_latency.labels("inference").observe(result["timing_ms"]["inference"] / 1000)
        if "heatmap_png" in result:
            result["heatmap_png_base64"] = base64.b64encode(result.pop("heatmap_png")).decode()
        result["timing_ms"] = {k: round(v, 2) for k, v in result["timing_ms"].items()}
        request_id = uuid.uuid4().hex
        features = result.pop("features")
        state["store"].add_prediction(
            request_id, result["probability"], result["threshold"], result["decision"], upload.sha256, features
        )
        _log(
            "scored", upload_sha256=upload.sha256[:16], kind=upload.kind, bytes=upload.size, decision=result["decision"]
        )
        return {"request_id": request_id, "upload_sha256": upload.sha256, **result}

    @app.get("/health", summary="Process is up")
    async def health() -> dict:
        return {"status": "ok", "version": __version__}

    @app.get("/ready", summary="Model loaded and warmed up", responses={503: {"description": "still loading"}})
    async def ready():
        if not state["ready"]:
            return JSONResponse({"ready": False}, status_code=503)
        return {"ready": True, "model": state["predictor"].describe()}

    @app.get("/v1/model", summary="Model metadata", dependencies=[Depends(authorised)])
    async def model_info(predictor: Predictor = Depends(predictor_ready)) -> dict:
        info = {k: v for k, v in predictor.info.items() if k not in ("formats", "model_file")}
        return {**info, "serving": predictor.describe(), "disclaimer": DISCLAIMER}

    @app.get("/metrics", summary="Prometheus metrics", include_in_schema=True)
    async def prometheus() -> Response:
        if state.get("store") is not None:
            await anyio.to_thread.run_sync(update_monitoring_gauges, metrics, state, settings)
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    @app.post(
        "/v1/predict",
        summary="Score one mammogram",
        dependencies=[Depends(authorised)],
        responses={
            200: {
                "content": {
                    "application/json": {
                        "example": {
                            "request_id": "9f1c…",
                            "probability": 0.83,
                            "threshold": 0.58,
                            "decision": "recall",
                            "laterality": "L",
                            "view": "CC",
                            "model": {"name": "mammo-cancer-classifier", "registry_version": "3", "runtime": "onnx"},
                            "timing_ms": {"read_preprocess": 41.2, "inference": 3.9},
                        }
                    }
                }
            },
            400: {"description": "not a mammogram: corrupt, no pixel data, unsupported syntax, too small, empty"},
            413: {"description": "upload over the size limit"},
            415: {"description": "content type that is not DICOM or an image"},
        },
    )
    async def predict(
        file: UploadFile = File(..., description="DICOM (.dcm) or PNG/JPEG/TIFF mammogram"),
        explain: bool = Query(False, description="add a Grad-CAM overlay (PNG, base64)"),
        predictor: Predictor = Depends(predictor_ready),
    ) -> dict:
        with tempfile.TemporaryDirectory(prefix="mammo-upload-") as folder:
            upload = await spool(file, Path(folder))
            result = await score(predictor, upload, explain)
        return {
            **result,
            "model": predictor.describe(),
            "boxes": None,  # no lesion detector deployed with this model
            "disclaimer": DISCLAIMER,
        }

    @app.post(
        "/v1/feedback",
        summary="Ground truth for a served prediction (e.g. the biopsy result)",
        dependencies=[Depends(authorised)],
        responses={404: {"description": "unknown request_id"}},
    )
    async def feedback(item: Feedback) -> dict:
        stored = await anyio.to_thread.run_sync(state["store"].add_feedback, item.request_id, item.label, item.source)
        if not stored:
            raise HTTPException(404, f"request_id {item.request_id!r} was not served by this deployment")
        metrics.feedback.labels(str(item.label)).inc()
        return {"stored": True, "request_id": item.request_id}

    @app.post(
        "/v1/studies", summary="Score several images of one patient, per breast", dependencies=[Depends(authorised)]
    )
    async def studies(
        files: list[UploadFile] = File(..., description="the images of one patient (DICOM or images)"),
        predictor: Predictor = Depends(predictor_ready),
    ) -> dict:
        import pandas as pd

        images = []
        with tempfile.TemporaryDirectory(prefix="mammo-study-") as folder:
            for i, file in enumerate(files):
                try:
                    upload = await spool(file, Path(folder))
                    images.append({"index": i, "name": upload.name, **(await score(predictor, upload, False))})
                except HTTPException as exc:
                    if exc.status_code in (401, 413, 503):
                        raise
                    images.append({"index": i, "name": file.filename, "error": exc.detail, "status": exc.status_code})
        scored = pd.DataFrame([r for r in images if "probability" in r])
        breasts = []
        if not scored.empty:
            frame = scored.assign(patient_id=0, image_id=scored["index"], laterality=scored.laterality.replace("", "?"))
            table = predictor.predict_breasts(frame)
            breasts = [
                {
                    "laterality": r.laterality,
                    "probability": float(r.prediction),
                    "decision": r.decision,
                    "images": int(r.n_images),
                }
                for r in table.itertuples()
            ]
        return {"images": images, "breasts": breasts, "threshold": predictor.threshold, "disclaimer": DISCLAIMER}

    return app


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (what ``mammo serve`` and the Docker image run)."""
    configure_logging()
    return create_app(ServiceSettings.from_env())


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


class Feedback(BaseModel):
    """Body of ``POST /v1/feedback``."""

    request_id: str = Field(..., min_length=8, max_length=64, description="the request_id /v1/predict returned")
    label: Literal[0, 1] = Field(..., description="1: cancer confirmed, 0: no cancer")
    source: str = Field("", max_length=64, description="where the label comes from, e.g. biopsy")


def load_reference(predictor: Predictor) -> dict | None:
    """The drift reference stored beside an exported model (None for a run folder or an older export)."""
    if predictor.folder is None or not (predictor.folder / REFERENCE_FILE).is_file():
        return None
    return json.loads((predictor.folder / REFERENCE_FILE).read_text())


def update_monitoring_gauges(metrics: ServiceMetrics, state: dict, settings: ServiceSettings) -> None:
    """Drift of the latest served inputs/scores against the reference, and accuracy on labelled feedback."""
    store: FeedbackStore = state["store"]
    rolling = store.rolling_metrics(settings.drift_window)
    metrics.feedback_labelled.set(rolling["labelled"])
    for key in ("sensitivity", "specificity", "auc", "pf1"):
        metrics.feedback_metric.labels(key).set(rolling[key])
    recent = store.recent_predictions(settings.drift_window)
    metrics.drift_window.set(len(recent))
    if state["reference"] is None or len(recent) < settings.drift_min:
        return
    report = drift_report(state["reference"], recent, recent.probability)
    for feature, row in report.iterrows():
        metrics.drift_psi.labels(feature).set(row.psi)
        metrics.drift_ks_pvalue.labels(feature).set(row.ks_pvalue)
