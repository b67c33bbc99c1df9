"""Evaluate the exported champion on the test patients, overall and per subgroup, and record it for the model card.

The exported folder is what ships, so the model card describes it: its test split is scored by the export's
ONNX model (the serving runtime), per breast, with patient-level bootstrap intervals, and per site, machine,
breast density and age band. The result is written to ``reports/results/champion_eval.json``, which the model
card and the final report cite.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..config import Config
from ..utils import save_results

#: Age bands of the subgroup table (years).
AGE_BINS: tuple[float, ...] = (0, 50, 60, 70, 200)


def age_band(age: pd.Series) -> pd.Series:
    """``<50``, ``50-59``, ``60-69``, ``>=70`` (``unknown`` when missing)."""
    labels = ["<50", "50-59", "60-69", ">=70"]
    return pd.cut(age, list(AGE_BINS), right=False, labels=labels).astype(object).fillna("unknown")


def evaluate_champion(cfg: Config, export_dir: str | Path, runtime: str = "onnx", folder: Path | None = None) -> dict:
    """Score the export's test split and write ``champion_eval.json``.

    Args:
        cfg: Configuration (data root, splits, fold).
        export_dir: The export folder (``model.json``).
        runtime: Runtime that scores (the service's default, ONNX).
        folder: Results folder (default ``reports/results``).

    Returns:
        The recorded payload: ``model`` facts, ``test_breast_ci``, ``test_counts``, ``subgroups``.
    """
    from ..data.rsna import load_train
    from ..evaluation.evaluate import metrics_with_intervals, subgroup_metrics
    from ..export.convert import model_data
    from ..export.runtime import load_artifact, open_runner

    manifest = load_artifact(export_dir)
    data, _ = model_data(cfg, manifest, 1)  # the test split the export was checked on (as the benchmark loads it)
    runner = open_runner(export_dir, runtime)
    scores = runner.predict_batched(data.images, 16)
    meta = load_train(cfg.data_root).set_index("image_id")
    pred = data.rows.copy()
    for column in ("site_id", "machine_id", "density", "age"):
        if column not in pred and column in meta:
            pred[column] = pred.image_id.map(meta[column])
    pred["prediction"] = np.asarray(scores, float)
    pred["age_band"] = age_band(pred["age"]) if "age" in pred else "unknown"
    pred["density"] = pred["density"].fillna("unknown") if "density" in pred else "unknown"
    threshold = float(manifest["threshold"])
    ci = metrics_with_intervals(pred, threshold, level="breast", seed=cfg.seed)
    subgroups = {
        column: subgroup_metrics(pred, threshold, column).reset_index().to_dict("records")
        for column in ("site_id", "machine_id", "density", "age_band")
    }
    training = manifest.get("training", {})
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
        },
        "test_breast_ci": ci[["value", "low", "high"]].to_dict("index"),
        "test_counts": dict(ci.attrs),
        "test_images": len(pred),
        "subgroups": subgroups,
    }
    save_results("champion_eval", payload, folder)
    return payload
