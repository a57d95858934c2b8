"""Neighbourhood enrichment z-scores in closed form (frontline.spatial.enrichment)."""

import numpy as np
import pytest
from spatial_cases import uniform

from frontline.spatial import enrichment


def test_enrichment_moments_match_random_relabelling():
    rng = np.random.default_rng(4)
    xy = uniform(rng, 400, (300.0, 300.0))
    phen = rng.choice(["a", "b", "c"], 400, p=[0.5, 0.3, 0.2])
    names, codes = np.unique(phen, return_inverse=True)
    counts, s0, q = enrichment.radius_graph_counts(xy, codes, 3, 30.0)
    expected, sd = enrichment.enrichment_moments(counts, np.bincount(codes), s0, q)
    sims = np.empty((4000, 3, 3))
    for i in range(len(sims)):
        sims[i], _, _ = enrichment.radius_graph_counts(xy, rng.permutation(codes), 3, 30.0)
    assert expected == pytest.approx(sims.mean(axis=0), rel=0.01)
    assert sd == pytest.approx(sims.std(axis=0), rel=0.05)


def test_enrichment_finds_segregated_types():
    rng = np.random.default_rng(5)
    xy = uniform(rng, 2000)
    phen = np.where(xy[:, 0] < 500, "tumor", "CD8_T")
    z = enrichment.nhood_enrichment(xy, phen, 50.0, min_cells=20).set_index(
        ["phenotype", "neighbour_phenotype"]
    )["zscore"]
    assert z[("tumor", "tumor")] > 10 and z[("tumor", "CD8_T")] < -10
    assert z[("tumor", "CD8_T")] == pytest.approx(z[("CD8_T", "tumor")])
