"""Simulator truth for the spatial tests: cells with their true distances, and the accuracy
metrics of the spatial step against it."""

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from frontline import front, simulate, spatial


def simulated_truth(preset, seed, shape_px=(4096, 4096), pixel_size_um=0.5):
    """The simulator's truth cells and tumor polygon, without rendering the image.

    The same world and the same cells as ``simulate.simulate_tissue`` (cell centres instead
    of the centroids of the visible nuclei), in a few seconds instead of minutes.

    Returns
    -------
    cells : DataFrame ``cell_id, x_um, y_um, phenotype, dist_front_um`` (µm)
    tumor : MultiPolygon, µm
    extent_um : (width_um, height_um)
    """
    world = simulate.make_world(preset, shape_px, pixel_size_um, seed)
    raw = simulate.generate_cells(world, 0.0, world.height_um, 0.0, world.width_um)
    tumor = front.as_multipolygon(simulate.tumor_polygon(world))
    cells = pd.DataFrame({"cell_id": raw["id"], "x_um": raw["x"], "y_um": raw["y"],
                          "phenotype": np.array(simulate.PHENOTYPES)[raw["code"]]})
    keep = ((cells["x_um"] >= 0) & (cells["x_um"] < world.width_um)
            & (cells["y_um"] >= 0) & (cells["y_um"] < world.height_um))
    cells = cells[keep].reset_index(drop=True)
    cells["dist_front_um"] = simulate.signed_distance_um(tumor, cells["x_um"].to_numpy(),
                                                         cells["y_um"].to_numpy())
    return cells, tumor, (world.width_um, world.height_um)


def spatial_accuracy(truth_cells, truth_tumor, cells, regions, densities, call, params,
                     immune_lineage=(), match_radius_um=4.0, near_front_um=300.0,
                     min_density_per_mm2=50.0, min_band_cells=100, tolerance=0.15):
    """Accuracy of the spatial step against simulator truth.

    Parameters
    ----------
    truth_cells : DataFrame ``x_um, y_um, phenotype, dist_front_um`` (the simulator's)
    truth_tumor : MultiPolygon, µm
    cells : DataFrame ``x_um, y_um, dist_front_um`` (the step's cells_spatial table)
    regions : the step's :class:`frontline.front.Regions`; its tissue is used for the truth too
    densities : the step's densities.tsv table
    call : the step's immune phenotype call
    params : :class:`frontline.spatial.Params` (bands, margin, call rule)
    match_radius_um : cells pair with truth cells within this distance (mutual nearest)
    near_front_um : distances are compared for cells this close to the true front
    min_density_per_mm2, min_band_cells : bands compared: truth density and truth count at
        least these
    tolerance : relative density error counted as within

    Returns
    -------
    dict of scalars (``dist_*``, ``front_*``, ``density_*``, ``call*``) and
    ``density_worst_bands`` (the bands outside the tolerance).
    """
    # distances of matched cells
    t_xy = truth_cells[["x_um", "y_um"]].to_numpy(float)
    p_xy = cells[["x_um", "y_um"]].to_numpy(float)
    d_tp, i_tp = cKDTree(p_xy).query(t_xy, distance_upper_bound=match_radius_um)
    ok = np.isfinite(d_tp)
    _, i_pt = cKDTree(t_xy).query(p_xy[i_tp[ok]])
    mutual = np.flatnonzero(ok)[i_pt == np.flatnonzero(ok)]
    truth_d = truth_cells["dist_front_um"].to_numpy(float)[mutual]
    pred_d = cells["dist_front_um"].to_numpy(float)[i_tp[mutual]]
    near = np.abs(truth_d) <= near_front_um
    err = pred_d[near] - truth_d[near]
    out = {"dist_n_cells": int(near.sum()),
           "dist_median_abs_error_um": float(np.nanmedian(np.abs(err))) if near.any() else None,
           "dist_p90_abs_error_um": float(np.nanpercentile(np.abs(err), 90)) if near.any() else None,
           "dist_median_error_um": float(np.nanmedian(err)) if near.any() else None}

    # the true regions, on the step's tissue
    tissue = regions.tissue
    tumor = front.as_multipolygon(truth_tumor.intersection(tissue))
    truth_regions = front.Regions(tumor=tumor, tissue=tissue,
                                  front=front.invasive_front(tumor, tissue, 0.0),
                                  extent_um=regions.extent_um)
    if regions.has_front and truth_regions.has_front:
        inferred = spatial.densify(regions.front, 1.0)
        true = spatial.densify(truth_regions.front, 1.0)
        out["front_mean_distance_um"] = float(0.5 * (
            cKDTree(true).query(inferred)[0].mean() + cKDTree(inferred).query(true)[0].mean()))
    out["front_length_ratio"] = (float(regions.front.length / truth_regions.front.length)
                                 if truth_regions.has_front else None)

    # band densities: the step's against the truth cells' with the true front
    dmap = spatial.distance_map(truth_regions, params.raster_um)
    r, c = dmap.pixel_of(t_xy)
    edges = spatial.band_edges(params.band_range_um, params.band_width_um)
    phen = truth_cells["phenotype"].astype(str).to_numpy()
    truth_bands = spatial.band_densities(truth_cells["dist_front_um"].to_numpy(float), phen,
                                         dmap.tissue[r, c], dmap, edges, immune_lineage)
    types = list(params.immune_types) + [spatial.ALL_IMMUNE, params.tumor_phenotype]
    both = densities.merge(truth_bands, on=["phenotype", "band_start_um"], suffixes=("", "_truth"))
    both = both[both["phenotype"].isin(types)
                & (both["density_per_mm2_truth"] >= min_density_per_mm2)
                & (both["n_cells_truth"] >= min_band_cells)]
    rel = (both["density_per_mm2"] - both["density_per_mm2_truth"]) / both["density_per_mm2_truth"]
    out.update({"density_bands_compared": int(len(both)),
                "density_bands_within_tolerance": int((rel.abs() <= tolerance).sum()),
                "density_tolerance": tolerance,
                "density_max_rel_error": float(rel.abs().max()) if len(both) else None,
                "density_median_rel_error": float(rel.abs().median()) if len(both) else None})
    worst = both.assign(rel_error=rel)[rel.abs() > tolerance]
    out["density_worst_bands"] = [
        {"phenotype": row.phenotype, "band_start_um": float(row.band_start_um),
         "density_per_mm2": float(row.density_per_mm2),
         "truth_density_per_mm2": float(row.density_per_mm2_truth), "rel_error": float(row.rel_error)}
        for row in worst.itertuples()]

    # the call the truth makes with the same rule
    in_tumor = spatial.inside(t_xy, truth_regions.tumor)
    truth_region = spatial.assign_regions(truth_cells["dist_front_um"].to_numpy(float), in_tumor,
                                          params.margin_um)
    table = spatial.region_densities(truth_region, phen, dmap.tissue[r, c], dmap, params.margin_um,
                                     immune_lineage)
    truth_call, _ = spatial.phenotype_call(table, truth_regions.has_front, params.call)
    out.update({"call": call, "truth_call": truth_call, "call_correct": call == truth_call})
    return out
