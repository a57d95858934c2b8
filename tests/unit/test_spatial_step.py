"""The spatial step on one sample: parameters, every table, the summary (frontline.spatial)."""

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import MultiPolygon, box
from spatial_cases import PANEL, PANEL_CALL, regions_of, small_sample

from frontline import config, front, plots, spatial


def test_params_take_the_schema_defaults_and_refuse_unknown_keys():
    defaults = config.section("spatial")
    params = spatial.Params.from_config(PANEL, call=PANEL_CALL)
    assert params.margin_um == defaults["margin_um"] and params.seed == defaults["seed"]
    assert params.immune_types == PANEL["immune_types"]
    assert params.tumor_phenotype == config.section("front")["tumor_phenotype"]
    tuned = spatial.Params.from_config(
        {**PANEL, "margin_um": 50.0, "call": {"phenotype": "B_cell"}},
        tumor_phenotype="PanCK+",
        workers=2,
    )
    assert tuned.margin_um == 50.0 and tuned.tumor_phenotype == "PanCK+" and tuned.workers == 2
    # ``call`` is merged key by key with its defaults
    assert tuned.call == {**defaults["call"], "phenotype": "B_cell"}
    with pytest.raises(ValueError, match="margin"):
        spatial.Params.from_config({**PANEL, "margins_um": 50.0}, call=PANEL_CALL)


def test_params_without_the_keys_that_name_phenotypes_are_refused():
    """immune_types and call.phenotype have no default: they name a panel's phenotypes."""
    with pytest.raises(ValueError, match=r"\['immune_types', 'call.phenotype'\] have no default"):
        spatial.Params.from_config()
    with pytest.raises(ValueError, match=r"\['call.phenotype'\] have no default"):
        spatial.Params.from_config(PANEL)


def test_timings_record_each_stage():
    timings = spatial.Timings()
    with timings("a"):
        sum(range(100_000))
    with timings("b"):
        pass
    assert list(timings.wall_s) == ["a", "b"] and timings.wall_s["a"] > timings.wall_s["b"]
    assert set(timings.cpu_s) == {"a", "b"}


def test_analyze_writes_every_table_and_a_json_summary(caplog):
    cells, regions = small_sample(np.random.default_rng(7))
    params = spatial.Params.from_config(
        envelope="permutations",
        permutations=9,
        immune_types=("CD8_T", "macrophage", "B_cell"),
        call=PANEL_CALL,
    )
    cells = cells.sample(frac=1.0, random_state=0)  # rows in no spatial order
    res = spatial.analyze(cells, regions, params, sample="s1")
    assert (res.cells["cell_id"].to_numpy() == cells["cell_id"].to_numpy()).all()  # same row order
    assert list(res.cells.columns[len(cells.columns) :]) == [
        "dist_front_um",
        "region",
        "in_tumor",
        "in_tissue",
        "dist_nearest_tumor_um",
        "neighbourhood",
    ]
    assert res.cells["dist_front_um"].notna().all()
    summary = json.loads(json.dumps(res.summary, allow_nan=False))
    assert summary["phenotype_call"] == "excluded"  # CD8_T only outside the tumor
    assert summary["has_front"] and summary["front_length_um"] == pytest.approx(
        2 * np.pi * 300, rel=0.01
    )
    assert summary["density_per_mm2_tumor_core_CD8_T"] == 0
    assert summary["fraction_near_front_CD8_T"] > 0.4
    # no B cells: not computable, with a reason; densities are a true 0
    assert summary["median_dist_front_um_B_cell"] is None
    assert "only 0 B_cell cells" in summary["not_computable"]["median_dist_front_um_B_cell"]
    assert summary["density_per_mm2_stroma_B_cell"] == 0
    assert "sample s1: no cells of the phenotype(s) ['B_cell'] that the config names" in caplog.text
    lf = res.lfunction[res.lfunction["phenotype"] == "CD8_T"]
    assert lf["computable"].all() and (lf["permutations"] == 9).all()
    assert (lf["envelope_low_um"] <= lf["envelope_high_um"]).all()
    assert set(res.region_densities["region"]) == set(spatial.REGIONS)
    assert res.neighbourhoods["neighbourhood"].nunique() == params.n_neighbourhoods
    assert all(isinstance(getattr(res, name), type(res.cells)) for name in spatial.TABLES)
    assert "lfunction_envelope" in res.timings_s and "kmeans" in res.timings_s
    # the default envelope, in closed form: the same tables but for the envelope's columns
    closed = spatial.analyze(cells, regions, replace(params, envelope="closed_form"), sample="s1")
    for name in spatial.TABLES:
        if name != "lfunction":
            pd.testing.assert_frame_equal(getattr(closed, name), getattr(res, name))
    lf = closed.lfunction[closed.lfunction["phenotype"] == "CD8_T"]
    assert (lf["envelope"] == "closed_form").all() and (lf["envelope_level"] == 0.98).all()
    assert (lf["envelope_low_um"] < lf["envelope_high_um"]).all()
    assert lf["L_um"].equals(res.lfunction.loc[lf.index, "L_um"])
    figures = plots.spatial_figures(res, regions, params, sample="s1")
    assert list(figures) == ["profile", "neighbourhoods", "lfunction"]
    assert "excluded" in figures["profile"].axes[0].get_title()


@pytest.mark.parametrize("case", ["no tumor", "tumor everywhere"])
def test_analyze_without_front_reports_no_front(case, caplog):
    cells, _ = small_sample(np.random.default_rng(8))
    if case == "no tumor":
        cells["phenotype"] = cells["phenotype"].replace("tumor", "stromal")
        tumor = MultiPolygon()
    else:
        tumor = box(0, 0, 1000, 1000)
    regions = regions_of(tumor)
    res = spatial.analyze(
        cells,
        regions,
        spatial.Params.from_config(PANEL, call=PANEL_CALL, envelope="none"),
        sample="s",
    )
    # without a tumor: no_front; a tumor filling the tissue holds every CD8_T cell (inflamed)
    expected_call = "no_front" if case == "no tumor" else "inflamed"
    assert res.summary["phenotype_call"] == expected_call
    assert res.summary["no_front_reason"] == regions.no_front_reason
    assert "no invasive front" in caplog.text
    assert res.cells["dist_front_um"].isna().all()
    assert res.densities.empty
    expected = "stroma" if case == "no tumor" else "tumor_core"
    assert (res.cells["region"] == expected).all()
    assert "lfunction_envelope" not in res.timings_s
    json.dumps(res.summary, allow_nan=False)


def test_too_few_cells_for_neighbourhoods_gives_neighbourhood_zero():
    cells, regions = small_sample(np.random.default_rng(9))
    res = spatial.analyze(
        cells.iloc[:15],
        regions,
        spatial.Params.from_config(PANEL, call=PANEL_CALL, envelope="none"),
        sample="s",
    )
    assert (res.cells["neighbourhood"] == 0).all() and res.neighbourhoods.empty
    assert list(res.neighbourhoods.columns) == [
        "neighbourhood",
        "n_cells",
        "phenotype",
        "mean_fraction",
    ]


# --------------------------------------------------------------------------- accuracy on truth


@pytest.mark.parametrize("preset,seed", [("inflamed", 1), ("excluded", 2), ("desert", 3)])
def test_accuracy_on_simulator_truth(preset, seed):
    """Front inferred from the truth tumor cells, against the simulator's true distances and
    the band densities of the same cells with the true front (1 x 1 mm, the demo seeds)."""
    from frontline import simulate
    from frontline.evaluate import spatial_accuracy

    cells, tumor, extent = simulate.truth_cells(preset, (2048, 2048), 0.5, seed)
    settings = config.section("front")
    settings.pop("tumor_phenotype")
    regions = front.detect_regions(
        cells[["x_um", "y_um"]].to_numpy(),
        (cells["phenotype"] == "tumor").to_numpy(),
        extent,
        **settings,
    )
    params = spatial.Params.from_config(PANEL, call=PANEL_CALL, envelope="none")
    res = spatial.analyze(
        cells.drop(columns="dist_front_um"),
        regions,
        params,
        immune_lineage=simulate.IMMUNE,
        sample=preset,
    )
    acc = spatial_accuracy(
        cells,
        tumor,
        res.cells,
        regions,
        res.densities,
        res.summary["phenotype_call"],
        params,
        simulate.IMMUNE,
    )
    assert acc["dist_n_cells"] > 1500
    assert acc["dist_median_abs_error_um"] <= 5.0
    # every band where the truth has >= 50 cells/mm² and >= 100 cells, within 15 %
    assert acc["density_bands_compared"] >= 4
    assert acc["density_bands_within_tolerance"] == acc["density_bands_compared"], acc[
        "density_worst_bands"
    ]
    assert acc["density_max_rel_error"] <= 0.15
    assert acc["truth_call"] == preset
    assert res.summary["phenotype_call"] == preset


FIELDS = ["nests", "septa", "tma_core", "compartmentalized", "mixed"]


@pytest.mark.parametrize("preset", FIELDS)
def test_each_new_field_type_within_6_um_and_called_right(preset):
    """The fields made like real breast carcinoma (1 x 1 mm, seed 1): the front from the truth
    tumor cells gives signed distances within 6 µm of the truth (median over cells within
    300 µm of the true front), and the call is the one the preset's pattern shows."""
    from frontline import simulate
    from frontline.evaluate import spatial_accuracy

    cells, tumor, extent = simulate.truth_cells(preset, (2048, 2048), 0.5, seed=1)
    settings = config.section("front")
    settings.pop("tumor_phenotype")
    regions = front.detect_regions(
        cells[["x_um", "y_um"]].to_numpy(),
        (cells["phenotype"] == "tumor").to_numpy(),
        extent,
        **settings,
    )
    params = spatial.Params.from_config(PANEL, call=PANEL_CALL, envelope="none")
    res = spatial.analyze(
        cells.drop(columns="dist_front_um"), regions, params, simulate.IMMUNE, sample=preset
    )
    acc = spatial_accuracy(
        cells,
        tumor,
        res.cells,
        regions,
        res.densities,
        res.summary["phenotype_call"],
        params,
        simulate.IMMUNE,
    )
    expected = simulate.PRESET_TABLE[preset].call
    assert acc["dist_n_cells"] > 1000
    assert acc["dist_median_abs_error_um"] <= 6.0, acc
    assert acc["truth_call"] == expected
    assert res.summary["phenotype_call"] == expected, res.summary["phenotype_call_reason"]
    assert res.summary["phenotype_call_confidence"] == "high"
    assert res.summary["n_nests"] >= 1 and res.summary["tumor_cell_spacing_um"] < 10.5


def test_nests_table_counts_the_cells_of_each_nest():
    from shapely.geometry import MultiPolygon, Point
    from spatial_cases import regions_of

    rng = np.random.default_rng(4)
    a, b = Point(300, 500).buffer(150), Point(750, 500).buffer(100)
    xy = rng.uniform(0, 1000, (6000, 2))
    in_a = shapely.contains_xy(a, xy[:, 0], xy[:, 1])
    in_b = shapely.contains_xy(b, xy[:, 0], xy[:, 1])
    phen = np.where(in_a | in_b, "tumor", "stromal").astype(object)
    phen[in_a & (rng.random(len(xy)) < 0.2)] = "CD8_T"  # a fifth of nest a is CD8 T cells
    cells = pd.DataFrame({"cell_id": np.arange(len(xy)) + 1, "x_um": xy[:, 0], "y_um": xy[:, 1]})
    cells["phenotype"] = phen.astype(str)
    res = spatial.analyze(
        cells,
        regions_of(MultiPolygon([a, b])),
        spatial.Params.from_config(PANEL, call=PANEL_CALL, envelope="none"),
    )
    nests = res.nests.sort_values("area_um2", ascending=False).reset_index(drop=True)
    assert len(nests) == 2 and res.summary["n_nests"] == 2
    assert nests.loc[0, "n_tumor_cells"] + nests.loc[0, "n_immune_cells"] == in_a.sum()
    assert nests.loc[1, "n_immune_cells"] == 0 and nests.loc[1, "n_tumor_cells"] == in_b.sum()
    assert nests.loc[0, "immune_density_per_mm2"] == pytest.approx(
        nests.loc[0, "n_immune_cells"] / (a.area / 1e6)
    )
    assert nests["front_length_um"].sum() == pytest.approx(res.summary["front_length_um"])
    assert res.summary["nest_area_um2_largest"] == pytest.approx(a.area)
