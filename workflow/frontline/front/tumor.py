"""The tumor region from the tumor cells, at the scale the data give (:mod:`.scale`)."""

from __future__ import annotations

import logging
import math

import numpy as np
import shapely
from scipy import ndimage
from shapely.geometry import MultiPolygon

from ..geometry import (
    as_multipolygon,
    clean_region,
    count_grid,
    grid_shape,
    iso_region,
    pixel_index,
    polygon_parts,
    rasterize,
)
from .fields import point_distance, smoothed_density, spacing_offset_um
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
    gaps = polygon_parts(tissue.difference(tumor))
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
    spacing = tumor_cell_spacing_um(xy_t)
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
    radii = [closing_um] if closing_um is not None else [k * spacing for k in scale_ladder]
    pad = pad_for(max(radii), raster_um)
    distance = point_distance(xy_t, shape, raster_um, pad)
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
        )
        radius = k * spacing
    else:
        k, steps, radius = None, [], float(closing_um)
        field_um = outline_field(distance, radius, offset, raster_um, pad, outline_smoothing_um)
    channel = None if channel_scale is None else channel_scale * spacing
    if channel is not None and channel < radius:
        fine = outline_field(distance, channel, offset, raster_um, pad, outline_smoothing_um)
        opened = stroma_openings(
            fine,
            field_um,
            allowed,
            cells,
            min_nest_cells=min_pocket_cells,
            min_channel_cells=min_stroma_cells,
            min_pocket_cells=min_pocket_cells,
        )
        if opened.any():
            near = ndimage.binary_dilation(opened, iterations=2)
            field_um = np.minimum(field_um, np.where(near, fine, np.inf))
    else:
        channel = None
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
