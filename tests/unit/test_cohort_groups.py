"""Group tests: on a toy table they equal scipy and statsmodels called directly; effect sizes
and their intervals; groups of one patient left out with a reason."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from frontline.cohort import fdr_bh, group_tests, mixed_model_tests, rank_biserial
from frontline.cohort.groups import epsilon_squared

RNG = np.random.default_rng(11)
PATIENTS = [f"p{i}" for i in range(12)]
TOY = pd.DataFrame(
    {
        "up": np.r_[RNG.normal(10, 2, 6), RNG.normal(14, 2, 6)],
        "flat": RNG.normal(5, 1, 12),
        "same": np.ones(12),
    },
    index=PATIENTS,
)
TWO = pd.Series(["NR"] * 6 + ["R"] * 6, index=PATIENTS)


def test_two_groups_equal_scipy_mann_whitney_and_statsmodels_bh():
    tests = group_tests(TOY, TWO, ["up", "flat"], fdr=0.05, n_boot=0, seed=0).set_index("feature")
    direct = {n: stats.mannwhitneyu(TOY[n][6:], TOY[n][:6], alternative="two-sided") for n in TOY}
    from statsmodels.stats.multitest import multipletests

    q = multipletests([direct["up"].pvalue, direct["flat"].pvalue], method="fdr_bh")[1]
    for name, want_q in zip(["up", "flat"], q):
        assert tests.at[name, "test"] == "mann_whitney_u"
        assert tests.at[name, "statistic"] == direct[name].statistic
        assert tests.at[name, "p"] == pytest.approx(direct[name].pvalue, rel=1e-12)
        assert tests.at[name, "fdr"] == pytest.approx(want_q, rel=1e-12)
    assert tests.at["up", "groups"] == "NR, R"
    assert tests.at["up", "median_R"] == pytest.approx(np.median(TOY["up"][6:]))
    assert tests.at["up", "n_patients"] == 12


def test_rank_biserial_is_two_auc_minus_one_from_the_u_statistic():
    a, b = TOY["up"][:6].to_numpy(), TOY["up"][6:].to_numpy()
    r, low, high = rank_biserial(a, b)
    u = stats.mannwhitneyu(b, a).statistic
    assert r == pytest.approx(2 * u / 36 - 1)
    assert -1 <= low < r < high <= 1
    # DeLong's variance of the AUC: placement values, computed here the long way
    psi = np.array([[1.0 if x > y else 0.5 if x == y else 0.0 for y in a] for x in b])
    var = psi.mean(axis=1).var(ddof=1) / 6 + psi.mean(axis=0).var(ddof=1) / 6
    half = stats.norm.ppf(0.975) * 2 * np.sqrt(var)
    assert (low, high) == pytest.approx((max(-1, r - half), min(1, r + half)))
    # complete separation: r = 1 and the interval collapses onto it, clipped at 1
    assert rank_biserial([1, 2, 3], [4, 5, 6]) == (1.0, 1.0, 1.0)


def test_three_groups_equal_scipy_kruskal_and_epsilon_squared_has_a_seeded_interval():
    three = pd.Series(["a"] * 4 + ["b"] * 4 + ["c"] * 4, index=PATIENTS)
    tests = group_tests(TOY, three, ["up"], fdr=0.05, n_boot=200, seed=3).set_index("feature")
    direct = stats.kruskal(TOY["up"][:4], TOY["up"][4:8], TOY["up"][8:])
    assert tests.at["up", "test"] == "kruskal_wallis"
    assert tests.at["up", "p"] == pytest.approx(direct.pvalue, rel=1e-12)
    assert tests.at["up", "effect_value"] == pytest.approx(direct.statistic / 11)
    assert (
        0 <= tests.at["up", "ci_low"] <= tests.at["up", "effect_value"] <= tests.at["up", "ci_high"]
    )
    again = group_tests(TOY, three, ["up"], fdr=0.05, n_boot=200, seed=3)
    assert again.loc[0, "ci_low"] == tests.at["up", "ci_low"]  # seeded
    assert epsilon_squared([np.array([1.0, 2]), np.array([3.0, 4])]) == pytest.approx(
        stats.kruskal([1, 2], [3, 4]).statistic / 3
    )


def test_a_group_of_one_patient_is_left_out_and_said():
    groups = TWO.copy()
    groups.iloc[0] = "lonely"
    tests = group_tests(TOY, groups, ["up"], fdr=0.05, n_boot=0, seed=0)
    assert tests.loc[0, "test"] == "mann_whitney_u" and tests.loc[0, "n_patients"] == 11
    assert "lonely (1)" in tests.loc[0, "reason"]
    only = pd.Series(["R"] * 11 + ["NR"], index=PATIENTS)
    none = group_tests(TOY, only, ["up"], fdr=0.05, n_boot=0, seed=0)
    assert not none.loc[0, "computable"] and np.isnan(none.loc[0, "p"])
    assert "fewer than 2 groups" in none.loc[0, "reason"] and "NR (1)" in none.loc[0, "reason"]


def test_a_constant_feature_is_not_computable_and_not_counted_in_the_fdr():
    tests = group_tests(TOY, TWO, ["up", "same"], fdr=0.05, n_boot=0, seed=0).set_index("feature")
    assert tests.at["same", "reason"] == "the same value for every patient"
    assert np.isnan(tests.at["same", "fdr"])
    assert tests.at["up", "fdr"] == pytest.approx(tests.at["up", "p"])  # one test in the family
    q = fdr_bh([0.01, np.nan, 0.04])  # two tests: 0.01 * 2 / 1 and 0.04 * 2 / 2
    assert q[0] == pytest.approx(0.02) and np.isnan(q[1]) and q[2] == pytest.approx(0.04)


def test_the_mixed_model_equals_statsmodels_mixedlm_with_images_nested_in_patients():
    import statsmodels.formula.api as smf

    rng = np.random.default_rng(5)
    patients = np.repeat(PATIENTS, 3)
    shift = np.repeat(rng.normal(0, 1, 12), 3) + np.repeat(TWO.eq("R").to_numpy() * 1.5, 3)
    images = pd.DataFrame(
        {"patient": patients, "density": 50 + 10 * (shift + rng.normal(0, 0.5, 36))}
    )
    table = mixed_model_tests(images, TWO, ["density"], fdr=0.05).iloc[0]
    data = images.assign(
        z=(images["density"] - images["density"].mean()) / images["density"].std(),
        group=TWO.reindex(patients).to_numpy(),
    )
    full = smf.mixedlm("z ~ group", data, groups=data["patient"]).fit(reml=False)
    null = smf.mixedlm("z ~ 1", data, groups=data["patient"]).fit(reml=False)
    assert table["mixed_coef"] == pytest.approx(full.fe_params["group[T.R]"], rel=1e-4)
    lr_p = stats.chi2.sf(2 * (full.llf - null.llf), 1)
    assert table["mixed_p"] == pytest.approx(lr_p, rel=1e-3)
    assert table["mixed_n_images"] == 36 and table["mixed_n_patients"] == 12
    one_each = mixed_model_tests(images.drop_duplicates("patient"), TWO, ["density"], 0.05)
    assert one_each.loc[0, "mixed_reason"].startswith("one image per patient")
