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
the outermost cells and, on simulated tissue, gives signed distances within 4.0-4.4 µm (median
absolute error, cells within 300 µm of the front) of the truth (bench/README.md).

The invasive front is the tumor boundary inside the tissue: the parts of the tumor outline that
run within ``edge_tolerance_um`` of the tissue outline (which includes the image border) are
not front, because there the tumor is cut by the slide or the field of view, not bordered by
stroma. The front is a (Multi)LineString; it is empty when there is no tumor or no stroma
(tumor everywhere) and the spatial step then reports ``no_front``.

An annotation (:func:`frontline.regions.annotation_to_tumor`) replaces the detected tumor; the
tissue is still detected from the nuclei. The result is a :class:`frontline.regions.Regions`,
written and read by :mod:`frontline.regions`.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pandas as pd
import shapely
from scipy import ndimage
from shapely.geometry import MultiLineString, MultiPolygon, box

from .geometry import (
    as_multilinestring,
    as_multipolygon,
    clean_region,
    count_grid,
    grid_shape,
    iso_region,
    pixel_index,
    polygon_parts,
    rasterize,
)
from .regions import Regions, annotation_to_tumor

log = logging.getLogger(__name__)

EDGE_OFFSET_SPACING = 0.4  # edge beyond the outermost cells, in mean cell spacings


# --------------------------------------------------------------------------- density fields


def smoothed_density(
    counts: np.ndarray, window: np.ndarray, grid_um: float, smoothing_um: float
) -> np.ndarray:
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


# --------------------------------------------------------------------------- detection


def closing_field(
    xy_um: np.ndarray, extent_um: tuple[float, float], raster_um: float, closing_um: float
) -> np.ndarray:
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
    free[pixel_index(xy_um, raster_um, shape)] = False
    # pad so that the dilation may leave the image and the depth is not cut by its border
    pad = int(math.ceil(closing_um / raster_um)) + 2
    free = np.pad(free, pad, constant_values=True)
    dilated = ndimage.distance_transform_edt(free, sampling=raster_um) <= closing_um
    del free
    depth = ndimage.distance_transform_edt(dilated, sampling=raster_um)
    return depth[pad:-pad, pad:-pad]


def spacing_offset_um(density_per_mm2: float) -> float:
    """How far the edge lies beyond the outermost cells: 0.4 × the mean spacing, µm."""
    return EDGE_OFFSET_SPACING / math.sqrt(max(density_per_mm2, 1.0) / 1e6)


def closed_outline(
    xy_um: np.ndarray,
    extent_um: tuple[float, float],
    *,
    closing_um: float,
    offset_um: float,
    raster_um: float,
    smoothing_um: float,
) -> MultiPolygon:
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


def snap_to_frame(region: MultiPolygon, frame: MultiPolygon, tolerance_um: float) -> MultiPolygon:
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
) -> MultiPolygon:
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
    xy_um: np.ndarray,
    is_tumor: np.ndarray,
    tissue: MultiPolygon,
    extent_um: tuple[float, float],
    *,
    grid_um: float,
    smoothing_um: float,
    threshold: float,
    closing_um: float,
    edge_offset_um: float | None,
    raster_um: float,
    outline_smoothing_um: float,
    min_region_area_um2: float,
    min_hole_area_um2: float,
    edge_tolerance_um: float,
) -> MultiPolygon:
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


def invasive_front(
    tumor: MultiPolygon, tissue: MultiPolygon, edge_tolerance_um: float
) -> MultiLineString:
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
    xy_um: np.ndarray,
    is_tumor: np.ndarray,
    extent_um: tuple[float, float],
    *,
    grid_um: float,
    smoothing_um: float,
    threshold: float,
    closing_um: float,
    edge_offset_um: float | None,
    raster_um: float,
    outline_smoothing_um: float,
    min_region_area_um2: float,
    min_hole_area_um2: float,
    tissue_closing_um: float,
    tissue_min_region_area_um2: float,
    tissue_min_hole_area_um2: float,
    edge_tolerance_um: float,
    annotation: MultiPolygon | None = None,
) -> Regions:
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


def find_regions(
    cells: pd.DataFrame,
    extent_um: tuple[float, float],
    settings: dict,
    *,
    annotation: Any = None,
    annotation_units: str = "px",
    pixel_size_um: float | None = None,
    sample: str | None = None,
    annotation_file: str | None = None,
) -> Regions:
    """The front step of one sample: regions from its cells, or its tumor annotation.

    Parameters
    ----------
    cells : DataFrame ``x_um, y_um, phenotype`` (µm)
    extent_um : (width_um, height_um) of the image
    settings : the config's ``front:`` section (``tumor_phenotype`` and the keywords of
        :func:`detect_regions`)
    annotation : parsed annotation GeoJSON (QuPath export) or None to detect the tumor
    annotation_units, pixel_size_um : how to read the annotation
        (:func:`frontline.regions.annotation_to_tumor`)
    sample, annotation_file : for messages

    Returns
    -------
    :class:`frontline.regions.Regions`
    """
    settings = dict(settings)
    tumor_phenotype = settings.pop("tumor_phenotype")
    is_tumor = (cells["phenotype"] == tumor_phenotype).to_numpy()
    if not is_tumor.any() and annotation is None:
        log.warning(
            "sample %s: no cell has the phenotype '%s' (front: tumor_phenotype); "
            "phenotypes found: %s",
            sample,
            tumor_phenotype,
            sorted(cells["phenotype"].unique()),
        )
    if annotation is not None:
        annotation = annotation_to_tumor(
            annotation,
            pixel_size_um=pixel_size_um,
            units=annotation_units,
            extent_um=extent_um,
            sample=sample,
            file=annotation_file,
        )
    regions = detect_regions(
        cells[["x_um", "y_um"]].to_numpy(), is_tumor, extent_um, annotation=annotation, **settings
    )
    log.info(
        "sample %s: tumor %.3f mm² (%s), tissue %.3f mm², invasive front %.0f µm",
        sample,
        regions.tumor.area / 1e6,
        regions.source,
        regions.tissue.area / 1e6,
        regions.front.length,
    )
    return regions
