"""Outcome figures: one line per feature with its interval, significant ones in red; a
Kaplan-Meier panel per split with the log-rank p; a figure that says why when nothing was
computable."""

import numpy as np
import pandas as pd
from cohort_cases import cohort_settings, planted_cohort, pooled
from matplotlib.colors import to_hex

from frontline.cohort import check_clinical, cohort_statistics
from frontline.plots import group_effects_figure, hazard_ratio_figure, km_figure, outcome_figures
from frontline.plots.outcomes import SIGNIFICANT

SETTINGS = cohort_settings(
    clinical="c.tsv",
    group="response",
    survival={"time": "os_days", "event": "death"},
    covariates=["age"],
    km_top=1,
    bootstrap=0,
)


def statistics(seed=0):
    images, clinical = planted_cohort(seed, n_patients=60)
    features = pooled(images)
    checked = check_clinical(clinical, features["patient"], SETTINGS)
    return cohort_statistics(features, images, checked, SETTINGS)


def _points(ax):
    """(x, y, colour) of the markers of every errorbar on ``ax``."""
    out = []
    for line in ax.lines:
        if line.get_marker() == "o":
            for x, y in zip(line.get_xdata(), line.get_ydata()):
                out.append((float(x), float(y), to_hex(line.get_color())))
    return out


def test_group_effects_show_each_feature_and_mark_the_significant_one():
    stats = statistics()
    fig = group_effects_figure(stats.group_tests, stats.fdr, "response")
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert set(labels) == {
        "density_per_mm2_tumor_core_CD8_T",
        "density_per_mm2_tumor_core_macrophage",
    }
    points = _points(ax)
    tests = stats.group_tests.set_index("feature")
    red = [x for x, _, c in points if c == SIGNIFICANT]
    assert red == [tests.at["density_per_mm2_tumor_core_CD8_T", "effect_value"]]
    assert "R vs NR" in ax.get_xlabel()


def test_hazard_ratios_have_a_univariable_and_an_adjusted_panel_on_a_log_axis():
    stats = statistics()
    fig = hazard_ratio_figure(stats.survival, stats.fdr)
    assert [ax.get_title() for ax in fig.axes] == ["univariable", "adjusted for the covariates"]
    assert all(ax.get_xscale() == "log" for ax in fig.axes)
    hr = stats.survival.set_index("feature").at["density_per_mm2_tumor_core_CD8_T", "hr_per_sd"]
    red = [x for x, _, c in _points(fig.axes[0]) if c == SIGNIFICANT]
    assert red == [hr] and hr < 1


def test_kaplan_meier_has_a_panel_per_split_with_its_log_rank_p():
    stats = statistics()
    fig = km_figure(stats.km_curves, stats.km_tests, "os_days")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == len(stats.km_tests) == 2  # the call and the top feature
    p = stats.km_tests["logrank_p"].iloc[0]
    assert visible[0].get_title() == f"phenotype_call\nlog-rank p = {p:.3g}"
    assert visible[0].get_xlabel() == "os_days"
    legend = [t.get_text() for t in visible[0].get_legend().get_texts()]
    n = pooled(planted_cohort(0, n_patients=60)[0])["phenotype_call"].value_counts()
    assert legend == [f"desert (n={n['desert']})", f"inflamed (n={n['inflamed']})"]


def test_nothing_computable_gives_a_figure_that_says_why():
    empty = pd.DataFrame(
        {"feature": ["f"], "computable": [False], "reason": ["no groups"], "p": [np.nan]}
    )
    fig = group_effects_figure(empty, 0.05)
    assert "no groups" in fig.axes[0].texts[0].get_text()
    fig = hazard_ratio_figure(empty, 0.05)
    assert "no Cox model was computable: no groups" in fig.axes[0].texts[0].get_text()
    figs = outcome_figures(
        statistics().__class__(
            group_tests=pd.DataFrame(),
            survival=pd.DataFrame(),
            km_curves=pd.DataFrame(),
            km_tests=pd.DataFrame(),
            notes=pd.DataFrame(),
            fdr=0.05,
            group_column=None,
        )
    )
    assert sorted(figs) == ["group_effects", "hazard_ratios", "km"]
    assert all(len(f.axes[0].texts) == 1 for f in figs.values())
