"""The immune phenotype call and its evidence (frontline.spatial.call)."""

import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point
from spatial_cases import PANEL, PANEL_CALL, regions_of

from frontline import spatial
from frontline.spatial import call_evidence, immune_call, poisson_interval, wilson_interval

CALL = spatial.Params.from_config(PANEL, call=PANEL_CALL).call  # the schema's call section


def test_wilson_interval_matches_the_closed_form_and_stays_in_0_1():
    lo, hi = wilson_interval(30, 100)
    assert lo == pytest.approx(0.2189, abs=1e-4) and hi == pytest.approx(0.3958, abs=1e-4)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert np.isnan(wilson_interval(0, 0)).all()


def test_poisson_interval_is_the_exact_garwood_interval():
    assert poisson_interval(0) == pytest.approx((0.0, 3.6889), abs=1e-4)
    assert poisson_interval(10) == pytest.approx((4.7954, 18.3904), abs=1e-4)


def located(n_tumor_cd8, n_contact_cd8, n_stroma_cd8, extent=(1000.0, 1000.0), seed=0):
    """Cells of a 1 x 1 mm field, a tumor disc of 300 µm radius: CD8_T cells inside it, just
    outside it (within 10 µm of a tumor cell) and far out in the stroma."""
    rng = np.random.default_rng(seed)
    disc = Point(500, 500).buffer(300, quad_segs=64)
    angle = rng.uniform(0, 2 * np.pi, 3000)
    radius = 300 * np.sqrt(rng.uniform(0, 1, 3000))
    tumor = np.c_[500 + radius * np.cos(angle), 500 + radius * np.sin(angle)]
    parts = [tumor]
    parts.append(tumor[rng.choice(3000, n_tumor_cd8)] + rng.uniform(-2, 2, (n_tumor_cd8, 2)))
    rim = rng.choice(np.flatnonzero(radius > 296), n_contact_cd8)  # 6 µm out of a rim cell
    parts.append(
        np.c_[
            500 + (radius[rim] + 6) * np.cos(angle[rim]),
            500 + (radius[rim] + 6) * np.sin(angle[rim]),
        ]
    )
    far = rng.uniform(0, 2 * np.pi, n_stroma_cd8)
    r_far = rng.uniform(360, 480, n_stroma_cd8)
    parts.append(np.c_[500 + r_far * np.cos(far), 500 + r_far * np.sin(far)])
    xy = np.vstack(parts)
    phen = ["tumor"] * 3000 + ["CD8_T"] * (n_tumor_cd8 + n_contact_cd8 + n_stroma_cd8)
    cells = pd.DataFrame({"cell_id": np.arange(len(xy)) + 1, "x_um": xy[:, 0], "y_um": xy[:, 1]})
    cells["phenotype"] = phen
    return cells, regions_of(disc, extent)


def analyzed(cells, regions, margin_um=100.0, **call):
    params = spatial.Params.from_config(
        PANEL, envelope="none", margin_um=margin_um, call={**PANEL_CALL, **call}
    )
    return spatial.analyze(cells, regions, params, sample="s").summary


def test_cd8_cells_among_tumor_cells_are_inflamed_with_their_evidence():
    cells, regions = located(n_tumor_cd8=120, n_contact_cd8=30, n_stroma_cd8=150)
    summary = analyzed(cells, regions)
    assert summary["phenotype_call"] == "inflamed"
    assert summary["phenotype_call_confidence"] == "high"
    # 150 of 300 CD8_T cells infiltrate: 120 inside, 30 touching the tumor's edge
    assert summary["call_n_cells"] == 300
    assert summary["call_fraction_infiltrating"] == pytest.approx(0.5, abs=0.01)
    assert summary["call_fraction_in_tumor"] == pytest.approx(0.4, abs=0.01)
    assert summary["call_margin_fraction"] == pytest.approx(0.2, abs=0.01)
    area_tumor = np.pi * 300**2 / 1e6
    assert summary["call_density_per_mm2_tumor"] == pytest.approx(120 / area_tumor, rel=0.03)
    lo, hi = (
        summary["call_fraction_infiltrating_ci_low"],
        summary["call_fraction_infiltrating_ci_high"],
    )
    assert lo < 0.5 < hi and lo > 0.3
    assert "50% of CD8_T cells" in summary["phenotype_call_reason"]


def test_cd8_cells_kept_out_of_the_tumor_are_excluded():
    cells, regions = located(n_tumor_cd8=5, n_contact_cd8=10, n_stroma_cd8=285)
    summary = analyzed(cells, regions)
    assert summary["phenotype_call"] == "excluded"
    assert summary["call_fraction_infiltrating"] == pytest.approx(15 / 300, abs=0.005)
    assert summary["phenotype_call_confidence"] == "high"
    assert summary["call_margin_density_per_mm2"] > 0  # not a desert


def test_few_cd8_cells_anywhere_is_a_desert_and_too_small_a_field_is_not_computable():
    cells, regions = located(n_tumor_cd8=3, n_contact_cd8=1, n_stroma_cd8=4)
    summary = analyzed(cells, regions)
    assert summary["phenotype_call"] == "desert"
    assert summary["call_density_per_mm2_tumor"] < 100
    assert summary["call_margin_density_per_mm2"] < 0
    # the same cells in a field whose tumor and margin hold < 20 cells at 100/mm²: unknown
    disc = Point(50, 50).buffer(20)
    small = pd.DataFrame(
        {
            "cell_id": [1, 2, 3, 4],
            "x_um": [45.0, 50, 55, 90],
            "y_um": [50.0, 50, 50, 90],
            "phenotype": ["tumor", "tumor", "tumor", "CD8_T"],
        }
    )
    tiny = analyzed(small, regions_of(disc, (100.0, 100.0), tolerance=1.0))
    assert tiny["phenotype_call"] == "not_computable"
    assert "(< min_cells 20)" in tiny["phenotype_call_reason"]


def test_too_few_cells_for_the_share_is_not_computable():
    cells, regions = located(n_tumor_cd8=0, n_contact_cd8=0, n_stroma_cd8=12)
    cells.loc[cells["phenotype"] == "CD8_T", ["x_um", "y_um"]] = np.c_[
        np.linspace(185, 195, 12), np.full(12, 500.0)
    ]  # 12 cells packed at one spot of a 20 µm outer margin: 300/mm² there, too few overall
    summary = analyzed(cells, regions, margin_um=20.0)
    assert summary["call_density_per_mm2_outer_margin"] > 100
    assert summary["phenotype_call"] == "not_computable"
    assert summary["phenotype_call_reason"].startswith("only 12 CD8_T cells (< min_cells 20)")


def test_all_immune_pools_the_lineage_and_no_front_has_its_reason():
    cells, regions = located(n_tumor_cd8=0, n_contact_cd8=0, n_stroma_cd8=200)
    is_cd8 = (cells["phenotype"] == "CD8_T").to_numpy()
    cells.loc[np.flatnonzero(is_cd8)[:100], "phenotype"] = "B_cell"
    summary = analyzed(cells, regions, phenotype="all_immune")
    assert summary["call_phenotype"] == "all_immune" and summary["call_n_cells"] == 200
    everywhere = regions_of(shapely.box(0, 0, 1000, 1000))
    res = analyzed(cells, everywhere, phenotype="all_immune")
    # the tumor fills the field: 200 immune cells/mm², all among tumor cells: inflamed
    assert everywhere.tumor_fills_tissue
    assert res["phenotype_call"] == "inflamed" and res["phenotype_call_confidence"] == "high"
    assert res["phenotype_call_reason"].startswith(everywhere.no_front_reason)
    # every distance-based statistic is null with the reason there is no front
    assert res["not_computable"]["median_dist_front_um_CD8_T"] == everywhere.no_front_reason
    assert res["not_computable"]["area_mm2_outer_margin"] == everywhere.no_front_reason
    # 100 CD8_T cells/mm² only in a field without stroma: a desert or excluded, who can say
    sparse = cells.drop(index=np.flatnonzero(is_cd8)[100:160])
    res = analyzed(sparse, everywhere)
    assert res["phenotype_call"] == "not_computable"
    assert "cannot be told from a desert" in res["phenotype_call_reason"]
    # no tumor region at all: no_front
    none = regions_of(shapely.Polygon())
    res = analyzed(cells.assign(phenotype="CD8_T"), none)
    assert res["phenotype_call"] == "no_front" and res["phenotype_call_confidence"] is None
    assert res["phenotype_call_reason"] == "no invasive front: no tumor region"


def test_evidence_from_a_table_without_the_spatial_step():
    cells = pd.DataFrame(
        {
            "phenotype": ["CD8_T"] * 4 + ["tumor"],
            "in_tissue": [True, True, True, False, True],
            "in_tumor": [True, False, False, True, True],
            "region": ["inner_margin", "outer_margin", "stroma", "tumor_core", "tumor_core"],
            "dist_nearest_tumor_um": [3.0, 8.0, 40.0, 1.0, 9.0],
        }
    )
    table = pd.DataFrame(
        {
            "region": ["tumor_core", "inner_margin", "outer_margin", "stroma"],
            "area_mm2": [0.5, 0.25, 0.25, 1.0],
        }
    )
    e = call_evidence(cells, table, CALL, ())
    assert e["n_cells"] == 3  # the cell outside the tissue does not count
    assert e["fraction_infiltrating"] == pytest.approx(2 / 3)  # inside, or within 10 µm
    assert e["density_per_mm2_tumor"] == pytest.approx(1 / 0.75)
    assert e["density_per_mm2_stroma"] == pytest.approx(2 / 1.25)
    call, reason, confidence = immune_call(e, CALL, min_cells=1, no_front_reason="")
    assert (call, confidence) == ("desert", "high")  # 1.3 and 4/mm²: far below 100/mm²
    small = table.assign(area_mm2=table["area_mm2"] / 40)  # the same cells in 1/40 the area
    e = call_evidence(cells, small, CALL, ())
    call, _, confidence = immune_call(e, CALL, min_cells=1, no_front_reason="")
    # 53 and 160/mm²: not a desert at the margin; 2 of 3 cells infiltrate
    assert e["density_per_mm2_outer_margin"] == pytest.approx(160)
    assert (call, confidence) == ("inflamed", "low")
