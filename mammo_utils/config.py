"""The one configuration object of the project.

``get_config()`` builds a :class:`Config` from a run profile (``small`` for a CPU
and the embedded dataset, ``full`` for Kaggle/Colab GPUs on the real RSNA data)
plus explicit overrides. Notebooks, CLIs, the trainer and tuning all share it.

Data root resolution order (:func:`resolve_data_root`):

1. an explicit ``data_root`` argument,
2. the ``MAMMO_DATA`` environment variable,
3. the Kaggle competition folder ``/kaggle/input/rsna-breast-cancer-detection``,
4. a Colab/Drive folder named by ``MAMMO_COLAB_DATA`` (default
   ``/content/drive/MyDrive/rsna-breast-cancer-detection``),
5. the embedded synthetic dataset under ``data/rsna-synthetic`` (generated on first use).

Example:
    >>> from mammo_utils.config import get_config
    >>> cfg = get_config("small", epochs=1)
    >>> cfg.image_size
    (256, 128)
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

from .constants import KAGGLE_RSNA_DIR, MODEL_NAMES

log = logging.getLogger(__name__)

#: Repository root (the folder holding ``mammo_utils``).
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_COLAB_DIR = "/content/drive/MyDrive/rsna-breast-cancer-detection"


class ConfigError(ValueError):
    """A configuration value or data root a user supplied is unusable."""


@dataclasses.dataclass(frozen=True)
class Config:
    """Every setting of a run, one object.

    Attributes:
        profile: Name of the run profile the values came from.
        data_root: RSNA-layout folder (``train.csv`` + ``train_images/``).
        work_dir: Where caches, splits, models and MLflow data are written.
        image_size: (height, width) fed to the networks.
        cache_size: (height, width) of the preprocessed PNG cache.
        cache_bits: 8 or 16 bits per cached pixel.
        batch_size: Training batch size.
        epochs: Epochs of the frozen-backbone stage (the baseline CNN trains ``epochs + finetune_epochs``).
        finetune_epochs: Epochs after unfreezing the backbone.
        learning_rate: Peak learning rate of the head stage.
        finetune_lr: Peak learning rate once the backbone is unfrozen.
        backbone: ``baseline`` or a ``keras.applications`` name (e.g. ``efficientnetb0``).
        weights: ``imagenet`` or ``None`` for random initialisation.
        pooling: Global pooling of the head: ``avg``, ``max`` or ``gem``.
        dropout: Dropout before the sigmoid head.
        lr_schedule: ``cosine`` (linear warm-up then cosine decay) or ``plateau`` (halve on a flat monitor).
        n_folds: Cross-validation folds.
        test_size: Fraction of patients held out for the test set.
        fold: Validation fold of this run.
        pos_ratio: Share of positives per training batch under balanced sampling (``None`` = natural).
        loss: ``bce`` or ``focal``.
        augment_strength: 0 (off) .. 1 (strong) augmentation strength.
        workers: Worker processes for preprocessing.
        synthetic_patients: Patients of the embedded dataset when it must be generated.
        synthetic_image_size: (rows, columns) of embedded DICOMs.
        synthetic_prevalence: Share of patients with a cancer breast in the embedded dataset.
        seed: Global random seed.
        mlflow_uri: Tracking URI (``MLFLOW_TRACKING_URI`` wins when set).
        experiment: MLflow experiment name.
        early_stopping_patience: Epochs without validation improvement before stopping (counted from
            the third epoch of a stage: the first epochs of a from-scratch model are noise).
        monitor: Validation metric that selects checkpoints (``val_auc`` or ``val_pf1``).
        registered_model: MLflow registry name; the best run holds its ``champion`` alias.
    """

    profile: str = "small"
    data_root: Path = REPO_ROOT / "data" / "rsna-synthetic"
    work_dir: Path = REPO_ROOT / "data" / "work"
    image_size: tuple[int, int] = (256, 128)
    cache_size: tuple[int, int] = (256, 128)
    cache_bits: int = 16
    batch_size: int = 16
    epochs: int = 8
    finetune_epochs: int = 2
    learning_rate: float = 1e-3
    finetune_lr: float = 1e-4
    backbone: str = "baseline"
    weights: str | None = None
    pooling: str = "max"
    dropout: float = 0.3
    lr_schedule: str = "cosine"
    n_folds: int = 5
    test_size: float = 0.15
    fold: int = 0
    pos_ratio: float | None = 0.25
    loss: str = "bce"
    augment_strength: float = 0.5
    workers: int = 2
    synthetic_patients: int = 120
    synthetic_image_size: tuple[int, int] = (512, 416)
    synthetic_prevalence: float = 0.25
    seed: int = 0
    mlflow_uri: str = ""
    experiment: str = "mammo"
    early_stopping_patience: int = 4
    monitor: str = "val_auc"
    registered_model: str = "mammo-cancer-classifier"

    @property
    def cache_dir(self) -> Path:
        """Folder of the preprocessed cache, keyed by its settings."""
        from .preprocess import cache_dir_for

        return cache_dir_for(self.work_dir / "cache", self.data_root, self.cache_size, self.cache_bits)

    @property
    def splits_path(self) -> Path:
        """CSV of the patient-grouped splits for this dataset and seed."""
        return self.work_dir / "splits" / f"{self.data_root.name}_f{self.n_folds}_s{self.seed}.csv"

    @property
    def tracking_uri(self) -> str:
        """MLflow tracking URI: env var, explicit setting, else a local sqlite store."""
        env = os.environ.get("MLFLOW_TRACKING_URI")
        if env:
            return env
        if self.mlflow_uri:
            return self.mlflow_uri
        return f"sqlite:///{(self.work_dir / 'mlflow.db').as_posix()}"

    def replace(self, **overrides: Any) -> "Config":
        """Return a copy with some fields changed (validated).

        Args:
            **overrides: Field names and new values.

        Returns:
            A new validated :class:`Config`.
        """
        return _validated(dataclasses.replace(self, **_coerce(overrides)))

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view for logging (paths as strings)."""
        out = dataclasses.asdict(self)
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in out.items()}


#: Run profiles. ``full`` is the Kaggle/Colab GPU recipe on the real 54,706 images.
PROFILES: dict[str, dict[str, Any]] = {
    "small": {},
    "full": {
        "image_size": (1024, 512),
        "cache_size": (1024, 512),
        # 8-bit PNGs after VOI windowing (as the RSNA winner did): 1.4x faster to decode than 16-bit,
        # which keeps tf.data above 400 images/s at 1024x512 on 2 cores (benchmarks/bench_pipeline.py).
        "cache_bits": 8,
        "batch_size": 32,
        "epochs": 4,
        "finetune_epochs": 12,
        "learning_rate": 1e-3,
        "finetune_lr": 1e-4,
        "backbone": "efficientnetb2",
        "weights": "imagenet",
        "pos_ratio": 0.1,
        "workers": 4,
        "augment_strength": 0.6,
        "early_stopping_patience": 4,
        "monitor": "val_pf1",
    },
}


def _coerce(values: dict[str, Any]) -> dict[str, Any]:
    fields = {f.name for f in dataclasses.fields(Config)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ConfigError(f"unknown config field(s) {unknown}; valid fields: {sorted(fields)}")
    out = dict(values)
    for key in ("data_root", "work_dir"):
        if key in out and out[key] is not None:
            out[key] = Path(out[key]).expanduser()
    for key in ("image_size", "cache_size", "synthetic_image_size"):
        if key in out and out[key] is not None:
            out[key] = parse_size(out[key], key)
    return out


def parse_size(value: Any, name: str = "size") -> tuple[int, int]:
    """Parse ``"1024x512"``, ``1024`` or ``(1024, 512)`` into ``(height, width)``.

    Args:
        value: The size as text, an int (square) or a pair.
        name: Parameter name used in error messages.

    Returns:
        ``(height, width)`` as positive ints.

    Raises:
        ConfigError: If the value is not a positive size.
    """
    try:
        if isinstance(value, str):
            parts = value.lower().replace(",", "x").split("x")
            pair = tuple(int(p) for p in parts)
        elif isinstance(value, int):
            pair = (value, value)
        else:
            pair = tuple(int(v) for v in value)
        if len(pair) == 1:
            pair = (pair[0], pair[0])
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must look like 1024x512, got {value!r}") from None
    if len(pair) != 2 or min(pair) <= 0:
        raise ConfigError(f"{name} must be two positive integers like 1024x512, got {value!r}")
    return (pair[0], pair[1])


def _validated(cfg: Config) -> Config:
    checks = [
        (cfg.batch_size >= 1, "batch_size must be >= 1"),
        (cfg.epochs >= 0 and cfg.finetune_epochs >= 0, "epochs and finetune_epochs must be >= 0"),
        (cfg.n_folds >= 2, "n_folds must be >= 2"),
        (0.0 < cfg.test_size < 1.0, "test_size must be in (0, 1)"),
        (0 <= cfg.fold < cfg.n_folds, "fold must be in [0, n_folds)"),
        (cfg.pos_ratio is None or 0.0 < cfg.pos_ratio < 1.0, "pos_ratio must be in (0, 1) or None"),
        (cfg.loss in ("bce", "focal"), "loss must be 'bce' or 'focal'"),
        (0.0 <= cfg.augment_strength <= 1.0, "augment_strength must be in [0, 1]"),
        (cfg.cache_bits in (8, 16), "cache_bits must be 8 or 16"),
        (cfg.workers >= 1, "workers must be >= 1"),
        (cfg.synthetic_patients >= 1, "synthetic_patients must be >= 1"),
        (0.0 <= cfg.synthetic_prevalence <= 1.0, "synthetic_prevalence must be in [0, 1]"),
        (cfg.learning_rate > 0 and cfg.finetune_lr > 0, "learning rates must be > 0"),
        (cfg.monitor in ("val_auc", "val_pf1"), "monitor must be 'val_auc' or 'val_pf1'"),
        (cfg.backbone in MODEL_NAMES, f"backbone must be one of {MODEL_NAMES}, got {cfg.backbone!r}"),
        (cfg.pooling in ("avg", "max", "gem"), "pooling must be 'avg', 'max' or 'gem'"),
        (0.0 <= cfg.dropout < 1.0, "dropout must be in [0, 1)"),
        (cfg.lr_schedule in ("cosine", "plateau"), "lr_schedule must be 'cosine' or 'plateau'"),
        (cfg.weights in (None, "imagenet") or Path(str(cfg.weights)).is_file(), "weights must be 'imagenet', None or a file"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"{message} (config: profile={cfg.profile})")
    return cfg


def is_rsna_root(path: Path) -> bool:
    """True if ``path`` holds an RSNA-layout ``train.csv``."""
    return (Path(path) / "train.csv").is_file()


def resolve_data_root(data_root: str | Path | None = None, generate: bool = True) -> Path:
    """Find the dataset folder (see the module docstring for the order).

    Args:
        data_root: Explicit folder; must contain ``train.csv``.
        generate: Generate the embedded dataset when nothing else is found.

    Returns:
        The resolved folder.

    Raises:
        ConfigError: If an explicitly named folder (argument or ``MAMMO_DATA``)
            does not exist or has no ``train.csv``.
    """
    for source, candidate in (("data_root", data_root), ("MAMMO_DATA", os.environ.get("MAMMO_DATA"))):
        if candidate:
            path = Path(candidate).expanduser()
            if not path.is_dir():
                raise ConfigError(f"{source}={str(path)!r} does not exist or is not a folder")
            if not is_rsna_root(path):
                raise ConfigError(
                    f"{source}={str(path)!r} has no train.csv; point it at an RSNA-layout folder "
                    "(train.csv + train_images/<patient_id>/<image_id>.dcm)"
                )
            return path
    for candidate in (KAGGLE_RSNA_DIR, os.environ.get("MAMMO_COLAB_DATA", DEFAULT_COLAB_DIR)):
        if is_rsna_root(Path(candidate)):
            return Path(candidate)
    embedded = Config().data_root
    if not is_rsna_root(embedded) and generate:
        from .synthetic import generate_dataset

        cfg = Config()
        log.info("embedded dataset missing: generating it under %s", embedded)
        generate_dataset(
            embedded,
            n_patients=cfg.synthetic_patients,
            image_size=cfg.synthetic_image_size,
            prevalence=cfg.synthetic_prevalence,
            seed=cfg.seed,
            workers=os.cpu_count() or 1,
        )
    return embedded


def get_config(profile: str = "small", data_root: str | Path | None = None, **overrides: Any) -> Config:
    """Build the run configuration.

    Args:
        profile: ``small`` (CPU, embedded data) or ``full`` (GPU, real RSNA).
        data_root: Dataset folder; resolved with :func:`resolve_data_root` when ``None``.
        **overrides: Any :class:`Config` field.

    Returns:
        A validated :class:`Config`.

    Raises:
        ConfigError: Unknown profile or field, or an invalid value.
    """
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; choose one of {sorted(PROFILES)}")
    values = {**PROFILES[profile], **overrides, "profile": profile}
    values["data_root"] = resolve_data_root(data_root)
    if "work_dir" not in overrides and os.environ.get("MAMMO_WORK"):
        values["work_dir"] = os.environ["MAMMO_WORK"]
    return _validated(Config(**_coerce(values)))
