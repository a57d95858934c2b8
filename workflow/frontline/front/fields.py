"""Rasters the front is traced on: smoothed densities, distances to points, closing depths.

A raster of ``raster_um`` pixels covers the image from its top-left corner; pixel (r, c) has
its centre at ((c + .5), (r + .5)) * raster_um (:mod:`frontline.geometry`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from ..geometry import grid_shape, iso_region, pixel_index

EDGE_OFFSET_SPACING = 0.4  # edge beyond the outermost cells, in mean cell spacings


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


def point_distance(
    xy_um: np.ndarray, shape: tuple[int, int], raster_um: float, pad_px: int
) -> np.ndarray:
    """Distance from every pixel to the nearest point, µm, on the raster padded by ``pad_px``.

    The padding lets a dilation leave the image without being cut by its border.

    Parameters
    ----------
    xy_um : (N, 2) float array, µm
    shape : (rows, cols) of the raster
    raster_um : pixel edge, µm
    pad_px : pixels of padding on every side

    Returns
    -------
    (rows + 2 pad, cols + 2 pad) float array, µm (inf everywhere without points)
    """
    free = np.ones(shape, dtype=bool)
    free[pixel_index(xy_um, raster_um, shape)] = False
    free = np.pad(free, pad_px, constant_values=True)
    if free.all():
        return np.full(free.shape, np.inf)
    return ndimage.distance_transform_edt(free, sampling=raster_um)


def closing_depth(
    distance: np.ndarray, radius_um: float, raster_um: float, pad_px: int, smoothing_um: float = 0.0
) -> np.ndarray:
    """Depth inside the dilation of the points by a disc of ``radius_um``, µm (unpadded).

    ``depth >= radius_um`` is the morphological closing of the points (a ball of that radius
    rolled around them), ``depth >= radius_um - offset`` the closing grown by ``offset``.
    ``smoothing_um`` (Gaussian standard deviation, µm) rounds off the scallops the rolling ball
    leaves between the outermost points.

    Parameters
    ----------
    distance : padded output of :func:`point_distance`
    radius_um, raster_um, smoothing_um : µm
    pad_px : the padding of ``distance``

    Returns
    -------
    (rows, cols) float array, µm
    """
    depth = ndimage.distance_transform_edt(distance <= radius_um, sampling=raster_um)
    if smoothing_um > 0:
        depth = ndimage.gaussian_filter(depth, smoothing_um / raster_um)
    if pad_px:
        depth = depth[pad_px:-pad_px, pad_px:-pad_px]
    return depth


def closing_field(
    xy_um: np.ndarray, extent_um: tuple[float, float], raster_um: float, closing_um: float
) -> np.ndarray:
    """Depth inside the morphological closing of the points, on a raster (no smoothing).

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
    pad = int(math.ceil(closing_um / raster_um)) + 2
    distance = point_distance(xy_um, shape, raster_um, pad)
    return closing_depth(distance, closing_um, raster_um, pad)


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
):
    """The closing of the points (disc of ``closing_um``) grown by ``offset_um``, µm.

    Returns
    -------
    MultiPolygon in µm (may reach a little beyond the image).
    """
    shape = grid_shape(extent_um, raster_um)
    pad = int(math.ceil(closing_um / raster_um)) + 2
    distance = point_distance(xy_um, shape, raster_um, pad)
    depth = closing_depth(distance, closing_um, raster_um, pad, smoothing_um)
    return iso_region(depth, closing_um - offset_um, raster_um)
