"""Helpers of the service's load and soak benchmarks (``benchmarks/bench_api.py``, ``benchmarks/soak_api.py``).

A server started as a user starts it (``mammo serve`` in a subprocess), its resident memory read from ``/proc``,
uploads timed one by one with the per-stage ``timing_ms`` each response carries, and the stage histogram
(``mammo_stage_latency_seconds``) read back from ``/metrics``, so one JSON record holds the end-to-end figures
and where the time went.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .inference import STAGES

#: Name of the stage histogram in ``/metrics`` (:class:`~mammo_utils.serving.metrics.ServiceMetrics`).
STAGE_METRIC = "mammo_stage_latency_seconds"


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (``VmRSS`` of ``/proc/<pid>/status``; NaN when unreadable)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


@contextmanager
def served(model: str | Path, env: dict | None = None, timeout: float = 180.0):
    """``mammo serve --model <model>`` on a free port while the block runs: yields ``(url, process)``.

    Args:
        model: The export folder.
        env: Extra environment variables of the server (e.g. ``{"MAMMO_FAST_DECODE": "0"}``).
        timeout: Seconds to wait for ``/ready``.

    Raises:
        RuntimeError: The server exited or was not ready in time.
    """
    from .client import wait_ready
    from .demo import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "mammo_utils", "serve", "--model", str(model), "--port", str(port)]
    process = subprocess.Popen(
        command, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        if not wait_ready(url, timeout=timeout, process=process):
            raise RuntimeError(f"{url}: the server did not become ready in {timeout:g} s")
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:  # pragma: no cover - a wedged server
            process.kill()


def post_upload(client, url: str, name: str, data: bytes) -> dict:
    """One ``POST /v1/predict``: ``{"status", "seconds", "timing_ms"}`` (stage timings of a 2xx answer)."""
    t0 = time.perf_counter()
    response = client.post(f"{url}/v1/predict", files={"file": (name, data, "application/dicom")})
    seconds = time.perf_counter() - t0
    timing = response.json().get("timing_ms", {}) if response.status_code < 300 else {}
    return {"status": response.status_code, "seconds": seconds, "timing_ms": timing}


def stage_percentiles(rows: list[dict]) -> dict:
    """Per-stage p50/p95 (ms) over the 2xx answers' ``timing_ms``, in :data:`STAGES` order.

    Args:
        rows: :func:`post_upload` results.

    Returns:
        ``{stage: {"p50_ms", "p95_ms", "n"}}`` for every stage that ran.
    """
    out = {}
    for stage in STAGES:
        values = [r["timing_ms"][stage] for r in rows if stage in r.get("timing_ms", {})]
        if values:
            out[stage] = {
                "p50_ms": float(np.quantile(values, 0.5)),
                "p95_ms": float(np.quantile(values, 0.95)),
                "n": len(values),
            }
    return out


def metrics_stages(url: str) -> dict:
    """The stage histogram as ``/metrics`` exposes it: ``{stage: {"count", "sum_s"}}``.

    Subtract two reads (:func:`stage_delta`) to get what one phase of a benchmark added.
    """
    import httpx

    text = httpx.get(f"{url}/metrics", timeout=30).text
    out: dict[str, dict] = {}
    for line in text.splitlines():
        for suffix, key in (("_count", "count"), ("_sum", "sum_s")):
            head = f"{STAGE_METRIC}{suffix}{{"
            if line.startswith(head):
                labels, value = line[len(head) :].split("}", 1)
                stage = labels.split('stage="', 1)[1].split('"', 1)[0]
                out.setdefault(stage, {"count": 0.0, "sum_s": 0.0})[key] = float(value)
    return out


def stage_delta(before: dict, after: dict) -> dict:
    """What ``/metrics``' stage histogram gained between two :func:`metrics_stages` reads.

    Returns:
        ``{stage: {"count", "mean_ms"}}`` for the stages observed in between.
    """
    out = {}
    for stage, now in after.items():
        old = before.get(stage, {"count": 0.0, "sum_s": 0.0})
        count = now["count"] - old["count"]
        if count > 0:
            out[stage] = {"count": int(count), "mean_ms": 1000 * (now["sum_s"] - old["sum_s"]) / count}
    return out


def slope_mb_per_1000(points: list[tuple[int, float]]) -> float:
    """Least-squares slope of RSS (MB) against requests over the last half of a soak, per 1,000 requests.

    Args:
        points: ``(requests sent, RSS MB)`` samples in order.

    Returns:
        MB per 1,000 requests (NaN with fewer than two samples in the last half).
    """
    if not points:
        return float("nan")
    last = [p for p in points if p[0] >= points[-1][0] / 2]
    if len(last) < 2 or len({p[0] for p in last}) < 2:
        return float("nan")
    x, y = np.array([p[0] for p in last], float), np.array([p[1] for p in last], float)
    return float(np.polyfit(x, y, 1)[0] * 1000)
