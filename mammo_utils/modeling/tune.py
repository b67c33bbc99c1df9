# Size: the search space, the KerasTuner glue and the summary tables of one search belong together.
"""Hyper-parameter search with KerasTuner over the project's own trainer: resumable, bounded, tracked.

Every trial builds its model with :func:`~mammo_utils.modeling.models.build_model` and trains it with
:func:`~mammo_utils.modeling.train.train` — the same tf.data pipeline, balanced sampling, loss, in-model
augmentation, learning-rate schedule, early stopping and validation scorer as any run — so a trial is an
ordinary run with other settings, and the objective is the validation metric the trainer monitors
(``val_auc``: image ROC-AUC, or ``val_pf1``: per-breast pF1) on the patient-grouped validation fold, after the
leakage check. The test split is never read by the search.

The search space (:class:`SearchSpace`, declared once, documented by :func:`space_table`):

=================  ======================================  =========================================
name               values                                   note
=================  ======================================  =========================================
learning_rate      log-uniform [lr_min, lr_max]             peak LR of the head stage
dropout            0 .. dropout_max, step 0.1
pooling            ``poolings``                             global pooling of the head
augment_strength   0 .. augment_max, step 0.25              in-model augmentation
pos_ratio          ``pos_ratios``                           positives per training batch
loss               ``losses``; ``focal_gamma`` 1..3 when    conditional on focal
                   focal
backbone           ``backbones``
finetune_lr        log [1e-5, 1e-3], only with weights      conditional on pretrained backbones
=================  ======================================  =========================================

Image size is a profile choice, not a hyper-parameter: it changes the cache, the input and the cost of every
trial (set it with ``--image-size``).

Tuners: ``hyperband`` (default; trains many configurations briefly and continues the best), ``bayesian``
(Gaussian-process BayesianOptimization) and ``random``. The tuner's folder lives under
``<work>/tuning/<search_id>``; rerunning the same command continues it (finished trials are not rerun).
``max_trials``, ``epochs`` and a wall-clock ``time_budget`` bound it. One MLflow parent run per search holds a
nested run per trial (hyper-parameters, per-epoch metrics, objective, duration, status).

Example:
    >>> from mammo_utils.modeling.tune import SearchSpace
    >>> SearchSpace().names()[:3]
    ['learning_rate', 'dropout', 'pooling']
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from .. import constants as C
from ..config import Config
from ..evaluation.metrics import difference_with_interval
from ..utils import to_json, write_atomic
from . import tracking

TUNERS = C.TUNERS
#: Config fields a search may set (what a best-parameters file may contain).
TUNABLE_FIELDS = (
    "learning_rate",
    "dropout",
    "pooling",
    "augment_strength",
    "pos_ratio",
    "loss",
    "focal_gamma",
    "backbone",
    "finetune_lr",
)


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """The hyper-parameters searched and their ranges (one place; see the module table).

    Raises:
        ValueError: A value outside the project's choices or an empty/invalid range, naming the field.
    """

    lr_min: float = 1e-4
    lr_max: float = 3e-3
    dropout_max: float = 0.5
    poolings: tuple[str, ...] = ("max", "gem", "avg")
    augment_max: float = 1.0
    pos_ratios: tuple[float, ...] = (0.1, 0.25, 0.5)
    losses: tuple[str, ...] = ("bce", "focal")
    backbones: tuple[str, ...] = ("baseline",)

    def __post_init__(self):
        if not 0 < self.lr_min < self.lr_max <= 1:
            raise ValueError(f"search space: need 0 < lr_min < lr_max <= 1, got {self.lr_min}, {self.lr_max}")
        if not 0 <= self.dropout_max < 1 or not 0 <= self.augment_max <= 1:
            raise ValueError("search space: dropout_max must be in [0, 1) and augment_max in [0, 1]")
        for field, values, allowed in (
            ("poolings", self.poolings, C.POOLINGS),
            ("losses", self.losses, C.LOSSES),
            ("backbones", self.backbones, C.MODEL_NAMES),
        ):
            bad = [v for v in values if v not in allowed]
            if not values or bad:
                raise ValueError(f"search space: {field} {list(values)} must be non-empty values of {list(allowed)}")
        if not self.pos_ratios or any(not 0 < r < 1 for r in self.pos_ratios):
            raise ValueError(f"search space: pos_ratios must be in (0, 1), got {list(self.pos_ratios)}")

    def contains(self, cfg) -> list[str]:
        """The fields of ``cfg`` that fall outside this space (empty: the configuration is one the search can try).

        Args:
            cfg: A :class:`~mammo_utils.config.Config` (e.g. the profile's default).

        Returns:
            Names of the hyper-parameters whose ``cfg`` value the space cannot produce.
        """

        def grid(value: float, step: float) -> bool:
            return abs(value / step - round(value / step)) < 1e-9

        ok = {
            "learning_rate": self.lr_min <= cfg.learning_rate <= self.lr_max,
            "dropout": 0 <= cfg.dropout <= self.dropout_max and grid(cfg.dropout, 0.1),
            "pooling": cfg.pooling in self.poolings,
            "augment_strength": 0 <= cfg.augment_strength <= self.augment_max and grid(cfg.augment_strength, 0.25),
            "pos_ratio": cfg.pos_ratio in self.pos_ratios,
            "loss": cfg.loss in self.losses,
            "backbone": cfg.backbone in self.backbones,
        }
        return [name for name, inside in ok.items() if not inside]

    def names(self) -> list[str]:
        """Names of the searched hyper-parameters."""
        return [
            "learning_rate",
            "dropout",
            "pooling",
            "augment_strength",
            "pos_ratio",
            "loss",
            "focal_gamma",
            "backbone",
            "finetune_lr",
        ]

    def sample(self, hp, pretrained: bool) -> dict[str, Any]:
        """Declare the space on a KerasTuner ``HyperParameters`` and return this trial's config values."""
        values = {
            "learning_rate": hp.Float("learning_rate", self.lr_min, self.lr_max, sampling="log"),
            "dropout": hp.Float("dropout", 0.0, self.dropout_max, step=0.1),
            "pooling": hp.Choice("pooling", list(self.poolings)),
            "augment_strength": hp.Float("augment_strength", 0.0, self.augment_max, step=0.25),
            "pos_ratio": hp.Choice("pos_ratio", list(self.pos_ratios)),
            "loss": hp.Choice("loss", list(self.losses)),
            "backbone": hp.Choice("backbone", list(self.backbones)),
        }
        with hp.conditional_scope("loss", ["focal"]):
            gamma = hp.Float("focal_gamma", 1.0, 3.0, step=0.5)
        if values["loss"] == "focal":
            values["focal_gamma"] = gamma
        if pretrained:
            values["finetune_lr"] = hp.Float("finetune_lr", 1e-5, 1e-3, sampling="log")
        return values


def space_table(space: SearchSpace) -> pd.DataFrame:
    """The search space as a table (for the notebook and the docs)."""
    rows = [
        ("learning_rate", f"log-uniform [{space.lr_min:g}, {space.lr_max:g}]", "peak LR of the head stage"),
        ("dropout", f"0 .. {space.dropout_max:g}, step 0.1", "before the sigmoid"),
        ("pooling", ", ".join(space.poolings), "global pooling of the head"),
        ("augment_strength", f"0 .. {space.augment_max:g}, step 0.25", "in-model augmentation"),
        ("pos_ratio", ", ".join(map(str, space.pos_ratios)), "positives per training batch"),
        ("loss", ", ".join(space.losses), "focal_gamma 1..3 (step 0.5) when focal"),
        ("backbone", ", ".join(space.backbones), "architecture"),
        ("finetune_lr", "log-uniform [1e-5, 1e-3]", "only when the backbone starts from loaded weights"),
    ]
    return pd.DataFrame(rows, columns=["hyper-parameter", "values", "note"]).set_index("hyper-parameter")


#: Where each monitored metric sits in a run's validation report (level, metric).
MONITOR_METRICS = {
    "val_breast_auc": ("breast", "roc_auc"),
    "val_auc": ("image", "roc_auc"),
    "val_pf1": ("breast", "pf1"),
}


def objective_value(result, monitor: str) -> float:
    """The validation metric a trial is scored by (the trainer's ``monitor``, at the checkpoint kept).

    Args:
        result: A :class:`~mammo_utils.modeling.train.TrainResult`.
        monitor: One of :data:`mammo_utils.constants.MONITORS`.

    Returns:
        The value (NaN when undefined, e.g. a validation fold with one class).
    """
    level, metric = MONITOR_METRICS[monitor]
    return float(result.val[level][metric])


def search_id(cfg: Config, tuner: str, space: SearchSpace, epochs: int) -> str:
    """Folder name of a search: the same command gets the same id (and resumes)."""
    key = {
        "tuner": tuner,
        "space": dataclasses.asdict(space),
        "epochs": epochs,
        "data": str(cfg.data_root),
        "image_size": cfg.image_size,
        "cache": [cfg.cache_size, cfg.cache_bits],
        "fold": cfg.fold,
        "seed": cfg.seed,
        "monitor": cfg.monitor,
        "weights": cfg.weights,
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return f"{tuner}_{cfg.image_size[0]}x{cfg.image_size[1]}_{digest}"


def _hypermodel(cfg: Config, space: SearchSpace, sid: str, log):
    import keras_tuner as kt

    from .models import build_model
    from .train import train

    class MammoHyperModel(kt.HyperModel):
        """Builds through ``build_model`` and trains through the project's ``train``."""

        def trial_config(self, hp, epochs: int | None = None) -> Config:
            values = space.sample(hp, pretrained=cfg.weights is not None)
            extra = {} if epochs is None else {"epochs": epochs}
            if cfg.weights is None or values["backbone"] == "baseline":
                extra["finetune_epochs"] = 0
            return dataclasses.replace(cfg, **values, **extra)

        def build(self, hp):
            tcfg = self.trial_config(hp)
            return build_model(
                tcfg.backbone,
                tcfg.image_size,
                weights=tcfg.weights,
                pooling=tcfg.pooling,
                dropout=tcfg.dropout,
                augment_strength=tcfg.augment_strength,
                seed=tcfg.seed,
            )

        def fit(self, hp, model, epochs: int = 1, trial_id: str = "", **kwargs):
            tcfg = self.trial_config(hp, epochs)
            start = time.perf_counter()
            status = "FAILED"
            result = None
            try:
                result = train(
                    tcfg, run_name=f"tune/{sid}/{trial_id}", resume=False, track=False, verbose=0, model=model
                )
                status = "COMPLETED"
                return {cfg.monitor: objective_value(result, cfg.monitor)}
            finally:
                log(trial_id, hp.values, result, time.perf_counter() - start, status)

    return MammoHyperModel()


def _tuner(kind: str, hypermodel, cfg: Config, directory: Path, name: str, max_trials: int, epochs: int):
    import keras_tuner as kt

    base = {"hyperband": kt.Hyperband, "bayesian": kt.BayesianOptimization, "random": kt.RandomSearch}[kind]

    class ProjectTuner(base):
        """Runs each trial through the hypermodel's ``fit`` (the project trainer) and stops on the budget."""

        deadline = float("inf")

        def run_trial(self, trial, *args, **kwargs):
            hp = trial.hyperparameters
            model = self.hypermodel.build(hp)
            if "tuner/trial_id" in hp.values:  # Hyperband continues a promising configuration
                model.load_weights(self._get_checkpoint_fname(hp.values["tuner/trial_id"]))
            trial_epochs = int(hp.values.get("tuner/epochs", epochs))
            metrics = self.hypermodel.fit(hp, model, epochs=trial_epochs, trial_id=trial.trial_id)
            model.save_weights(self._get_checkpoint_fname(trial.trial_id))
            return metrics

        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            if time.time() > self.deadline:  # the oracle stops creating trials once max_trials is reached
                self.oracle.max_trials = len(self.oracle.trials)

    objective = kt.Objective(cfg.monitor, direction="max")
    common = {"objective": objective, "seed": cfg.seed, "directory": str(directory), "project_name": name}
    common["overwrite"] = False
    if kind == "hyperband":
        # Hyperband needs max_epochs >= 2; enough iterations that max_trials, not the brackets, ends the search
        tuner = ProjectTuner(hypermodel, max_epochs=max(epochs, 2), factor=3, hyperband_iterations=max_trials, **common)
        tuner.oracle.max_trials = max_trials
    else:
        tuner = ProjectTuner(hypermodel, max_trials=max_trials, **common)
    return tuner


#: File in a search's folder that fixes the criterion deciding tuned vs default, written before the first trial.
DECISION_FILE = "decision.json"
#: Criteria a search can declare (:data:`mammo_utils.constants.DECISION_METRICS`).
DECISION_METRICS = C.DECISION_METRICS


def declare_decision(folder: str | Path, metric: str) -> dict[str, Any]:
    """Fix the criterion that will decide tuned vs default, in the search's folder, before the search runs.

    The first call writes ``decision.json`` (criterion, time, and how many trials the folder already held: 0 for a
    search declared before it began). Every later call on the same folder must name the same criterion: a search
    whose trials are known cannot switch to the criterion its winner happens to pass.

    Args:
        folder: The search's folder (``<work>/tuning/<search id>``).
        metric: ``log_loss`` or ``roc_auc``.

    Returns:
        The record: ``decision_metric``, ``declared_at`` (UTC, ISO 8601), ``trials_before`` and ``file``.

    Raises:
        ValueError: An unknown criterion, or another criterion than the one the folder declared.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     first = declare_decision(d, "log_loss")
        ...     again = declare_decision(d, "log_loss")
        ...     first["trials_before"], again["declared_at"] == first["declared_at"]
        (0, True)
    """
    if metric not in DECISION_METRICS:
        raise ValueError(f"decision metric must be one of {DECISION_METRICS}, got {metric!r}")
    folder = Path(folder)
    path = folder / DECISION_FILE
    if path.is_file():
        record = json.loads(path.read_text())
        if record["decision_metric"] != metric:
            raise ValueError(
                f"{path}: this search declared {record['decision_metric']!r} as its decision criterion at "
                f"{record['declared_at']}; deciding it on {metric!r} now, after its trials, is refused. Keep "
                f"{record['decision_metric']!r} or start a new search (another work folder or search space)."
            )
        return {**record, "file": str(path)}
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "decision_metric": metric,
        "declared_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "trials_before": sum(1 for d in folder.glob("trial_*") if d.is_dir()),
    }
    write_atomic(path, to_json(record, indent=1).encode())
    return {**record, "file": str(path)}


def tune(
    cfg: Config,
    tuner: str = C.TUNERS[0],
    max_trials: int = 10,
    epochs: int = 3,
    time_budget: float | None = None,
    space: SearchSpace | None = None,
    track: bool = True,
    progress=print,
    decision_metric: str | None = None,
) -> dict[str, Any]:
    """Run (or continue) a search and write the best hyper-parameters as a params file.

    Args:
        cfg: Configuration (data, sizes, fold, seed, monitor); its tunable fields are the starting defaults.
        tuner: ``hyperband``, ``bayesian`` or ``random``.
        max_trials: Most trials in the search (finished ones of an earlier run count).
        epochs: Epochs per trial (Hyperband's largest budget).
        time_budget: Minutes after which no new trial starts (the running one finishes).
        space: The :class:`SearchSpace`.
        track: Log a parent MLflow run with one nested run per trial.
        progress: Called with one line per trial.
        decision_metric: The criterion that will decide tuned vs default (``log_loss`` or ``roc_auc``), fixed in the
            search's folder before its first trial (:func:`declare_decision`) and logged to the parent run; None
            declares nothing.

    Returns:
        ``{"search_id", "objective_name", "trials": [...], "best": {"hyperparameters", "objective"},
        "params_file", "folder"}``, plus ``declared`` (:func:`declare_decision`'s record) with ``decision_metric``.

    Raises:
        ValueError: Unknown tuner, bad bounds or search space, or a decision criterion other than the one the
            search declared.
        LeakageError: A patient in two splits (checked before the first trial).
    """
    if tuner not in TUNERS:
        raise ValueError(f"tuner must be one of {TUNERS}, got {tuner!r}")
    if max_trials < 1 or epochs < 1:
        raise ValueError(f"max_trials and epochs must be >= 1, got {max_trials}, {epochs}")
    from ..data.prepare import prepare_data

    space = space or SearchSpace()
    prepare_data(cfg, progress=False)  # cache, splits and the leakage check before any trial
    sid = search_id(cfg, tuner, space, epochs)
    folder = cfg.work_dir / "tuning"
    declared = declare_decision(folder / sid, decision_metric) if decision_metric else None
    parent = None
    if track:
        search_params = {"tuner": tuner, "max_trials": max_trials, "epochs": epochs, "monitor": cfg.monitor}
        if declared:
            search_params["decision_metric"] = declared["decision_metric"]
        parent = tracking.start_search_run(cfg, sid, search_params, dataclasses.asdict(space))

    def log(trial_id, values, result, seconds, status):
        objective = objective_value(result, cfg.monitor) if result is not None else float("nan")
        progress(
            f"trial {trial_id}: {cfg.monitor}={objective:.4f} in {seconds:.0f} s ({status}) "
            + ", ".join(
                f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                for k, v in values.items()
                if not k.startswith("tuner/")
            )
        )
        if parent is not None:
            history = result.history if result is not None else None
            tracking.log_trial(trial_id, values, history, objective, seconds, status)

    if progress is print:  # keep trial lines on stdout while KerasTuner's own prints are dropped
        stdout = sys.stdout
        progress = lambda line: print(line, file=stdout)  # noqa: E731
    hypermodel = _hypermodel(cfg, space, sid, log)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # KerasTuner prints "Reloading Tuner…" and trial tables
            search = _tuner(tuner, hypermodel, cfg, folder, sid, max_trials, epochs)
            if time_budget is not None:
                search.deadline = time.time() + 60 * time_budget
            search.search(verbose=0)
    finally:
        if parent is not None:
            tracking.end_run()
    summary = summarise(search, cfg.monitor, sid)
    summary["folder"] = str(folder / sid)
    if declared:
        summary["declared"] = declared
    params = {**{k: v for k, v in summary["best"]["hyperparameters"].items() if k in TUNABLE_FIELDS}}
    params_file = folder / sid / "best_params.json"
    write_atomic(params_file, to_json(params, indent=1).encode())
    summary["params_file"] = str(params_file)
    return summary


def _rank(objective: float) -> float:
    """A finished trial's objective for sorting: NaN (validation without both classes) ranks last."""
    return float("-inf") if math.isnan(objective) else objective


def _trial_order(trial_id) -> tuple[int, str]:
    """Sort key of a KerasTuner trial id ("0", "01", "12", …): numeric order, text as a fallback."""
    text = str(trial_id)
    return (int(text), text) if text.isdigit() else (10**9, text)


def summarise(search, objective_name: str, sid: str) -> dict[str, Any]:
    """Trials (sorted by objective) and the best hyper-parameters of a KerasTuner search."""
    trials = []
    for trial in search.oracle.trials.values():
        score = trial.score
        trials.append(
            {
                "trial_id": trial.trial_id,
                "status": str(trial.status),
                "objective": None if score is None else float(score),
                "hyperparameters": {
                    k: v for k, v in trial.hyperparameters.values.items() if not k.startswith("tuner/")
                },
                "epochs": trial.hyperparameters.values.get("tuner/epochs"),
            }
        )
    done = [t for t in trials if t["objective"] is not None]
    # ties (common on a tiny validation set) go to the lowest trial id: the oracle's trial order follows the
    # file system's listing when a search is reloaded, so sorting by the score alone could name another best
    done.sort(key=lambda t: (-_rank(t["objective"]), _trial_order(t["trial_id"])))
    best = done[0] if done else {"hyperparameters": {}, "objective": None}
    return {
        "search_id": sid,
        "objective_name": objective_name,
        "trials": done + [t for t in trials if t["objective"] is None],
        "best": {"hyperparameters": best["hyperparameters"], "objective": best["objective"]},
    }


def trials_table(summary: dict) -> pd.DataFrame:
    """One row per finished trial: objective, epochs and every hyper-parameter (best first)."""
    rows = [
        {"trial": t["trial_id"], "objective": t["objective"], "epochs": t["epochs"], **t["hyperparameters"]}
        for t in summary["trials"]
    ]
    return pd.DataFrame(rows).set_index("trial")


def trial_epochs(summary: dict, epochs: int) -> list[int]:
    """The epochs each finished trial ran: Hyperband's budget for it (``tuner/epochs``), else the search's ``epochs``.

    Args:
        summary: :func:`tune` output.
        epochs: The search's epochs per trial (what a trial without a Hyperband budget ran).

    Returns:
        One number per finished trial, in the summary's order.
    """
    return [int(t["epochs"] or epochs) for t in summary["trials"] if t["objective"] is not None]


def read_params(path: str | Path) -> dict[str, Any]:
    """A best-parameters file (JSON or YAML) as config overrides.

    Raises:
        ValueError: Unreadable file or a key that is not a tunable config field.
    """
    path = Path(path)
    try:
        text = path.read_text()
        if path.suffix in (".yaml", ".yml"):
            import yaml

            values = yaml.safe_load(text)
        else:
            values = json.loads(text)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable params file ({exc})") from None
    if not isinstance(values, dict):
        raise ValueError(f"{path}: a params file holds a mapping of config fields")
    unknown = sorted(set(values) - set(TUNABLE_FIELDS))
    if unknown:
        raise ValueError(f"{path}: unknown parameter(s) {unknown}; a params file may set {list(TUNABLE_FIELDS)}")
    return values


def _selection_bias(best: float, test: dict, trial_epochs: int, trials: int) -> str:
    """The bullet on selection bias: the best trial's score against its configuration retrained over seeds."""
    gap = best - test["auc_a"]
    head = (
        f"- Selection bias: the search picked the best of {trials} trials on the validation fold, and the paired "
        "test above uses the same fold, which favours the tuned arm. "
    )
    if gap > 0:
        measured = (
            f"The best trial's {best:.3f} exceeds the same configuration retrained over {test['runs_a']} seeds "
            f"({test['auc_a']:.3f}, {-gap:+.3f}): the trial's own score overstates what the configuration gives "
            "when retrained. "
        )
    else:
        measured = (
            f"Retrained over {test['runs_a']} seeds with the full epoch budget, the configuration scored "
            f"{test['auc_a']:.3f}, above its {trial_epochs}-epoch trial ({best:.3f}). The retrained runs differ from "
            "the trial in epochs and seeds at once (which of the two makes the gap is not measured), so the gap says "
            "nothing about the bias, and the fold that picked the configuration is still the fold that judges it. "
        )
    return (
        head
        + measured
        + (
            "Only patients neither step saw can check the choice without that bias: a nested split, or the test split, "
            "on which the same pair is repeated below as a check."
        )
    )


def declaration(summary: dict, metric: str) -> str:
    """When the search fixed its decision criterion, as a clause, from the record in its folder.

    Args:
        summary: :func:`tune` output (``declared`` when the search was given a ``decision_metric``).
        metric: The criterion the verdict is about to use.

    Returns:
        e.g. ``"declared before the search (decision.json, written at … before trial 1; …)"``.

    Raises:
        ValueError: The verdict's criterion is not the one the search declared.
    """
    record = summary.get("declared")
    if not record:
        return "not recorded by the search (chosen in this notebook's parameters)"
    if record["decision_metric"] != metric:
        raise ValueError(
            f"the search declared {record['decision_metric']!r} ({record['file']}), the verdict uses {metric!r}"
        )
    when = f"`{DECISION_FILE}` in the search's folder, written at {record['declared_at']}"
    if record["trials_before"]:
        return f"declared after {record['trials_before']} trials had already run ({when})"
    return f"declared before the search ({when}, before its first trial; the search refuses any other criterion)"


def search_conclusion(
    summary: dict, test: dict, tuned: str = "tuned", default: str = "baseline", auc: dict | None = None
) -> tuple[str, str]:
    """The search's verdict from the paired validation test of the tuned arm against the default: which arm to keep.

    The tuned configuration replaces the default only when the paired patient-level test on validation, on the
    criterion declared before the search, puts it above the default (interval on its side of 0); otherwise the
    default stays (it is the simpler claim, and the search chose its winner on the same validation fold, which
    flatters it).

    Args:
        summary: :func:`tune` output.
        test: :func:`~mammo_utils.evaluation.compare.paired_difference` of ``tuned`` minus ``default`` on validation,
            both retrained over the same seeds, on the declared decision criterion (``roc_auc`` or ``log_loss``).
        tuned: The tuned arm's name.
        default: The default arm's name.
        auc: The same pair's breast ROC-AUC test when ``test`` is of another metric (the search's objective: it
            measures the selection bias and shows whether AUC was saturated); None when ``test`` is the AUC test.

    Returns:
        ``(Markdown text, the arm kept)``.
    """
    from ..evaluation.compare import METRICS, a_is_better, verdict

    auc = test if auc is None else auc
    label = METRICS[test.get("metric", "roc_auc")][2]
    done = [t for t in summary["trials"] if t["objective"] is not None]
    objectives = [t["objective"] for t in done]
    keep = tuned if a_is_better(test) else default
    lines = [
        f"- {len(done)} trials finished; the objective ({summary['objective_name']}, validation) ranged from "
        f"{min(objectives):.3f} to {max(objectives):.3f} (best {summary['best']['objective']:.3f}).",
        f"- Decision criterion, {declaration(summary, test.get('metric', 'roc_auc'))}: validation {label}. Retrained "
        f"over {test['runs_a']} seeds each: " + verdict(tuned, default, test),
    ]
    saturated = auc.get("auc_a", 0) >= 1.0  # every run of the tuned arm ranks every validation breast right
    if auc is not test:
        lines.append(
            "- Breast ROC-AUC on validation, reported: "
            + (
                f"{difference_with_interval(auc)}, **uninformative** (saturated, below): no verdict is drawn from it."
                if saturated
                else verdict(tuned, default, auc)
            )
        )
    lines.append(
        f"- **Kept: {keep}**"
        + (
            f" (the paired test of validation {label} puts the tuned configuration above the default)."
            if keep == tuned
            else f" (validation {label} does not show the tuned configuration better, so the default stays)."
        )
    )
    lines += [
        f"- A trial ran at most {max((x['epochs'] or 0) for x in done) or '?'} epochs on one seed: its objective is "
        "also moved by the seed, which is why the winner is retrained over seeds before it is judged.",
        _selection_bias(summary["best"]["objective"], auc, max((x["epochs"] or 0) for x in done), len(done)),
    ]
    if saturated:
        lines.append(
            f"- Validation AUC is saturated: the tuned arm's validation breast AUC is {auc['auc_a']:.3f} in every run, "
            "so no resample can put it below the default and an AUC test's p-value is guaranteed small"
            + (
                f"; {label}, which also scores how confident each call is, can still fall either way."
                if auc is not test
                else "; the comparison rests on the check on the test patients below."
            )
        )
    return "\n".join(lines), keep


def holder_runs(cfg: Config, recorded: dict | None, results: dict, seeds) -> tuple[str | None, dict]:
    """The runs of the arm holding the champion alias after 05 (its chosen arm when 05's paired test moved the alias,
    else 04's baseline): 06's own runs when 06 trained that arm, else 05's finished runs re-scored once from the
    recipe 05 recorded (nothing is retrained when they exist).

    Args:
        cfg: The protocol's configuration (the same as 05's).
        recorded: 05's results (``chosen``, ``chosen_recipe``, ``champion_arm``), or None.
        results: 06's ``{(arm, seed): TrainResult}``.
        seeds: The protocol's seeds.

    Returns:
        ``(arm name, {(arm, seed): TrainResult})`` of that arm only (read its predictions with
        :func:`~mammo_utils.modeling.experiments.arm_predictions`), or ``(None, {})`` when 05 recorded no choice or
        no recipe.
    """
    from .experiments import train_arms

    if not recorded or "chosen" not in recorded:
        return None, {}
    name = recorded.get("champion_arm") or recorded["chosen"]  # the arm holding the alias after 05
    if not any(arm == name for arm, _ in results):
        if name != recorded["chosen"] or not recorded.get("chosen_recipe"):
            return None, {}
        results = train_arms(cfg, {name: recorded["chosen_recipe"]}, seeds, progress=None)
    return name, {key: result for key, result in results.items() if key[0] == name}


def champion_replication(
    cfg: Config, promote: bool, results: dict, rival: str | None, rival_results: dict, tuned: str = "tuned"
) -> dict | None:
    """The subgroup tests on each seed of the arm holding the champion alias after 06 (what the model card reports
    as "flagged in k of n seeds" beside the exported champion's own tests).

    Args:
        cfg: Configuration (its ``data_root`` gives each image's site, machine, density and age).
        promote: Whether 06 moved the alias to ``tuned`` (:func:`promotion`).
        results: 06's ``{(arm, seed): TrainResult}``.
        rival: The arm that held the alias before (:func:`holder_runs`), or None.
        rival_results: Its runs.
        tuned: 06's challenging arm.

    Returns:
        :func:`~mammo_utils.modeling.experiments.arm_subgroup_replication` over the champion's subgroup columns, or
        None when the holder is unknown.
    """
    from ..data.rsna import load_train
    from ..evaluation.subgroups import SUBGROUP_COLUMNS
    from .experiments import arm_subgroup_replication

    arm, runs = (tuned, results) if promote else (rival, rival_results)
    if arm is None:
        return None
    meta = load_train(cfg.data_root).set_index("image_id")
    return arm_subgroup_replication(runs, arm, SUBGROUP_COLUMNS, meta)


def promotion(
    keep: str, rival: str | None, test: dict | None, tuned: str = "tuned", heldout: dict | None = None
) -> tuple[bool, str]:
    """Whether an arm takes the ``champion`` alias from the arm holding it, and why (06's kept configuration against
    the holder after 05; 05's chosen arm against 04's baseline).

    The alias moves only when the arm was kept **and** a paired patient-level test on validation, on the declared
    criterion and over the same seeds, puts it above the holder; a mean alone never moves it. The same pair on the
    test patients, when given, is printed as a check from which nothing is decided.

    Args:
        keep: The arm :func:`search_conclusion` kept.
        rival: The arm holding the alias (None when none can be re-scored).
        test: :func:`~mammo_utils.evaluation.compare.paired_difference` of ``tuned`` minus ``rival`` on validation.
        tuned: The challenging arm's name.
        heldout: The same difference on the test patients (who took part in no choice), or None.

    Returns:
        ``(move the alias, Markdown text)``.
    """
    from ..evaluation.compare import a_is_better, verdict

    if keep != tuned:
        return False, f"Kept: {keep}, so the champion alias **stays with {rival or 'its holder'}**."
    if rival is None or test is None:
        return False, "No run of the arm holding the alias can be re-scored, so nothing is compared: it **stays**."
    move = a_is_better(test)
    check = (
        ""
        if heldout is None
        else " The same pair on the **test patients**, who took part in no choice (a check; nothing is decided "
        "from it): " + verdict(tuned, rival, heldout)
    )
    return move, (
        f"Against the arm holding the champion alias ({rival}), paired over validation patients and seeds on the "
        "declared criterion: "
        + verdict(tuned, rival, test)
        + (
            f" The champion alias **moves to {tuned}**."
            if move
            else f" The paired test does not put {tuned} above it, so the alias **stays with {rival}**."
        )
        + check
    )
