"""The service's settings are built from the project Config and MAMMO_* variables; a bad value names its variable
and what it expects, before any model is loaded."""

from __future__ import annotations

import pytest

from mammo_utils.config import get_config
from mammo_utils.serving.api.settings import ServiceSettings, SettingsError


def test_settings_come_from_the_configuration_then_the_environment(tmp_path):
    cfg = get_config(work_dir=tmp_path / "work", drift_window=123)
    settings = ServiceSettings.from_env(cfg, env={"MAMMO_MAX_UPLOAD_MB": "2.5", "MAMMO_MAX_QUEUE": "0"})
    assert settings.feedback_db == str(cfg.feedback_db) and settings.work_dir == str(cfg.work_dir)
    assert settings.tracking_uri == cfg.tracking_uri and settings.drift_window == 123
    assert (settings.max_upload_mb, settings.max_queue, settings.max_upload_bytes) == (2.5, 0, 2_500_000)
    assert ServiceSettings.from_env(cfg, env={"MAMMO_DRIFT_WINDOW": "40"}).drift_window == 40
    limits = ServiceSettings.from_env(cfg, env={"MAMMO_MAX_PIXELS": "1000000", "MAMMO_INFERENCE_TIMEOUT_S": "2.5"})
    assert (limits.max_pixels, limits.inference_timeout_s) == (1_000_000, 2.5)
    assert ServiceSettings.from_env(cfg, env={}, runtime="keras", model_dir=None).runtime == "keras"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MAMMO_MAX_UPLOAD_MB", "lots", "MAMMO_MAX_UPLOAD_MB must be a positive number of megabytes, got 'lots'"),
        ("MAMMO_MAX_UPLOAD_MB", "0", "MAMMO_MAX_UPLOAD_MB must be a positive number of megabytes, got '0'"),
        ("MAMMO_MAX_UPLOAD_MB", "nan", "MAMMO_MAX_UPLOAD_MB must be a positive number of megabytes, got 'nan'"),
        ("MAMMO_MAX_CONCURRENCY", "0", "MAMMO_MAX_CONCURRENCY must be a whole number of inferences ≥ 1, got '0'"),
        ("MAMMO_MAX_CONCURRENCY", "1.5", "MAMMO_MAX_CONCURRENCY must be a whole number of inferences ≥ 1, got '1.5'"),
        ("MAMMO_MAX_QUEUE", "-1", "MAMMO_MAX_QUEUE must be a whole number of waiting requests ≥ 0, got '-1'"),
        ("MAMMO_DRIFT_WINDOW", "x", "MAMMO_DRIFT_WINDOW must be a whole number of predictions ≥ 1, got 'x'"),
        ("MAMMO_DRIFT_MIN", "0", "MAMMO_DRIFT_MIN must be a whole number of predictions ≥ 1, got '0'"),
        ("MAMMO_RUNTIME", "tensorrt", "MAMMO_RUNTIME must be one of"),
        ("MAMMO_MAX_PIXELS", "0", "MAMMO_MAX_PIXELS must be a whole number of pixels ≥ 1, got '0'"),
        ("MAMMO_MAX_PIXELS", "1e9", "MAMMO_MAX_PIXELS must be a whole number of pixels ≥ 1, got '1e9'"),
        ("MAMMO_INFERENCE_TIMEOUT_S", "0", "MAMMO_INFERENCE_TIMEOUT_S must be a positive number of seconds, got '0'"),
        ("MAMMO_INFERENCE_TIMEOUT_S", "soon", "MAMMO_INFERENCE_TIMEOUT_S must be a positive number of seconds"),
    ],
)
def test_a_bad_value_names_its_variable(tmp_path, variable, value, message):
    cfg = get_config(work_dir=tmp_path)
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(".", r"\.")):
        ServiceSettings.from_env(cfg, env={variable: value})
