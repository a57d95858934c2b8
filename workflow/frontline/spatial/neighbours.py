"""Cell-cell statistics from neighbours: nearest tumor cell, neighbour counts, cellular
neighbourhoods and the mixing score.

- nearest tumor cell per immune type (median and quantiles; ``nearest_tumor.tsv``);
- mean number of cells of each type within ``radii_um`` of each immune type
  (``neighbours.tsv``);
- neighbourhood composition: fractions of each phenotype among the ``neighbourhood_k`` nearest
  neighbours; cellular neighbourhoods: k-means (``n_neighbourhoods``, seeded) on the
  compositions, fitted on at most 50,000 cells and applied to all; neighbourhood 1 is the one
  with the most tumor cells (``neighbourhoods.tsv``);
- mixing score (Keren et al. 2018): immune-tumor pairs / immune-immune pairs within
  ``mixing_radius_um``; per type: type-tumor pairs / type-immune pairs (``mixing.tsv``).

The neighbour counts and the mixing score read their pair counts from one pass over every
pair of cells (:func:`frontline.spatial.pairs.pair_counts`), shared with the other statistics.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from .common import ALL_IMMUNE, not_computable, type_codes
from .pairs import PairCounts, pair_counts

KMEANS_FIT_CELLS = 50_000
KNN_CHUNK = 131_072  # cells per k-nearest-neighbour query
NEIGHBOURHOOD_COLUMNS = ["neighbourhood", "n_cells", "phenotype", "mean_fraction"]


def nearest_distance(
    xy_from: np.ndarray,
    xy_to: np.ndarray,
    exclude_self: bool = False,
    workers: int = 1,
    bound_um: float = 200.0,
) -> np.ndarray:
    """Distance from each point of ``xy_from`` to the nearest point of ``xy_to``, µm.

    Parameters
    ----------
    xy_from : (N, 2), xy_to : (M, 2) float arrays, µm
    exclude_self : the two sets are the same points: skip the zero distance to oneself

    Returns
    -------
    (N,) float array, µm (``inf`` when ``xy_to`` has too few points)
    """
    xy_from = np.asarray(xy_from, dtype=float).reshape(-1, 2)
    xy_to = np.asarray(xy_to, dtype=float).reshape(-1, 2)
    k = 2 if exclude_self else 1
    if len(xy_to) < k or len(xy_from) == 0:
        return np.full(len(xy_from), np.inf)
    tree = cKDTree(xy_to)
    # a bounded search first (fast), then an unbounded one for the few points left
    dist, _ = tree.query(xy_from, k=k, workers=workers, distance_upper_bound=bound_um)
    dist = dist[:, -1] if exclude_self else dist
    far = ~np.isfinite(dist)
    if far.any():
        rest, _ = tree.query(xy_from[far], k=k, workers=workers)
        dist[far] = rest[:, -1] if exclude_self else rest
    return dist


def nearest_tumor_table(
    phenotype: np.ndarray,
    dist_nearest_tumor_um: np.ndarray,
    types: Sequence[str],
    n_tumor: int,
    min_cells: int,
) -> pd.DataFrame:
    """Distribution of the distance to the nearest tumor cell, per type.

    Returns
    -------
    DataFrame: ``phenotype, n_cells, median_um, q10_um, q25_um, q75_um, q90_um, mean_um,
    computable, reason``.
    """
    phenotype = np.asarray(phenotype).astype(str)
    rows = []
    for name in types:
        d = dist_nearest_tumor_um[phenotype == name]
        d = d[np.isfinite(d)]
        row = {"phenotype": name, "n_cells": int((phenotype == name).sum())}
        reason = ""
        if n_tumor < min_cells:
            reason = not_computable("tumor", n_tumor, min_cells)
        elif len(d) < min_cells:
            reason = not_computable(name, len(d), min_cells)
        if reason:
            row.update(
                {
                    k: np.nan
                    for k in ("median_um", "q10_um", "q25_um", "q75_um", "q90_um", "mean_um")
                }
            )
        else:
            q = np.percentile(d, [50, 10, 25, 75, 90])
            row.update(
                {
                    "median_um": q[0],
                    "q10_um": q[1],
                    "q25_um": q[2],
                    "q75_um": q[3],
                    "q90_um": q[4],
                    "mean_um": float(d.mean()),
                }
            )
        row.update({"computable": not reason, "reason": reason})
        rows.append(row)
    return pd.DataFrame(rows)


def neighbour_counts(
    xy_um: np.ndarray,
    phenotype: np.ndarray,
    query_types: Sequence[str],
    neighbour_types: Sequence[str],
    radii_um: Sequence[float],
    min_cells: int,
    pairs: PairCounts | None = None,
) -> pd.DataFrame:
    """Mean number of cells of each type within each radius of the cells of each query type.

    Parameters
    ----------
    xy_um : (N, 2) float, µm
    phenotype : (N,) str
    query_types, neighbour_types : lists of phenotypes
    radii_um : increasing radii, µm
    min_cells : query types with fewer cells are not computable
    pairs : optional :class:`frontline.spatial.pairs.PairCounts` of the same cells that
        include ``radii_um`` (shared with other statistics; None: counted here)

    Returns
    -------
    DataFrame: ``phenotype, neighbour_phenotype, radius_um, mean_count, n_cells, computable,
    reason``. A cell does not count itself.
    """
    phenotype = np.asarray(phenotype).astype(str)
    radii = np.sort(np.asarray(radii_um, dtype=float))
    if pairs is None:
        pairs = pair_counts(xy_um, phenotype, radii)
    names, codes = type_codes(phenotype)
    n_of = dict(zip(names.tolist(), np.bincount(codes, minlength=len(names)).tolist()))
    rows = []
    for a in query_types:
        n_a = n_of.get(a, 0)
        reason = "" if n_a >= min_cells else not_computable(a, n_a, min_cells)
        for b in neighbour_types:
            n_b = n_of.get(b, 0)
            if reason:
                means = np.full(len(radii), np.nan)
            elif n_b == 0:
                means = np.zeros(len(radii))
            else:
                means = np.array([pairs.count(a, b, r) for r in radii], dtype=float) / n_a
            for r, m in zip(radii, means):
                rows.append(
                    {
                        "phenotype": a,
                        "neighbour_phenotype": b,
                        "radius_um": r,
                        "mean_count": m,
                        "n_cells": n_a,
                        "computable": not reason,
                        "reason": reason,
                    }
                )
    return pd.DataFrame(rows)


def knn_composition(
    xy_um: np.ndarray, codes: np.ndarray, n_types: int, k: int, workers: int = 1
) -> np.ndarray:
    """Fraction of each type among each cell's ``k`` nearest neighbours (itself excluded).

    Parameters
    ----------
    xy_um : (N, 2) float, µm
    codes : (N,) int type codes in [0, n_types)
    k : int, neighbours (fewer when N <= k)

    Returns
    -------
    (N, n_types) float32 array, rows sum to 1.
    """
    xy_um = np.asarray(xy_um, dtype=float).reshape(-1, 2)
    n = len(xy_um)
    k = min(k, n - 1)
    if k < 1:
        return np.zeros((n, n_types), dtype=np.float32)
    tree = cKDTree(xy_um)
    codes = np.asarray(codes, dtype=np.int64)
    comp = np.empty((n, n_types), dtype=np.float32)
    for i0 in range(0, n, KNN_CHUNK):  # in chunks: the neighbour lists of a million cells
        i1 = min(i0 + KNN_CHUNK, n)  # (with distances) would take 200 MB at once
        _, idx = tree.query(xy_um[i0:i1], k=k + 1, workers=workers)
        rows = np.arange(i1 - i0, dtype=np.int64)[:, None] * n_types
        flat = (rows + codes[idx[:, 1:]]).ravel()
        counts = np.bincount(flat, minlength=(i1 - i0) * n_types).reshape(i1 - i0, n_types)
        comp[i0:i1] = counts.astype(np.float32) / k
    return comp


def cellular_neighbourhoods(
    composition: np.ndarray,
    n_clusters: int,
    seed: int,
    order_by: int | None = None,
    fit_cells: int = KMEANS_FIT_CELLS,
) -> tuple[np.ndarray, np.ndarray]:
    """Cellular neighbourhoods: seeded k-means on neighbourhood compositions.

    Parameters
    ----------
    composition : (N, T) float, from :func:`knn_composition`
    n_clusters : int
    seed : int
    order_by : int or None, column whose centroid value ranks the neighbourhoods (descending)
    fit_cells : fit on at most this many cells (a seeded sample), then assign all

    Returns
    -------
    labels : (N,) int, 1..n_clusters
    centroids : (n_clusters, T) float, mean composition of each neighbourhood (row i is label i+1)
    """
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    n = len(composition)
    rng = np.random.default_rng(seed)
    fit = composition if n <= fit_cells else composition[rng.choice(n, fit_cells, replace=False)]
    # one BLAS/OpenMP thread: on a busy machine OpenMP's spinning threads make k-means 10x slower
    with threadpool_limits(limits=1):
        km = KMeans(n_clusters=n_clusters, n_init=4, random_state=seed).fit(fit)
        raw = km.predict(composition)
    centres = km.cluster_centers_
    order = (
        np.arange(n_clusters)
        if order_by is None
        else np.argsort(-centres[:, order_by], kind="stable")
    )
    rank = np.empty(n_clusters, dtype=int)
    rank[order] = np.arange(n_clusters)
    labels = rank[raw] + 1
    centroids = np.zeros_like(centres)
    for j in range(n_clusters):
        sel = labels == j + 1
        centroids[j] = composition[sel].mean(axis=0) if sel.any() else np.nan
    return labels, centroids


def mixing_scores(
    xy_um: np.ndarray,
    phenotype: np.ndarray,
    immune_types: Sequence[str],
    immune_lineage: Sequence[str],
    tumor_phenotype: str,
    radius_um: float,
    min_cells: int,
    pairs: PairCounts | None = None,
) -> pd.DataFrame:
    """Mixing score (Keren et al. 2018) overall and per immune type.

    overall = immune-tumor pairs / immune-immune pairs within ``radius_um`` (unordered pairs);
    per type = type-tumor pairs / type-immune pairs (the type's own cell excluded).
    ``pairs``: optional :class:`frontline.spatial.pairs.PairCounts` of the same cells that
    include ``radius_um`` (None: counted here).

    Returns
    -------
    DataFrame: ``phenotype (all_immune or a type), n_cells, tumor_pairs, immune_pairs,
    mixing_score, computable, reason``.
    """
    phenotype = np.asarray(phenotype).astype(str)
    lineage = list(dict.fromkeys(immune_lineage))  # each type once
    immune = np.isin(phenotype, lineage)
    n_tumor = int((phenotype == tumor_phenotype).sum())
    if pairs is None:
        pairs = pair_counts(xy_um, phenotype, [radius_um])

    def count(a, b):
        return float(pairs.count(a, b, radius_um))

    rows = []
    for name in [ALL_IMMUNE, *immune_types]:
        sel = immune if name == ALL_IMMUNE else phenotype == name
        n = int(sel.sum())
        reason = ""
        if n < min_cells:
            reason = not_computable(name, n, min_cells)
        elif n_tumor < min_cells:
            reason = not_computable("tumor", n_tumor, min_cells)
        it = ii = np.nan
        score = np.nan
        if not reason:
            if name == ALL_IMMUNE:
                it = sum(count(a, tumor_phenotype) for a in lineage)
                ii = sum(count(a, b) for a in lineage for b in lineage) / 2.0
            else:
                it = count(name, tumor_phenotype)
                # pairs with the other immune cells; a type outside the lineage loses its own
                # n cells, as a tree count of type-immune pairs minus n does
                ii = sum(count(name, b) for b in lineage) - (0 if name in lineage else n)
            if ii > 0:
                score = it / ii
            else:
                reason = f"no {name}-immune pairs within {radius_um:g} µm"
        rows.append(
            {
                "phenotype": name,
                "n_cells": n,
                "tumor_pairs": it,
                "immune_pairs": ii,
                "mixing_score": score,
                "computable": not reason,
                "reason": reason,
            }
        )
    return pd.DataFrame(rows)


def nearest_tumor_distances(
    xy_um: np.ndarray, is_tumor: np.ndarray, workers: int = 1
) -> np.ndarray:
    """Distance from every cell to the nearest (other) tumor cell, µm.

    Parameters
    ----------
    xy_um : (N, 2) float, µm
    is_tumor : (N,) bool
    workers : threads of the KD-tree queries

    Returns
    -------
    (N,) float, µm; NaN for every cell when there are fewer than two tumor cells
    """
    near = np.full(len(xy_um), np.inf)
    if is_tumor.sum() >= 2:
        near[~is_tumor] = nearest_distance(xy_um[~is_tumor], xy_um[is_tumor], workers=workers)
        near[is_tumor] = nearest_distance(
            xy_um[is_tumor], xy_um[is_tumor], exclude_self=True, workers=workers
        )
    return np.where(np.isfinite(near), near, np.nan)


def neighbourhood_table(
    composition: np.ndarray,
    names: np.ndarray,
    n_clusters: int,
    seed: int,
    tumor_phenotype: str,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Cellular neighbourhoods of the cells and their mean compositions.

    Parameters
    ----------
    composition : (N, T) float, from :func:`knn_composition`
    names : (T,) phenotype of each column of ``composition``
    n_clusters : int, number of neighbourhoods
    seed : int, seeds k-means
    tumor_phenotype : neighbourhoods are ranked by their share of these cells (1: most)

    Returns
    -------
    labels : (N,) int, 1..n_clusters
    table : DataFrame ``neighbourhood, n_cells, phenotype, mean_fraction`` (one row per
        neighbourhood and phenotype)
    """
    order = int(np.where(names == tumor_phenotype)[0][0]) if tumor_phenotype in names else None
    labels, centroids = cellular_neighbourhoods(composition, n_clusters, seed, order)
    counts = np.bincount(labels, minlength=n_clusters + 1)[1:]
    rows = [
        {
            "neighbourhood": j + 1,
            "n_cells": int(counts[j]),
            "phenotype": name,
            "mean_fraction": float(centroids[j, t]),
        }
        for j in range(n_clusters)
        for t, name in enumerate(names)
    ]
    return labels, pd.DataFrame(rows, columns=NEIGHBOURHOOD_COLUMNS)
