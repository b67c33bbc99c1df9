"""The classifier's Grad-CAM pointing game over every seed of the champion's arm, and the verdict over them.

The champion is one training run of its arm (04-06 train each arm with several seeds); one run's maps can point at
the lesions by luck. 07 repeats the pointing game (:func:`~mammo_utils.detection.evaluate.pointing_summary`) for
every seed of the champion's arm, found from its run name, and says Grad-CAM beats chance only if every seed does
(:func:`pointing_over_seeds`): a seed beats chance when the lower end of its margin's 95% patient-bootstrap interval
is above 0. Each seed also records how often its maps peak off the breast (``off_breast``, patient bootstrap too).

Example:
    >>> pg = {"hits": 8, "n": 10, "hit_rate": 0.8, "chance": 0.1, "margin": 0.7, "margin_ci": (0.4, 0.9)}
    >>> pointing_over_seeds([{"seed": 0, **pg}])["all_beat_chance"]
    True
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .evaluate import classifier_localisation, spread
from .train import DetectionData


def beats_chance(pointing: dict) -> bool:
    """True when a pointing game beats chance: the lower end of its margin's 95% patient-bootstrap interval is above 0.

    Args:
        pointing: A :func:`pointing_summary` result (``margin_ci``).

    Returns:
        Whether the hit rate is above the chance rate beyond the interval (False without an interval).

    Example:
        >>> beats_chance({"margin": 0.3, "margin_ci": (0.1, 0.5)})
        True
        >>> beats_chance({"margin": 0.1, "margin_ci": (-0.02, 0.2)})
        False
    """
    ci = pointing.get("margin_ci")
    return ci is not None and bool(np.isfinite(ci[0]) and ci[0] > 0)


def pointing_over_seeds(runs: list[dict]) -> dict:
    """The pointing-game verdict over the seeds of one classifier arm: "beats chance" only if every seed does.

    Args:
        runs: One entry per seed: ``seed``, ``run_name`` and a :func:`pointing_summary` (``hits``, ``n``,
            ``hit_rate``, ``hit_rate_ci``, ``chance``, ``margin``, ``margin_ci``), optionally ``off_breast``
            (:func:`~mammo_utils.evaluation.explain.peaks_off_breast`).

    Returns:
        ``runs`` (each with ``beats_chance`` added, sorted by seed), ``n`` seeds, ``seeds``, ``beating_seeds``,
        ``failing_seeds``, ``all_beat_chance`` (False for no seed), and ``hit_rate`` / ``margin`` (and
        ``off_breast_share``, ``off_breast_lesion_share``, ``off_breast_no_lesion_share`` when every run records
        them) as ``{"mean", "sd", "min", "max"}`` over seeds (sd NaN for one seed).

    Raises:
        ValueError: A run without ``seed`` or its margin.

    Example:
        >>> pg = {"hits": 8, "n": 10, "hit_rate": 0.8, "chance": 0.1, "margin": 0.7, "margin_ci": (0.4, 0.9)}
        >>> out = pointing_over_seeds([{"seed": 0, **pg}, {"seed": 1, **pg, "margin_ci": (-0.1, 0.3)}])
        >>> out["all_beat_chance"], out["failing_seeds"]
        (False, [1])
    """
    rows = []
    for run in runs:
        if "seed" not in run or "margin" not in run:
            raise ValueError(f"each run needs 'seed' and a pointing summary ('margin'), got keys {sorted(run)}")
        rows.append({**run, "beats_chance": beats_chance(run)})
    rows.sort(key=lambda r: r["seed"])
    out: dict = {"runs": rows, "n": len(rows), "seeds": [int(r["seed"]) for r in rows]}
    out["beating_seeds"] = [int(r["seed"]) for r in rows if r["beats_chance"]]
    out["failing_seeds"] = [int(r["seed"]) for r in rows if not r["beats_chance"]]
    out["all_beat_chance"] = bool(rows) and not out["failing_seeds"]
    for key in ("hit_rate", "margin"):
        out[key] = spread([r[key] for r in rows])
    if rows and all(r.get("off_breast") for r in rows):
        out["off_breast_share"] = spread([r["off_breast"]["share"] for r in rows])
        for kind in ("lesion", "no_lesion"):  # the split by images with / without a lesion, when recorded
            if all(r["off_breast"].get(kind) for r in rows):
                out[f"off_breast_{kind}_share"] = spread([r["off_breast"][kind]["share"] for r in rows])
    return out


def classifier_arm_runs(info: dict, runs_dir, ref) -> dict:
    """The seeds of a classifier's arm: its sibling runs with the same recipe, the classifier itself included.

    The arm comes from the classifier's run name (:func:`~mammo_utils.modeling.experiments.arm_seed_runs`), and
    a sibling counts only when its ``model_info.json`` records the same training recipe. A classifier that is not
    an arm's run (a single run, a pruned variant) stands alone.

    Args:
        info: The classifier's model info (``run_name``, ``recipe``), as :func:`resolve_model` returns it.
        runs_dir: The run folders (``cfg.runs_dir``).
        ref: How the classifier itself was loaded (a run folder or a ``models:/`` reference); kept for its seed.

    Returns:
        ``{seed: run folder or reference}`` sorted by seed.
    """
    from ..modeling.experiments import ARM_RUN, arm_seed_runs
    from ..modeling.run_state import load_model_info

    name = str(info.get("run_name") or "")
    match = ARM_RUN.fullmatch(name)
    own = int(match.group(2)) if match else 0
    runs = {
        seed: folder
        for seed, folder in arm_seed_runs(name, runs_dir).items()
        if seed != own and load_model_info(folder)[1].get("recipe") == info.get("recipe")
    }
    runs[own] = ref
    return dict(sorted(runs.items()))


def arm_localisation(runs: dict, data: DetectionData, known: dict | None = None) -> dict:
    """Grad-CAM pointing game of every seed of one classifier arm, with the verdict over seeds.

    Args:
        runs: ``{seed: run folder or model reference}`` (:func:`classifier_arm_runs`).
        data: The split frames and images (cache size).
        known: ``{seed: {"run_name", "registry_version", "off_breast", **pointing summary}}`` already scored (the
            champion's, from :func:`evaluate`): reused, not loaded and scored again.

    Returns:
        :func:`pointing_over_seeds` of the runs (each run also carries ``run_name``, ``registry_version`` and
        ``off_breast``: how often its maps peak off the breast over every test image).
    """
    from ..modeling.resolve import resolve_model

    known = known or {}
    rows = []
    for seed, ref in sorted(runs.items()):
        if seed in known:
            rows.append({"seed": int(seed), **known[seed]})
            continue
        model, info = resolve_model(ref)
        size = tuple(info["preprocessing"]["image_size"])
        found = classifier_localisation(model, data, size, maps=False)
        name = info.get("run_name") or str(ref)
        rows.append({"seed": int(seed), "run_name": name, "registry_version": info.get("registry_version"),
                     "off_breast": found["peaks_off_breast"], **found["pointing_game"]})  # fmt: skip
    return pointing_over_seeds(rows)


def champion_arm_localisation(
    ref, info: dict, pointing: dict, data: DetectionData, runs_dir, off_breast: dict | None = None
) -> dict:
    """The champion classifier's pointing game replicated over every seed of its arm (07's "over seeds" check).

    Args:
        ref: How the champion was loaded (run folder or ``models:/`` reference).
        info: Its model info (``run_name``, ``registry_version``, ``recipe``).
        pointing: Its pointing summary, already computed (``evaluate(...)["classifier"]["pointing_game"]``).
        data: The split frames and images (cache size).
        runs_dir: The run folders (``cfg.runs_dir``), where its arm's other seeds are.
        off_breast: Its peaks off the breast, already computed (``...["classifier"]["peaks_off_breast"]``).

    Returns:
        :func:`pointing_over_seeds` of the arm, plus ``champion_run``, ``champion_seed`` and ``other_seeds`` (the
        arm's seeds besides the champion's: their maps are extra scorings of the test split).
    """
    runs = classifier_arm_runs(info, runs_dir, ref)
    own = next(seed for seed, r in runs.items() if r is ref)
    own_info = {"run_name": info.get("run_name"), "registry_version": info.get("registry_version")}
    known = {own: {**own_info, **({"off_breast": off_breast} if off_breast else {}), **pointing}}
    out = arm_localisation(runs, data, known)
    others = [seed for seed in out["seeds"] if seed != own]
    return {**out, "champion_run": info.get("run_name"), "champion_seed": own, "other_seeds": others}


def arm_run_folders(seeds: dict, runs_dir) -> list[Path]:
    """The run folders of the classifier runs whose Grad-CAM :func:`champion_arm_localisation` scored.

    Args:
        seeds: :func:`champion_arm_localisation`'s result (each of its ``runs`` names its ``run_name``).
        runs_dir: The run folders (``cfg.runs_dir``); the champion, loaded from the registry, was trained there too.

    Returns:
        ``runs_dir / run_name`` per scored run, in seed order (for
        :func:`~mammo_utils.modeling.run_state.trained_runs`, which records a folder without a training record as
        such).

    Example:
        >>> [p.as_posix() for p in arm_run_folders({"runs": [{"run_name": "arm_t_s0"}, {"run_name": "arm_t_s1"}]}, "r")]
        ['r/arm_t_s0', 'r/arm_t_s1']
    """
    return [Path(runs_dir) / run["run_name"] for run in seeds.get("runs", [])]
