"""Comparing model variants over seeds: selection on validation, test with patient-level intervals, computed prose.

Example:
    >>> # results = {("baseline", 0): TrainResult, ("baseline", 1): TrainResult, ...}
    >>> # runs, variants = summarise_variants(results)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..evaluation.evaluate import metrics_with_intervals


def summarise_variants(results: dict, n_boot: int = 500, unit: str = "seed") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-run and per-variant tables of a comparison repeated over seeds (or over cross-validation folds).

    Args:
        results: ``{(variant, seed or fold): TrainResult}``.
        n_boot: Bootstrap resamples of the per-run test intervals (patient-level).
        unit: What the second key is: ``seed`` or ``fold`` (names the index level and the count column).

    Returns:
        ``(runs, variants)``. ``runs``: one row per (variant, seed) with validation breast AUC, test breast AUC and
        its patient-level 95% interval, test sensitivity/specificity at the frozen threshold, the stages trained and
        whether the backbone started from loaded weights. ``variants``: mean and sd over seeds of the validation
        and test breast AUC, **sorted by validation mean** (the selection rule; the test split never ranks).
    """
    rows = []
    for (variant, seed), result in results.items():
        test = metrics_with_intervals(result.test_predictions, result.threshold, n=n_boot, seed=int(seed))
        stages = list(dict.fromkeys(result.history.get("stage", pd.Series(["single"])).astype(str)))
        rows.append(
            {
                "variant": variant,
                unit: seed,
                "val breast AUC": result.val["breast"]["roc_auc"],
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
    return runs, variant_summary(runs, unit)


def variant_summary(runs: pd.DataFrame, unit: str = "seed") -> pd.DataFrame:
    """Mean and sd over seeds (or folds) per variant, **sorted by validation mean** (the selection rule).

    Args:
        runs: Per-run table with ``val breast AUC``, ``test breast AUC`` and ``train s``, indexed (variant, unit).
        unit: ``seed`` or ``fold`` (names the count column).

    Returns:
        One row per variant: count, validation and test breast AUC mean and sd, mean training seconds.
    """
    grouped = runs.groupby(level="variant")
    return pd.DataFrame(
        {
            f"{unit}s": grouped.size(),
            "val AUC mean": grouped["val breast AUC"].mean(),
            "val AUC sd": grouped["val breast AUC"].std(ddof=1),
            "test AUC mean": grouped["test breast AUC"].mean(),
            "test AUC sd": grouped["test breast AUC"].std(ddof=1),
            "train s (mean)": grouped["train s"].mean(),
        }
    ).sort_values("val AUC mean", ascending=False)


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
        ci = metrics_with_intervals(result.test_predictions, result.threshold, level=level, n=n_boot, seed=int(key[1]))
        row = {
            m: f"{ci.loc[m, 'value']:.{digits}f} [{ci.loc[m, 'low']:.{digits}f}, {ci.loc[m, 'high']:.{digits}f}]"
            for m in ci.index
        }
        rows[key] = {**row, f"{level}s": ci.attrs["n"], "cancers": ci.attrs["positives"]}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.names = ["variant", unit]
    return table


def transfer_conclusion(runs: pd.DataFrame, variants: pd.DataFrame, pretrained: str, random: str) -> str:
    """Markdown: the model chosen on validation and what the transfer comparison shows, from the tables' values.

    Args:
        runs: :func:`summarise_variants` per-run table.
        variants: :func:`summarise_variants` per-variant table.
        pretrained: Variant name of the source-pretrained (or ImageNet) backbone.
        random: Variant name of the same backbone from random initialisation.

    Returns:
        Markdown text.
    """
    chosen = variants.index[0]
    lines = [
        f"- **Chosen on validation: {chosen}** (validation breast AUC {variants.loc[chosen, 'val AUC mean']:.3f} "
        f"± {np.nan_to_num(variants.loc[chosen, 'val AUC sd']):.3f} over {int(variants.loc[chosen, 'seeds'])} seeds); "
        f"its test breast AUC is {variants.loc[chosen, 'test AUC mean']:.3f} ± "
        f"{np.nan_to_num(variants.loc[chosen, 'test AUC sd']):.3f}. The test split did not take part in the choice."
    ]
    if pretrained in variants.index and random in variants.index:
        lines += _transfer_lines(runs, variants, pretrained, random)
    return "\n".join(lines)


def _transfer_lines(runs: pd.DataFrame, variants: pd.DataFrame, pretrained: str, random: str) -> list[str]:
    """The pretrained-against-random sentences: the validation difference beside the seed spread, then test."""
    p, r = variants.loc[pretrained], variants.loc[random]
    diff = p["val AUC mean"] - r["val AUC mean"]
    spread = float(np.nanmax([p["val AUC sd"], r["val AUC sd"], 0.0]))
    verb = "higher" if diff > 0 else "lower"
    if diff > spread:
        judged = (
            f"larger than the spread between seeds (sd up to {spread:.3f}): at this budget the pretrained start helped"
        )
    elif diff < -spread:
        judged = f"beyond the spread between seeds (sd up to {spread:.3f}): at this budget the pretrained start hurt"
    else:
        judged = (
            f"within the spread between seeds (sd up to {spread:.3f}): at this budget these runs show no transfer "
            "effect that the seeds can separate"
        )
    p_runs, r_runs = runs.loc[pretrained], runs.loc[random]
    above = p_runs["test AUC low"].min() > r_runs["test AUC high"].max()
    below = r_runs["test AUC low"].min() > p_runs["test AUC high"].max()
    if above:
        test_line = f"- On test every {pretrained} interval lies above every {random} interval."
    elif below:
        test_line = f"- On test every {random} interval lies above every {pretrained} interval."
    else:
        test_line = (
            f"- On test ({p['test AUC mean']:.3f} against {r['test AUC mean']:.3f}, means over seeds) the per-run "
            "intervals overlap: the test split cannot rank the two either."
        )
    return [
        f"- **Transfer:** {pretrained} reaches a validation breast AUC {abs(diff):.3f} {verb} than {random} "
        f"({p['val AUC mean']:.3f} against {r['val AUC mean']:.3f}, means over seeds, same epoch budget), {judged}.",
        test_line,
    ]
