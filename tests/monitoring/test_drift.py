"""PSI and KS against hand-computed values and scipy; stable vs shifted samples on both sides of the thresholds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mammo_utils.evaluation import drift


def test_psi_matches_a_hand_computation():
    reference = np.repeat([0.0, 1.0, 2.0, 3.0], 25)  # quartile bins with 25% each
    current = np.repeat([0.0, 1.0, 2.0, 3.0], [40, 30, 20, 10])
    # bins from the reference's quartiles: [.., 0.75), [0.75, 1.5), [1.5, 2.25), [2.25, ..)
    shares_r = np.array([0.25, 0.25, 0.25, 0.25])
    shares_c = np.array([0.40, 0.30, 0.20, 0.10])
    expected = float(np.sum((shares_c - shares_r) * np.log(shares_c / shares_r)))
    assert drift.psi(reference, current, bins=4) == pytest.approx(expected, rel=1e-9)
    assert drift.psi(reference, reference, bins=4) == 0.0


def test_psi_empty_bin_uses_epsilon_not_infinity():
    value = drift.psi(np.arange(100.0), np.full(50, 1000.0), bins=4)
    assert np.isfinite(value) and value > 2
    with pytest.raises(ValueError, match="non-empty"):
        drift.psi([], [1.0])


def test_ks_equals_scipy():
    from scipy.stats import ks_2samp

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=300), rng.normal(0.3, 1, size=200)
    expected = ks_2samp(a, b)
    assert drift.ks(a, b) == pytest.approx((expected.statistic, expected.pvalue))


@pytest.mark.parametrize("shift, expected", [(0.0, "stable"), (0.4, "watch"), (1.0, "drift")])
def test_thresholds_on_both_sides(shift, expected):
    rng = np.random.default_rng(0)
    reference, current = rng.normal(size=20000), rng.normal(shift, 1, size=20000)
    value = drift.psi(reference, current)
    assert drift.status(value) == expected, value


def test_adaptive_bins_keep_small_samples_from_looking_drifted():
    rng = np.random.default_rng(2)
    values = [drift.psi(rng.normal(size=256), rng.normal(size=76)) for _ in range(200)]
    adaptive = [drift.psi(rng.normal(size=256), rng.normal(size=76), drift.adaptive_bins(256, 76)) for _ in range(200)]
    assert np.mean(values) > 0.12  # ten bins on 76 values: "watch" with no drift at all
    assert np.mean(adaptive) < 0.05 and drift.adaptive_bins(256, 76) == 3 and drift.adaptive_bins(5000, 4000) == 10


def test_drift_report_separates_a_shifted_set(synth_cache):
    from mammo_utils.data.preprocess import read_cached

    cache, _ = synth_cache
    manifest = pd.read_csv(cache / "manifest.csv")
    manifest = manifest[manifest.status == "ok"]
    half = len(manifest) // 2
    images = [read_cached(cache, p) for p in manifest.png]

    def features(imgs, rows):
        return pd.DataFrame(
            [drift.image_features(i, (r.orig_rows, r.orig_cols)) for i, r in zip(imgs, rows.itertuples())]
        )

    reference = drift.reference_statistics(features(images[:half], manifest[:half]), np.linspace(0, 1, 50))
    same = drift.drift_report(reference, features(images[half:], manifest[half:]))
    darker = [np.clip(i * 0.7, 0, 1) for i in images[half:]]
    shifted = drift.drift_report(reference, features(darker, manifest[half:]), np.linspace(0.5, 1, 50))
    assert same.loc[["mean", "p50"], "psi"].max() < drift.PSI_DRIFT
    assert (shifted.loc[["mean", "p50", "p90"], "status"] == "drift").all()
    assert shifted.loc["score", "status"] == "drift"
    assert set(same.columns) >= {"psi", "ks", "ks_pvalue", "status", "n_reference", "n_current"}


def test_one_verdict_for_every_caller_with_nan_decided_once():
    report = pd.DataFrame(
        {"psi": [0.05, 0.3, 0.12], "n_current": [60, 60, 60]}, index=pd.Index(["mean", "score", "p50"], name="f")
    )
    found = drift.verdict(report)
    assert (found["verdict"], found["feature"], found["max_psi"], found["n_current"]) == ("drift", "score", 0.3, 60)
    assert drift.verdict(report.assign(psi=[0.05, 0.25, 0.1]))["verdict"] == "watch"  # both ends of watch included
    assert drift.verdict(report.assign(psi=[0.05, 0.01, 0.09]))["verdict"] == "stable"
    # too few current values, or nothing compared: unknown (never an alarm, never "stable")
    assert drift.verdict(report, n_current=drift.DRIFT_MIN_PREDICTIONS - 1)["verdict"] == drift.UNKNOWN
    empty = drift.verdict(pd.DataFrame(columns=["psi", "n_current"]))
    assert empty["verdict"] == drift.UNKNOWN and np.isnan(empty["max_psi"]) and empty["feature"] is None
    assert drift.status(float("nan")) == drift.UNKNOWN
    from mammo_utils import constants as C

    assert (drift.PSI_STABLE, drift.PSI_DRIFT, drift.DRIFT_WINDOW) == (C.PSI_STABLE, C.PSI_DRIFT, C.DRIFT_WINDOW)


def test_chance_psi_image_null_draws_images_independently():
    rng = np.random.default_rng(1)
    values = rng.normal(size=400)
    expected = [
        drift.psi(values, np.random.default_rng(3).choice(values, 120, replace=False), drift.adaptive_bins(400, 120))
    ]
    got = drift.chance_psi({"features": {"x": values.tolist()}}, 120, draws=1, seed=3, q=0.5)
    assert got["x"] == pytest.approx(expected[0], rel=1e-12)  # the re-derivation of one draw, by hand


def test_patient_null_rises_only_when_a_patients_images_move_together():
    rng = np.random.default_rng(0)
    patients = np.repeat(np.arange(250), 4)  # 1000 images, four per patient
    together = np.repeat(rng.normal(size=250), 4) + 0.1 * rng.normal(size=1000)  # a patient's images alike
    apart = rng.normal(size=1000)  # the same patients, images independent
    ref = {"features": {"together": together.tolist(), "apart": apart.tolist()}}
    images = drift.chance_psi(ref, 300, draws=150, seed=0)
    grouped = drift.chance_psi(ref, 300, draws=150, seed=0, groups=patients)
    assert grouped["together"] > 2.5 * images["together"]  # 75 patients vary more than 300 independent images
    assert 0.7 < grouped["apart"] / images["apart"] < 1.4  # grouping alone changes nothing
    assert "patients" in grouped.name and "images" in images.name
    with pytest.raises(ValueError, match="groups has 999 entries"):
        drift.chance_psi(ref, 300, groups=patients[:-1])


def test_a_patient_window_holds_whole_patients_but_the_last():
    from mammo_utils.evaluation.metrics import cluster_members

    patients = np.repeat(np.arange(50), 3)
    idx = drift._window(np.random.default_rng(0), patients.size, 40, cluster_members(patients))
    counts = np.bincount(patients[idx])
    assert idx.size == 40 and len(set(idx)) == 40
    assert sorted(counts[counts > 0])[1:] == [3] * 13 and sorted(counts[counts > 0])[0] == 1  # 13 whole + 1 cut


def test_chance_reading_places_a_psi_against_both_nulls():
    assert drift.chance_reading(0.02, 0.02, 0.05) == "within"  # the image level itself is chance
    assert drift.chance_reading(0.05, 0.02, 0.05) == "patients"
    assert drift.chance_reading(0.051, 0.02, 0.05) == "beyond"
    assert drift.CHANCE_READINGS == ("within", "patients", "beyond")
    with pytest.raises(ValueError, match="finite"):
        drift.chance_reading(0.1, float("nan"), 0.05)


def test_held_out_psi_re_derives_one_draw_by_hand():
    rng = np.random.default_rng(1)
    ref, pool = rng.normal(size=400), rng.normal(size=300)
    idx = np.random.default_rng(3).choice(pool.size, 120, replace=False)
    expected = drift.psi(ref, pool[idx], drift.adaptive_bins(400, 120))
    got = drift.held_out_psi({"features": {"x": ref.tolist()}}, {"x": pool}, 120, draws=1, seed=3, q=0.5)
    assert got["x"] == pytest.approx(expected, rel=1e-12)  # windows of the held-out sample, against the reference


def _null_means(n_reference: int, size: int, trials: int = 30) -> tuple[float, float]:
    """Mean over fresh references of the median in-reference and held-out PSI (two images per patient)."""
    inside, outside = [], []
    for trial in range(trials):
        rng = np.random.default_rng(trial)
        ref = {"features": {"x": rng.normal(size=n_reference).tolist()}}
        held_out = pd.DataFrame({"x": rng.normal(size=4000)})
        reference_patients, held_out_patients = np.arange(n_reference) // 2, np.arange(4000) // 2
        inside.append(drift.chance_psi(ref, size, draws=20, seed=trial, q=0.5, groups=reference_patients)["x"])
        outside.append(drift.held_out_psi(ref, held_out, size, held_out_patients, draws=20, seed=trial, q=0.5)["x"])
    return float(np.mean(inside)), float(np.mean(outside))


def test_the_held_out_null_sits_above_the_in_reference_null_on_a_small_reference():
    # no drift, 4 bins: expected PSI ~ 3 (1/m - 1/n) inside the reference, 3 (1/m + 1/n) for new patients
    inside, outside = _null_means(n_reference=200, size=100)
    assert 2.0 < outside / inside < 4.5, (inside, outside)  # (1/100 + 1/200) / (1/100 - 1/200) = 3
    inside, outside = _null_means(n_reference=4000, size=100)
    assert 0.8 < outside / inside < 1.3, (inside, outside)  # a large reference: the window barely overlaps it


def test_a_shifted_held_out_sample_reaches_drift_in_every_window():
    rng = np.random.default_rng(0)
    ref = {"features": {"x": rng.normal(size=1000).tolist(), "y": rng.normal(size=1000).tolist()}}
    held_out = pd.DataFrame({"x": rng.normal(1.0, 1.0, size=600), "y": rng.normal(size=600)})
    patients = np.repeat(np.arange(200), 3)
    low = drift.held_out_psi(ref, held_out, 150, patients, draws=50, q=0.05)  # even the lowest windows
    assert low["x"] > drift.PSI_DRIFT and low["y"] < drift.PSI_STABLE
    assert drift.held_out_reading(low["x"], drift.held_out_psi(ref, held_out, 150, patients)["y"]) == "beyond"


def test_held_out_psi_is_seeded_and_checks_its_groups():
    rng = np.random.default_rng(0)
    ref, held_out = {"features": {"x": rng.normal(size=500).tolist()}}, {"x": rng.normal(size=300)}
    patients = np.repeat(np.arange(100), 3)
    first, again = (drift.held_out_psi(ref, held_out, 100, patients, draws=30, seed=7) for _ in range(2))
    other = drift.held_out_psi(ref, held_out, 100, patients, draws=30, seed=8)
    assert first.equals(again) and not first.equals(other) and "held-out PSI (patients" in first.name
    assert drift.held_out_psi(ref, {"z": [1.0]}, 100).empty  # no feature in common: nothing to compare
    with pytest.raises(ValueError, match="groups has 299 entries but feature 'x' has 300 held-out values"):
        drift.held_out_psi(ref, held_out, 100, patients[:-1])


def test_held_out_window_and_reading():
    assert drift.held_out_window(500, 2000) == 500 and drift.held_out_window(500, 277) == 138
    assert drift.held_out_window(500, 1) == 1
    assert drift.held_out_reading(0.05, 0.05) == "within" and drift.held_out_reading(0.051, 0.05) == "beyond"
    assert drift.HELD_OUT_READINGS == ("within", "beyond")
    with pytest.raises(ValueError, match="held_out_reading needs finite values"):
        drift.held_out_reading(float("nan"), 0.05)


def test_the_reference_is_described_by_the_images_behind_each_of_its_samples():
    rng = np.random.default_rng(0)
    reference = drift.reference_statistics(
        pd.DataFrame({"mean": rng.random(90), "p10": rng.random(90)}), rng.random(30)
    )
    report = drift.drift_report(
        reference, pd.DataFrame({"mean": rng.random(40), "p10": rng.random(40)}), rng.random(40)
    )
    assert drift.reference_counts(report) == (90, 30)  # features: training images; scores: validation images
    text = drift.reference_contents(*drift.reference_counts(report))
    assert text.startswith("the image features of 90 training images and the scores of 30 validation images")
    features_only = drift.drift_report(reference, pd.DataFrame({"mean": rng.random(40)}))
    assert drift.reference_counts(features_only) == (90, None)
    assert drift.reference_contents(90, None) == "the image features of 90 training images"
