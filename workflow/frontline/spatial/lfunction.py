"""Cross-type L-function of each immune type around tumor cells, and its envelope.

L(r) = sqrt(K(r) / pi) with K(r) = sum over immune cells i at least r from the tissue outline
of #tumor cells within r / (n_i(r) * lambda_tumor), lambda_tumor = tumor cells / tissue area
(border-corrected "reduced sample" estimator: the tissue outline, including the image border,
is the window; only cells in the tissue count). L(r) = r when the two types are independent;
above: attraction. Table: ``lfunction.tsv``.

Envelope under random labelling
-------------------------------
The null hypothesis keeps the pooled immune and tumor cells where they are and draws which of
them are immune (as many as observed) uniformly at random. ``spatial.envelope`` chooses how
its pointwise band is found:

- ``closed_form`` (default): from the exact moments of the two counts K is made of under
  random labelling, T(r) = immune-to-tumor pairs within r from valid immune cells and
  N(r) = valid immune cells (valid: at least r from the outline). With x_i = 1 for a cell
  labelled immune, o_i = w_i deg_i (w_i = [cell i valid], deg_i its pooled neighbours within r)
  and d_i its valid pooled neighbours within r, T = sum_i x_i o_i - sum_{i -> j} x_i x_j. Its
  mean, variance and covariance with N are sums over single cells, pairs, triples and
  quadruples of cells weighted by the falling factorials of sampling without replacement;
  they reduce to S = sum o_i, the pairs with both ends valid, n_valid and the centred sums of
  squares of o and d (:func:`relabelling_moments`; one pass over every pair of cells counts
  them exactly, :mod:`frontline.spatial.pairs`). K = T / (lambda_tumor N) is a ratio: its
  mean and variance come from the delta method (the mean to second order), an expansion in
  the relative fluctuation of N, whose variance is about (1 - p) / E[N] (p: immune share of
  the pooled cells; 1 % for 100 valid immune cells, 0.01 % for 10,000), so its error is
  small beside the band. The band is K ± z sd(K), z the normal quantile of the
  two-sided ``envelope_level``, mapped to L through sqrt(K / pi) (a negative lower K bound
  gives 0). What is approximated is the shape of the distribution: K is a sum over many
  cells of weakly dependent terms and close to normal. On a clustered field of 20,000 cells
  (tumor nests; 2,884 immune and 8,644 tumor cells in a window with a hole) the band held
  97.4-98.6 % of 999 relabellings at every radius 10-100 µm for the nominal 98 % (each
  tail 0.3-1.5 % for 1 %), and 93.6-96.1 % for 95 % (tails 1.9-3.6 % for 2.5 %)
  (``tests/unit/test_spatial_lfunction.py``). With few cells (tens of immune cells at
  10 µm) the counts are small and discrete and the band is coarser than its nominal level.
- ``permutations``: min and max of L(r) over ``spatial.permutations`` seeded relabellings, a
  pointwise band of level (P - 1) / (P + 1) (0.98 for 99); minutes on a whole slide.
- ``none``: no envelope.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from ..geometry import distance_to_lines
from .common import not_computable
from .pairs import PairCounts, pair_counts

ENVELOPES = ("closed_form", "permutations", "none")


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
    return _l_of_counts(total, n_valid, len(xy_b), area_um2)


def _l_of_counts(total, n_valid, n_b, area_um2):
    """L(r) from the pair total and the valid "from" points of the reduced-sample estimator."""
    total, n_valid = np.asarray(total, float), np.asarray(n_valid, float)
    lam_b = n_b / area_um2
    with np.errstate(invalid="ignore", divide="ignore"):
        k = total / (n_valid * lam_b)
    return np.where(n_valid > 0, np.sqrt(k / np.pi), np.nan)


def relabelled_l_functions(
    xy_a: np.ndarray,
    edge_a: np.ndarray,
    xy_b: np.ndarray,
    edge_b: np.ndarray,
    area_um2: float,
    radii_um: Sequence[float],
    permutations: int,
    seed: int,
) -> np.ndarray:
    """L(r) of :func:`cross_l_function` after each of ``permutations`` random relabellings
    of the pooled points a ∪ b (as many a points as before; seeded).

    Returns
    -------
    (permutations, R) float array, µm
    """
    radii = np.asarray(radii_um, dtype=float)
    xy = np.vstack([xy_a, xy_b])
    edge = np.concatenate([edge_a, edge_b])
    n_a = len(xy_a)
    rng = np.random.default_rng(seed)
    sims = np.empty((max(permutations, 0), len(radii)))
    for p in range(len(sims)):
        perm = rng.permutation(len(xy))
        a, b = perm[:n_a], perm[n_a:]
        sims[p] = cross_l_function(xy[a], edge[a], xy[b], area_um2, radii)
    return sims


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
    """Permutation envelope of :func:`cross_l_function`: min and max of L(r) over
    ``permutations`` relabellings (:func:`relabelled_l_functions`), a pointwise band of level
    (permutations - 1) / (permutations + 1).

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
    if permutations <= 0:
        nan = np.full(len(radii_um), np.nan)
        return nan, nan
    sims = relabelled_l_functions(
        xy_a, edge_a, xy_b, edge_b, area_um2, radii_um, permutations, seed
    )
    return np.nanmin(sims, axis=0), np.nanmax(sims, axis=0)


def relabelling_moments(moments: np.ndarray, n_from: int) -> dict[str, np.ndarray]:
    """Exact mean, variance and covariance of the L-function's counts under random labelling.

    T = pairs (i, j) within r with i labelled "from", valid (at least r from the window's
    outline), and j labelled "to"; N = valid "from" points. The labels are a uniformly random
    choice of ``n_from`` of the n pooled points (sampling without replacement).

    Parameters
    ----------
    moments : (..., 8) sums over the pooled points in the order of
        :data:`frontline.spatial.pairs.MOMENTS` (``n, n_valid, sum o, sum d, sum w d,
        sum o², sum d², sum o d``)
    n_from : int, points labelled "from"

    Returns
    -------
    dict of (...) float arrays: ``mean_t, var_t, mean_n, var_n, cov_tn`` (NaN below 4 points)
    """
    m = np.asarray(moments, dtype=float)
    n, n_w, s, _, s_vv, oo, dd, od = np.moveaxis(m, -1, 0)
    na = float(n_from)
    nb = n - na
    with np.errstate(invalid="ignore", divide="ignore"):
        f2 = n * (n - 1)
        f3 = f2 * (n - 2)
        f4 = f3 * (n - 3)
        # probabilities that given distinct points carry given labels (a: from, b: to)
        p_ab = na * nb / f2
        p_abb = na * nb * (nb - 1) / f3
        p_aab = na * (na - 1) * nb / f3
        p_aabb = na * (na - 1) * nb * (nb - 1) / f4
        # centred sums of squares: no cancellation between large raw sums
        c_oo, c_dd, c_od = oo - s * s / n, dd - s * s / n, od - s * s / n
        mean_t = s * p_ab
        second = (
            c_oo * (p_abb - p_aabb)
            + c_dd * (p_aab - p_aabb)
            - 2 * c_od * p_aabb
            + s * p_ab
            + (s * s / n - s) * (p_abb + p_aab)
            + (s * s + s - 4 * s * s / n + s_vv) * p_aabb
        )
        var_t = second - mean_t**2
        mean_n = na / n * n_w
        var_n = p_ab * (n_w - n_w * n_w / n)
        cov_tn = s * p_ab + (n_w * s - s - s_vv) * p_aab - mean_t * mean_n
    out = {"mean_t": mean_t, "var_t": var_t, "mean_n": mean_n, "var_n": var_n, "cov_tn": cov_tn}
    return {k: np.where(n >= 4, v, np.nan) for k, v in out.items()}


def closed_form_band(
    moments: np.ndarray, n_from: int, area_um2: float, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise random-labelling band of L(r) at ``level``, from the moments of its counts.

    K = T / (lambda_to N), lambda_to = (n - n_from) / area: mean and variance of the ratio by
    the delta method (:func:`relabelling_moments` for T and N), band K ± z sd, z the normal
    quantile of the two-sided level, mapped to L = sqrt(K / pi).

    Parameters
    ----------
    moments : (R, 8) pooled sums (:data:`frontline.spatial.pairs.MOMENTS`), one row per radius
    n_from : int, pooled points labelled "from"
    area_um2 : float, window area, µm²
    level : float in (0, 1), e.g. 0.98

    Returns
    -------
    low, high : (R,) float arrays, µm (NaN where no pooled point is valid)
    """
    mom = relabelling_moments(moments, n_from)
    n = np.asarray(moments, dtype=float)[..., 0]
    lam = (n - n_from) / area_um2
    t, vt, en, vn, c = (mom[k] for k in ("mean_t", "var_t", "mean_n", "var_n", "cov_tn"))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_k = (t / en - c / en**2 + t * vn / en**3) / lam
        var_k = (vt / en**2 - 2 * t * c / en**3 + t**2 * vn / en**4) / lam**2
    z = NormalDist().inv_cdf(0.5 + level / 2)
    sd = np.sqrt(np.maximum(var_k, 0.0))
    ok = (en > 0) & np.isfinite(mean_k)
    low = np.sqrt(np.maximum(mean_k - z * sd, 0.0) / np.pi)
    high = np.sqrt(np.maximum(mean_k + z * sd, 0.0) / np.pi)
    return np.where(ok, low, np.nan), np.where(ok, high, np.nan)


def closed_form_envelope(
    xy_a: np.ndarray,
    edge_a: np.ndarray,
    xy_b: np.ndarray,
    edge_b: np.ndarray,
    area_um2: float,
    radii_um: Sequence[float],
    level: float,
    workers: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form random-labelling envelope of :func:`cross_l_function` at ``level``.

    Parameters
    ----------
    xy_a, edge_a, xy_b, edge_b, area_um2, radii_um : as :func:`l_function_envelope`
    level : float in (0, 1), pointwise two-sided level of the band
    workers : threads of the pair count

    Returns
    -------
    low, high : (R,) float arrays, µm
    """
    radii = np.asarray(radii_um, dtype=float)
    if len(xy_a) == 0 or len(xy_b) == 0:
        nan = np.full(len(radii), np.nan)
        return nan, nan
    xy = np.vstack([xy_a, xy_b])
    labels = np.r_[np.zeros(len(xy_a), int), np.ones(len(xy_b), int)]
    edge = np.concatenate([edge_a, edge_b])
    pairs = pair_counts(xy, labels, radii, None, edge, from_types=(0,), to_type=1, workers=workers)
    moments = pairs.moments[0, [pairs.radius_index(r) for r in radii]]
    return closed_form_band(moments, len(xy_a), area_um2, level)


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
    pairs: PairCounts | None = None,
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
    pairs : optional :class:`frontline.spatial.pairs.PairCounts` of the same cells with the
        window counts of ``immune_types`` against ``tumor_phenotype`` at ``radii_um`` (None:
        each L-function is counted on its own)

    Returns
    -------
    DataFrame ``phenotype, radius_um, L_um, L_minus_r_um, envelope_low_um, envelope_high_um,
    envelope, envelope_level, n_cells, n_tumor, permutations, computable, reason`` (no
    envelope yet: NaN, ``none``; :func:`add_envelopes` fills it)
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
        if reason:
            obs = nan
        elif _counted(pairs, name, tumor_phenotype):
            p, k = pairs.from_types.index(name), [pairs.radius_index(r) for r in radii]
            obs = _l_of_counts(pairs.valid_pairs[p, k], pairs.valid[p, k], n_b, tissue_area_um2)
        else:
            obs = cross_l_function(
                xy_um[sel_a], edge_um[sel_a], xy_um[sel_b], tissue_area_um2, radii
            )
        rows.extend(
            {
                "phenotype": name,
                "radius_um": rad,
                "L_um": obs[k],
                "L_minus_r_um": obs[k] - rad,
                "envelope_low_um": nan[k],
                "envelope_high_um": nan[k],
                "envelope": "none",
                "envelope_level": np.nan,
                "n_cells": n_a,
                "n_tumor": n_b,
                "permutations": 0,
                "computable": not reason,
                "reason": reason,
            }
            for k, rad in enumerate(radii)
        )
    return pd.DataFrame(rows)


def _counted(pairs, name, tumor_phenotype):
    """Whether ``pairs`` holds the window counts of ``name`` against the tumor cells."""
    return (
        pairs is not None
        and pairs.to_type == tumor_phenotype
        and name in pairs.from_types
        and name != tumor_phenotype
    )


def add_envelopes(
    table: pd.DataFrame,
    xy_um: np.ndarray,
    phenotype: np.ndarray,
    edge_um: np.ndarray,
    in_tissue: np.ndarray,
    tissue_area_um2: float,
    immune_types: Sequence[str],
    tumor_phenotype: str,
    envelope: str = "closed_form",
    level: float = 0.98,
    permutations: int = 99,
    seed: int = 0,
    pairs: PairCounts | None = None,
    workers: int = 1,
) -> pd.DataFrame:
    """:func:`lfunction_table`'s table with the random-labelling envelope of each computable type.

    Parameters
    ----------
    table, xy_um, phenotype, edge_um, in_tissue, tissue_area_um2, immune_types,
    tumor_phenotype : those the table was made with
    envelope : ``closed_form`` (:func:`closed_form_band` at ``level``), ``permutations``
        (:func:`l_function_envelope`, ``permutations`` relabellings, the ``i``-th of
        ``immune_types`` with seed ``seed + i``) or ``none``
    pairs : optional pair counts with the envelope moments (as for :func:`lfunction_table`)
    workers : threads of the pair count (closed form without ``pairs``)

    Returns
    -------
    a new DataFrame with ``envelope_low_um``, ``envelope_high_um``, ``envelope``,
    ``envelope_level`` and ``permutations`` set
    """
    if envelope not in ENVELOPES:
        raise ValueError(f"envelope must be one of {ENVELOPES}, not {envelope!r}")
    table = table.copy()
    if envelope == "none" or (envelope == "permutations" and permutations <= 0):
        return table
    sel_b = (phenotype == tumor_phenotype) & in_tissue
    for i, name in enumerate(immune_types):
        rows = (table["phenotype"] == name) & table["computable"]
        if not rows.any():
            continue
        sel_a = (phenotype == name) & in_tissue
        radii = table.loc[rows, "radius_um"].to_numpy(float)
        args = (xy_um[sel_a], edge_um[sel_a], xy_um[sel_b], edge_um[sel_b], tissue_area_um2)
        if envelope == "permutations":
            lo, hi = l_function_envelope(*args, radii, permutations, seed + i)
            nominal, n_perm = (permutations - 1) / (permutations + 1), permutations
        elif _counted(pairs, name, tumor_phenotype):
            p, k = pairs.from_types.index(name), [pairs.radius_index(r) for r in radii]
            lo, hi = closed_form_band(pairs.moments[p, k], int(sel_a.sum()), tissue_area_um2, level)
            nominal, n_perm = level, 0
        else:
            lo, hi = closed_form_envelope(*args, radii, level, workers)
            nominal, n_perm = level, 0
        table.loc[rows, "envelope_low_um"] = lo
        table.loc[rows, "envelope_high_um"] = hi
        table.loc[rows, "envelope"] = envelope
        table.loc[rows, "envelope_level"] = nominal
        table.loc[rows, "permutations"] = n_perm
    return table
