"""Benchmark: every export format of one model, and of its pruned copy, on the same test images in one run.

Exports the model (``mammo_utils.export.convert.export_model``: parity-checked SavedModel, ONNX, TFLite fp16
and int8), optionally prunes a copy by magnitude and exports its int8 file too, then measures each format with
:func:`mammo_utils.export.benchmark.format_table`: file size (raw and gzip), load time, latency at batch 1 and
16 (median and p95), images/s, test breast ROC-AUC, its change against Keras and the breast decisions that
flip at the frozen threshold. Ratios are against Keras in the same run, and the issue's targets are checked.

    python benchmarks/bench_export.py --model data/work/runs/04_baseline --prune 0.5
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

TARGETS = {"onnx_speedup_b1": 1.5, "int8_size_ratio": 3.0, "int8_abs_delta_auc": 0.01}


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Run the benchmark and print the table; returns it."""
    from mammo_utils.config import get_config
    from mammo_utils.export.benchmark import benchmark_export
    from mammo_utils.utils import import_tensorflow

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="data/work/runs/04_baseline", help=".keras, run folder or models:/ ref")
    parser.add_argument("--out", default=None, help="export folder (default: <work>/export/bench)")
    parser.add_argument("--profile", default="small")
    parser.add_argument("--prune", type=float, default=0.5, help="sparsity of the pruned copy (0: skip it)")
    parser.add_argument("--repeats", type=int, default=30, help="timed calls per batch size")
    parser.add_argument("--threads", type=int, default=None, help="runtime threads (default: the runtime's)")
    args = parser.parse_args(argv)

    import_tensorflow()
    cfg = get_config(args.profile)
    out = Path(args.out or cfg.work_dir / "export" / "bench")
    table = benchmark_export(args.model, cfg, out, args.prune, args.repeats, args.threads, progress=print)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(table.round(4).to_string())
    checks = {
        "onnx_speedup_b1": table.loc["onnx", "speedup_b1"],
        "int8_size_ratio": table.loc["keras", "size_mb"] / table.loc["tflite-int8", "size_mb"],
        "int8_abs_delta_auc": abs(table.loc["tflite-int8", "delta_auc"]),
    }
    for name, value in checks.items():
        ok = value <= TARGETS[name] if name.endswith("delta_auc") else value >= TARGETS[name]
        print(f"{name}: {value:.3f} (target {'<=' if name.endswith('delta_auc') else '>='} {TARGETS[name]}) "
              f"{'met' if ok else 'MISSED'}")  # fmt: skip
    return table


if __name__ == "__main__":
    main()
