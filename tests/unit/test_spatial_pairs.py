"""Every pair of cells within a set of radii, counted in one pass (frontline.spatial.pairs)."""

import numpy as np
import pytest
import shapely
from scipy.spatial import cKDTree
from shapely.geometry import Point, box
from spatial_cases import clustered_field

from frontline.spatial import lfunction
from frontline.spatial.pairs import MOMENTS, pair_counts

RADII = [10.0, 20.0, 25.0, 50.0, 100.0]


@pytest.fixture(scope="module")
def field():
    """6,000 clustered cells on 800 x 800 µm; the window has a hole, some cells lie outside."""
    xy, phen = clustered_field(np.random.default_rng(3), 6000, 800.0)
    window = box(0, 0, 800, 800).difference(Point(400, 400).buffer(100))
    in_window = shapely.contains_xy(window, xy[:, 0], xy[:, 1])
    edge = np.where(in_window, shapely.distance(window.boundary, shapely.points(xy)), -1.0)
    return xy, phen, in_window, edge


def test_pair_counts_are_the_tree_counts(field):
    xy, phen, in_window, edge = field
    pairs = pair_counts(xy, phen, RADII[::-1], in_window, edge, ["CD8_T"], "tumor")
    assert list(pairs.radii_um) == RADII and pairs.names == ("CD8_T", "stromal", "tumor")
    for a in pairs.names:
        for b in pairs.names:
            ta, tb = cKDTree(xy[phen == a]), cKDTree(xy[phen == b])
            tree = ta.count_neighbors(tb, np.array(RADII)) - (ta.n if a == b else 0)
            assert list(pairs.pairs[pairs.names.index(a), pairs.names.index(b)]) == list(tree)
    assert pairs.count("CD8_T", "tumor", 50.0) == pairs.pairs[0, 2, 3]
    assert pairs.count("CD8_T", "B_cell", 50.0) == 0  # an absent type
    with pytest.raises(KeyError, match="30"):
        pairs.count("CD8_T", "tumor", 30.0)
    # sum of squared degrees: every cell's neighbours
    degree = [cKDTree(xy).query_ball_point(xy, r, return_length=True) - 1 for r in RADII]
    assert list(pairs.degree_squares) == [int((d.astype(np.int64) ** 2).sum()) for d in degree]


def test_ties_at_the_radius_count_as_the_tree_counts_them():
    # a 2.5 µm lattice: many pairs exactly at 5, 7.5, 10, 12.5 and 25 µm
    g = np.arange(0, 300, 2.5)
    xy = np.array([(x, y) for x in g for y in g])
    phen = np.random.default_rng(0).choice(["a", "b"], len(xy))
    radii = np.array([5.0, 7.5, 10.0, 12.5, 25.0])
    pairs = pair_counts(xy, phen, radii)
    ta, tb = cKDTree(xy[phen == "a"]), cKDTree(xy[phen == "b"])
    assert list(pairs.pairs[0, 1]) == list(ta.count_neighbors(tb, radii))
    assert list(pairs.pairs[0, 0]) == list(ta.count_neighbors(ta, radii) - ta.n)


def test_window_counts_and_moments_are_those_of_each_cell(field):
    xy, phen, in_window, edge = field
    pairs = pair_counts(xy, phen, RADII, in_window, edge, ["CD8_T", "B_cell"], "tumor", 2)
    a, b = (phen == "CD8_T") & in_window, (phen == "tumor") & in_window
    # the L-function's counts: valid CD8_T cells and their pairs with tumor cells in the window
    total, n_valid = lfunction._grouped_pair_counts(xy[a], edge[a], cKDTree(xy[b]), np.array(RADII))
    assert list(pairs.valid_pairs[0]) == list(total) and list(pairs.valid[0]) == list(n_valid)
    assert not pairs.valid[1].any() and not pairs.moments[1].any()  # no B cells
    # the envelope's sums over the pooled cells, from each cell's own neighbour counts
    pooled, pooled_edge = xy[a | b], edge[a | b]
    tree = cKDTree(pooled)
    for k, r in enumerate(RADII):
        w = pooled_edge >= r
        o = w * (tree.query_ball_point(pooled, r, return_length=True) - 1)
        d = cKDTree(pooled[w]).query_ball_point(pooled, r, return_length=True) - w
        expected = [len(pooled), w.sum(), o.sum(), d.sum(), (w * d).sum()]
        expected += [(o * o).sum(), (d * d).sum(), (o * d).sum()]
        assert dict(zip(MOMENTS, pairs.moments[0, k])) == dict(zip(MOMENTS, expected))


def test_threads_and_integer_codes_give_the_same_counts(field):
    xy, phen, in_window, edge = field
    one = pair_counts(xy, phen, RADII, in_window, edge, ["CD8_T"], "tumor", workers=1)
    two = pair_counts(xy, phen, RADII, in_window, edge, ["CD8_T"], "tumor", workers=2)
    for name in ("pairs", "degree_squares", "valid", "valid_pairs", "moments"):
        assert np.array_equal(getattr(one, name), getattr(two, name)), name
    codes = np.unique(phen, return_inverse=True)[1]
    by_code = pair_counts(xy, codes, RADII)
    assert by_code.names == (0, 1, 2) and np.array_equal(by_code.pairs, one.pairs)


def test_no_cells_and_a_sparse_slide():
    empty = pair_counts(np.zeros((0, 2)), np.array([], str), [10.0], None, None, ["a"], "b")
    assert empty.pairs.shape == (0, 0, 1) and empty.moments.shape == (1, 1, len(MOMENTS))
    # two cells 5 µm apart, one far away on a 50 mm slide: coarse buckets, same counts
    xy = np.array([[0.0, 0.0], [3.0, 4.0], [50_000.0, 50_000.0]])
    pairs = pair_counts(xy, np.array(["a", "b", "a"]), [5.0, 10.0])
    assert pairs.pairs[0, 1].tolist() == [1, 1] and pairs.pairs[0, 0].tolist() == [0, 0]
    assert pairs.degree_squares.tolist() == [2, 2]
