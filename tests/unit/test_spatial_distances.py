"""Signed distance to the front, regions, the distance raster (frontline.spatial.distances)."""

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, box
from spatial_cases import regions_of, uniform

from frontline.geometry import inside
from frontline.spatial import distances


def test_signed_distance_is_exact_to_a_quarter_micron_and_negative_inside():
    rng = np.random.default_rng(0)
    tumor = Point(500, 500).buffer(250, quad_segs=64)
    regions = regions_of(tumor)
    xy = uniform(rng, 5000)
    dist = distances.signed_distance(xy, regions, step_um=0.5)
    exact = shapely.distance(tumor.boundary, shapely.points(xy))
    is_in = shapely.contains_xy(tumor, xy[:, 0], xy[:, 1])
    assert np.abs(np.abs(dist) - exact).max() <= 0.25
    assert (np.sign(dist[is_in]) < 0).all() and (dist[~is_in] >= 0).all()
    # the fast path: KD-tree near the front, the distance raster's nearest front point beyond
    dmap = distances.distance_map(regions, 2.0, step_um=0.5)
    fast = distances.signed_distance(xy, regions, dmap=dmap)
    assert np.abs(fast - dist).max() <= 0.25
    assert (inside(xy, tumor, dmap.tumor, dmap.raster_um) == is_in).all()


def test_without_front_distances_are_nan():
    regions = regions_of(MultiPolygon())
    assert not regions.has_front
    assert np.isnan(distances.signed_distance(np.zeros((3, 2)), regions)).all()


def test_regions_from_distance_with_margin():
    d = np.array([-150.0, -100.0, -99.9, -0.1, 0.0, 100.0, 100.1, np.nan, np.nan])
    in_tumor = np.array([1, 1, 1, 1, 0, 0, 0, 1, 0], bool)
    reg = distances.assign_regions(d, in_tumor, 100.0)
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


def test_pixel_distances_are_exact_not_offset_by_half_a_pixel():
    # tumor = left 400 µm of a 1000 x 800 µm image: the front is the line x = 400
    regions = regions_of(box(0, 0, 400, 800), extent=(1000.0, 800.0))
    dmap = distances.distance_map(regions, raster_um=2.0)
    assert dmap.dist_um.shape == (400, 500) and dmap.tissue.all()
    cols = (np.arange(dmap.dist_um.shape[1]) + 0.5) * 2.0
    assert dmap.dist_um[200] == pytest.approx(cols - 400, abs=0.01)  # the row at y = 401 µm
    codes = dmap.region_map(100.0)[200]
    assert list(codes[[0, 149, 150, 199, 200, 249, 250, 499]]) == [0, 0, 1, 1, 2, 2, 3, 3]


def test_locate_cells_gives_the_four_columns_and_frees_the_front_index():
    rng = np.random.default_rng(1)
    tumor = Point(500, 500).buffer(250, quad_segs=64)
    regions = regions_of(tumor)
    xy = np.vstack([uniform(rng, 2000), [[-5.0, 500.0]]])  # the last cell lies off the image
    dmap = distances.distance_map(regions, 2.0)
    cols = distances.locate_cells(xy, regions, dmap, margin_um=100.0)
    assert list(cols) == ["dist_front_um", "region", "in_tumor", "in_tissue"]
    assert dmap.front_index is None
    exact = distances.signed_distance(xy, regions)
    assert np.abs(cols["dist_front_um"] - exact).max() <= 0.25
    assert (cols["in_tumor"] == (exact < 0)).all()
    assert cols["in_tissue"][:-1].all()  # (the off-image cell takes its edge pixel's answer)
    assert (cols["region"][exact < -100] == "tumor_core").all()


def test_spatial_order_groups_cells_by_row_strips():
    xy = np.array([[5.0, 130.0], [1.0, 10.0], [9.0, 70.0], [3.0, 20.0], [2.0, 65.0]])
    assert list(distances.spatial_order(xy, strip_um=64.0)) == [1, 3, 4, 2, 0]


def test_front_search_is_the_nearest_point_of_the_window():
    # the window is clipped at both ends of the array; the answer is the smallest hypot in it
    rng = np.random.default_rng(4)
    points = np.cumsum(rng.normal(0, 0.5, (500, 2)), axis=0)
    xy = points[rng.integers(0, 500, 2000)] + rng.normal(0, 20, (2000, 2))
    start = rng.integers(0, 500, 2000)
    got = distances.refine_front_distance(xy, points, start, window=8)
    idx = np.clip(start[:, None] + np.arange(-8, 9)[None, :], 0, 499)
    brute = np.hypot(points[idx, 0] - xy[:, :1], points[idx, 1] - xy[:, 1:]).min(axis=1)
    assert np.array_equal(got, brute)
