"""The scale of the tumor outline, from the data: a ladder of closings and the stroma they keep.

Everything here works on rasters (Euclidean distance transforms, connected components and
cell counts per component); only the chosen scale is traced as polygons (:mod:`.tumor`).

1. The spacing ``s`` of the tumor cells is the median distance from a tumor cell to its nearest
   tumor neighbour (7.5-9.6 µm in TNBC MIBI fields, about 8 µm in HALO TMA cores, 13 µm in the
   demo's simulated tumors).
2. Ladder: the outline is the closing of the tumor cells with a disc of radius ``k × s`` for
   ``k`` in ``scale_ladder`` (2, 2.5, 3, 3.5), grown by the edge offset. At each step the parts
   of the tissue outside the outline that hold fewer than ``min_stroma_cells`` non-tumor cells
   are added to it (a lumen, a tear or a cell-free notch is not stroma) and the non-tumor cells
   inside are counted. The chosen ``k`` is the largest before the first step that raises that
   count by more than ``scale_tolerance`` (10 %) plus twice its counting noise (2 √n cells):
   on real tissue a bigger disc starts to close over stroma strands and pockets (their cells
   then count as intratumoral, 17-120 % more per step in HALO and TNBC fields), while on a
   tumor with a smooth edge the count grows little (3-5 % per step, or a few cells of the
   immune pile along an excluded tumor's edge) and the smoothest outline wins.
3. Channels and pockets: the closing at the fine scale ``channel_scale × s`` (1.5) keeps open
   the gaps wider than about three spacings. Where the chosen closing has filled such a gap it
   is given back to the stroma when it is a channel between two nests (it touches two parts of
   the fine outline holding at least ``min_pocket_cells`` tumor cells each, and holds at least
   ``min_stroma_cells`` non-tumor cells where the chosen closing filled it, so a channel the
   chosen closing bridges only at a pinch without cells stays bridged) or an enclosed pocket (it
   touches no stroma outside the chosen outline and holds at least ``min_pocket_cells``
   non-tumor cells: an immune aggregate inside the tumor is not intratumoral). A notch open to
   the stroma is neither and stays closed, so the outline keeps the smoothness of the chosen
   scale elsewhere.

Nests stay separate when the gap between their outermost tumor cells is wider than about
three spacings (roughly 16 µm of tissue at 8 µm spacing); a gap without non-tumor cells is
closed at any scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from .fields import closing_depth

SLACK_SD = 2.0  # the ladder's step may add this many Poisson SDs (sqrt of the count) of cells


def tumor_cell_spacing_um(xy_tumor_um: np.ndarray) -> float:
    """Median distance from a tumor cell to its nearest tumor neighbour, µm (NaN for < 2)."""
    xy = np.asarray(xy_tumor_um, dtype=float).reshape(-1, 2)
    if len(xy) < 2:
        return float("nan")
    dist, _ = cKDTree(xy).query(xy, k=2)
    return float(np.median(dist[:, 1]))


@dataclass
class Scale:
    """The outline's scale and how it was chosen.

    spacing_um : median nearest-neighbour distance of the tumor cells, µm
    closing_um : radius of the chosen closing, µm
    k : closing_um / spacing_um (None when ``closing_um`` was given in the config)
    channel_um : radius of the fine closing that keeps channels and pockets open, µm (None:
        not used, the chosen closing is not wider)
    ladder : per step, (k, closing_um, non-tumor cells inside the outline)
    """

    spacing_um: float
    closing_um: float
    k: float | None
    channel_um: float | None
    ladder: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "tumor_cell_spacing_um": _round(self.spacing_um),
            "closing_um": _round(self.closing_um),
            "closing_spacings": None if self.k is None else float(self.k),
            "channel_um": None if self.channel_um is None else _round(self.channel_um),
            "ladder": [
                {"closing_spacings": float(k), "closing_um": _round(r), "enclosed_cells": int(n)}
                for k, r, n in self.ladder
            ],
        }


def _round(value: float) -> float:
    return round(float(value), 3)


@dataclass
class Cells:
    """Raster pixels of the tumor and the other cells (row and column index arrays)."""

    tumor: tuple[np.ndarray, np.ndarray]
    other: tuple[np.ndarray, np.ndarray]


def outline_field(
    distance: np.ndarray,
    radius_um: float,
    offset_um: float,
    raster_um: float,
    pad_px: int,
    smoothing_um: float,
) -> np.ndarray:
    """Signed field of the closing (radius ``radius_um``) grown by ``offset_um``: >= 0 inside.

    Returns
    -------
    (rows, cols) float array, µm: depth - (radius - offset)
    """
    depth = closing_depth(distance, radius_um, raster_um, pad_px, smoothing_um)
    return depth - (radius_um - offset_um)


def region_mask(
    field_um: np.ndarray,
    allowed: np.ndarray,
    tissue: np.ndarray,
    cells: Cells,
    min_area_px: int,
    min_stroma_cells: int,
) -> np.ndarray:
    """The tumor mask of a field: ``field >= 0`` where allowed, small parts dropped, and the
    parts of the tissue outside it holding fewer than ``min_stroma_cells`` other cells added.

    Returns
    -------
    (rows, cols) bool array
    """
    mask = (field_um >= 0) & allowed
    labels, n = ndimage.label(mask)
    if n:
        area = np.bincount(labels.ravel(), minlength=n + 1)
        area[0] = 0
        mask &= (area >= min_area_px)[labels]
    gaps, n = ndimage.label(tissue & ~mask)
    if n:
        held = np.bincount(gaps[cells.other], minlength=n + 1)
        empty = held < min_stroma_cells
        empty[0] = False
        mask |= empty[gaps]
    return mask


def choose_scale(
    distance: np.ndarray,
    pad_px: int,
    spacing_um: float,
    offset_um: float,
    *,
    ladder: tuple,
    tolerance: float,
    allowed: np.ndarray,
    tissue: np.ndarray,
    cells: Cells,
    raster_um: float,
    smoothing_um: float,
    min_area_px: int,
    min_stroma_cells: int,
) -> tuple[float, np.ndarray, list]:
    """The largest step of the ladder before the count of enclosed non-tumor cells jumps.

    Parameters
    ----------
    distance, pad_px : :func:`frontline.front.fields.point_distance` of the tumor cells
    spacing_um, offset_um : tumor-cell spacing and edge offset, µm
    ladder : closing radii in spacings, increasing
    tolerance : largest relative growth of the enclosed count per step (plus 2 sqrt(n) cells)
    allowed, tissue : bool rasters where tumor may lie / the tissue
    cells : pixels of the cells

    Returns
    -------
    (k, field, steps): the chosen ``k``, its :func:`outline_field`, and per step tried
    ``(k, radius_um, enclosed)``
    """
    steps, chosen, previous = [], None, None
    for k in ladder:
        radius = float(k) * spacing_um
        field_um = outline_field(distance, radius, offset_um, raster_um, pad_px, smoothing_um)
        mask = region_mask(field_um, allowed, tissue, cells, min_area_px, min_stroma_cells)
        enclosed = int(np.count_nonzero(mask[cells.other]))
        steps.append((float(k), radius, enclosed))
        if previous is not None and enclosed > previous * (1.0 + tolerance) + _slack(previous):
            break
        previous, chosen = enclosed, (float(k), field_um)
    return chosen[0], chosen[1], steps


def stroma_openings(
    fine: np.ndarray,
    coarse: np.ndarray,
    allowed: np.ndarray,
    cells: Cells,
    min_nest_cells: int,
    min_channel_cells: int,
    min_pocket_cells: int,
) -> np.ndarray:
    """The gaps of the fine outline that the coarse one filled and that are stroma.

    A channel between two nests: touches two parts of the fine outline with at least
    ``min_nest_cells`` tumor cells each and holds at least ``min_channel_cells`` non-tumor
    cells (where the coarse outline filled it). A pocket: touches no stroma outside the coarse
    outline and holds at least ``min_pocket_cells`` non-tumor cells.

    Parameters
    ----------
    fine, coarse : (rows, cols) :func:`outline_field` of the fine and the chosen closing
    allowed : bool raster where tumor may lie (tissue within the coarse density region)
    cells : pixels of the cells

    Returns
    -------
    (rows, cols) bool raster
    """
    inside = coarse >= 0
    gap = (fine < 0) & inside & allowed
    gaps, n_gaps = ndimage.label(gap)
    if n_gaps == 0:
        return gap
    held = np.bincount(gaps[cells.other], minlength=n_gaps + 1)
    nests, n_nests = ndimage.label((fine >= 0) & allowed)
    tumor_cells = np.bincount(nests[cells.tumor], minlength=n_nests + 1)
    tumor_cells[0] = 0
    big = np.where(tumor_cells >= min_nest_cells, np.arange(n_nests + 1), 0)[nests]
    touched = _touching_labels(gaps, big)  # per gap: number of distinct big nests it touches
    outside = ndimage.binary_dilation(~inside | ~allowed) & gap
    open_to_stroma = np.bincount(gaps[outside], minlength=n_gaps + 1) > 0
    keep = (touched >= 2) & (held >= min_channel_cells)
    keep |= ~open_to_stroma & (held >= min_pocket_cells)
    keep[0] = False
    return keep[gaps]


def _touching_labels(gaps: np.ndarray, nests: np.ndarray) -> np.ndarray:
    """For each gap label, how many distinct non-zero nest labels touch it (8-neighbours)."""
    n_gaps = int(gaps.max())
    pairs = []
    rows, cols = gaps.shape
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr == 0 and dc == 0:
                continue
            g = gaps[max(dr, 0) : rows + min(dr, 0), max(dc, 0) : cols + min(dc, 0)]
            t = nests[max(-dr, 0) : rows + min(-dr, 0), max(-dc, 0) : cols + min(-dc, 0)]
            hit = (g > 0) & (t > 0)
            pairs.append(g[hit].astype(np.int64) * (int(nests.max()) + 1) + t[hit])
    if not pairs:
        return np.zeros(n_gaps + 1, dtype=int)
    unique = np.unique(np.concatenate(pairs))
    return np.bincount(unique // (int(nests.max()) + 1), minlength=n_gaps + 1)


def _slack(count: int) -> float:
    """Counting noise allowed on top of the tolerance: SLACK_SD standard deviations."""
    return SLACK_SD * math.sqrt(max(count, 1))


def pad_for(radius_um: float, raster_um: float) -> int:
    """Padding (pixels) that lets a closing of ``radius_um`` leave the raster uncut."""
    return int(math.ceil(radius_um / raster_um)) + 2
