"""Patient features: a patient's images pooled as total cells over total area (never a mean of
per-image ratios); fractions, medians, mixing and enrichment pooled from counts and cells."""

import numpy as np
import pandas as pd
import pytest
from cohort_cases import PARAMS, image, planted_cohort, pooled

from frontline.cohort import SampleOutputs, cohort_features, describe
from frontline.cohort.features import sample_counts, unit_features

CORE = "density_per_mm2_tumor_core_CD8_T"


def two_images(rng):
    """Patient P: image a (core 0.1 mm², 30 CD8 T cells) and image b (core 0.5 mm², 20 cells);
    patient Q: one image. Per image the core densities are 300 and 40 cells/mm²."""
    a = image(
        rng,
        {"CD8_T": {"tumor_core": 30, "stroma": 10}, "tumor": {"tumor_core": 50}},
        {"tumor_core": 0.1, "inner_margin": 0.05, "outer_margin": 0.05, "stroma": 0.2},
    )
    b = image(
        rng,
        {"CD8_T": {"tumor_core": 20, "stroma": 10}, "tumor": {"tumor_core": 100}},
        {"tumor_core": 0.5, "inner_margin": 0.05, "outer_margin": 0.05, "stroma": 0.4},
        call="desert",
    )
    q = image(
        rng,
        {"CD8_T": {"tumor_core": 5}, "tumor": {"tumor_core": 40}},
        {"tumor_core": 0.2, "stroma": 0.1},
    )
    return {"a": a, "b": b, "q": q}, {"a": "P", "b": "P", "q": "Q"}


def test_pooled_density_is_total_cells_over_total_area_not_the_mean_of_ratios():
    outputs, patients = two_images(np.random.default_rng(0))
    features = cohort_features(outputs, patients, PARAMS, ["CD8_T", "macrophage"])
    p = features.patients.table.set_index("patient")
    assert p.at["P", CORE] == pytest.approx(50 / 0.6)  # 83.3, where the mean of 300, 40 is 170
    assert p.at["P", CORE] != pytest.approx((300 + 40) / 2)
    assert p.at["P", "n_images"] == 2 and p.at["Q", "n_images"] == 1
    assert p.at["P", "n_cells_CD8_T"] == 70
    # the whole tissue: (40 + 30) CD8 T cells over 0.4 + 1.0 mm²
    assert p.at["P", "density_per_mm2_tissue_CD8_T"] == pytest.approx(70 / 1.4)
    images = features.images.table.set_index("sample")
    assert images.at["a", CORE] == pytest.approx(300.0)
    assert images.at["b", CORE] == pytest.approx(40.0)
    assert images["patient"].tolist() == ["P", "P", "Q"]


def test_a_type_absent_from_one_image_still_counts_that_image_area():
    rng = np.random.default_rng(1)
    with_mac = image(
        rng,
        {
            "CD8_T": {"tumor_core": 10},
            "macrophage": {"tumor_core": 12},
            "tumor": {"tumor_core": 30},
        },
        {"tumor_core": 0.2, "stroma": 0.1},
    )
    without = image(
        rng, {"CD8_T": {"tumor_core": 10}, "tumor": {"tumor_core": 30}}, {"tumor_core": 0.4}
    )
    # the second image's table has no macrophage row at all (the spatial step writes none)
    assert "macrophage" not in set(without.region_densities["phenotype"])
    table = cohort_features({"x": with_mac, "y": without}, {"x": "P", "y": "P"}, PARAMS, ["CD8_T"])
    p = table.patients.table.set_index("patient")
    assert p.at["P", "density_per_mm2_tumor_core_macrophage"] == pytest.approx(12 / 0.6)


def test_front_features_pool_cells_of_the_images_with_a_front_only():
    rng = np.random.default_rng(2)
    areas = {"tumor_core": 0.1, "inner_margin": 0.1, "outer_margin": 0.1, "stroma": 0.1}
    front = image(
        rng, {"CD8_T": {"inner_margin": 6, "stroma": 4}, "tumor": {"tumor_core": 20}}, areas
    )
    no_front = image(
        rng,
        {"CD8_T": {"tumor_core": 50}, "tumor": {"tumor_core": 20}},
        {"tumor_core": 0.3, "stroma": 0.1},
        call="no_front",
        has_front=False,
    )
    both = cohort_features({"f": front, "n": no_front}, {"f": "P", "n": "P"}, PARAMS, ["CD8_T"])
    p = both.patients.table.set_index("patient").loc["P"]
    # near the front (|d| <= 50 µm): the 6 inner-margin cells at -50 µm of 10
    assert p["fraction_near_front_CD8_T"] == pytest.approx(0.6)
    assert p["median_dist_front_um_CD8_T"] == pytest.approx(-50.0)
    # inside: 6 cells / 0.2 mm²; outside: 4 / 0.2 (the no-front image's 50 cells not counted)
    assert p["ratio_intratumoral_stromal_CD8_T"] == pytest.approx(1.5)
    assert p["n_images_with_front"] == 1
    assert p["phenotype_call"] == "inflamed"  # the no_front image says nothing
    only = cohort_features({"n": no_front}, {"n": "N"}, PARAMS, ["CD8_T"])
    reasons = only.patients.not_computable.set_index("feature")["reason"]
    assert np.isnan(only.patients.table.loc[0, "fraction_near_front_CD8_T"])
    assert reasons["fraction_near_front_CD8_T"] == "no image with an invasive front"
    assert only.patients.table.loc[0, "phenotype_call"] == "no_front"


def test_too_few_cells_pooled_is_not_computable_but_pooling_rescues_small_images():
    rng = np.random.default_rng(3)
    areas = {"tumor_core": 0.1, "inner_margin": 0.1, "outer_margin": 0.1, "stroma": 0.1}
    small = [
        image(rng, {"CD8_T": {"outer_margin": 3}, "tumor": {"tumor_core": 20}}, areas)
        for _ in range(2)
    ]  # min_cells is 5: 3 cells per image are too few, 6 pooled are enough
    feats = cohort_features({"s0": small[0], "s1": small[1]}, {"s0": "P", "s1": "P"}, PARAMS, [])
    per_image = feats.images.not_computable
    assert set(per_image.loc[per_image["feature"] == "fraction_near_front_CD8_T", "unit"]) == {
        "s0",
        "s1",
    }
    near = per_image[per_image["feature"] == "fraction_near_front_CD8_T"]
    assert near["reason"].tolist() == ["only 3 CD8_T cells (< min_cells 5)"] * 2
    p = feats.patients.table.iloc[0]
    assert p["fraction_near_front_CD8_T"] == pytest.approx(1.0)
    assert p["median_dist_front_um_CD8_T"] == pytest.approx(50.0)


def test_mixing_score_is_pooled_pair_counts_over_pooled_pair_counts():
    rng = np.random.default_rng(4)

    def field(offset_x):
        # CD8 T cells in a tight cluster with tumor cells (8 µm apart) and with each other
        cells = pd.DataFrame(
            {
                "x_um": offset_x + np.array([0.0, 8.0, 16.0, 24.0, 32.0, 0, 8, 16, 24, 32]),
                "y_um": np.array([0.0] * 5 + [8.0] * 5),
                "phenotype": ["CD8_T"] * 5 + ["tumor"] * 5,
                "in_tissue": True,
                "dist_front_um": np.nan,
                "dist_nearest_tumor_um": 8.0,
            }
        )
        out = image(
            rng, {"CD8_T": {"tumor_core": 5}, "tumor": {"tumor_core": 5}}, {"tumor_core": 0.1}
        )
        return SampleOutputs(
            out.summary, out.region_densities, out.densities, out.enrichment, cells
        )

    a, b = field(0.0), field(500.0)
    counts = [sample_counts(x, PARAMS, ["CD8_T"]) for x in (a, b)]
    tumor_pairs = sum(c.mixing.at["CD8_T", "tumor_pairs"] for c in counts)
    immune_pairs = sum(c.mixing.at["CD8_T", "immune_pairs"] for c in counts)
    feats = unit_features(dict(zip("ab", counts)), {"a": "P", "b": "P"}, PARAMS, "patient")
    p = feats.table.iloc[0]
    assert tumor_pairs > 0 and immune_pairs > 0
    assert p["mixing_score_CD8_T"] == pytest.approx(tumor_pairs / immune_pairs)
    # each image alone has 5 CD8 T cells (= min_cells) and 5 tumor cells: computable too
    assert p["n_cells_CD8_T"] == 10


def test_enrichment_z_pools_observed_expected_and_variance():
    rng = np.random.default_rng(5)

    def row(obs, exp, sd):
        return {
            "phenotype": "CD8_T",
            "neighbour_phenotype": "tumor",
            "observed_pairs": obs,
            "expected_pairs": exp,
            "sd_pairs": sd,
            "zscore": (obs - exp) / sd,
            "computable": True,
            "reason": "",
        }

    counts = {"CD8_T": {"tumor_core": 10}, "tumor": {"tumor_core": 30}}
    a = image(rng, counts, {"tumor_core": 0.1}, enrichment=[row(30, 20, 4)])
    b = image(rng, counts, {"tumor_core": 0.1}, enrichment=[row(12, 10, 3)])
    feats = cohort_features({"a": a, "b": b}, {"a": "P", "b": "P"}, PARAMS, [])
    z = feats.patients.table.loc[0, "enrichment_z_CD8_T__tumor"]
    assert z == pytest.approx((42 - 30) / np.sqrt(16 + 9))  # 2.4, not the mean z (2.5 + 0.67)/2
    assert feats.images.table.set_index("sample").at["a", "enrichment_z_CD8_T__tumor"] == 2.5


def test_the_patient_call_is_the_majority_ties_to_more_tissue_and_agreement_is_reported():
    rng = np.random.default_rng(6)
    counts = {"CD8_T": {"tumor_core": 5}, "tumor": {"tumor_core": 20}}
    calls = {"a": ("inflamed", 0.2), "b": ("desert", 0.5), "c": ("no_front", 0.1)}
    outputs = {
        k: image(rng, counts, {"tumor_core": area}, call=c) for k, (c, area) in calls.items()
    }
    feats = cohort_features(outputs, dict.fromkeys(outputs, "P"), PARAMS, [])
    p = feats.patients.table.iloc[0]
    assert p["phenotype_call"] == "desert"  # one each; desert covers 0.5 mm², inflamed 0.2
    assert p["call_agreement"] == pytest.approx(0.5)
    assert p["image_calls"] == "inflamed: 1, desert: 1, no_front: 1"
    outputs["d"] = image(rng, counts, {"tumor_core": 0.1}, call="inflamed")
    again = cohort_features(outputs, dict.fromkeys(outputs, "P"), PARAMS, []).patients.table
    assert again.loc[0, "phenotype_call"] == "inflamed"  # two of three informative calls


def test_band_densities_pool_counts_and_areas_per_band():
    rng = np.random.default_rng(7)
    bands = [
        {
            "phenotype": "CD8_T",
            "band_start_um": -25.0,
            "band_end_um": 0.0,
            "n_cells": 4,
            "area_mm2": 0.01,
        },
        {
            "phenotype": "tumor",
            "band_start_um": -25.0,
            "band_end_um": 0.0,
            "n_cells": 9,
            "area_mm2": 0.01,
        },
    ]
    counts = {"CD8_T": {"tumor_core": 5}, "tumor": {"tumor_core": 20}}
    a = image(rng, counts, {"tumor_core": 0.1, "stroma": 0.1}, bands=bands)
    b = image(
        rng, counts, {"tumor_core": 0.1, "stroma": 0.1}, bands=[{**bands[1], "area_mm2": 0.03}]
    )  # no CD8 T cell in this band: no row, its area counts
    feats = cohort_features({"a": a, "b": b}, {"a": "P", "b": "P"}, PARAMS, [])
    band = feats.patients.bands.set_index("phenotype")
    assert band.at["CD8_T", "n_cells"] == 4
    assert band.at["CD8_T", "area_mm2"] == pytest.approx(0.04)
    assert band.at["CD8_T", "density_per_mm2"] == pytest.approx(100.0)


def test_every_feature_column_is_described_with_a_unit():
    outputs, patients = two_images(np.random.default_rng(8))
    feats = cohort_features(outputs, patients, PARAMS, ["CD8_T", "macrophage"])
    described = feats.descriptions.set_index("feature")
    columns = [c for c in feats.patients.table.columns if c != "patient"]
    assert described.index.tolist() == columns
    assert (described["description"] != "").all()
    assert described.at[CORE, "unit"] == "cells/mm²"
    assert described.at["median_dist_nearest_tumor_um_CD8_T", "unit"] == "µm"
    assert not described.at["n_images", "tested"] and described.at[CORE, "tested"]
    assert describe(["something_new"]).loc[0, "description"] == ""


def test_library_pooling_equals_the_planted_cohort_totals():
    """The planted cohort of the statistics tests, built as per-image outputs: the library's
    patient densities equal its total cells / total area."""
    images, _ = planted_cohort(0, n_patients=6)
    rng = np.random.default_rng(0)
    outputs = {
        row.sample: image(
            rng,
            {
                "CD8_T": {"tumor_core": row.n_cd8},
                "macrophage": {"tumor_core": row.n_macrophage},
                "tumor": {"tumor_core": 30},
            },
            {"tumor_core": row.area_mm2},
        )
        for row in images.itertuples()
    }
    feats = cohort_features(outputs, dict(zip(images["sample"], images["patient"])), PARAMS, [])
    got = feats.patients.table.set_index("patient")[[CORE, "density_per_mm2_tumor_core_macrophage"]]
    want = pooled(images).set_index("patient").drop(columns="phenotype_call")
    pd.testing.assert_frame_equal(got, want, check_names=False)


def test_one_image_pooled_alone_gives_its_own_summary_numbers():
    """A patient of one image: every feature the spatial summary also reports is the same
    number (the pooled definitions are the per-image ones)."""
    from spatial_cases import small_sample

    from frontline import spatial

    cells, regions = small_sample(np.random.default_rng(9))
    params = spatial.Params.from_config(
        {"immune_types": ["CD8_T", "macrophage"], "permutations": 0, "min_cells": 20}
    )
    result = spatial.analyze(cells, regions, params, immune_lineage=["CD8_T", "macrophage"])
    feats = cohort_features(
        {"s": SampleOutputs.from_result(result)}, {"s": "P"}, params, ["CD8_T", "macrophage"]
    )
    row = feats.patients.table.iloc[0]
    shared = [k for k in result.summary if k in row.index and k not in ("phenotype_call",)]
    assert len(shared) > 40
    for key in shared:
        want = result.summary[key]
        if want is None:
            assert np.isnan(row[key]), key
        else:
            assert row[key] == pytest.approx(want, rel=1e-9), key
    assert row["phenotype_call"] == result.summary["phenotype_call"]
