"""The spatial step of one sample: the stages in order, and what they return."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..geometry import points_in_bounds
from .common import ALL_IMMUNE, type_codes
from .densities import band_densities, band_edges, region_densities
from .distances import DistanceMap, distance_map, locate_cells, spatial_order
from .enrichment import nhood_enrichment
from .lfunction import add_envelopes, lfunction_table, window_edge_distance
from .neighbours import (
    NEIGHBOURHOOD_COLUMNS,
    knn_composition,
    mixing_scores,
    nearest_tumor_distances,
    nearest_tumor_table,
    neighbour_counts,
    neighbourhood_table,
)
from .pairs import pair_counts
from .params import Params
from .states import state_summary
from .summary import summarize

NEST_COUNT_COLUMNS = ["n_tumor_cells", "n_immune_cells", "immune_density_per_mm2"]

if TYPE_CHECKING:
    from ..regions import Regions

log = logging.getLogger(__name__)

TABLES = (  # the tidy tables of a SpatialResult, each written as {name}.tsv
    "nests",
    "densities",
    "region_densities",
    "nearest_tumor",
    "neighbours",
    "neighbourhoods",
    "lfunction",
    "mixing",
    "enrichment",
)


@dataclass
class SpatialResult:
    """Everything the spatial step writes: per-cell table, tidy tables, summary dict."""

    cells: pd.DataFrame
    nests: pd.DataFrame
    densities: pd.DataFrame
    region_densities: pd.DataFrame
    nearest_tumor: pd.DataFrame
    neighbours: pd.DataFrame
    neighbourhoods: pd.DataFrame
    lfunction: pd.DataFrame
    mixing: pd.DataFrame
    enrichment: pd.DataFrame
    summary: dict
    distance_map: DistanceMap | None = None
    # wall-clock and CPU seconds (the whole process's, all threads) per stage; nearest_tumor
    # and knn_composition run in a background thread beside distance_map .. densities
    timings_s: dict = field(default_factory=dict)
    cpu_s: dict = field(default_factory=dict)


class Timings:
    """Wall-clock and CPU seconds per named stage: ``with timings("stage"): ...``."""

    def __init__(self) -> None:
        self.wall_s: dict[str, float] = {}
        self.cpu_s: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall_s[name] = time.perf_counter() - wall
            self.cpu_s[name] = time.process_time() - cpu


def analyze(
    cells: pd.DataFrame,
    regions: Regions,
    params: Params,
    immune_lineage: Sequence[str] | None = None,
    sample: str | None = None,
    groups: Mapping[str, tuple] | None = None,
) -> SpatialResult:
    """Run the spatial step on one sample.

    Parameters
    ----------
    cells : DataFrame with ``cell_id, x_um, y_um, phenotype`` (any further columns are kept)
    regions : :class:`frontline.regions.Regions`
    params : :class:`Params`
    immune_lineage : phenotypes counted as immune (default: ``params.immune_types``)
    sample : name, for the summary and the log
    groups : state groups, label -> (phenotype, state, (N,) mask, (N,) phenotype mask), rows of
        ``cells`` (:func:`frontline.states.state_groups`): densities, distances and summary
        keys of their own (:func:`frontline.spatial.states.state_summary`)

    Returns
    -------
    :class:`SpatialResult`, cells in the input's row order. ``params.envelope`` = ``none``
    (or ``permutations`` with ``params.permutations`` = 0) skips the L-function envelope.
    """
    p, timings = params, Timings()
    lineage = tuple(immune_lineage) if immune_lineage is not None else tuple(p.immune_types)
    row_order = spatial_order(cells[["x_um", "y_um"]].to_numpy(dtype=float))
    out = cells.iloc[row_order].reset_index(drop=True)
    xy = out[["x_um", "y_um"]].to_numpy(dtype=float)
    phen = out["phenotype"].to_numpy().astype(str)  # fixed-width strings: fast comparisons
    groups = {
        k: (g[0], g[1], *(np.asarray(m)[row_order] for m in g[2:]))
        for k, g in (groups or {}).items()
    }
    _warn_without_front(regions, sample)
    _warn_absent_types(phen, p, sample)

    with ThreadPoolExecutor(1) as background:
        # the searches among cells need only positions and phenotypes: they run beside the
        # raster stages (mostly one thread each) instead of after them
        searches = background.submit(_searches, xy, phen, p, timings)
        with timings("distance_map"):
            dmap = distance_map(regions, p.raster_um, p.front_step_um, p.workers)
        with timings("cell_distances"):
            for column, values in locate_cells(
                xy, regions, dmap, p.margin_um, p.front_step_um, p.workers
            ).items():
                out[column] = values
        with timings("densities"):
            densities, region_table = _densities(out, phen, dmap, p, lineage, groups)
        out["dist_nearest_tumor_um"], composition = searches.result()
    in_tissue = out["in_tissue"].to_numpy()
    with timings("pair_counts"):  # one pass, shared by every statistic of cell pairs below
        edge, pairs = _pair_counts(xy, phen, in_tissue, regions, p)
    with timings("neighbour_counts"):
        nearest, neighbours = _neighbours(out, xy, phen, p, pairs)
    with timings("kmeans"):
        out["neighbourhood"], neighbourhoods = _neighbourhoods(phen, composition, p)
    lfunction = _lfunction(xy, phen, in_tissue, edge, dmap, p, pairs, timings)
    with timings("mixing"):
        mixing = mixing_scores(
            xy,
            phen,
            p.immune_types,
            lineage,
            p.tumor_phenotype,
            p.mixing_radius_um,
            p.min_cells,
            pairs,
        )
    with timings("enrichment"):
        enrichment = nhood_enrichment(
            xy, phen, p.enrichment_radius_um, p.min_cells, p.workers, pairs
        )
    with timings("nests"):
        nests = nest_counts(regions, xy, phen == p.tumor_phenotype, np.isin(phen, lineage))
    with timings("summary"):
        summary = summarize(
            out, regions, region_table, nearest, mixing, p, lineage, sample, nests=nests
        )
        keys, skipped = state_summary(out, groups, region_table, regions.no_front_reason, p)
        summary = {**summary, **keys, "not_computable": {**summary["not_computable"], **skipped}}
        out = out.iloc[np.argsort(row_order)].reset_index(drop=True)  # the input's row order
    log.info(
        "sample %s: %d cells, call %s (%s); timings %s",
        sample,
        len(out),
        summary["phenotype_call"],
        summary["phenotype_call_reason"],
        {k: round(v, 2) for k, v in timings.wall_s.items()},
    )
    return SpatialResult(
        cells=out,
        nests=nests,
        densities=densities,
        region_densities=region_table,
        nearest_tumor=nearest,
        neighbours=neighbours,
        neighbourhoods=neighbourhoods,
        lfunction=lfunction,
        mixing=mixing,
        enrichment=enrichment,
        summary=summary,
        distance_map=dmap,
        timings_s=timings.wall_s,
        cpu_s=timings.cpu_s,
    )


def nest_counts(
    regions: Regions, xy_um: np.ndarray, is_tumor: np.ndarray, is_immune: np.ndarray
) -> pd.DataFrame:
    """The nests table (:func:`frontline.regions.nest_table`) with the cells inside each nest.

    Returns
    -------
    DataFrame: ``nest, area_um2, perimeter_um, front_length_um, n_holes, n_tumor_cells,
    n_immune_cells, immune_density_per_mm2`` (immune cells of the lineage per mm² of nest)
    """
    import shapely

    from ..regions import NEST_COLUMNS, nest_table

    layer = nest_table(regions)
    table = pd.DataFrame(layer.drop(columns="geometry"), columns=NEST_COLUMNS)
    parts = list(layer.geometry)
    tumor_n = np.zeros(len(parts), dtype=int)
    immune_n = np.zeros(len(parts), dtype=int)
    if parts:
        # per nest, the cells in its bounding box (from the cells sorted by x), then its
        # prepared point-in-polygon test
        for mask, counts in ((is_tumor, tumor_n), (is_immune, immune_n)):
            xy = xy_um[mask]
            xy = xy[np.argsort(xy[:, 0], kind="stable")]
            for j, part in enumerate(parts):
                cand = points_in_bounds(xy, part.bounds)
                if len(cand):
                    shapely.prepare(part)
                    counts[j] = np.count_nonzero(shapely.contains_xy(part, *cand.T))
    area_mm2 = table["area_um2"].to_numpy(dtype=float) / 1e6
    return table.assign(
        n_tumor_cells=tumor_n,
        n_immune_cells=immune_n,
        immune_density_per_mm2=np.divide(
            immune_n, area_mm2, out=np.full(len(parts), np.nan), where=area_mm2 > 0
        ),
    )


# --------------------------------------------------------------------------- the stages
# Each takes the Params and hands the pure functions of the stage modules their arguments.


def _warn_without_front(regions, sample):
    if not regions.has_front:
        log.warning(
            "%s%s: distances are NaN (not computable), regions are tumor_core and stroma%s",
            f"sample {sample}: " if sample else "",
            regions.no_front_reason,
            "; the immune call sees only an inflamed tumor"
            if regions.tumor_fills_tissue
            else "; the immune call is no_front",
        )


def _warn_absent_types(phen, p, sample):
    """A type the config names that has no cell here: said, not a silent 0."""
    named = dict.fromkeys([*p.immune_types, p.call["phenotype"], p.tumor_phenotype])
    absent = [t for t in named if t != ALL_IMMUNE and not np.any(phen == t)]
    if absent:
        log.warning(
            "%sno cells of the phenotype(s) %s that the config names (spatial.immune_types, "
            "spatial.call.phenotype, front.tumor_phenotype): their densities are 0 and their "
            "other statistics not computable; check the gates of their markers (plots/gating/)",
            f"sample {sample}: " if sample else "",
            absent,
        )


def _searches(xy, phen, p, timings):
    """Distance to the nearest tumor cell and the kNN composition of every cell (None with
    too few cells for neighbourhoods)."""
    with timings("nearest_tumor"):
        nearest = nearest_tumor_distances(xy, phen == p.tumor_phenotype, p.workers)
    if len(xy) < max(p.n_neighbourhoods, p.neighbourhood_k + 1, p.min_cells):
        return nearest, None
    with timings("knn_composition"):
        names, codes = type_codes(phen)
        return nearest, knn_composition(xy, codes, len(names), p.neighbourhood_k, p.workers)


def _neighbourhoods(phen, composition, p):
    """Cellular neighbourhood of each cell (0: too few cells) and their compositions."""
    if composition is None:
        return np.zeros(len(phen), dtype=int), pd.DataFrame([], columns=NEIGHBOURHOOD_COLUMNS)
    names = type_codes(phen)[0]
    return neighbourhood_table(composition, names, p.n_neighbourhoods, p.seed, p.tumor_phenotype)


def _densities(out, phen, dmap, p, lineage, groups):
    """Band and region densities of the cells in the tissue (and of the state groups)."""
    in_tissue = out["in_tissue"].to_numpy()
    edges = band_edges(p.band_range_um, p.band_width_um)
    extra = {label: group[2] for label, group in groups.items()}
    dist = out["dist_front_um"].to_numpy()
    bands = band_densities(dist, phen, in_tissue, dmap, edges, lineage, extra)
    regions = region_densities(out["region"], phen, in_tissue, dmap, p.margin_um, lineage, extra)
    return bands, regions


def _pair_counts(xy, phen, in_tissue, regions, p):
    """The cells' distances to the tissue outline and their pair counts at every radius."""
    radii = np.sort(np.asarray(p.lfunction_radii_um, dtype=float))
    edge = window_edge_distance(
        xy, regions.tissue, in_tissue, radii[-1], p.front_step_um, p.workers
    )
    every = (*p.radii_um, *radii, p.mixing_radius_um, p.enrichment_radius_um)
    pairs = pair_counts(
        xy, phen, every, in_tissue, edge, p.immune_types, p.tumor_phenotype, p.workers
    )
    return edge, pairs


def _neighbours(out, xy, phen, p, pairs):
    """The nearest-tumor-cell table and the neighbour counts (tumor cells counted first)."""
    n_tumor = int((phen == p.tumor_phenotype).sum())
    nearest = nearest_tumor_table(
        phen, out["dist_nearest_tumor_um"].to_numpy(), p.immune_types, n_tumor, p.min_cells
    )
    others = [t for t in pd.unique(phen) if t != p.tumor_phenotype]
    counts = neighbour_counts(
        xy, phen, p.immune_types, [p.tumor_phenotype, *others], p.radii_um, p.min_cells, pairs
    )
    return nearest, counts


def _lfunction(xy, phen, in_tissue, edge, dmap, p, pairs, timings):
    """The L-function table, with its envelope (``p.envelope``)."""
    with timings("lfunction"):
        area = float(dmap.tissue.sum()) * p.raster_um**2
        radii = np.sort(np.asarray(p.lfunction_radii_um, dtype=float))
        args = (xy, phen, edge, in_tissue, area, p.immune_types, p.tumor_phenotype)
        table = lfunction_table(*args, radii, p.min_cells, pairs)
    if p.envelope == "none" or (p.envelope == "permutations" and p.permutations <= 0):
        return table
    with timings("lfunction_envelope"):
        return add_envelopes(
            table,
            *args,
            envelope=p.envelope,
            level=p.envelope_level,
            permutations=p.permutations,
            seed=p.seed,
            pairs=pairs,
            workers=p.workers,
        )
