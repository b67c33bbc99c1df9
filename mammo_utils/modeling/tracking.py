# Size: it is the one owner of every MLflow call (training, search, detection, registry, decisions).
"""MLflow tracking and model registry: every MLflow call of the project lives here.

The default store is a local sqlite file, ``<work_dir>/mlflow.db``, with artifacts under
``<work_dir>/mlartifacts`` (both git-ignored); ``MLFLOW_TRACKING_URI`` switches to a server. Browse with::

    mlflow ui --backend-store-uri sqlite:///data/work/mlflow.db

What is logged: the run configuration, the software environment, per-epoch metrics, the final
validation/test metrics, figures, the history table and the Keras model. Only aggregates are logged,
never a patient identifier or a per-image row. The best model of a registered name holds the alias
:data:`CHAMPION`.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any

from ..config import Config
from ..evaluation.plots import plot_confusion
from ..utils import versions
from .plots import plot_history

#: Registry alias of the best model so far.
CHAMPION = "champion"


def configure(cfg: Config):
    """Point MLflow at the run's store and experiment (created with a local artifact folder).

    Args:
        cfg: Run configuration (``tracking_uri``, ``experiment``, ``work_dir``).

    Returns:
        An ``mlflow.MlflowClient`` for that store.
    """
    # MLflow draws a progress bar on stderr for every artifact download (re-scoring a finished run fetches its
    # model); a user who wants the bars sets the variable themselves
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    cfg.work_dir.mkdir(parents=True, exist_ok=True)
    logging.getLogger("mlflow").setLevel(logging.ERROR)  # signature notices and registry chatter stay out of reports
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
    """Log installed package versions as ``env.*`` params and as a ``requirements.txt`` artifact.

    Read from the installed distributions, so it works from a wheel install as well as from a clone.
    """
    import mlflow

    found = versions()
    mlflow.log_params({f"env.{k}": v for k, v in found.items()})
    lines = [f"{name}=={version}" for name, version in found.items() if name != "python"]
    mlflow.log_text("\n".join(lines) + "\n", "environment/requirements.txt")


def model_requirements() -> list[str]:
    """Pins for a logged Keras model: the installed ``keras``, ``numpy`` and ``tensorflow`` versions.

    TensorFlow is pinned by its generic name (``tensorflow``, not ``tensorflow-cpu``), so the model can be
    served on a GPU machine too; the CPU and GPU builds share version numbers.

    Returns:
        Requirement strings such as ``["keras==3.15.1", "numpy==2.4.6", "tensorflow==2.21.0"]``.
    """
    found = versions(("keras", "numpy", "tensorflow", "tensorflow-cpu"))
    tf_version = found.get("tensorflow") or found.get("tensorflow-cpu")
    pins = [f"{name}=={found[name]}" for name in ("keras", "numpy") if name in found]
    return pins + ([f"tensorflow=={tf_version}"] if tf_version else [])


def finite_metrics(values: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric, finite entries of ``values`` with an optional name prefix (NaN breaks MLflow's charts).

    Args:
        values: Any mapping of names to values.
        prefix: Prepended to each kept name.

    Returns:
        ``{prefix + name: float}`` for the finite numbers.
    """
    out = {}
    for key, value in values.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value)):
            out[f"{prefix}{key}"] = float(value)
    return out


def epoch_logger():
    """A Keras callback that logs every epoch's metrics (loss, val_auc, val_pf1, learning rate) to the active run.

    The step is Keras' epoch index, which continues across training stages (``initial_epoch``).

    Returns:
        A ``keras.callbacks.Callback``.
    """
    import keras
    import mlflow

    class MlflowEpochLogger(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            metrics = finite_metrics(logs or {})
            lr = getattr(self.model.optimizer, "learning_rate", None)
            if lr is not None:
                metrics["lr"] = float(keras.ops.convert_to_numpy(lr))
            mlflow.log_metrics(metrics, step=epoch)

    return MlflowEpochLogger()


def run_exists(cfg: Config, run_id: str | None) -> bool:
    """Whether the configured store holds ``run_id`` (a run folder may have been tracked in another store).

    Args:
        cfg: Run configuration (its ``tracking_uri``).
        run_id: An MLflow run id, or None.

    Returns:
        True when the run exists in the store; False for None or an unknown id.
    """
    from mlflow.exceptions import MlflowException

    if not run_id:
        return False
    try:
        configure(cfg).get_run(run_id)
    except MlflowException:
        return False
    return True


def start_training_run(cfg: Config, run_name: str, state, train_df, val_df, test_df):
    """Start (or resume, by the id kept in the run's state) the MLflow run of a training run.

    A new run logs its configuration, environment, split sizes and tags once.

    Args:
        cfg: Run configuration.
        run_name: MLflow run name.
        state: The run folder's :class:`~mammo_utils.modeling.run_state.RunState` (keeps ``mlflow_run_id``).
        train_df, val_df, test_df: The split frames (only their sizes and positive counts are logged).

    Returns:
        The active ``mlflow.ActiveRun``.
    """
    import mlflow

    configure(cfg)
    run = mlflow.start_run(run_id=state.data.get("mlflow_run_id"), run_name=run_name)
    if "mlflow_run_id" not in state.data:
        state.data["mlflow_run_id"] = run.info.run_id
        state.save()
        mlflow.log_params(run_params(cfg))
        log_environment()
        counts = {
            f"{name}_{what}": value
            for name, frame in (("train", train_df), ("val", val_df), ("test", test_df))
            for what, value in (("images", len(frame)), ("positives", int(frame.cancer.sum())))
        }
        mlflow.log_params(counts)
        mlflow.set_tags({"backbone": cfg.backbone, "dataset": cfg.data_root.name, "profile": cfg.profile})
    return run


def finish_training_run(cfg: Config, model, result, promote: bool = True) -> tuple[str, bool]:
    """Log final metrics, history, figures and the model to the active run; register it and maybe promote it.

    A run that already has a registry version (a finished run scored again) logs nothing new and keeps that
    version; only the champion comparison runs again.

    Args:
        cfg: Run configuration (registry name, monitored metric).
        model: The trained Keras model.
        result: The :class:`~mammo_utils.modeling.train.TrainResult`.

    Returns:
        ``(registry version, became champion)``.
    """
    import matplotlib.pyplot as plt
    import mlflow

    metrics = result.metrics()
    key = "val_breast_pf1" if cfg.monitor == "val_pf1" else "val_breast_roc_auc"
    client = mlflow.MlflowClient()
    existing = registered_version(client, cfg.registered_model, mlflow.active_run().info.run_id)
    if existing is not None:
        if not promote:
            return existing, False
        return promote_if_better(client, cfg.registered_model, None, key, metrics.get(key, float("nan")), existing)
    mlflow.log_metrics(finite_metrics(metrics))
    mlflow.log_table(result.history, "history.json")
    for name, fig in (
        ("learning_curves", plot_history(result.history, f"{result.run_name}: learning curves", cfg.monitor)),
        ("confusion_val_breast", plot_confusion(result.val["breast"], "Validation, per breast")),
        ("confusion_test_breast", plot_confusion(result.test["breast"], "Test, per breast")),
    ):
        mlflow.log_figure(fig, f"figures/{name}.png")
        plt.close(fig)
    uri = log_keras_model(model)
    if not promote:
        return register(uri, cfg.registered_model), False
    return promote_if_better(client, cfg.registered_model, uri, key, metrics.get(key, float("nan")))


def end_run(status: str = "FINISHED") -> None:
    """End the active MLflow run with ``status`` (``FINISHED`` or ``FAILED``)."""
    import mlflow

    mlflow.end_run(status)


def start_task_run(cfg: Config, run_name: str, params: dict[str, Any], tags: dict[str, str]):
    """Start a run of another task (e.g. the lesion detector) in ``cfg.experiment``, with the environment logged.

    Returns:
        The active run (finish it with :func:`finish_task_run`).
    """
    import mlflow

    configure(cfg)
    run = mlflow.start_run(run_name=run_name)
    mlflow.log_params(params)
    log_environment()
    mlflow.set_tags(tags)
    return run


def finish_task_run(
    model, metrics: dict[str, Any], documents: dict[str, dict], registered_model: str, model_name: str, metric: tuple
) -> dict:
    """Log a task run's summary and model, register it (champion when it beats the holder) and end the run.

    Args:
        model: The Keras model to log.
        metrics: Final metrics (non-finite values dropped).
        documents: ``{artifact file name: JSON-able dict}`` logged beside the model.
        registered_model: Registry name.
        model_name: Artifact name of the model.
        metric: ``(name, value)`` the champion is chosen on.

    Returns:
        ``{"mlflow_run_id", "registry_version", "champion"}``.
    """
    import mlflow

    mlflow.log_metrics(finite_metrics(metrics))
    for name, content in documents.items():
        mlflow.log_dict(content, name)
    uri = log_keras_model(model, name=model_name)
    run_id = mlflow.active_run().info.run_id
    version, champion = promote_if_better(mlflow.MlflowClient(), registered_model, uri, *metric)
    end_run()
    return {"mlflow_run_id": run_id, "registry_version": version, "champion": champion}


def start_search_run(cfg: Config, search_id: str, params: dict[str, Any], space: dict[str, Any]):
    """Start (or continue) the parent run of a hyper-parameter search (``tags.search_id``).

    Args:
        cfg: Configuration (store, experiment).
        search_id: The search's id: the same search continued puts its trials under the same parent.
        params: The search's settings (tuner, max_trials, epochs, monitor).
        space: The search space, logged as ``search_space.json``.

    Returns:
        The active parent run (trials are nested under it by :func:`log_trial`; close it with :func:`end_run`).
    """
    import mlflow

    client = configure(cfg)
    experiment = client.get_experiment_by_name(cfg.experiment).experiment_id
    previous = client.search_runs([experiment], filter_string=f"tags.search_id = '{search_id}'", max_results=1)
    if previous:  # the same search continued: its trials go under the same parent run
        return mlflow.start_run(run_id=previous[0].info.run_id)
    run = mlflow.start_run(run_name=f"search_{search_id}")
    mlflow.set_tags({"kind": "search", "search_id": search_id, "tuner": params.get("tuner", "")})
    mlflow.log_params(params)
    mlflow.log_dict(space, "search_space.json")
    return run


def log_trial(trial_id: str, values: dict, history, objective: float, seconds: float, status: str) -> None:
    """One search trial as a nested run: its hyper-parameters, per-epoch history, objective and duration.

    Args:
        trial_id: KerasTuner's trial id.
        values: The trial's hyper-parameters.
        history: Per-epoch metrics (a DataFrame), or None for a failed trial.
        objective: The monitored value (NaN when it failed).
        seconds: Wall time.
        status: ``COMPLETED`` or ``FAILED``.
    """
    import mlflow

    with mlflow.start_run(run_name=f"trial_{trial_id}", nested=True):
        mlflow.set_tags({"kind": "trial", "trial_id": trial_id, "status": status})
        mlflow.log_params({k: v for k, v in values.items()})
        if history is not None:
            for step, row in enumerate(history.to_dict("records")):
                mlflow.log_metrics(
                    finite_metrics({k: v for k, v in row.items() if isinstance(v, (int, float))}), step=step
                )
        mlflow.log_metrics(finite_metrics({"objective": objective, "duration_s": seconds}))


def log_decision(cfg: Config, kind: str, decision: dict) -> str:
    """Log an operational decision (e.g. a retraining gate) as a run of ``<experiment>-<kind>``.

    Args:
        cfg: Configuration (store, experiment name).
        kind: Decision kind, e.g. ``retrain``.
        decision: JSON-ready values; numbers become metrics, the whole dict an artifact ``decision.json``.

    Returns:
        The MLflow run id.
    """
    import dataclasses

    import mlflow

    configure(dataclasses.replace(cfg, experiment=f"{cfg.experiment}-{kind}"))
    with mlflow.start_run(run_name=f"{kind}_{decision.get('action', '')}") as run:
        mlflow.set_tags({"decision": str(decision.get("action", "")), "kind": kind})
        flat = {}
        for key, value in decision.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                flat[key] = value
        for name, trigger in decision.get("triggers", {}).items():
            if isinstance(trigger.get("value"), (int, float)):
                flat[f"trigger_{name}"] = trigger["value"]
            mlflow.set_tag(f"fired_{name}", str(trigger.get("fired")))
        mlflow.log_metrics(finite_metrics(flat))
        mlflow.log_dict(decision, "decision.json")
    return run.info.run_id


def log_params(params: dict[str, Any]) -> None:
    """Log parameters to the active run."""
    import mlflow

    mlflow.log_params(params)


def log_file(path) -> None:
    """Attach a file to the active run (at the artifact root)."""
    import mlflow

    mlflow.log_artifact(str(path))


def log_keras_model(model, name: str = "model") -> str:
    """Log a Keras model with explicit pins (no slow requirement inference).

    Args:
        model: The trained model.
        name: Model name inside the run.

    Returns:
        The logged model's URI (``models:/…``) to register.
    """
    import mlflow

    info = mlflow.keras.log_model(model, name=name, pip_requirements=model_requirements())
    return info.model_uri


def register(model_uri: str, registered_model: str) -> str:
    """Register a logged model as a new version (MLflow's "already exists" notice silenced); returns the version."""
    import contextlib
    import io

    import mlflow

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return str(mlflow.register_model(model_uri, registered_model).version)


def registered_version(client, registered_model: str, run_id: str) -> str | None:
    """The registry version already holding ``run_id``'s model (the oldest when several), or None.

    A finished run scored again (05 and 06 re-use 04's arms) keeps its one version: registering it again would
    give the same model two version numbers, and two notebooks would name one run differently.

    Args:
        client: ``mlflow.MlflowClient``.
        registered_model: Registry name.
        run_id: The MLflow run.

    Returns:
        The version as a string, or None when the run was never registered under ``registered_model``.
    """
    import mlflow

    try:
        versions = client.search_model_versions(f"name='{registered_model}' and run_id='{run_id}'")
    except mlflow.exceptions.MlflowException:  # the registered model does not exist yet
        return None
    return str(min(int(v.version) for v in versions)) if versions else None


def promote_if_better(
    client, registered_model: str, model_uri: str | None, metric: str, value: float, version: str | None = None
) -> tuple[str, bool]:
    """Register a model version and move the :data:`CHAMPION` alias to it when it beats the holder on validation.

    Only runs of the same input size (``image_size`` param) are compared; a run at another size never takes the
    alias from the holder (the comparison is refused, not guessed).

    Args:
        client: ``mlflow.MlflowClient``.
        registered_model: Registry name.
        model_uri: URI returned by :func:`log_keras_model` (None with ``version``).
        metric: Run metric compared (higher is better), e.g. ``val_breast_pf1``.
        value: This run's value of ``metric``.
        version: A version already registered for this run (:func:`registered_version`): compared, not registered
            again.

    Returns:
        ``(version, became_champion)``.
    """
    import mlflow

    version = version or register(model_uri, registered_model)
    this = client.get_run(client.get_model_version(registered_model, version).run_id).data.params
    try:
        holder = client.get_model_version_by_alias(registered_model, CHAMPION)
        run = client.get_run(holder.run_id).data
        if run.params.get("image_size") != this.get("image_size"):
            # validation scores at different input sizes are not one comparison: the holder keeps the alias
            return str(version), False
        best = run.metrics.get(metric, float("-inf"))
    except mlflow.exceptions.MlflowException:
        best = float("-inf")
    better = math.isfinite(value) and value > best
    if better:
        client.set_registered_model_alias(registered_model, CHAMPION, version)
    return str(version), better


def set_champion(registered_model: str, version: str) -> None:
    """Move the :data:`CHAMPION` alias of ``registered_model`` to ``version`` (the retraining gate's promotion)."""
    import mlflow

    mlflow.MlflowClient().set_registered_model_alias(registered_model, CHAMPION, version)


def open_champion(registered_model: str, version: str, own: set[str]) -> str | None:
    """04's step of the champion chain: move the :data:`CHAMPION` alias to ``version`` unless a later stage moved it.

    04 opens the chain (05, 06 and the retraining gate move the alias on only through their paired tests). Run
    again on its own, after them, it must not take the alias back from the model they promoted and 08 exported:
    it moves the alias only when there is none yet, or when it is on one of 04's own versions.

    Args:
        registered_model: The registered model's name.
        version: 04's chosen version.
        own: Every registry version 04 registered (its seeds).

    Returns:
        None when the alias now points at ``version``; else the version that keeps it.
    """
    import mlflow

    client = mlflow.MlflowClient()
    try:
        holder = str(client.get_model_version_by_alias(registered_model, CHAMPION).version)
    except mlflow.exceptions.MlflowException:  # no alias yet (a fresh store)
        holder = None
    if holder is not None and holder not in {str(v) for v in own}:
        return holder
    client.set_registered_model_alias(registered_model, CHAMPION, version)
    return None


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


def training_span(cfg: Config) -> dict[str, Any] | None:
    """When the store's training runs ran: how many, the first start and the last end (UTC), or None when none.

    Counts the configured experiment (classifier trainings and tuning trials) and its ``-detection`` sibling
    (:mod:`mammo_utils.detection.train`'s detector runs). The final report prints it beside the build id, so a
    notebook that re-scored runs trained earlier in the same store says so by the times (a run's training time,
    not the render's).

    Args:
        cfg: Run configuration (store and experiment).

    Returns:
        ``{"experiment", "experiments" ({name: runs}), "runs", "first_start", "last_end"}``.
    """
    import mlflow
    import pandas as pd

    client = configure(cfg)
    names = [n for n in (cfg.experiment, f"{cfg.experiment}-detection") if client.get_experiment_by_name(n)]
    tables = {name: mlflow.search_runs(experiment_names=[name]) for name in names}  # an absent one is not created
    tables = {name: runs for name, runs in tables.items() if not runs.empty}
    if not tables:
        return None
    runs = pd.concat(tables.values(), ignore_index=True)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return {
        "experiment": cfg.experiment,
        "experiments": {name: int(len(table)) for name, table in tables.items()},
        "runs": int(len(runs)),
        "first_start": runs.start_time.min().strftime(fmt),
        "last_end": runs.end_time.max().strftime(fmt) if "end_time" in runs else None,
    }


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


def load_registered_model(
    ref: str, work_dir: str | Path | None = None, tracking_uri: str | None = None
) -> tuple[Any, dict]:
    """A registered model and its ``model_info.json`` (``models:/<name>@<alias>`` or ``models:/<name>/<N>``).

    Called by :func:`mammo_utils.modeling.resolve.resolve_model`, the one resolver; use that.

    Raises:
        ModelInfoError: The store has no such model, alias or version, or the version lacks its info file.
    """
    import os
    import tempfile

    from .run_state import MODEL_INFO, ModelInfoError

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no download bars in reports
    import mlflow

    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    try:
        version = _registry_version(mlflow.MlflowClient(), ref)
        if work_dir is not None:
            Path(work_dir).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=work_dir) as target:  # removed once read: no folder left behind
            info_path = mlflow.artifacts.download_artifacts(
                run_id=version.run_id, artifact_path=MODEL_INFO, dst_path=target
            )
            info = json.loads(Path(info_path).read_text())
        model = mlflow.keras.load_model(ref)
    except mlflow.exceptions.MlflowException as exc:
        raise ModelInfoError(f"{ref}: cannot be loaded from the MLflow store ({str(exc)[:200]})") from None
    info["registry_version"] = str(version.version)  # the version actually loaded (the alias may have moved)
    return model, info


def _registry_version(client, ref: str):
    name, _, rest = ref.removeprefix("models:/").partition("@")
    if rest:
        return client.get_model_version_by_alias(name, rest)
    name, _, number = name.partition("/")
    return client.get_model_version(name, number)
