"""Preprocessing cache: manifest, bad files recorded, interrupted runs resume to the same cache."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pandas as pd
import pytest

from mammo_utils.data.preprocess import fit_and_pad, original_box, preprocess_dataset


def test_fit_and_pad_keeps_aspect():
    out, scale = fit_and_pad(np.ones((100, 50), np.float32), (64, 64))
    assert out.shape == (64, 64) and scale == pytest.approx(0.64)
    assert out[:, :32].min() > 0.999 and out[:, 33:].max() == 0.0


def test_cache_is_complete_and_records_bad_files(synth_root, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(synth_root, data)
    df = pd.read_csv(data / "train.csv")
    victim = data / "train_images" / str(df.patient_id[0]) / f"{df.image_id[0]}.dcm"
    victim.write_bytes(b"garbage")
    cache, manifest = preprocess_dataset(data, tmp_path / "cache", size=(128, 64), bits=16, workers=2, progress=False)
    assert len(manifest) == len(df)
    bad = manifest[manifest.status != "ok"]
    assert list(bad.image_id) == [df.image_id[0]] and "not a DICOM" in bad.error.iloc[0]
    ok = manifest[manifest.status == "ok"]
    for r in ok.itertuples():
        png = cv2.imread(str(cache / r.png), cv2.IMREAD_UNCHANGED)
        assert png.shape == (128, 64) and png.dtype == np.uint16 and png.max() > 20000
        assert 0 <= r.crop_x_min < r.crop_x_max <= r.orig_cols
    assert not list(cache.rglob("*.tmp"))
    assert (cache / "manifest.csv").exists()


def _pngs(cache):
    return {p.relative_to(cache): p.read_bytes() for p in cache.rglob("*.png")}


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_cache(synth_root, tmp_path):
    ref_cache, ref = preprocess_dataset(
        synth_root, tmp_path / "ref", size=(256, 128), bits=8, workers=1, progress=False
    )
    cmd = [
        sys.executable,
        "-m",
        "mammo_utils",
        "preprocess",
        "--data",
        str(synth_root),
        "--work",
        str(tmp_path / "work"),
        "--image-size",
        "256x128",
        "--set",
        "cache_bits=8",
        "--workers",
        "2",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    run_cache = tmp_path / "work" / "cache" / ref_cache.name
    deadline = time.time() + 120
    while time.time() < deadline and len(list(run_cache.rglob("*.png"))) < 5:
        time.sleep(0.02)
    import os

    os.killpg(proc.pid, signal.SIGKILL)  # the whole run, workers included, dies mid-way
    proc.wait()
    done_before = len(list(run_cache.rglob("*.png")))
    assert 0 < done_before < len(ref), "the run should have been interrupted mid-way"
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    assert _pngs(run_cache) == _pngs(ref_cache)
    resumed = pd.read_csv(run_cache / "manifest.csv")
    cols = ["image_id", "status", "crop_x_min", "crop_y_min", "crop_x_max", "crop_y_max", "flipped"]
    assert resumed[cols].equals(ref[cols].astype(resumed[cols].dtypes.to_dict()))
    assert not list(run_cache.rglob("*.tmp"))
    # a third run resumes everything from the partial manifest and still returns typed columns
    _, again = preprocess_dataset(
        synth_root, tmp_path / "work" / "cache", size=(256, 128), bits=8, workers=1, progress=False
    )
    assert (again.crop_x_max - again.crop_x_min > 0).all() and again.flipped.dtype == bool


def test_original_box_is_clipped_to_the_image():
    # a 4915-column file decoded at a reduced level rounds up (1229 columns); its right edge maps to 4916
    assert original_box((0, 0, 1229, 1000), (1000, 1229), (4000, 4915)) == (0, 0, 4915, 4000)
    assert original_box((10, 20, 30, 40), (100, 100), (1000, 1000)) == (100, 200, 300, 400)
    x0, y0, x1, y1 = original_box((99, 99, 100, 100), (100, 100), (50, 50))
    assert 0 <= x0 < x1 <= 50 and 0 <= y0 < y1 <= 50


@pytest.mark.real_rsna
def test_real_rsna_crop_boxes_stay_inside_the_image(real_rsna, tmp_path):
    from pathlib import Path

    from mammo_utils.data.rsna import load_train

    df = load_train(real_rsna)
    df = df[[Path(p).is_file() for p in df.path]]  # train.csv lists all 54,706 images; five are here
    cache, manifest = preprocess_dataset(real_rsna, tmp_path, size=(512, 256), bits=8, workers=1, df=df, progress=False)
    assert (manifest.status == "ok").all(), manifest.error.tolist()
    assert (manifest.crop_x_max <= manifest.orig_cols).all() and (manifest.crop_y_max <= manifest.orig_rows).all()
    assert (manifest.crop_x_min >= 0).all() and (manifest.crop_x_min < manifest.crop_x_max).all()
    assert 4915 in set(manifest.orig_cols)  # the file whose reduced decode used to overshoot by one pixel
