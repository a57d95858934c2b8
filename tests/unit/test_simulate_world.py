"""The world of a slide (frontline.simulate.world): the truth tumor and distances to it."""

import numpy as np
import pytest
import shapely

from frontline import simulate


def test_observable_tumor_drops_specks_and_empty_holes():
    big = shapely.Polygon(
        [(0, 0), (100, 0), (100, 100), (0, 100)],
        [
            [(10, 10), (20, 10), (20, 20), (10, 20)],  # empty hole: filled
            [(60, 60), (80, 60), (80, 80), (60, 80)],
        ],
    )  # hole with a cell
    speck = shapely.box(200, 200, 210, 210)  # 2 tumor cells: dropped
    x = np.array([50, 51, 52, 53, 54, 70, 205, 206], float)
    y = np.array([40, 41, 42, 43, 44, 70, 205, 206], float)
    is_tumor = np.array([1, 1, 1, 1, 1, 0, 1, 1], bool)
    out = simulate.observable_tumor(shapely.MultiPolygon([big, speck]), x, y, is_tumor)
    assert len(out.geoms) == 1
    assert len(out.geoms[0].interiors) == 1
    assert out.area == pytest.approx(100 * 100 - 20 * 20)


def test_signed_distance_is_negative_inside_and_positive_outside():
    square = shapely.box(0, 0, 100, 100)
    d = simulate.signed_distance_um(square, [50, 10, 150, 100], [50, 50, 50, 130])
    np.testing.assert_allclose(d, [-50, -10, 50, 30])
    assert np.isinf(simulate.signed_distance_um(shapely.MultiPolygon(), [1.0], [1.0])).all()


def test_the_tumor_of_a_small_image_lies_inside_it():
    world = simulate.make_world("inflamed", (1024, 1024), 0.5, seed=3)
    tumor = simulate.tumor_polygon(world)
    assert 0.1 < tumor.area / (512 * 512) < 0.7
    assert tumor.distance(shapely.box(0, 0, 512, 512).exterior) > 10
    with pytest.raises(ValueError, match="unknown preset"):
        simulate.make_world("hot", (64, 64), 0.5, seed=0)
