"""The tumor region from the tumor cells, at the scale the data give (:mod:`.scale`)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import shapely
from scipy import ndimage
from shapely.geometry import MultiPolygon, Polygon

from ..geometry import (
    as_multipolygon,
    clean_region,
    count_grid,
    grid_shape,
    iso_region,
    pixel_index,
    points_in_bounds,
    polygon_parts,
    rasterize,
)
from .fields import Rasters, point_distance, smoothed_density, spacing_offset_um
from .scale import (
    Cells,
    Scale,
    choose_scale,
    outline_field,
    pad_for,
    stroma_openings,
    tumor_cell_spacing_um,
)
from .tissue import snap_to_frame

log = logging.getLogger(__name__)

MIN_REGION_CELLS = 3  # default smallest tumor part: three tumor-cell areas


def absorb_empty_gaps(
    tumor: MultiPolygon, tissue: MultiPolygon, xy_other_um: np.ndarray, min_cells: int = 3
) -> MultiPolygon:
    """Add to the tumor the parts of the tissue outside it that hold fewer than ``min_cells``
    non-tumor cells.

    Such a part (a hole in the tumor, or a notch between tumor and tissue edge) is a gap in the
    cells (a lumen, a tear, a patch the segmentation missed), not stroma, so it borders no
    invasive front. A gap that is a hole of one tumor part is filled by dropping the hole;
    the others are united with the parts they touch.

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
    gaps = polygon_parts(tissue.difference(tumor))
    if not gaps:
        return tumor
    xy = np.asarray(xy_other_um, dtype=float).reshape(-1, 2)
    xy = xy[np.argsort(xy[:, 0], kind="stable")]
    empty = [g for g in gaps if not holds_points(g, xy, min_cells)]
    if not empty:
        return tumor
    parts = polygon_parts(tumor)
    tree = shapely.STRtree(parts)
    filled, others = {}, []
    for gap in empty:
        hole = None if gap.interiors else _hole_of(gap, parts, tree.query(gap))
        if hole is None:
            others.append(gap)
        else:
            filled.setdefault(hole[0], set()).add(hole[1])
    parts = [
        Polygon(p.exterior, [r for k, r in enumerate(p.interiors) if k not in filled[i]])
        if i in filled
        else p
        for i, p in enumerate(parts)
    ]
    if not others:
        return MultiPolygon(parts)
    touched = np.unique(shapely.STRtree(parts).query(others, predicate="intersects")[1])
    merged = polygon_parts(shapely.union_all([*(parts[i] for i in touched), *others]))
    keep = np.ones(len(parts), dtype=bool)
    keep[touched] = False
    return MultiPolygon([p for p, k in zip(parts, keep) if k] + merged)


def _hole_of(gap: Polygon, parts: list, candidates) -> tuple[int, int] | None:
    """(part, hole) of the tumor part whose hole is ``gap`` exactly, or None."""
    area = gap.area
    for i in candidates:
        for k, ring in enumerate(parts[i].interiors):
            hole = Polygon(ring)
            if abs(hole.area - area) <= 1e-9 * area and shapely.equals(hole, gap):
                return int(i), k
    return None


def holds_points(polygon: Polygon, xy_um: np.ndarray, n: int) -> bool:
    """Whether ``polygon`` contains at least ``n`` of the points ``xy_um``.

    Exact (shapely's ``contains_xy``); the points inside the bounding box are tested a strided
    sample first, so that a big polygon holding many points is decided from a few hundred.

    Parameters
    ----------
    polygon : Polygon, µm
    xy_um : (M, 2) float, µm, sorted by x
    n : int
    """
    box = points_in_bounds(xy_um, polygon.bounds)
    if len(box) < n:
        return False
    shapely.prepare(polygon)
    step = max(1, len(box) // 512)
    if step > 1 and shapely.contains_xy(polygon, box[::step, 0], box[::step, 1]).sum() >= n:
        return True
    return bool(shapely.contains_xy(polygon, box[:, 0], box[:, 1]).sum() >= n)


def coarse_region(
    xy_um: np.ndarray,
    is_tumor: np.ndarray,
    tissue: MultiPolygon,
    extent_um: tuple[float, float],
    *,
    grid_um: float,
    smoothing_um: float,
    threshold: float,
    min_region_area_um2: float,
) -> tuple[MultiPolygon, float]:
    """Where the smoothed tumor-cell density reaches ``threshold`` × the sample's reference.

    The reference is the median density where tumor cells are the majority of the cells.
    Robust against scattered misclassified cells; its outline is noisy.

    Returns
    -------
    (region, reference): MultiPolygon in µm (empty when tumor cells are nowhere the majority
    over ``min_region_area_um2``) and the reference density, tumor cells per mm²
    """
    shape = grid_shape(extent_um, grid_um)
    window = rasterize(tissue, shape, grid_um).astype(float)
    tumor = smoothed_density(
        count_grid(xy_um[is_tumor], extent_um, grid_um), window, grid_um, smoothing_um
    )
    cells = smoothed_density(count_grid(xy_um, extent_um, grid_um), window, grid_um, smoothing_um)
    majority = (window > 0) & (tumor > 0.5 * cells) & (cells > 0)
    if majority.sum() < max(1, int(min_region_area_um2 / grid_um**2)):
        log.info(
            "tumor: tumor cells are nowhere the majority over %.0f µm²; no tumor region",
            min_region_area_um2,
        )
        return MultiPolygon(), float("nan")
    reference = float(np.median(tumor[majority]))
    tumor[window == 0] = 0.0
    return iso_region(tumor, threshold * reference, grid_um), reference


@dataclass
class TumorCells:
    """The tumor cells' spacing and distance raster, which need neither tissue nor density.

    spacing_um : :func:`frontline.front.scale.tumor_cell_spacing_um`
    pad_px : padding of ``distance`` (room for the widest closing tried)
    distance : :func:`frontline.front.fields.point_distance` of the tumor cells
    """

    spacing_um: float
    pad_px: int
    distance: np.ndarray


def tumor_cells(
    xy_tumor_um: np.ndarray,
    extent_um: tuple[float, float],
    *,
    raster_um: float,
    closing_um: float | None,
    scale_ladder: list | tuple,
    workers: int = 1,
) -> TumorCells:
    """Spacing and padded distance raster of the tumor cells ((N, 2) µm, N >= 2)."""
    spacing = tumor_cell_spacing_um(xy_tumor_um, workers)
    radii = [closing_um] if closing_um is not None else [k * spacing for k in scale_ladder]
    pad = pad_for(max(radii), raster_um)
    shape = grid_shape(extent_um, raster_um)
    return TumorCells(spacing, pad, point_distance(xy_tumor_um, shape, raster_um, pad, workers))


def tumor_region(
    xy_um: np.ndarray,
    is_tumor: np.ndarray,
    tissue: MultiPolygon,
    extent_um: tuple[float, float],
    *,
    grid_um: float,
    smoothing_um: float,
    threshold: float,
    closing_um: float | None,
    scale_ladder: list | tuple,
    scale_tolerance: float,
    channel_scale: float | None,
    edge_offset_um: float | None,
    raster_um: float,
    outline_smoothing_um: float,
    min_region_area_um2: float | None,
    min_hole_area_um2: float,
    min_stroma_cells: int,
    min_pocket_cells: int,
    edge_tolerance_um: float,
    workers: int = 1,
    prepared: TumorCells | None = None,
) -> tuple[MultiPolygon, Scale | None]:
    """Tumor from tumor cells: the density region refined by their closing at the data's scale.

    1. Coarse region: :func:`coarse_region` (grid ``grid_um``, Gaussian ``smoothing_um``,
       ``threshold`` × reference), grown by ``smoothing_um``.
    2. Outline: the closing of the tumor cells with a disc of ``closing_um`` (µm), or, when it
       is None, of ``k`` × their spacing with ``k`` chosen from ``scale_ladder`` (see
       :mod:`.scale`); channels between nests and enclosed stromal pockets that it filled are
       opened at ``channel_scale`` spacings (None: not); grown by ``edge_offset_um`` (None:
       0.4 × the mean spacing of tumor cells at the reference density).
    3. Tumor = outline ∩ coarse region ∩ tissue, extended to the tissue outline where it
       stops within ``edge_tolerance_um`` of it; parts smaller than ``min_region_area_um2``
       (None: three tumor-cell areas, π (spacing / 2)² each) are dropped, holes smaller than
       ``min_hole_area_um2`` filled, and the parts of the tissue outside the tumor holding
       fewer than ``min_stroma_cells`` non-tumor cells added to it.

    Parameters
    ----------
    xy_um : (N, 2) float array, all cell positions in µm
    is_tumor : (N,) bool, which cells are tumor cells
    tissue : MultiPolygon, µm (from :func:`frontline.front.tissue.tissue_region`)
    extent_um : (width_um, height_um)
    workers : threads of the raster passes and the nearest-neighbour search
    prepared : :func:`tumor_cells` of these tumor cells with these settings (consumed: its
        raster is released), or None to make it
    others : see :mod:`frontline.front` (µm, µm², fractions, counts)

    Returns
    -------
    (tumor, scale): MultiPolygon in µm inside ``tissue`` (empty when there is no tumor) and
    the :class:`frontline.front.scale.Scale` it was traced at (None without a tumor)
    """
    xy_um = np.asarray(xy_um, dtype=float).reshape(-1, 2)
    is_tumor = np.asarray(is_tumor, dtype=bool)
    if is_tumor.sum() < 2 or tissue.is_empty:
        return MultiPolygon(), None
    xy_t, xy_o = xy_um[is_tumor], xy_um[~is_tumor]
    if prepared is None:
        prepared = tumor_cells(
            xy_t,
            extent_um,
            raster_um=raster_um,
            closing_um=closing_um,
            scale_ladder=scale_ladder,
            workers=workers,
        )
    spacing, pad, distance = prepared.spacing_um, prepared.pad_px, prepared.distance
    prepared.distance = None  # consumed: the raster is released once the outline is traced
    if min_region_area_um2 is None:
        min_region_area_um2 = MIN_REGION_CELLS * math.pi * (spacing / 2) ** 2
    coarse, reference = coarse_region(
        xy_um,
        is_tumor,
        tissue,
        extent_um,
        grid_um=grid_um,
        smoothing_um=smoothing_um,
        threshold=threshold,
        min_region_area_um2=min_region_area_um2,
    )
    if coarse.is_empty:
        return MultiPolygon(), None
    coarse = as_multipolygon(coarse.buffer(smoothing_um, quad_segs=8))
    offset = spacing_offset_um(reference) if edge_offset_um is None else float(edge_offset_um)

    shape = grid_shape(extent_um, raster_um)
    tissue_mask = rasterize(tissue, shape, raster_um)
    allowed = tissue_mask & rasterize(coarse, shape, raster_um)
    cells = Cells(
        tumor=pixel_index(xy_t, raster_um, shape), other=pixel_index(xy_o, raster_um, shape)
    )
    rasters = Rasters(distance.shape)
    labels = np.empty(shape, dtype=np.int32)  # the label rasters of the ladder and the openings
    min_area_px = int(math.ceil(min_region_area_um2 / raster_um**2))
    if closing_um is None:
        k, field_um, steps = choose_scale(
            distance,
            pad,
            spacing,
            offset,
            ladder=tuple(scale_ladder),
            tolerance=scale_tolerance,
            allowed=allowed,
            tissue=tissue_mask,
            cells=cells,
            raster_um=raster_um,
            smoothing_um=outline_smoothing_um,
            min_area_px=min_area_px,
            min_stroma_cells=min_stroma_cells,
            workers=workers,
            rasters=rasters,
            labels=labels,
        )
        radius = k * spacing
    else:
        k, steps, radius = None, [], float(closing_um)
        field_um = outline_field(
            distance, radius, offset, raster_um, pad, outline_smoothing_um, workers
        )
    channel = None if channel_scale is None else channel_scale * spacing
    if channel is not None and channel < radius:
        fine = outline_field(
            distance, channel, offset, raster_um, pad, outline_smoothing_um, workers, rasters
        )
        opened = stroma_openings(
            fine,
            field_um,
            allowed,
            cells,
            min_nest_cells=min_pocket_cells,
            min_channel_cells=min_stroma_cells,
            min_pocket_cells=min_pocket_cells,
            labels=labels,
        )
        rows, cols = np.nonzero(opened.any(axis=1))[0], np.nonzero(opened.any(axis=0))[0]
        if len(rows):  # near them (2 pixels), min(field, fine), in the field's own array
            box = (
                slice(max(rows[0] - 2, 0), rows[-1] + 3),
                slice(max(cols[0] - 2, 0), cols[-1] + 3),
            )
            near = ndimage.binary_dilation(opened[box], iterations=2)
            lower = near & (fine[box] < field_um[box])
            field_um[box][lower] = fine[box][lower]
        del fine
    else:
        channel = None
    del distance, rasters, labels  # tracing needs memory of its own: free what it does not use
    scale = Scale(spacing, radius, k, channel, steps)
    outline = iso_region(field_um, 0.0, raster_um)
    region = outline.intersection(coarse).intersection(tissue)
    region = snap_to_frame(as_multipolygon(region), tissue, edge_tolerance_um)
    region = clean_region(region, min_region_area_um2, min_hole_area_um2)
    result = absorb_empty_gaps(region, tissue, xy_o, min_cells=min_stroma_cells)
    log.info(
        "tumor: tumor-cell spacing %.1f µm, closing %.1f µm%s, edge offset %.1f µm, "
        "area %.3f mm² in %d part(s)",
        spacing,
        radius,
        "" if k is None else f" ({k:g} spacings, ladder {[(s[0], s[2]) for s in steps]})",
        offset,
        result.area / 1e6,
        len(result.geoms),
    )
    return result, scale
