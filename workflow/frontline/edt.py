"""Exact Euclidean distance transforms of rasters, compiled, on several threads.

The separable algorithm of Felzenszwalb & Huttenlocher (2012, Theory of Computing 8:415): a
pass down the columns finds each pixel's nearest background pixel in its column, a pass along
the rows the lower envelope of the parabolas those offsets define. :func:`distance_transform`
gives the same nearest pixels as ``scipy.ndimage.distance_transform_edt`` and the same
arithmetic for the distance (row and column offsets times the pixel size, squared, summed,
square root), so the same float64 values (bit for bit at pixel sizes that are powers of two,
such as the default 2 and 4 µm; elsewhere equidistant nearest pixels may differ in the last
bit), in a quarter of the time and a fifth of the memory (no (2, rows, cols) index arrays);
:func:`nearest_background` gives each pixel's nearest background pixel as one flat index
(4 bytes per pixel instead of scipy's 8 of ``return_indices``). Both split the raster into
``workers`` strips, one thread each (the kernels release the GIL).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit
from scipy import ndimage

_NONE = 1 << 30  # row offset of a column without background pixels (exact in float32 too)


def distance_transform(
    mask: np.ndarray, raster_um: float, workers: int = 1, out: np.ndarray | None = None
) -> np.ndarray:
    """Distance from every pixel to the nearest False pixel, µm (0 on False pixels).

    Same values as ``scipy.ndimage.distance_transform_edt(mask, sampling=raster_um)``.

    Parameters
    ----------
    mask : (rows, cols) bool
    raster_um : pixel edge, µm
    workers : threads (the column and row passes split the raster into strips)
    out : (rows, cols) float64 or float32 array to write into (float32: scipy's values
        rounded to float32; rows < 2**24), or None (float64)

    Returns
    -------
    (rows, cols) float array (``out``), µm
    """
    mask = np.ascontiguousarray(mask, dtype=bool)
    if mask.ndim != 2 or mask.all():  # no background: scipy's answer, whatever it is
        return ndimage.distance_transform_edt(mask, sampling=raster_um)
    if out is None:
        out = np.empty(mask.shape, dtype=np.float64)
    rows, cols = mask.shape
    # the column pass leaves each pixel's nearest background row in ``out`` (whole numbers,
    # exact in either float type); the row pass reads a row's before it writes its distances
    in_strips(_column_nearest, cols, workers, mask, out)
    in_strips(_row_distances, rows, workers, out, float(raster_um))
    return out


def nearest_background(mask: np.ndarray, workers: int = 1) -> np.ndarray:
    """For every pixel, the flat index (``row * cols + col``) of its nearest False pixel.

    Among equidistant False pixels one is chosen (not necessarily the one scipy's
    ``distance_transform_edt(..., return_indices=True)`` picks; the distance is the same).

    Parameters
    ----------
    mask : (rows, cols) bool, with at least one False pixel; rows * cols < 2**31
    workers : threads

    Returns
    -------
    (rows, cols) int32
    """
    mask = np.ascontiguousarray(mask, dtype=bool)
    if mask.all():
        raise ValueError("nearest_background: the mask has no background pixel")
    rows, cols = mask.shape
    if rows * cols >= 2**31:
        raise ValueError(f"nearest_background: {rows} x {cols} pixels do not fit int32 indices")
    out = np.empty(mask.shape, dtype=np.int32)
    in_strips(_column_nearest, cols, workers, mask, out)
    in_strips(_row_nearest, rows, workers, out)
    return out


def in_strips(kernel, n: int, workers: int, *args) -> None:
    """Run ``kernel(*args, start, stop)`` over ``[0, n)`` in ``workers`` strips at once (the
    kernels release the GIL; each strip writes its own part of the output)."""
    workers = max(1, min(int(workers), n))
    if workers == 1:
        kernel(*args, 0, n)
        return
    bounds = np.linspace(0, n, workers + 1).astype(int)
    with ThreadPoolExecutor(workers) as pool:
        for done in [pool.submit(kernel, *args, a, b) for a, b in zip(bounds[:-1], bounds[1:])]:
            done.result()


@njit(nogil=True, cache=True)
def _column_nearest(mask, nearest, start, stop):
    """Per pixel of the columns ``start:stop``, the row of the nearest False pixel of its
    column (-1: none; the upper one of two equally near), into ``nearest`` (an integer or
    float array)."""
    rows = mask.shape[0]
    width = stop - start
    last = np.full(width, -1, dtype=np.int64)
    for r in range(rows):
        for i in range(width):
            c = start + i
            if not mask[r, c]:
                last[i] = r
            nearest[r, c] = last[i]
    following = np.full(width, -1, dtype=np.int64)
    for r in range(rows - 1, -1, -1):
        for i in range(width):
            c = start + i
            if not mask[r, c]:
                following[i] = r
            f = following[i]
            above = np.int64(nearest[r, c])
            if f >= 0 and (above < 0 or f - r < r - above):
                nearest[r, c] = f


@njit(nogil=True, cache=True)
def _row_nearest_columns(r, column_rows, offset, apex, begin, pick):
    """For row ``r``, given each column's nearest background row (``column_rows``, -1: none),
    the lower envelope of the parabolas (c - q)² + offset(q)² and, per pixel c, the column q
    of the parabola lowest at c (``pick``); ``offset`` gets the row offsets (_NONE: none)."""
    cols = column_rows.size
    for q in range(cols):
        offset[q] = column_rows[q] - r if column_rows[q] >= 0 else _NONE
    k = -1
    for q in range(cols):
        oq = offset[q]
        if oq >= _NONE:
            continue
        fq = oq * oq + q * q
        s = 0.0
        while k >= 0:
            p = apex[k]
            op = offset[p]
            s = (fq - (op * op + p * p)) / (2.0 * (q - p))
            if s <= begin[k]:
                k -= 1
            else:
                break
        if k < 0:
            k = 0
            begin[0] = -np.inf
        else:
            k += 1
            begin[k] = s
        apex[k] = q
        begin[k + 1] = np.inf
    j = 0
    for c in range(cols):
        while begin[j + 1] < c:
            j += 1
        pick[c] = apex[j]


@njit(nogil=True, cache=True)
def _row_distances(out, raster_um, start, stop):
    """Per row of ``start:stop``, from the nearest background rows ``out`` holds
    (:func:`_column_nearest`), the distance to the nearest background pixel from its row and
    column offsets, as scipy computes it, into ``out``."""
    cols = out.shape[1]
    apex, pick = np.empty(cols, dtype=np.int64), np.empty(cols, dtype=np.int64)
    begin = np.empty(cols + 1, dtype=np.float64)
    column_rows, offset = np.empty(cols, dtype=np.int64), np.empty(cols, dtype=np.int64)
    for r in range(start, stop):
        for q in range(cols):
            column_rows[q] = np.int64(out[r, q])
        _row_nearest_columns(r, column_rows, offset, apex, begin, pick)
        for c in range(cols):
            p = pick[c]
            dr = np.float64(offset[p]) * raster_um
            dc = np.float64(c - p) * raster_um
            out[r, c] = math.sqrt(dr * dr + dc * dc)


@njit(nogil=True, cache=True)
def _row_nearest(nearest, start, stop):
    """Per row of ``start:stop``, from the nearest background rows ``nearest`` holds
    (:func:`_column_nearest`), each pixel's nearest background pixel as a flat index, into
    ``nearest``."""
    cols = nearest.shape[1]
    apex, pick = np.empty(cols, dtype=np.int64), np.empty(cols, dtype=np.int64)
    begin = np.empty(cols + 1, dtype=np.float64)
    column_rows, offset = np.empty(cols, dtype=np.int64), np.empty(cols, dtype=np.int64)
    for r in range(start, stop):
        for q in range(cols):
            column_rows[q] = nearest[r, q]
        _row_nearest_columns(r, column_rows, offset, apex, begin, pick)
        for c in range(cols):
            p = pick[c]
            nearest[r, c] = column_rows[p] * cols + p
