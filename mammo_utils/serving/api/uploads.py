"""An upload's way to a result, shared by ``/v1/predict`` and ``/v1/studies``: spooled to a private file (size
limit, SHA-256, content sniffed), then scored in a worker thread behind the concurrency limit and recorded in the
prediction store.

Each problem has its status: 400 empty / not an image / unreadable, 413 too large, 415 content type, 503 when
more requests wait than the queue allows.
"""

from __future__ import annotations

import base64
import hashlib
import math
import threading
import time
import uuid
from pathlib import Path

import anyio
from fastapi import HTTPException, UploadFile

from ...data.dicom import PREAMBLE_BYTES, DicomReadError, has_dicom_preamble
from ...modeling.artifact import ExportError
from ..inference import STAGES, Predictor
from .deps import ServiceState
from .middleware import log_event

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
_SUFFIX = {"dicom": ".dcm", "png": ".png", "jpeg": ".jpg", "tiff": ".tif"}


def sniff(head: bytes) -> str | None:
    """``dicom``, ``png``, ``jpeg`` or ``tiff`` from a file's first bytes (None: none of them)."""
    if has_dicom_preamble(head):
        return "dicom"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    return None


class Upload:
    """An upload spooled to a private temporary file, with its hash, kind and how long spooling took.

    ``name`` is how responses and logs refer to it: ``upload <index>``, never the client's file name (it may
    carry a record number).
    """

    def __init__(self, path: Path, sha256: str, size: int, kind: str, index: int, seconds: dict | None = None):
        self.path, self.sha256, self.size, self.kind, self.index = path, sha256, size, kind, index
        self.name = f"upload {index}"
        self.seconds = seconds or {}


async def spool(state: ServiceState, upload: UploadFile, folder: Path, index: int = 0) -> Upload:
    """Write an upload to ``folder`` in chunks, refusing it as soon as it breaks a rule.

    Args:
        state: The service state.
        upload: The multipart file.
        folder: A private temporary folder.
        index: The upload's position in the request (its name in responses and logs).

    Raises:
        HTTPException: 415 content type, 413 over the limit, 400 empty or not an image.
    """
    metrics, settings = state.metrics, state.settings
    name = f"upload {index}"
    content_type = (upload.content_type or "").split(";")[0].strip().lower()
    if content_type not in ACCEPTED_TYPES:
        raise HTTPException(415, f"{name}: content type {content_type!r} is not a DICOM or image type")
    digest, size, hashing = hashlib.sha256(), 0, 0.0
    target = folder / f"{uuid.uuid4().hex}.bin"
    start = time.perf_counter()
    with open(target, "wb") as handle:
        while chunk := await upload.read(_CHUNK):
            size += len(chunk)
            if size > settings.max_upload_bytes:  # the edge middleware cuts first; kept for direct callers
                raise HTTPException(413, f"{name}: exceeds the upload limit of {settings.max_upload_mb:g} MB")
            t = time.perf_counter()
            digest.update(chunk)
            hashing += time.perf_counter() - t
            handle.write(chunk)
    seconds = {"spool": time.perf_counter() - start - hashing, "hash": hashing}
    metrics.input_bytes.observe(size)
    if size == 0:
        metrics.decode_errors.labels("empty").inc()
        raise HTTPException(400, f"{name}: empty upload")
    with open(target, "rb") as handle:
        kind = sniff(handle.read(PREAMBLE_BYTES))
    if kind is None:
        metrics.decode_errors.labels("not_an_image").inc()
        raise HTTPException(400, f"{name}: not a DICOM (no DICM preamble) nor a PNG/JPEG/TIFF image")
    path = target.rename(target.with_suffix(_SUFFIX[kind]))
    return Upload(path, digest.hexdigest(), size, kind, index, seconds)


async def score_upload(state: ServiceState, predictor: Predictor, upload: Upload, explain: bool) -> dict:
    """Score a spooled upload off the event loop, record it in the store and return the response fields.

    The wait for a worker and the scoring together get ``MAMMO_INFERENCE_TIMEOUT_S``; past it the client gets
    503 with ``Retry-After`` at once, while the abandoned inference finishes in its thread and only then frees
    its slot (so the concurrency limit still holds).

    Raises:
        HTTPException: 503 when the queue is full or the timeout passed, 400 when the file is not a readable
            mammogram. A broken export (:class:`ExportError`) propagates: it is the server's fault (500).
    """
    metrics, settings = state.metrics, state.settings
    if state.waiting >= settings.max_concurrency + settings.max_queue:
        raise HTTPException(503, "server busy: too many requests waiting; retry later", headers={"Retry-After": "1"})
    semaphore, lock = state.semaphore, threading.Lock()
    slot = {"held": False, "started": False, "given_up": False}

    def run() -> dict | None:
        with lock:
            if slot["given_up"]:  # timed out before this thread started: nothing to do, the slot is freed
                return None
            slot["started"] = True
        try:
            return predictor.score_file(upload.path, explain, keep_image=settings.keep_images)
        finally:
            anyio.from_thread.run_sync(semaphore.release)

    state.waiting += 1
    try:
        with anyio.fail_after(settings.inference_timeout_s):
            await semaphore.acquire()
            slot["held"] = True
            result = await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
    except TimeoutError:
        with lock:
            slot["given_up"] = True
            if slot["held"] and not slot["started"]:
                semaphore.release()
        metrics.timeouts.inc()
        log_event("timeout", upload_sha256=upload.sha256[:16], kind=upload.kind, seconds=settings.inference_timeout_s)
        retry = str(max(1, math.ceil(settings.inference_timeout_s)))
        raise HTTPException(
            503, f"inference took longer than {settings.inference_timeout_s:g} s; retry later",
            headers={"Retry-After": retry},
        ) from None  # fmt: skip
    except ExportError:
        raise
    except (DicomReadError, ValueError) as exc:
        reason = str(exc).replace(str(upload.path), upload.name)
        metrics.decode_errors.labels("dicom" if upload.kind == "dicom" else "image").inc()
        log_event("rejected", upload_sha256=upload.sha256[:16], kind=upload.kind, reason=reason.split(": ", 1)[-1])
        raise HTTPException(400, reason) from None
    finally:
        state.waiting -= 1
    metrics.scores.observe(result["probability"])
    timing = {**upload.seconds, **{k: v / 1000 for k, v in result["timing_ms"].items()}}
    for stage in STAGES:
        if stage in timing:
            metrics.stage_latency.labels(stage).observe(timing[stage])
    for key in ("heatmap_png", "heatmap_original_png"):
        if key in result:
            result[f"{key}_base64"] = base64.b64encode(result.pop(key)).decode()
    result["timing_ms"] = {k: round(1000 * timing[k], 2) for k in STAGES if k in timing}
    request_id = uuid.uuid4().hex
    features = result.pop("features")
    await state.record(request_id, result, features, upload.sha256, predictor, result.pop("model_image", None))
    log_event(
        "scored", upload_sha256=upload.sha256[:16], kind=upload.kind, bytes=upload.size, decision=result["decision"]
    )
    return {"request_id": request_id, "upload_sha256": upload.sha256, **result}
