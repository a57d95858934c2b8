"""Cross L-function and its random-labelling envelope (frontline.spatial.lfunction)."""

import numpy as np
import shapely
from shapely.geometry import box
from spatial_cases import uniform

from frontline.spatial import lfunction

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
    full = lfunction.add_envelopes(table, *args, permutations=9, seed=3)
    cd8 = full[full["phenotype"] == "CD8_T"]
    assert (cd8["envelope_low_um"] <= cd8["envelope_high_um"]).all()
    assert (cd8["permutations"] == 9).all()
    assert full.loc[full["phenotype"] == "B_cell", "envelope_low_um"].isna().all()
    a, t = phen == "CD8_T", phen == "tumor"
    lo, hi = lfunction.l_function_envelope(
        xy[a], edge[a], xy[t], edge[t], WINDOW.area, RADII, permutations=9, seed=3
    )
    assert np.array_equal(cd8["envelope_high_um"], hi)  # the first type is relabelled with seed + 0
    assert np.array_equal(cd8["envelope_low_um"], lo)
    assert table["envelope_low_um"].isna().all()  # the input table is left as it was
