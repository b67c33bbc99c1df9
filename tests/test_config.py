"""Configuration: data-root resolution order, profiles and validation."""

from __future__ import annotations

import pytest

from mammo_utils import config as config_mod
from mammo_utils.config import ConfigError, get_config, locate_data_root, parse_overrides
from mammo_utils.data.preprocess import RECIPE_VERSION, cache_dir_for
from mammo_utils.utils import parse_size


def _fake_root(path):
    path.mkdir(parents=True, exist_ok=True)
    (path / "train.csv").write_text("patient_id,image_id,laterality,view,cancer\n")
    return path


def test_resolution_order(tmp_path, monkeypatch):
    explicit, env, kaggle, colab = (_fake_root(tmp_path / n) for n in ("explicit", "env", "kaggle", "colab"))
    monkeypatch.setattr(config_mod.C, "KAGGLE_RSNA_DIR", str(kaggle))
    monkeypatch.setenv("MAMMO_COLAB_DATA", str(colab))
    monkeypatch.setenv("MAMMO_DATA", str(env))
    assert locate_data_root(explicit) == explicit
    assert locate_data_root() == env
    monkeypatch.delenv("MAMMO_DATA")
    assert locate_data_root() == kaggle
    monkeypatch.setattr(config_mod.C, "KAGGLE_RSNA_DIR", str(tmp_path / "absent"))
    assert locate_data_root() == colab
    monkeypatch.setenv("MAMMO_COLAB_DATA", str(tmp_path / "absent"))
    assert locate_data_root() == config_mod.embedded_data_root()


def test_explicit_root_without_train_csv_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("MAMMO_DATA", raising=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="has no train.csv"):
        locate_data_root(tmp_path / "empty")
    with pytest.raises(ConfigError, match="does not exist"):
        locate_data_root(tmp_path / "missing")
    monkeypatch.setenv("MAMMO_DATA", str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="MAMMO_DATA"):
        locate_data_root()


def test_profiles_and_overrides(synth_root):
    small = get_config("small", synth_root)
    full = get_config("full", synth_root)
    assert small.data_root == synth_root and small.image_size == (128, 64)
    assert small.monitor == full.monitor == "val_breast_auc" and small.split_seed == 0
    assert full.image_size == (1024, 512) and full.weights == "imagenet"
    cfg = small.replace(image_size="512x256", epochs=1)
    assert cfg.image_size == (512, 256) and cfg.epochs == 1
    assert cache_dir_for(cfg.cache_root, cfg.data_root, cfg.cache_size, cfg.cache_bits).name == (
        f"{synth_root.name}_128x64_16bit_v{RECIPE_VERSION}"
    )
    assert cfg.to_dict()["data_root"] == str(synth_root)


@pytest.mark.parametrize(
    "overrides, word",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"test_size": 1.5}, "test_size"),
        ({"loss": "mse"}, "loss"),
        ({"pos_ratio": 2.0}, "pos_ratio"),
        ({"not_a_field": 1}, "unknown config field"),
        ({"image_size": "big"}, "image_size"),
    ],
)
def test_invalid_values_name_the_parameter(synth_root, overrides, word):
    with pytest.raises(ConfigError, match=word):
        get_config("small", synth_root, **overrides)


def test_unknown_profile_and_sizes(synth_root):
    with pytest.raises(ConfigError, match="unknown profile"):
        get_config("huge", synth_root)
    assert parse_size("1024x512") == (1024, 512) and parse_size(256) == (256, 256)
    with pytest.raises(ValueError):
        parse_size("0x5")


def test_set_values_are_typed():
    assert parse_overrides(["epochs=2", "pos_ratio=none", "learning_rate=3e-4", "image_size=128x64", "loss=focal"]) == {
        "epochs": 2,
        "pos_ratio": None,
        "learning_rate": 3e-4,
        "image_size": "128x64",
        "loss": "focal",
    }
    with pytest.raises(ConfigError, match="epochs must be int"):
        parse_overrides(["epochs=2.5"])
    with pytest.raises(ConfigError, match="FIELD=VALUE"):
        parse_overrides(["epochs"])
    with pytest.raises(ConfigError, match="unknown config field 'nope'"):
        parse_overrides(["nope=1"])


def test_building_a_config_writes_nothing(tmp_path, monkeypatch):
    """Settings only: no dataset is generated, no folder created, even when the embedded set is missing."""
    monkeypatch.delenv("MAMMO_DATA", raising=False)
    monkeypatch.delenv("MAMMO_WORK", raising=False)
    monkeypatch.setenv("MAMMO_HOME", str(tmp_path / "project"))
    monkeypatch.setattr(config_mod.C, "KAGGLE_RSNA_DIR", str(tmp_path / "absent"))
    monkeypatch.setenv("MAMMO_COLAB_DATA", str(tmp_path / "absent"))
    cfg = get_config("small")
    assert cfg.data_root == tmp_path / "project" / "data" / "rsna-synthetic"
    assert cfg.work_dir == tmp_path / "project" / "data" / "work"
    assert not (tmp_path / "project").exists()
