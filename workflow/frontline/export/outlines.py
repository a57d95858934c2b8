"""Cell outlines from a label image: one polygon per label along the pixel edges, tile by tile.

Every label's boundary is traced at once with array operations (no per-cell contour search),
in tiles for big slides. Vertices are pixel corners in the coordinates QuPath uses: pixels of
the full-resolution image, origin at the top-left corner, x to the right, y down, pixel
``(row, col)`` covering ``[col, col + 1) x [row, row + 1)``; a polygon covers exactly the pixels
of its label.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd

from ..io import ArrayLabels, LabelReader
from ..measure import compact_labels, expand_nuclei

log = logging.getLogger(__name__)

# Edge directions in (x, y) pixel coordinates, y down: east, south, west, north.
_DX = np.array([1, 0, -1, 0])
_DY = np.array([0, 1, 0, -1])


def _trace(labels: np.ndarray) -> dict[str, np.ndarray]:
    """Trace every label's boundary along pixel edges.

    Every edge between two different labels is given to each non-zero label beside it,
    directed so that the label lies on its right (y down). Chaining each edge to the one
    that starts where it ends gives closed rings: clockwise on screen (positive area) around
    a region, anticlockwise around a hole. Where a label touches itself only at a corner,
    the ring turns right, so diagonal neighbours are separate rings (4-connectivity).

    Returns
    -------
    dict of arrays: ``x``, ``y`` (V,) int64 vertices ring after ring (corners only);
    ``start`` (R,) index of each ring's first vertex; ``label`` (R,) the ring's label;
    ``area`` (R,) signed area in px² (> 0 outer ring, < 0 hole).
    """
    labels = np.asarray(labels)
    height, width = labels.shape
    ids, compact = compact_labels(labels)
    compact = compact.astype(np.int64, copy=False)
    if ids.size == 0 or (ids.size == 1 and ids[0] == 0):
        empty = np.zeros(0, np.int64)
        return {"x": empty, "y": empty, "start": empty, "label": empty, "area": np.zeros(0, float)}
    if ids[0] != 0:
        ids = np.concatenate([[0], ids])
        compact += 1
    padded = np.pad(compact, 1)

    parts = []
    # horizontal pixel edges on the line y = r, from x = c to c + 1
    above, below = padded[:-1, 1:-1], padded[1:, 1:-1]
    r, c = np.nonzero(above != below)
    lab = below[r, c]
    parts.append((lab, c, r, np.zeros_like(r)))  # top of `below`: east
    lab = above[r, c]
    parts.append((lab, c + 1, r, np.full_like(r, 2)))  # bottom of `above`: west
    # vertical pixel edges on the line x = c, from y = r to r + 1
    left, right = padded[1:-1, :-1], padded[1:-1, 1:]
    r, c = np.nonzero(left != right)
    lab = right[r, c]
    parts.append((lab, c, r + 1, np.full_like(r, 3)))  # left side of `right`: north
    lab = left[r, c]
    parts.append((lab, c, r, np.ones_like(r)))  # right side of `left`: south

    lab = np.concatenate([p[0] for p in parts])
    x0 = np.concatenate([p[1] for p in parts]).astype(np.int64)
    y0 = np.concatenate([p[2] for p in parts]).astype(np.int64)
    direction = np.concatenate([p[3] for p in parts]).astype(np.int64)
    keep = lab != 0
    lab, x0, y0, direction = lab[keep], x0[keep], y0[keep], direction[keep]

    n_vertices = (height + 1) * (width + 1)
    key = lab * n_vertices + y0 * (width + 1) + x0
    order = np.lexsort((direction, key))
    lab, x0, y0, direction, key = (a[order] for a in (lab, x0, y0, direction, key))
    end_key = lab * n_vertices + (y0 + _DY[direction]) * (width + 1) + (x0 + _DX[direction])
    lo = np.searchsorted(key, end_key, side="left")
    count = np.searchsorted(key, end_key, side="right") - lo
    if not np.all((count == 1) | (count == 2)):
        raise RuntimeError("boundary tracing found an open outline")  # cannot happen
    # at a corner where a label meets itself, take the right turn
    right_turn = (direction + 1) % 4
    second = np.minimum(lo + 1, key.size - 1)
    nxt = np.where((count == 2) & (direction[lo] != right_turn), second, lo)

    n = key.size
    idx = np.arange(n)
    # ring id = smallest edge index on the ring (pointer doubling: log2(ring length) steps)
    head, jump = idx.copy(), nxt.copy()
    while True:
        new = np.minimum(head, head[jump])
        if np.array_equal(new, head):
            break
        head, jump = new, jump[jump]
    # position on the ring: steps to the ring's last edge, the ring cut open before its head
    succ = np.where(nxt == head, idx, nxt)
    dist = (succ != idx).astype(np.int64)
    while True:
        nxt_succ = succ[succ]
        if np.array_equal(nxt_succ, succ):
            break
        dist = dist + dist[succ]
        succ = nxt_succ
    prev = np.empty_like(nxt)
    prev[nxt] = idx
    corner = direction[prev] != direction  # drop vertices in the middle of straight runs
    ring_order = np.lexsort((-dist, head))
    ring_order = ring_order[corner[ring_order]]

    x, y, ring = x0[ring_order], y0[ring_order], head[ring_order]
    start = np.flatnonzero(np.r_[True, ring[1:] != ring[:-1]])
    ring_index = np.cumsum(np.r_[False, ring[1:] != ring[:-1]])
    stop = np.r_[start[1:], x.size]
    following = np.arange(x.size) + 1
    following[stop - 1] = start  # the vertex after a ring's last is its first
    cross = x * y[following] - x[following] * y
    area = np.bincount(ring_index, weights=cross, minlength=start.size) / 2.0
    return {
        "x": x,
        "y": y,
        "start": start,
        "label": ids[lab[ring_order][start]].astype(np.int64),
        "area": area,
    }


def _assemble(
    traced: dict[str, np.ndarray], select: np.ndarray | None = None, origin_px: tuple = (0, 0)
) -> tuple[np.ndarray, list[list[np.ndarray]]]:
    """Group traced rings into one polygon per label: its largest outer ring and its holes.

    Returns ``(ids, rings)`` as in :func:`label_outlines`, for labels in ``select`` (all
    labels when None).
    """
    x, y, start, label, area = (traced[k] for k in ("x", "y", "start", "label", "area"))
    stop = np.r_[start[1:], x.size]
    keep = np.ones(start.size, bool) if select is None else np.isin(label, select)
    rows = np.flatnonzero(keep)
    # per label: outer rings, largest first, then holes
    order = rows[np.lexsort((-np.abs(area[rows]), area[rows] < 0, label[rows]))]
    ox, oy = origin_px
    ids, rings = [], []
    current, shells = None, 0
    for i in order:
        coords = np.column_stack([x[start[i] : stop[i]] + ox, y[start[i] : stop[i]] + oy])
        coords = np.vstack([coords, coords[:1]])
        if label[i] != current:
            current, shells = label[i], 0
            ids.append(int(label[i]))
            rings.append([])
        if area[i] > 0:
            shells += 1
            if shells == 1:
                rings[-1].append(coords)
        elif shells == 1 or _inside(coords[0], rings[-1][0]):
            rings[-1].append(coords)
    return np.asarray(ids, np.int64), rings


def _inside(point, ring):
    from matplotlib.path import Path  # only for labels split into several pieces (rare)

    return bool(Path(ring).contains_point(point))


def label_outlines(
    labels: np.ndarray, origin_px: tuple[int, int] = (0, 0)
) -> tuple[np.ndarray, list[list[np.ndarray]]]:
    """One polygon per label of a label image, along the pixel edges.

    Parameters
    ----------
    labels : (Y, X) int array, 0 = background
    origin_px : (x, y) added to every vertex (the window's top-left corner in the slide)

    Returns
    -------
    ids : (N,) int64, the labels, ascending
    rings : list of N lists of (k, 2) int64 arrays of (x, y) px vertices, closed (first =
        last); the first is the outline (clockwise on screen), the others its holes. A label
        in several pieces keeps its largest piece.
    """
    return _assemble(_trace(labels), origin_px=origin_px)


def cell_outlines(
    labels: np.ndarray | LabelReader | ArrayLabels,
    expansion_px: float = 0.0,
    tile_px: int = 2048,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, list[list[np.ndarray]]]:
    """Outlines of every cell (nucleus grown as in ``measure``) of a slide, tile by tile.

    A label belongs to the tile holding the top-left corner of its bounding box and is
    traced from a window around that tile; the window's margin doubles for a tile whose
    cells reach its edge, so the result equals tracing the whole image at once.

    Parameters
    ----------
    labels : (Y, X) int array of nuclei, or a reader with ``.shape`` and ``.read(window)``
        (``frontline.io.open_labels``), window = (y0, y1, x0, x1) px
    expansion_px : float, nucleus-to-cell growth in px (0: nucleus outlines)
    tile_px : int, edge of a tile in px (memory grows with its square)
    progress : callable(done, total) or None, called after every tile

    Returns
    -------
    ids, rings : as :func:`label_outlines`, in full-image px coordinates, ids ascending
    """
    if isinstance(labels, np.ndarray):
        labels = ArrayLabels(labels)
    height, width = (int(s) for s in labels.shape)
    margin = int(np.ceil(2 * expansion_px)) + 2
    halo = margin + 64
    tile_px = int(tile_px)
    tiles = [(y0, x0) for y0 in range(0, height, tile_px) for x0 in range(0, width, tile_px)]
    all_ids, all_rings = [], []
    for done, (ty, tx) in enumerate(tiles, 1):
        core = (ty, min(ty + tile_px, height), tx, min(tx + tile_px, width))
        while True:
            win = (
                max(0, core[0] - halo),
                min(height, core[1] + halo),
                max(0, core[2] - halo),
                min(width, core[3] + halo),
            )
            cells = expand_nuclei(np.asarray(labels.read(win)), expansion_px)
            traced = _trace(cells)
            owned, complete = _owned(traced, core, win, (height, width), margin)
            if complete or win == (0, height, 0, width):
                break
            halo *= 2
            log.info(
                "cells reach the edge of the window around tile %s; margin now %d px", core, halo
            )
        ids, rings = _assemble(traced, owned, origin_px=(win[2], win[0]))
        all_ids.append(ids)
        all_rings.extend(rings)
        if progress is not None:
            progress(done, len(tiles))
    ids = np.concatenate(all_ids) if all_ids else np.zeros(0, np.int64)
    order = np.argsort(ids, kind="stable")
    return ids[order], [all_rings[i] for i in order]


def _owned(traced, core, win, shape, margin):
    """Labels whose bounding box starts in ``core``; whether all of them lie well inside."""
    if traced["label"].size == 0:
        return np.zeros(0, np.int64), True
    x, y, start, label = traced["x"], traced["y"], traced["start"], traced["label"]
    table = pd.DataFrame(
        {
            "label": label,
            "x0": np.minimum.reduceat(x, start),
            "x1": np.maximum.reduceat(x, start),
            "y0": np.minimum.reduceat(y, start),
            "y1": np.maximum.reduceat(y, start),
        }
    )
    box = table.groupby("label").agg(
        x0=("x0", "min"), x1=("x1", "max"), y0=("y0", "min"), y1=("y1", "max")
    )
    # window-local -> image px
    bx0, bx1 = box["x0"].to_numpy() + win[2], box["x1"].to_numpy() + win[2]
    by0, by1 = box["y0"].to_numpy() + win[0], box["y1"].to_numpy() + win[0]
    own = (by0 >= core[0]) & (by0 < core[1]) & (bx0 >= core[2]) & (bx0 < core[3])
    height, width = shape
    ok_bottom = (by1 + margin <= win[1]) | (win[1] == height)
    ok_right = (bx1 + margin <= win[3]) | (win[3] == width)
    ok_top = (by0 - margin >= win[0]) | (win[0] == 0)
    ok_left = (bx0 - margin >= win[2]) | (win[2] == 0)
    complete = bool(np.all((ok_bottom & ok_right & ok_top & ok_left)[own]))
    return box.index.to_numpy()[own], complete
