"""Neighbourhood enrichment z-scores in closed form.

Pairs of cells of types a and b joined in the radius graph (``enrichment_radius_um``) are
compared with their expectation and standard deviation under random relabelling of the cells.
Both are closed-form (join-count moments of sampling without replacement), so the z-score
equals the limit of the permutation z-score that ``squidpy.gr.nhood_enrichment`` estimates,
without permutations. Table: ``enrichment.tsv``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .common import not_computable, type_codes
from .pairs import PairCounts, pair_counts


def _falling(n, k):
    out = 1.0
    for i in range(k):
        out *= n - i
    return out


def enrichment_moments(
    pair_counts: np.ndarray, type_counts: np.ndarray, degree_sum: float, degree_pairs: float
) -> tuple[np.ndarray, np.ndarray]:
    """Expectation and standard deviation of type-pair counts under random relabelling.

    The graph is fixed (symmetric, no self-loops); labels are a random permutation of the
    observed ones (sampling without replacement). Counts are over ordered pairs (i, j) joined
    in the graph, as ``squidpy.gr.nhood_enrichment`` counts them.

    Parameters
    ----------
    pair_counts : (T, T) observed ordered pair counts C_ab
    type_counts : (T,) number of cells of each type, n_a
    degree_sum : S0 = sum of degrees (ordered pairs)
    degree_pairs : Q = sum of d_i (d_i - 1) over cells

    Returns
    -------
    expected, sd : (T, T) float arrays
    """
    n_a = np.asarray(type_counts, dtype=float)
    n = n_a.sum()
    s0, q = float(degree_sum), float(degree_pairs)
    t = len(n_a)
    expected = np.zeros((t, t))
    var = np.zeros((t, t))
    # fewer than four cells: the falling factorials vanish and the moments are undefined (NaN)
    f2, f3, f4 = (_falling(n, k) or np.nan for k in (2, 3, 4))
    disjoint = s0 * s0 - 2 * s0 - 4 * q
    for a in range(t):
        for b in range(t):
            na, nb = n_a[a], n_a[b]
            if a == b:
                p2 = _falling(na, 2) / f2
                p3 = _falling(na, 3) / f3
                p4 = _falling(na, 4) / f4
                second = 2 * s0 * p2 + 4 * q * p3 + disjoint * p4
            else:
                p2 = na * nb / f2
                p3_abb = na * _falling(nb, 2) / f3
                p3_aab = _falling(na, 2) * nb / f3
                p4 = _falling(na, 2) * _falling(nb, 2) / f4
                second = s0 * p2 + q * (p3_abb + p3_aab) + disjoint * p4
            expected[a, b] = s0 * p2
            var[a, b] = max(second - (s0 * p2) ** 2, 0.0) if np.isfinite(second) else np.nan
    return expected, np.sqrt(var)


def radius_graph_counts(
    xy_um: np.ndarray,
    codes: np.ndarray,
    n_types: int,
    radius_um: float,
    workers: int = 1,
    pairs: PairCounts | None = None,
) -> tuple[np.ndarray, float, float]:
    """Type-pair counts and degree moments of the radius graph (no self-loops).

    The variance is a small difference of large terms, so Q must be exact (estimating it from
    half of the cells moves z-scores by a few %): every cell's degree is counted
    (:func:`frontline.spatial.pairs.pair_counts`).

    Parameters
    ----------
    xy_um : (N, 2) float, µm
    codes : (N,) int type codes in [0, n_types)
    radius_um : float, µm
    pairs : counts of the same cells by ``codes`` that include ``radius_um`` (None: counted here)

    Returns
    -------
    pair_counts : (T, T) float, ordered pairs (i of type a, j of type b) within ``radius_um``
    degree_sum, degree_pairs : S0 = sum d_i, Q = sum d_i (d_i - 1)
    """
    if pairs is None:
        pairs = pair_counts(xy_um, np.asarray(codes, dtype=np.int64), [radius_um], workers=workers)
    k = pairs.radius_index(radius_um)
    counts = np.zeros((n_types, n_types))
    present = np.asarray(pairs.names, dtype=np.int64)
    counts[np.ix_(present, present)] = pairs.pairs[:, :, k]
    s0 = float(counts.sum())
    return counts, s0, float(pairs.degree_squares[k]) - s0


def nhood_enrichment(
    xy_um: np.ndarray,
    phenotype: np.ndarray,
    radius_um: float,
    min_cells: int,
    workers: int = 1,
    pairs: PairCounts | None = None,
) -> pd.DataFrame:
    """Neighbourhood enrichment z-scores, closed form (no permutations).

    Parameters
    ----------
    xy_um : (N, 2) float, µm
    phenotype : (N,) str
    radius_um : float, radius graph, µm
    min_cells : types with fewer cells are marked not computable (z NaN)
    workers : threads of the pair count
    pairs : optional :class:`frontline.spatial.pairs.PairCounts` of the same cells that
        include ``radius_um`` (shared with other statistics)

    Returns
    -------
    DataFrame: ``phenotype, neighbour_phenotype, observed_pairs, expected_pairs, sd_pairs,
    zscore, computable, reason``.
    """
    phenotype = np.asarray(phenotype).astype(str)
    names, codes = type_codes(phenotype)
    if pairs is None:
        pairs = pair_counts(xy_um, phenotype, [radius_um], workers=workers)
    k = pairs.radius_index(radius_um)
    counts = pairs.pairs[:, :, k].astype(float)  # pairs.names are the sorted phenotypes
    s0 = float(counts.sum())
    q = float(pairs.degree_squares[k]) - s0
    n_a = np.bincount(codes, minlength=len(names))
    expected, sd = enrichment_moments(counts, n_a, s0, q)
    rows = []
    for a, na in enumerate(names):
        for b, nb in enumerate(names):
            reason = ""
            if n_a[a] < min_cells:
                reason = not_computable(na, n_a[a], min_cells)
            elif n_a[b] < min_cells:
                reason = not_computable(nb, n_a[b], min_cells)
            elif not sd[a, b] > 0:
                reason = "no variance under relabelling"
            z = np.nan if reason else (counts[a, b] - expected[a, b]) / sd[a, b]
            rows.append(
                {
                    "phenotype": na,
                    "neighbour_phenotype": nb,
                    "observed_pairs": counts[a, b],
                    "expected_pairs": expected[a, b],
                    "sd_pairs": sd[a, b],
                    "zscore": z,
                    "computable": not reason,
                    "reason": reason,
                }
            )
    return pd.DataFrame(rows)
