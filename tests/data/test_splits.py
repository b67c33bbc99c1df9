"""Patient-grouped stratified splits: no leakage, stratification, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mammo_utils.data.splits import (
    LeakageError,
    check_leakage,
    fold_counts,
    fold_frames,
    load_or_make_splits,
    make_splits,
    split_table,
)
from mammo_utils.data.synthetic import make_metadata


def _assert_grouped(df):
    check_leakage(df)
    assert (df.groupby("patient_id").split.nunique() == 1).all()
    assert (df.groupby("patient_id").fold.nunique() == 1).all()


def test_synthetic_splits_are_grouped_stratified_and_deterministic():
    df = make_metadata(600, prevalence=0.1, seed=1)
    a = make_splits(df, n_folds=5, test_size=0.15, seed=0)
    _assert_grouped(a)
    patients = a.groupby("patient_id").agg(split=("split", "first"), fold=("fold", "first"), cancer=("cancer", "max"))
    assert 0.10 < (patients.split == "test").mean() < 0.20
    overall = patients.cancer.mean()
    for _, part in patients.groupby(["split", "fold"]):
        assert abs(part.cancer.mean() - overall) < 0.05  # stratified within tolerance
    assert set(a[a.split == "cv"].fold) == set(range(5)) and (a[a.split == "test"].fold == -1).all()
    b = make_splits(df, n_folds=5, test_size=0.15, seed=0)
    assert a[["split", "fold"]].equals(b[["split", "fold"]])
    c = make_splits(df, n_folds=5, test_size=0.15, seed=1)
    assert not a[["split", "fold"]].equals(c[["split", "fold"]])


def test_adversarial_frames_never_leak():
    rng = np.random.default_rng(0)
    rows = []
    for p in range(60):
        n = 40 if p < 3 else int(rng.integers(1, 9))  # a few patients with very many images
        label = int(p % 7 == 0)  # single-class patients, some all-positive
        rows += [
            {"patient_id": p, "image_id": p * 100 + i, "laterality": "LR"[i % 2], "cancer": label, "site_id": 1 + p % 2}
            for i in range(n)
        ]
    df = pd.DataFrame(rows)
    for by_site in (False, True):
        out = make_splits(df, n_folds=4, test_size=0.2, seed=3, by_site=by_site)
        _assert_grouped(out)
        train, val, test = fold_frames(out, 0)
        assert not set(train.patient_id) & set(val.patient_id) and not set(val.patient_id) & set(test.patient_id)


def test_leakage_check_raises():
    df = pd.DataFrame({"patient_id": [1, 1, 2], "split": ["cv", "test", "cv"], "fold": [0, -1, 1]})
    with pytest.raises(LeakageError, match="1 patient"):
        check_leakage(df)


def test_split_table_and_reuse(tmp_path, synth_root):
    from mammo_utils.data.rsna import load_train

    df = load_train(synth_root)
    path = tmp_path / "splits.csv"
    a = load_or_make_splits(df, path, n_folds=3, test_size=0.2, seed=0)
    assert path.exists()
    b = load_or_make_splits(df, path, n_folds=3, test_size=0.2, seed=99)  # reused, not remade
    assert (
        a.set_index("image_id")[["split", "fold"]]
        .sort_index()
        .equals(b.set_index("image_id")[["split", "fold"]].sort_index())
    )
    table = split_table(a)
    assert table.images.sum() == len(df) and table.patients.sum() == df.patient_id.nunique()
    assert {"breasts", "positive breasts", "site mix"} <= set(table.columns)
    with pytest.raises(ValueError, match="n_folds"):
        make_splits(df, n_folds=1)


def test_fold_counts_are_the_fold_frames_counted_per_image_patient_and_breast():
    df = make_splits(make_metadata(60, 0.25, seed=3), n_folds=3, test_size=0.2, seed=0)
    counts = fold_counts(df, 1)
    for name, part in zip(("train", "validation", "test"), fold_frames(df, 1)):
        breasts = part.groupby(["patient_id", "laterality"]).cancer.max()
        assert counts[name] == {"images": len(part), "patients": part.patient_id.nunique(), "breasts": len(breasts),
                                "cancer_breasts": int(breasts.sum())}  # fmt: skip
    assert sum(c["patients"] for c in counts.values()) == df.patient_id.nunique()
    assert counts["validation"] != fold_counts(df, 0)["validation"]  # the validation fold is the one asked for
