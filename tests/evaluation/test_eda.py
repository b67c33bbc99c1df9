"""EDA tables: missingness per site and the annotation findings say what the data hold."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mammo_utils.evaluation import eda


def _frame():
    # site 1: 4 images, BI-RADS missing for 1, density for none; site 2: 2 images, both missing
    return pd.DataFrame(
        {
            "site_id": [1, 1, 1, 1, 2, 2],
            "patient_id": [1, 1, 2, 2, 3, 3],
            "laterality": ["L", "R", "L", "R", "L", "R"],
            "cancer": [1, 0, 0, 0, 0, 0],
            "biopsy": [1, 0, 1, 0, 0, 0],
            "invasive": [1, 0, 0, 0, 0, 0],
            "BIRADS": [0.0, np.nan, 1.0, 1.0, np.nan, np.nan],
            "density": ["A", "B", "C", "D", np.nan, np.nan],
            "age": [50.0, 50.0, 60.0, 60.0, np.nan, np.nan],
        }
    )


def test_missing_by_site_gives_each_sites_share():
    table = eda.missing_by_site(_frame())
    assert table.loc[1, "BIRADS"] == 0.25 and table.loc[2, "BIRADS"] == 1.0
    assert table.loc[1, "density"] == 0.0 and table.loc[2, "density"] == 1.0
    assert table.images.tolist() == [4, 2]
    assert eda.format_by_site(table.density) == "site 1: 0%, site 2: 100%"


def test_annotation_issues_counts_and_names_missingness_per_site():
    issues = eda.annotation_issues(_frame())
    assert issues.loc["biopsy without cancer", "count"] == 1
    assert issues.loc["missing BIRADS", "count"] == 3
    assert issues.loc["missing BIRADS", "note"] == "missing by site (site 1: 25%, site 2: 100%)"
    assert issues.loc["missing age", "count"] == 2


def test_rate_test_follows_the_counts_either_way():
    import pandas as pd

    from mammo_utils.evaluation.eda import rate_test, rate_test_sentence

    same = pd.DataFrame({"breasts": [200, 200], "positives": [50, 52]}, index=["1", "2"])
    apart = pd.DataFrame({"breasts": [200, 200, 200], "positives": [10, 50, 90]}, index=["a", "b", "c"])
    assert rate_test(same)["test"] == "Fisher's exact test" and rate_test(same)["p_value"] > 0.5
    assert rate_test(apart)["test"] == "chi-square test" and rate_test(apart)["p_value"] < 0.001
    assert "no difference in cancer rate between sites" in rate_test_sentence(same, "sites")
    assert rate_test_sentence(apart, "machines").endswith("so machine carries label information")
    assert rate_test_sentence(same.iloc[:1], "sites") == ""


def test_eda_age_bands_are_the_subgroup_bands_in_age_order():
    from mammo_utils.evaluation.subgroups import AGE_BINS, age_band

    ages = [35.0, 49.0, 50.0, 59.0, 65.0, 70.0, 88.0, np.nan]
    df = pd.DataFrame(
        {"patient_id": range(8), "laterality": ["L"] * 8, "cancer": [1, 0, 0, 1, 0, 0, 1, 0], "age": ages}
    )
    table = eda.rate_by(df, "age", bands=age_band)
    expected = age_band(pd.Series(ages))  # the model card's bands, one definition
    assert table.index.tolist() == list(dict.fromkeys(expected))  # <50, 50-59, 60-69, >=70, unknown: age order
    assert table.index[0] == f"<{AGE_BINS[1]:g}" and table.index[-1] == "unknown"
    assert table.breasts.tolist() == [2, 2, 1, 2, 1] and table.positives.tolist() == [1, 1, 0, 1, 0]
    density = eda.rate_by(df.assign(density=["A", "B", None, "B", "A", None, "C", "A"]), "density")
    assert density.index.tolist() == ["A", "B", "C", "unknown"]  # the model card's name for a missing value, last
