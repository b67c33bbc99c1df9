"""Soak: the service's resident memory over a bounded run of uploads; does it level off?

Starts ``mammo serve`` on an export folder, warms it up, then sends ``--requests`` uploads (default 2,000) with
``--concurrency`` clients (default 2), reading the server's RSS (``VmRSS``) every ``--every`` requests. The JSON
(``--out``, default ``<work>/bench_api/soak.json``) holds the curve and its summary: RSS at start, after 10% of
the requests, at the end, and the least-squares slope over the last half in MB per 1,000 requests (near 0: it
levelled off). Paths in it are relative to the repository; the export's version and run id are recorded.

    python benchmarks/soak_api.py --model data/work/export/champion --files ../shared/real-rsna/train_images
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import time
from pathlib import Path

import httpx

from mammo_utils.modeling.artifact import load_artifact
from mammo_utils.modeling.artifact import record as provenance_record
from mammo_utils.serving.loadtest import post_upload, rss_mb, served, slope_mb_per_1000
from mammo_utils.utils import portable_path, to_json

REPO = Path(__file__).resolve().parent.parent


def soak(url: str, pid: int, items: list[tuple[str, bytes]], n: int, concurrency: int, every: int) -> dict:
    """Send ``n`` uploads in blocks of ``every``, reading the server's RSS after each block.

    Returns:
        ``{"points": [[requests, rss_mb], ...], "non_2xx": int, "seconds": float}``.
    """
    points, failures, start = [[0, rss_mb(pid)]], 0, time.perf_counter()
    clients = [httpx.Client(timeout=120) for _ in range(concurrency)]

    def one(i: int) -> int:
        return post_upload(clients[i % concurrency], url, *items[i % len(items)])["status"]

    try:
        with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
            for block in range(0, n, every):
                statuses = list(pool.map(one, range(block, min(n, block + every))))
                failures += sum(s >= 300 for s in statuses)
                points.append([min(n, block + every), rss_mb(pid)])
    finally:
        for client in clients:
            client.close()
    return {"points": points, "non_2xx": failures, "seconds": time.perf_counter() - start}


def summary(points: list[list[float]]) -> dict:
    """RSS at start, after 10% of the requests, at the end, and the last half's slope (MB per 1,000 requests)."""
    total = points[-1][0]
    tenth = next(p[1] for p in points if p[0] >= total / 10)
    return {
        "rss_start_mb": points[0][1],
        "rss_10pct_mb": tenth,
        "rss_end_mb": points[-1][1],
        "slope_last_half_mb_per_1000": slope_mb_per_1000([tuple(p) for p in points]),
    }


def main(argv: list[str] | None = None) -> dict:
    """Run the soak, print its summary and write the JSON record; returns the record."""
    from mammo_utils.config import get_config
    from mammo_utils.utils import write_atomic

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="data/work/export/champion", help="export folder")
    parser.add_argument("--files", required=True, help="folder of DICOMs to upload (read in place)")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--every", type=int, default=0, help="requests between RSS reads (default: 1/40 of them)")
    parser.add_argument("--out", default=None, help="JSON output (default <work>/bench_api/soak.json)")
    args = parser.parse_args(argv)
    files = sorted(Path(args.files).rglob("*.dcm"))
    if not files or args.requests < 1:
        raise SystemExit(f"need .dcm files under {args.files} and --requests >= 1")
    items = [(p.name, p.read_bytes()) for p in files]
    work = get_config("small").work_dir
    (work / "bench_api").mkdir(parents=True, exist_ok=True)
    env = {"MAMMO_FEEDBACK_DB": str(work / "bench_api" / "soak_feedback.db"), "MAMMO_STORE_URL": ""}
    with served(args.model, env) as (url, process):
        for i in range(min(4, len(items))):  # warm-up: first decodes, graph traces
            httpx.post(
                f"{url}/v1/predict", files={"file": (items[i][0], items[i][1], "application/dicom")}, timeout=120
            )
        result = soak(
            url, process.pid, items, args.requests, args.concurrency, args.every or max(1, args.requests // 40)
        )
    record = {
        "benchmark": "benchmarks/soak_api.py",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "load_1m_at_end": os.getloadavg()[0]},
        "dicom": {"source": portable_path(args.files), "files": len(files)},
        "model": portable_path(args.model),
        # the export's digest, run and input: `mammo report` checks the digest against the one it reports on
        "provenance": provenance_record(args.model, input=load_artifact(args.model, verify=False).get("input")),
        "requests": args.requests,
        "concurrency": args.concurrency,
        **result,
        "summary": summary(result["points"]),
    }
    print(json.dumps(record["summary"], indent=1), f"non-2xx {result['non_2xx']} in {result['seconds']:.0f} s")
    out = Path(args.out) if args.out else work / "bench_api" / "soak.json"
    write_atomic(out, to_json(record, indent=1).encode())
    print("written:", out)
    return record


if __name__ == "__main__":
    main()
