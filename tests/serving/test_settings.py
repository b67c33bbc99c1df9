"""The service's settings are built from the project Config and MAMMO_* variables; a bad value names its variable
and what it expects, before any model is loaded."""

from __future__ import annotations

import pytest

from mammo_utils.config import get_config
from mammo_utils.serving.api.settings import ServiceSettings, SettingsError


def test_settings_come_from_the_configuration_then_the_environment(tmp_path):
    cfg = get_config(work_dir=tmp_path / "work", drift_window=123)
    settings = ServiceSettings.from_env(cfg, env={"MAMMO_MAX_UPLOAD_MB": "2.5", "MAMMO_MAX_QUEUE": "0"})
    assert settings.store_url == f"sqlite:///{cfg.feedback_db}" == cfg.store_url
    assert settings.work_dir == str(cfg.work_dir)
    assert settings.tracking_uri == cfg.tracking_uri and settings.drift_window == 123
    assert (settings.max_upload_mb, settings.max_queue, settings.max_upload_bytes) == (2.5, 0, 2_500_000)
    assert ServiceSettings.from_env(cfg, env={"MAMMO_DRIFT_WINDOW": "40"}).drift_window == 40
    limits = ServiceSettings.from_env(cfg, env={"MAMMO_MAX_PIXELS": "1000000", "MAMMO_INFERENCE_TIMEOUT_S": "2.5"})
    assert (limits.max_pixels, limits.inference_timeout_s) == (1_000_000, 2.5)
    assert ServiceSettings.from_env(cfg, env={}, runtime="keras", model_dir=None).runtime == "keras"
    assert settings.keep_images and not ServiceSettings.from_env(cfg, env={"MAMMO_KEEP_IMAGES": "off"}).keep_images


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
        ("MAMMO_KEEP_IMAGES", "maybe", "MAMMO_KEEP_IMAGES must be on or off, got 'maybe'"),
    ],
)
def test_a_bad_value_names_its_variable(tmp_path, variable, value, message):
    cfg = get_config(work_dir=tmp_path)
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(".", r"\.")):
        ServiceSettings.from_env(cfg, env={variable: value})


def test_the_store_setting_is_one_url_checked_and_never_shown_with_its_password(tmp_path, monkeypatch):
    cfg = get_config(work_dir=tmp_path)
    url = "postgresql://mammo:pw-123@db.example:5432/mammo"
    settings = ServiceSettings.from_env(cfg, env={"MAMMO_STORE_URL": url})
    assert settings.store_url == url and settings.store == "postgresql://mammo:***@db.example:5432/mammo"
    assert "pw-123" not in repr(settings)
    old = ServiceSettings.from_env(cfg, env={"MAMMO_FEEDBACK_DB": str(tmp_path / "old.db")})
    assert old.store_url == f"sqlite:///{tmp_path / 'old.db'}"  # the old variable still names a SQLite file
    with pytest.raises(SettingsError, match="MAMMO_STORE_URL and MAMMO_FEEDBACK_DB are both set"):
        ServiceSettings.from_env(cfg, env={"MAMMO_STORE_URL": url, "MAMMO_FEEDBACK_DB": "x.db"})
    with pytest.raises(SettingsError, match="^MAMMO_STORE_URL must be sqlite:///PATH or postgresql://.*'redis'"):
        ServiceSettings.from_env(cfg, env={"MAMMO_STORE_URL": "redis://cache:6379/0"})
    # the same resolution for every command: the configuration's store is the service's
    monkeypatch.setenv("MAMMO_STORE_URL", url)
    assert get_config(work_dir=tmp_path).store_url == url == ServiceSettings.from_env(cfg).store_url
