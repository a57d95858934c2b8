"""Nearest tumor cell, neighbour counts, neighbourhoods, mixing (frontline.spatial.neighbours)."""

import numpy as np
import pytest
from spatial_cases import uniform

from frontline.spatial import neighbours


def test_nearest_tumor_distance_excludes_the_cell_itself():
    xy = np.array([[0.0, 0.0], [3.0, 4.0], [100.0, 0.0], [10.0, 0.0]])
    is_tumor = np.array([True, True, False, False])
    d = neighbours.nearest_tumor_distances(xy, is_tumor)
    assert d == pytest.approx([5.0, 5.0, np.hypot(97, 4), np.hypot(7, 4)])
    assert np.isnan(neighbours.nearest_tumor_distances(xy, np.array([1, 0, 0, 0], bool))).all()


def test_neighbour_counts_on_a_lattice():
    # a square lattice of spacing 10 µm: 4 neighbours within 10 µm, 8 within 14.2 µm
    g = np.arange(0, 1000, 10.0)
    xy = np.array([(x, y) for x in g for y in g])
    phen = np.where((xy[:, 0] // 10) % 2 == 0, "CD8_T", "tumor")
    table = neighbours.neighbour_counts(xy, phen, ["CD8_T"], ["tumor", "CD8_T"], [10.0, 14.2], 20)
    t = table.set_index(["neighbour_phenotype", "radius_um"])["mean_count"]
    # away from the edges: tumor columns left and right (2 at 10 µm, 6 at 14.2 µm with diagonals)
    assert t[("tumor", 10.0)] == pytest.approx(2.0, rel=0.02)
    assert t[("CD8_T", 10.0)] == pytest.approx(2.0, rel=0.02)
    assert t[("tumor", 14.2)] == pytest.approx(6.0, rel=0.02)


def test_statistics_of_rare_types_are_not_computable_not_zero():
    rng = np.random.default_rng(2)
    xy = uniform(rng, 500)
    phen = np.array(["tumor"] * 490 + ["B_cell"] * 10)
    table = neighbours.neighbour_counts(xy, phen, ["B_cell"], ["tumor"], [50.0], min_cells=20)
    assert table["mean_count"].isna().all() and not table["computable"].any()
    assert "only 10 B_cell cells" in table["reason"].iloc[0]
    mixing = neighbours.mixing_scores(xy, phen, ["B_cell"], ["B_cell"], "tumor", 20.0, 20)
    assert mixing["mixing_score"].isna().all() and not mixing["computable"].any()


def test_mixing_score_counts_contacts():
    # one immune cell touching two tumor cells and one immune cell; far away, two immune cells
    xy = np.array([[0, 0], [10, 0], [0, 10], [-10, 0], [500, 500], [510, 500]], float)
    phen = np.array(["CD8_T", "tumor", "tumor", "CD8_T", "CD8_T", "CD8_T"])
    m = neighbours.mixing_scores(xy, phen, ["CD8_T"], ["CD8_T"], "tumor", 12.0, min_cells=1)
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
    comp = neighbours.knn_composition(xy, codes, len(names), k=10)
    assert comp.sum(axis=1) == pytest.approx(1.0)
    labels, centroids = neighbours.cellular_neighbourhoods(
        comp, 2, seed=0, order_by=list(names).index("tumor")
    )
    assert np.mean(labels[:3000] == 1) > 0.95 and np.mean(labels[3000:] == 2) > 0.95
    assert centroids[0, list(names).index("tumor")] > 0.8
    again, table = neighbours.neighbourhood_table(comp, names, 2, 0, "tumor")
    assert (again == labels).all()  # seeded
    assert list(table.columns) == neighbours.NEIGHBOURHOOD_COLUMNS and len(table) == 2 * 4
    first = table[table["neighbourhood"] == 1].set_index("phenotype")
    assert first["n_cells"].iloc[0] == (labels == 1).sum()
    assert first.loc["tumor", "mean_fraction"] == pytest.approx(centroids[0, names == "tumor"][0])
