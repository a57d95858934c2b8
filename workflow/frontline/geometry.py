"""Polygons, lines and rasters in µm: the geometry helpers every stage shares.

Grids and rasters: a grid of ``cell_um`` cells covers the image from its top-left corner;
cell (r, c) covers x in [c, c + 1) * cell_um and y in [r, r + 1) * cell_um, its centre at
((c + .5), (r + .5)) * cell_um. :func:`pixel_index` is the one place that puts points into
grid cells. Geometries are shapely objects in µm; regions are MultiPolygons and fronts
MultiLineStrings (:func:`as_multipolygon`, :func:`as_multilinestring` normalise any
geometry to them).
"""

from __future__ import annotations

import math

import contourpy
import numpy as np
import shapely
from scipy import ndimage
from scipy.spatial import cKDTree
from shapely.geometry import GeometryCollection, LineString, MultiLineString, MultiPolygon, Polygon

# --------------------------------------------------------------------------- grids


def grid_shape(extent_um: tuple[float, float], cell_um: float) -> tuple[int, int]:
    """(rows, cols) of a grid of ``cell_um`` cells covering ``extent_um = (width, height)``."""
    width, height = extent_um
    return max(1, math.ceil(height / cell_um)), max(1, math.ceil(width / cell_um))


def pixel_index(
    xy_um: np.ndarray, cell_um: float, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Grid cell of each point, clipped to the grid.

    Parameters
    ----------
    xy_um : (N, 2) float array, µm (x, y)
    cell_um : float, grid cell edge, µm
    shape : (rows, cols) of the grid

    Returns
    -------
    rows, cols : (N,) int64 arrays; points off the grid go to its nearest edge cell
    """
    xy = np.asarray(xy_um, dtype=float).reshape(-1, 2)
    r = np.clip((xy[:, 1] // cell_um).astype(np.int64), 0, shape[0] - 1)
    c = np.clip((xy[:, 0] // cell_um).astype(np.int64), 0, shape[1] - 1)
    return r, c


def count_grid(xy_um: np.ndarray, extent_um: tuple[float, float], grid_um: float) -> np.ndarray:
    """Points per grid cell.

    Parameters
    ----------
    xy_um : (N, 2) float array, µm (x, y)
    extent_um : (width_um, height_um)
    grid_um : float, grid cell edge in µm

    Returns
    -------
    (rows, cols) float array of counts
    """
    rows, cols = grid_shape(extent_um, grid_um)
    r, c = pixel_index(xy_um, grid_um, (rows, cols))
    return np.bincount(r * cols + c, minlength=rows * cols).reshape(rows, cols).astype(float)


def rasterize(geom: Polygon | MultiPolygon, shape: tuple[int, int], cell_um: float) -> np.ndarray:
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
        for poly in polygon_parts(geom)
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


def polygon_parts(geom: shapely.Geometry | None) -> list[Polygon]:
    """The Polygon parts of any geometry, as a list (empty for None or an empty geometry)."""
    if geom is None or geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    if isinstance(geom, (MultiPolygon, GeometryCollection)):
        return [p for g in geom.geoms for p in polygon_parts(g)]
    return []


def as_multipolygon(geom: shapely.Geometry | None) -> MultiPolygon:
    """Any polygonal geometry as a MultiPolygon (empty when there is none)."""
    return MultiPolygon(polygon_parts(geom))


def as_multilinestring(geom: shapely.Geometry | None) -> MultiLineString:
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


def scale(geom: shapely.Geometry, factor: float) -> shapely.Geometry:
    """``geom`` with every coordinate multiplied by ``factor`` (e.g. pixels <-> µm)."""
    return shapely.transform(geom, lambda xy: xy * factor)


def iso_region(field: np.ndarray, level: float, grid_um: float) -> MultiPolygon:
    """The region where ``field >= level`` as polygons traced between grid nodes, µm.

    Marching squares with linear interpolation along the grid edges (contourpy's filled
    contours, serial algorithm: a saddle quad joins its two high corners when the mean of its
    four corners reaches ``level``); each polygon comes with its holes, islands in holes are
    polygons of their own.

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
    rows, cols = field.shape
    padded = np.empty((rows + 2, cols + 2))
    padded[1:-1, 1:-1] = field
    low = min(float(np.nanmin(field)) if field.size else level, level) - 1.0
    padded[0, :] = padded[-1, :] = padded[:, 0] = padded[:, -1] = low
    generator = contourpy.contour_generator(
        z=padded, name="serial", fill_type=contourpy.FillType.OuterOffset, corner_mask=False
    )
    points, offsets = generator.filled(level, np.inf)
    polygons = []
    for xy, offset in zip(points, offsets):
        xy = (xy - 0.5) * grid_um  # padded node (row i, column j) is field node (i - 1, j - 1)
        rings = [xy[a:b] for a, b in zip(offset[:-1], offset[1:]) if b - a >= 4]
        if rings and len(offset) >= 2 and offset[1] - offset[0] >= 4:
            polygons.append(Polygon(rings[0], rings[1:]))
    region = MultiPolygon([p for p in polygons if p.area > 0])
    if not region.is_valid:  # a ring that touches itself at a vertex: repaired, same area
        region = as_multipolygon(shapely.make_valid(region))
    return region


def clean_region(
    geom: Polygon | MultiPolygon, min_region_area_um2: float, min_hole_area_um2: float
) -> MultiPolygon:
    """Drop parts under ``min_region_area_um2``; fill holes under ``min_hole_area_um2``.

    Parts lying in a filled hole (islands) go with it.

    Parameters
    ----------
    geom : Polygon or valid MultiPolygon (parts that do not overlap), µm
    min_region_area_um2, min_hole_area_um2 : µm²

    Returns
    -------
    MultiPolygon
    """
    kept, probes, filled = [], [], []
    for poly in polygon_parts(geom):
        holes, small = [], []
        for ring in poly.interiors:
            (holes if Polygon(ring).area >= min_hole_area_um2 else small).append(ring)
        probe = poly.point_on_surface()  # on the part itself, in none of its holes
        if small:
            poly = Polygon(poly.exterior, holes)
            filled.extend(Polygon(ring) for ring in small)
        if poly.area >= min_region_area_um2:
            kept.append(poly)
            probes.append(probe)
    if filled and kept:  # an island in a filled hole lies inside the part that held the hole
        inside = set(shapely.STRtree(filled).query(probes, predicate="within")[0].tolist())
        kept = [p for i, p in enumerate(kept) if i not in inside]
    return MultiPolygon(kept)


# --------------------------------------------------------------------------- points and lines


def points_in_bounds(xy_sorted_um: np.ndarray, bounds: tuple) -> np.ndarray:
    """The points inside a bounding box, from points sorted by x (a binary search for the
    x range, then a test of y): the candidates of a point-in-polygon test.

    Parameters
    ----------
    xy_sorted_um : (M, 2) float, µm, sorted by x (``xy[np.argsort(xy[:, 0])]``)
    bounds : (x0, y0, x1, y1), µm (a geometry's ``bounds``), inclusive

    Returns
    -------
    (K, 2) float, µm
    """
    x0, y0, x1, y1 = bounds
    a = int(np.searchsorted(xy_sorted_um[:, 0], x0, side="left"))
    b = int(np.searchsorted(xy_sorted_um[:, 0], x1, side="right"))
    slab = xy_sorted_um[a:b]
    return slab[(slab[:, 1] >= y0) & (slab[:, 1] <= y1)]


def densify(lines: shapely.Geometry | None, step_um: float = 0.5) -> np.ndarray:
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


def distance_to_lines(
    xy_um: np.ndarray,
    lines: shapely.Geometry,
    step_um: float = 0.5,
    workers: int = 1,
    upper_bound_um: float = np.inf,
) -> np.ndarray:
    """Unsigned distance from points to lines, exact to ``step_um / 2``.

    Parameters
    ----------
    xy_um : (N, 2) float array, µm
    lines : (Multi)LineString, µm
    step_um : float, spacing of the densified line vertices, µm
    workers : threads of the KD-tree query
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
    dist = np.full(len(xy_um), np.inf)
    # with a bound, only points in grid cells (of the bound's size) next to a line's cell can
    # be that close; the others are inf without a search (which, inside a long closed outline,
    # visits many tree nodes: 2 s for a million cells in a square's outline)
    near = _near_points(xy_um, pts, upper_bound_um) if np.isfinite(upper_bound_um) else None
    query = xy_um if near is None else xy_um[near]
    found, _ = cKDTree(pts).query(query, k=1, workers=workers, distance_upper_bound=upper_bound_um)
    if near is None:
        return found
    dist[near] = found
    return dist


def _near_points(xy_um: np.ndarray, pts: np.ndarray, bound_um: float) -> np.ndarray:
    """Mask of the points that may lie within ``bound_um`` of one of ``pts``: their grid cell
    (``bound_um`` on a side) is at most 2 cells from a cell holding one of ``pts`` (1 would do;
    2 leaves room for rounding)."""
    size = max(float(bound_um), 1e-6)
    cell_p = np.floor(pts / size).astype(np.int64)
    cell_q = np.floor(xy_um / size).astype(np.int64)
    lo = np.minimum(cell_p.min(axis=0), cell_q.min(axis=0) if len(cell_q) else 0) - 2
    span = int(max(cell_p[:, 1].max(), cell_q[:, 1].max() if len(cell_q) else 0) - lo[1]) + 3
    occupied = np.unique((cell_p[:, 0] - lo[0]) * span + (cell_p[:, 1] - lo[1]))
    reach = np.array([dx * span + dy for dx in range(-2, 3) for dy in range(-2, 3)])
    near_cells = np.unique((occupied[:, None] + reach[None, :]).ravel())
    return np.isin((cell_q[:, 0] - lo[0]) * span + (cell_q[:, 1] - lo[1]), near_cells)


def inside(
    xy_um: np.ndarray,
    geom: Polygon | MultiPolygon | None,
    mask: np.ndarray | None = None,
    raster_um: float | None = None,
) -> np.ndarray:
    """Whether each point lies in ``geom`` (Multi)Polygon, (N,) bool.

    With ``mask`` (``geom`` rasterised at ``raster_um`` by :func:`rasterize`), points whose
    pixel and its 8 neighbours agree take the mask's answer and only the others, near the
    outline, are tested exactly: the same result, much faster for big tables.
    """
    xy_um = np.asarray(xy_um, dtype=float).reshape(-1, 2)
    if geom is None or geom.is_empty:
        return np.zeros(len(xy_um), dtype=bool)
    shapely.prepare(geom)
    if mask is None:
        return shapely.contains_xy(geom, xy_um[:, 0], xy_um[:, 1])
    sure_in = ndimage.binary_erosion(mask, np.ones((3, 3), bool), border_value=0)
    sure_out = ~ndimage.binary_dilation(mask, np.ones((3, 3), bool))
    r, c = pixel_index(xy_um, raster_um, mask.shape)
    out = sure_in[r, c]
    test = ~out & ~sure_out[r, c]
    out[test] = shapely.contains_xy(geom, xy_um[test, 0], xy_um[test, 1])
    return out
