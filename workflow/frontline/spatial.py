"""Where are the immune cells relative to the invasive front: distances, densities, neighbours.

Everything is in µm (distances), µm² or mm² (areas) and cells per mm² (densities).

Per cell
--------
- ``dist_front_um``: signed distance to the invasive front, negative inside the tumor. Exact to
  0.25 µm: distances are to the front densified to a point every ``front_step_um`` (0.5 µm);
  a distance transform of the rasterised front picks a front point near each cell's foot and
  a search along the front around it finds the nearest (a KD-tree query per cell gives the same
  numbers but slows down far from the front). The sign is the point-in-polygon test against
  the tumor region. ``NaN`` without a front.
- ``region``: ``tumor_core`` (d < -margin), ``inner_margin`` (-margin <= d < 0),
  ``outer_margin`` (0 <= d <= margin), ``stroma`` (d > margin), margin = ``margin_um``
  (100 µm). Without a front: ``tumor_core`` inside the tumor region, ``stroma`` elsewhere.
- ``in_tissue``: the cell's raster pixel lies in the tissue region.
- ``dist_nearest_tumor_um``: distance to the nearest (other) tumor cell.
- ``neighbourhood``: cellular neighbourhood (1..n, see below; 0 when not computed).

Densities
---------
Cells per mm² of tissue in signed-distance bands (``band_width_um`` 25 µm from
``band_range_um`` [-500, 500]) and in the four regions. Areas are measured, not approximated:
tissue and tumor are rasterised at ``raster_um`` (2 µm), the front is drawn into the raster and
a Euclidean distance transform gives every tissue pixel the distance from its centre to the
front (mean error 0.1 µm; sign from the tumor raster); a band's area is the pixel area times
the number of tissue pixels in it, each pixel spread over [d - raster/2, d + raster/2] so
that bands do not alias with the pixel grid. Cells count when they are in the tissue; their
band comes from their exact distance. Tables: ``densities.tsv`` (``phenotype, band_start_um,
band_end_um, n_cells, area_mm2, density_per_mm2``) and ``region_densities.tsv``
(``phenotype, region, n_cells, area_mm2, density_per_mm2``), for every phenotype present plus
``all_immune`` (the immune lineage) and ``all_cells``.

Cell-cell statistics
--------------------
- nearest tumor cell per immune type (median and quantiles);
- mean number of cells of each type within ``radii_um`` of each immune type (dual-tree pair
  counts, :meth:`scipy.spatial.cKDTree.count_neighbors`);
- neighbourhood composition: fractions of each phenotype among the ``neighbourhood_k`` nearest
  neighbours; cellular neighbourhoods: k-means (``n_neighbourhoods``, seeded) on the
  compositions, fitted on at most 50,000 cells and applied to all; neighbourhood 1 is the one
  with the most tumor cells;
- cross-type L-function of each immune type around tumor cells, L(r) = sqrt(K(r) / pi) with
  K(r) = sum over immune cells i at least r from the tissue outline of #tumor cells within r
  / (n_i(r) * lambda_tumor), lambda_tumor = tumor cells / tissue area (border-corrected
  "reduced sample" estimator: the tissue outline, including the image border, is the window).
  Envelope: min and max over ``permutations`` random relabellings of the pooled immune and
  tumor cells (seeded). L(r) = r when the two types are independent; above: attraction;
- mixing score (Keren et al. 2018): immune-tumor pairs / immune-immune pairs within
  ``mixing_radius_um``; per type: type-tumor pairs / type-immune pairs;
- neighbourhood enrichment z-scores: pairs of cells of types a and b joined in the radius graph
  (``enrichment_radius_um``), compared with their expectation and standard deviation under
  random relabelling of the cells. Both are closed-form (join-count moments of sampling without
  replacement), so the z-score equals the limit of the permutation z-score that
  ``squidpy.gr.nhood_enrichment`` estimates, without permutations.

Speed: cells are processed in a spatial order (row strips of 64 µm), so that the KD-tree
searches of neighbouring cells touch the same memory (3x faster on a shuffled table); the
output keeps the input's row order.

A statistic of a type with fewer than ``min_cells`` cells is not computable: NaN, with
``computable = False`` and a ``reason`` in the tables.

Immune phenotype call
---------------------
From the density of the ``call.phenotype`` cells (default CD8_T; densities over the regions):

- ``no_front``: there is no invasive front (no tumor, or tumor everywhere);
- ``inflamed``: density inside the tumor (tumor core, or the inner margin when the core has less
  than 0.01 mm²) >= ``call.inflamed_min_per_mm2``;
- ``excluded``: otherwise, density in the outer margin >= ``call.excluded_min_per_mm2``;
- ``desert``: otherwise.
"""

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely
from scipy import ndimage
from scipy.spatial import cKDTree

from .front import rasterize

log = logging.getLogger(__name__)

REGIONS = ("tumor_core", "inner_margin", "outer_margin", "stroma")
ALL_IMMUNE = "all_immune"
ALL_CELLS = "all_cells"
KMEANS_FIT_CELLS = 50_000
FRONT_WINDOW = 64  # front points searched on either side of the distance transform's pick
SPATIAL_ORDER_UM = 64.0  # cells are processed in row strips of this height (memory locality)


@dataclass
class Params:
    """Parameters of the spatial step (config ``spatial:``), µm unless named otherwise."""

    margin_um: float = 100.0
    band_width_um: float = 25.0
    band_range_um: tuple = (-500.0, 500.0)
    near_front_um: float = 50.0
    radii_um: tuple = (25.0, 50.0, 100.0)
    immune_types: tuple = ("CD8_T", "T_helper", "B_cell", "macrophage", "neutrophil")
    tumor_phenotype: str = "tumor"
    min_cells: int = 20
    neighbourhood_k: int = 10
    n_neighbourhoods: int = 6
    lfunction_radii_um: tuple = (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)
    permutations: int = 99
    mixing_radius_um: float = 20.0
    enrichment_radius_um: float = 50.0
    raster_um: float = 2.0
    front_step_um: float = 0.5
    seed: int = 0
    call: dict = field(
        default_factory=lambda: {
            "phenotype": "CD8_T",
            "inflamed_min_per_mm2": 100.0,
            "excluded_min_per_mm2": 100.0,
        }
    )
    workers: int = 1

    @classmethod
    def from_config(cls, spatial_config, **overrides):
        """Params from the config's ``spatial:`` section (unknown keys are an error)."""
        values = dict(spatial_config or {})
        values.update(overrides)
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown spatial parameter(s) {unknown}")
        call = dict(cls().call)
        call.update(values.pop("call", {}) or {})
        for key in ("band_range_um", "radii_um", "immune_types", "lfunction_radii_um"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(call=call, **values)


# --------------------------------------------------------------------------- geometry helpers


def densify(lines, step_um=0.5):
    """Points along lines, at most ``step_um`` apart (vertices included).

    Parameters
    ----------
    lines : (Multi)LineString or any geometry with a boundary-like line part, µm
    step_um : float, µm

    Returns
    -------
    (M, 2) float array, µm
    """
    if lines is None or lines.is_empty:
        return np.zeros((0, 2))
    dense = shapely.segmentize(lines, step_um)
    return shapely.get_coordinates(dense)


def distance_to_lines(xy_um, lines, step_um=0.5, workers=1, upper_bound_um=np.inf):
    """Unsigned distance from points to lines, exact to ``step_um / 2``.

    Parameters
    ----------
    xy_um : (N, 2) float array, µm
    lines : (Multi)LineString, µm
    step_um : float, spacing of the densified line vertices, µm
    upper_bound_um : points farther than this get ``inf`` (a KD-tree search far from a
        curve visits much of the tree; bounding it keeps the query fast)

    Returns
    -------
    (N,) float array, µm (``inf`` when ``lines`` is empty)
    """
    xy_um = np.asarray(xy_um, dtype=float).reshape(-1, 2)
    pts = densify(lines, step_um)
    if len(pts) == 0:
        return np.full(len(xy_um), np.inf)
    dist, _ = cKDTree(pts).query(xy_um, k=1, workers=workers, distance_upper_bound=upper_bound_um)
    return dist


def inside(xy_um, geom, mask=None, raster_um=None):
    """Whether each point lies in ``geom`` (Multi)Polygon, (N,) bool.

    With ``mask`` (``geom`` rasterised at ``raster_um``, e.g. :attr:`DistanceMap.tumor`), points
    whose pixel and its 8 neighbours agree take the mask's answer and only the others, near
    the outline, are tested exactly: the same result, much faster for big tables.
    """
    xy_um = np.asarray(xy_um, dtype=float).reshape(-1, 2)
    if geom is None or geom.is_empty:
        return np.zeros(len(xy_um), dtype=bool)
    shapely.prepare(geom)
    if mask is None:
        return shapely.contains_xy(geom, xy_um[:, 0], xy_um[:, 1])
    sure_in = ndimage.binary_erosion(mask, np.ones((3, 3), bool), border_value=0)
    sure_out = ~ndimage.binary_dilation(mask, np.ones((3, 3), bool))
    r = np.clip((xy_um[:, 1] // raster_um).astype(np.int64), 0, mask.shape[0] - 1)
    c = np.clip((xy_um[:, 0] // raster_um).astype(np.int64), 0, mask.shape[1] - 1)
    out = sure_in[r, c]
    test = ~out & ~sure_out[r, c]
    out[test] = shapely.contains_xy(geom, xy_um[test, 0], xy_um[test, 1])
    return out


def signed_distance(xy_um, regions, step_um=0.5, workers=1, dmap=None, in_tumor=None):
    """Signed distance of points to the invasive front, negative inside the tumor.

    Distances are to the front densified every ``step_um`` (exact to ``step_um / 2``). Without
    a :class:`DistanceMap`: a KD-tree query per point (slow for points far from the front,
    where the search visits much of the tree). With one: the front point its distance
    transform assigns to the point's pixel, refined by a search along the front around it
    (:func:`refine_front_distance`): same result, time independent of the distance.

    Parameters
    ----------
    xy_um : (N, 2) float array, µm
    regions : :class:`frontline.front.Regions`
    step_um : float, front densification in µm (the map's own when ``dmap`` is given)
    dmap : :class:`DistanceMap` with its ``front_index``, or None
    in_tumor : (N,) bool, precomputed :func:`inside` of the tumor, or None

    Returns
    -------
    (N,) float array, µm; NaN for every point when there is no front.
    """
    xy_um = np.asarray(xy_um, dtype=float).reshape(-1, 2)
    if not regions.has_front:
        return np.full(len(xy_um), np.nan)
    if dmap is None or dmap.front_index is None:
        dist = distance_to_lines(xy_um, regions.front, step_um, workers)
    else:
        r, c = dmap.pixel_of(xy_um)
        dist = refine_front_distance(xy_um, dmap.front_points, dmap.front_index[r, c])
    if in_tumor is None:
        in_tumor = inside(xy_um, regions.tumor)
    return np.where(in_tumor, -dist, dist)


def assign_regions(dist_um, in_tumor, margin_um):
    """Region of each cell from its signed distance.

    Parameters
    ----------
    dist_um : (N,) float, signed distance to the front, µm (NaN without a front)
    in_tumor : (N,) bool, inside the tumor region (used where the distance is NaN)
    margin_um : float, half-width of the invasive margin, µm

    Returns
    -------
    (N,) pandas Categorical with categories :data:`REGIONS`.
    """
    dist_um = np.asarray(dist_um, dtype=float)
    out = np.where(np.asarray(in_tumor, dtype=bool), 0, 3)
    ok = ~np.isnan(dist_um)
    d = dist_um[ok]
    out[ok] = np.select([d < -margin_um, d < 0, d <= margin_um], [0, 1, 2], 3)
    return pd.Categorical.from_codes(out, categories=list(REGIONS))


# --------------------------------------------------------------------------- rasters


@dataclass
class DistanceMap:
    """Signed distance to the front on a raster restricted to tissue.

    dist_um : (rows, cols) float32, µm, NaN outside the tissue (and everywhere without a front)
    tissue, tumor : (rows, cols) bool masks
    raster_um : pixel edge, µm; pixel (r, c) covers x in [c, c + 1) * raster_um
    front_points : (M, 2) float, µm, the front densified every ``step_um`` (None without a front)
    front_index : (rows, cols) int32, for each pixel the index into ``front_points`` of the
        front point nearest to its nearest front pixel (None without a front, or once dropped
        with :meth:`drop_front_index`)
    """

    dist_um: np.ndarray
    tissue: np.ndarray
    tumor: np.ndarray
    raster_um: float
    front_points: np.ndarray = None
    front_index: np.ndarray = None

    _histogram: tuple = None

    def pixels_below(self, thresholds_um):
        """Tissue pixels with a distance below each threshold (fractional counts).

        Each pixel is spread evenly over [d - raster/2, d + raster/2], so that a band's area
        does not alias with the pixel grid (a band of 25 µm would otherwise hold 12 or 13 pixel
        columns of a straight front). One pass over the pixels builds a histogram at
        raster/16, kept for later calls.

        Parameters
        ----------
        thresholds_um : (T,) float, µm

        Returns
        -------
        (T,) float
        """
        r = self.raster_um
        if self._histogram is None:
            d = self.dist_um[self.tissue]
            d = d[~np.isnan(d)]
            if d.size == 0:
                self._histogram = (0.0, 1.0, np.zeros(1))
            else:
                fine = r / 16.0
                lo = float(np.floor(d.min())) - r
                nb = int(math.ceil((float(d.max()) + r - lo) / fine)) + 1
                self._histogram = (
                    lo,
                    fine,
                    np.bincount(((d - lo) / fine).astype(np.int64), minlength=nb).astype(float),
                )
        lo, fine, h = self._histogram
        centres = lo + (np.arange(len(h)) + 0.5) * fine
        t = np.asarray(thresholds_um, dtype=float)
        weight = np.clip((t[:, None] - centres[None, :]) / r + 0.5, 0.0, 1.0)
        return weight @ h

    def drop_front_index(self):
        """Free the nearest-front-point map (4 bytes per pixel) once cells have their distances."""
        self.front_index = None

    @property
    def has_front(self):
        return self.front_points is not None

    @property
    def pixel_area_mm2(self):
        return self.raster_um**2 / 1e6

    def pixel_of(self, xy_um):
        """(rows, cols) index arrays of the pixels holding the points (clipped to the raster)."""
        xy_um = np.asarray(xy_um, dtype=float).reshape(-1, 2)
        r = np.clip((xy_um[:, 1] // self.raster_um).astype(np.int64), 0, self.tissue.shape[0] - 1)
        c = np.clip((xy_um[:, 0] // self.raster_um).astype(np.int64), 0, self.tissue.shape[1] - 1)
        return r, c

    def region_map(self, margin_um):
        """(rows, cols) int8 region codes (index into :data:`REGIONS`), -1 outside tissue."""
        codes = np.full(self.tissue.shape, -1, dtype=np.int8)
        if not self.has_front:
            codes[self.tissue & self.tumor] = 0
            codes[self.tissue & ~self.tumor] = 3
            return codes
        d = self.dist_um
        with np.errstate(invalid="ignore"):
            codes[self.tissue & (d < -margin_um)] = 0
            codes[self.tissue & (d >= -margin_um) & (d < 0)] = 1
            codes[self.tissue & (d >= 0) & (d <= margin_um)] = 2
            codes[self.tissue & (d > margin_um)] = 3
        return codes


def distance_map(regions, raster_um=2.0, step_um=0.5, chunk_rows=256):
    """Rasterise tissue and tumor and compute every tissue pixel's signed distance to the front.

    The front is drawn into the raster and a Euclidean distance transform finds, for every
    pixel, the nearest front pixel; the distance is then measured exactly from the pixel centre
    to the point of the front (densified every ``step_um``) nearest to that front pixel, so it
    carries no half-pixel offset (error below ``step_um`` for straight and gently curved fronts).

    Parameters
    ----------
    regions : :class:`frontline.front.Regions`
    raster_um : pixel edge, µm
    step_um : densification of the front, µm

    Returns
    -------
    :class:`DistanceMap`
    """
    width, height = regions.extent_um
    shape = (max(1, math.ceil(height / raster_um)), max(1, math.ceil(width / raster_um)))
    tissue = rasterize(regions.tissue, shape, raster_um)
    tumor = rasterize(regions.tumor, shape, raster_um) & tissue
    dist = np.full(shape, np.nan, dtype=np.float32)
    if not regions.has_front:
        return DistanceMap(dist_um=dist, tissue=tissue, tumor=tumor, raster_um=float(raster_um))
    pts = padded_front_points(regions.front, step_um, FRONT_WINDOW)
    r = np.clip((pts[:, 1] // raster_um).astype(np.int64), 0, shape[0] - 1)
    c = np.clip((pts[:, 0] // raster_um).astype(np.int64), 0, shape[1] - 1)
    free = np.ones(shape, dtype=bool)
    free[r, c] = False
    nearest = ndimage.distance_transform_edt(free, return_distances=False, return_indices=True)
    del free
    # for every front pixel, the front point nearest to its centre; then for every pixel, that
    # point of its nearest front pixel (the row-index array is reused for this map)
    fr, fc = np.unique(np.c_[r, c], axis=0).T
    _, k = cKDTree(pts).query(np.c_[(fc + 0.5) * raster_um, (fr + 0.5) * raster_um])
    point_of_front_pixel = np.zeros(shape, dtype=np.int32)
    point_of_front_pixel[fr, fc] = k
    index = nearest[0]
    xc = (np.arange(shape[1]) + 0.5) * raster_um
    for r0 in range(0, shape[0], chunk_rows):
        r1 = min(r0 + chunk_rows, shape[0])
        kk = point_of_front_pixel[nearest[0, r0:r1], nearest[1, r0:r1]]
        index[r0:r1] = kk
        yc = ((np.arange(r0, r1) + 0.5) * raster_um)[:, None]
        d = np.hypot(xc[None, :] - pts[kk, 0], yc - pts[kk, 1]).astype(np.float32)
        d[tumor[r0:r1]] *= -1
        dist[r0:r1] = np.where(tissue[r0:r1], d, np.float32(np.nan))
    del point_of_front_pixel
    return DistanceMap(
        dist_um=dist,
        tissue=tissue,
        tumor=tumor,
        raster_um=float(raster_um),
        front_points=pts,
        front_index=index.astype(np.int32, copy=False),
    )


def padded_front_points(front, step_um, pad):
    """The front densified every ``step_um``, each piece padded with ``pad`` points at both ends
    (wrapped around for closed rings, repeated end points otherwise), so that a window of
    ``pad`` points around any point stays on its own piece.

    Returns
    -------
    (M, 2) float, µm
    """
    blocks = []
    for line in front.geoms:
        p = shapely.get_coordinates(shapely.segmentize(line, step_um))
        ends = np.arange(-pad, len(p) + pad)
        if line.is_closed and len(p) > 2:
            p = p[:-1]
            idx = np.arange(-pad, len(p) + pad) % len(p)
        else:
            idx = np.clip(ends, 0, len(p) - 1)
        blocks.append(p[idx])
    return np.vstack(blocks)


def refine_front_distance(xy_um, points, start, window=None, chunk=20_000):
    """Distance from each point to the nearest of ``points[start - window : start + window + 1]``.

    The distance transform picks a front point near, not at, each point's foot on the front
    (pixel centres sit up to a pixel off the line); searching the densified front around it
    recovers the exact distance (to ``step_um / 2``) for lateral offsets up to ``window``
    points (default :data:`FRONT_WINDOW`; ``points`` as from :func:`padded_front_points`).

    Parameters
    ----------
    xy_um : (N, 2) float, µm
    points : (M, 2) float, the densified front, µm
    start : (N,) int, index of a front point near each point's foot

    Returns
    -------
    (N,) float, µm
    """
    window = FRONT_WINDOW if window is None else window
    out = np.empty(len(xy_um))
    offsets = np.arange(-window, window + 1)
    for i0 in range(0, len(xy_um), chunk):
        i1 = min(i0 + chunk, len(xy_um))
        idx = np.clip(start[i0:i1, None] + offsets[None, :], 0, len(points) - 1)
        d = np.hypot(points[idx, 0] - xy_um[i0:i1, 0, None], points[idx, 1] - xy_um[i0:i1, 1, None])
        out[i0:i1] = d.min(axis=1)
    return out


# --------------------------------------------------------------------------- densities


def band_edges(band_range_um=(-500.0, 500.0), band_width_um=25.0):
    """Edges of the signed-distance bands, µm, (B + 1,) float array."""
    lo, hi = band_range_um
    n = int(round((hi - lo) / band_width_um))
    return lo + band_width_um * np.arange(n + 1)


def _groups(phenotype, immune_lineage):
    """Phenotype -> boolean mask, for every phenotype present plus all_immune and all_cells."""
    phenotype = np.asarray(phenotype).astype(str)
    names = list(pd.unique(phenotype))
    groups = {name: phenotype == name for name in names}
    groups[ALL_IMMUNE] = np.isin(phenotype, list(immune_lineage))
    groups[ALL_CELLS] = np.ones(len(phenotype), dtype=bool)
    return groups


def band_densities(dist_um, phenotype, in_tissue, dmap, edges, immune_lineage=()):
    """Cells per mm² of tissue in signed-distance bands, per phenotype.

    Parameters
    ----------
    dist_um : (N,) float, signed distance of each cell, µm
    phenotype : (N,) str
    in_tissue : (N,) bool
    dmap : :class:`DistanceMap`
    edges : (B + 1,) band edges, µm; band i is [edges[i], edges[i + 1])
    immune_lineage : phenotypes counted in ``all_immune``

    Returns
    -------
    DataFrame: ``phenotype, band_start_um, band_end_um, n_cells, area_mm2, density_per_mm2``
    (density NaN where the band has no tissue). Empty without a front.
    """
    cols = ["phenotype", "band_start_um", "band_end_um", "n_cells", "area_mm2", "density_per_mm2"]
    dist_um = np.asarray(dist_um, dtype=float)
    if np.isnan(dist_um).all():
        return pd.DataFrame(columns=cols)
    area_mm2 = band_areas_mm2(dmap, edges)
    rows = []
    ok = np.asarray(in_tissue, dtype=bool) & ~np.isnan(dist_um)
    for name, mask in _groups(phenotype, immune_lineage).items():
        n, _ = np.histogram(dist_um[ok & mask], bins=edges)
        with np.errstate(invalid="ignore", divide="ignore"):
            dens = np.where(area_mm2 > 0, n / np.where(area_mm2 > 0, area_mm2, 1), np.nan)
        rows.append(
            pd.DataFrame(
                {
                    "phenotype": name,
                    "band_start_um": edges[:-1],
                    "band_end_um": edges[1:],
                    "n_cells": n,
                    "area_mm2": area_mm2,
                    "density_per_mm2": dens,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)[cols]


def band_areas_mm2(dmap, edges):
    """Tissue area of each signed-distance band [edges[i], edges[i + 1]), mm², (B,) float."""
    return np.diff(dmap.pixels_below(edges)) * dmap.pixel_area_mm2


def region_areas_mm2(dmap, margin_um):
    """Tissue area of the four regions, mm², (4,) float in the order of :data:`REGIONS`.

    Without a front: the tumor is ``tumor_core`` and the rest of the tissue ``stroma``.
    """
    total = float(np.count_nonzero(dmap.tissue))
    if not dmap.has_front:
        tumor = float(np.count_nonzero(dmap.tumor & dmap.tissue))
        counts = np.array([tumor, 0.0, 0.0, total - tumor])
    else:
        below = dmap.pixels_below([-margin_um, 0.0, margin_um])
        counts = np.diff(np.r_[0.0, below, total])
    return counts * dmap.pixel_area_mm2


def region_densities(region, phenotype, in_tissue, dmap, margin_um, immune_lineage=()):
    """Cells per mm² of tissue in the four regions, per phenotype.

    Parameters
    ----------
    region : (N,) Categorical of :data:`REGIONS`
    phenotype : (N,) str
    in_tissue : (N,) bool
    dmap : :class:`DistanceMap`
    margin_um : float, µm

    Returns
    -------
    DataFrame: ``phenotype, region, n_cells, area_mm2, density_per_mm2`` (density NaN for a
    region without tissue).
    """
    area_mm2 = region_areas_mm2(dmap, margin_um)
    rcodes = pd.Categorical(region, categories=list(REGIONS)).codes
    ok = np.asarray(in_tissue, dtype=bool) & (rcodes >= 0)
    rows = []
    for name, mask in _groups(phenotype, immune_lineage).items():
        n = np.bincount(rcodes[ok & mask], minlength=4)
        with np.errstate(invalid="ignore", divide="ignore"):
            dens = np.where(area_mm2 > 0, n / np.where(area_mm2 > 0, area_mm2, 1), np.nan)
        rows.append(
            pd.DataFrame(
                {
                    "phenotype": name,
                    "region": list(REGIONS),
                    "n_cells": n,
                    "area_mm2": area_mm2,
                    "density_per_mm2": dens,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


# --------------------------------------------------------------------------- neighbours


def nearest_distance(xy_from, xy_to, exclude_self=False, workers=1, bound_um=200.0):
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


def _not_computable(name, n, min_cells):
    return f"only {n} {name} cells (< min_cells {min_cells})"


def nearest_tumor_table(phenotype, dist_nearest_tumor_um, types, n_tumor, min_cells):
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
            reason = _not_computable("tumor", n_tumor, min_cells)
        elif len(d) < min_cells:
            reason = _not_computable(name, len(d), min_cells)
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
    xy_um, phenotype, query_types, neighbour_types, radii_um, min_cells, trees=None
):
    """Mean number of cells of each type within each radius of the cells of each query type.

    Parameters
    ----------
    xy_um : (N, 2) float, µm
    phenotype : (N,) str
    query_types, neighbour_types : lists of phenotypes
    radii_um : increasing radii, µm
    min_cells : query types with fewer cells are not computable

    Returns
    -------
    DataFrame: ``phenotype, neighbour_phenotype, radius_um, mean_count, n_cells, computable,
    reason``. A cell does not count itself. ``trees`` (dict phenotype -> cKDTree of its
    cells, filled as needed) lets several statistics share their KD-trees.
    """
    xy_um = np.asarray(xy_um, dtype=float).reshape(-1, 2)
    phenotype = np.asarray(phenotype).astype(str)
    radii = np.sort(np.asarray(radii_um, dtype=float))
    trees = {} if trees is None else trees

    def tree(name):
        if name not in trees:
            trees[name] = cKDTree(xy_um[phenotype == name])
        return trees[name]

    rows = []
    for a in query_types:
        n_a = int((phenotype == a).sum())
        reason = "" if n_a >= min_cells else _not_computable(a, n_a, min_cells)
        for b in neighbour_types:
            n_b = int((phenotype == b).sum())
            if reason:
                means = np.full(len(radii), np.nan)
            elif n_b == 0:
                means = np.zeros(len(radii))
            else:
                pairs = np.asarray(tree(a).count_neighbors(tree(b), radii), dtype=float)
                if a == b:
                    pairs -= n_a
                means = pairs / n_a
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


def knn_composition(xy_um, codes, n_types, k=10, workers=1):
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
    _, idx = cKDTree(xy_um).query(xy_um, k=k + 1, workers=workers)
    neigh = np.asarray(codes, dtype=np.int64)[idx[:, 1:]]
    flat = (np.arange(n, dtype=np.int64)[:, None] * n_types + neigh).ravel()
    comp = np.bincount(flat, minlength=n * n_types).reshape(n, n_types).astype(np.float32)
    return comp / k


def cellular_neighbourhoods(
    composition, n_clusters, seed=0, order_by=None, fit_cells=KMEANS_FIT_CELLS
):
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


def cross_l_function(xy_a, edge_a, xy_b, area_um2, radii_um):
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


def l_function_envelope(xy_a, edge_a, xy_b, edge_b, area_um2, radii_um, permutations, seed=0):
    """L(r) and its random-labelling envelope (min, max over relabellings of a ∪ b).

    Returns
    -------
    observed, low, high : (R,) float arrays, µm (low/high NaN when ``permutations`` is 0)
    """
    observed = cross_l_function(xy_a, edge_a, xy_b, area_um2, radii_um)
    radii = np.asarray(radii_um, dtype=float)
    if permutations <= 0:
        nan = np.full(len(radii), np.nan)
        return observed, nan, nan
    xy = np.vstack([xy_a, xy_b])
    edge = np.concatenate([edge_a, edge_b])
    n_a = len(xy_a)
    rng = np.random.default_rng(seed)
    sims = np.empty((permutations, len(radii)))
    for p in range(permutations):
        perm = rng.permutation(len(xy))
        a, b = perm[:n_a], perm[n_a:]
        sims[p] = cross_l_function(xy[a], edge[a], xy[b], area_um2, radii)
    return observed, np.nanmin(sims, axis=0), np.nanmax(sims, axis=0)


def mixing_scores(
    xy_um,
    phenotype,
    immune_types,
    immune_lineage,
    tumor_phenotype,
    radius_um,
    min_cells,
    trees=None,
):
    """Mixing score (Keren et al. 2018) overall and per immune type.

    overall = immune-tumor pairs / immune-immune pairs within ``radius_um`` (unordered pairs);
    per type = type-tumor pairs / type-immune pairs (the type's own cell excluded).

    Returns
    -------
    DataFrame: ``phenotype (all_immune or a type), n_cells, tumor_pairs, immune_pairs,
    mixing_score, computable, reason``.
    """
    xy_um = np.asarray(xy_um, dtype=float).reshape(-1, 2)
    phenotype = np.asarray(phenotype).astype(str)
    immune = np.isin(phenotype, list(immune_lineage))
    tumor = phenotype == tumor_phenotype
    n_tumor = int(tumor.sum())
    trees = {} if trees is None else trees
    tree_t = trees[tumor_phenotype] if tumor_phenotype in trees else cKDTree(xy_um[tumor])
    tree_i = cKDTree(xy_um[immune])
    rows = []
    for name in [ALL_IMMUNE, *immune_types]:
        sel = immune if name == ALL_IMMUNE else phenotype == name
        n = int(sel.sum())
        reason = ""
        if n < min_cells:
            reason = _not_computable(name, n, min_cells)
        elif n_tumor < min_cells:
            reason = _not_computable("tumor", n_tumor, min_cells)
        it = ii = np.nan
        score = np.nan
        if not reason:
            tree_a = (
                tree_i
                if name == ALL_IMMUNE
                else (trees[name] if name in trees else cKDTree(xy_um[sel]))
            )
            it = float(tree_a.count_neighbors(tree_t, radius_um))
            ii = float(tree_a.count_neighbors(tree_i, radius_um)) - n
            if name == ALL_IMMUNE:
                ii /= 2.0
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


def _falling(n, k):
    out = 1.0
    for i in range(k):
        out *= n - i
    return out


def enrichment_moments(pair_counts, type_counts, degree_sum, degree_pairs):
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


def radius_graph_counts(xy_um, codes, n_types, radius_um, workers=1, trees=None):
    """Type-pair counts and degree moments of the radius graph (no self-loops).

    The pair counts and S0 come from dual-tree pair counts; Q needs every cell's degree (a
    neighbour search per cell). The variance is a small difference of large terms, so Q must
    be exact (estimating it from half of the cells moves z-scores by a few %).

    Returns
    -------
    pair_counts : (T, T) float, ordered pairs (i of type a, j of type b) within ``radius_um``
    degree_sum, degree_pairs : S0 = sum d_i, Q = sum d_i (d_i - 1)
    """
    xy_um = np.asarray(xy_um, dtype=float).reshape(-1, 2)
    codes = np.asarray(codes)
    trees = trees if trees is not None else [cKDTree(xy_um[codes == a]) for a in range(n_types)]
    counts = np.zeros((n_types, n_types))
    for a in range(n_types):
        for b in range(a, n_types):
            if trees[a].n == 0 or trees[b].n == 0:
                continue
            c = float(trees[a].count_neighbors(trees[b], radius_um))
            if a == b:
                c -= trees[a].n
            counts[a, b] = counts[b, a] = c
    probe = xy_um[spatial_order(xy_um)]  # nearby queries in a row: 3x faster on shuffled tables
    degree = (
        cKDTree(xy_um)
        .query_ball_point(probe, radius_um, return_length=True, workers=workers)
        .astype(float)
        - 1
    )
    return counts, float(counts.sum()), float((degree * (degree - 1)).sum())


def nhood_enrichment(xy_um, phenotype, radius_um, min_cells, workers=1, trees=None):
    """Neighbourhood enrichment z-scores, closed form (no permutations).

    Parameters
    ----------
    xy_um : (N, 2) float, µm
    phenotype : (N,) str
    radius_um : float, radius graph, µm
    min_cells : types with fewer cells are marked not computable (z NaN)
    trees : optional dict phenotype -> cKDTree of its cells (shared with other statistics)

    Returns
    -------
    DataFrame: ``phenotype, neighbour_phenotype, observed_pairs, expected_pairs, sd_pairs,
    zscore, computable, reason``.
    """
    phenotype = np.asarray(phenotype).astype(str)
    names, codes = np.unique(phenotype, return_inverse=True)
    by_code = None
    if trees is not None:
        by_code = [
            trees[n] if n in trees else cKDTree(xy_um[codes == a]) for a, n in enumerate(names)
        ]
    counts, s0, q = radius_graph_counts(xy_um, codes, len(names), radius_um, workers, by_code)
    n_a = np.bincount(codes, minlength=len(names))
    expected, sd = enrichment_moments(counts, n_a, s0, q)
    rows = []
    for a, na in enumerate(names):
        for b, nb in enumerate(names):
            reason = ""
            if n_a[a] < min_cells:
                reason = _not_computable(na, n_a[a], min_cells)
            elif n_a[b] < min_cells:
                reason = _not_computable(nb, n_a[b], min_cells)
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


# --------------------------------------------------------------------------- call and summary


def phenotype_call(region_table, has_front, call):
    """Immune phenotype of the sample: inflamed, excluded, desert or no_front.

    Parameters
    ----------
    region_table : output of :func:`region_densities`
    has_front : bool
    call : dict with ``phenotype``, ``inflamed_min_per_mm2``, ``excluded_min_per_mm2``

    Returns
    -------
    (call, reason) : str, str
    """
    if not has_front:
        return "no_front", "no invasive front (no tumor region, or tumor everywhere)"
    name = call["phenotype"]
    tab = region_table[region_table["phenotype"] == name].set_index("region")
    if tab.empty:
        return "desert", f"no {name} cells"
    inner = "tumor_core" if tab.loc["tumor_core", "area_mm2"] >= 0.01 else "inner_margin"
    d_in = float(np.nan_to_num(tab.loc[inner, "density_per_mm2"]))
    d_out = float(np.nan_to_num(tab.loc["outer_margin", "density_per_mm2"]))
    if d_in >= call["inflamed_min_per_mm2"]:
        return "inflamed", (
            f"{name} density in {inner} {d_in:.0f}/mm² >= {call['inflamed_min_per_mm2']:g}"
        )
    if d_out >= call["excluded_min_per_mm2"]:
        return "excluded", (
            f"{name} density in {inner} {d_in:.0f}/mm² < "
            f"{call['inflamed_min_per_mm2']:g}, in outer_margin {d_out:.0f}/mm² >= "
            f"{call['excluded_min_per_mm2']:g}"
        )
    return "desert", (
        f"{name} density in {inner} {d_in:.0f}/mm² < {call['inflamed_min_per_mm2']:g}, "
        f"in outer_margin {d_out:.0f}/mm² < {call['excluded_min_per_mm2']:g}"
    )


def _num(value):
    value = float(value)
    return None if not np.isfinite(value) else value


# --------------------------------------------------------------------------- the whole step


@dataclass
class SpatialResult:
    """Everything the spatial step writes: per-cell table, tidy tables, summary dict."""

    cells: pd.DataFrame
    densities: pd.DataFrame
    region_densities: pd.DataFrame
    nearest_tumor: pd.DataFrame
    neighbours: pd.DataFrame
    neighbourhoods: pd.DataFrame
    lfunction: pd.DataFrame
    mixing: pd.DataFrame
    enrichment: pd.DataFrame
    summary: dict
    distance_map: DistanceMap = None
    timings_s: dict = field(default_factory=dict)  # wall-clock seconds per stage
    cpu_s: dict = field(default_factory=dict)  # CPU seconds (all threads) per stage


def spatial_order(xy_um, strip_um=SPATIAL_ORDER_UM):
    """Row order of points by strips of ``strip_um`` (top to bottom), then x: neighbours in
    space become neighbours in memory.

    Returns
    -------
    (N,) int array, a permutation
    """
    xy_um = np.asarray(xy_um, dtype=float).reshape(-1, 2)
    return np.lexsort((xy_um[:, 0], np.floor(xy_um[:, 1] / strip_um)))


def analyze(cells, regions, params, immune_lineage=None, sample=None):
    """Run the spatial step on one sample.

    Parameters
    ----------
    cells : DataFrame with ``cell_id, x_um, y_um, phenotype`` (any further columns are kept)
    regions : :class:`frontline.front.Regions`
    params : :class:`Params`
    immune_lineage : phenotypes counted as immune (default: ``params.immune_types``)
    sample : name, for the summary

    Returns
    -------
    :class:`SpatialResult`. ``params.permutations`` = 0 skips the L-function envelope.
    """
    import time

    timings, cpu = {}, {}
    clock, cpu_clock = time.perf_counter(), time.process_time()

    def tick(name):
        nonlocal clock, cpu_clock
        now, cpu_now = time.perf_counter(), time.process_time()
        timings[name], cpu[name] = now - clock, cpu_now - cpu_clock
        clock, cpu_clock = now, cpu_now

    p = params
    lineage = tuple(immune_lineage) if immune_lineage is not None else tuple(p.immune_types)
    row_order = spatial_order(cells[["x_um", "y_um"]].to_numpy(dtype=float))
    out = cells.iloc[row_order].reset_index(drop=True)
    xy = out[["x_um", "y_um"]].to_numpy(dtype=float)
    phen = out["phenotype"].astype(str).to_numpy()
    is_tumor = phen == p.tumor_phenotype

    if not regions.has_front:
        log.warning(
            "%sno invasive front (%s): distances are NaN, regions are tumor_core and "
            "stroma, the immune phenotype call is no_front",
            f"sample {sample}: " if sample else "",
            "no tumor region" if regions.tumor.is_empty else "the tumor fills the tissue",
        )
    dmap = distance_map(regions, p.raster_um, p.front_step_um)
    tick("distance_map")
    in_tumor = inside(xy, regions.tumor, dmap.tumor, dmap.raster_um)
    dist = signed_distance(xy, regions, p.front_step_um, p.workers, dmap=dmap, in_tumor=in_tumor)
    dmap.drop_front_index()
    r, c = dmap.pixel_of(xy)
    in_tissue = dmap.tissue[r, c]
    out["dist_front_um"] = dist
    out["region"] = assign_regions(dist, in_tumor, p.margin_um)
    out["in_tumor"] = in_tumor
    out["in_tissue"] = in_tissue
    tick("cell_distances")

    near_tumor = np.full(len(out), np.inf)
    if is_tumor.sum() >= 2:
        near_tumor[~is_tumor] = nearest_distance(xy[~is_tumor], xy[is_tumor], workers=p.workers)
        near_tumor[is_tumor] = nearest_distance(
            xy[is_tumor], xy[is_tumor], exclude_self=True, workers=p.workers
        )
    out["dist_nearest_tumor_um"] = np.where(np.isfinite(near_tumor), near_tumor, np.nan)
    tick("nearest_tumor")

    edges = band_edges(p.band_range_um, p.band_width_um)
    densities = band_densities(dist, phen, in_tissue, dmap, edges, lineage)
    regions_tab = region_densities(out["region"], phen, in_tissue, dmap, p.margin_um, lineage)
    tick("densities")

    n_tumor = int(is_tumor.sum())
    nearest = nearest_tumor_table(
        phen, out["dist_nearest_tumor_um"].to_numpy(), p.immune_types, n_tumor, p.min_cells
    )
    present = [t for t in pd.unique(phen)]
    neighbour_types = [p.tumor_phenotype] + [t for t in present if t != p.tumor_phenotype]
    trees = {}  # KD-tree of each phenotype's cells, shared by the statistics below
    neighbours = neighbour_counts(
        xy, phen, p.immune_types, neighbour_types, p.radii_um, p.min_cells, trees
    )
    tick("neighbour_counts")

    # neighbourhoods
    names, codes = np.unique(phen, return_inverse=True)
    hood = np.zeros(len(out), dtype=int)
    hood_rows = []
    if len(out) >= max(p.n_neighbourhoods, p.neighbourhood_k + 1, p.min_cells):
        comp = knn_composition(xy, codes, len(names), p.neighbourhood_k, p.workers)
        tick("knn_composition")
        order = (
            int(np.where(names == p.tumor_phenotype)[0][0]) if p.tumor_phenotype in names else None
        )
        hood, centroids = cellular_neighbourhoods(comp, p.n_neighbourhoods, p.seed, order)
        counts = np.bincount(hood, minlength=p.n_neighbourhoods + 1)[1:]
        for j in range(p.n_neighbourhoods):
            for t, name in enumerate(names):
                hood_rows.append(
                    {
                        "neighbourhood": j + 1,
                        "n_cells": int(counts[j]),
                        "phenotype": name,
                        "mean_fraction": float(centroids[j, t]),
                    }
                )
        tick("kmeans")
    out["neighbourhood"] = hood
    neighbourhoods = pd.DataFrame(
        hood_rows, columns=["neighbourhood", "n_cells", "phenotype", "mean_fraction"]
    )

    # L-function: cells in tissue only, window = tissue
    tissue_area = float(dmap.tissue.sum()) * p.raster_um**2
    radii = np.sort(np.asarray(p.lfunction_radii_um, dtype=float))
    # only "at least r_max from the outline" matters: a bounded search (inf = farther)
    edge_dist = distance_to_lines(
        xy,
        regions.tissue.boundary,
        p.front_step_um,
        p.workers,
        upper_bound_um=float(radii[-1]) + 1.0,
    )
    edge_dist[~in_tissue] = -1.0  # outside the window: never a valid centre
    sel_b = is_tumor & in_tissue
    l_rows = []
    for name in p.immune_types:
        sel_a = (phen == name) & in_tissue
        n_a, n_b = int(sel_a.sum()), int(sel_b.sum())
        reason = ""
        if n_a < p.min_cells:
            reason = _not_computable(name, n_a, p.min_cells)
        elif n_b < p.min_cells:
            reason = _not_computable(p.tumor_phenotype, n_b, p.min_cells)
        if reason:
            obs = lo = hi = np.full(len(radii), np.nan)
        else:
            obs = cross_l_function(xy[sel_a], edge_dist[sel_a], xy[sel_b], tissue_area, radii)
            lo = hi = np.full(len(radii), np.nan)
        for k, rad in enumerate(radii):
            l_rows.append(
                {
                    "phenotype": name,
                    "radius_um": rad,
                    "L_um": obs[k],
                    "L_minus_r_um": obs[k] - rad,
                    "envelope_low_um": lo[k],
                    "envelope_high_um": hi[k],
                    "n_cells": n_a,
                    "n_tumor": n_b,
                    "permutations": 0,
                    "computable": not reason,
                    "reason": reason,
                }
            )
    lfunction = pd.DataFrame(l_rows)
    tick("lfunction")
    if p.permutations > 0:
        for i, name in enumerate(p.immune_types):
            rows = (lfunction["phenotype"] == name) & lfunction["computable"]
            if not rows.any():
                continue
            sel_a = (phen == name) & in_tissue
            _, lo, hi = l_function_envelope(
                xy[sel_a],
                edge_dist[sel_a],
                xy[sel_b],
                edge_dist[sel_b],
                tissue_area,
                radii,
                p.permutations,
                p.seed + i,
            )
            lfunction.loc[rows, "envelope_low_um"] = lo
            lfunction.loc[rows, "envelope_high_um"] = hi
            lfunction.loc[rows, "permutations"] = p.permutations
        tick("lfunction_envelope")

    mixing = mixing_scores(
        xy, phen, p.immune_types, lineage, p.tumor_phenotype, p.mixing_radius_um, p.min_cells, trees
    )
    tick("mixing")
    enrichment = nhood_enrichment(xy, phen, p.enrichment_radius_um, p.min_cells, p.workers, trees)
    tick("enrichment")

    summary = summarize(out, regions, regions_tab, nearest, mixing, p, lineage, sample)
    out = out.iloc[np.argsort(row_order)].reset_index(drop=True)  # the input's row order
    tick("summary")
    return SpatialResult(
        cells=out,
        densities=densities,
        region_densities=regions_tab,
        nearest_tumor=nearest,
        neighbours=neighbours,
        neighbourhoods=neighbourhoods,
        lfunction=lfunction,
        mixing=mixing,
        enrichment=enrichment,
        summary=summary,
        distance_map=dmap,
        timings_s=timings,
        cpu_s=cpu,
    )


def summarize(cells, regions, region_table, nearest, mixing, params, immune_lineage, sample=None):
    """One flat dict per sample (keys carry units), for ``summary.json`` and the cohort table.

    Keys: ``sample``, ``phenotype_call``, ``phenotype_call_reason``, ``has_front``,
    ``tumor_source``, ``front_length_um``, ``tissue_area_mm2``, ``tumor_area_mm2``,
    ``area_mm2_{region}``, ``n_cells``, ``n_cells_{type}``, ``density_per_mm2_{region}_{type}``,
    ``ratio_intratumoral_stromal_{type}`` (density inside the tumor / outside it, both within
    the tissue), ``fraction_near_front_{type}`` (share of the type's cells in tissue with
    |distance| <= ``near_front_um``), ``median_dist_front_um_{type}``,
    ``median_dist_nearest_tumor_um_{type}``, ``mixing_score``, ``mixing_score_{type}``;
    ``not_computable`` maps each null key to its reason. Types: the immune types,
    ``all_immune`` and the tumor phenotype. NaN is written as None (JSON null).
    """
    p = params
    phen = cells["phenotype"].astype(str).to_numpy()
    dist = cells["dist_front_um"].to_numpy(dtype=float)
    in_tissue = cells["in_tissue"].to_numpy(dtype=bool)
    has_front = regions.has_front
    call, reason = phenotype_call(region_table, has_front, p.call)
    out = {
        "sample": sample,
        "phenotype_call": call,
        "phenotype_call_reason": reason,
        "has_front": bool(has_front),
        "tumor_source": regions.source,
        "front_length_um": float(regions.front.length),
        "tissue_area_mm2": float(regions.tissue.area / 1e6),
        "tumor_area_mm2": float(regions.tumor.area / 1e6),
    }
    areas = region_table.drop_duplicates("region").set_index("region")["area_mm2"]
    for reg in REGIONS:
        out[f"area_mm2_{reg}"] = _num(areas.get(reg, np.nan))
    out["n_cells"] = int(len(cells))
    types = list(p.immune_types) + [ALL_IMMUNE, p.tumor_phenotype]
    masks = {
        t: np.isin(phen, list(immune_lineage)) if t == ALL_IMMUNE else phen == t for t in types
    }
    for t in types:
        out[f"n_cells_{t}"] = int(masks[t].sum())
    counts = region_table.pivot(index="phenotype", columns="region", values="n_cells")
    for t in types:
        for reg in REGIONS:
            n = counts.at[t, reg] if t in counts.index else 0
            out[f"density_per_mm2_{reg}_{t}"] = (
                _num(n / areas[reg]) if areas.get(reg, 0) > 0 else None
            )
    skipped = {}

    def put(key, value, why):
        out[key] = None if why else _num(value)
        if why or out[key] is None:
            skipped[key] = why or "undefined (division by zero)"

    for t in types:
        n = int(masks[t].sum())
        few = _not_computable(t, n, p.min_cells) if n < p.min_cells else ""
        why = few or ("" if has_front else "no invasive front")
        n_in = sum(counts.at[t, r] for r in REGIONS[:2]) if t in counts.index else 0
        n_out = sum(counts.at[t, r] for r in REGIONS[2:]) if t in counts.index else 0
        a_in, a_out = areas[list(REGIONS[:2])].sum(), areas[list(REGIONS[2:])].sum()
        ratio = (
            (n_in / a_in) / (n_out / a_out) if (a_in > 0 and a_out > 0 and n_out > 0) else np.nan
        )
        put(
            f"ratio_intratumoral_stromal_{t}",
            ratio,
            why or ("" if n_out > 0 else f"no {t} cells outside the tumor"),
        )
        d = dist[masks[t] & in_tissue & ~np.isnan(dist)]
        near = float(np.mean(np.abs(d) <= p.near_front_um)) if len(d) else np.nan
        put(f"fraction_near_front_{t}", near, why)
        put(f"median_dist_front_um_{t}", np.median(d) if len(d) else np.nan, why)
    for _, row in nearest.iterrows():
        put(f"median_dist_nearest_tumor_um_{row['phenotype']}", row["median_um"], row["reason"])
    for _, row in mixing.iterrows():
        key = (
            "mixing_score" if row["phenotype"] == ALL_IMMUNE else f"mixing_score_{row['phenotype']}"
        )
        put(key, row["mixing_score"], row["reason"])
    out["not_computable"] = skipped
    return out


def immune_lineage(phenotypes, root="immune", extra=()):
    """The phenotypes that descend from ``root`` (and ``root`` itself) in the config's tree.

    Parameters
    ----------
    phenotypes : dict name -> {parent: ...} (config ``phenotyping.phenotypes``)
    root : the immune root phenotype
    extra : further names to include (e.g. the immune types analysed)

    Returns
    -------
    tuple of names
    """
    names = set(extra)
    for name in phenotypes or {}:
        seen, node = set(), name
        while node is not None and node not in seen:
            if node == root:
                names.add(name)
                break
            seen.add(node)
            node = (phenotypes.get(node) or {}).get("parent")
    return tuple(sorted(names))
