"""Rasters the front is traced on: smoothed densities, distances to points, closing depths.

A raster of ``raster_um`` pixels covers the image from its top-left corner; pixel (r, c) has
its centre at ((c + .5), (r + .5)) * raster_um (:mod:`frontline.geometry`).

The Euclidean distance transforms are :func:`frontline.edt.distance_transform`. The Gaussian
smoothing of these fields (:func:`smooth`) is scipy's ``gaussian_filter`` (its weights, its
reflected border, its order of additions, hence its values bit for bit), compiled to run
along whole rows at once, both passes of a row together.

Both run on ``workers`` threads, each on a strip of the raster. The front's own rasters
(:func:`point_distance`, :func:`closing_depth`) are float32 (``FIELD_DTYPE``): distances
and depths of a few hundred µm to 1e-7 relative, half the memory of float64, and a 10 x 10
mm slide at 2 µm traced in about a third of the time it took in float64 (fresh memory is
slow to fault in; :class:`Rasters` hands the same arrays to the steps of the scale ladder).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from scipy import ndimage

from ..edt import distance_transform, in_strips
from ..geometry import grid_shape, pixel_index

EDGE_OFFSET_SPACING = 0.4  # edge beyond the outermost cells, in mean cell spacings
FIELD_DTYPE = np.float32  # the front's distance and depth rasters: µm to 1e-7 relative


def smooth(
    field: np.ndarray, sigma_px: float, workers: int = 1, out: np.ndarray | None = None
) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter(field, sigma_px)`` (mode ``reflect``, truncated at 4 SD).

    Parameters
    ----------
    field : (rows, cols) float64 or float32 (other types are taken as float64)
    sigma_px : standard deviation, pixels
    workers : threads (each smooths a strip of rows)
    out : (rows, cols) array of ``field``'s float type to write into (not ``field``), or None

    Returns
    -------
    (rows, cols) array of ``field``'s float type: for float64 the same values as scipy's; for
    float32 those of the float32 field summed in float64, rounded to float32
    """
    field = np.ascontiguousarray(field)
    if field.dtype not in (np.float32, np.float64):
        field = field.astype(np.float64)
    radius = int(4.0 * float(sigma_px) + 0.5)
    impulse = np.zeros(2 * radius + 1)
    impulse[radius] = 1.0  # scipy's own weights: its filter of a unit impulse
    weights = ndimage.gaussian_filter1d(impulse, sigma_px, mode="constant")[radius:].copy()
    if out is None:
        out = np.empty_like(field)
    elif np.shares_memory(out, field):
        raise ValueError("smooth: out must not share memory with field")
    in_strips(_smooth_rows, field.shape[0], workers, field, out, weights)
    return out


class Rasters:
    """Rasters of one shape (float type ``FIELD_DTYPE``), handed out and taken back for reuse.

    The front traces several closings of the same padded raster one after another; reusing
    their arrays saves faulting in fresh memory for each (on a 10 x 10 mm slide at 2 µm, 100 MB
    an array, which costs as much as the distance transform that fills it).
    """

    def __init__(self, shape: tuple[int, int]):
        self.shape = tuple(shape)
        self._free: list[np.ndarray] = []

    def take(self) -> np.ndarray:
        """An array of ``shape`` (contents undefined)."""
        return self._free.pop() if self._free else np.empty(self.shape, dtype=FIELD_DTYPE)

    def give(self, array: np.ndarray | None) -> None:
        """Take back an array from :meth:`take` (or a view of one) once it is no longer used."""
        while array is not None and array.shape != self.shape:
            array = array.base
        if array is not None:
            self._free.append(array)


@njit(nogil=True, cache=True)
def _reflected(i, n):
    """Index ``i`` of a line of ``n`` extended by reflection (d c b a | a b c d | d c b a)."""
    period = 2 * n
    i %= period
    return i if i < n else period - 1 - i


@njit(nogil=True, cache=True, boundscheck=False)
def _smooth_rows(src, dst, w, start, stop):
    """Rows ``start:stop`` of the Gaussian: per row, the correlation with the symmetric kernel
    ``w`` (w[0] the centre) along axis 0, then along axis 1 on that row extended by its
    reflection; each in scipy's order (centre first, then the pairs from the farthest in), so
    the same values as its two passes."""
    rows, cols = src.shape
    half = len(w) - 1
    line = np.empty(cols + 2 * half)
    acc = np.empty(cols)
    for r in range(start, stop):
        s = src[r]
        for c in range(cols):
            line[half + c] = s[c] * w[0]
        for j in range(half, 0, -1):
            above, below, wj = src[_reflected(r - j, rows)], src[_reflected(r + j, rows)], w[j]
            for c in range(cols):
                line[half + c] += (above[c] + below[c]) * wj
        for k in range(half):
            line[k] = line[half + _reflected(k - half, cols)]
            line[cols + half + k] = line[half + _reflected(cols + k, cols)]
        for c in range(cols):
            acc[c] = line[half + c] * w[0]
        for j in range(half, 0, -1):
            wj = w[j]
            for c in range(cols):
                acc[c] += (line[half - j + c] + line[half + j + c]) * wj
        d = dst[r]
        for c in range(cols):
            d[c] = acc[c]


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
    xy_um: np.ndarray, shape: tuple[int, int], raster_um: float, pad_px: int, workers: int = 1
) -> np.ndarray:
    """Distance from every pixel to the nearest point, µm, on the raster padded by ``pad_px``.

    The padding lets a dilation leave the image without being cut by its border.

    Parameters
    ----------
    xy_um : (N, 2) float array, µm
    shape : (rows, cols) of the raster
    raster_um : pixel edge, µm
    pad_px : pixels of padding on every side
    workers : threads

    Returns
    -------
    (rows + 2 pad, cols + 2 pad) ``FIELD_DTYPE`` array, µm (inf everywhere without points)
    """
    free = np.ones(shape, dtype=bool)
    free[pixel_index(xy_um, raster_um, shape)] = False
    free = np.pad(free, pad_px, constant_values=True)
    if free.all():
        return np.full(free.shape, np.inf, dtype=FIELD_DTYPE)
    return distance_transform(free, raster_um, workers, out=np.empty(free.shape, FIELD_DTYPE))


def closing_depth(
    distance: np.ndarray,
    radius_um: float,
    raster_um: float,
    pad_px: int,
    smoothing_um: float = 0.0,
    workers: int = 1,
    rasters: Rasters | None = None,
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
    workers : threads
    rasters : :class:`Rasters` of ``distance``'s shape to take the arrays from (the result is
        a view of one of them; give it back with ``rasters.give(depth)`` when done), or None

    Returns
    -------
    (rows, cols) ``FIELD_DTYPE`` array, µm
    """
    rasters = Rasters(distance.shape) if rasters is None else rasters
    depth = distance_transform(distance <= radius_um, raster_um, workers, out=rasters.take())
    if smoothing_um > 0:
        smoothed = smooth(depth, smoothing_um / raster_um, workers, out=rasters.take())
        rasters.give(depth)
        depth = smoothed
    if pad_px:
        depth = depth[pad_px:-pad_px, pad_px:-pad_px]
    return depth


def closing_field(
    xy_um: np.ndarray,
    extent_um: tuple[float, float],
    raster_um: float,
    closing_um: float,
    workers: int = 1,
) -> np.ndarray:
    """Depth inside the morphological closing of the points, on a raster (no smoothing).

    Parameters
    ----------
    xy_um : (N, 2) float array, µm
    extent_um : (width_um, height_um)
    raster_um, closing_um : µm
    workers : threads

    Returns
    -------
    (rows, cols) float array, µm; node (r, c) at ((c + .5), (r + .5)) * raster_um
    """
    shape = grid_shape(extent_um, raster_um)
    pad = int(math.ceil(closing_um / raster_um)) + 2
    distance = point_distance(xy_um, shape, raster_um, pad, workers)
    return closing_depth(distance, closing_um, raster_um, pad, workers=workers)


def spacing_offset_um(density_per_mm2: float) -> float:
    """How far the edge lies beyond the outermost cells: 0.4 × the mean spacing, µm."""
    return EDGE_OFFSET_SPACING / math.sqrt(max(density_per_mm2, 1.0) / 1e6)
