"""The service's settings: built from the project :class:`~mammo_utils.config.Config` and ``MAMMO_*`` variables.

The work folder (where the default prediction store goes) and the MLflow store (for a ``models:/`` reference) come from
the same :class:`~mammo_utils.config.Config` every ``mammo`` command uses; the drift defaults are the named
constants of :mod:`mammo_utils.evaluation.drift`. Every field is checked when the settings are built, and a
bad value names its variable (``MAMMO_MAX_UPLOAD_MB must be a positive number of megabytes, got 'lots'``), so
``mammo serve`` and the Docker image fail before uvicorn starts.

Example:
    >>> ServiceSettings(max_upload_mb=5).max_upload_mb
    5
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from ...config import (
    AT_LEAST_ONE,
    LEGACY_STORE_ENV,
    NON_NEGATIVE,
    POSITIVE,
    Config,
    ConfigError,
    get_config,
    read_env,
    store_url_from_env,
)
from ...constants import RUNTIMES, SERVED_RUNTIME
from ...modeling.artifact import FILES
from ...monitoring.store import parse_store_url, redact

#: What each numeric field accepts (said in the error).
EXPECTED = {
    "max_upload_mb": "a number of megabytes > 0",
    "max_concurrency": "an integer >= 1",
    "max_queue": "an integer >= 0",
    "drift_window": "an integer >= 1",
    "drift_min": "an integer >= 1",
    "max_pixels": "an integer >= 1",
    "inference_timeout_s": "a number of seconds > 0",
}
#: Environment variable of each field.
ENV = {
    "model_dir": "MAMMO_MODEL_DIR",
    "runtime": "MAMMO_RUNTIME",
    "max_upload_mb": "MAMMO_MAX_UPLOAD_MB",
    "token": "MAMMO_API_TOKEN",
    "max_concurrency": "MAMMO_MAX_CONCURRENCY",
    "max_queue": "MAMMO_MAX_QUEUE",
    "store_url": "MAMMO_STORE_URL",
    "drift_window": "MAMMO_DRIFT_WINDOW",
    "drift_min": "MAMMO_DRIFT_MIN",
    "max_pixels": "MAMMO_MAX_PIXELS",
    "inference_timeout_s": "MAMMO_INFERENCE_TIMEOUT_S",
    "keep_images": "MAMMO_KEEP_IMAGES",
}
#: Default of ``MAMMO_MAX_PIXELS``: 64 M pixels, over twice the largest RSNA mammogram (about 5,900 x 4,700).
MAX_PIXELS = 64_000_000
#: Default of ``MAMMO_INFERENCE_TIMEOUT_S``: seconds one upload may take to score (Grad-CAM included).
INFERENCE_TIMEOUT_S = 60.0


#: Variables read under an older name (the name, the field).
LEGACY_ENV = {LEGACY_STORE_ENV: "store_url"}


class SettingsError(ConfigError):
    """A service setting with a value it cannot run with; the message names the variable."""


@dataclasses.dataclass(frozen=True)
class ServiceSettings:
    """The service's settings (:meth:`from_env` reads them; the constructor checks them).

    Attributes:
        model_dir: ``MAMMO_MODEL_DIR``: export folder, run folder or ``models:/<name>@<alias>``.
        runtime: ``MAMMO_RUNTIME``: export format that scores (default :data:`SERVED_RUNTIME`, ``onnx``).
        max_upload_mb: ``MAMMO_MAX_UPLOAD_MB``: larger uploads get 413 (default 100).
        token: ``MAMMO_API_TOKEN``: when set, ``/v1/*`` needs ``Authorization: Bearer <token>``.
        max_concurrency: ``MAMMO_MAX_CONCURRENCY``: inferences running at once (default 2).
        max_queue: ``MAMMO_MAX_QUEUE``: requests allowed to wait beyond those; more get 503 (default 32).
        store_url: ``MAMMO_STORE_URL``: the prediction store, ``sqlite:///PATH`` or
            ``postgresql://USER@HOST:PORT/DB`` (default :attr:`Config.store_url
            <mammo_utils.config.Config.store_url>`: ``sqlite:///<work>/monitoring/feedback.db``; the old
            ``MAMMO_FEEDBACK_DB=<file>`` still names a SQLite file). Empty: an in-memory store. Never in a repr or
            a log line with its password (:attr:`store`).
        drift_window: ``MAMMO_DRIFT_WINDOW``: latest predictions compared with the model's reference (default
            the configuration's ``drift_window``).
        drift_min: ``MAMMO_DRIFT_MIN``: fewer predictions than this export no drift gauges (default the
            configuration's ``drift_min``).
        max_pixels: ``MAMMO_MAX_PIXELS``: an upload whose header declares more pixels (rows x columns x frames)
            gets 400 before anything is decoded (default :data:`MAX_PIXELS`).
        inference_timeout_s: ``MAMMO_INFERENCE_TIMEOUT_S``: an upload not scored within this many seconds gets
            503 with ``Retry-After`` (default :data:`INFERENCE_TIMEOUT_S`).
        keep_images: ``MAMMO_KEEP_IMAGES`` (``on``/``off``, default on): record the image each prediction scored
            (the breast's crop at the export's cache size, a PNG without any header) in the store, so that
            the prediction can join a challenger's training data once it is labelled (``mammo retrain``).
        work_dir: The configuration's work folder (registry downloads).
        tracking_uri: The configuration's MLflow store (a ``models:/`` reference is read from it).
    """

    model_dir: str = ""
    runtime: str = SERVED_RUNTIME
    max_upload_mb: float = 100.0
    token: str = ""
    max_concurrency: int = 2
    max_queue: int = 32
    store_url: str = dataclasses.field(default="", repr=False)
    drift_window: int = Config.drift_window
    drift_min: int = Config.drift_min
    max_pixels: int = MAX_PIXELS
    inference_timeout_s: float = INFERENCE_TIMEOUT_S
    keep_images: bool = True
    work_dir: str = ""
    tracking_uri: str = ""

    def __post_init__(self) -> None:
        checks = (
            ("runtime", self.runtime in FILES),
            ("max_upload_mb", _number(self.max_upload_mb) and self.max_upload_mb > 0),
            ("max_concurrency", _integer(self.max_concurrency) and self.max_concurrency >= 1),
            ("max_queue", _integer(self.max_queue) and self.max_queue >= 0),
            ("drift_window", _integer(self.drift_window) and self.drift_window >= 1),
            ("drift_min", _integer(self.drift_min) and self.drift_min >= 1),
            ("max_pixels", _integer(self.max_pixels) and self.max_pixels >= 1),
            ("inference_timeout_s", _number(self.inference_timeout_s) and self.inference_timeout_s > 0),
        )
        for field, ok in checks:
            if not ok:
                expected = EXPECTED.get(field, f"one of {list(FILES)}")
                raise SettingsError(f"{ENV[field]}={getattr(self, field)!r}: expected {expected}")

    @property
    def store(self) -> str:
        """The store's URL without its password: what summaries and logs show."""
        return redact(self.store_url) if self.store_url else "sqlite:///:memory:"

    @property
    def max_upload_bytes(self) -> int:
        """The upload limit in bytes."""
        return int(self.max_upload_mb * 1e6)

    @classmethod
    def from_env(
        cls, cfg: Config | None = None, env: Mapping[str, str] | None = None, **overrides: Any
    ) -> "ServiceSettings":
        """Settings from ``MAMMO_*`` variables over the configuration's defaults, then ``overrides``.

        Args:
            cfg: The project configuration (default :func:`mammo_utils.config.get_config`: ``MAMMO_WORK``,
                ``MAMMO_DATA`` and ``MLFLOW_TRACKING_URI`` apply).
            env: The variables (default ``os.environ``).
            **overrides: Field values that win over the environment (None: not given).

        Raises:
            SettingsError: A malformed or out-of-range value, naming its variable.
        """
        env = os.environ if env is None else env
        cfg = cfg or get_config()
        d = cls()

        def read(field: str, kind: type, default: Any, bounds=None, expects: str = "", choices=None) -> Any:
            try:
                return read_env(ENV[field], kind, default, bounds, expects, choices, env=env)
            except ConfigError as exc:
                raise SettingsError(str(exc)) from None

        values: dict[str, Any] = {
            "model_dir": read("model_dir", str, d.model_dir),
            "runtime": read("runtime", str, d.runtime, choices=RUNTIMES),
            "max_upload_mb": read("max_upload_mb", float, d.max_upload_mb, POSITIVE, "a positive number of megabytes"),
            "token": env.get(ENV["token"], d.token),
            "max_concurrency": read(
                "max_concurrency", int, d.max_concurrency, AT_LEAST_ONE, "a whole number of inferences ≥ 1"
            ),
            "max_queue": read("max_queue", int, d.max_queue, NON_NEGATIVE, "a whole number of waiting requests ≥ 0"),
            "drift_window": read(
                "drift_window", int, cfg.drift_window, AT_LEAST_ONE, "a whole number of predictions ≥ 1"
            ),
            "drift_min": read("drift_min", int, cfg.drift_min, AT_LEAST_ONE, "a whole number of predictions ≥ 1"),
            "max_pixels": read("max_pixels", int, d.max_pixels, AT_LEAST_ONE, "a whole number of pixels ≥ 1"),
            "inference_timeout_s": read(
                "inference_timeout_s", float, d.inference_timeout_s, POSITIVE, "a positive number of seconds"
            ),
            "keep_images": read("keep_images", str, "on", expects="on or off", choices=("on", "off")) == "on",
        }
        if values["drift_min"] > values["drift_window"]:
            raise SettingsError(
                f"MAMMO_DRIFT_MIN ({values['drift_min']}) must be ≤ MAMMO_DRIFT_WINDOW ({values['drift_window']}):"
                " a window never holds more predictions than its size, so drift would never be measured"
            )
        try:
            store_url, setting = store_url_from_env(cfg.work_dir, env)
            parse_store_url(store_url, setting)
        except ConfigError as exc:
            raise SettingsError(str(exc)) from None
        values["store_url"] = store_url
        if values["token"] != values["token"].strip():
            raise SettingsError(
                "MAMMO_API_TOKEN must not start or end with white space: HTTP strips it from the Authorization"
                " header, so no request would match"
            )
        values.update({k: v for k, v in overrides.items() if v is not None})
        values.update(work_dir=str(cfg.work_dir), tracking_uri=cfg.tracking_uri)
        return cls(**values)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value and value != float("inf")


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
