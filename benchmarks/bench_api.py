"""Benchmark: the REST service under a bounded loopback load, with full-size JPEG 2000 DICOMs, stage by stage.

Starts ``mammo serve`` on an export folder (as a user would), then in one run:

1. one client, sequential requests: p50/p95/p99 latency, requests/s, and per stage (spool, hash, decode, crop,
   model, drift features, detector) p50/p95 from each response's ``timing_ms``, beside what the server's
   ``mammo_stage_latency_seconds`` histogram in ``/metrics`` gained over the phase (count and mean per stage),
   and what no stage timed (end-to-end minus the stages: HTTP, multipart parsing, queueing, the store's write);
2. ``--concurrency`` clients (default 8), ``--requests`` requests: the same figures, throughput as a ratio of the
   one-client rate, the count of non-2xx and of 5xx, the server's RSS before and after;
3. the same with ``--bad-share`` (default 10%) bad uploads mixed in (text, truncated DICOM, empty file).

``--compare`` starts a second server with ``MAMMO_FAST_DECODE=0`` (JPEG 2000 decoded in full, then resized: the
path before the reduced-resolution decode) and interleaves the one-client requests of both servers, so both
columns come from the same minutes of the same machine. The JSON (``--out``, default
``<work>/bench_api/api_load.json``) records the export's version (sha256 of ``model.json``) and run id, and only
paths relative to the repository.

The DICOMs are ``--files`` (a folder of real ones, read in place, e.g. ``../shared/real-rsna/train_images``) or
synthetic mammograms of the embedded generator at RSNA's common full size (4096x3328, JPEG 2000 lossless), made
once under ``<work>/bench_api``. Target on a 2-core CPU: one client p95 < 0.5 s end to end without Grad-CAM.

    python benchmarks/bench_api.py --model data/work/export/champion --compare --requests 200
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import platform
import time
from pathlib import Path

import httpx
import numpy as np

from mammo_utils.modeling.artifact import load_artifact
from mammo_utils.modeling.artifact import record as provenance_record
from mammo_utils.serving.loadtest import (
    metrics_stages,
    post_upload,
    rss_mb,
    served,
    stage_delta,
    stage_percentiles,
)
from mammo_utils.utils import portable_path, to_json

REPO = Path(__file__).resolve().parent.parent
#: Server variants of ``--compare``: name -> extra environment.
VARIANTS = {"fast_decode": {"MAMMO_FAST_DECODE": "1"}, "full_decode": {"MAMMO_FAST_DECODE": "0"}}


def full_size_dicoms(folder: Path, size: tuple[int, int], patients: int = 2) -> list[Path]:
    """Synthetic full-size DICOMs (made once)."""
    from mammo_utils.data.synthetic import generate_dataset

    if not (folder / "train.csv").is_file():
        generate_dataset(folder, n_patients=patients, image_size=size, prevalence=0.5, seed=11, workers=2)
    return sorted((folder / "train_images").rglob("*.dcm"))


def syntax_counts(files: list[Path]) -> dict[str, int]:
    """How many of the files use each transfer syntax (by name: JPEG lossless, JPEG 2000 lossless, …)."""
    import pydicom

    from mammo_utils.constants import TRANSFER_SYNTAX_NAMES

    names = []
    for path in files:
        uid = str(pydicom.dcmread(path, stop_before_pixels=True).file_meta.get("TransferSyntaxUID", ""))
        names.append(TRANSFER_SYNTAX_NAMES.get(uid, uid))
    return {name: names.count(name) for name in sorted(set(names))}


def bad_uploads(good: bytes) -> list[tuple[str, bytes]]:
    """Three kinds of bad upload: not an image, a truncated DICOM, an empty file."""
    return [("notes.dcm", b"not a mammogram " * 64), ("cut.dcm", good[: len(good) // 3]), ("empty.dcm", b"")]


def run_load(url: str, items: list[tuple[str, bytes]], n: int, concurrency: int) -> list[dict]:
    """Send ``n`` uploads (cycling through ``items``) with ``concurrency`` clients; one :func:`post_upload` row each."""

    def one(i: int) -> dict:
        name, data = items[i % len(items)]
        with httpx.Client(timeout=120) as client:
            return post_upload(client, url, name, data)

    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, range(n)))


def summarise(rows: list[dict], wall: float, label: str) -> dict:
    """Latency percentiles of the 2xx requests, requests/s, non-2xx and 5xx counts, stage percentiles."""
    ok = [r["seconds"] for r in rows if r["status"] < 300]
    status = np.array([r["status"] for r in rows])

    def q(p: float) -> float:
        return float(np.quantile(ok, p)) if ok else float("nan")

    return {
        "run": label,
        "requests": len(rows),
        "p50_s": q(0.5),
        "p95_s": q(0.95),
        "p99_s": q(0.99),
        "requests_per_s": len(rows) / wall if wall > 0 else float("nan"),
        "non_2xx": int((status >= 300).sum()),
        "5xx": int((status >= 500).sum()),
        "stages": stage_percentiles(rows),
        "outside_stages_ms": outside_stages(rows),
    }


def outside_stages(rows: list[dict]) -> dict:
    """p50/p95 (ms) of what no stage timed: end-to-end minus the stages' sum (HTTP, multipart, queue, store)."""
    rest = [1000 * r["seconds"] - sum(r["timing_ms"].values()) for r in rows if r["status"] < 300 and r["timing_ms"]]
    if not rest:
        return {}
    return {"p50_ms": float(np.quantile(rest, 0.5)), "p95_ms": float(np.quantile(rest, 0.95))}


def single_client(servers: dict[str, str], items: list[tuple[str, bytes]], n: int) -> dict[str, dict]:
    """``n`` sequential uploads per server, interleaved (a, b, a, b, ...): one summary per server."""
    rows = {name: [] for name in servers}
    spent = dict.fromkeys(servers, 0.0)
    before = {name: metrics_stages(url) for name, url in servers.items()}
    with httpx.Client(timeout=120) as client:
        for i in range(n):
            for name, url in servers.items():
                row = post_upload(client, url, *items[i % len(items)])
                rows[name].append(row)
                spent[name] += row["seconds"]
    out = {}
    for name, url in servers.items():
        out[name] = summarise(rows[name], spent[name], "1 client")
        out[name]["metrics_stages"] = stage_delta(before[name], metrics_stages(url))
    return out


def loaded(url: str, good: list[tuple[str, bytes]], args) -> list[dict]:
    """The concurrent phases of one server: all-good uploads, then ``--bad-share`` bad ones mixed in."""
    if args.requests <= 0:
        return []
    start = time.perf_counter()
    results = [summarise(run_load(url, good, args.requests, args.concurrency), 0.0, "")]
    results[0].update(run=f"{args.concurrency} clients", requests_per_s=args.requests / (time.perf_counter() - start))
    bad = bad_uploads(good[0][1])
    every = max(1, round(1 / args.bad_share)) if args.bad_share > 0 else args.requests + 1
    mixed = [
        bad[(i // every) % len(bad)] if i % every == every - 1 else good[i % len(good)] for i in range(args.requests)
    ]
    start = time.perf_counter()
    rows = run_load(url, mixed, args.requests, args.concurrency)
    results.append(
        summarise(rows, time.perf_counter() - start, f"{args.concurrency} clients, {args.bad_share:.0%} bad")
    )
    return results


def wait_for_quiet(most: float, load: float, step: float = 5.0) -> float:
    """Wait until the 1-minute load average is below ``load`` (at most ``most`` seconds): latency measured right
    after other work ends would carry that work's load.

    Args:
        most: Longest wait in seconds (0: do not wait).
        load: Load average counted as quiet.
        step: Seconds between checks.

    Returns:
        Seconds waited.
    """
    start = time.monotonic()
    while os.getloadavg()[0] >= load and time.monotonic() - start < most:
        time.sleep(step)
    return round(time.monotonic() - start, 1)


def parse_args(argv: list[str] | None):
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="data/work/export/champion", help="export folder")
    parser.add_argument("--files", default=None, help="folder of DICOMs to upload (default: synthetic full size)")
    parser.add_argument("--compare", action="store_true", help="also a MAMMO_FAST_DECODE=0 server, interleaved")
    parser.add_argument("--requests", type=int, default=1000, help="requests of each concurrent phase (0: none)")
    parser.add_argument("--single", type=int, default=40, help="requests of the one-client run (per server)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--bad-share", type=float, default=0.1)
    parser.add_argument("--size", default="4096x3328", help="synthetic DICOM rows x columns")
    parser.add_argument("--out", default=None, help="JSON output (default <work>/bench_api/api_load.json)")
    what = "wait up to this many seconds for the 1-minute load average to fall below --quiet-load before measuring"
    parser.add_argument("--settle", type=float, default=300.0, help=what)
    parser.add_argument("--quiet-load", type=float, default=0.5, help="load average counted as a quiet machine")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark, print a summary and write the JSON record; returns the record."""
    from contextlib import ExitStack

    from mammo_utils.config import get_config
    from mammo_utils.data.dicom import read_header
    from mammo_utils.utils import write_atomic

    args = parse_args(argv)
    work = get_config("small").work_dir
    if args.files:
        files = sorted(Path(args.files).rglob("*.dcm"))
        source = portable_path(args.files)
        size = ", ".join(sorted({f"{h['rows']}x{h['columns']}" for h in map(read_header, files)}))
    else:
        rows, cols = (int(v) for v in args.size.split("x"))
        files = full_size_dicoms(work / "bench_api" / args.size, (rows, cols))
        source, size = f"synthetic {args.size}", args.size
    if not files:
        raise SystemExit(f"no .dcm files under {args.files}")
    good = [(p.name, p.read_bytes()) for p in files]
    waited = wait_for_quiet(args.settle, args.quiet_load)
    variants = VARIANTS if args.compare else {"fast_decode": VARIANTS["fast_decode"]}
    feedback = work / "bench_api" / "bench_feedback_{}.db"
    feedback.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "benchmark": "benchmarks/bench_api.py",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_1m_at_start": os.getloadavg()[0],
            "waited_for_quiet_s": waited,
        },
        "dicom": {
            "source": source,
            "size": size,
            "files": len(files),
            "mb_each": float(np.mean([len(d) for _, d in good]) / 1e6),
            "transfer_syntaxes": syntax_counts(files),
        },
        "model": portable_path(args.model),
        # the export's digest, run and input: `mammo report` checks the digest against the one it reports on
        "provenance": provenance_record(args.model, input=load_artifact(args.model, verify=False).get("input")),
        "variants": {},
    }
    with ExitStack() as stack:
        servers, processes = {}, {}
        for name, env in variants.items():
            env = {**env, "MAMMO_FEEDBACK_DB": str(feedback).format(name), "MAMMO_STORE_URL": ""}
            servers[name], processes[name] = stack.enter_context(served(args.model, env))
        for url in servers.values():
            run_load(url, good, min(4, len(good)), 1)  # warm-up: first decodes, thread pools
        rss = {name: {"start": rss_mb(p.pid)} for name, p in processes.items()}
        single = single_client(servers, good, args.single)
        for name, url in servers.items():
            runs = [single[name], *loaded(url, good, args)]
            rss[name]["end"] = rss_mb(processes[name].pid)
            base = runs[0]["requests_per_s"]
            for run in runs:
                run["throughput_vs_1_client"] = run["requests_per_s"] / base if base else float("nan")
            record["variants"][name] = {"env": variants[name], "runs": runs, "rss_mb": rss[name]}
    # the default (fast) server's figures also at the top, where the final report reads them (#runs.0.p95_s)
    record.update(runs=record["variants"]["fast_decode"]["runs"], rss_mb=record["variants"]["fast_decode"]["rss_mb"])
    if args.compare:
        fast, full = (record["variants"][k]["runs"][0]["p95_s"] for k in ("fast_decode", "full_decode"))
        record["one_client_p95_full_over_fast"] = full / fast
    print_summary(record)
    out = Path(args.out) if args.out else work / "bench_api" / "api_load.json"
    # made when the last measurement ended (the record above was started before the servers came up)
    record["provenance"]["recorded_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    write_atomic(out, to_json(record, indent=1).encode())
    print("written:", out)
    return record


def print_summary(record: dict) -> None:
    """One line per variant and phase, then the one-client stage breakdown."""
    print(f"{record['dicom']['files']} DICOMs ({record['dicom']['source']}), {record['dicom']['mb_each']:.1f} MB each;"
          f" export {record['provenance']['digest']}, load {record['machine']['load_1m_at_start']:.1f}")  # fmt: skip
    for name, variant in record["variants"].items():
        for run in variant["runs"]:
            print(f"{name:12s} {run['run']:22s} p50 {run['p50_s']:.3f} s  p95 {run['p95_s']:.3f} s"
                  f"  {run['requests_per_s']:.2f} req/s  non-2xx {run['non_2xx']}  5xx {run['5xx']}")  # fmt: skip
        stages = variant["runs"][0]["stages"]
        print("   stages p50/p95 ms:", {k: (round(v["p50_ms"], 1), round(v["p95_ms"], 1)) for k, v in stages.items()})
        print(
            "   outside the stages p50/p95 ms:",
            {k: round(v, 1) for k, v in variant["runs"][0]["outside_stages_ms"].items()},
        )
        print("   RSS MB:", {k: round(v, 1) for k, v in variant["rss_mb"].items()})
    print("one-client p95 target < 0.5 s")


if __name__ == "__main__":
    main()
