# Size: the one owner of the comparison protocol (arm naming, training over seeds, summaries, paired tests).
"""The comparison protocol of 04, 05 and 06: arms of runs over seeds, chosen on validation, compared in pairs.

One protocol for every comparison the notebooks make:

- an **arm** is a recipe (config overrides: backbone, weights, hyper-parameters); it is trained once per seed
  (:data:`PROTOCOL_SEEDS`) on the same split (``split_seed``) and validation fold, at the same input size;
- every run keeps the checkpoint with the best **breast-level validation ROC-AUC** (``monitor =
  val_breast_auc``), and arms are ranked by the mean of that value over their seeds — the one selection metric;
- "A vs B" is the paired patient-level bootstrap of the difference of the arms' mean breast AUCs
  (:func:`mammo_utils.evaluation.compare.paired_auc_difference`) on the breasts both scored;
- the test split is read only to report the chosen arm, never to rank.

A run's folder name depends only on its arm and seed (:func:`arm_run_name`), so a notebook that needs an arm another
notebook trained (05 and 06 use 04's baseline) finds the finished run and only re-scores it.

Example:
    >>> arm_run_name("efficientnet_lite0 ImageNet", 1)
    'arm_efficientnet_lite0_imagenet_s1'
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..evaluation.compare import arm_interval, breast_log_loss, pairwise_table
from ..evaluation.evaluate import metrics_with_intervals

#: Seeds every arm of the protocol is trained with.
PROTOCOL_SEEDS: tuple[int, ...] = (0, 1, 2)


def arm_run_name(arm: str, seed: int) -> str:
    """Run folder / MLflow run name of one arm's run: ``arm_<slug>_s<seed>``.

    Args:
        arm: Arm name (any text).
        seed: Training seed.

    Returns:
        The run name (lower case, ``[a-z0-9_]``).
    """
    slug = re.sub(r"[^a-z0-9]+", "_", arm.lower()).strip("_")
    if not slug:
        raise ValueError(f"arm name {arm!r} has no letters or digits")
    return f"arm_{slug}_s{int(seed)}"


#: A run name written by :func:`arm_run_name`: ``arm_<slug>_s<seed>`` (nothing after the seed).
ARM_RUN = re.compile(r"(arm_[a-z0-9_]+)_s(\d+)")


def arm_seed_runs(run_name: str, runs_dir: str | Path) -> dict[int, Path]:
    """Every finished run of the arm that ``run_name`` belongs to, by seed (the arm's other seeds beside it).

    The arm is read from the run's name (:func:`arm_run_name`); its siblings are the run folders of the same
    arm with another seed and a ``model_info.json`` (a finished run). A variant of a run (``arm_tuned_s2_pruned50``)
    or a run outside the protocol (``04_baseline``) has no arm: it stands alone.

    Args:
        run_name: A run's name (a run folder's name, or ``run_name`` of its model info / MLflow run).
        runs_dir: The folder the runs live in (``cfg.runs_dir``).

    Returns:
        ``{seed: run folder}`` sorted by seed; ``{}`` when ``run_name`` is not an arm's run.

    Example:
        >>> arm_seed_runs("04_baseline", "data/work/runs")
        {}
    """
    from .run_state import MODEL_INFO

    match = ARM_RUN.fullmatch(str(run_name))
    if match is None:
        return {}
    prefix = match.group(1)
    found = {}
    for folder in Path(runs_dir).glob(f"{prefix}_s*"):
        sibling = ARM_RUN.fullmatch(folder.name)
        if sibling and sibling.group(1) == prefix and (folder / MODEL_INFO).is_file():
            found[int(sibling.group(2))] = folder
    return dict(sorted(found.items()))


def train_arms(
    cfg,
    arms: Mapping[str, Mapping[str, Any]],
    seeds: Sequence[int] = PROTOCOL_SEEDS,
    seeds_per_arm: Mapping[str, Sequence[int]] | None = None,
    verbose: int = 0,
    progress=print,
) -> dict[tuple[str, int], Any]:
    """Train every arm once per seed under the protocol (same split, fold and size; resumable; never promotes).

    Args:
        cfg: The protocol's configuration (input size, fold, ``split_seed``, budget); each arm's overrides and the
            seed are applied on top.
        arms: Arm name -> config overrides (e.g. ``{"backbone": "efficientnet_lite0", "weights": "imagenet"}``).
        seeds: Training seeds of every arm.
        seeds_per_arm: Arms trained with fewer seeds (e.g. a costly architecture shown once on a CPU).
        verbose: Keras verbosity of each run.
        progress: Called with one line per finished run (None: silent).

    Returns:
        ``{(arm, seed): TrainResult}``. A finished run of the same name and recipe is re-scored, not retrained.
    """
    from .train import train

    results = {}
    for name, values in arms.items():
        for seed in (seeds_per_arm or {}).get(name, seeds):
            result = train(
                cfg.replace(seed=int(seed), **values),
                run_name=arm_run_name(name, seed),
                resume=True,
                verbose=verbose,
                promote=False,
            )
            results[(name, int(seed))] = result
            if progress is not None:
                progress(
                    f"{name:<34} seed {seed}: {len(result.history):>2} epochs, {result.train_seconds:5.0f} s, "
                    f"val breast AUC {result.val['breast']['roc_auc']:.3f}"
                )
    return results


def arm_predictions(results: Mapping[tuple[str, int], Any], split: str = "val") -> dict[str, list[pd.DataFrame]]:
    """Each arm's per-run prediction frames on one split (what :func:`pairwise_table` compares).

    Args:
        results: ``{(arm, seed): TrainResult}``.
        split: ``val`` or ``test``.

    Returns:
        Arm -> list of image prediction frames, in the order of ``results``.
    """
    if split not in ("val", "test"):
        raise ValueError(f"split must be 'val' or 'test', got {split!r}")
    out: dict[str, list[pd.DataFrame]] = {}
    for (arm, _), result in results.items():
        out.setdefault(arm, []).append(getattr(result, f"{split}_predictions"))
    return out


def arm_subgroup_replication(
    results: Mapping[tuple[str, int], Any], arm: str, columns: Sequence[str], meta: pd.DataFrame | None = None
) -> dict:
    """The subgroup tests (:func:`~mammo_utils.evaluation.subgroups.subgroup_tests`) on each seed of one arm's test
    predictions, each run at its own frozen threshold: in how many seeds each subgroup is flagged.

    Args:
        results: ``{(arm, seed): TrainResult}`` (``test_predictions``, ``threshold``, ``run_name``).
        arm: The arm.
        columns: Attributes to split by (missing ones are added from ``meta``:
            :func:`~mammo_utils.evaluation.subgroups.with_subgroup_columns`).
        meta: ``train.csv`` indexed by ``image_id``, or None when the predictions carry the columns.

    Returns:
        ``arm, runs`` (run names), ``seeds``, ``columns`` and ``tests``
        (:func:`~mammo_utils.evaluation.subgroups.subgroup_replication`'s rows).

    Raises:
        ValueError: The arm has no run in ``results``.
    """
    from ..evaluation.subgroups import subgroup_replication, with_subgroup_columns

    runs = {seed: result for (name, seed), result in results.items() if name == arm}
    if not runs:
        raise ValueError(f"arm {arm!r} has no run; arms with runs: {sorted({name for name, _ in results})}")
    frames = {seed: with_subgroup_columns(r.test_predictions, meta) for seed, r in runs.items()}
    thresholds = {seed: float(r.threshold) for seed, r in runs.items()}
    return {
        "arm": arm,
        "runs": [r.run_name for r in runs.values()],
        "seeds": list(runs),
        "columns": list(columns),
        "tests": subgroup_replication(frames, thresholds, columns),
    }


def choose_arm(summary: pd.DataFrame, min_runs: int = 2) -> str:
    """The arm with the highest mean validation breast AUC among arms replicated at least ``min_runs`` times.

    Args:
        summary: :func:`variant_summary` table (sorted by validation mean).
        min_runs: Fewest runs an arm needs to be chosen (a single run is not a replicated result).

    Returns:
        The chosen arm's name.

    Raises:
        ValueError: No arm has enough runs.
    """
    count = summary.filter(regex=r"s$").columns[0]
    eligible = summary[summary[count] >= min_runs]
    if eligible.empty:
        raise ValueError(f"no arm has {min_runs} or more runs to choose from")
    return str(eligible["val AUC mean"].idxmax())


def _validation_rank(result) -> tuple[float, float]:
    """A run's validation ranking key: breast ROC-AUC, then minus breast log-loss (NaN last)."""
    return (
        float(np.nan_to_num(result.val["breast"]["roc_auc"], nan=-1.0)),
        -breast_log_loss(result.val_predictions),
    )


def chosen_run(results: Mapping[tuple[str, int], Any], arm: str) -> tuple[int, Any]:
    """The chosen arm's run with the best validation breast AUC (the one exported and served).

    A tie on AUC (a perfectly separated validation fold gives 1.000 to every seed) is broken on validation breast
    log-loss (lower wins; it does not saturate when every breast is ranked right), then by the lowest seed:
    validation decides, never the test split.

    Args:
        results: ``{(arm, seed): TrainResult}``.
        arm: The chosen arm.

    Returns:
        ``(seed, TrainResult)``.
    """
    seed = _best_seed(_arm_ranks(results, arm))
    return seed, results[(arm, seed)]


def _arm_ranks(results: Mapping[tuple[str, int], Any], arm: str) -> dict[int, tuple[float, float]]:
    """Each run of ``arm``: its :func:`_validation_rank`, by seed (KeyError when the arm has no run)."""
    ranks = {seed: _validation_rank(r) for (name, seed), r in results.items() if name == arm}
    if not ranks:
        raise KeyError(f"no runs of arm {arm!r}")
    return ranks


def _best_seed(ranks: Mapping[int, tuple[float, float]]) -> int:
    """The seed of the best rank; the first maximum in seed order, so a full tie keeps the lowest seed."""
    return max(sorted(ranks), key=ranks.__getitem__)


def choice_note(results: Mapping[tuple[str, int], Any], arm: str) -> str:
    """One sentence: which run of ``arm`` is carried forward and why, naming a tie and how it was broken.

    Args:
        results: ``{(arm, seed): TrainResult}``.
        arm: The chosen arm.

    Returns:
        Markdown text.

    Example:
        >>> from types import SimpleNamespace as N
        >>> frame = lambda p: pd.DataFrame({"patient_id": [1, 2], "laterality": "L", "cancer": [1, 0],
        ...                                 "prediction": [p, 1 - p]})
        >>> runs = {("a", s): N(val={"breast": {"roc_auc": 1.0}}, val_predictions=frame(p))
        ...         for s, p in [(0, 0.6), (1, 0.7)]}
        >>> choice_note(runs, "a").split(". ")[0]
        'Carried forward: seed 1'
        >>> "validation breast log-loss breaks the tie (0.357 vs seed 0 0.511; lower wins)" in choice_note(runs, "a")
        True
    """
    ranks = _arm_ranks(results, arm)  # computed once: the choice and the note read the same ranking
    seed = _best_seed(ranks)
    auc = results[(arm, seed)].val["breast"]["roc_auc"]
    tied = [s for s in sorted(ranks) if s != seed and ranks[s][0] == ranks[seed][0]]
    if not tied:
        best_of = f"the best validation breast AUC of the arm's {len(ranks)} runs"
        return f"Carried forward: seed {seed}, {best_of} ({auc:.3f})."
    others = ", ".join(f"seed {s}" for s in tied)
    text = f"Carried forward: seed {seed}. Its validation breast AUC {auc:.3f} ties with {others}, so "
    if any(ranks[s][1] != ranks[seed][1] for s in tied):
        shown = ", ".join(f"seed {s} {-ranks[s][1]:.3f}" for s in tied)
        return text + f"validation breast log-loss breaks the tie ({-ranks[seed][1]:.3f} vs {shown}; lower wins)."
    return text + "validation breast log-loss ties as well and the lowest seed is kept."


def paired_comparisons(results: Mapping[tuple[str, int], Any], reference: str, split: str = "val") -> pd.DataFrame:
    """Every arm against ``reference`` on one split: the paired patient-level test of the AUC difference.

    Args:
        results: ``{(arm, seed): TrainResult}``.
        reference: The arm the others are compared with (the one chosen on validation).
        split: ``val`` (the comparison that chooses) or ``test`` (reported for the record).

    Returns:
        :func:`~mammo_utils.evaluation.compare.pairwise_table`.
    """
    return pairwise_table(arm_predictions(results, split), reference)


def summarise_variants(results: dict, n_boot: int = 500, unit: str = "seed") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-run and per-variant tables of a comparison repeated over seeds (or over cross-validation folds).

    Args:
        results: ``{(variant, seed or fold): TrainResult}``.
        n_boot: Bootstrap resamples of the per-run test intervals (patient-level) and of each variant's test mean
            (patients and runs).
        unit: What the second key is: ``seed`` or ``fold`` (names the index level and the count column).

    Returns:
        ``(runs, variants)``. ``runs``: one row per (variant, seed) with validation breast AUC and log-loss, test
        breast AUC and its patient-level 95% interval, test sensitivity/specificity at the frozen threshold, the
        stages trained and whether the backbone started from loaded weights. ``variants``: mean and sd over seeds
        of the validation and test breast AUC and the test mean's 95% interval (:func:`variant_summary`), **sorted
        by validation mean** (the selection rule; the test split never ranks).
    """
    rows = []
    for (variant, seed), result in results.items():
        test = metrics_with_intervals(result.test_predictions, result.threshold, n=n_boot)  # seed 0 everywhere
        stages = list(dict.fromkeys(result.history.get("stage", pd.Series(["single"])).astype(str)))
        rows.append(
            {
                "variant": variant,
                unit: seed,
                "val breast AUC": result.val["breast"]["roc_auc"],
                "val log-loss": breast_log_loss(result.val_predictions),
                "test breast AUC": test.loc["roc_auc", "value"],
                "test AUC low": test.loc["roc_auc", "low"],
                "test AUC high": test.loc["roc_auc", "high"],
                "test sensitivity": test.loc["recall", "value"],
                "test specificity": test.loc["specificity", "value"],
                "epochs": len(result.history),
                "stages": " → ".join(stages),
                "params (M)": result.params / 1e6,
                "train s": result.train_seconds,
            }
        )
    runs = pd.DataFrame(rows).set_index(["variant", unit])
    means = {arm: arm_interval(frames, n=n_boot) for arm, frames in arm_predictions(results, "test").items()}
    return runs, variant_summary(runs, unit, {arm: (m["low"], m["high"]) for arm, m in means.items()})


def variant_summary(
    runs: pd.DataFrame, unit: str = "seed", mean_ci: Mapping[str, tuple[float, float]] | None = None
) -> pd.DataFrame:
    """Mean and sd over seeds (or folds) per variant, **sorted by validation mean** (the selection rule).

    Args:
        runs: Per-run table with ``val breast AUC``, ``val log-loss``, ``test breast AUC`` and ``train s``, indexed
            (variant, unit).
        unit: ``seed`` or ``fold`` (names the count column).
        mean_ci: Variant -> 95% interval of its test AUC mean over runs
            (:func:`~mammo_utils.evaluation.compare.arm_interval`: patients and seeds resampled); the columns
            ``test AUC mean low`` / ``high`` are left out without it.

    Returns:
        One row per variant: count, validation breast AUC mean and sd, validation breast log-loss mean, test breast
        AUC mean, its interval (with ``mean_ci``) and sd, mean training seconds.
    """
    grouped = runs.groupby(level="variant")
    table = pd.DataFrame(
        {
            f"{unit}s": grouped.size(),
            "val AUC mean": grouped["val breast AUC"].mean(),
            "val AUC sd": grouped["val breast AUC"].std(ddof=1),
            "val log-loss mean": grouped["val log-loss"].mean(),
            "test AUC mean": grouped["test breast AUC"].mean(),
            "test AUC sd": grouped["test breast AUC"].std(ddof=1),
            "train s (mean)": grouped["train s"].mean(),
        }
    )
    if mean_ci is not None:
        at = table.columns.get_loc("test AUC mean") + 1
        table.insert(at, "test AUC mean low", [mean_ci[v][0] for v in table.index])
        table.insert(at + 1, "test AUC mean high", [mean_ci[v][1] for v in table.index])
    return table.sort_values("val AUC mean", ascending=False)


def per_run_test_metrics(
    results: dict, n_boot: int = 500, level: str = "breast", digits: int = 3, unit: str = "seed"
) -> pd.DataFrame:
    """Every test metric of every run at its validation-frozen threshold, as ``value [low, high]`` text.

    Args:
        results: ``{(variant, seed or fold): TrainResult}``.
        n_boot: Bootstrap resamples (patient-level, as :func:`metrics_with_intervals`).
        level: ``breast`` or ``image``.
        digits: Decimals printed.
        unit: What the second key is: ``seed`` or ``fold`` (names the index level).

    Returns:
        One row per run, one column per metric of
        :data:`~mammo_utils.evaluation.evaluate.INTERVAL_METRICS`, plus the test counts.
    """
    rows = {}
    for key, result in results.items():
        ci = metrics_with_intervals(result.test_predictions, result.threshold, level=level, n=n_boot)
        row = {
            m: f"{ci.loc[m, 'value']:.{digits}f} [{ci.loc[m, 'low']:.{digits}f}, {ci.loc[m, 'high']:.{digits}f}]"
            for m in ci.index
        }
        rows[key] = {**row, f"{level}s": ci.attrs["n"], "cancers": ci.attrs["positives"]}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.names = ["variant", unit]
    return table


def paired_table(
    results: Mapping[tuple[str, int], Any],
    pairs: Sequence[tuple[str, str]],
    split: str = "val",
    metric: str = "roc_auc",
) -> pd.DataFrame:
    """Named pairs of arms (A, B) compared on one split with the paired patient-level bootstrap.

    Args:
        results: ``{(arm, seed): TrainResult}``.
        pairs: ``[(arm A, arm B), ...]``; a pair naming an arm without runs is skipped.
        split: ``val`` (the comparison that decides) or ``test``.
        metric: ``roc_auc`` or ``log_loss`` (:data:`~mammo_utils.evaluation.compare.METRICS`).

    Returns:
        One row per pair, indexed ``"A − B"``: :func:`~mammo_utils.evaluation.compare.paired_difference`'s fields,
        ``p`` as printed (``p < 0.001`` below the resampling's resolution) and the ``verdict`` sentence.
    """
    from ..evaluation.compare import format_p, paired_difference, verdict

    arms = arm_predictions(results, split)
    rows = {}
    for a, b in pairs:
        if a in arms and b in arms:
            test = paired_difference(arms[a], arms[b], metric)
            rows[f"{a} − {b}"] = {**test, "p": format_p(test["p_value"]), "verdict": verdict(a, b, test)}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = f"pair ({split})"
    return table
