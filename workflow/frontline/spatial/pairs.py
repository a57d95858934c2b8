"""Every pair of cells within a set of radii, counted in one pass.

The neighbour counts, the mixing score, the neighbourhood enrichment and the cross L-function
with its closed-form envelope all count pairs of cells closer than a radius, by phenotype.
One pass over every cell and its neighbours within the largest radius gives all of them
(:func:`pair_counts`): the cells are bucketed on a square grid, each cell's neighbours are the
cells of the grid rows its disc touches, clipped to the disc's extent in each row, and each
pair falls into the smallest radius at least its distance. A pair counts within r when
``dx² + dy² <= r²`` (the test scipy's ``cKDTree.count_neighbors`` makes, so the counts are
the same integers).

While a cell's neighbours are counted, its own counts by phenotype and radius are at hand, so
sums over cells of per-cell quantities (squared degrees; for the L-function, counts restricted
to a window and to cells at least r from its outline) are exact, with no per-cell arrays.
The pass is compiled (numba, the accelerator StarDist already depends on; about 5 s the first
time, then loaded from the ``__pycache__`` cache in 0.4 s) and split over ``workers``
threads; its counts are integers, so the result does not depend on the split.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numba import njit

from .common import type_codes

BUCKETS_PER_RADIUS = 8  # grid buckets across the largest radius: few cells scanned in vain
BIN_TABLE = 4096  # lookup table from squared distance to radius bin
MAX_BUCKETS_PER_CELL = 4  # the grid never has more buckets than this per cell (sparse slides)

# Sums over the pooled cells of the L-function's envelope, per "from" type and radius
# (see frontline.spatial.lfunction.relabelling_moments):
MOMENTS = (
    "n",  # pooled cells in the window
    "n_valid",  # of which at least r from the window's outline
    "out_sum",  # sum of o_i = [valid i] * (pooled cells within r of i)
    "in_sum",  # sum of d_i = valid pooled cells within r of i (equals out_sum)
    "valid_in_sum",  # sum of [valid i] * d_i: ordered pairs with both ends valid
    "out_squares",  # sum of o_i²
    "in_squares",  # sum of d_i²
    "out_in",  # sum of o_i d_i
)


@dataclass(frozen=True)
class PairCounts:
    """Pair counts of a table of cells at radii ``radii_um``.

    names : (T,) phenotype of each type code (sorted)
    pairs : (T, T, K) int64, ordered pairs (i, j), i != j, i of type a and j of type b,
        with distance <= radii_um[k] (counted over every cell)
    degree_squares : (K,) int64, sum over every cell of (its neighbours within r)²
    from_types : the L-function's "from" types (P); ``to_type`` its "to" type (None: none)
    valid : (P, K) int64, "from" cells in the window at least r from its outline
    valid_pairs : (P, K) int64, their pairs with "to" cells in the window within r
    moments : (P, K, len(MOMENTS)) int64, sums over the pooled "from" and "to" cells in the
        window (the random-labelling moments of the L-function; :data:`MOMENTS`)
    """

    radii_um: np.ndarray
    names: tuple
    pairs: np.ndarray
    degree_squares: np.ndarray
    from_types: tuple = ()
    to_type: str | None = None
    valid: np.ndarray | None = None
    valid_pairs: np.ndarray | None = None
    moments: np.ndarray | None = None

    def radius_index(self, radius_um: float) -> int:
        """Index of ``radius_um`` in :attr:`radii_um` (KeyError when it was not counted)."""
        k = np.flatnonzero(self.radii_um == float(radius_um))
        if len(k) == 0:
            raise KeyError(f"radius {radius_um} µm was not counted ({list(self.radii_um)})")
        return int(k[0])

    def count(self, a: str, b: str, radius_um: float) -> int:
        """Ordered pairs (i of type a, j of type b, i != j) within ``radius_um``."""
        if a not in self.names or b not in self.names:
            return 0
        ia, ib = self.names.index(a), self.names.index(b)
        return int(self.pairs[ia, ib, self.radius_index(radius_um)])


def pair_counts(
    xy_um: np.ndarray,
    phenotype: np.ndarray,
    radii_um: Sequence[float],
    in_window: np.ndarray | None = None,
    edge_um: np.ndarray | None = None,
    from_types: Sequence[str] = (),
    to_type: str | None = None,
    workers: int = 1,
) -> PairCounts:
    """Count every pair of cells within each radius, by phenotype, in one pass.

    Parameters
    ----------
    xy_um : (N, 2) float, µm
    phenotype : (N,) str (or int type codes)
    radii_um : radii, µm (sorted and deduplicated here)
    in_window : (N,) bool, cells in the L-function's window (None: all)
    edge_um : (N,) float, distance of each cell to the window's outline, µm (None: inf)
    from_types, to_type : the L-function's types: with ``to_type`` given, the window counts
        and envelope moments of each of ``from_types`` against ``to_type`` are summed too
    workers : threads

    Returns
    -------
    :class:`PairCounts`
    """
    xy = np.asarray(xy_um, dtype=float).reshape(-1, 2)
    phenotype = np.asarray(phenotype)
    if phenotype.dtype.kind not in "iu":  # names; integer type codes are kept as they are
        phenotype = phenotype.astype(str)
    names, codes = type_codes(phenotype)
    names = tuple(names.tolist())
    radii = np.unique(np.asarray(radii_um, dtype=float))
    n, n_types, k = len(xy), len(names), len(radii)
    from_types = tuple(from_types) if to_type is not None else ()
    # a "from" type absent from the table, or the "to" type itself, gets no counts (code -1)
    from_codes = np.array(
        [names.index(t) if t in names and t != to_type else -1 for t in from_types], np.int64
    )
    to_code = names.index(to_type) if to_type in names else -1
    shapes = [(n_types, n_types, k), (k,), (len(from_types), k), (len(from_types), k)]
    shapes.append((len(from_types), k, len(MOMENTS)))
    if n == 0 or k == 0:
        totals = [np.zeros(s, np.int64) for s in shapes]
    else:
        in_window = np.ones(n, bool) if in_window is None else np.asarray(in_window, bool)
        edge = np.full(n, np.inf) if edge_um is None else np.asarray(edge_um, float)
        # validity group: a cell in the window is at least r from its outline for radii[:group]
        group = np.searchsorted(radii, edge, side="right").astype(np.int64)
        group[~in_window] = -1
        grid = _Grid(xy, radii[-1])
        xs, ys = grid.sorted(xy[:, 0]), grid.sorted(xy[:, 1])
        code, group = grid.sorted(codes.astype(np.int64)), grid.sorted(group)
        r2 = radii * radii
        inv = BIN_TABLE / r2[-1]
        table = np.minimum(np.searchsorted(r2, np.arange(BIN_TABLE + 1) / inv), k - 1)

        def part(bounds):
            out = [np.zeros(s, np.int64) for s in shapes]
            _scan(xs, ys, code, group, grid.start, grid.cols, grid.size, grid.origin, r2, table,
                  inv, bounds[0], bounds[1], n_types, to_code, from_codes, *out)  # fmt: skip
            return out

        cuts = np.linspace(0, n, max(1, workers) * 4 + 1).astype(np.int64)
        bounds = list(zip(cuts[:-1], cuts[1:]))
        if workers > 1:
            with ThreadPoolExecutor(workers) as pool:
                parts = list(pool.map(part, bounds))
        else:
            parts = [part(b) for b in bounds]
        totals = [sum(p[i] for p in parts) for i in range(len(shapes))]
    hist, degree_squares, valid, valid_pairs, moments = totals
    return PairCounts(
        radii_um=radii,
        names=names,
        pairs=np.cumsum(hist, axis=2),
        degree_squares=degree_squares,
        from_types=from_types,
        to_type=to_type,
        valid=valid if to_type is not None else None,
        valid_pairs=valid_pairs if to_type is not None else None,
        moments=moments if to_type is not None else None,
    )


class _Grid:
    """Cells bucketed on a square grid (row-major buckets; CSR offsets ``start``)."""

    def __init__(self, xy: np.ndarray, reach_um: float):
        lo = xy.min(axis=0)
        span = np.maximum(xy.max(axis=0) - lo, 1e-9)
        size = reach_um / BUCKETS_PER_RADIUS
        # a sparse slide (few cells over a large extent) gets coarser buckets
        size = max(size, float(np.sqrt(span[0] * span[1] / (MAX_BUCKETS_PER_CELL * len(xy)))))
        self.size = float(size)
        self.cols = int(span[0] // size) + 1
        rows = int(span[1] // size) + 1
        rc = ((xy - lo) // size).astype(np.int64)
        bucket = rc[:, 1] * self.cols + rc[:, 0]
        self.order = np.argsort(bucket, kind="stable")
        self.start = np.searchsorted(bucket[self.order], np.arange(rows * self.cols + 1))
        self.origin = (float(lo[0]), float(lo[1]))

    def sorted(self, values: np.ndarray) -> np.ndarray:
        """``values`` (one per cell) in bucket order."""
        return np.ascontiguousarray(values[self.order])


@njit(nogil=True, cache=True)
def _scan(xs, ys, code, group, start, cols, size, origin, r2, table, inv, lo, hi, n_types,
          to_code, from_codes, hist, degree_squares, valid, valid_pairs, moments):  # fmt: skip
    """Count the neighbours of cells lo..hi (in bucket order) and add their sums to the outputs.

    group[j]: -1 outside the window, else the number of radii j is valid for (at least that
    far from the window's outline). Per cell: ``cnt`` counts neighbours by type and radius bin
    (every cell), ``out_win`` those outside the window and ``invalid`` those in the window but
    too close to its outline (by the first radius they are counted and invalid at); the
    window's counts are then ``cnt - out_win`` and the valid ones that minus ``invalid``.
    The rows and columns scanned are widened by ``slack`` so that rounding in the bucket
    index never drops a pair; the squared distance alone decides.
    """
    k = len(r2)
    rmax2 = r2[k - 1]
    reach = int(np.ceil(np.sqrt(rmax2) / size))
    rows = (len(start) - 1) // cols
    cnt = np.zeros((n_types, k), np.int64)
    out_win = np.zeros((n_types, k), np.int64)
    invalid = np.zeros((n_types, k), np.int64)
    win = np.zeros((n_types, k), np.int64)  # cumulative window counts
    val = np.zeros((n_types, k), np.int64)  # cumulative valid counts
    n_from = len(from_codes)
    x0, y0 = origin
    slack = 1e-6 * size
    for i in range(lo, hi):
        cnt[:] = 0
        special = False  # neighbours outside the window or near its outline
        x = xs[i]
        y = ys[i]
        br = int((y - y0) // size)
        for rr in range(max(br - reach, 0), min(br + reach, rows - 1) + 1):
            if rr < br:
                dy = max((y - y0) - (rr + 1) * size - slack, 0.0)
            elif rr > br:
                dy = max(rr * size - (y - y0) - slack, 0.0)
            else:
                dy = 0.0
            rem = rmax2 - dy * dy
            if rem < 0.0:
                continue
            w = np.sqrt(rem) + slack
            c0 = max(int(((x - x0) - w) // size), 0)
            c1 = min(int(((x - x0) + w) // size), cols - 1)
            if c1 < c0:
                continue
            for j in range(start[rr * cols + c0], start[rr * cols + c1 + 1]):
                ddx = xs[j] - x
                ddy = ys[j] - y
                d2 = ddx * ddx + ddy * ddy
                if d2 > rmax2:
                    continue
                b = table[int(d2 * inv)]
                while r2[b] < d2:
                    b += 1
                t = code[j]
                cnt[t, b] += 1
                g = group[j]
                if g < k:
                    if not special:
                        special = True
                        out_win[:] = 0
                        invalid[:] = 0
                    if g < 0:
                        out_win[t, b] += 1
                    else:
                        invalid[t, max(b, g)] += 1
        # the cell itself was counted (distance 0, first bin)
        ti = code[i]
        gi = group[i]
        cnt[ti, 0] -= 1
        if gi < k:
            if not special:
                special = True
                out_win[:] = 0
                invalid[:] = 0
            if gi < 0:
                out_win[ti, 0] -= 1
            else:
                invalid[ti, gi] -= 1
        degree = 0
        for b in range(k):
            row = 0
            for t in range(n_types):
                hist[ti, t, b] += cnt[t, b]
                row += cnt[t, b]
            degree += row
            degree_squares[b] += degree * degree
        if gi < 0 or to_code < 0:
            continue
        pooled = ti == to_code
        for p in range(n_from):
            pooled = pooled or ti == from_codes[p]
        if not pooled:
            continue
        # window and valid counts, cumulative over radii, of the L-function's types
        for p in range(-1, n_from):
            t = to_code if p < 0 else from_codes[p]
            if t < 0:
                continue
            run_w = 0
            run_v = 0
            for b in range(k):
                if special:
                    run_w += cnt[t, b] - out_win[t, b]
                    run_v += cnt[t, b] - out_win[t, b] - invalid[t, b]
                else:
                    run_w += cnt[t, b]
                    run_v += cnt[t, b]
                win[t, b] = run_w
                val[t, b] = run_v
        for p in range(n_from):
            a = from_codes[p]
            if a < 0 or (ti != a and ti != to_code):
                continue
            for b in range(k):
                ok = 1 if gi > b else 0
                o = ok * (win[a, b] + win[to_code, b])
                d = val[a, b] + val[to_code, b]
                m = moments[p, b]
                m[0] += 1
                m[1] += ok
                m[2] += o
                m[3] += d
                m[4] += ok * d
                m[5] += o * o
                m[6] += d * d
                m[7] += o * d
                if ti == a and ok:
                    valid[p, b] += 1
                    valid_pairs[p, b] += win[to_code, b]
