"""Tumor region, tissue region and invasive front, in µm.

Detected from cells (default)
-----------------------------
Tissue, from all nuclei: the morphological closing of the nuclei with a disc of
``tissue_closing_um`` (50 µm; empty space wider than 100 µm is not tissue), computed on a
raster of 2 × ``raster_um`` (4 µm) with two Euclidean distance transforms, its outline smoothed
(``outline_smoothing_um``, 6 µm) and traced with marching squares
(:func:`skimage.measure.find_contours`, sub-pixel), grown by 0.4 × the mean cell spacing
beyond the outermost nuclei (see the tumor), clipped to the image and extended to the image
border where it stops within ``edge_tolerance_um`` of it; parts smaller than
``tissue_min_region_area_um2`` (10,000 µm²) are dropped and holes smaller than
``tissue_min_hole_area_um2`` (40,000 µm²) filled.

Tumor, from the cells of phenotype ``tumor_phenotype``, in two passes:

1. coarse region (robust against scattered misclassified cells): tumor cells are counted on a
   grid of ``grid_um`` (10 µm), smoothed with a Gaussian of ``smoothing_um`` (20 µm) and
   divided by the equally smoothed tissue mask (normalised convolution: no fall-off at the
   tissue edge; cells per mm²); the region is where this density reaches ``threshold`` (0.3) ×
   the sample's reference tumor-cell density (the median where tumor cells are the majority of
   the cells), traced with marching squares;
2. outline: the morphological closing of the tumor cells with a disc of ``closing_um`` (40 µm),
   computed on a ``raster_um`` (2 µm) raster with two Euclidean distance transforms, smoothed
   with a Gaussian of ``outline_smoothing_um`` (6 µm, it rounds off the scallops the rolling
   ball leaves between the outermost cells), traced with marching squares, grown by
   ``edge_offset_um``. A ball rolled around the tumor cells touches the outermost ones; the true
   edge lies on average a little beyond them: the default (null) is 0.4 × the mean spacing of
   tumor cells, 1 / sqrt(reference density), i.e. 8 µm at 2,500 cells/mm². Gaps narrower than
   2 × ``closing_um`` between tumor cells are tumor (the closing of the region).
3. tumor = outline ∩ (coarse region grown by ``smoothing_um``) ∩ tissue, extended to the
   tissue outline where it stops within ``edge_tolerance_um`` of it; parts smaller than
   ``min_region_area_um2`` (1,000 µm², about three tumor cells) are dropped and holes smaller
   than ``min_hole_area_um2`` (2,500 µm²) filled; parts of the tissue outside the tumor that
   hold fewer than three non-tumor cells (a hole in the tumor, a notch at the tissue edge) are
   added to it: a lumen or a gap in the cells is not stroma.

A smoothed-density iso-line alone is noisy: at 2,500 tumor cells/mm² its position scatters by
about 1 / sqrt(2 × density) = 14 µm whatever the smoothing; the outline of the closing follows
the outermost cells and, on simulated tissue, gives signed distances within 4.2-4.8 µm (median
absolute error, cells within 300 µm of the front) of the truth (bench/README.md).

The invasive front is the tumor boundary inside the tissue: the parts of the tumor outline that
run within ``edge_tolerance_um`` of the tissue outline (which includes the image border) are
not front, because there the tumor is cut by the slide or the field of view, not bordered by
stroma. The front is a (Multi)LineString; it is empty when there is no tumor or no stroma
(tumor everywhere) and the spatial step then reports ``no_front``.

From an annotation
------------------
A GeoJSON from QuPath (a FeatureCollection, a list of features, one feature or one geometry) of
Polygon/MultiPolygon features. When any feature carries a classification, the features
classified ``Tumor``/``Tumour`` (any case) are used, otherwise all polygons. Coordinates are
pixels (QuPath's export) unless the sample sheet says ``annotation_units = um``. The annotation
replaces the detected tumor; the tissue is still detected from the nuclei.

Files (written by the ``front`` rule)
-------------------------------------
- ``tumor.geojson``: for QuPath (File > Import objects): PIXEL coordinates, origin at the image's
  top-left corner (µm / pixel size). Annotations classified ``Tissue``, ``Tumor`` (one per
  polygon) and ``Invasive front`` (one polyline per front piece).
- ``tumor_um.geojson``: the same features in µm, which the spatial step and GIS tools read.

Both carry a top-level ``frontline`` member with ``units``, ``pixel_size_um``, the image
extent in µm, the source of the tumor region (``cells`` or ``annotation``), areas and the front
length.
"""

import json
import logging
import math
from dataclasses import dataclass

import numpy as np
import shapely
from scipy import ndimage
from shapely.geometry import (
    GeometryCollection,
    LineString,
    MultiLineString,
    MultiPolygon,
    Polygon,
    box,
    mapping,
    shape,
)
from skimage import measure

from .colours import FRONT_CLASS, REGION_COLOURS, TISSUE_CLASS, TUMOR_CLASS
from .errors import FrontlineInputError

log = logging.getLogger(__name__)

_TUMOR_NAMES = {"tumor", "tumour"}
EDGE_OFFSET_SPACING = 0.4  # edge beyond the outermost cells, in mean cell spacings


@dataclass(frozen=True)
class Regions:
    """The geometry of one sample, µm, origin at the image's top-left corner.

    tumor : MultiPolygon (possibly empty)
    tissue : MultiPolygon
    front : MultiLineString (empty when there is no front)
    extent_um : (width_um, height_um) of the image
    source : ``"cells"`` or ``"annotation"`` (where the tumor region came from)
    """

    tumor: MultiPolygon
    tissue: MultiPolygon
    front: MultiLineString
    extent_um: tuple
    source: str = "cells"

    @property
    def has_front(self):
        return not self.front.is_empty and self.front.length > 0


# --------------------------------------------------------------------------- density fields


def grid_shape(extent_um, grid_um):
    """(rows, cols) of a grid of ``grid_um`` cells covering ``extent_um = (width, height)``."""
    width, height = extent_um
    return max(1, math.ceil(height / grid_um)), max(1, math.ceil(width / grid_um))


def count_grid(xy_um, extent_um, grid_um):
    """Cells per grid cell.

    Parameters
    ----------
    xy_um : (N, 2) float array, µm (x, y)
    extent_um : (width_um, height_um)
    grid_um : float, grid cell edge in µm

    Returns
    -------
    (rows, cols) float array of counts; cell (r, c) covers
    x in [c * grid_um, (c + 1) * grid_um), y likewise with r.
    """
    rows, cols = grid_shape(extent_um, grid_um)
    xy = np.asarray(xy_um, dtype=float).reshape(-1, 2)
    c = np.clip((xy[:, 0] // grid_um).astype(np.int64), 0, cols - 1)
    r = np.clip((xy[:, 1] // grid_um).astype(np.int64), 0, rows - 1)
    return np.bincount(r * cols + c, minlength=rows * cols).reshape(rows, cols).astype(float)


def window_grid(extent_um, grid_um):
    """Fraction of each grid cell that lies inside the image, (rows, cols) float in [0, 1]."""
    rows, cols = grid_shape(extent_um, grid_um)
    width, height = extent_um
    fx = np.clip(width / grid_um - np.arange(cols), 0, 1)
    fy = np.clip(height / grid_um - np.arange(rows), 0, 1)
    return fy[:, None] * fx[None, :]


def smoothed_density(counts, window, grid_um, smoothing_um):
    """Gaussian-smoothed density by normalised convolution, cells per mm².

    Parameters
    ----------
    counts : (rows, cols) cells per grid cell
    window : (rows, cols) fraction of each grid cell that is observed (image, tissue)
    grid_um, smoothing_um : µm; ``smoothing_um`` is the Gaussian's standard deviation

    Returns
    -------
    (rows, cols) float, cells per mm² of observed area; 0 where (almost) nothing is observed.
    """
    sigma = smoothing_um / grid_um
    num = ndimage.gaussian_filter(counts, sigma, mode="constant", cval=0.0)
    den = ndimage.gaussian_filter(window, sigma, mode="constant", cval=0.0)
    out = np.zeros_like(num)
    ok = den > 0.05
    out[ok] = num[ok] / den[ok] / (grid_um * grid_um) * 1e6
    return out


def rasterize(geom, shape, cell_um):
    """Boolean mask of the grid cells whose centres lie in ``geom`` (even-odd over its rings).

    A vectorised scanline fill: every ring edge is crossed with the rows of cell centres it
    spans, and a running parity along each row marks the cells inside. Time grows with the
    outline length and the raster size, not with their product.

    Parameters
    ----------
    geom : Polygon or MultiPolygon, µm
    shape : (rows, cols)
    cell_um : float, grid cell edge in µm; cell (r, c) has its centre at
        ((c + .5), (r + .5)) * cell_um

    Returns
    -------
    (rows, cols) bool array
    """
    rows, cols = shape
    rings = [
        np.asarray(ring.coords) / cell_um - 0.5
        for poly in _polygons(geom)
        for ring in [poly.exterior, *poly.interiors]
    ]
    if not rings:
        return np.zeros(shape, dtype=bool)
    starts = np.concatenate([r[:-1] for r in rings])
    ends = np.concatenate([r[1:] for r in rings])
    y0, y1 = starts[:, 1], ends[:, 1]
    lo, hi = np.minimum(y0, y1), np.maximum(y0, y1)
    # rows r whose centre line y = r satisfies lo <= r < hi (half-open: vertices count once)
    first = np.clip(np.ceil(lo), 0, rows).astype(np.int64)
    last = np.clip(np.ceil(hi), 0, rows).astype(np.int64)
    n = last - first
    keep = n > 0
    if not keep.any():
        return np.zeros(shape, dtype=bool)
    edge = np.repeat(np.flatnonzero(keep), n[keep])
    offset = np.arange(len(edge)) - np.repeat(np.cumsum(n[keep]) - n[keep], n[keep])
    row = first[edge] + offset
    t = (row - y0[edge]) / (y1[edge] - y0[edge])
    x = starts[edge, 0] + t * (ends[edge, 0] - starts[edge, 0])
    col = np.clip(np.floor(x).astype(np.int64) + 1, 0, cols)  # first centre right of the crossing
    toggle = np.zeros((rows, cols + 1), dtype=np.uint8)
    np.add.at(toggle, (row, col), 1)
    toggle &= 1
    return np.bitwise_xor.accumulate(toggle, axis=1)[:, :cols].astype(bool)


# --------------------------------------------------------------------------- polygons


def _polygons(geom):
    """The Polygon parts of any geometry, as a list."""
    if geom is None or geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    if isinstance(geom, (MultiPolygon, GeometryCollection)):
        return [p for g in geom.geoms for p in _polygons(g)]
    return []


def as_multipolygon(geom):
    """Any polygonal geometry as a MultiPolygon (empty when there is none)."""
    return MultiPolygon(_polygons(geom))


def as_multilinestring(geom):
    """The line parts of any geometry as a MultiLineString (empty when there is none)."""
    if geom is None or geom.is_empty:
        return MultiLineString()
    if isinstance(geom, LineString):
        return MultiLineString([geom])
    if isinstance(geom, MultiLineString):
        return geom
    if isinstance(geom, GeometryCollection):
        parts = [ls for g in geom.geoms for ls in as_multilinestring(g).geoms]
        return MultiLineString(parts)
    return MultiLineString()


def iso_region(field, level, grid_um):
    """The region where ``field >= level`` as polygons traced between grid nodes, µm.

    Parameters
    ----------
    field : (rows, cols) float; node (r, c) sits at ((c + .5), (r + .5)) * grid_um
    level : float
    grid_um : float

    Returns
    -------
    MultiPolygon (possibly empty). Outside the grid counts as below ``level``, so every
    outline closes.
    """
    padded = np.pad(field, 1, mode="constant", constant_values=min(field.min(), level) - 1.0)
    rings = []
    for contour in measure.find_contours(padded, level):
        if len(contour) < 4:
            continue
        xy = np.column_stack([(contour[:, 1] - 0.5) * grid_um, (contour[:, 0] - 0.5) * grid_um])
        ring = Polygon(xy)
        parts = (
            [ring]
            if ring.is_valid
            else [Polygon(p.exterior) for p in _polygons(shapely.make_valid(ring))]
        )
        rings.extend(p for p in parts if p.area > 0)
    if not rings:
        return MultiPolygon()
    return even_odd(rings)


def even_odd(rings):
    """The region enclosed by non-crossing rings under the even-odd rule (holes, islands in holes).

    Parameters
    ----------
    rings : list of Polygons without holes, whose outlines do not cross (marching-squares
        contours of one level)

    Returns
    -------
    MultiPolygon
    """
    tree = shapely.STRtree(rings)
    # a vertex of ring i lies on ring i and inside exactly the rings that enclose ring i
    probes = shapely.points([r.exterior.coords[0] for r in rings])
    probe_idx, ring_idx = tree.query(probes, predicate="intersects")
    depth = np.bincount(probe_idx, minlength=len(rings)) - 1
    parent = np.full(len(rings), -1)
    for i, j in zip(probe_idx, ring_idx):
        if i != j and depth[j] == depth[i] - 1:
            parent[i] = j
    children = {}
    for i, j in enumerate(parent):
        if j >= 0:
            children.setdefault(j, []).append(i)
    faces = []
    for i, ring in enumerate(rings):
        if depth[i] % 2 == 0:
            holes = [rings[k] for k in children.get(i, [])]
            faces.append(ring.difference(shapely.union_all(holes)) if holes else ring)
    return as_multipolygon(shapely.union_all(faces))


def clean_region(geom, min_region_area_um2, min_hole_area_um2):
    """Drop parts under ``min_region_area_um2``; fill holes under ``min_hole_area_um2``.

    Parameters
    ----------
    geom : Polygon or MultiPolygon, µm
    min_region_area_um2, min_hole_area_um2 : µm²

    Returns
    -------
    MultiPolygon
    """
    kept = []
    for poly in _polygons(geom):
        holes = [h for h in poly.interiors if Polygon(h).area >= min_hole_area_um2]
        poly = Polygon(poly.exterior, holes)
        if poly.area >= min_region_area_um2:
            kept.append(poly)
    if not kept:
        return MultiPolygon()
    return as_multipolygon(shapely.union_all(kept))


# --------------------------------------------------------------------------- detection


def closing_field(xy_um, extent_um, raster_um, closing_um):
    """Depth inside the morphological closing of the points, on a raster.

    The points are dilated by a disc of radius ``closing_um`` and the result's depth (distance
    to its outside) is measured; ``depth >= closing_um`` is the closing (a ball of radius
    ``closing_um`` rolled around the point set), ``depth >= closing_um - offset`` the closing
    grown by ``offset``.

    Parameters
    ----------
    xy_um : (N, 2) float array, µm
    extent_um : (width_um, height_um)
    raster_um, closing_um : µm

    Returns
    -------
    (rows, cols) float array, µm; node (r, c) at ((c + .5), (r + .5)) * raster_um
    """
    shape = grid_shape(extent_um, raster_um)
    free = np.ones(shape, dtype=bool)
    xy = np.asarray(xy_um, dtype=float).reshape(-1, 2)
    r = np.clip((xy[:, 1] // raster_um).astype(np.int64), 0, shape[0] - 1)
    c = np.clip((xy[:, 0] // raster_um).astype(np.int64), 0, shape[1] - 1)
    free[r, c] = False
    # pad so that the dilation may leave the image and the depth is not cut by its border
    pad = int(math.ceil(closing_um / raster_um)) + 2
    free = np.pad(free, pad, constant_values=True)
    dilated = ndimage.distance_transform_edt(free, sampling=raster_um) <= closing_um
    del free
    depth = ndimage.distance_transform_edt(dilated, sampling=raster_um)
    return depth[pad:-pad, pad:-pad]


def spacing_offset_um(density_per_mm2):
    """How far the edge lies beyond the outermost cells: 0.4 × the mean spacing, µm."""
    return EDGE_OFFSET_SPACING / math.sqrt(max(density_per_mm2, 1.0) / 1e6)


def closed_outline(xy_um, extent_um, *, closing_um, offset_um, raster_um=2.0, smoothing_um=6.0):
    """The closing of the points (disc of ``closing_um``) grown by ``offset_um``, µm.

    ``smoothing_um`` (Gaussian standard deviation on the depth field, µm) rounds off the
    scallops the rolling ball leaves between the outermost cells.

    Returns
    -------
    MultiPolygon in µm (may reach a little beyond the image).
    """
    depth = closing_field(xy_um, extent_um, raster_um, closing_um)
    if smoothing_um > 0:
        depth = ndimage.gaussian_filter(depth, smoothing_um / raster_um)
    return iso_region(depth, closing_um - offset_um, raster_um)


def snap_to_frame(region, frame, tolerance_um):
    """Extend ``region`` to the outline of ``frame`` where it stops within ``tolerance_um`` of it.

    The outermost cells of a tumor (or tissue) cut by the image border lie a few µm inside it;
    the region should still reach the border, so that no sliver of "stroma" separates it from
    the border.
    """
    if region.is_empty or frame.is_empty or tolerance_um <= 0:
        return region
    band = frame.boundary.buffer(tolerance_um, quad_segs=4).intersection(frame)
    grown = region.buffer(tolerance_um, quad_segs=4).intersection(band)
    return as_multipolygon(region.union(grown))


def absorb_empty_gaps(tumor, tissue, xy_other_um, min_cells=3):
    """Add to the tumor the parts of the tissue outside it that hold fewer than ``min_cells``
    non-tumor cells.

    Such a part (a hole in the tumor, or a notch between tumor and tissue edge) is a gap in the
    cells (a lumen, a tear, a patch the segmentation missed), not stroma, so it borders no
    invasive front.

    Parameters
    ----------
    tumor, tissue : MultiPolygon, µm
    xy_other_um : (M, 2) float, µm, positions of the non-tumor cells

    Returns
    -------
    MultiPolygon
    """
    if tumor.is_empty:
        return tumor
    gaps = _polygons(tissue.difference(tumor))
    if not gaps:
        return tumor
    xy = np.asarray(xy_other_um, dtype=float).reshape(-1, 2)
    # index the points, query each gap (shapely prepares the query polygon): fast for big gaps
    tree = shapely.STRtree(shapely.points(xy))
    gap_idx, _ = tree.query(gaps, predicate="contains")
    counts = np.bincount(gap_idx, minlength=len(gaps))
    empty = [g for g, n in zip(gaps, counts) if n < min_cells]
    if not empty:
        return tumor
    return as_multipolygon(shapely.union_all([tumor, *empty]))


def tissue_region(
    xy_um,
    extent_um,
    *,
    closing_um=50.0,
    edge_offset_um=None,
    raster_um=2.0,
    outline_smoothing_um=6.0,
    min_region_area_um2=10000.0,
    min_hole_area_um2=40000.0,
    edge_tolerance_um=20.0,
):
    """Tissue from all nuclei: their closing, grown to the edge beyond the outermost cells.

    Parameters
    ----------
    xy_um : (N, 2) float array, cell positions in µm
    extent_um : (width_um, height_um) of the image
    closing_um, raster_um, outline_smoothing_um : µm (see the module docstring)
    edge_offset_um : µm, or None for 0.4 × the mean cell spacing
    min_region_area_um2, min_hole_area_um2 : µm²
    edge_tolerance_um : µm; tissue stopping this close to the image border is extended to it

    Returns
    -------
    MultiPolygon in µm, inside the image (empty when there are no cells).
    """
    image = box(0, 0, *extent_um)
    xy_um = np.asarray(xy_um, dtype=float).reshape(-1, 2)
    if len(xy_um) == 0:
        return MultiPolygon()
    depth = closing_field(xy_um, extent_um, raster_um, closing_um)
    if outline_smoothing_um > 0:
        depth = ndimage.gaussian_filter(depth, outline_smoothing_um / raster_um)
    if edge_offset_um is None:
        hull = iso_region(depth, closing_um, raster_um).intersection(image)
        density = len(xy_um) / max(hull.area, 1.0) * 1e6
        edge_offset_um = spacing_offset_um(density)
    region = iso_region(depth, closing_um - edge_offset_um, raster_um).intersection(image)
    region = snap_to_frame(as_multipolygon(region), image, edge_tolerance_um)
    tissue = clean_region(region, min_region_area_um2, min_hole_area_um2)
    log.info(
        "tissue: edge offset %.1f µm, area %.3f mm² in %d part(s)",
        edge_offset_um,
        tissue.area / 1e6,
        len(tissue.geoms),
    )
    return tissue


def tumor_region(
    xy_um,
    is_tumor,
    tissue,
    extent_um,
    *,
    grid_um=10.0,
    smoothing_um=20.0,
    threshold=0.3,
    closing_um=40.0,
    edge_offset_um=None,
    raster_um=2.0,
    outline_smoothing_um=6.0,
    min_region_area_um2=1000.0,
    min_hole_area_um2=2500.0,
    edge_tolerance_um=20.0,
):
    """Tumor from tumor cells: a density-based region refined by the closing of the cells.

    1. Coarse region: where the smoothed tumor-cell density reaches ``threshold`` × reference
       (the median where tumor cells are the majority). Robust against scattered
       misclassified cells; its outline is noisy (a cell or two per 20 µm decides it).
    2. Outline: the morphological closing (radius ``closing_um``) of the tumor cells, grown by
       ``edge_offset_um`` (auto: 0.4 × the mean spacing of tumor cells at the reference
       density).
    3. Tumor = outline ∩ (coarse region grown by ``smoothing_um``) ∩ tissue, extended to the
       tissue outline where it stops within ``edge_tolerance_um`` of it, cleaned.

    Parameters
    ----------
    xy_um : (N, 2) float array, all cell positions in µm
    is_tumor : (N,) bool, which cells are tumor cells
    tissue : MultiPolygon, µm (from :func:`tissue_region`); the density's window
    extent_um : (width_um, height_um)
    grid_um, smoothing_um, closing_um, raster_um, outline_smoothing_um, edge_tolerance_um : µm
    threshold : fraction of the reference tumor-cell density
    edge_offset_um : µm or None (auto)
    min_region_area_um2, min_hole_area_um2 : µm²

    Returns
    -------
    MultiPolygon in µm inside ``tissue`` (empty when there is no tumor).
    """
    xy_um = np.asarray(xy_um, dtype=float).reshape(-1, 2)
    is_tumor = np.asarray(is_tumor, dtype=bool)
    if not is_tumor.any() or tissue.is_empty:
        return MultiPolygon()
    shape = grid_shape(extent_um, grid_um)
    window = rasterize(tissue, shape, grid_um).astype(float)
    tumor = smoothed_density(
        count_grid(xy_um[is_tumor], extent_um, grid_um), window, grid_um, smoothing_um
    )
    cells = smoothed_density(count_grid(xy_um, extent_um, grid_um), window, grid_um, smoothing_um)
    majority = (window > 0) & (tumor > 0.5 * cells) & (cells > 0)
    min_nodes = max(1, int(min_region_area_um2 / grid_um**2))
    if majority.sum() < min_nodes:
        log.info(
            "tumor: tumor cells are nowhere the majority over %.0f µm²; no tumor region",
            min_region_area_um2,
        )
        return MultiPolygon()
    reference = float(np.median(tumor[majority]))
    tumor[window == 0] = 0.0
    coarse = iso_region(tumor, threshold * reference, grid_um)
    if coarse.is_empty:
        return MultiPolygon()
    if edge_offset_um is None:
        edge_offset_um = spacing_offset_um(reference)
    outline = closed_outline(
        xy_um[is_tumor],
        extent_um,
        closing_um=closing_um,
        offset_um=edge_offset_um,
        raster_um=raster_um,
        smoothing_um=outline_smoothing_um,
    )
    region = outline.intersection(coarse.buffer(smoothing_um, quad_segs=8)).intersection(tissue)
    region = snap_to_frame(as_multipolygon(region), tissue, edge_tolerance_um)
    region = clean_region(region, min_region_area_um2, min_hole_area_um2)
    result = absorb_empty_gaps(region, tissue, xy_um[~is_tumor])
    log.info(
        "tumor: reference density %.0f cells/mm², edge offset %.1f µm, area %.3f mm² in %d part(s)",
        reference,
        edge_offset_um,
        result.area / 1e6,
        len(result.geoms),
    )
    return result


def invasive_front(tumor, tissue, edge_tolerance_um=20.0):
    """The tumor boundary inside the tissue, µm.

    Parameters
    ----------
    tumor, tissue : MultiPolygon, µm
    edge_tolerance_um : float; boundary within this distance of the tissue outline (which
        includes the image border) is not front

    Returns
    -------
    MultiLineString (empty when there is no tumor or the tumor fills the tissue).
    """
    if tumor.is_empty or tissue.is_empty:
        return MultiLineString()
    boundary = tumor.boundary
    edge = tissue.boundary.buffer(edge_tolerance_um, quad_segs=4)
    front = shapely.line_merge(as_multilinestring(boundary.difference(edge)))
    parts = [ls for ls in as_multilinestring(front).geoms if ls.length >= edge_tolerance_um / 2]
    return MultiLineString(parts)


def detect_regions(
    xy_um,
    is_tumor,
    extent_um,
    *,
    grid_um=10.0,
    smoothing_um=20.0,
    threshold=0.3,
    closing_um=40.0,
    edge_offset_um=None,
    raster_um=2.0,
    outline_smoothing_um=6.0,
    min_region_area_um2=1000.0,
    min_hole_area_um2=2500.0,
    tissue_closing_um=50.0,
    tissue_min_region_area_um2=10000.0,
    tissue_min_hole_area_um2=40000.0,
    edge_tolerance_um=20.0,
    annotation=None,
):
    """Tissue, tumor and invasive front of one sample, from cells or from an annotation.

    Parameters
    ----------
    xy_um : (N, 2) float array, cell positions in µm
    is_tumor : (N,) bool
    extent_um : (width_um, height_um) of the image
    annotation : MultiPolygon in µm (from :func:`annotation_to_tumor`) or None to detect the
        tumor from the cells
    other parameters : see the module docstring (µm, µm², fractions)

    Returns
    -------
    :class:`Regions`
    """
    extent_um = (float(extent_um[0]), float(extent_um[1]))
    tissue = tissue_region(
        xy_um,
        extent_um,
        closing_um=tissue_closing_um,
        raster_um=2 * raster_um,
        outline_smoothing_um=outline_smoothing_um,
        min_region_area_um2=tissue_min_region_area_um2,
        min_hole_area_um2=tissue_min_hole_area_um2,
        edge_tolerance_um=edge_tolerance_um,
    )
    if annotation is not None:
        tumor = as_multipolygon(annotation.intersection(tissue))
        source = "annotation"
    else:
        tumor = tumor_region(
            xy_um,
            is_tumor,
            tissue,
            extent_um,
            grid_um=grid_um,
            smoothing_um=smoothing_um,
            threshold=threshold,
            closing_um=closing_um,
            edge_offset_um=edge_offset_um,
            raster_um=raster_um,
            outline_smoothing_um=outline_smoothing_um,
            min_region_area_um2=min_region_area_um2,
            min_hole_area_um2=min_hole_area_um2,
            edge_tolerance_um=edge_tolerance_um,
        )
        source = "cells"
    front = invasive_front(tumor, tissue, edge_tolerance_um)
    if front.is_empty:
        log.warning(
            "no invasive front: %s",
            "no tumor region" if tumor.is_empty else "the tumor fills the tissue",
        )
    return Regions(tumor=tumor, tissue=tissue, front=front, extent_um=extent_um, source=source)


def join_phenotypes(cells, phenotypes, *, sample=None, files=(None, None)):
    """Cells with their phenotype: ``cells`` joined with ``phenotypes`` on ``cell_id``.

    Parameters
    ----------
    cells : DataFrame with ``cell_id, x_um, y_um`` (µm) and any measurement columns
    phenotypes : DataFrame with ``cell_id, phenotype`` (and ``{marker}_positive`` columns)
    sample, files : for error messages (cells file, phenotypes file)

    Returns
    -------
    DataFrame, one row per cell of ``cells`` in its order, with the phenotype columns added.

    Raises
    ------
    FrontlineInputError
        a column is missing, or the two tables do not describe the same cells.
    """
    for table, cols, file in (
        (cells, ("cell_id", "x_um", "y_um"), files[0]),
        (phenotypes, ("cell_id", "phenotype"), files[1]),
    ):
        missing = [c for c in cols if c not in table.columns]
        if missing:
            raise FrontlineInputError(
                f"the table lacks the column(s) {missing}",
                sample=sample,
                file=file,
                fix="rerun the step that writes it",
            )
    extra = [c for c in phenotypes.columns if c == "cell_id" or c not in cells.columns]
    joined = cells.merge(phenotypes[extra], on="cell_id", how="left", validate="one_to_one")
    unmatched = int(joined["phenotype"].isna().sum())
    if unmatched or len(phenotypes) != len(cells):
        raise FrontlineInputError(
            f"{unmatched} of {len(cells)} cells have no phenotype and the phenotype table has "
            f"{len(phenotypes)} rows: the two tables describe different cells",
            sample=sample,
            file=files[1],
            fix="rerun the phenotype step on the current cells.parquet",
        )
    joined["phenotype"] = joined["phenotype"].astype(str)
    return joined


# --------------------------------------------------------------------------- annotations


def _features(obj):
    if isinstance(obj, list):
        return [f for item in obj for f in _features(item)]
    if not isinstance(obj, dict):
        return []
    kind = obj.get("type")
    if kind == "FeatureCollection":
        return _features(obj.get("features", []))
    if kind == "Feature":
        return [obj]
    if kind in ("Polygon", "MultiPolygon", "GeometryCollection"):
        return [{"type": "Feature", "geometry": obj, "properties": {}}]
    return []


def _class_name(feature):
    props = feature.get("properties") or {}
    cls = props.get("classification")
    if isinstance(cls, dict):
        return cls.get("name")
    if isinstance(cls, str):
        return cls
    return None


def annotation_to_tumor(obj, *, pixel_size_um, units="px", extent_um=None, sample=None, file=None):
    """The tumor region of an annotation GeoJSON (QuPath export), in µm.

    Parameters
    ----------
    obj : parsed GeoJSON: FeatureCollection, list of features, a feature or a geometry
    pixel_size_um : float, µm per pixel (used when ``units == "px"``)
    units : ``"px"`` (QuPath's export, default; also for ``""``/None) or ``"um"``
    extent_um : (width_um, height_um) of the image, to check the annotation lies on it
    sample, file : for error messages

    Returns
    -------
    MultiPolygon in µm.

    Raises
    ------
    FrontlineInputError
        no polygon, no ``Tumor`` class among classified features, invalid geometry, or an
        annotation outside the image.
    """
    units = (units or "px").strip().lower()
    if units in ("µm", "micron", "microns"):
        units = "um"
    if units not in ("px", "um"):
        raise FrontlineInputError(
            f"annotation_units is '{units}', not 'px' or 'um'",
            sample=sample,
            file=file,
            fix="set annotation_units to px (QuPath's export) or um",
        )
    features = _features(obj)
    polygons = [
        f
        for f in features
        if (f.get("geometry") or {}).get("type")
        in ("Polygon", "MultiPolygon", "GeometryCollection")
    ]
    if not polygons:
        raise FrontlineInputError(
            "the annotation has no Polygon or MultiPolygon feature",
            sample=sample,
            file=file,
            fix="export the tumor annotation(s) from QuPath as GeoJSON "
            "(File > Export objects as GeoJSON)",
        )
    names = [_class_name(f) for f in polygons]
    if any(n is not None for n in names):
        chosen = [
            f
            for f, n in zip(polygons, names)
            if n is not None and n.strip().lower() in _TUMOR_NAMES
        ]
        if not chosen:
            found = sorted({n for n in names if n is not None})
            raise FrontlineInputError(
                f"no annotation is classified 'Tumor' (classes found: {found})",
                sample=sample,
                file=file,
                fix="classify the tumor annotation(s) as 'Tumor' in QuPath, or remove "
                "the classifications so that every polygon counts as tumor",
            )
        polygons = chosen
    scale = pixel_size_um if units == "px" else 1.0
    parts = []
    for i, feature in enumerate(polygons):
        try:
            geom = shape(feature["geometry"])
        except Exception as err:  # shapely raises several types for malformed coordinates
            raise FrontlineInputError(
                f"feature {i} has malformed coordinates ({err})",
                sample=sample,
                file=file,
                fix="export the annotation again from QuPath",
            ) from None
        if not geom.is_valid:
            raise FrontlineInputError(
                f"feature {i} is not a valid polygon ({shapely.is_valid_reason(geom)})",
                sample=sample,
                file=file,
                fix="redraw the annotation so that its outline does not cross itself",
            )
        parts.extend(_polygons(geom))
    if not parts:
        raise FrontlineInputError(
            "the annotation's polygons are empty",
            sample=sample,
            file=file,
            fix="export non-empty tumor annotation(s)",
        )
    region = as_multipolygon(_scale(shapely.union_all(parts), scale))
    if extent_um is not None:
        image = box(0, 0, *extent_um)
        inside = region.intersection(image).area
        if inside <= 0:
            raise FrontlineInputError(
                f"the annotation lies outside the image "
                f"(annotation bounds {_fmt_bounds(region.bounds)} µm, "
                f"image 0-{extent_um[0]:.0f} x 0-{extent_um[1]:.0f} µm, "
                f"annotation read in {units})",
                sample=sample,
                file=file,
                fix="check the sample sheet's annotation_units (px for QuPath exports, um for µm) "
                "and the pixel size, and that the annotation belongs to this image",
            )
        if region.area - inside > 0.01 * region.area:
            raise FrontlineInputError(
                f"{100 * (1 - inside / region.area):.0f}% of the annotation lies outside the image "
                f"(annotation bounds {_fmt_bounds(region.bounds)} µm, image 0-{extent_um[0]:.0f} x "
                f"0-{extent_um[1]:.0f} µm, annotation read in {units})",
                sample=sample,
                file=file,
                fix="check the sample sheet's annotation_units (px for QuPath exports, um for µm) "
                "and the pixel size, and that the annotation belongs to this image",
            )
        region = as_multipolygon(region.intersection(image))
    return region


def _scale(geom, factor):
    return shapely.transform(geom, lambda xy: xy * factor)


def _fmt_bounds(bounds):
    x0, y0, x1, y1 = bounds
    return f"x {x0:.0f}-{x1:.0f}, y {y0:.0f}-{y1:.0f}"


# --------------------------------------------------------------------------- GeoJSON


def _feature(geom, cls, name):
    return {
        "type": "Feature",
        "geometry": mapping(geom),
        "properties": {
            "objectType": "annotation",
            "name": name,
            "isLocked": False,
            "classification": {"name": cls, "color": list(REGION_COLOURS[cls])},
        },
    }


def regions_to_geojson(regions, *, units="px", pixel_size_um=None):
    """The regions as a GeoJSON FeatureCollection (a dict) that QuPath imports.

    Parameters
    ----------
    regions : :class:`Regions` (µm)
    units : ``"px"`` (coordinates / pixel size, for QuPath) or ``"um"``
    pixel_size_um : float, µm per pixel (needed for ``"px"``; recorded in both)

    Returns
    -------
    dict: features ``Tissue`` (one per polygon), ``Tumor`` (one per polygon), ``Invasive
    front`` (one LineString per piece) with QuPath properties (``objectType``,
    ``classification``); a top-level ``frontline`` member records units, pixel size, image
    extent (µm), tumor source, areas (µm²) and front length (µm).
    """
    if units not in ("px", "um"):
        raise ValueError(f"units must be 'px' or 'um', not {units!r}")
    factor = 1.0
    if units == "px":
        if not pixel_size_um:
            raise ValueError("pixel_size_um is needed for pixel coordinates")
        factor = 1.0 / float(pixel_size_um)
    features = []
    for i, poly in enumerate(_polygons(regions.tissue)):
        features.append(_feature(_scale(poly, factor), TISSUE_CLASS, f"Tissue {i + 1}"))
    for i, poly in enumerate(_polygons(regions.tumor)):
        features.append(_feature(_scale(poly, factor), TUMOR_CLASS, f"Tumor {i + 1}"))
    for i, line in enumerate(regions.front.geoms):
        features.append(_feature(_scale(line, factor), FRONT_CLASS, f"Invasive front {i + 1}"))
    return {
        "type": "FeatureCollection",
        "features": features,
        "frontline": {
            "units": units,
            "pixel_size_um": None if pixel_size_um is None else float(pixel_size_um),
            "image_width_um": float(regions.extent_um[0]),
            "image_height_um": float(regions.extent_um[1]),
            "tumor_source": regions.source,
            "tumor_area_um2": float(regions.tumor.area),
            "tissue_area_um2": float(regions.tissue.area),
            "front_length_um": float(regions.front.length),
        },
    }


def regions_from_geojson(obj, *, file=None, sample=None):
    """Read back :func:`regions_to_geojson`'s output (either units) as :class:`Regions` in µm.

    Raises
    ------
    FrontlineInputError
        when the file was not written by the ``front`` step.
    """
    meta = obj.get("frontline") if isinstance(obj, dict) else None
    if not meta or "units" not in meta:
        raise FrontlineInputError(
            "the regions file lacks its 'frontline' metadata",
            sample=sample,
            file=file,
            fix="rerun the front step that writes it",
        )
    factor = 1.0 if meta["units"] == "um" else float(meta["pixel_size_um"])
    groups = {TUMOR_CLASS: [], TISSUE_CLASS: [], FRONT_CLASS: []}
    for feature in obj.get("features", []):
        name = _class_name(feature)
        if name in groups:
            groups[name].append(_scale(shape(feature["geometry"]), factor))
    tumor = (
        as_multipolygon(shapely.union_all(groups[TUMOR_CLASS]))
        if groups[TUMOR_CLASS]
        else MultiPolygon()
    )
    tissue = (
        as_multipolygon(shapely.union_all(groups[TISSUE_CLASS]))
        if groups[TISSUE_CLASS]
        else MultiPolygon()
    )
    front = MultiLineString([ls for g in groups[FRONT_CLASS] for ls in as_multilinestring(g).geoms])
    return Regions(
        tumor=tumor,
        tissue=tissue,
        front=front,
        extent_um=(float(meta["image_width_um"]), float(meta["image_height_um"])),
        source=meta.get("tumor_source", "cells"),
    )


def dumps(obj):
    """GeoJSON text with coordinates rounded to 0.001 (px or µm): smaller files, no float noise."""
    return json.dumps(_round(obj), indent=None, separators=(",", ":"), ensure_ascii=False)


def _round(obj, in_coords=False):
    if isinstance(obj, float) and in_coords:
        return round(obj, 3)
    if isinstance(obj, dict):
        return {k: _round(v, k == "coordinates") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_round(v, in_coords) for v in obj]
    return obj
