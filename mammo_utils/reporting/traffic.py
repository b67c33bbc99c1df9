"""A steady mixed load on the API while ``mammo screens`` takes its monitoring image.

Prometheus's ``rate()`` and ``histogram_quantile()`` draw a line only while a counter grows: a route called once
before the graph's time range shows a flat 0 (the rate graph) or a legend entry with no line (the latency graph).
:func:`steady_load` keeps every route the monitoring page shows busy in a background thread until the screenshot
is taken: uploads to ``/v1/predict``, a one-image study with Grad-CAM to ``/v1/studies`` (what the web app sends),
``GET /v1/model`` and, now and then, a file that is no image (a 400), each on its own period
(:data:`LOAD_PERIODS`), so each series has points across the graph and its own rate.

Example:
    >>> with steady_load("http://127.0.0.1:8000", "example.dcm") as counts:  # doctest: +SKIP
    ...     time.sleep(60)
    >>> counts["predict"]  # doctest: +SKIP
    60
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..serving.client import ApiClient, ApiError

#: Seconds between two calls of each kind of the load (distinct, so the rate graph's lines are apart).
LOAD_PERIODS = {"predict": 1.0, "model": 3.0, "study": 5.0, "bad": 10.0}
#: What each kind of call is, as the report's caption says it.
LOAD_WORDS = {
    "predict": "an upload to /v1/predict",
    "model": "a GET /v1/model",
    "study": "a one-image study with Grad-CAM to /v1/studies",
    "bad": "a file that is no image (a 400)",
}
#: The bad upload: a name and bytes the API refuses with a 400.
BAD_UPLOAD = ("notes.dcm", b"not a mammogram " * 64)
#: Seconds one call of the load may take, and to wait for the last one after the stop.
CALL_TIMEOUT = 60.0


def load_calls(client: ApiClient, name: str, data: bytes) -> dict[str, Callable[[], object]]:
    """The load's calls by kind (the keys of :data:`LOAD_PERIODS`).

    Args:
        client: The API's client.
        name: Name the file is uploaded under.
        data: The DICOM's bytes.

    Returns:
        ``{"predict": ..., "model": ..., "study": ..., "bad": ...}``, each a call without arguments; ``"bad"``
        returns the refusal's status (:func:`refused`).
    """
    return {
        "predict": lambda: client.predict_bytes(name, data),
        "model": client.model,
        "study": lambda: client.study([(name, data)], explain=True),
        "bad": lambda: refused(client, *BAD_UPLOAD),
    }


def refused(client: ApiClient, name: str, data: bytes) -> int:
    """Upload a file the API must refuse; returns the refusal's status (4xx).

    Args:
        client: The API's client.
        name: File name.
        data: Bytes that are no image.

    Returns:
        The status, 400 to 499.

    Raises:
        ApiError: The API accepted the file (status 200) or failed otherwise (5xx, unreachable).
    """
    try:
        client.predict_bytes(name, data)
    except ApiError as exc:
        if 400 <= exc.status < 500:
            return exc.status
        raise
    raise ApiError(200, f"{name}: the API scored a file that is no image")


def run_load(
    calls: dict[str, Callable[[], object]], periods: dict[str, float], stop: threading.Event, counts: Counter
) -> None:
    """Call each kind every ``periods[kind]`` seconds until ``stop`` is set (all of them once at the start).

    A late call (a slow one before it) is made at once and the next is due a period later, so a slow answer
    delays the schedule instead of bursting it. A call that fails is counted, not raised, so one error does not
    end the load: ``counts[kind]`` holds the calls that did what they should, ``counts[f"{kind} failed"]`` the
    others.

    Args:
        calls: ``{kind: call}`` (:func:`load_calls`).
        periods: ``{kind: seconds}``, one per call.
        stop: Set to end the loop; it is checked before each call.
        counts: Updated in place.

    Raises:
        ValueError: ``periods`` and ``calls`` name different kinds, or a period is not positive.
    """
    if set(periods) != set(calls) or min(periods.values(), default=0) <= 0:
        raise ValueError(f"periods {periods} must give a positive period for each call of {sorted(calls)}")
    due = dict.fromkeys(calls, time.monotonic())
    while not stop.is_set():
        kind = min(due, key=due.get)
        if stop.wait(max(0.0, due[kind] - time.monotonic())):
            break
        try:
            calls[kind]()
            counts[kind] += 1
        except Exception:  # noqa: BLE001 - counted and reported by steady_load; the load goes on
            counts[f"{kind} failed"] += 1
        due[kind] = max(due[kind] + periods[kind], time.monotonic())


@contextmanager
def steady_load(
    api: str,
    dicom: str | Path,
    name: str = "example.dcm",
    periods: dict[str, float] | None = None,
    say: Callable[[str], None] = print,
) -> Iterator[Counter]:
    """Run :func:`run_load` on the API in a background thread while the block runs; stop it and wait for it after.

    Args:
        api: The API's base URL.
        dicom: The file uploaded (its bytes; the name shown is ``name``).
        name: Name of the uploads.
        periods: ``{kind: seconds}`` (default :data:`LOAD_PERIODS`).
        say: Gets one line with the calls made, once the load stopped.

    Yields:
        The live ``Counter`` of calls (:func:`run_load`).

    Raises:
        RuntimeError: The thread did not end within :data:`CALL_TIMEOUT` seconds of the stop.
    """
    periods = dict(periods or LOAD_PERIODS)
    client = ApiClient(api, timeout=CALL_TIMEOUT)
    calls = load_calls(client, name, Path(dicom).read_bytes())
    stop, counts, started = threading.Event(), Counter(), time.monotonic()
    thread = threading.Thread(target=run_load, args=(calls, periods, stop, counts), name="mammo-load", daemon=True)
    thread.start()
    try:
        yield counts
    finally:
        stop.set()
        thread.join(CALL_TIMEOUT + 5)
        client.http.close()
        say(f"steady load on {api} for {time.monotonic() - started:.0f} s: {load_summary(counts, periods)}")
    if thread.is_alive():
        raise RuntimeError(f"the load on {api} did not stop within {CALL_TIMEOUT + 5:g} s of the screenshot")


def load_words(periods: dict[str, float] | None = None) -> str:
    """The load in words, for the figure's caption: ``"an upload to /v1/predict every 1 s, ..."``.

    Args:
        periods: ``{kind: seconds}`` (default :data:`LOAD_PERIODS`).

    Returns:
        One phrase per kind, comma-separated, with the period computed from ``periods``.
    """
    periods = periods or LOAD_PERIODS
    return ", ".join(f"{LOAD_WORDS[kind]} every {seconds:g} s" for kind, seconds in periods.items())


def load_summary(counts: Counter, periods: dict[str, float] | None = None) -> str:
    """The calls a load made, for its progress line: ``"58 predict, 20 model, 12 study (1 failed), 6 bad"``.

    Args:
        counts: :func:`run_load`'s counts.
        periods: Its ``{kind: seconds}``, for the kinds and their order (default :data:`LOAD_PERIODS`).

    Returns:
        One entry per kind, its failures in brackets when there were any.
    """
    parts = []
    for kind in periods or LOAD_PERIODS:
        failed = counts[f"{kind} failed"]
        parts.append(f"{counts[kind]:d} {kind}" + (f" ({failed:d} failed)" if failed else ""))
    return ", ".join(parts)
