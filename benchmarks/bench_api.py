"""Benchmark: the REST service under a bounded loopback load, with full-size JPEG 2000 DICOMs.

Starts ``mammo serve`` on an export folder (as a user would), then in one run:

1. one client, sequential requests: p50/p95/p99 latency and requests/s;
2. ``--concurrency`` clients (default 8), ``--requests`` requests (default 1,000): the same figures, throughput
   as a ratio of the one-client rate, the count of non-2xx and of 5xx, the server's RSS before and after;
3. the same with ``--bad-share`` (default 10%) bad uploads mixed in (text, truncated DICOM, empty file).

The DICOMs are synthetic mammograms of the embedded generator at RSNA's common full size (4096x3328, JPEG 2000
lossless), made once under ``<work>/bench_api``. Target on a 2-core CPU: one client p95 <= 1.0 s end to end.

    python benchmarks/bench_api.py --model data/work/export/champion --requests 1000
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def full_size_dicoms(folder: Path, size: tuple[int, int], patients: int = 2) -> list[Path]:
    """Synthetic full-size DICOMs (made once)."""
    from mammo_utils.data.synthetic import generate_dataset

    if not (folder / "train.csv").is_file():
        generate_dataset(folder, n_patients=patients, image_size=size, prevalence=0.5, seed=11, workers=2)
    return sorted((folder / "train_images").rglob("*.dcm"))


def bad_uploads(good: bytes) -> list[tuple[str, bytes]]:
    """Three kinds of bad upload: not an image, a truncated DICOM, an empty file."""
    return [("notes.dcm", b"not a mammogram " * 64), ("cut.dcm", good[: len(good) // 3]), ("empty.dcm", b"")]


def run_load(url: str, items: list[tuple[str, bytes]], n: int, concurrency: int) -> pd.DataFrame:
    """Send ``n`` uploads (cycling through ``items``) with ``concurrency`` clients; one row per request."""

    def one(i: int) -> dict:
        name, data = items[i % len(items)]
        with httpx.Client(timeout=120) as client:
            t0 = time.perf_counter()
            status = client.post(f"{url}/v1/predict", files={"file": (name, data, "application/dicom")}).status_code
            return {"status": status, "seconds": time.perf_counter() - t0}

    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        return pd.DataFrame(list(pool.map(one, range(n))))


def summarise(rows: pd.DataFrame, wall: float, label: str) -> dict:
    """Latency percentiles of the 2xx requests, requests/s, non-2xx and 5xx counts."""
    ok = rows[rows.status < 300].seconds
    return {
        "run": label,
        "requests": len(rows),
        "p50_s": float(np.quantile(ok, 0.5)) if len(ok) else float("nan"),
        "p95_s": float(np.quantile(ok, 0.95)) if len(ok) else float("nan"),
        "p99_s": float(np.quantile(ok, 0.99)) if len(ok) else float("nan"),
        "requests_per_s": len(rows) / wall,
        "non_2xx": int((rows.status >= 300).sum()),
        "5xx": int((rows.status >= 500).sum()),
    }


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Run the benchmark and print the table; returns it."""
    from mammo_utils.config import get_config
    from mammo_utils.serving.client import wait_ready
    from mammo_utils.serving.demo import free_port

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="data/work/export/champion", help="export folder")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--single", type=int, default=40, help="requests of the one-client run")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--bad-share", type=float, default=0.1)
    parser.add_argument("--size", default="4096x3328", help="DICOM rows x columns")
    parser.add_argument(
        "--out", default=None, help="also write the results as JSON (e.g. reports/benchmarks/api_load.json)"
    )
    args = parser.parse_args(argv)

    rows, cols = (int(v) for v in args.size.split("x"))
    files = full_size_dicoms(get_config("small").work_dir / "bench_api" / args.size, (rows, cols))
    good = [(p.name, p.read_bytes()) for p in files]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "mammo_utils", "serve", "--model", args.model, "--port", str(port)]
    env = {**os.environ, "MAMMO_FEEDBACK_DB": str(Path(files[0]).parents[2] / "bench_feedback.db")}
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not wait_ready(url, timeout=120, process=server):
            raise SystemExit(f"{url}: the server did not become ready in 120 s")
        run_load(url, good, 4, 1)  # warm-up: first decodes, thread pools
        results, rss = [], {"start": _rss_mb(server.pid)}
        start = time.perf_counter()
        single = run_load(url, good, args.single, 1)
        results.append(summarise(single, time.perf_counter() - start, "1 client"))
        start = time.perf_counter()
        many = run_load(url, good, args.requests, args.concurrency)
        results.append(summarise(many, time.perf_counter() - start, f"{args.concurrency} clients"))
        rss["after_load"] = _rss_mb(server.pid)
        bad = bad_uploads(good[0][1])
        every = max(1, round(1 / args.bad_share)) if args.bad_share > 0 else args.requests + 1
        mixed_items = [
            bad[(i // every) % len(bad)] if i % every == every - 1 else good[i % len(good)]
            for i in range(args.requests)
        ]
        start = time.perf_counter()
        mixed = run_load(url, mixed_items, args.requests, args.concurrency)
        results.append(
            summarise(mixed, time.perf_counter() - start, f"{args.concurrency} clients, {args.bad_share:.0%} bad")
        )
        rss["after_bad"] = _rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(30)
    table = pd.DataFrame(results).set_index("run")
    table["throughput_vs_1_client"] = table.requests_per_s / table.loc["1 client", "requests_per_s"]
    print(f"{len(files)} DICOMs {args.size} JPEG 2000, {np.mean([len(d) for _, d in good]) / 1e6:.1f} MB each")
    with pd.option_context("display.width", 200):
        print(table.round(3).to_string())
    print("server RSS MB:", {k: round(v, 1) for k, v in rss.items()})
    print(f"one-client p95 {table.loc['1 client', 'p95_s']:.3f} s (target <= 1.0 s)")
    if args.out:
        import json
        import platform

        from mammo_utils.reporting import provenance
        from mammo_utils.utils import write_atomic

        record = {
            "benchmark": "benchmarks/bench_api.py",
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
            "dicom": {
                "size": args.size,
                "files": len(files),
                "mb_each": float(np.mean([len(d) for _, d in good]) / 1e6),
            },
            "model": provenance.portable_path(args.model),  # never this machine's absolute path
            "provenance": provenance.record(args.model),  # the export's digest: `mammo report` checks it
            "runs": table.reset_index().to_dict("records"),
            "rss_mb": rss,
        }
        write_atomic(Path(args.out), json.dumps(record, indent=1, default=float).encode())
        print("written:", args.out)
    return table


if __name__ == "__main__":
    main()
