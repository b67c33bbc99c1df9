"""An upload's way to a result, shared by ``/v1/predict`` and ``/v1/studies``: spooled to a private file (size
limit, SHA-256, content sniffed), then scored in a worker thread behind the concurrency limit and recorded in the
prediction store.

Each problem has its status: 400 empty / not an image / unreadable, 413 too large, 415 content type, 503 when
more requests wait than the queue allows.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from pathlib import Path

import anyio
from fastapi import HTTPException, UploadFile

from ...data.dicom import PREAMBLE_BYTES, DicomReadError, has_dicom_preamble
from ..inference import Predictor
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
    """An upload spooled to a private temporary file, with its hash and kind."""

    def __init__(self, path: Path, sha256: str, size: int, kind: str, name: str):
        self.path, self.sha256, self.size, self.kind, self.name = path, sha256, size, kind, name


async def spool(state: ServiceState, upload: UploadFile, folder: Path) -> Upload:
    """Write an upload to ``folder`` in chunks, refusing it as soon as it breaks a rule.

    Raises:
        HTTPException: 415 content type, 413 over the limit, 400 empty or not an image.
    """
    metrics, settings = state.metrics, state.settings
    name = upload.filename or "upload"
    content_type = (upload.content_type or "").split(";")[0].strip().lower()
    if content_type not in ACCEPTED_TYPES:
        raise HTTPException(415, f"{name}: content type {content_type!r} is not a DICOM or image type")
    digest, size = hashlib.sha256(), 0
    target = folder / f"{uuid.uuid4().hex}.bin"
    with open(target, "wb") as handle:
        while chunk := await upload.read(_CHUNK):
            size += len(chunk)
            if size > settings.max_upload_bytes:
                raise HTTPException(413, f"{name}: exceeds the upload limit of {settings.max_upload_mb:g} MB")
            digest.update(chunk)
            handle.write(chunk)
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
    return Upload(path, digest.hexdigest(), size, kind, name)


async def score_upload(state: ServiceState, predictor: Predictor, upload: Upload, explain: bool) -> dict:
    """Score a spooled upload off the event loop, record it in the store and return the response fields.

    Raises:
        HTTPException: 503 when the queue is full, 400 when the file is not a readable mammogram.
    """
    metrics, settings = state.metrics, state.settings
    if state.waiting >= settings.max_concurrency + settings.max_queue:
        raise HTTPException(503, "server busy: too many requests waiting; retry later", headers={"Retry-After": "1"})
    state.waiting += 1
    try:
        async with state.semaphore:
            result = await anyio.to_thread.run_sync(predictor.score_file, upload.path, explain)
    except (DicomReadError, ValueError) as exc:
        reason = str(exc).replace(str(upload.path), upload.name)
        metrics.decode_errors.labels("dicom" if upload.kind == "dicom" else "image").inc()
        log_event("rejected", upload_sha256=upload.sha256[:16], kind=upload.kind, reason=reason.split(": ", 1)[-1])
        raise HTTPException(400, reason) from None
    finally:
        state.waiting -= 1
    metrics.scores.observe(result["probability"])
    metrics.stage_latency.labels("read_preprocess").observe(result["timing_ms"]["read_preprocess"] / 1000)
    metrics.stage_latency.labels("inference").observe(result["timing_ms"]["inference"] / 1000)
    if "heatmap_png" in result:
        result["heatmap_png_base64"] = base64.b64encode(result.pop("heatmap_png")).decode()
    result["timing_ms"] = {k: round(v, 2) for k, v in result["timing_ms"].items()}
    request_id = uuid.uuid4().hex
    features = result.pop("features")
    await state.record(request_id, result, features, upload.sha256)
    log_event(
        "scored", upload_sha256=upload.sha256[:16], kind=upload.kind, bytes=upload.size, decision=result["decision"]
    )
    return {"request_id": request_id, "upload_sha256": upload.sha256, **result}
