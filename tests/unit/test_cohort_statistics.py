"""Honest numbers: a simulated cohort with a planted effect is found, an unrelated feature is
not, the hazard-ratio interval covers the planted value; bad clinical data gives notes and
tables with reasons, never a silent gap."""

import numpy as np
import pandas as pd
import pytest
from cohort_cases import cohort_settings, planted_cohort, pooled

from frontline.cohort import check_clinical, cohort_statistics, group_tests, selected_features

PLANTED, NULL = "density_per_mm2_tumor_core_CD8_T", "density_per_mm2_tumor_core_macrophage"
SETTINGS = cohort_settings(
    clinical="clinical.tsv",
    group="response",
    survival={"time": "os_days", "event": "death"},
    covariates=["age"],
    km_top=1,
)


def run(seed, settings=SETTINGS, clinical_edit=None, **kwargs):
    images, clinical = planted_cohort(seed, **kwargs)
    if clinical_edit is not None:
        clinical = clinical_edit(clinical)
    features = pooled(images)
    checked = check_clinical(clinical, features["patient"], settings, file="clinical.tsv")
    return cohort_statistics(features, images, checked, settings)


def test_the_planted_hazard_is_found_the_null_is_not_and_the_interval_covers_it():
    """80 patients x 3 fields, hazard ratio 0.5 per SD of the CD8 T tumor-core density, over
    seeds 0-19 (the issue's targets: found >= 90 %, null <= 5 %, coverage >= 90 %)."""
    rows = []
    for seed in range(20):
        stats = run(seed)
        s, g = stats.survival.set_index("feature"), stats.group_tests.set_index("feature")
        rows.append(
            {
                "found": s.at[PLANTED, "fdr"] < 0.05,
                "null": s.at[NULL, "fdr"] < 0.05,
                "covers": s.at[PLANTED, "ci_low"] <= 0.5 <= s.at[PLANTED, "ci_high"],
                "adj_covers": s.at[PLANTED, "adj_ci_low"] <= 0.5 <= s.at[PLANTED, "adj_ci_high"],
                "log_hr": np.log(s.at[PLANTED, "hr_per_sd"]),
                "group_found": g.at[PLANTED, "fdr"] < 0.05,
                "mixed_found": g.at[PLANTED, "mixed_fdr"] < 0.05,
                "call_split": stats.km_tests.set_index("split").at["phenotype_call", "logrank_p"]
                < 0.05,
            }
        )
    rate = pd.DataFrame(rows).mean()
    assert rate["found"] >= 0.90  # measured: 1.00
    assert rate["null"] <= 0.05  # measured: 0.05 (seed 17)
    assert rate["covers"] >= 0.90  # measured: 0.95
    assert rate["adj_covers"] >= 0.90  # measured: 0.90
    assert np.exp(rate["log_hr"]) == pytest.approx(0.5, abs=0.1)  # measured: 0.55 (geometric mean)
    assert rate["group_found"] >= 0.90 and rate["mixed_found"] >= 0.90  # measured: 1.00, 1.00
    # the call (inflamed from 100 CD8 T cells/mm²) splits on the planted density: log-rank
    assert rate["call_split"] >= 0.80  # measured: 0.85


def test_the_group_test_of_an_unrelated_feature_keeps_its_false_positive_rate():
    """Mann-Whitney on the null feature over 200 seeds: nominal 5 %; the bound 9.5 % is the
    99.9 % binomial quantile of 200 tests at 5 % (measured: 7.5 %; seeds 0-19: 2 of 20)."""
    false = 0
    for seed in range(200):
        images, clinical = planted_cohort(seed)
        features = pooled(images).set_index("patient")
        groups = clinical.set_index("patient")["response"]
        tests = group_tests(features, groups, [PLANTED, NULL], 0.05, 0, 0).set_index("feature")
        false += bool(tests.at[NULL, "fdr"] < 0.05)
    assert false / 200 <= 0.095


def test_without_group_or_survival_columns_the_tables_are_empty_and_notes_say_why():
    stats = run(0, settings=cohort_settings(clinical="clinical.tsv"), n_patients=10)
    assert stats.group_tests.empty and stats.survival.empty and stats.km_tests.empty
    notes = stats.notes.set_index("topic")["note"]
    assert "no group column configured" in notes["groups"]
    assert "no survival columns configured" in notes["survival"]


def test_all_events_zero_gives_rows_with_reasons_and_a_note():
    stats = run(0, clinical_edit=lambda c: c.assign(death="0"), n_patients=20)
    assert set(stats.survival["reason"]) == {"no events (every event value is 0)"}
    assert stats.survival["p"].isna().all()
    assert any("no events" in n for n in stats.notes["note"])
    assert stats.km_tests["split"].tolist() == ["phenotype_call"]  # no Cox p to rank features
    assert "no events" in stats.km_tests.loc[0, "reason"]
    assert stats.group_tests["p"].notna().all()  # the other statistics are still made


def test_a_group_with_one_patient_is_left_out_with_a_note():
    def lonely(clinical):
        clinical = clinical.copy()
        clinical.loc[0, "response"] = "PR"
        return clinical

    stats = run(1, clinical_edit=lonely, n_patients=20)
    assert any("'PR' (1)" in n for n in stats.notes["note"])
    tests = stats.group_tests.set_index("feature")
    assert tests.at[PLANTED, "test"] == "mann_whitney_u"  # R vs NR, PR left out
    assert "PR (1)" in tests.at[PLANTED, "reason"]


def test_missing_patients_are_noted_and_dropped_from_the_outcome_statistics():
    stats = run(2, clinical_edit=lambda c: c.iloc[3:], n_patients=20)
    assert any("p000, p001, p002" in n for n in stats.notes["note"])
    assert (stats.survival["n_patients"] == 17).all()
    assert (stats.group_tests["n_patients"] == 17).all()


def test_selected_features_follow_the_patterns_and_skip_descriptive_columns():
    table = pd.DataFrame(
        {
            "patient": ["a"],
            "n_images": [1],
            "n_cells_CD8_T": [5],
            "phenotype_call": ["desert"],
            "density_per_mm2_tissue_CD8_T": [1.0],
            "mixing_score": [0.5],
        }
    )
    assert selected_features(table, ["*"]) == ["density_per_mm2_tissue_CD8_T", "mixing_score"]
    assert selected_features(table, ["mixing*"]) == ["mixing_score"]
