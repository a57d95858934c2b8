"""Grids, rasters, polygons and lines shared by the stages (frontline.geometry)."""

import numpy as np
import pytest
import shapely
from shapely.geometry import (
    GeometryCollection,
    LineString,
    MultiPolygon,
    Point,
    Polygon,
    box,
)

from frontline import geometry


def blob(cx, cy, radius, wobble=0.15, n=720, lobes=5):
    """A smooth star-shaped polygon, µm."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = radius * (1 + wobble * np.sin(lobes * t))
    return Polygon(np.c_[cx + r * np.cos(t), cy + r * np.sin(t)])


def test_pixel_index_puts_points_in_their_cell_and_clips_to_the_grid():
    shape = geometry.grid_shape((95.0, 41.0), 10.0)
    assert shape == (5, 10)
    xy = np.array([[0.0, 0.0], [9.99, 10.0], [94.0, 40.5], [-3.0, 55.0], [120.0, -1.0]])
    rows, cols = geometry.pixel_index(xy, 10.0, shape)
    assert list(rows) == [0, 1, 4, 4, 0] and list(cols) == [0, 0, 9, 0, 9]
    counts = geometry.count_grid(xy, (95.0, 41.0), 10.0)
    assert counts.shape == shape and counts.sum() == 5 and counts[4, 0] == 1


def test_rasterize_marks_exactly_the_pixel_centres_inside_polygon_with_hole():
    outer = blob(300, 260, 200, wobble=0.3, lobes=7)
    geom = MultiPolygon(
        [
            Polygon(outer.exterior, [Point(300, 260).buffer(60).exterior]),
            box(550.3, 10.1, 599.9, 480.7),
        ]
    )
    mask = geometry.rasterize(geom, (300, 320), 2.0)
    rows, cols = np.mgrid[0:300, 0:320]
    expected = shapely.contains_xy(geom, (cols + 0.5) * 2.0, (rows + 0.5) * 2.0)
    assert (mask != expected).sum() == 0
    assert mask.sum() * 4.0 == pytest.approx(geom.area, rel=0.01)


def test_inside_with_the_raster_gives_the_exact_answer():
    rng = np.random.default_rng(0)
    geom = MultiPolygon([blob(300, 260, 200, wobble=0.3, lobes=7)])
    xy = rng.uniform(0, 600, (20000, 2))
    mask = geometry.rasterize(geom, (300, 300), 2.0)
    exact = shapely.contains_xy(geom, xy[:, 0], xy[:, 1])
    assert (geometry.inside(xy, geom, mask, 2.0) == exact).all()
    assert (geometry.inside(xy, geom) == exact).all()
    assert not geometry.inside(xy, MultiPolygon()).any()


def test_iso_region_of_a_cone_is_a_disc_of_the_right_radius():
    grid = 5.0
    yy, xx = np.mgrid[0:120, 0:120]
    field = 300.0 - np.hypot((xx + 0.5) * grid - 300, (yy + 0.5) * grid - 300)  # 0 at r = 300 µm
    region = geometry.iso_region(field, 100.0, grid)  # r <= 200 µm
    assert region.area == pytest.approx(np.pi * 200**2, rel=0.002)
    assert region.centroid.distance(Point(300, 300)) < 0.5


def test_iso_region_rebuilds_holes_and_islands_in_holes():
    grid = 2.0
    yy, xx = np.mgrid[0:200, 0:200]
    r = np.hypot((xx + 0.5) * grid - 200, (yy + 0.5) * grid - 200)
    field = np.cos(2 * np.pi * r / 120.0) * (r < 170)  # >= 0.5 for r < 20, 100 < r < 140
    region = geometry.iso_region(field, 0.5, grid)
    expected = np.pi * (20**2 + 140**2 - 100**2)
    assert region.area == pytest.approx(expected, rel=0.01)
    assert len(region.geoms) == 2  # the annulus (one hole) and the island in its hole
    assert sorted(len(p.interiors) for p in region.geoms) == [0, 1]


def test_clean_region_drops_small_parts_and_fills_small_holes():
    big = Polygon(
        box(0, 0, 300, 300).exterior,
        [box(100, 100, 120, 120).exterior, box(150, 150, 250, 250).exterior],
    )
    geom = MultiPolygon([big, box(400, 400, 420, 420)])
    out = geometry.clean_region(geom, min_region_area_um2=1000, min_hole_area_um2=2500)
    assert len(out.geoms) == 1  # the 400 µm² island is gone
    assert len(out.geoms[0].interiors) == 1  # the 400 µm² hole is filled, the 10,000 µm² one kept
    assert out.area == pytest.approx(300 * 300 - 100 * 100)


def test_clean_region_keeps_a_part_whose_filled_hole_is_most_of_it_and_drops_its_islands():
    frame = Polygon(box(0, 0, 100, 100).exterior, [box(10, 10, 90, 90).exterior])  # a thin frame
    island = box(40, 40, 60, 60)  # in the frame's hole
    out = geometry.clean_region(
        MultiPolygon([frame, island]), min_region_area_um2=100, min_hole_area_um2=7000
    )
    assert len(out.geoms) == 1 and out.area == pytest.approx(100 * 100)  # filled, island gone
    kept = geometry.clean_region(
        MultiPolygon([frame, island]), min_region_area_um2=100, min_hole_area_um2=6000
    )
    assert kept.area == pytest.approx(100 * 100 - 80 * 80 + 20 * 20)  # the hole is big enough


def test_parts_of_mixed_geometries():
    mixed = GeometryCollection([box(0, 0, 1, 1), LineString([(0, 0), (5, 0)]), box(2, 2, 4, 4)])
    assert [p.area for p in geometry.polygon_parts(mixed)] == [1.0, 4.0]
    assert geometry.as_multipolygon(mixed).area == 5.0
    assert geometry.as_multilinestring(mixed).length == 5.0
    assert geometry.as_multipolygon(None).is_empty and geometry.as_multilinestring(None).is_empty
    assert geometry.scale(box(0, 0, 2, 1), 0.5).bounds == (0.0, 0.0, 1.0, 0.5)


def test_distance_to_lines_is_exact_to_half_the_step():
    line = LineString([(0, 0), (100, 0), (100, 100)])
    xy = np.array([[50.0, 10.0], [130.0, 50.0], [50.1, 0.0], [300.0, 300.0]])
    d = geometry.distance_to_lines(xy, line, step_um=0.5, upper_bound_um=150.0)
    assert d[:3] == pytest.approx([10.0, 30.0, 0.0], abs=0.25)
    assert np.isinf(d[3])  # beyond the bound
    assert len(geometry.densify(line, 0.5)) == 401
    assert np.isinf(geometry.distance_to_lines(xy, LineString())).all()


@pytest.mark.parametrize("bound", [0.3, 7.0, 101.0, 5000.0])
def test_bounded_distance_to_lines_is_the_tree_answer(bound):
    # points in and around a square outline with a hole: every distance within the bound is
    # the nearest densified point's, the rest inf (the grid prefilter never drops a point)
    from scipy.spatial import cKDTree

    outline = box(0, 0, 2000, 2000).difference(Point(1000, 1000).buffer(300)).boundary
    xy = np.random.default_rng(0).uniform(-150, 2150, (20_000, 2))
    xy[:100] = geometry.densify(outline, 0.5)[::97][:100] + 0.1  # some right at the line
    d = geometry.distance_to_lines(xy, outline, 0.5, upper_bound_um=bound)
    tree, _ = cKDTree(geometry.densify(outline, 0.5)).query(xy, distance_upper_bound=bound)
    assert np.array_equal(d, tree) and np.isfinite(d).sum() > 50
