"""Survival: on a toy table the Cox models, Kaplan-Meier curves and log-rank tests equal
lifelines called directly; no events and constant features are not computable."""

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test, proportional_hazard_test

from frontline.cohort import cox_model, kaplan_meier, median_split, survival_tests

RNG = np.random.default_rng(21)
N = 40
PATIENTS = [f"p{i}" for i in range(N)]
FEATURE = pd.Series(RNG.gamma(4, 40, N), index=PATIENTS)
CLINICAL = pd.DataFrame(
    {
        "time": np.round(RNG.exponential(1000 * np.exp((FEATURE - 160) / 80)), 1),
        "event": (RNG.random(N) < 0.75).astype(float),
        "age": RNG.integers(40, 85, N).astype(float),
        "sex": RNG.choice(["F", "M"], N),
    },
    index=PATIENTS,
)


def direct_cox(columns):
    data = CLINICAL[["time", "event"]].assign(feature=(FEATURE - FEATURE.mean()) / FEATURE.std())
    for column in columns:
        data[column] = CLINICAL[column] if column != "sex=M" else (CLINICAL["sex"] == "M") * 1.0
    return CoxPHFitter().fit(data, "time", "event"), data


def test_univariable_cox_equals_lifelines_per_sd():
    got = cox_model(FEATURE, CLINICAL["time"], CLINICAL["event"])
    cph, data = direct_cox([])
    row = cph.summary.loc["feature"]
    assert got["hr_per_sd"] == pytest.approx(row["exp(coef)"], rel=1e-9)
    assert got["ci_low"] == pytest.approx(row["exp(coef) lower 95%"], rel=1e-9)
    assert got["ci_high"] == pytest.approx(row["exp(coef) upper 95%"], rel=1e-9)
    assert got["p"] == pytest.approx(row["p"], rel=1e-9)
    assert got["concordance"] == pytest.approx(cph.concordance_index_, rel=1e-12)
    ph = proportional_hazard_test(cph, data, time_transform="rank").summary
    assert got["ph_p"] == pytest.approx(ph.loc["feature", "p"], rel=1e-9)
    assert got["n_patients"] == N and got["n_events"] == int(CLINICAL["event"].sum())
    assert got["hr_per_sd"] < 1  # longer times with higher values: lower hazard
    assert got["reason"] == ""


def test_adjusted_cox_equals_lifelines_with_numeric_and_indicator_covariates():
    table, notes = survival_tests(
        pd.DataFrame({"f": FEATURE}), CLINICAL, ["f"], ["age", "sex"], fdr=0.05
    )
    cph, _ = direct_cox(["age", "sex=M"])
    row = cph.summary.loc["feature"]
    assert table.loc[0, "adj_hr_per_sd"] == pytest.approx(row["exp(coef)"], rel=1e-7)
    assert table.loc[0, "adj_p"] == pytest.approx(row["p"], rel=1e-6)
    assert table.loc[0, "adj_concordance"] == pytest.approx(cph.concordance_index_, rel=1e-9)
    assert table.loc[0, "fdr"] == pytest.approx(table.loc[0, "p"])  # one feature
    assert CLINICAL["event"].sum() == 30 and notes == []  # 3 variables, 10 events each
    _, notes = survival_tests(
        pd.DataFrame({"f": FEATURE}), CLINICAL.iloc[:30], ["f"], ["age", "sex"], fdr=0.05
    )
    assert "fewer than 10 events per variable" in notes[0]


def test_missing_covariates_drop_those_patients_from_the_adjusted_model_only():
    clinical = CLINICAL.copy()
    clinical.iloc[:5, clinical.columns.get_loc("age")] = np.nan
    table, _ = survival_tests(pd.DataFrame({"f": FEATURE}), clinical, ["f"], ["age"], fdr=0.05)
    assert table.loc[0, "n_patients"] == N and table.loc[0, "adj_n_patients"] == N - 5


def test_no_events_one_value_and_too_few_patients_are_not_computable():
    none = cox_model(FEATURE, CLINICAL["time"], CLINICAL["event"] * 0)
    assert none["reason"] == "no events (every event value is 0)" and np.isnan(none["hr_per_sd"])
    flat = cox_model(FEATURE * 0 + 3, CLINICAL["time"], CLINICAL["event"])
    assert flat["reason"] == "the same value for every patient"
    few = cox_model(FEATURE[:2], CLINICAL["time"], CLINICAL["event"].clip(1, 1))
    assert few["reason"].startswith("fewer than 3 patients")
    table, notes = survival_tests(
        pd.DataFrame({"f": FEATURE}), CLINICAL.assign(event=0.0), ["f"], [], fdr=0.05
    )
    assert np.isnan(table.loc[0, "p"]) and "no events" in notes[-1]


def test_kaplan_meier_and_log_rank_equal_lifelines():
    labels = median_split(FEATURE)
    assert (labels == "high").sum() == N // 2 and (labels == "low").sum() == N // 2
    curves, test = kaplan_meier(labels, CLINICAL["time"], CLINICAL["event"], "f (median split)")
    for group in ("high", "low"):
        part = CLINICAL[labels == group]
        kmf = KaplanMeierFitter().fit(part["time"], part["event"])
        mine = curves[curves["group"] == group]
        np.testing.assert_allclose(mine["survival"], kmf.survival_function_.iloc[:, 0])
        np.testing.assert_allclose(mine["ci_low"], kmf.confidence_interval_.iloc[:, 0])
        assert mine["at_risk"].iloc[0] == N // 2
    direct = multivariate_logrank_test(CLINICAL["time"], labels, CLINICAL["event"])
    assert test["logrank_p"] == pytest.approx(direct.p_value, rel=1e-12)
    assert test["groups"] == "high (20), low (20)" and test["reason"] == ""


def test_kaplan_meier_leaves_out_groups_of_one_patient_and_says_so():
    labels = pd.Series(["a"] * (N - 1) + ["b"], index=PATIENTS)
    curves, test = kaplan_meier(labels, CLINICAL["time"], CLINICAL["event"], "call")
    assert set(curves["group"]) == {"a"} and np.isnan(test["logrank_p"])
    assert "fewer than 2 groups" in test["reason"] and "b (1)" in test["reason"]
