"""Cross-type L-function of each immune type around tumor cells, and its envelope.

L(r) = sqrt(K(r) / pi) with K(r) = sum over immune cells i at least r from the tissue outline
of #tumor cells within r / (n_i(r) * lambda_tumor), lambda_tumor = tumor cells / tissue area
(border-corrected "reduced sample" estimator: the tissue outline, including the image border,
is the window; only cells in the tissue count). Envelope: min and max over ``permutations``
random relabellings of the pooled immune and tumor cells (seeded). L(r) = r when the two
types are independent; above: attraction. Table: ``lfunction.tsv``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from ..geometry import distance_to_lines
from .common import not_computable


def _grouped_pair_counts(xy_a, edge_a, tree_b, radii):
    """Sum over points a with edge distance >= r of #b within r, and how many such a, per r."""
    k = len(radii)
    group = np.searchsorted(radii, edge_a, side="right")  # valid for radii[:group]
    total = np.zeros(k)
    for g in range(1, k + 1):
        sel = group == g
        if sel.any():
            total[:g] += np.asarray(
                cKDTree(xy_a[sel]).count_neighbors(tree_b, radii[:g]), dtype=float
            )
    n_valid = np.array([(group >= j + 1).sum() for j in range(k)], dtype=float)
    return total, n_valid


def cross_l_function(
    xy_a: np.ndarray,
    edge_a: np.ndarray,
    xy_b: np.ndarray,
    area_um2: float,
    radii_um: Sequence[float],
) -> np.ndarray:
    """Border-corrected cross L-function of type a around type b, µm.

    Parameters
    ----------
    xy_a : (Na, 2) float, µm, the "from" points (immune cells)
    edge_a : (Na,) float, distance of each a point to the window outline, µm
    xy_b : (Nb, 2) float, µm (tumor cells)
    area_um2 : float, window (tissue) area, µm²
    radii_um : increasing radii, µm

    Returns
    -------
    (R,) float, L(r) in µm (NaN where no a point lies r inside the window).
    """
    radii = np.asarray(radii_um, dtype=float)
    if len(xy_a) == 0 or len(xy_b) == 0:
        return np.full(len(radii), np.nan)
    total, n_valid = _grouped_pair_counts(
        np.asarray(xy_a, float), np.asarray(edge_a, float), cKDTree(xy_b), radii
    )
    lam_b = len(xy_b) / area_um2
    with np.errstate(invalid="ignore", divide="ignore"):
        k = total / (n_valid * lam_b)
    return np.where(n_valid > 0, np.sqrt(k / np.pi), np.nan)


def l_function_envelope(
    xy_a: np.ndarray,
    edge_a: np.ndarray,
    xy_b: np.ndarray,
    edge_b: np.ndarray,
    area_um2: float,
    radii_um: Sequence[float],
    permutations: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Random-labelling envelope of :func:`cross_l_function`: min and max of L(r) over
    ``permutations`` relabellings of the pooled points a ∪ b (as many a points as before).

    Parameters
    ----------
    xy_a, edge_a, xy_b, area_um2, radii_um : as :func:`cross_l_function`
    edge_b : (Nb,) float, distance of each b point to the window outline, µm
    permutations : int, relabellings (0: no envelope)
    seed : int, seeds the relabellings

    Returns
    -------
    low, high : (R,) float arrays, µm (NaN when ``permutations`` is 0)
    """
    radii = np.asarray(radii_um, dtype=float)
    if permutations <= 0:
        nan = np.full(len(radii), np.nan)
        return nan, nan
    xy = np.vstack([xy_a, xy_b])
    edge = np.concatenate([edge_a, edge_b])
    n_a = len(xy_a)
    rng = np.random.default_rng(seed)
    sims = np.empty((permutations, len(radii)))
    for p in range(permutations):
        perm = rng.permutation(len(xy))
        a, b = perm[:n_a], perm[n_a:]
        sims[p] = cross_l_function(xy[a], edge[a], xy[b], area_um2, radii)
    return np.nanmin(sims, axis=0), np.nanmax(sims, axis=0)


def window_edge_distance(
    xy_um: np.ndarray,
    tissue: shapely.MultiPolygon,
    in_tissue: np.ndarray,
    radius_um: float,
    step_um: float = 0.5,
    workers: int = 1,
) -> np.ndarray:
    """Distance of each cell to the window (tissue) outline, as the border correction needs it.

    Only "at least r from the outline" matters for r up to ``radius_um``, so the search is
    bounded: cells farther than ``radius_um + 1`` get ``inf``, cells outside the tissue -1
    (never a valid centre).

    Returns
    -------
    (N,) float, µm
    """
    edge = distance_to_lines(
        xy_um, tissue.boundary, step_um, workers, upper_bound_um=float(radius_um) + 1.0
    )
    edge[~in_tissue] = -1.0
    return edge


def lfunction_table(
    xy_um: np.ndarray,
    phenotype: np.ndarray,
    edge_um: np.ndarray,
    in_tissue: np.ndarray,
    tissue_area_um2: float,
    immune_types: Sequence[str],
    tumor_phenotype: str,
    radii_um: Sequence[float],
    min_cells: int,
) -> pd.DataFrame:
    """L(r) of each immune type around the tumor cells, cells in the tissue only.

    Parameters
    ----------
    xy_um : (N, 2) float, µm
    phenotype : (N,) str
    edge_um : (N,) float, from :func:`window_edge_distance`
    in_tissue : (N,) bool
    tissue_area_um2 : float, the window's area, µm²
    immune_types : the "from" types, one L-function each
    tumor_phenotype : the "to" type
    radii_um : increasing radii, µm
    min_cells : types with fewer cells in the tissue are not computable

    Returns
    -------
    DataFrame ``phenotype, radius_um, L_um, L_minus_r_um, envelope_low_um, envelope_high_um,
    n_cells, n_tumor, permutations, computable, reason`` (envelope NaN and permutations 0:
    :func:`add_envelopes` fills them)
    """
    radii = np.asarray(radii_um, dtype=float)
    sel_b = (phenotype == tumor_phenotype) & in_tissue
    n_b = int(sel_b.sum())
    rows = []
    for name in immune_types:
        sel_a = (phenotype == name) & in_tissue
        n_a = int(sel_a.sum())
        reason = ""
        if n_a < min_cells:
            reason = not_computable(name, n_a, min_cells)
        elif n_b < min_cells:
            reason = not_computable(tumor_phenotype, n_b, min_cells)
        nan = np.full(len(radii), np.nan)
        obs = (
            nan
            if reason
            else cross_l_function(
                xy_um[sel_a], edge_um[sel_a], xy_um[sel_b], tissue_area_um2, radii
            )
        )
        rows.extend(
            {
                "phenotype": name,
                "radius_um": rad,
                "L_um": obs[k],
                "L_minus_r_um": obs[k] - rad,
                "envelope_low_um": nan[k],
                "envelope_high_um": nan[k],
                "n_cells": n_a,
                "n_tumor": n_b,
                "permutations": 0,
                "computable": not reason,
                "reason": reason,
            }
            for k, rad in enumerate(radii)
        )
    return pd.DataFrame(rows)


def add_envelopes(
    table: pd.DataFrame,
    xy_um: np.ndarray,
    phenotype: np.ndarray,
    edge_um: np.ndarray,
    in_tissue: np.ndarray,
    tissue_area_um2: float,
    immune_types: Sequence[str],
    tumor_phenotype: str,
    permutations: int,
    seed: int,
) -> pd.DataFrame:
    """:func:`lfunction_table`'s table with the random-labelling envelope of each computable type.

    Parameters are those the table was made with; the ``i``-th of ``immune_types`` is
    relabelled with seed ``seed + i`` (:func:`l_function_envelope`, ``permutations`` times).

    Returns
    -------
    a new DataFrame with ``envelope_low_um``, ``envelope_high_um`` and ``permutations`` set
    """
    table = table.copy()
    if permutations <= 0:
        return table
    sel_b = (phenotype == tumor_phenotype) & in_tissue
    for i, name in enumerate(immune_types):
        rows = (table["phenotype"] == name) & table["computable"]
        if not rows.any():
            continue
        sel_a = (phenotype == name) & in_tissue
        lo, hi = l_function_envelope(
            xy_um[sel_a],
            edge_um[sel_a],
            xy_um[sel_b],
            edge_um[sel_b],
            tissue_area_um2,
            table.loc[rows, "radius_um"].to_numpy(float),
            permutations,
            seed + i,
        )
        table.loc[rows, "envelope_low_um"] = lo
        table.loc[rows, "envelope_high_um"] = hi
        table.loc[rows, "permutations"] = permutations
    return table
