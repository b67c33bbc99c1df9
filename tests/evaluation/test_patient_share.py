"""A share of images with a patient-bootstrap interval: k/n as the point, patients resampled, the same on a rerun."""

from __future__ import annotations

import numpy as np
import pytest

from mammo_utils.evaluation.metrics import patient_share


def _table(n_patients: int = 40, views: int = 4, seed: int = 1):
    """Per-image flags where a patient's views agree (one coin per patient), with their patient ids."""
    rng = np.random.default_rng(seed)
    per_patient = rng.random(n_patients) < 0.35
    return np.repeat(per_patient, views), np.repeat(np.arange(n_patients), views)


def test_the_point_is_k_of_n_and_the_interval_covers_it():
    flags, patients = _table()
    out = patient_share(flags, patients)
    assert (out["k"], out["n"], out["patients"]) == (int(flags.sum()), len(flags), 40)
    assert out["rate"] == pytest.approx(flags.sum() / len(flags))
    assert out["ci"][0] < out["rate"] < out["ci"][1] and out["interval"] == "patient bootstrap"


def test_clustered_views_widen_the_interval_over_independent_images():
    flags, patients = _table()
    clustered = patient_share(flags, patients)["ci"]
    independent = patient_share(flags, np.arange(len(flags)))["ci"]  # every image its own patient
    assert np.ptp(clustered) > 1.5 * np.ptp(independent)  # 4 agreeing views: about twice as wide


def test_duplicating_a_patients_images_widens_it_and_adding_patients_narrows_it():
    flags, patients = _table(n_patients=30, views=1)
    base = np.ptp(patient_share(flags, patients)["ci"])
    copies = np.ptp(patient_share(np.repeat(flags, 3), np.repeat(patients, 3))["ci"])  # same patients, 3 views
    more = np.ptp(patient_share(np.tile(flags, 3), np.arange(90))["ci"])  # 3x as many patients
    assert copies == pytest.approx(base, abs=0.03) and more < 0.75 * base


def test_the_fixed_seed_repeats_and_another_seed_moves_the_limits_only_a_little():
    flags, patients = _table()
    assert patient_share(flags, patients) == patient_share(flags, patients)
    other = patient_share(flags, patients, seed=7)["ci"]
    assert other == pytest.approx(patient_share(flags, patients)["ci"], abs=0.03)


def test_no_images_and_mismatched_lengths():
    empty = patient_share([], [])
    assert empty["n"] == 0 and np.isnan(empty["rate"]) and all(np.isnan(empty["ci"]))
    with pytest.raises(ValueError, match="one patient per flag"):
        patient_share([True, False], ["a"])
