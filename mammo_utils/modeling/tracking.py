"""MLflow tracking and model registry for training runs.

The default store is a local sqlite file, ``<work_dir>/mlflow.db``, with artifacts under
``<work_dir>/mlartifacts`` (both git-ignored); ``MLFLOW_TRACKING_URI`` switches to a server. Browse with::

    mlflow ui --backend-store-uri sqlite:///data/work/mlflow.db

What is logged: the run configuration, the software environment, per-epoch metrics, the final
validation/test metrics, figures, the history table and the Keras model. Only aggregates are logged,
never a patient identifier or a per-image row. The best model of a registered name holds the alias
:data:`CHAMPION`.
"""

from __future__ import annotations

import math
from typing import Any

import keras

from .config import REPO_ROOT, Config

#: Registry alias of the best model so far.
CHAMPION = "champion"


def configure(cfg: Config):
    """Point MLflow at the run's store and experiment (created with a local artifact folder).

    Args:
        cfg: Run configuration (``tracking_uri``, ``experiment``, ``work_dir``).

    Returns:
        An ``mlflow.MlflowClient`` for that store.
    """
    import mlflow

    cfg.work_dir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(cfg.tracking_uri)
    client = mlflow.MlflowClient()
    if client.get_experiment_by_name(cfg.experiment) is None:
        location = None
        if cfg.tracking_uri.startswith("sqlite:"):
            location = (cfg.work_dir / "mlartifacts").resolve().as_uri()
        client.create_experiment(cfg.experiment, artifact_location=location)
    mlflow.set_experiment(cfg.experiment)
    return client


def run_params(cfg: Config) -> dict[str, Any]:
    """Configuration as MLflow params (values shortened to MLflow's 500-character limit)."""
    return {k: str(v)[:500] for k, v in cfg.to_dict().items()}


def log_environment() -> None:
    """Log package versions as ``env.*`` params and the pinned requirements as an artifact."""
    import mlflow

    from .notebook import versions

    mlflow.log_params({f"env.{k}": v for k, v in versions().items()})
    requirements = REPO_ROOT / "requirements.txt"
    if requirements.is_file():
        mlflow.log_artifact(str(requirements), artifact_path="environment")


def finite_metrics(values: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric, finite entries of ``values`` with an optional name prefix (MLflow rejects NaN well enough, but charts do not)."""
    out = {}
    for key, value in values.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value)):
            out[f"{prefix}{key}"] = float(value)
    return out


class MlflowEpochLogger(keras.callbacks.Callback):
    """Log every epoch's metrics (loss, val_auc, val_pf1, learning rate) to the active MLflow run.

    The step is Keras' epoch index, which continues across training stages (``initial_epoch``).
    """

    def on_epoch_end(self, epoch, logs=None):
        import mlflow

        metrics = finite_metrics(logs or {})
        lr = getattr(self.model.optimizer, "learning_rate", None)
        if lr is not None:
            metrics["lr"] = float(keras.ops.convert_to_numpy(lr))
        mlflow.log_metrics(metrics, step=epoch)


def log_keras_model(model: keras.Model, name: str = "model") -> str:
    """Log a Keras model with explicit pins (no slow requirement inference).

    Args:
        model: The trained model.
        name: Model name inside the run.

    Returns:
        The logged model's URI (``models:/…``) to register.
    """
    import mlflow

    pins = [line.strip() for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()]
    pins = [p for p in pins if p.split("==")[0] in ("tensorflow-cpu", "keras", "numpy")]
    info = mlflow.keras.log_model(model, name=name, pip_requirements=pins)
    return info.model_uri


def promote(client, registered_model: str, model_uri: str, metric: str, value: float) -> tuple[str, bool]:
    """Register a model version and move the :data:`CHAMPION` alias to it when it beats the holder.

    Args:
        client: ``mlflow.MlflowClient``.
        registered_model: Registry name.
        model_uri: URI returned by :func:`log_keras_model`.
        metric: Run metric compared (higher is better), e.g. ``val_breast_pf1``.
        value: This run's value of ``metric``.

    Returns:
        ``(version, became_champion)``.
    """
    import mlflow

    version = mlflow.register_model(model_uri, registered_model).version
    try:
        holder = client.get_model_version_by_alias(registered_model, CHAMPION)
        best = client.get_run(holder.run_id).data.metrics.get(metric, float("-inf"))
    except mlflow.exceptions.MlflowException:
        best = float("-inf")
    better = math.isfinite(value) and value > best
    if better:
        client.set_registered_model_alias(registered_model, CHAMPION, version)
    return str(version), better


def runs_table(cfg: Config, columns: tuple[str, ...] = ()) -> "Any":
    """Finished runs of the experiment as a frame (newest first), for comparison tables.

    Args:
        cfg: Run configuration (store and experiment).
        columns: Metric/param columns to keep (``metrics.x`` / ``params.y``); all when empty.

    Returns:
        A pandas DataFrame.
    """
    import mlflow

    configure(cfg)
    runs = mlflow.search_runs(experiment_names=[cfg.experiment], order_by=["start_time DESC"])
    if columns and not runs.empty:
        keep = ["run_id", "tags.mlflow.runName", "start_time", *[c for c in columns if c in runs]]
        runs = runs[keep]
    return runs


def champion_uri(registered_model: str) -> str:
    """Model URI of the current champion (``models:/<name>@champion``)."""
    return f"models:/{registered_model}@{CHAMPION}"


#: MLflow metric -> column of the model comparison table.
COMPARISON_COLUMNS = {
    "val_breast_roc_auc": "val breast AUC",
    "test_image_roc_auc": "test image AUC",
    "test_breast_roc_auc": "test breast AUC",
    "test_breast_pf1": "test breast pF1",
    "test_breast_f1": "test breast F1",
    "test_breast_sens_at_spec": "test sens@90% spec",
    "params": "params",
    "train_seconds": "train s",
    "infer_ms_per_image": "infer ms/img",
}


def comparison_table(cfg: Config, run_ids: list[str]) -> "Any":
    """Model comparison pulled from MLflow: one row per run, the columns of :data:`COMPARISON_COLUMNS`.

    Args:
        cfg: Configuration naming the store and experiment.
        run_ids: Runs to compare.

    Returns:
        A frame indexed by model (the run's ``backbone`` tag), sorted by test breast AUC.
    """
    import pandas as pd

    client = configure(cfg)
    rows = {}
    for run_id in run_ids:
        run = client.get_run(run_id)
        name = run.data.tags.get("backbone", run.info.run_name)
        rows[name] = {label: run.data.metrics.get(key, float("nan")) for key, label in COMPARISON_COLUMNS.items()}
        rows[name]["run"] = run.info.run_name
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")
    return table.sort_values("test breast AUC", ascending=False)
