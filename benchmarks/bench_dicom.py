"""Benchmark: full JPEG 2000 decode + resize vs ``read_dicom(max_size=...)`` on full-size mammograms.

Generates full-size (default 4096x3328, 12-bit, JPEG 2000 lossless) synthetic DICOMs, then prints,
from one run: seconds/image for plain pydicom decode + cv2.resize, for read_dicom(max_size), their
ratio, the mean absolute difference of the two outputs (both windowed to [0, 1]), peak memory of each
path (separate processes) and the projected wall-clock to preprocess RSNA's 54,706 images.

    python benchmarks/bench_dicom.py --n 4 --size 4096x3328 --target 1024 --workers 4
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RSNA_IMAGES = 54_706


def make_files(folder: Path, n: int, rows: int, cols: int) -> list[Path]:
    """Write ``n`` full-size 12-bit JPEG 2000 lossless synthetic mammograms."""
    from mammo_utils.data.synthetic import MACHINES, to_stored_pixels, write_dicom
    from mammo_utils.data.synthetic_render import render_mammogram

    machine = next(m for m in MACHINES if m.machine_id == 21)  # site 2: 12-bit, MONOCHROME2, JPEG 2000
    paths = []
    for i in range(n):
        r = render_mammogram(
            np.random.default_rng(i), rows, cols, "LR"[i % 2], ("CC", "MLO")[i % 2], "B", False, "mass"
        )
        pixels, tags = to_stored_pixels(r.image, machine)
        path = folder / f"{i}.dcm"
        write_dicom(
            path, pixels, machine, {"patient_id": 1, "image_id": i, "laterality": "LR"[i % 2], "view": "CC"}, tags
        )
        paths.append(path)
    return paths


def time_path(method: str, paths: list[str], target: int) -> dict:
    """Run one reader over the files in this process; returns seconds/image and peak RSS (MiB)."""
    from mammo_utils.data.timing import fast_read, plain_decode_resize, seconds_per_image

    reader = {"plain": plain_decode_resize, "fast": fast_read}[method]
    return {"per_image_s": seconds_per_image(reader, paths, target), "peak_mib": peak_rss_mib()}


def peak_rss_mib() -> float:
    """Peak resident memory of this process (VmHWM; unlike ru_maxrss it is not inherited across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--size", default="4096x3328")
    parser.add_argument("--target", type=int, default=1024)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--_worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._worker:
        method, files = args._worker
        print(json.dumps(time_path(method, json.loads(files), args.target)))
        return
    rows, cols = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        paths = make_files(Path(tmp), args.n, rows, cols)
        print(f"generated {args.n} files {rows}x{cols} 12-bit JPEG 2000 lossless in {time.perf_counter() - t0:.1f} s")
        results = {}
        for method in ("plain", "fast"):
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--target",
                    str(args.target),
                    "--_worker",
                    method,
                    json.dumps([str(p) for p in paths]),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            results[method] = json.loads(out.stdout.strip().splitlines()[-1])
        from mammo_utils.data.timing import reduced_vs_full_difference

        diffs = [reduced_vs_full_difference(p, args.target) for p in paths]
    plain_s, fast_s = results["plain"]["per_image_s"], results["fast"]["per_image_s"]
    print(f"{'path':<40}{'s/image':>10}{'peak MiB':>10}")
    print(f"{'pydicom full decode + cv2.resize':<40}{plain_s:>10.3f}{results['plain']['peak_mib']:>10.0f}")
    print(f"{f'read_dicom(max_size={args.target})':<40}{fast_s:>10.3f}{results['fast']['peak_mib']:>10.0f}")
    print(f"speed-up: {plain_s / fast_s:.1f}x (target >= 10x)")
    print(f"mean |difference| vs full decode + resize: {np.mean(diffs) * 100:.3f}% of range (target <= 1%)")
    hours = fast_s * RSNA_IMAGES / args.workers / 3600
    print(
        f"projected RSNA preprocessing ({RSNA_IMAGES:,} images, {args.workers} workers): {hours:.2f} h "
        f"(vs {plain_s * RSNA_IMAGES / args.workers / 3600:.2f} h with full decodes)"
    )


if __name__ == "__main__":
    main()
