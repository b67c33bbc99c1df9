"""A small HTTP client of the service (what the web app, the demo and the load test use).

Example:
    >>> client = ApiClient("http://127.0.0.1:8000")  # doctest: +SKIP
    >>> client.predict("a.dcm", explain=True)["probability"]  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

#: Content type sent for each file suffix (the API sniffs the bytes anyway).
CONTENT_TYPES = {".dcm": "application/dicom", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


class ApiError(RuntimeError):
    """The API answered an error (``status`` and the API's ``detail``) or could not be reached (status 0)."""

    def __init__(self, status: int, detail: str):
        super().__init__(f"{status}: {detail}" if status else detail)
        self.status, self.detail = status, detail


class ApiClient:
    """Calls ``/v1/*`` with the bearer token from ``MAMMO_API_TOKEN`` when set.

    Args:
        base_url: Service URL (default ``MAMMO_API_URL`` or ``http://127.0.0.1:8000``).
        token: Bearer token (default ``MAMMO_API_TOKEN``).
        timeout: Seconds per request.
    """

    def __init__(self, base_url: str | None = None, token: str | None = None, timeout: float = 60.0):
        self.base_url = (base_url or os.environ.get("MAMMO_API_URL") or "http://127.0.0.1:8000").rstrip("/")
        token = token if token is not None else os.environ.get("MAMMO_API_TOKEN", "")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def _call(self, method: str, url: str, **kwargs) -> dict[str, Any]:
        try:
            response = self.http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(0, f"cannot reach the API at {self.base_url} ({type(exc).__name__})") from None
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise ApiError(response.status_code, str(detail))
        return response.json()

    def model(self) -> dict[str, Any]:
        """``GET /v1/model``."""
        return self._call("GET", "/v1/model")

    def predict_bytes(self, name: str, data: bytes, explain: bool = False) -> dict[str, Any]:
        """``POST /v1/predict`` of one file's bytes."""
        content_type = CONTENT_TYPES.get(Path(name).suffix.lower(), "application/octet-stream")
        files = {"file": (name, data, content_type)}
        return self._call("POST", "/v1/predict", params={"explain": str(explain).lower()}, files=files)

    def predict(self, path: str | Path, explain: bool = False) -> dict[str, Any]:
        """``POST /v1/predict`` of a file."""
        return self.predict_bytes(Path(path).name, Path(path).read_bytes(), explain)

    def study(self, items: list[tuple[str, bytes]], explain: bool = False) -> dict[str, Any]:
        """``POST /v1/studies`` of several ``(name, bytes)`` files of one patient (``explain``: Grad-CAM too)."""
        files = [
            ("files", (name, data, CONTENT_TYPES.get(Path(name).suffix.lower(), "application/octet-stream")))
            for name, data in items
        ]
        return self._call("POST", "/v1/studies", params={"explain": str(explain).lower()}, files=files)


def decision_label(result: dict[str, Any]) -> str:
    """The decision as a reader says it, with the probability against the threshold.

    Args:
        result: A scored image: ``probability``, ``threshold`` and ``decision`` (``recall`` or ``routine``).

    Returns:
        ``"Recall — p = 0.412 ≥ threshold 0.229"`` or ``"Routine — p = 0.012 < threshold 0.229"``, with more
        decimals when three would show the probability equal to the threshold.

    Example:
        >>> decision_label({"probability": 0.412, "threshold": 0.229, "decision": "recall"})
        'Recall — p = 0.412 ≥ threshold 0.229'
        >>> decision_label({"probability": 0.23451, "threshold": 0.23454, "decision": "routine"})
        'Routine — p = 0.23451 < threshold 0.23454'
    """
    word, sign = ("Recall", "≥") if result["decision"] == "recall" else ("Routine", "<")
    p, t, digits = result["probability"], result["threshold"], 3
    while f"{p:.{digits}f}" == f"{t:.{digits}f}" and p != t and digits < 6:  # never "0.235 < threshold 0.235"
        digits += 1
    return f"{word} — p = {p:.{digits}f} {sign} threshold {t:.{digits}f}"


def model_caption(model: dict[str, Any]) -> str:
    """What the web app says of the served model: name, backbone, run, runtime, registry version, export and threshold.

    No address, path or patient detail: the caption is in every screenshot of the page.

    Args:
        model: The API's ``GET /v1/model`` answer (``name``, ``backbone``, ``threshold``, ``serving``).

    Returns:
        Markdown.

    Example:
        >>> model_caption({"name": "m", "backbone": "baseline", "threshold": 0.255,
        ...                "serving": {"run_name": "s2", "runtime": "onnx", "version": "0a1b2c3d4e5f",
        ...                            "registry_version": "17"}})
        'Model **m** (baseline, run s2, runtime onnx, registry v17, export 0a1b2c3d4e5f) · decision threshold 0.255'
    """
    serving = model.get("serving") or {}
    parts = [model.get("backbone"), f"run {serving.get('run_name')}", f"runtime {serving.get('runtime')}"]
    registry = serving.get("registry_version") or model.get("registry_version")
    if registry:
        parts.append(f"registry v{registry}")
    if serving.get("version"):
        parts.append(f"export {serving['version']}")
    described = ", ".join(str(p) for p in parts)
    return f"Model **{model.get('name')}** ({described}) · decision threshold {model['threshold']:.3f}"


def wait_ready(url: str, path: str = "/ready", timeout: float = 120.0, process=None) -> bool:
    """Poll ``url + path`` until it answers 200 (a service that has just been started).

    Args:
        url: Base URL.
        path: Readiness route (``/ready`` for the API, ``/_stcore/health`` for Streamlit).
        timeout: Seconds to wait.
        process: The service's ``subprocess.Popen``; waiting stops early when it has exited.

    Returns:
        True once ready; False on timeout or when ``process`` exited.
    """
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if httpx.get(f"{url}{path}", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        if process is not None and process.poll() is not None:
            return False
        time.sleep(0.5)
    return False
