"""Band and region areas and densities on the tissue raster (frontline.spatial.densities)."""

import numpy as np
import pytest
from shapely.geometry import box
from spatial_cases import regions_of

from frontline.spatial import densities, distances


def test_band_edges_cover_the_range():
    assert list(densities.band_edges((-50.0, 50.0), 25.0)) == [-50, -25, 0, 25, 50]


@pytest.mark.parametrize("band_range, width", [((500.0, -500.0), 25.0), ((-10.0, 10.0), 50.0)])
def test_band_edges_without_a_band_are_an_error_not_an_empty_table(band_range, width):
    from frontline.errors import FrontlineInputError

    with pytest.raises(FrontlineInputError, match="holds no band"):
        densities.band_edges(band_range, width)


def test_band_areas_are_measured_on_the_tissue_raster():
    # tumor = left 400 µm of a 1000 x 800 µm image: the front is the line x = 400
    regions = regions_of(box(0, 0, 400, 800), extent=(1000.0, 800.0))
    dmap = distances.distance_map(regions, raster_um=2.0)
    edges = densities.band_edges((-500, 500), 25.0)
    area_mm2 = densities.band_areas_mm2(dmap, edges)
    mid = 0.5 * (edges[:-1] + edges[1:])
    # every band of 25 µm x 800 µm inside the image holds 0.02 mm²; none beyond the image
    inside_image = (mid > -400) & (mid < 600)
    # (within 1 %: the front stops edge_tolerance_um short of the image border)
    assert area_mm2[inside_image] == pytest.approx(0.02, rel=0.01)
    assert area_mm2[~inside_image].sum() < 1e-4  # (corner pixels beyond the front ends)
    assert densities.region_areas_mm2(dmap, 100.0) == pytest.approx(
        [0.24, 0.08, 0.08, 0.40], rel=0.01
    )


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
    dist = distances.signed_distance(xy, regions)
    dmap = distances.distance_map(regions, 2.0)
    r, c = dmap.pixel_of(xy)
    table = densities.band_densities(
        dist,
        phen,
        dmap.tissue[r, c],
        dmap,
        densities.band_edges((-500, 500), 250.0),
        immune_lineage=["CD8_T"],
    )
    cd8 = table[table["phenotype"] == "CD8_T"]
    assert cd8["density_per_mm2"].iloc[:2].to_numpy() == pytest.approx([100, 100], rel=0.25)
    assert cd8["density_per_mm2"].iloc[2:].to_numpy() == pytest.approx([400, 400], rel=0.15)
    assert set(table["phenotype"]) == {"CD8_T", "all_immune", "all_cells"}
    assert cd8["area_mm2"].to_numpy() == pytest.approx(0.5, rel=0.01)


def test_region_densities_count_cells_of_each_region_over_its_area():
    regions = regions_of(box(0, 0, 400, 800), extent=(1000.0, 800.0))
    dmap = distances.distance_map(regions, raster_um=2.0)
    xy = np.array([[100.0, 400.0], [350.0, 400.0], [450.0, 400.0], [700.0, 400.0], [800, 400]])
    phen = np.array(["tumor", "CD8_T", "CD8_T", "CD8_T", "B_cell"])
    region = distances.assign_regions(distances.signed_distance(xy, regions), xy[:, 0] < 400, 100)
    table = densities.region_densities(region, phen, np.ones(5, bool), dmap, 100.0, ["CD8_T"])
    cd8 = table[table["phenotype"] == "CD8_T"].set_index("region")
    assert list(cd8["n_cells"]) == [0, 1, 1, 1]
    assert cd8.loc["stroma", "density_per_mm2"] == pytest.approx(1 / 0.40, rel=0.01)
    everyone = table[table["phenotype"] == "all_cells"].set_index("region")["n_cells"]
    assert list(everyone) == [1, 1, 1, 2]
