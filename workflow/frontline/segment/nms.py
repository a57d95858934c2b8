"""Star-convex objects: non-maximum suppression across bands, and rendering into label strips.

**NMS, band by band** (:func:`suppress_bands`): StarDist's NMS runs over one band (a row of
tiles) together with the first rows of the next band; objects kept in earlier bands are final
and suppress the candidates they overlap. No two kept objects overlap by more than
``nms_thresh`` anywhere, tile and band borders included, so no nucleus is found twice.

**Rendering, strip by strip** (:func:`render_strips`): whole polygons are drawn in ascending
probability (as StarDist does) into strips of ``STRIP`` rows; a strip is emitted once no later
object can reach it. A nucleus is never cut by a tile border. Label ids are 1..N in the order
of the objects' centres (row, then column).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..io import TILE

log = logging.getLogger(__name__)

STRIP = TILE[0]  # rows per rendered strip: the label TIFF's tile edge, so strips become tiles
FIXED_SCORE = 2.0  # score offset that makes already-final objects win every NMS comparison

Window = tuple[int, int, int, int]  # (y0, y1, x0, x1), px, end exclusive
Bands = Iterable[tuple["Objects", int, int]]  # (candidates, y0, y1) per band
KeptBands = Iterable[tuple["Objects", float]]  # (final objects, y_done) per band
Strips = Iterator[tuple[int, np.ndarray]]  # (y0, (h, X) uint32 labels), top to bottom


# ----------------------------------------------------------------------------- objects


class Objects(NamedTuple):
    """Star-convex objects (candidates or nuclei), in image pixels.

    points : (N, 2) float32, centre (y, x), px
    dist : (N, R) float32, radial distances along StarDist's ray angles, px
    prob : (N,) float32, object probability
    """

    points: np.ndarray
    dist: np.ndarray
    prob: np.ndarray

    @classmethod
    def empty(cls, n_rays: int) -> Objects:
        return cls(
            np.zeros((0, 2), np.float32), np.zeros((0, n_rays), np.float32), np.zeros(0, np.float32)
        )

    @classmethod
    def concat(cls, parts: Iterable[Objects | None], n_rays: int) -> Objects:
        parts = [p for p in parts if p is not None and len(p.prob)]
        if not parts:
            return cls.empty(n_rays)
        return cls(*(np.concatenate(arrays) for arrays in zip(*parts)))

    def take(self, index: Any) -> Objects:
        return Objects(self.points[index], self.dist[index], self.prob[index])

    def __len__(self) -> int:  # number of objects (not of fields)
        return len(self.prob)


def _order(objects: Objects) -> np.ndarray:
    """Indices sorting objects by centre row, then column, then descending probability."""
    return np.lexsort((-objects.prob, objects.points[:, 1], objects.points[:, 0]))


def polygon_coords(objects: Objects) -> np.ndarray:
    """Polygon vertices of each object, (N, 2, R) float32 (rows, columns), px."""
    from stardist.geometry import dist_to_coord

    if len(objects) == 0:
        return np.zeros((0, 2, objects.dist.shape[1]), np.float32)
    return dist_to_coord(objects.dist, objects.points)


# ----------------------------------------------------------------------------- NMS


def _nms(pool: Objects, score: np.ndarray, nms_thresh: float) -> np.ndarray:
    """Indices into ``pool`` kept by StarDist's greedy NMS on ``score``."""
    from stardist.nms import non_maximum_suppression_inds

    if len(pool) == 0:
        return np.zeros(0, int)
    order = np.argsort(-score, kind="stable")
    with _openmp_threads(1):
        keep = non_maximum_suppression_inds(
            pool.dist[order], pool.points[order], score[order], thresh=nms_thresh, verbose=False
        )
    return np.sort(order[keep])


def _stardist_openmp() -> Any:
    """The OpenMP runtime StarDist's C extension uses (ctypes handle), or None."""
    import ctypes
    import ctypes.util

    import stardist

    bundled = sorted((Path(stardist.__file__).parent.parent / "stardist.libs").glob("libgomp*"))
    name = str(bundled[0]) if bundled else ctypes.util.find_library("gomp")
    if not name:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


@contextlib.contextmanager
def _openmp_threads(n: int) -> Iterator[None]:
    """Run StarDist's C code with ``n`` OpenMP threads, then restore the setting.

    StarDist's NMS opens an OpenMP parallel region per polygon; with 1 thread there is no
    barrier per polygon, which on a busy machine (threads descheduled) is many times faster
    and on an idle one about as fast: the work per polygon is tiny.
    """
    lib = _stardist_openmp()
    if lib is None:
        yield
        return
    before = lib.omp_get_max_threads()
    lib.omp_set_num_threads(int(n))
    try:
        yield
    finally:
        lib.omp_set_num_threads(before)


def suppress_bands(
    bands: Bands, nms_thresh: float, reach: float, n_rays: int
) -> Iterator[tuple[Objects, int]]:
    """Non-maximum suppression over a stream of bands, consistent across band borders.

    Parameters
    ----------
    bands : iterable of (Objects, y0, y1): candidates whose centre row is in [y0, y1), bands
        in increasing, contiguous y
    nms_thresh : float, StarDist's overlap threshold
    reach : float, the largest object radius, px (objects farther apart never overlap)
    n_rays : int

    Yields
    ------
    (Objects, y1): the kept objects with centre row in [y0, y1) of each band, in band order
    """
    fixed = Objects.empty(n_rays)  # kept objects of earlier bands near the current one
    pending = None
    margin = 2.0 * reach
    for item in list_then_none(bands):
        if pending is not None:
            cand, py0, py1 = pending
            ahead = Objects.empty(n_rays)
            if item is not None:
                nxt = item[0]
                ahead = nxt.take(nxt.points[:, 0] < py1 + margin)
            pool = Objects.concat([fixed, cand, ahead], n_rays)
            score = np.concatenate([fixed.prob + FIXED_SCORE, cand.prob, ahead.prob])
            kept_idx = _nms(pool, score, nms_thresh)
            mine = kept_idx[(kept_idx >= len(fixed)) & (kept_idx < len(fixed) + len(cand))]
            kept = pool.take(mine)
            yield kept, py1
            fixed = Objects.concat([fixed, kept], n_rays)
            fixed = fixed.take(fixed.points[:, 0] >= py1 - margin)
        pending = item


def list_then_none(iterable: Iterable) -> Iterator:
    """Yield the items, then None (so a loop can finish its pending work)."""
    yield from iterable
    yield None


# ----------------------------------------------------------------------------- rendering


def render(objects: Objects, ids: np.ndarray, window: Window) -> np.ndarray:
    """Draw objects into a label window, higher probability on top (as StarDist does).

    Parameters
    ----------
    objects : Objects, image px
    ids : (N,) int label ids
    window : (y0, y1, x0, x1), px

    Returns
    -------
    (y1 - y0, x1 - x0) uint32 labels
    """
    from skimage.draw import polygon

    y0, y1, x0, x1 = window
    out = np.zeros((y1 - y0, x1 - x0), np.uint32)
    if len(objects) == 0:
        return out
    coords = polygon_coords(objects)
    order = np.argsort(objects.prob, kind="stable")
    shape = out.shape
    for i in order:
        rr, cc = polygon(coords[i, 0] - y0, coords[i, 1] - x0, shape)
        out[rr, cc] = ids[i]
    return out


def render_strips(
    kept_bands: KeptBands,
    shape: tuple[int, int],
    reach: float,
    strip: int = STRIP,
    first_id: int = 1,
) -> Strips:
    """Render label strips of a slide from a stream of final objects.

    Parameters
    ----------
    kept_bands : iterable of (Objects, y_done): final objects, and the row below which every
        object centre has now been given (increasing)
    shape : (Y, X) image size, px
    reach : float, largest object radius, px
    strip : rows per strip
    first_id : the first label id

    Yields
    ------
    (y0, labels) with labels a (h, X) uint32 strip; ids are consecutive in the order of the
    objects' centres (row, column)
    """
    height, width = shape
    held = Objects.empty(0)
    held_ids = np.zeros(0, np.int64)
    next_id = first_id
    s0 = 0
    for item in list_then_none(kept_bands):
        if item is None:
            y_done = math.inf
        else:
            kept, y_done = item
            order = _order(kept)
            kept = kept.take(order)
            ids = np.arange(next_id, next_id + len(kept), dtype=np.int64)
            next_id += len(kept)
            held = Objects.concat([held, kept], kept.dist.shape[1]) if len(held) else kept
            held_ids = np.concatenate([held_ids, ids])
        while s0 < height and min(s0 + strip, height) + reach <= y_done:
            s1 = min(s0 + strip, height)
            near = (held.points[:, 0] >= s0 - reach - 1) & (held.points[:, 0] < s1 + reach + 1)
            yield s0, render(held.take(near), held_ids[near], (s0, s1, 0, width))
            s0 = s1
            stay = held.points[:, 0] >= s0 - reach - 1
            held, held_ids = held.take(stay), held_ids[stay]
    if next_id - first_id > np.iinfo(np.uint32).max:
        raise ValueError("more nuclei than uint32 label ids")


def counting(
    kept_bands: KeptBands, stats: dict | None = None, sample: str | None = None
) -> KeptBands:
    """Pass final objects through, counting them; log the count (a warning when it is 0).

    Parameters
    ----------
    kept_bands : iterable of (Objects, y) from :func:`suppress_bands`
    stats : dict or None, receives ``nuclei``, the count, once the bands are exhausted
    sample : sample name for the warning
    """
    total = 0
    for kept, y in kept_bands:
        total += len(kept)
        yield kept, y
    log.info("%d nuclei", total)
    if stats is not None:
        stats["nuclei"] = total
    if total == 0:
        log.warning(
            "%sno nuclei found; the label image is empty. If the image does have nuclei, "
            "check segmentation.nuclear_channel, the normalisation percentiles and prob_thresh",
            f"sample '{sample}': " if sample is not None else "",
        )
