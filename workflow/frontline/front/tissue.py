"""The tissue region from all nuclei, and extending a region to the outline of its frame."""

from __future__ import annotations

import logging

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, box

from ..geometry import as_multipolygon, clean_region, iso_region, polygon_parts
from .fields import closing_field, smooth, spacing_offset_um

log = logging.getLogger(__name__)


def snap_to_frame(region: MultiPolygon, frame: MultiPolygon, tolerance_um: float) -> MultiPolygon:
    """Extend ``region`` to the outline of ``frame`` where it stops within ``tolerance_um`` of it.

    The outermost cells of a tumor (or tissue) cut by the image border lie a few µm inside it;
    the region should still reach the border, so that no sliver of "stroma" separates it from
    the border. The gap is closed, not buffered across: the region and the outside of the frame
    are closed together with a disc of half the tolerance (a gap narrower than the tolerance
    fills, with a rounded fillet where the outline meets the frame), and what that adds within
    the tolerance of the frame joins the region. Growing the region by the tolerance instead
    put thin wedges along the frame beside a round outline that nearly touches it (a TMA core
    at the image border).

    Parameters
    ----------
    region, frame : MultiPolygon, µm
    tolerance_um : float, µm (0: the region as it is)

    Returns
    -------
    MultiPolygon, µm
    """
    if region.is_empty or frame.is_empty or tolerance_um <= 0:
        return region
    band = frame.boundary.buffer(tolerance_um, quad_segs=4).intersection(frame)
    # Only the region within 2 tolerances of the outline can reach the band: close that part
    # (cut 3 tolerances out, so the cut's own edge stays out of the band) and union what the
    # closing adds in the band with the parts it touches; the other parts stay as they are.
    # The same region as closing the whole one, at the cost of the border only.
    reach = frame.boundary.buffer(3 * tolerance_um, quad_segs=4)
    parts = np.array(polygon_parts(region), dtype=object)
    near = shapely.intersects(parts, reach)
    if not near.any():
        return region
    cut = shapely.intersection(shapely.union_all(parts[near]), reach)
    closed = shapely.intersection(close_against(cut, reach.difference(frame), tolerance_um), band)
    # the closing also rounds the frame's own corners: keep the pieces that touch the region
    pieces = [p for p in polygon_parts(closed) if shapely.intersects(p, cut)]
    if not pieces:
        return region
    grown = shapely.union_all(pieces)
    touched = near & shapely.intersects(parts, grown)
    merged = polygon_parts(shapely.union_all([*parts[touched], grown]))
    return MultiPolygon([*parts[~touched], *merged])


def close_against(region, outside, tolerance_um: float):
    """The closing of ``region`` and ``outside`` together with a disc of ``tolerance_um / 2``
    (geometries in µm): gaps between them narrower than the tolerance filled."""
    radius = tolerance_um / 2
    joined = shapely.union(region, outside)
    return joined.buffer(radius, quad_segs=8).buffer(-radius, quad_segs=8)


def tissue_region(
    xy_um: np.ndarray,
    extent_um: tuple[float, float],
    *,
    closing_um: float,
    raster_um: float,
    outline_smoothing_um: float,
    min_region_area_um2: float,
    min_hole_area_um2: float,
    edge_tolerance_um: float,
    edge_offset_um: float | None = None,
    workers: int = 1,
) -> MultiPolygon:
    """Tissue from all nuclei: their closing, grown to the edge beyond the outermost cells.

    Parameters
    ----------
    xy_um : (N, 2) float array, cell positions in µm
    extent_um : (width_um, height_um) of the image
    closing_um, raster_um, outline_smoothing_um : µm (see :mod:`frontline.front`)
    edge_offset_um : µm, or None for 0.4 × the mean cell spacing
    min_region_area_um2, min_hole_area_um2 : µm²
    edge_tolerance_um : µm; tissue stopping this close to the image border is extended to it
    workers : threads of the raster passes

    Returns
    -------
    MultiPolygon in µm, inside the image (empty when there are no cells).
    """
    image = box(0, 0, *extent_um)
    xy_um = np.asarray(xy_um, dtype=float).reshape(-1, 2)
    if len(xy_um) == 0:
        return MultiPolygon()
    depth = closing_field(xy_um, extent_um, raster_um, closing_um, workers)
    if outline_smoothing_um > 0:
        depth = smooth(depth, outline_smoothing_um / raster_um, workers)
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
