"""Accuracy against simulator truth: segmentation and phenotype metrics.

- Segmentation (:func:`segmentation_metrics`): a predicted nucleus matches a true one when
  their intersection over union is at least 0.5 (one-to-one: above 0.5 a match is unique),
  as in the StarDist and Data Science Bowl papers; precision, recall and F1 count matches.
- Phenotypes (:func:`phenotype_metrics`): predicted cells are paired one-to-one with true
  cells whose centroids lie within ``match_radius_um`` (:func:`match_points`, the pairing
  that matches most cells, then the shortest total distance). On the pairs:

  * tumor-vs-immune accuracy: over pairs whose true phenotype is in the tumor or the immune
    lineage, the fraction whose predicted phenotype is in the same lineage (lineage = the
    root of the phenotype tree; ``ambiguous`` and ``other`` are wrong);
  * macro-F1 over the true phenotypes (tumor, CD8_T, T_helper, B_cell, macrophage,
    neutrophil, stromal in the simulator) with at least ``min_class_cells`` matched cells
    (the F1 of a class of two cells is 0, 0.67 or 1: noise, not accuracy; ``macro_f1_all``
    averages every class present, and ``per_class`` lists them all). Predicted names equal
    to a true name count as that name, names in ``phenotype_map`` are renamed (default
    ``other`` -> ``stromal``), everything else (``immune``, ``T_cell``, ``ambiguous``) is
    ``unassigned`` and always wrong;
  * the confusion matrix, true phenotype x predicted phenotype as the workflow named it.
- Spatial (:func:`spatial_accuracy`): signed distances of matched cells against the true
  ones (cells within ``near_front_um`` of the true front), the distance between the inferred
  and the true front, band densities against those of the true cells with the true front,
  and the immune phenotype call against the call the same rule makes on the truth.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from .errors import FrontlineInputError
from .phenotype import AMBIGUOUS, OTHER, lineage_of, parse_phenotypes

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

    from .regions import Regions
    from .spatial import Params

log = logging.getLogger(__name__)

TRUTH_PHENOTYPES = ["tumor", "CD8_T", "T_helper", "B_cell", "macrophage", "neutrophil", "stromal"]
DEFAULT_PHENOTYPE_MAP = {OTHER: "stromal"}
UNASSIGNED = "unassigned"


# --------------------------------------------------------------------------- segmentation


def segmentation_metrics(
    truth: ArrayLike, pred: ArrayLike, iou_threshold: float = 0.5
) -> dict[str, Any]:
    """Object-level precision, recall and F1 of a label image against the truth.

    Parameters
    ----------
    truth, pred : (Y, X) int label arrays, 0 = background
    iou_threshold : float, least intersection over union of a match (>= 0.5 keeps matches
        one-to-one)

    Returns
    -------
    dict: ``iou_threshold, n_truth, n_pred, tp, fp, fn, precision, recall, f1,
    mean_matched_iou``
    """
    truth = np.asarray(truth).ravel()
    pred = np.asarray(pred).ravel()
    if truth.shape != pred.shape:
        raise ValueError(f"truth and prediction differ in size: {truth.shape} vs {pred.shape}")
    t_ids, t_area = np.unique(truth[truth > 0], return_counts=True)
    p_ids, p_area = np.unique(pred[pred > 0], return_counts=True)
    both = (truth > 0) & (pred > 0)
    t_idx = np.searchsorted(t_ids, truth[both])
    p_idx = np.searchsorted(p_ids, pred[both])
    key, inter = np.unique(t_idx.astype(np.int64) * max(p_ids.size, 1) + p_idx, return_counts=True)
    pt, pp = key // max(p_ids.size, 1), key % max(p_ids.size, 1)
    iou = inter / (t_area[pt] + p_area[pp] - inter)
    ok = iou >= iou_threshold
    pt, pp, iou = pt[ok], pp[ok], iou[ok]
    # Greedy by IoU: the same as optimal matching at thresholds >= 0.5, where a true nucleus
    # can overlap two predictions by half only in exact ties.
    order = np.argsort(-iou, kind="stable")
    used_t, used_p, matched = set(), set(), []
    for k in order:
        if pt[k] not in used_t and pp[k] not in used_p:
            used_t.add(pt[k])
            used_p.add(pp[k])
            matched.append(iou[k])
    tp = len(matched)
    n_truth, n_pred = int(t_ids.size), int(p_ids.size)
    return {
        "iou_threshold": float(iou_threshold),
        "n_truth": n_truth,
        "n_pred": n_pred,
        "tp": tp,
        "fp": n_pred - tp,
        "fn": n_truth - tp,
        "precision": tp / n_pred if n_pred else 0.0,
        "recall": tp / n_truth if n_truth else 0.0,
        "f1": 2 * tp / (n_truth + n_pred) if n_truth + n_pred else 0.0,
        "mean_matched_iou": float(np.mean(matched)) if matched else 0.0,
    }


# --------------------------------------------------------------------------- cell matching


def match_points(
    truth_xy: ArrayLike, pred_xy: ArrayLike, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pair points one-to-one within ``radius``.

    The pairing matches as many points as possible, then has the smallest total distance
    (an assignment per connected group of points within reach of each other).

    Parameters
    ----------
    truth_xy : (N, 2) float array, µm
    pred_xy : (M, 2) float array, µm
    radius : float, µm

    Returns
    -------
    (i_truth, i_pred) : two (K,) int arrays of row indices, sorted by ``i_truth``
    """
    truth_xy = np.asarray(truth_xy, float).reshape(-1, 2)
    pred_xy = np.asarray(pred_xy, float).reshape(-1, 2)
    n, m = len(truth_xy), len(pred_xy)
    if n == 0 or m == 0:
        return np.zeros(0, int), np.zeros(0, int)
    dist = cKDTree(truth_xy).sparse_distance_matrix(
        cKDTree(pred_xy), radius, output_type="coo_matrix"
    )
    rows, cols, d = dist.row, dist.col, dist.data  # coincident points kept (d = 0)
    if rows.size == 0:
        return np.zeros(0, int), np.zeros(0, int)
    graph = coo_matrix((np.ones(rows.size), (rows, n + cols)), shape=(n + m, n + m))
    _, component = connected_components(graph, directed=False)
    comp = component[rows]
    sizes = np.bincount(comp)
    # Most groups are one true and one predicted point: pair them without an assignment.
    simple = sizes[comp] == 1
    out_t, out_p = [rows[simple]], [cols[simple]]
    hard = ~simple
    big = 1.0 + radius * (n + m)
    order = np.argsort(comp[hard], kind="stable")
    r, c, dd, cc = rows[hard][order], cols[hard][order], d[hard][order], comp[hard][order]
    bounds = np.flatnonzero(np.r_[True, cc[1:] != cc[:-1], True])
    for a, b in zip(bounds[:-1], bounds[1:]):
        ti, ti_inv = np.unique(r[a:b], return_inverse=True)
        pj, pj_inv = np.unique(c[a:b], return_inverse=True)
        cost = np.full((ti.size, pj.size), big)
        cost[ti_inv, pj_inv] = dd[a:b]
        ri, ci = linear_sum_assignment(cost)
        real = cost[ri, ci] < big
        out_t.append(ti[ri[real]])
        out_p.append(pj[ci[real]])
    i_truth = np.concatenate(out_t).astype(int)
    i_pred = np.concatenate(out_p).astype(int)
    order = np.argsort(i_truth, kind="stable")
    return i_truth[order], i_pred[order]


# --------------------------------------------------------------------------- phenotypes


def map_predictions(
    names: ArrayLike,
    truth_classes: Iterable[str],
    phenotype_map: Mapping[str, str] | None = None,
) -> np.ndarray:
    """Predicted phenotype names in the truth's vocabulary (see the module docstring)."""
    mapping = DEFAULT_PHENOTYPE_MAP if phenotype_map is None else phenotype_map
    names = pd.Series(np.asarray(names, dtype=object))
    mapped = names.map(lambda v: v if v in truth_classes else mapping.get(v, UNASSIGNED))
    return mapped.to_numpy(dtype=object)


def classification_scores(
    truth: ArrayLike, pred: ArrayLike, classes: Sequence[str], min_class_cells: int = 1
) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1 and macro-F1.

    Parameters
    ----------
    truth, pred : (K,) arrays of names (``pred`` may hold names outside ``classes``)
    classes : list of str, the classes to score
    min_class_cells : int, ``macro_f1`` averages classes with at least this many true cells

    Returns
    -------
    dict: ``accuracy``, ``macro_f1`` (classes with >= ``min_class_cells`` true cells),
    ``macro_f1_classes`` (their names), ``macro_f1_all`` (every class present in truth or
    prediction), ``per_class`` {name: {precision, recall, f1, n_truth, n_pred}}
    """
    truth = np.asarray(truth, dtype=object)
    pred = np.asarray(pred, dtype=object)
    per_class, f1s, counted = {}, [], []
    for name in classes:
        is_t, is_p = truth == name, pred == name
        tp = int(np.sum(is_t & is_p))
        n_t, n_p = int(is_t.sum()), int(is_p.sum())
        if n_t + n_p == 0:
            continue
        f1 = 2 * tp / (n_t + n_p)
        per_class[name] = {
            "precision": tp / n_p if n_p else 0.0,
            "recall": tp / n_t if n_t else 0.0,
            "f1": f1,
            "n_truth": n_t,
            "n_pred": n_p,
        }
        f1s.append(f1)
        if n_t >= min_class_cells:
            counted.append(name)
    return {
        "accuracy": float(np.mean(truth == pred)) if truth.size else 0.0,
        "macro_f1": (float(np.mean([per_class[c]["f1"] for c in counted])) if counted else None),
        "macro_f1_classes": counted,
        "macro_f1_all": float(np.mean(f1s)) if f1s else None,
        "per_class": per_class,
    }


def confusion(
    truth: ArrayLike, pred: ArrayLike, truth_labels: Sequence[str], pred_labels: Sequence[str]
) -> dict[str, list]:
    """Counts of (true, predicted) name pairs.

    Returns
    -------
    dict: ``truth_labels`` (rows), ``predicted_labels`` (columns), ``counts`` (list of lists)
    """
    table = pd.crosstab(
        pd.Categorical(truth, categories=truth_labels),
        pd.Categorical(pred, categories=pred_labels),
        dropna=False,
    )
    return {
        "truth_labels": list(truth_labels),
        "predicted_labels": list(pred_labels),
        "counts": table.to_numpy().astype(int).tolist(),
    }


def phenotype_metrics(
    truth_cells: pd.DataFrame,
    cells: pd.DataFrame,
    phenotypes: pd.DataFrame,
    tree: Mapping[str, Mapping[str, Any]],
    match_radius_um: float = 4.0,
    phenotype_map: Mapping[str, str] | None = None,
    min_class_cells: int = 10,
    lineages: Sequence[str] = ("tumor", "immune"),
) -> dict[str, Any]:
    """Phenotype accuracy of one sample against the simulator's truth.

    Parameters
    ----------
    truth_cells : DataFrame ``cell_id, x_um, y_um, phenotype`` (simulator truth)
    cells : DataFrame ``cell_id, x_um, y_um`` (measure)
    phenotypes : DataFrame ``cell_id, phenotype`` (phenotype)
    tree : phenotype tree from :func:`frontline.phenotype.parse_phenotypes`
    match_radius_um : float, µm, largest centroid distance of a matched pair
    phenotype_map : dict predicted name -> truth name (default ``{other: stromal}``)
    min_class_cells : int, macro-F1 averages classes with at least this many matched cells
    lineages : the lineages compared by the tumor-vs-immune accuracy

    Returns
    -------
    dict, see the module docstring; JSON-ready.
    """
    pred = cells[["cell_id", "x_um", "y_um"]].merge(
        phenotypes[["cell_id", "phenotype"]], on="cell_id", how="inner"
    )
    i_t, i_p = match_points(
        truth_cells[["x_um", "y_um"]].to_numpy(), pred[["x_um", "y_um"]].to_numpy(), match_radius_um
    )
    true_names = truth_cells["phenotype"].to_numpy(dtype=object)[i_t]
    pred_names = pred["phenotype"].to_numpy(dtype=object)[i_p]
    classes = [c for c in TRUTH_PHENOTYPES if c in set(truth_cells["phenotype"])] + sorted(
        set(truth_cells["phenotype"]) - set(TRUTH_PHENOTYPES)
    )
    mapping = dict(DEFAULT_PHENOTYPE_MAP if phenotype_map is None else phenotype_map)
    mapped = map_predictions(pred_names, classes, mapping)
    scores = classification_scores(true_names, mapped, classes, min_class_cells)

    true_lineage = np.array([lineage_of(tree, n) for n in true_names], dtype=object)
    pred_lineage = np.array([lineage_of(tree, n) for n in pred_names], dtype=object)
    considered = np.isin(true_lineage, list(lineages))
    tumor_immune = (
        float(np.mean(pred_lineage[considered] == true_lineage[considered]))
        if considered.any()
        else None
    )

    pred_labels = [n for n in list(tree) + [AMBIGUOUS, OTHER] if n in set(pred["phenotype"])]
    pred_labels += sorted(set(pred["phenotype"]) - set(pred_labels))
    n_truth, n_pred, n_matched = len(truth_cells), len(pred), int(i_t.size)
    result = {
        "match_radius_um": float(match_radius_um),
        "n_truth_cells": n_truth,
        "n_predicted_cells": n_pred,
        "n_matched": n_matched,
        "matched_fraction_of_truth": n_matched / n_truth if n_truth else 0.0,
        "mapping": {"same name": "same class", **mapping, "anything else": UNASSIGNED},
        "tumor_vs_immune_accuracy": tumor_immune,
        "n_tumor_or_immune": int(considered.sum()),
        "accuracy": scores["accuracy"],
        "macro_f1": scores["macro_f1"],
        "macro_f1_classes": scores["macro_f1_classes"],
        "min_class_cells": int(min_class_cells),
        "macro_f1_all": scores["macro_f1_all"],
        "per_class": scores["per_class"],
        "confusion": confusion(true_names, pred_names, classes, pred_labels),
    }
    log.info(
        "phenotypes: %d/%d true cells matched; tumor-vs-immune accuracy %s; macro-F1 %s over %s",
        n_matched,
        n_truth,
        "n/a" if tumor_immune is None else f"{tumor_immune:.3f}",
        "n/a" if scores["macro_f1"] is None else f"{scores['macro_f1']:.3f}",
        scores["macro_f1_classes"],
    )
    return result


# --------------------------------------------------------------------------- spatial


def spatial_accuracy(
    truth_cells: pd.DataFrame,
    truth_tumor: BaseGeometry,
    cells: pd.DataFrame,
    regions: Regions,
    densities: pd.DataFrame,
    call: str,
    params: Params,
    immune_lineage: Iterable[str] = (),
    match_radius_um: float = 4.0,
    near_front_um: float = 300.0,
    min_density_per_mm2: float = 50.0,
    min_band_cells: int = 100,
    tolerance: float = 0.15,
    edge_tolerance_um: float | None = None,
) -> dict[str, Any]:
    """Accuracy of the front and spatial steps against simulator truth.

    Parameters
    ----------
    truth_cells : DataFrame ``x_um, y_um, phenotype, dist_front_um`` (the simulator's)
    truth_tumor : (Multi)Polygon, µm (the simulator's truth_tumor.geojson)
    cells : DataFrame ``x_um, y_um, dist_front_um`` (the step's cells_spatial.parquet)
    regions : the step's :class:`frontline.regions.Regions`; its tissue is used for the truth too,
        so that only the tumor and the front are judged
    densities : the step's densities.tsv table
    call : the step's immune phenotype call
    params : :class:`frontline.spatial.Params` (bands, margin, call rule)
    immune_lineage : phenotypes counted in ``all_immune``
    match_radius_um : cells pair one-to-one with truth cells within this distance
        (:func:`match_points`)
    near_front_um : distances are compared for cells this close to the true front, µm
    min_density_per_mm2, min_band_cells : bands compared are those where the truth has at least
        this density and this many cells (fewer cells: the comparison is counting noise)
    tolerance : relative density error counted as within
    edge_tolerance_um : the true tumor's outline this close to the tissue outline (where the
        image border or the edge of a TMA core cuts the tumor) is not true front, as for the
        traced front (None: the config's ``front: edge_tolerance_um``)

    Returns
    -------
    dict: ``dist_n_cells``, ``dist_median_abs_error_um``, ``dist_p90_abs_error_um``,
    ``dist_median_error_um`` (bias: positive = measured farther into the stroma),
    ``front_mean_distance_um`` (mean of the distances from each front to the other),
    ``front_length_ratio``, ``density_bands_compared``, ``density_bands_within_tolerance``,
    ``density_tolerance``, ``density_max_rel_error``, ``density_median_rel_error``,
    ``density_worst_bands`` (list of the bands outside the tolerance), ``call``,
    ``truth_call``, ``call_correct``. Compared types: the immune types, ``all_immune`` and
    the tumor phenotype.
    """
    from . import config, front, spatial
    from .geometry import as_multipolygon, densify, inside
    from .regions import Regions

    if edge_tolerance_um is None:
        edge_tolerance_um = config.section("front")["edge_tolerance_um"]

    t_xy = truth_cells[["x_um", "y_um"]].to_numpy(float)
    i_t, i_p = match_points(t_xy, cells[["x_um", "y_um"]].to_numpy(float), match_radius_um)
    truth_d = truth_cells["dist_front_um"].to_numpy(float)[i_t]
    pred_d = cells["dist_front_um"].to_numpy(float)[i_p]
    near = (np.abs(truth_d) <= near_front_um) & np.isfinite(pred_d)
    err = pred_d[near] - truth_d[near]
    out = {
        "dist_n_cells": int(near.sum()),
        "dist_median_abs_error_um": _stat(np.median, np.abs(err)),
        "dist_p90_abs_error_um": _stat(lambda v: np.percentile(v, 90), np.abs(err)),
        "dist_median_error_um": _stat(np.median, err),
    }

    tissue = regions.tissue
    tumor = as_multipolygon(truth_tumor.intersection(tissue))
    truth_regions = Regions(
        tumor=tumor,
        tissue=tissue,
        front=front.invasive_front(tumor, tissue, edge_tolerance_um),
        extent_um=regions.extent_um,
    )
    out["front_mean_distance_um"] = None
    if regions.has_front and truth_regions.has_front:
        inferred = densify(regions.front, 1.0)
        true = densify(truth_regions.front, 1.0)
        out["front_mean_distance_um"] = float(
            0.5
            * (cKDTree(true).query(inferred)[0].mean() + cKDTree(inferred).query(true)[0].mean())
        )
    out["front_length_ratio"] = (
        float(regions.front.length / truth_regions.front.length)
        if truth_regions.has_front
        else None
    )

    dmap = spatial.distance_map(truth_regions, params.raster_um)
    r, c = dmap.pixel_of(t_xy)
    truth_phen = truth_cells["phenotype"].astype(str).to_numpy()
    truth_dist = truth_cells["dist_front_um"].to_numpy(float)
    edges = spatial.band_edges(params.band_range_um, params.band_width_um)
    truth_bands = spatial.band_densities(
        truth_dist, truth_phen, dmap.tissue[r, c], dmap, edges, immune_lineage
    )
    types = list(params.immune_types) + [spatial.ALL_IMMUNE, params.tumor_phenotype]
    both = densities.merge(truth_bands, on=["phenotype", "band_start_um"], suffixes=("", "_truth"))
    both = both[
        both["phenotype"].isin(types)
        & (both["density_per_mm2_truth"] >= min_density_per_mm2)
        & (both["n_cells_truth"] >= min_band_cells)
    ]
    rel = (both["density_per_mm2"] - both["density_per_mm2_truth"]) / both["density_per_mm2_truth"]
    out.update(
        {
            "density_bands_compared": int(len(both)),
            "density_bands_within_tolerance": int((rel.abs() <= tolerance).sum()),
            "density_tolerance": float(tolerance),
            "density_max_rel_error": _stat(np.max, rel.abs().to_numpy()),
            "density_median_rel_error": _stat(np.median, rel.abs().to_numpy()),
        }
    )
    worst = both.assign(rel_error=rel)[rel.abs() > tolerance]
    out["density_worst_bands"] = [
        {
            "phenotype": str(row.phenotype),
            "band_start_um": float(row.band_start_um),
            "density_per_mm2": float(row.density_per_mm2),
            "truth_density_per_mm2": float(row.density_per_mm2_truth),
            "rel_error": float(row.rel_error),
        }
        for row in worst.itertuples()
    ]

    in_tumor = inside(t_xy, truth_regions.tumor)
    truth_region = spatial.assign_regions(truth_dist, in_tumor, params.margin_um)
    table = spatial.region_densities(
        truth_region, truth_phen, dmap.tissue[r, c], dmap, params.margin_um, immune_lineage
    )
    truth_located = pd.DataFrame(
        {
            "phenotype": truth_phen,
            "in_tissue": dmap.tissue[r, c],
            "in_tumor": in_tumor,
            "region": truth_region,
            "dist_nearest_tumor_um": spatial.nearest_tumor_distances(
                t_xy, truth_phen == params.tumor_phenotype
            ),
        }
    )
    evidence = spatial.call_evidence(truth_located, table, params.call, immune_lineage)
    truth_call, _, _ = spatial.immune_call(
        evidence,
        params.call,
        params.min_cells,
        truth_regions.no_front_reason,
        truth_regions.tumor_fills_tissue,
    )
    out.update({"call": call, "truth_call": truth_call, "call_correct": call == truth_call})
    log.info(
        "spatial: distance error %s µm (median |error|, %d cells), %d/%d bands within "
        "%.0f%%, call %s (truth %s)",
        out["dist_median_abs_error_um"],
        out["dist_n_cells"],
        out["density_bands_within_tolerance"],
        out["density_bands_compared"],
        100 * tolerance,
        call,
        truth_call,
    )
    return out


def _stat(fn, values):
    values = np.asarray(values, dtype=float)
    return float(fn(values)) if values.size else None


# --------------------------------------------------------------------------- one sample


def evaluate_sample(
    *,
    truth_nuclei: np.ndarray,
    nuclei: np.ndarray,
    truth_cells: pd.DataFrame,
    cells: pd.DataFrame,
    channels: list[str],
    phenotypes: pd.DataFrame,
    truth_tumor: Any,
    regions: Any,
    spatial_cells: pd.DataFrame,
    densities: pd.DataFrame,
    call: str,
    evaluation: dict,
    phenotyping: dict,
    params,
    immune_lineage=(),
    sample: str | None = None,
    truth_file: str | None = None,
    edge_tolerance_um: float | None = None,
) -> dict:
    """Every section of ``evaluation.json`` for one sample: segmentation, phenotype, spatial.

    Parameters
    ----------
    truth_nuclei, nuclei : (Y, X) int label images, the simulator's and the segmentation's
    truth_cells : the simulator's truth cells (``x_um, y_um, phenotype, dist_front_um``)
    cells : ``cell_id, x_um, y_um`` of the measured cells; ``channels`` their markers
    phenotypes : the phenotype step's table
    truth_tumor : (Multi)Polygon, µm; regions : the front step's
        :class:`frontline.regions.Regions`
    spatial_cells, densities, call : the spatial step's cells (``x_um, y_um, dist_front_um``),
        band densities and immune phenotype call
    evaluation, phenotyping : the config's sections (every key); params : the spatial step's
        :class:`frontline.spatial.Params`; immune_lineage : phenotypes counted as immune
    sample, truth_file : for messages

    Returns
    -------
    dict ``sample, segmentation, phenotype, spatial`` (:func:`segmentation_metrics`,
    :func:`phenotype_metrics`, :func:`spatial_accuracy`)
    """
    if truth_nuclei.shape != nuclei.shape:
        raise FrontlineInputError(
            f"the truth nuclei are {truth_nuclei.shape} px but the segmentation is "
            f"{nuclei.shape} px",
            sample=sample,
            file=truth_file,
            fix="the sheet's truth prefix must belong to this sample's image",
        )
    tree = parse_phenotypes(
        phenotyping["phenotypes"], channels, phenotyping["exclusive"], sample=sample
    )
    radius = evaluation["match_radius_um"]
    return {
        "sample": sample,
        "segmentation": segmentation_metrics(truth_nuclei, nuclei, evaluation["iou_threshold"]),
        "phenotype": phenotype_metrics(
            truth_cells,
            cells,
            phenotypes,
            tree,
            match_radius_um=radius,
            phenotype_map=evaluation["phenotype_map"],
            min_class_cells=evaluation["min_class_cells"],
        ),
        "spatial": spatial_accuracy(
            truth_cells,
            truth_tumor,
            spatial_cells,
            regions,
            densities,
            call,
            params,
            immune_lineage=immune_lineage,
            match_radius_um=radius,
            edge_tolerance_um=edge_tolerance_um,
        ),
    }
