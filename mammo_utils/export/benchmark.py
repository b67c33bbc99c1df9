# Size: the measurement of every format in one run and the texts read from its table (parity, choice, intervals);
# each text reads the table's columns as the measurement names them.
"""Size, load time, latency, throughput and quality of every format of an export, measured in one run.

Example:
    >>> from mammo_utils.export.benchmark import format_table, recommend
    >>> table = format_table("data/work/export/champion", test)  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..constants import SERVED_RUNTIME
from ..evaluation.metrics import format_with_interval
from ..modeling.score import EvalSet
from .convert import compare
from .runtime import (
    FILES,
    MAX_AUC_DROP,
    MAX_FLIP_RATE,
    PARITY_TOLERANCE,
    gzipped_mb,
    load_artifact,
    open_runner,
    size_mb,
)


def auc_intervals(rows: pd.DataFrame, probs: np.ndarray, reference: np.ndarray, seed: int = 0) -> dict:
    """95% patient-bootstrap limits of a format's test breast AUC and of its change against Keras (paired).

    Args:
        rows: The scored images (``patient_id``, ``laterality``, ``cancer``).
        probs: The format's probabilities.
        reference: Keras' probabilities on the same images.
        seed: Resampling seed.

    Returns:
        ``breast_auc_low/high`` and ``delta_auc_low/high`` (NaN when a split has one class).
    """
    from ..evaluation.compare import paired_auc_difference
    from ..evaluation.evaluate import breast_predictions
    from ..evaluation.metrics import bootstrap_ci, roc_auc

    breasts = breast_predictions(rows, probs)
    y = breasts.cancer.to_numpy(int)
    if y.min() == y.max():
        return dict.fromkeys(("breast_auc_low", "breast_auc_high", "delta_auc_low", "delta_auc_high"), float("nan"))
    low, high = bootstrap_ci(y, breasts.prediction.to_numpy(float), roc_auc, seed=seed, groups=breasts.patient_id)
    pair = paired_auc_difference([rows.assign(prediction=probs)], [rows.assign(prediction=reference)], seed=seed)
    return {
        "breast_auc_low": low,
        "breast_auc_high": high,
        "delta_auc_low": pair["low"],
        "delta_auc_high": pair["high"],
    }


def change_columns(
    reference: np.ndarray,
    probs: np.ndarray,
    rows: pd.DataFrame,
    threshold: float,
    split: str = "test",
    candidate_threshold: float | None = None,
) -> dict:
    """A model's change against a reference model on the same images, as :func:`format_table` columns.

    Args:
        reference: The reference model's probabilities (Keras, or the model a pruned copy came from).
        probs: The compared model's probabilities on the same images.
        rows: The scored images (``patient_id``, ``laterality``, ``cancer``).
        threshold: The reference's frozen threshold.
        split: ``"test"``: ``max_abs_diff, breast_auc, delta_auc, flipped_breasts`` with the 95% patient-bootstrap
            limits of the AUC and of its change, paired on the same patients (:func:`auc_intervals`);
            ``"validation"``: the same values prefixed ``val_`` with ``val_breasts``, no limits (what the choice
            of a format reads).
        candidate_threshold: The compared model's own threshold when it is another model (see
            :func:`~mammo_utils.export.convert.compare`).

    Returns:
        The columns.

    Raises:
        ValueError: ``split`` is neither ``"test"`` nor ``"validation"``.

    Example:
        >>> change_columns(keras_probs, int8_probs, test.rows, 0.31)["delta_auc_low"]  # doctest: +SKIP
    """
    if split not in ("test", "validation"):
        raise ValueError(f"split must be 'test' or 'validation', got {split!r}")
    result = compare(reference, probs, rows, threshold, candidate_threshold)
    if split == "validation":
        return {f"val_{k}": v for k, v in result.items()}
    del result["breasts"]
    return {**result, **auc_intervals(rows, probs, reference)}


def keras_change(
    folder: str | Path,
    against: str | Path,
    test: EvalSet,
    validation: EvalSet | None = None,
    threads: int | None = None,
) -> dict:
    """The change of one export's Keras model against another export's (a pruned copy against its source model).

    Each model decides at its own frozen threshold (the pruned copy's is re-frozen on validation).

    Args:
        folder: The compared export (e.g. ``<out>_pruned``).
        against: The reference export (e.g. ``<out>``).
        test: Test images (:func:`change_columns` with its paired patient-bootstrap limits).
        validation: Validation images (the ``val_*`` columns), or None.
        threads: Runtime threads.

    Returns:
        :func:`change_columns` of both splits.

    Example:
        >>> keras_change("export/champion_pruned", "export/champion", test)["delta_auc"]  # doctest: +SKIP
    """
    model, reference = open_runner(folder, "keras", threads), open_runner(against, "keras", threads)
    thresholds = {"threshold": load_artifact(against)["threshold"]}
    thresholds["candidate_threshold"] = load_artifact(folder)["threshold"]
    change = {}
    for split, data in (("test", test), ("validation", validation)):
        if data is not None:
            ref, probs = reference.predict_batched(data.images), model.predict_batched(data.images)
            change.update(change_columns(ref, probs, data.rows, split=split, **thresholds))
    return change


def delta_reference(name: str, row: pd.Series | dict) -> str:
    """The model a format row's change columns (``*delta_auc*``, ``*flipped_breasts``) are measured against.

    Args:
        name: The row's format (``tflite-int8``, ``pruned50+keras`` ...).
        row: The row; its ``delta_against`` names the model. A table written before that column: Keras for an
            unpruned format, the pruned copy's Keras model for a pruned row.

    Returns:
        The reference's row name (the row's own name: the row is that reference).

    Example:
        >>> delta_reference("pruned50+tflite-int8", {}), delta_reference("pruned50+keras", {"delta_against": "keras"})
        ('pruned50+keras', 'keras')
    """
    against = row.get("delta_against")
    if isinstance(against, str) and against:
        return against
    return f"{name.split('+')[0]}+keras" if "+" in name else "keras"


def interval_text(row: pd.Series, field: str, fmt: str = ".3f") -> str:
    """A table row's value with its 95% limits (the ``<field>_low`` / ``<field>_high`` columns) for reading.

    Args:
        row: One format's row of a :func:`format_table`.
        field: ``breast_auc`` or ``delta_auc``.
        fmt: Number format.

    Returns:
        ``value [low, high]`` (the value alone where the row has no finite limits).

    Example:
        >>> interval_text(pd.Series({"delta_auc": 0.0024, "delta_auc_low": -0.0003, "delta_auc_high": 0.0071}),
        ...               "delta_auc", "+.4f")
        '+0.0024 [-0.0003, +0.0071]'
    """
    limits = (row.get(f"{field}_low", float("nan")), row.get(f"{field}_high", float("nan")))
    return format_with_interval(float(row[field]), limits, fmt)


def format_table(
    folder: str | Path,
    test: EvalSet,
    formats: Sequence[str] | None = None,
    repeats: int = 20,
    threads: int | None = None,
    validation: EvalSet | None = None,
) -> pd.DataFrame:
    """Size, load time, latency, throughput and test AUC of every format of an export, in one run.

    Args:
        folder: Export folder.
        test: Test images (the AUC and Δ AUC columns, information only) — latency uses its first 16 images.
        formats: Formats to measure (default: all in ``model.json``).
        repeats: Timed calls per batch size.
        threads: Runtime threads.
        validation: Validation images: adds ``val_breast_auc`` / ``val_delta_auc``, ``val_flipped_breasts`` /
            ``val_breasts`` and ``val_max_abs_diff``, the columns :func:`recommend` chooses on (so no test patient
            chooses a format).

    Returns:
        One row per format: ``size_mb, gzip_mb, load_s, ms_b1_median, ms_b1_p95, ms_b16_median, ms_b16_p95,
        images_per_s, breast_auc, delta_auc, flipped_breasts`` (test; the AUC and its change with their 95%
        patient-bootstrap limits ``*_low``/``*_high``, :func:`auc_intervals`), ``val_*`` (with ``validation``),
        ``delta_against`` (the model the changes are measured against: ``keras``, the folder's Keras model) and
        ``speedup_b1`` / ``size_ratio`` against Keras.
    """
    manifest = load_artifact(folder)
    folder = Path(folder)
    formats = list(formats or manifest["formats"])
    threshold = manifest["threshold"]
    reference = val_reference = None
    rows = []
    for fmt in formats:
        start = time.perf_counter()
        runner = open_runner(folder, fmt, threads)
        load_s = time.perf_counter() - start
        probs = runner.predict_batched(test.images)
        if reference is None:
            reference = probs if fmt == "keras" else open_runner(folder, "keras").predict_batched(test.images)
        row = {"format": fmt, "size_mb": size_mb(folder / FILES[fmt]), "load_s": load_s}
        row["gzip_mb"] = gzipped_mb(folder / FILES[fmt]) if (folder / FILES[fmt]).is_file() else float("nan")
        for batch in (1, 16):
            x = np.resize(test.images, (batch, *test.images.shape[1:]))  # repeats images when fewer than batch
            runner.predict(x)  # warm-up (and TFLite tensor allocation)
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                runner.predict(x)
                times.append(time.perf_counter() - t0)
            row[f"ms_b{batch}_median"] = 1000 * float(np.median(times))
            row[f"ms_b{batch}_p95"] = 1000 * float(np.quantile(times, 0.95))
        row["images_per_s"] = 16 / (row["ms_b16_median"] / 1000)
        row["delta_against"] = "keras"  # this folder's Keras model
        row.update(change_columns(reference, probs, test.rows, threshold))
        if validation is not None:
            val_probs = runner.predict_batched(validation.images)
            if val_reference is None:
                keras = runner if fmt == "keras" else open_runner(folder, "keras")
                val_reference = val_probs if fmt == "keras" else keras.predict_batched(validation.images)
            row.update(change_columns(val_reference, val_probs, validation.rows, threshold, "validation"))
        rows.append(row)
    table = pd.DataFrame(rows).set_index("format")
    if "keras" in table.index:
        table["speedup_b1"] = table.loc["keras", "ms_b1_median"] / table["ms_b1_median"]
        table["size_ratio"] = table.loc["keras", "size_mb"] / table["size_mb"]
    return table


def recommend(table: pd.DataFrame, max_auc_drop: float = 0.01, max_flip_rate: float = MAX_FLIP_RATE) -> dict[str, str]:
    """Which format to use where, computed from a :func:`format_table`, among the formats that keep the decisions.

    A format qualifies when, on **validation** (never a test patient), it flips at most ``max_flip_rate`` of the
    breast decisions at the frozen threshold and moves breast AUC by at most ``max_auc_drop``. The flip rate is the
    condition that can fail when AUC is saturated (a model at validation AUC 1.000 keeps it under any monotone
    distortion, while its calls at the threshold still move). Tables without the validation columns fall back to
    the test ``delta_auc`` and ``flipped_breasts``.

    Args:
        table: :func:`format_table` rows.
        max_auc_drop: Largest |Δ breast AUC| against Keras.
        max_flip_rate: Largest share of breast decisions that may flip against Keras.

    Returns:
        ``{"api_cpu": fmt, "edge": fmt, "batch": fmt}``: lowest p95 latency at batch 1 (a service answers every
        request, so its slow calls count; the model call alone, while the service serves
        :data:`~mammo_utils.constants.SERVED_RUNTIME` unless told otherwise, see :func:`summary_markdown`), smallest
        file, highest images/s at batch 16.
    """
    ok = table[qualifies(table, max_auc_drop, max_flip_rate)]
    return {
        "api_cpu": str(ok.ms_b1_p95.idxmin()),
        "edge": str(ok.size_mb.idxmin()),
        "batch": str(ok.images_per_s.idxmax()),
    }


def qualifies(table: pd.DataFrame, max_auc_drop: float = 0.01, max_flip_rate: float = MAX_FLIP_RATE) -> pd.Series:
    """Per format: does it keep the decisions (flip rate and |Δ AUC| within bounds; see :func:`recommend`)?

    Args:
        table: :func:`format_table` rows.
        max_auc_drop: Largest |Δ breast AUC| against Keras (NaN, a one-class split, is not a failure).
        max_flip_rate: Largest share of breast decisions that may flip.

    Returns:
        A boolean Series indexed by format.
    """
    val = "val_delta_auc" in table
    delta = table["val_delta_auc"] if val else table["delta_auc"]
    flips = table["val_flipped_breasts"] if "val_flipped_breasts" in table else table.get("flipped_breasts")
    breasts = table["val_breasts"] if "val_breasts" in table else table.get("breasts")
    keep = ~(delta.abs() > max_auc_drop)
    if flips is not None and breasts is not None:
        keep &= ~(flips / breasts.where(breasts > 0) > max_flip_rate)
    return keep


def benchmark_export(
    ref: str | Path,
    cfg,
    out: str | Path,
    prune: float = 0.5,
    repeats: int = 30,
    threads: int | None = None,
    progress=None,
    max_auc_drop: float = MAX_AUC_DROP,
    strict: bool = False,
    detector: str | Path | None = None,
    max_flip_rate: float = MAX_FLIP_RATE,
) -> pd.DataFrame:
    """Export a model, optionally a pruned copy (int8), and measure every format on the test split in one run.

    Args:
        ref: The model (see :func:`mammo_utils.modeling.resolve.resolve_model`).
        cfg: Configuration locating its data.
        out: Export folder; the pruned copy goes to ``<out>_pruned``.
        prune: Sparsity of the pruned copy (0 skips it).
        repeats: Timed calls per batch size.
        threads: Runtime threads.
        progress: Called with a line per export step.
        max_auc_drop: Export gate for the TFLite files (see :func:`~mammo_utils.export.convert.export_model`).
        strict: Refuse the whole export when a format fails its gate (False: ship the formats that pass).
        detector: A lesion detector folder bundled by the export (listed in ``model.json``; not in the pruned copy).
        max_flip_rate: Export gate: largest share of validation breast decisions a TFLite file may flip.

    Returns:
        :func:`format_table` rows, plus ``pruned<NN>+keras`` / ``pruned<NN>+tflite-int8`` rows whose ratios are
        against the unpruned Keras model. ``delta_against`` names each row's reference for the change columns:
        ``keras`` for the unpruned formats and for ``pruned<NN>+keras`` (what pruning and its fine-tuning changed,
        :func:`keras_change`, paired on the same patients), ``pruned<NN>+keras`` for the pruned int8 file (what
        quantisation changed).
    """
    from ..modeling.prune import prune_model
    from .convert import export_model, model_data

    out = Path(out)
    manifest = export_model(
        ref, out, cfg, max_auc_drop=max_auc_drop, progress=progress, strict=strict, detector=detector,
        max_flip_rate=max_flip_rate,
    )  # fmt: skip
    test, _ = model_data(cfg, manifest, 1)  # information only: the table's test AUC columns
    validation, _ = model_data(cfg, manifest, 1, split="validation")  # what recommend() chooses on
    table = format_table(out, test, repeats=repeats, threads=threads, validation=validation)
    if prune:
        pruned_out = out.with_name(out.name + "_pruned")
        pruned_run = prune_model(ref, cfg, prune)
        label = f"pruned{round(100 * prune)}"
        say = (lambda line: progress(f"[{label} copy] {line}")) if progress else None  # not the unpruned formats
        kept = export_model(pruned_run, pruned_out, cfg, ["tflite-int8"], max_auc_drop=max_auc_drop, progress=say,
                            strict=strict, max_flip_rate=max_flip_rate)["formats"]  # fmt: skip
        formats = [f for f in ("keras", "tflite-int8") if f in kept]
        pruned = format_table(
            pruned_out, test, formats=formats, repeats=repeats, threads=threads, validation=validation
        )
        pruned["delta_against"] = f"{label}+keras"
        change = keras_change(pruned_out, out, test, validation, threads)  # the pruned model against its source
        pruned.loc["keras", list(change)] = list(change.values())
        pruned.loc["keras", "delta_against"] = "keras"
        pruned.index = [f"{label}+{i}" for i in pruned.index]
        pruned["speedup_b1"] = table.loc["keras", "ms_b1_median"] / pruned.ms_b1_median
        pruned["size_ratio"] = table.loc["keras", "size_mb"] / pruned.size_mb
        table = pd.concat([table, pruned])
    return table


def parity_markdown(manifest: dict) -> str:
    """One paragraph on an export's parity with Keras, computed from ``model.json`` (refused formats included).

    Args:
        manifest: ``model.json`` content.

    Returns:
        Markdown text.
    """
    t, parity = manifest["training"], manifest["parity"]
    split = parity.get("split", "test")  # exports made before the gate moved to validation scored test
    n_gate = parity.get("images", parity.get("test_images"))
    text = (
        f"The exported model is run `{t['run_name']}` (architecture `{manifest['backbone']}`, registry version "
        f"{t['registry_version']}), input {manifest['input']['shape'][1:]} {manifest['input']['dtype']}, frozen "
        f"threshold {manifest['threshold']:.3f}. On its {n_gate} {split} images (the export gate)"
    )
    floats = [f"{fmt} differs from Keras by at most {parity[fmt]['max_abs_diff']:.1e}"
              for fmt in ("onnx", "savedmodel") if fmt in parity]  # fmt: skip
    text += " " + " and ".join(floats) + "." if floats else "."
    for fmt in ("tflite-fp16", "tflite-int8"):
        if fmt in parity:
            p = parity[fmt]
            text += (
                f" {fmt} moves probabilities by up to {p['max_abs_diff']:.3f} and the {split} breast AUC by "
                f"{p['delta_auc']:+.4f}, flipping {p['flipped_breasts']} of {p['breasts']} breast decisions."
            )
    for fmt, why in manifest.get("refused", {}).items():
        text += f" **{fmt} was refused by the export gate**: {why['reason']}."
    return text


def _decision_change(row: pd.Series) -> str:
    """``flips k/n, max|Δp| x`` of one format row, on validation when the row has it."""
    v = "val_flipped_breasts" in row.index and pd.notna(row.get("val_flipped_breasts"))
    flips, n = (row.val_flipped_breasts, row.val_breasts) if v else (row.get("flipped_breasts"), row.get("breasts"))
    diff = row.get("val_max_abs_diff") if v else row.get("max_abs_diff")
    parts = [f"flips {int(flips)}/{int(n)}"] if pd.notna(flips) and pd.notna(n) else []
    parts += [f"max|Δp| {diff:.3g}"] if pd.notna(diff) else []
    return ", ".join(parts) or "no comparison"


def _served_text(base: pd.DataFrame, fastest: str, served: str) -> str:
    """Which format the API serves and why, beside the fastest model-only candidate (computed from the table).

    Args:
        base: The unpruned format rows.
        fastest: The candidate with the lowest p95 latency at batch 1.
        served: The service's default runtime.

    Returns:
        Markdown sentences.
    """
    head = f" **The API serves `{served}`**, the service's default (`MAMMO_RUNTIME` names another format)"
    if served == fastest:
        return head + ": the fastest candidate here as well."
    if served not in base.index:
        return head + ", which this export does not hold (refused or not written): set `MAMMO_RUNTIME` to serve it."
    s, f = base.loc[served], base.loc[fastest]
    tolerance = PARITY_TOLERANCE.get(served)
    why = (
        f"the export gate holds it to Keras within {tolerance:g} on every probability ({_decision_change(s)}), "
        f"while `{fastest}` is held only to the AUC and flip bounds ({_decision_change(f)})"
        if tolerance is not None
        else f"the service is configured so ({_decision_change(s)}; `{fastest}`: {_decision_change(f)})"
    )
    return head + (
        f": p95 {s.ms_b1_p95:.2f} ms, median {s.ms_b1_median:.2f} ms, {s.ms_b1_p95 - f.ms_b1_p95:.2f} ms slower than "
        f"`{fastest}` at p95, because {why}. A request's time is mostly the DICOM decode (the final report's load "
        "test), so the model-only gap changes little there."
    )


def summary_markdown(table: pd.DataFrame, max_auc_drop: float = 0.01, served: str = SERVED_RUNTIME) -> str:
    """What the table says, as Markdown computed from its values (the notebook's conclusion).

    Args:
        table: A :func:`benchmark_export` table.
        max_auc_drop: |Δ AUC| a format may lose and still be recommended.
        served: The format the API serves (the service's default, :data:`~mammo_utils.constants.SERVED_RUNTIME`).

    Returns:
        Markdown text.
    """
    base = table.loc[[i for i in table.index if not i.startswith("pruned")]]
    pick = recommend(base, max_auc_drop)
    gate = "validation" if "val_delta_auc" in table else "test"
    k = table.loc["keras"]
    kept = base.index[qualifies(base, max_auc_drop)].tolist()
    out = [f for f in base.index if f not in kept]
    api, edge, batch = (base.loc[pick[key]] for key in ("api_cpu", "edge", "batch"))
    q = table.loc["tflite-int8"] if "tflite-int8" in table.index else None
    pruned_int8 = [i for i in table.index if i.startswith("pruned") and i.endswith("tflite-int8")]
    int8 = (
        f"int8 moves the test breast AUC by {interval_text(q, 'delta_auc', '+.4f')} (95% paired patient bootstrap) "
        f"and flips {int(q.flipped_breasts)} test breast decision(s) at the frozen threshold (information only)."
        if q is not None
        else "the unpruned int8 file failed the export gate (see above), so it is not shipped"
        + (
            f"; the pruned copy's int8 file passed (row `{pruned_int8[0]}` above)."
            if pruned_int8
            else "; the pruned copy's int8 file was refused by the gate as well (its line above)."
            if any(i.startswith("pruned") for i in table.index)
            else "."
        )
    )
    lines = [
        f"- **Candidates**: the unpruned formats (the pruned copy is a separately fine-tuned model, below) that keep "
        f"the {gate} decisions — at most {MAX_FLIP_RATE:.0%} of breast calls flipped at the frozen threshold and "
        f"|Δ {gate} AUC| ≤ {max_auc_drop} against Keras (stricter than the export gate, which refuses a file only "
        "past its own AUC drop): "
        + ", ".join(f"`{f}` ({_decision_change(base.loc[f])})" for f in kept)
        + ("; left out: " + ", ".join(f"`{f}` ({_decision_change(base.loc[f])})" for f in out) if out else "")
        + ".",
        f"- **Fastest model-only runtime on this CPU: `{pick['api_cpu']}`** — the lowest p95 latency at batch 1 "
        f"among the candidates, the model call alone (no decoding, no preprocessing): p95 {api.ms_b1_p95:.2f} ms, "
        f"median {api.ms_b1_median:.2f} ms (Keras: p95 {k.ms_b1_p95:.2f} ms, median {k.ms_b1_median:.2f} ms), over "
        "the timed calls of this one run." + _served_text(base, pick["api_cpu"], served),
        f"- **Edge device: `{pick['edge']}`** — {edge.size_mb:.2f} MB, {edge.size_ratio:.1f}× smaller than Keras' "
        f"{k.size_mb:.2f} MB; " + int8,
        f"- **Batch scoring: `{pick['batch']}`** — {batch.images_per_s:.0f} images/s at batch 16 "
        f"against Keras' {k.images_per_s:.0f}.",
    ]
    pruned = pruned_int8
    if pruned and q is not None:
        p = table.loc[pruned[0]]
        # faster only when the pruned file's slow calls beat the unpruned file's typical call: a gap between two
        # medians of a few timed calls is within their run-to-run spread
        faster = p.ms_b1_p95 < q.ms_b1_median
        lines.append(
            f"- **Pruning** ({pruned[0].split('+')[0]}): the int8 file gzips to {p.gzip_mb:.2f} MB against "
            f"{q.gzip_mb:.2f} MB unpruned ({q.gzip_mb / p.gzip_mb:.2f}× smaller); raw size {p.size_mb:.2f} MB against "
            f"{q.size_mb:.2f} MB; batch-1 latency {p.ms_b1_median:.2f} ms against {q.ms_b1_median:.2f} ms"
            + (f" — faster (its 95th percentile, {p.ms_b1_p95:.2f} ms, is below the unpruned median)." if faster
               else f" — no faster beyond the spread of the timed calls (95th percentile {p.ms_b1_p95:.2f} ms): "
               "dense CPU kernels do not skip zeros, so sparsity buys compressed size only.")
        )  # fmt: skip
    return "\n".join(lines + _pruned_changes(table))


def _pruned_changes(table: pd.DataFrame) -> list[str]:
    """The pruned rows' test AUC changes, each against the model :func:`delta_reference` names, as one bullet.

    Args:
        table: A :func:`benchmark_export` table.

    Returns:
        One Markdown line, or none when no pruned row is measured against another model.
    """
    parts = []
    for name, row in table.iterrows():
        against = delta_reference(str(name), row)
        if str(name).startswith("pruned") and against != name:
            what = "pruning and its fine-tuning" if against == "keras" else f"the {str(name).split('+', 1)[1]} file"
            parts.append(
                f"`{name}` {interval_text(row, 'delta_auc', '+.4f')} against `{against}` (what {what} changed)"
            )
    if not parts:
        return []
    return ["- **Test AUC changes of the pruned copy** (95% paired patient bootstrap, information only): "
            + "; ".join(parts) + "."]  # fmt: skip
