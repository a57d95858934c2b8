"""Per-cell measurements: shape and mean marker intensity in nucleus, cell and ring.

A cell is its nucleus grown by ``cell_expansion_um`` into background pixels, never into a
neighbour (:func:`skimage.segmentation.expand_labels`). The ring is the cell minus its nucleus,
where membrane and cytoplasm markers (CD45, CD3, ...) live.

Big images are measured tile by tile. Each cell is measured once, whole, in the tile that
holds its nucleus centroid; the tile is read with a halo wide enough for the nucleus and its
growth (the halo doubles for a tile whose nuclei would otherwise be cut), so the table is the
same as measuring the whole image at once.

Columns of the returned table (``cells.parquet``, see docs/architecture.md):

- ``cell_id`` (int64): the nucleus label
- ``x_um``, ``y_um``: nucleus centroid, µm from the image's top-left corner, pixel centres at
  (i + 0.5) * pixel size
- ``nucleus_area_um2``, ``cell_area_um2``: µm²
- ``eccentricity`` of the nucleus (0 for a disc, towards 1 for a line; from second moments of
  the pixel centres, as scikit-image's ``regionprops``)
- ``solidity`` of the nucleus: pixel area / area of the convex hull of its pixel centres
  grown by half a pixel (close to scikit-image's; 1 for convex nuclei, capped at 1, lower for
  notched or merged ones; the hull is the circumscribed 32-gon, at most 0.4 % too large)
- ``{marker}_nucleus_mean``, ``{marker}_cell_mean``, ``{marker}_ring_mean``: mean intensity,
  in the image's units. A cell without ring pixels (its nucleus is boxed in by neighbours,
  or the expansion is 0) has ``NaN`` ring means: an absent measurement, not a dark ring.
- ``{marker}_ring_median`` for the markers asked for (``ring_median``): the median over the
  ring. A cytoplasmic marker (keratin) fills the whole ring of its own cell, but only the side
  of a neighbour's ring that touches it: the neighbour's ring *mean* rises with this lateral
  spill-over, its median does not while less than half of the ring is touched. NaN without
  ring pixels.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
from numba import njit
from skimage.segmentation import expand_labels

from .errors import FrontlineInputError
from .io import ArrayImage, ArrayLabels

log = logging.getLogger(__name__)

COMPARTMENTS = ("nucleus", "cell", "ring")  # the means measured for every marker
READOUTS = COMPARTMENTS + ("ring_median",)  # what a marker may be gated on
SHAPE_COLUMNS = [
    "cell_id",
    "x_um",
    "y_um",
    "nucleus_area_um2",
    "cell_area_um2",
    "eccentricity",
    "solidity",
]
_HULL_DIRECTIONS = 32


def intensity_column(marker: str, readout: str) -> str:
    """The column of ``marker`` read out as ``readout`` (one of ``READOUTS``)."""
    if readout == "ring_median":
        return f"{marker}_ring_median"
    return f"{marker}_{readout}_mean"


def intensity_columns(channels: Iterable[str], ring_median: Iterable[str] = ()) -> list[str]:
    """Names of the intensity columns, marker by marker: the three means, then the ring
    median of the markers in ``ring_median``."""
    return [
        intensity_column(m, c)
        for m in channels
        for c in COMPARTMENTS + (("ring_median",) if m in ring_median else ())
    ]


def expansion_px(cell_expansion_um: float, pixel_size_um: float) -> float:
    """The nucleus-to-cell growth in pixels (float) for a growth in µm."""
    return float(cell_expansion_um) / float(pixel_size_um)


def expand_nuclei(labels: np.ndarray, distance_px: float) -> np.ndarray:
    """Cells from nuclei: grow every label by ``distance_px`` without overlaps.

    Parameters
    ----------
    labels : (Y, X) int array, 0 = background
    distance_px : float, growth in pixels (Euclidean)

    Returns
    -------
    (Y, X) array of the same dtype; nucleus pixels keep their label.
    """
    if distance_px <= 0:
        return labels.copy()
    return expand_labels(labels, distance=distance_px)


def measure_cells(
    image: Any,
    labels: Any,
    pixel_size_um: float,
    channels: Sequence[str] | None = None,
    cell_expansion_um: float = 3.0,
    tile_px: int = 2048,
    ring_median: Iterable[str] = (),
    workers: int = 1,
) -> pd.DataFrame:
    """Measure every nucleus's cell, tile by tile.

    Parameters
    ----------
    image : (C, Y, X) array, or a reader with ``.channels`` and ``.read(channel, window)``
        (``frontline.io.open_image``), window = (y0, y1, x0, x1) in px
    labels : (Y, X) int array of nuclei, or a reader with ``.shape`` and ``.read(window)``
        (``frontline.io.open_labels``); it must cover the image pixel for pixel
        (:func:`check_same_grid`)
    pixel_size_um : float, µm per pixel
    channels : list of str, the markers to measure (default: all of the reader's channels;
        required for an array)
    cell_expansion_um : float, nucleus-to-cell growth in µm
    tile_px : int, edge of a measurement tile in pixels (memory grows with its square)
    ring_median : markers whose median over the ring is measured too (a sort per tile and
        marker: cheap for a few markers); markers not in ``channels`` are skipped
    workers : threads; each reads and sums channels of a tile (the image reader is shared;
        a TIFF page is decoded segment by segment on the reading thread, ``io.pages``)

    Returns
    -------
    DataFrame, one row per nucleus sorted by ``cell_id``, columns as in the module docstring.
    """
    if isinstance(labels, np.ndarray):
        labels = ArrayLabels(labels)
    if isinstance(image, np.ndarray):
        if channels is None:
            raise ValueError("channels are required when the image is an array")
        if image.ndim != 3 or image.shape[0] != len(channels):
            raise ValueError(f"image must be (C, Y, X) with C={len(channels)}, got {image.shape}")
        image = ArrayImage(image, channels)
    channels = list(image.channels if channels is None else channels)
    ring_median = [m for m in channels if m in set(ring_median)]
    check_same_grid(image, labels)
    height, width = (int(s) for s in labels.shape)
    grow = expansion_px(cell_expansion_um, pixel_size_um)
    # A neighbour's pixel can take a cell pixel only if it is within 2x the growth of the
    # nucleus; nuclei that close to a cut tile edge are measured with a wider halo.
    margin = int(math.ceil(2 * grow)) + 2
    halo = margin + 64
    tile_px = int(tile_px)
    parts = []
    with ThreadPoolExecutor(max(1, int(workers))) as pool:
        for y0 in range(0, height, tile_px):
            for x0 in range(0, width, tile_px):
                core = (y0, min(y0 + tile_px, height), x0, min(x0 + tile_px, width))
                part, halo = _measure_tile(
                    image,
                    labels,
                    channels,
                    core,
                    (height, width),
                    halo,
                    margin,
                    grow,
                    ring_median,
                    pool,
                )
                parts.append(part)
    table = pd.concat(parts, ignore_index=True) if parts else _empty(channels, ring_median)
    table = table.sort_values("cell_id", ignore_index=True)
    scale = float(pixel_size_um)
    table["x_um"] = (table["x_um"] + 0.5) * scale
    table["y_um"] = (table["y_um"] + 0.5) * scale
    table["nucleus_area_um2"] *= scale**2
    table["cell_area_um2"] *= scale**2
    log.info(
        "measured %d cells in %d channels (cell = nucleus + %.2f µm = %.2f px)",
        len(table),
        len(channels),
        cell_expansion_um,
        grow,
    )
    return table


def check_same_grid(image: Any, labels: Any) -> None:
    """Raise FrontlineInputError unless the label image covers the image pixel for pixel.

    Parameters
    ----------
    image : a reader (``shape``, and ``pixel_size_um``, ``sample`` where it has them)
    labels : a label reader (``shape``, and ``pixel_size_um``, ``path`` where it has them)
    """
    sample = getattr(image, "sample", None)
    path = getattr(labels, "path", None)
    if tuple(int(s) for s in labels.shape) != tuple(int(s) for s in image.shape):
        raise FrontlineInputError(
            f"the nuclei labels are {tuple(labels.shape)} px but the image is "
            f"{tuple(image.shape)} px",
            sample=sample,
            file=path,
            fix="delete the labels and rerun segmentation",
        )
    label_size = getattr(labels, "pixel_size_um", None)
    image_size = getattr(image, "pixel_size_um", None)
    if label_size and image_size and abs(label_size / image_size - 1) > 0.01:
        raise FrontlineInputError(
            f"the nuclei labels have {label_size:g} µm/px but the image has {image_size:g} µm/px",
            sample=sample,
            file=path,
            fix="delete the labels and rerun segmentation with the same pixel size",
        )


def _empty(channels, ring_median=()):
    columns = {c: pd.Series(dtype="float64") for c in SHAPE_COLUMNS}
    columns["cell_id"] = pd.Series(dtype="int64")
    for name in intensity_columns(channels, ring_median):
        columns[name] = pd.Series(dtype="float32")
    return pd.DataFrame(columns)


def _measure_tile(
    image, labels, channels, core, shape, halo, margin, grow, ring_median=(), pool=None
):
    """Measure the cells whose centroid is in ``core``; returns (table in px units, halo).
    ``pool``: an executor whose threads read and sum the channels (None: one by one)."""
    height, width = shape
    cy0, cy1, cx0, cx1 = core
    while True:
        window = (
            max(cy0 - halo, 0),
            min(cy1 + halo, height),
            max(cx0 - halo, 0),
            min(cx1 + halo, width),
        )
        wy0, wy1, wx0, wx1 = window
        nuclei = np.asarray(labels.read(window))
        ids, compact = compact_labels(nuclei)
        # Nuclei too close to a cut window edge to be measured whole here.
        cut = np.zeros(nuclei.shape, bool)
        if wy0 > 0:
            cut[:margin] = True
        if wy1 < height:
            cut[-margin:] = True
        if wx0 > 0:
            cut[:, :margin] = True
        if wx1 < width:
            cut[:, -margin:] = True
        cut_ids = _present(compact[cut], ids.size)
        reaching_core = _present(compact[cy0 - wy0 : cy1 - wy0, cx0 - wx0 : cx1 - wx0], ids.size)
        unsure = np.intersect1d(cut_ids, reaching_core)
        unsure = unsure[ids[unsure] != 0]
        whole_image = window == (0, height, 0, width)
        if unsure.size == 0 or whole_image:
            break
        halo *= 2
        log.debug(
            "tile %s: %d nuclei reach the halo edge; halo grows to %d px", core, unsure.size, halo
        )
    n = ids.size
    rows, cols = np.indices(nuclei.shape, dtype=np.float64)
    flat = compact.ravel()
    area = np.bincount(flat, minlength=n).astype(np.float64)
    safe = np.maximum(area, 1)
    mean_r = np.bincount(flat, rows.ravel(), n) / safe
    mean_c = np.bincount(flat, cols.ravel(), n) / safe
    keep = ids != 0
    keep &= (mean_r + wy0 >= cy0) & (mean_r + wy0 < cy1)
    keep &= (mean_c + wx0 >= cx0) & (mean_c + wx0 < cx1)
    keep[cut_ids] &= whole_image  # a cut nucleus belongs to another tile's core

    fg = nuclei.ravel() != 0
    fg_flat, fg_rows, fg_cols = flat[fg], rows.ravel()[fg], cols.ravel()[fg]
    del rows, cols
    eccentricity = _eccentricity(fg_flat, fg_rows, fg_cols, mean_r, mean_c, safe, n)
    solidity = area / np.maximum(_hull_area(fg_flat, fg_rows, fg_cols, n), 1e-9)
    del fg_flat, fg_rows, fg_cols

    cells = expand_nuclei(compact, grow)
    cell_flat = cells.ravel()
    cell_area = np.bincount(cell_flat, minlength=n).astype(np.float64)
    ring_area = cell_area - area
    table = {
        "cell_id": ids[keep].astype(np.int64),
        "x_um": mean_c[keep] + wx0,
        "y_um": mean_r[keep] + wy0,
        "nucleus_area_um2": area[keep],
        "cell_area_um2": cell_area[keep],
        "eccentricity": eccentricity[keep],
        "solidity": np.minimum(solidity[keep], 1.0),
    }
    ring_px = cell_flat != flat if ring_median else None  # grown pixels, not nucleus
    cell_flat = np.ascontiguousarray(cell_flat, dtype=np.intp)
    # only pixels of a cell add to a kept sum (index 0 is the background when ids[0] == 0)
    in_cell = np.flatnonzero(cell_flat) if ids[0] == 0 else np.arange(cell_flat.size)
    nuc_of, cell_of = flat[in_cell].astype(np.int32), cell_flat[in_cell].astype(np.int32)

    def sums(marker):
        plane = np.ascontiguousarray(image.read(marker, window)).ravel()
        nuc_sum, cell_sum = _label_sums(in_cell, nuc_of, cell_of, plane, n)
        median = None
        if marker in ring_median:
            median = _label_medians(cell_flat[ring_px], plane[ring_px], n)
        return nuc_sum, cell_sum, median

    per_marker = pool.map(sums, channels) if pool is not None else map(sums, channels)
    with np.errstate(invalid="ignore", divide="ignore"):
        for marker, (nuc_sum, cell_sum, median) in zip(channels, per_marker):
            ring = np.where(ring_area > 0, (cell_sum - nuc_sum) / ring_area, np.nan)
            table[f"{marker}_nucleus_mean"] = (nuc_sum / safe)[keep].astype(np.float32)
            cell_mean = cell_sum / np.maximum(cell_area, 1)
            table[f"{marker}_cell_mean"] = cell_mean[keep].astype(np.float32)
            table[f"{marker}_ring_mean"] = ring[keep].astype(np.float32)
            if median is not None:
                table[intensity_column(marker, "ring_median")] = median[keep].astype(np.float32)
    return pd.DataFrame(table), halo


def compact_labels(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct labels of an image and each pixel's index into them.

    ``np.unique(labels, return_inverse=True)``, by a lookup table where the label ids are
    small enough (4x faster than sorting every pixel of a tile).

    Parameters
    ----------
    labels : (Y, X) int array

    Returns
    -------
    ids : (L,) the labels, ascending, ``labels``' dtype; compact : (Y, X) intp, index into ids
    """
    top = int(labels.max()) if labels.size else 0
    if labels.dtype.kind not in "iu" or labels.min(initial=0) < 0 or top > 8 * labels.size:
        ids, compact = np.unique(labels, return_inverse=True)
        return ids, compact.reshape(labels.shape)
    present = np.zeros(top + 1, dtype=bool)
    present[labels] = True
    ids = np.flatnonzero(present).astype(labels.dtype)
    index = np.cumsum(present, dtype=np.intp) - 1
    return ids, index[labels]


@njit(nogil=True, cache=True)
def _label_sums(pixels, nucleus, cell, plane, n):
    """Sums of ``plane`` over each label of ``nucleus`` and of ``cell`` at the flat
    ``pixels`` (pixel order, float64: what two weighted ``np.bincount`` over those pixels
    give), in one pass."""
    nuc_sum = np.zeros(n)
    cell_sum = np.zeros(n)
    for j in range(pixels.size):
        v = np.float64(plane[pixels[j]])
        nuc_sum[nucleus[j]] += v
        cell_sum[cell[j]] += v
    return nuc_sum, cell_sum


def _present(codes, n):
    """The distinct values of ``codes`` (ints in [0, n)), sorted: ``np.unique`` by counting."""
    return np.flatnonzero(np.bincount(codes.ravel(), minlength=n))


def _label_medians(labels, values, n):
    """Median of ``values`` per label ``0..n-1`` (NaN for a label without values)."""
    if values.dtype.kind == "u" and values.dtype.itemsize <= 2:
        # one sort of (label, value) packed into an integer instead of a two-key sort
        bits = 8 * values.dtype.itemsize
        key = np.sort((labels.astype(np.int64) << bits) | values.astype(np.int64))
        labels, values = key >> bits, (key & ((1 << bits) - 1)).astype(np.float64)
    else:
        values = values.astype(np.float64)
        order = np.lexsort((values, labels))
        labels, values = labels[order], values[order]
    counts = np.bincount(labels, minlength=n)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    has = counts > 0
    lo = starts + np.maximum(counts - 1, 0) // 2
    hi = starts + counts // 2
    out = np.full(n, np.nan)
    out[has] = 0.5 * (values[lo[has]] + values[hi[has]])
    return out


def _eccentricity(flat, rows, cols, mean_r, mean_c, area, n):
    """Eccentricity of each label from the central second moments of its pixel centres."""
    dr = rows - mean_r[flat]
    dc = cols - mean_c[flat]
    mrr = np.bincount(flat, dr * dr, n) / area
    mcc = np.bincount(flat, dc * dc, n) / area
    mrc = np.bincount(flat, dr * dc, n) / area
    half_trace = (mrr + mcc) / 2
    root = np.sqrt(((mrr - mcc) / 2) ** 2 + mrc**2)
    major, minor = half_trace + root, half_trace - root
    with np.errstate(invalid="ignore", divide="ignore"):
        ecc = np.sqrt(np.clip(1 - minor / major, 0, 1))
    return np.where(major > 0, ecc, 0.0)


def _hull_area(flat, rows, cols, n):
    """Area (px²) of each label's convex hull of pixel centres grown by half a pixel.

    The support value of a label in direction u is the largest projection of its pixel
    centres plus 0.5; consecutive support lines meet at the vertices of the circumscribed
    polygon, whose area follows from the shoelace formula. Vectorised over labels.
    """
    hull = np.zeros(n)
    if flat.size == 0:
        return hull
    order = np.argsort(flat, kind="stable")
    sorted_labels = flat[order]
    starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
    present = sorted_labels[starts]
    r, c = rows[order], cols[order]
    angles = np.arange(_HULL_DIRECTIONS) * (2 * np.pi / _HULL_DIRECTIONS)
    support = np.empty((present.size, _HULL_DIRECTIONS))
    for k, theta in enumerate(angles):
        ux, uy = np.cos(theta), np.sin(theta)
        projection = c * ux + r * uy
        support[:, k] = np.maximum.reduceat(projection, starts) + 0.5
    # Vertex between support lines k and k+1: solve [ux uy; ux' uy'] p = [h; h'].
    nxt = np.roll(np.arange(_HULL_DIRECTIONS), -1)
    ux, uy = np.cos(angles), np.sin(angles)
    det = ux * uy[nxt] - uy * ux[nxt]
    vx = (support * uy[nxt] - support[:, nxt] * uy) / det
    vy = (ux * support[:, nxt] - ux[nxt] * support) / det
    polygon = 0.5 * np.abs(
        np.sum(vx * np.roll(vy, -1, axis=1) - np.roll(vx, -1, axis=1) * vy, axis=1)
    )
    hull[present] = polygon
    return hull
