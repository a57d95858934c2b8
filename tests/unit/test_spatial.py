"""Distances, densities and cell-cell statistics (frontline.spatial)."""

import json

import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, box

from frontline import front, spatial


def regions_of(tumor, extent=(1000.0, 1000.0), tolerance=20.0):
    tissue = MultiPolygon([box(0, 0, *extent)])
    tumor = front.as_multipolygon(tumor)
    return front.Regions(
        tumor=tumor,
        tissue=tissue,
        front=front.invasive_front(tumor, tissue, tolerance),
        extent_um=extent,
    )


def uniform(rng, n, extent=(1000.0, 1000.0)):
    return rng.uniform((0, 0), extent, size=(n, 2))


# --------------------------------------------------------------------------- distances, regions


def test_signed_distance_is_exact_to_a_quarter_micron_and_negative_inside():
    rng = np.random.default_rng(0)
    tumor = Point(500, 500).buffer(250, quad_segs=64)
    regions = regions_of(tumor)
    xy = uniform(rng, 5000)
    dist = spatial.signed_distance(xy, regions, step_um=0.5)
    exact = shapely.distance(tumor.boundary, shapely.points(xy))
    inside = shapely.contains_xy(tumor, xy[:, 0], xy[:, 1])
    assert np.abs(np.abs(dist) - exact).max() <= 0.25
    assert (np.sign(dist[inside]) < 0).all() and (dist[~inside] >= 0).all()
    # the fast path: KD-tree near the front, the distance raster's nearest front point beyond
    dmap = spatial.distance_map(regions, step_um=0.5)
    fast = spatial.signed_distance(xy, regions, dmap=dmap)
    assert np.abs(fast - dist).max() <= 0.25
    assert (spatial.inside(xy, tumor, dmap.tumor, dmap.raster_um) == inside).all()


def test_without_front_distances_are_nan():
    regions = regions_of(MultiPolygon())
    assert not regions.has_front
    assert np.isnan(spatial.signed_distance(np.zeros((3, 2)), regions)).all()


def test_regions_from_distance_with_margin():
    d = np.array([-150.0, -100.0, -99.9, -0.1, 0.0, 100.0, 100.1, np.nan, np.nan])
    in_tumor = np.array([1, 1, 1, 1, 0, 0, 0, 1, 0], bool)
    reg = spatial.assign_regions(d, in_tumor, 100.0)
    assert list(reg) == [
        "tumor_core",
        "inner_margin",
        "inner_margin",
        "inner_margin",
        "outer_margin",
        "outer_margin",
        "stroma",
        "tumor_core",
        "stroma",
    ]


def test_band_areas_are_measured_on_the_tissue_raster():
    # tumor = left 400 µm of a 1000 x 800 µm image: the front is the line x = 400
    regions = regions_of(box(0, 0, 400, 800), extent=(1000.0, 800.0))
    dmap = spatial.distance_map(regions, raster_um=2.0)
    edges = spatial.band_edges((-500, 500), 25.0)
    area_mm2 = spatial.band_areas_mm2(dmap, edges)
    mid = 0.5 * (edges[:-1] + edges[1:])
    # every band of 25 µm x 800 µm inside the image holds 0.02 mm²; none beyond the image
    inside_image = (mid > -400) & (mid < 600)
    # (within 1 %: the front stops edge_tolerance_um short of the image border)
    assert area_mm2[inside_image] == pytest.approx(0.02, rel=0.01)
    assert area_mm2[~inside_image].sum() < 1e-4  # (corner pixels beyond the front ends)
    assert spatial.region_areas_mm2(dmap, 100.0) == pytest.approx(
        [0.24, 0.08, 0.08, 0.40], rel=0.01
    )
    # pixel distances are exact, not offset by half a pixel
    cols = (np.arange(dmap.dist_um.shape[1]) + 0.5) * 2.0
    assert dmap.dist_um[200] == pytest.approx(cols - 400, abs=0.01)  # the row at y = 401 µm


def test_band_densities_recover_a_known_density_profile():
    rng = np.random.default_rng(1)
    extent = (2000.0, 2000.0)
    regions = regions_of(box(0, 0, 1000, 2000), extent=extent)
    # density of "CD8_T": 100/mm² inside, 400/mm² outside the tumor
    n_in, n_out = rng.poisson(100 * 2.0), rng.poisson(400 * 2.0)
    xy = np.vstack(
        [
            rng.uniform((0, 0), (1000, 2000), (n_in, 2)),
            rng.uniform((1000, 0), (2000, 2000), (n_out, 2)),
        ]
    )
    phen = np.array(["CD8_T"] * len(xy))
    dist = spatial.signed_distance(xy, regions)
    dmap = spatial.distance_map(regions)
    r, c = dmap.pixel_of(xy)
    table = spatial.band_densities(
        dist,
        phen,
        dmap.tissue[r, c],
        dmap,
        spatial.band_edges((-500, 500), 250.0),
        immune_lineage=["CD8_T"],
    )
    cd8 = table[table["phenotype"] == "CD8_T"]
    assert cd8["density_per_mm2"].iloc[:2].to_numpy() == pytest.approx([100, 100], rel=0.25)
    assert cd8["density_per_mm2"].iloc[2:].to_numpy() == pytest.approx([400, 400], rel=0.15)
    assert set(table["phenotype"]) == {"CD8_T", "all_immune", "all_cells"}
    assert cd8["area_mm2"].to_numpy() == pytest.approx(0.5, rel=0.01)


# --------------------------------------------------------------------------- neighbours


def test_neighbour_counts_on_a_lattice():
    # a square lattice of spacing 10 µm: 4 neighbours within 10 µm, 8 within 14.2 µm
    g = np.arange(0, 1000, 10.0)
    xy = np.array([(x, y) for x in g for y in g])
    phen = np.where((xy[:, 0] // 10) % 2 == 0, "CD8_T", "tumor")
    table = spatial.neighbour_counts(xy, phen, ["CD8_T"], ["tumor", "CD8_T"], [10.0, 14.2], 20)
    t = table.set_index(["neighbour_phenotype", "radius_um"])["mean_count"]
    # away from the edges: tumor columns left and right (2 at 10 µm, 6 at 14.2 µm with diagonals)
    assert t[("tumor", 10.0)] == pytest.approx(2.0, rel=0.02)
    assert t[("CD8_T", 10.0)] == pytest.approx(2.0, rel=0.02)
    assert t[("tumor", 14.2)] == pytest.approx(6.0, rel=0.02)


def test_statistics_of_rare_types_are_not_computable_not_zero():
    rng = np.random.default_rng(2)
    xy = uniform(rng, 500)
    phen = np.array(["tumor"] * 490 + ["B_cell"] * 10)
    table = spatial.neighbour_counts(xy, phen, ["B_cell"], ["tumor"], [50.0], min_cells=20)
    assert table["mean_count"].isna().all() and not table["computable"].any()
    assert "only 10 B_cell cells" in table["reason"].iloc[0]
    mixing = spatial.mixing_scores(xy, phen, ["B_cell"], ["B_cell"], "tumor", 20.0, 20)
    assert mixing["mixing_score"].isna().all() and not mixing["computable"].any()


def test_mixing_score_counts_contacts():
    # one immune cell touching two tumor cells and one immune cell; far away, two immune cells
    xy = np.array([[0, 0], [10, 0], [0, 10], [-10, 0], [500, 500], [510, 500]], float)
    phen = np.array(["CD8_T", "tumor", "tumor", "CD8_T", "CD8_T", "CD8_T"])
    m = spatial.mixing_scores(xy, phen, ["CD8_T"], ["CD8_T"], "tumor", 12.0, min_cells=1)
    overall = m.set_index("phenotype").loc["all_immune"]
    # immune-tumor pairs: (0,1), (0,2) = 2; immune-immune pairs: (0,3), (4,5) = 2
    assert overall["tumor_pairs"] == 2 and overall["immune_pairs"] == 2
    assert overall["mixing_score"] == pytest.approx(1.0)


def test_knn_neighbourhoods_separate_two_communities():
    rng = np.random.default_rng(3)
    left = uniform(rng, 3000, (500.0, 1000.0))
    right = uniform(rng, 3000, (500.0, 1000.0)) + [500, 0]
    xy = np.vstack([left, right])
    phen = np.r_[
        rng.choice(["tumor", "CD8_T"], 3000, p=[0.9, 0.1]),
        rng.choice(["stromal", "macrophage"], 3000, p=[0.7, 0.3]),
    ]
    names, codes = np.unique(phen, return_inverse=True)
    comp = spatial.knn_composition(xy, codes, len(names), k=10)
    assert comp.sum(axis=1) == pytest.approx(1.0)
    labels, centroids = spatial.cellular_neighbourhoods(
        comp, 2, seed=0, order_by=list(names).index("tumor")
    )
    assert np.mean(labels[:3000] == 1) > 0.95 and np.mean(labels[3000:] == 2) > 0.95
    assert centroids[0, list(names).index("tumor")] > 0.8
    again, _ = spatial.cellular_neighbourhoods(comp, 2, seed=0, order_by=list(names).index("tumor"))
    assert (again == labels).all()


def test_enrichment_moments_match_random_relabelling():
    rng = np.random.default_rng(4)
    xy = uniform(rng, 400, (300.0, 300.0))
    phen = rng.choice(["a", "b", "c"], 400, p=[0.5, 0.3, 0.2])
    names, codes = np.unique(phen, return_inverse=True)
    counts, s0, q = spatial.radius_graph_counts(xy, codes, 3, 30.0)
    expected, sd = spatial.enrichment_moments(counts, np.bincount(codes), s0, q)
    sims = np.empty((4000, 3, 3))
    for i in range(len(sims)):
        sims[i], _, _ = spatial.radius_graph_counts(xy, rng.permutation(codes), 3, 30.0)
    assert expected == pytest.approx(sims.mean(axis=0), rel=0.01)
    assert sd == pytest.approx(sims.std(axis=0), rel=0.05)


def test_enrichment_finds_segregated_types():
    rng = np.random.default_rng(5)
    xy = uniform(rng, 2000)
    phen = np.where(xy[:, 0] < 500, "tumor", "CD8_T")
    z = spatial.nhood_enrichment(xy, phen, 50.0, min_cells=20).set_index(
        ["phenotype", "neighbour_phenotype"]
    )["zscore"]
    assert z[("tumor", "tumor")] > 10 and z[("tumor", "CD8_T")] < -10
    assert z[("tumor", "CD8_T")] == pytest.approx(z[("CD8_T", "tumor")])


def test_cross_l_function_is_r_for_independent_types_and_above_for_attraction():
    rng = np.random.default_rng(6)
    extent = (1000.0, 1000.0)
    window = box(0, 0, *extent)
    tumor = uniform(rng, 2000)
    immune = uniform(rng, 1500)
    edge = shapely.distance(window.boundary, shapely.points(immune))
    radii = np.array([10.0, 25.0, 50.0, 100.0])
    L = spatial.cross_l_function(immune, edge, tumor, window.area, radii)
    assert np.abs(L - radii).max() < 3.0
    # immune cells within 8 µm of a tumor cell: attraction at short range
    near = tumor[rng.integers(0, len(tumor), 1500)] + rng.normal(0, 4, (1500, 2))
    near = np.clip(near, 1, 999)
    edge = shapely.distance(window.boundary, shapely.points(near))
    tumor_edge = shapely.distance(window.boundary, shapely.points(tumor))
    obs, lo, hi = spatial.l_function_envelope(
        near, edge, tumor, tumor_edge, window.area, radii, permutations=19, seed=0
    )
    assert obs[0] > hi[0] and obs[0] - radii[0] > 5
    assert (lo <= hi).all()


# --------------------------------------------------------------------------- the whole step


def small_sample(rng, tumor_fraction=0.5):
    """1 x 1 mm: a tumor disc of radius 300 µm, immune cells piling up outside its edge."""
    extent = (1000.0, 1000.0)
    tumor_poly = Point(500, 500).buffer(300, quad_segs=64)
    xy = uniform(rng, 4000, extent)
    inside = shapely.contains_xy(tumor_poly, xy[:, 0], xy[:, 1])
    d = shapely.distance(tumor_poly.boundary, shapely.points(xy))
    phen = np.where(inside, "tumor", "stromal").astype(object)
    immune = (~inside) & (rng.random(len(xy)) < np.exp(-d / 60.0))
    phen[immune] = rng.choice(["CD8_T", "macrophage"], immune.sum())
    cells = pd.DataFrame(
        {
            "cell_id": np.arange(1, len(xy) + 1),
            "x_um": xy[:, 0],
            "y_um": xy[:, 1],
            "phenotype": phen.astype(str),
        }
    )
    return cells, regions_of(tumor_poly, extent)


def test_analyze_writes_every_table_and_a_json_summary():
    cells, regions = small_sample(np.random.default_rng(7))
    params = spatial.Params(permutations=9, immune_types=("CD8_T", "macrophage", "B_cell"))
    cells = cells.sample(frac=1.0, random_state=0)  # rows in no spatial order
    res = spatial.analyze(cells, regions, params, sample="s1")
    assert (res.cells["cell_id"].to_numpy() == cells["cell_id"].to_numpy()).all()  # same row order
    assert {
        "dist_front_um",
        "region",
        "dist_nearest_tumor_um",
        "neighbourhood",
        "in_tissue",
    } <= set(res.cells)
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
    lf = res.lfunction[res.lfunction["phenotype"] == "CD8_T"]
    assert lf["computable"].all() and (lf["permutations"] == 9).all()
    assert (lf["envelope_low_um"] <= lf["envelope_high_um"]).all()
    assert set(res.region_densities["region"]) == set(spatial.REGIONS)
    assert res.neighbourhoods["neighbourhood"].nunique() == params.n_neighbourhoods


@pytest.mark.parametrize("case", ["no tumor", "tumor everywhere"])
def test_analyze_without_front_reports_no_front(case, caplog):
    cells, _ = small_sample(np.random.default_rng(8))
    if case == "no tumor":
        cells["phenotype"] = cells["phenotype"].replace("tumor", "stromal")
        tumor = MultiPolygon()
    else:
        tumor = box(0, 0, 1000, 1000)
    regions = regions_of(tumor)
    res = spatial.analyze(cells, regions, spatial.Params(permutations=0), sample="s")
    assert res.summary["phenotype_call"] == "no_front"
    assert "no invasive front" in caplog.text
    assert res.cells["dist_front_um"].isna().all()
    assert res.densities.empty
    expected = "stroma" if case == "no tumor" else "tumor_core"
    assert (res.cells["region"] == expected).all()
    json.dumps(res.summary, allow_nan=False)


# --------------------------------------------------------------------------- accuracy on truth


@pytest.mark.parametrize("preset,seed", [("inflamed", 1), ("excluded", 2), ("desert", 3)])
def test_accuracy_on_simulator_truth(preset, seed):
    """Front inferred from the truth tumor cells, against the simulator's true distances and
    the band densities of the same cells with the true front (1 x 1 mm, the demo seeds)."""
    from frontline import simulate
    from frontline.evaluate import spatial_accuracy

    cells, tumor, extent = simulate.truth_cells(preset, (2048, 2048), 0.5, seed)
    regions = front.detect_regions(
        cells[["x_um", "y_um"]].to_numpy(), (cells["phenotype"] == "tumor").to_numpy(), extent
    )
    params = spatial.Params(permutations=0)
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
