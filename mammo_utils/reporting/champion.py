"""Evaluate the exported champion on the test patients, overall and per subgroup, and record it for the model card.

The exported folder is what ships, so the model card describes it: its test split is scored by the export's
ONNX model (the serving runtime), per breast, with patient-level bootstrap intervals, and per site, machine,
breast density and age band. The result is written to ``reports/results/champion_eval.json``, which the model
card and the final report cite.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import Config
from ..constants import SERVED_RUNTIME
from ..utils import load_results, save_results

#: Where 06 records the subgroup tests of the champion arm's seeds: (results file, key).
REPLICATION_RECORD = ("06_tuning", "champion_subgroup_replication")

#: The operating point the report quotes (specificity on the test breasts).
SPECIFICITY = 0.9


def operating_point_at_specificity(labels, scores, specificity: float = SPECIFICITY) -> dict:
    """Sensitivity at the threshold with the highest sensitivity whose specificity is at least ``specificity``.

    Of the thresholds that reach that sensitivity, the highest is taken (the ROC point of highest specificity among
    the tied ones), so the point is not shown at a lower specificity than the curve reaches.

    Args:
        labels: 0/1 per breast.
        scores: Breast scores.
        specificity: Required specificity.

    Returns:
        ``specificity_target, threshold, sensitivity, k, n`` (cancers found / cancers), ``specificity,
        negatives_cleared, negatives`` at that threshold. Its interval is the patient bootstrap of ``sens_at_spec``
        (:func:`evaluate_champion` adds it), the one every notebook shows for this metric.

    Example:
        >>> operating_point_at_specificity([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], 0.9)["k"]
        2
        >>> tied = operating_point_at_specificity([0] * 10 + [1], [i / 10 for i in range(10)] + [0.95], 0.9)
        >>> (tied["k"], tied["specificity"], tied["threshold"])
        (1, 1.0, 0.95)
    """
    y, s = np.asarray(labels, int), np.asarray(scores, float)
    negatives, positives = s[y == 0], s[y == 1]
    best = {"threshold": float("inf"), "k": 0, "cleared": len(negatives)}
    for t in np.unique(s)[::-1]:  # lower the threshold while the specificity holds
        cleared = int((negatives < t).sum())
        if len(negatives) and cleared / len(negatives) < specificity - 1e-12:
            break
        k = int((positives >= t).sum())
        if k > best["k"] or not np.isfinite(best["threshold"]):  # a tie keeps the higher threshold
            best = {"threshold": float(t), "k": k, "cleared": cleared}
    n = len(positives)
    return {
        "specificity_target": specificity,
        "threshold": best["threshold"] if np.isfinite(best["threshold"]) else None,
        "sensitivity": best["k"] / n if n else float("nan"),
        "k": best["k"],
        "n": n,
        "specificity": best["cleared"] / len(negatives) if len(negatives) else float("nan"),
        "negatives_cleared": best["cleared"],
        "negatives": len(negatives),
    }


def recorded_replication(folder: Path | None, run_name: str | None, columns) -> dict | None:
    """The subgroup tests of the champion arm's seeds, as 06 recorded them, when they describe this champion.

    Args:
        folder: Results folder (default :func:`~mammo_utils.utils.results_dir`).
        run_name: The exported run's name (``model.json``'s ``training.run_name``).
        columns: The attributes the champion's own tests split by (the same family is required).

    Returns:
        06's record (``arm, runs, seeds, columns, tests``) with ``source``, or None when 06 recorded none, its arm's
        runs do not include ``run_name`` (the export is another arm's), or its columns differ.
    """
    name, key = REPLICATION_RECORD
    try:
        record = load_results(name, folder).get(key)
    except FileNotFoundError:
        return None
    if not record or run_name not in record.get("runs", []) or list(record.get("columns", [])) != list(columns):
        return None
    return {**record, "source": f"{name}.json#{key}"}


def interval_reasons(subgroups: dict[str, list[dict]]) -> dict[str, str]:
    """The ``missing`` entries of the subgroup AUC intervals that have none: each row's own ``roc_auc_missing``.

    Args:
        subgroups: Attribute -> :func:`~mammo_utils.evaluation.subgroups.subgroup_metrics` records.

    Returns:
        ``{"subgroups.<attribute>.<i>.roc_auc_low": reason, ... _high: reason}`` (what the model card prints).
    """
    return {
        f"subgroups.{column}.{i}.roc_auc_{end}": row["roc_auc_missing"]
        for column, rows in subgroups.items()
        for i, row in enumerate(rows)
        if row.get("roc_auc_missing")
        for end in ("low", "high")
    }


def architecture_of(manifest: dict, export_dir: str | Path) -> dict:
    """The export's architecture: ``model.json``'s record, or read from its ``model.keras`` when an older export
    recorded none.

    Args:
        manifest: The export's ``model.json``.
        export_dir: The export folder.

    Returns:
        :func:`~mammo_utils.modeling.architecture.describe_architecture`'s facts, with ``recorded_in`` (the file
        they were read from).
    """
    if manifest.get("architecture"):
        return {**manifest["architecture"], "recorded_in": "model.json"}
    from ..export.runtime import open_runner
    from ..modeling.architecture import describe_architecture

    return {**describe_architecture(open_runner(export_dir, "keras").model), "recorded_in": "model.keras"}


def roc_points(labels: np.ndarray, scores: np.ndarray) -> dict[str, list[float]]:
    """The ROC curve's corners (scikit-learn's, redundant points dropped), for the report's figure.

    Args:
        labels: 0/1 per breast.
        scores: The breast scores.

    Returns:
        ``{"fpr": [...], "tpr": [...], "thresholds": [...]}`` (the first threshold, infinite, as None).
    """
    from sklearn.metrics import roc_curve

    fpr, tpr, thresholds = roc_curve(labels, scores)
    return {
        "fpr": [float(v) for v in fpr],
        "tpr": [float(v) for v in tpr],
        "thresholds": [float(v) if np.isfinite(v) else None for v in thresholds],
    }


def validation_threshold_range(cfg: Config, manifest: dict, runner, threshold: float) -> dict:
    """Where the export's frozen threshold sits among the thresholds giving the same validation predictions.

    Args:
        cfg: Configuration (data root, splits, fold).
        manifest: The export's ``model.json``.
        runner: The export's runner (scores the validation fold the threshold was set on; the Keras model, whose
            scores set it).
        threshold: The frozen threshold.

    Returns:
        :func:`~mammo_utils.evaluation.metrics.f1_optimal_range` of the validation breasts, plus ``breasts`` and
        ``cancers`` (their counts).
    """
    from ..evaluation.evaluate import breast_predictions
    from ..evaluation.metrics import f1_optimal_range
    from ..export.convert import model_data

    val, _ = model_data(cfg, manifest, 1, split="validation")
    rows = val.rows.assign(prediction=np.asarray(runner.predict_batched(val.images, 16), float))
    breasts = breast_predictions(rows, rows.prediction)
    found = f1_optimal_range(breasts.cancer.to_numpy(int), breasts.prediction.to_numpy(float), threshold)
    return {**found, "breasts": len(breasts), "cancers": int(breasts.cancer.sum())}


def evaluate_champion(
    cfg: Config, export_dir: str | Path, runtime: str = SERVED_RUNTIME, folder: Path | None = None
) -> dict:
    """Score the export's test split and write ``champion_eval.json``.

    Args:
        cfg: Configuration (data root, splits, fold).
        export_dir: The export folder (``model.json``).
        runtime: Runtime that scores (the service's default, ONNX).
        folder: Results folder (default ``reports/results``).

    Returns:
        The recorded payload: ``model`` facts (``architecture`` among them: :func:`architecture_of`),
        ``split_counts`` (images, patients, breasts and cancer breasts of the training folds, the validation fold and
        the test split the export was trained, selected and scored on), ``test_breast_ci``, ``test_counts``,
        ``subgroups``,
        ``confusion`` (per breast at the frozen threshold), ``subgroup_tests`` (Fisher's exact test of each
        subgroup's patients against the rest's, Holm-corrected), ``subgroup_replication`` (the same tests on each
        seed of the champion's arm, when 06 recorded them: :func:`recorded_replication`) and
        ``sensitivity_at_specificity`` (at 90% specificity: its count, and the 95% patient-bootstrap interval of
        ``sens_at_spec`` as ``low``/``high``, the interval 04-06 show for the same metric).
    """
    from ..data.prepare import data_for_model
    from ..data.rsna import load_train
    from ..data.splits import fold_counts
    from ..evaluation.evaluate import breast_predictions, metrics_with_intervals
    from ..evaluation.subgroups import SUBGROUP_COLUMNS, subgroup_metrics, subgroup_tests, with_subgroup_columns
    from ..export.convert import model_data
    from ..export.runtime import load_artifact, open_runner

    manifest = load_artifact(export_dir)
    data, _ = model_data(cfg, manifest, 1)  # the test split the export was checked on (as the benchmark loads it)
    runner = open_runner(export_dir, runtime)
    scores = runner.predict_batched(data.images, 16)
    meta = load_train(cfg.data_root).set_index("image_id")
    pred = with_subgroup_columns(data.rows.assign(prediction=np.asarray(scores, float)), meta)
    threshold = float(manifest["threshold"])
    columns = SUBGROUP_COLUMNS
    ci = metrics_with_intervals(pred, threshold, level="breast")  # the bootstrap seed the notebooks use
    subgroups = {
        column: subgroup_metrics(pred, threshold, column).reset_index().to_dict("records") for column in columns
    }
    breasts = breast_predictions(pred, pred.prediction)
    from ..evaluation.metrics import binary_report

    counts = binary_report(breasts.cancer.to_numpy(int), breasts.prediction.to_numpy(float), threshold)
    training = manifest.get("training", {})
    model_cfg, splits, _ = data_for_model(cfg, manifest)
    payload = {
        "model": {
            "name": manifest.get("name"),
            "backbone": manifest.get("backbone"),
            "input": manifest["input"]["shape"][1:],
            "threshold": threshold,
            "run_name": training.get("run_name"),
            "registry_version": training.get("registry_version"),
            "runtime": runtime,
            "exported_at": manifest.get("exported_at"),
            "recipe": training.get("recipe", {}),
            "architecture": architecture_of(manifest, export_dir),
        },
        "split_counts": {"fold": model_cfg.fold, **fold_counts(splits, model_cfg.fold)},
        "test_breast_ci": ci[["value", "low", "high"]].to_dict("index"),
        "test_counts": dict(ci.attrs),
        "test_images": len(pred),
        # the exported model's own confusion matrix per breast at its frozen threshold (the slides draw it)
        "confusion": {k: counts[k] for k in ("tn", "fp", "fn", "tp", "threshold")},
        "subgroups": subgroups,
        "subgroup_tests": subgroup_tests(pred, threshold, columns),
        "sensitivity_at_specificity": {
            **operating_point_at_specificity(
                breasts.cancer.to_numpy(int), breasts.prediction.to_numpy(float), SPECIFICITY
            ),
            "low": float(ci.loc["sens_at_spec", "low"]),
            "high": float(ci.loc["sens_at_spec", "high"]),
            "interval": "95% percentile bootstrap over patients",
        },
    }
    # the threshold was set on the Keras model's validation scores: read its interval on those (the served runtime's
    # scores differ by float noise, enough to move a breast that sits exactly on the threshold)
    keras = runner if runtime == "keras" else open_runner(export_dir, "keras")
    payload["threshold_choice"] = {**validation_threshold_range(cfg, manifest, keras, threshold), "scored_by": "keras"}
    payload["roc"] = roc_points(breasts.cancer.to_numpy(int), breasts.prediction.to_numpy(float))
    payload["missing"] = interval_reasons(subgroups)  # why a subgroup AUC has no interval, in its own words
    replication = recorded_replication(folder, training.get("run_name"), columns)
    if replication:  # absent, not null, when 06 recorded no seeds of this champion's arm
        payload["subgroup_replication"] = replication
    save_results("champion_eval", payload, folder)
    return payload
