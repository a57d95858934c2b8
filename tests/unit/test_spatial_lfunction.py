"""Cross L-function and its random-labelling envelope (frontline.spatial.lfunction)."""

import itertools

import numpy as np
import pandas as pd
import pytest
import shapely
from numba import njit
from scipy.spatial import cKDTree
from shapely.geometry import Point, box
from spatial_cases import clustered_field, uniform

from frontline.spatial import lfunction
from frontline.spatial.pairs import pair_counts

RADII = np.array([10.0, 25.0, 50.0, 100.0])
WINDOW = box(0, 0, 1000, 1000)


def edge_of(xy):
    return shapely.distance(WINDOW.boundary, shapely.points(xy))


def test_cross_l_function_is_r_for_independent_types_and_above_for_attraction():
    rng = np.random.default_rng(6)
    tumor = uniform(rng, 2000)
    immune = uniform(rng, 1500)
    L = lfunction.cross_l_function(immune, edge_of(immune), tumor, WINDOW.area, RADII)
    assert np.abs(L - RADII).max() < 3.0
    # immune cells within 8 µm of a tumor cell: attraction at short range
    near = np.clip(tumor[rng.integers(0, len(tumor), 1500)] + rng.normal(0, 4, (1500, 2)), 1, 999)
    obs = lfunction.cross_l_function(near, edge_of(near), tumor, WINDOW.area, RADII)
    lo, hi = lfunction.l_function_envelope(
        near, edge_of(near), tumor, edge_of(tumor), WINDOW.area, RADII, permutations=19, seed=0
    )
    assert obs[0] > hi[0] and obs[0] - RADII[0] > 5
    assert (lo <= hi).all()
    none = lfunction.l_function_envelope(
        near, edge_of(near), tumor, edge_of(tumor), WINDOW.area, RADII, permutations=0, seed=0
    )
    assert np.isnan(none).all()


def test_table_and_envelopes_of_each_immune_type():
    rng = np.random.default_rng(7)
    xy = uniform(rng, 3000)
    phen = rng.choice(["tumor", "CD8_T", "B_cell"], 3000, p=[0.6, 0.395, 0.005])
    in_tissue = np.ones(len(xy), bool)
    edge = lfunction.window_edge_distance(xy, WINDOW, in_tissue, RADII[-1])
    exact = edge_of(xy)
    near = exact <= RADII[-1]
    assert np.abs(edge[near] - exact[near]).max() <= 0.25 and np.isinf(edge[exact > 102]).all()
    args = (xy, phen, edge, in_tissue, WINDOW.area, ["CD8_T", "B_cell"], "tumor")
    table = lfunction.lfunction_table(*args, RADII, min_cells=20)
    cd8, b = table[table["phenotype"] == "CD8_T"], table[table["phenotype"] == "B_cell"]
    assert cd8["computable"].all() and np.abs(cd8["L_minus_r_um"]).max() < 5.0
    assert not b["computable"].any() and b["L_um"].isna().all() and "B_cell" in b["reason"].iloc[0]
    assert table["envelope_low_um"].isna().all() and (table["permutations"] == 0).all()
    assert (table["envelope"] == "none").all()
    full = lfunction.add_envelopes(table, *args, envelope="permutations", permutations=9, seed=3)
    cd8 = full[full["phenotype"] == "CD8_T"]
    assert (cd8["envelope_low_um"] <= cd8["envelope_high_um"]).all()
    assert (cd8["permutations"] == 9).all() and (cd8["envelope"] == "permutations").all()
    assert (cd8["envelope_level"] == 0.8).all()  # min-max of 9: (9 - 1) / (9 + 1)
    assert full.loc[full["phenotype"] == "B_cell", "envelope_low_um"].isna().all()
    a, t = phen == "CD8_T", phen == "tumor"
    lo, hi = lfunction.l_function_envelope(
        xy[a], edge[a], xy[t], edge[t], WINDOW.area, RADII, permutations=9, seed=3
    )
    assert np.array_equal(cd8["envelope_high_um"], hi)  # the first type is relabelled with seed + 0
    assert np.array_equal(cd8["envelope_low_um"], lo)
    assert table["envelope_low_um"].isna().all()  # the input table is left as it was
    # the closed form (the default): the same band with and without the step's pair counts
    closed = lfunction.add_envelopes(table, *args, level=0.9)
    cd8 = closed[closed["phenotype"] == "CD8_T"]
    assert (cd8["envelope"] == "closed_form").all() and (cd8["envelope_level"] == 0.9).all()
    assert (cd8["permutations"] == 0).all()
    lo, hi = lfunction.closed_form_envelope(xy[a], edge[a], xy[t], edge[t], WINDOW.area, RADII, 0.9)
    assert np.array_equal(cd8["envelope_low_um"], lo) and np.array_equal(
        cd8["envelope_high_um"], hi
    )
    # uniform points: the band is centred near L = r
    assert np.abs((lo + hi) / 2 - RADII).max() < 0.5 and (hi - lo).min() > 0.3
    pairs = pair_counts(xy, phen, RADII, in_tissue, edge, ["CD8_T", "B_cell"], "tumor")
    shared = lfunction.add_envelopes(
        lfunction.lfunction_table(*args, RADII, 20, pairs), *args, level=0.9, pairs=pairs
    )
    pd.testing.assert_frame_equal(shared, closed)
    assert lfunction.add_envelopes(table, *args, envelope="none").equals(table)
    with pytest.raises(ValueError, match="closed_form"):
        lfunction.add_envelopes(table, *args, envelope="closed")


def test_table_from_pair_counts_is_the_tree_count():
    rng = np.random.default_rng(8)
    xy, phen = clustered_field(rng, 6000, 800.0)
    window = box(0, 0, 800, 800).difference(Point(400, 400).buffer(120))
    in_tissue = shapely.contains_xy(window, xy[:, 0], xy[:, 1])
    edge = lfunction.window_edge_distance(xy, window, in_tissue, RADII[-1])
    args = (xy, phen, edge, in_tissue, window.area, ["CD8_T"], "tumor")
    pairs = pair_counts(xy, phen, [*RADII, 30.0], in_tissue, edge, ["CD8_T"], "tumor", workers=2)
    pd.testing.assert_frame_equal(
        lfunction.lfunction_table(*args, RADII, 20, pairs),
        lfunction.lfunction_table(*args, RADII, 20),
    )


def _exhaustive_moments(xy, edge, n_a, r):
    """T and N of every labelling of the points (n_a of them "from"), by enumeration."""
    d2 = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2)
    w = edge >= r
    adjacent = (d2 <= r * r) & ~np.eye(len(xy), dtype=bool) & w[:, None]
    t, n = [], []
    for chosen in itertools.combinations(range(len(xy)), n_a):
        x = np.zeros(len(xy), bool)
        x[list(chosen)] = True
        t.append(adjacent[x][:, ~x].sum())
        n.append((w & x).sum())
    t, n = np.array(t, float), np.array(n, float)
    return t.mean(), t.var(), n.mean(), n.var(), ((t - t.mean()) * (n - n.mean())).mean()


@pytest.mark.parametrize("seed", range(6))
def test_relabelling_moments_are_exact_on_tiny_point_sets(seed):
    # every labelling of 6-12 points in a 10 x 10 µm window, some near its outline
    rng = np.random.default_rng(seed)
    n = int(rng.integers(6, 13))
    n_a = int(rng.integers(1, n))
    xy = rng.uniform(0, 10, (n, 2))
    edge = np.minimum(xy, 10 - xy).min(axis=1)
    radii = np.array([2.0, 3.5, 5.0])
    labels = np.r_[np.zeros(n_a, int), np.ones(n - n_a, int)]
    pairs = pair_counts(xy, labels, radii, None, edge, from_types=(0,), to_type=1)
    for k, r in enumerate(radii):
        exact = _exhaustive_moments(xy, edge, n_a, r)
        mom = lfunction.relabelling_moments(pairs.moments[0, k], n_a)
        got = [mom[key] for key in ("mean_t", "var_t", "mean_n", "var_n", "cov_tn")]
        assert got == pytest.approx(exact, rel=1e-9, abs=1e-9)


@njit(cache=True)
def _relabelled_counts(labels_from, start, neighbours, bins, group, n_radii):
    """T and N of each relabelling from the pooled points' neighbour lists (brute force)."""
    n_perm, n_points = labels_from.shape
    t = np.zeros((n_perm, n_radii))
    n = np.zeros((n_perm, n_radii))
    hist = np.zeros(n_radii)
    for p in range(n_perm):
        for i in range(n_points):
            if not labels_from[p, i]:
                continue
            g = group[i]  # valid for the first g radii
            hist[:] = 0.0
            for e in range(start[i], start[i + 1]):
                if not labels_from[p, neighbours[e]]:
                    hist[bins[e]] += 1
            run = 0.0
            for k in range(n_radii):
                run += hist[k]
                if k < g:
                    t[p, k] += run
                    n[p, k] += 1
    return t, n


def test_closed_form_band_covers_999_relabellings_at_its_level():
    # 20,000 cells on 2 x 2 mm, tumor in nests, CD8_T partly drawn to them; a window with a hole
    rng = np.random.default_rng(1)
    xy, phen = clustered_field(rng, 20_000, 2000.0, nests=40)
    window = box(0, 0, 2000, 2000).difference(Point(1000, 1000).buffer(200))
    keep = shapely.contains_xy(window, xy[:, 0], xy[:, 1])
    xy, phen = xy[keep], phen[keep]
    edge = shapely.distance(window.boundary, shapely.points(xy))
    radii = np.arange(10.0, 101.0, 10.0)
    a, b = phen == "CD8_T", phen == "tumor"
    pooled, pooled_edge, n_a = np.r_[xy[a], xy[b]], np.r_[edge[a], edge[b]], int(a.sum())
    # every relabelling's T and N from the pooled neighbour lists, in the permutation
    # envelope's random stream (the first ones are checked against it below)
    i, j = cKDTree(pooled).query_pairs(radii[-1], output_type="ndarray").T
    i, j = np.r_[i, j], np.r_[j, i]
    d2 = ((pooled[i] - pooled[j]) ** 2).sum(axis=1)
    bins = np.searchsorted(radii * radii, d2)
    order = np.argsort(i, kind="stable")
    start = np.searchsorted(i[order], np.arange(len(pooled) + 1))
    group = np.searchsorted(radii, pooled_edge, side="right")
    perms = np.random.default_rng(5)
    labels = np.zeros((999, len(pooled)), bool)
    for p in range(999):
        labels[p, perms.permutation(len(pooled))[:n_a]] = True
    t, n = _relabelled_counts(labels, start, j[order], bins[order], group, len(radii))
    sims = np.sqrt(t / (n * (b.sum() / window.area)) / np.pi)
    first = lfunction.relabelled_l_functions(
        xy[a], edge[a], xy[b], edge[b], window.area, radii, 3, seed=5
    )
    assert sims[:3] == pytest.approx(first, rel=1e-12)
    for level, tolerance in ((0.95, 0.02), (0.98, 0.015)):
        lo, hi = lfunction.closed_form_envelope(
            xy[a], edge[a], xy[b], edge[b], window.area, radii, level
        )
        coverage = ((sims >= lo) & (sims <= hi)).mean(axis=0)
        assert np.abs(coverage - level).max() <= tolerance, (level, coverage)
        for tail in ((sims < lo).mean(axis=0), (sims > hi).mean(axis=0)):
            assert np.abs(tail - (1 - level) / 2).max() <= tolerance, (level, tail)
