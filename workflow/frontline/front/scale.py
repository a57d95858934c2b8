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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from numba import njit
from scipy import ndimage
from scipy.spatial import cKDTree

from .fields import Rasters, closing_depth

SLACK_SD = 2.0  # the ladder's step may add this many Poisson SDs (sqrt of the count) of cells


SPACING_SAMPLE = 100_000  # tumor cells whose nearest neighbour is looked up, at most


def tumor_cell_spacing_um(xy_tumor_um: np.ndarray, workers: int = 1) -> float:
    """Median distance from a tumor cell to its nearest tumor neighbour, µm (NaN for < 2).

    Above ``SPACING_SAMPLE`` cells the median is taken over every k-th cell (k the smallest
    that keeps at most that many; their neighbours are sought among all cells): a whole slide's
    spacing to about 0.2 % (the standard error of a median of 100,000) in a quarter of the
    time.
    """
    xy = np.asarray(xy_tumor_um, dtype=float).reshape(-1, 2)
    if len(xy) < 2:
        return float("nan")
    probes = xy[:: -(-len(xy) // SPACING_SAMPLE)]
    dist, _ = cKDTree(xy).query(probes, k=2, workers=workers)
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
    workers: int = 1,
    rasters: Rasters | None = None,
) -> np.ndarray:
    """Signed field of the closing (radius ``radius_um``) grown by ``offset_um``: >= 0 inside.

    ``rasters``: see :func:`frontline.front.fields.closing_depth`.

    Returns
    -------
    (rows, cols) float array, µm: depth - (radius - offset)
    """
    depth = closing_depth(distance, radius_um, raster_um, pad_px, smoothing_um, workers, rasters)
    depth -= radius_um - offset_um
    return depth


def region_mask(
    field_um: np.ndarray,
    allowed: np.ndarray,
    tissue: np.ndarray,
    cells: Cells,
    min_area_px: int,
    min_stroma_cells: int,
    labels: np.ndarray | None = None,
) -> np.ndarray:
    """The tumor mask of a field: ``field >= 0`` where allowed, small parts dropped, and the
    parts of the tissue outside it holding fewer than ``min_stroma_cells`` other cells added.

    ``labels``: an int32 array of the field's shape to label the parts in (reused), or None.

    Returns
    -------
    (rows, cols) bool array
    """
    if labels is None:
        labels = np.empty(field_um.shape, dtype=np.int32)
    mask = (field_um >= 0) & allowed
    n = ndimage.label(mask, output=labels)
    if n:
        area = _label_sizes(labels, n)
        area[0] = 0
        mask &= (area >= min_area_px)[labels]
    gaps = labels
    n = ndimage.label(tissue & ~mask, output=gaps)
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
    workers: int = 1,
    rasters: Rasters | None = None,
    labels: np.ndarray | None = None,
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
    workers : threads of the raster passes
    rasters : :class:`frontline.front.fields.Rasters` of ``distance``'s shape (the fields of
        the steps not chosen go back to it), or None
    labels : an int32 array of ``allowed``'s shape for the label rasters (reused), or None

    Returns
    -------
    (k, field, steps): the chosen ``k``, its :func:`outline_field`, and per step tried
    ``(k, radius_um, enclosed)``
    """
    rasters = Rasters(distance.shape) if rasters is None else rasters
    labels = np.empty(allowed.shape, dtype=np.int32) if labels is None else labels

    def enclosed_by(field_um):
        mask = region_mask(field_um, allowed, tissue, cells, min_area_px, min_stroma_cells, labels)
        return int(np.count_nonzero(mask[cells.other]))

    def counted(background):
        """(k, radius, field, enclosed) per step; a step's cells are counted in the background
        while the next step's field is traced."""
        pending = None
        for k in ladder:
            radius = float(k) * spacing_um
            field_um = outline_field(
                distance, radius, offset_um, raster_um, pad_px, smoothing_um, workers, rasters
            )
            job = background.submit(enclosed_by, field_um)
            if pending is not None:
                yield *pending[:3], pending[3].result()
            pending = (float(k), radius, field_um, job)
        if pending is not None:
            yield *pending[:3], pending[3].result()

    steps, chosen, previous = [], None, None
    with ThreadPoolExecutor(1) as background:
        ladder_steps = counted(background)
        for k, radius, field_um, enclosed in ladder_steps:
            steps.append((k, radius, enclosed))
            if previous is not None and enclosed > previous * (1.0 + tolerance) + _slack(previous):
                rasters.give(field_um)
                break
            if chosen is not None:
                rasters.give(chosen[1])
            previous, chosen = enclosed, (k, field_um)
        ladder_steps.close()  # a step traced beyond the jump is dropped (its count finishes)
    return chosen[0], chosen[1], steps


def stroma_openings(
    fine: np.ndarray,
    coarse: np.ndarray,
    allowed: np.ndarray,
    cells: Cells,
    min_nest_cells: int,
    min_channel_cells: int,
    min_pocket_cells: int,
    labels: np.ndarray | None = None,
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
    labels : an int32 array of the rasters' shape to label the gaps in (reused), or None

    Returns
    -------
    (rows, cols) bool raster
    """
    inside = coarse >= 0
    gap = (fine < 0) & inside & allowed
    gaps = np.empty(gap.shape, dtype=np.int32) if labels is None else labels
    n_gaps = ndimage.label(gap, output=gaps)
    if n_gaps == 0:
        return gap
    held = np.bincount(gaps[cells.other], minlength=n_gaps + 1)
    nests, n_nests = ndimage.label((fine >= 0) & allowed)
    tumor_cells = np.bincount(nests[cells.tumor], minlength=n_nests + 1)
    big = tumor_cells >= min_nest_cells
    big[0] = False
    # per gap: the big nests it touches (up to 2), and whether it borders (4-neighbours) a
    # pixel outside the chosen outline or the allowed area
    touched, open_to_stroma = _gap_contacts(gaps, n_gaps, nests, big, inside, allowed)
    keep = (touched >= 2) & (held >= min_channel_cells)
    keep |= ~open_to_stroma & (held >= min_pocket_cells)
    keep[0] = False
    return keep[gaps]


@njit(nogil=True, cache=True)
def _label_sizes(labels, n):
    """Pixels per label 0..n of a label raster (``np.bincount`` without its int64 copy)."""
    sizes = np.zeros(n + 1, dtype=np.int64)
    flat = labels.ravel()
    for i in range(flat.size):
        sizes[flat[i]] += 1
    return sizes


@njit(nogil=True, cache=True)
def _gap_contacts(gaps, n_gaps, nests, big, inside, allowed):
    """Per gap label 0..``n_gaps``: how many distinct nest labels with ``big[label]`` touch it
    (8-neighbours, counted up to two: all a channel needs), and whether one of its pixels has
    a 4-neighbour outside ``inside & allowed`` (the gap is open to the stroma)."""
    rows, cols = gaps.shape
    first = np.zeros(n_gaps + 1, dtype=np.int64)
    count = np.zeros(n_gaps + 1, dtype=np.int64)
    open_ = np.zeros(n_gaps + 1, dtype=np.bool_)
    for r in range(rows):
        for c in range(cols):
            g = gaps[r, c]
            if g == 0:
                continue
            for dr in range(-1, 2):
                for dc in range(-1, 2):
                    rr, cc = r + dr, c + dc
                    if (dr == 0 and dc == 0) or rr < 0 or rr >= rows or cc < 0 or cc >= cols:
                        continue
                    if dr == 0 or dc == 0:
                        if not (inside[rr, cc] and allowed[rr, cc]):
                            open_[g] = True
                    t = nests[rr, cc]
                    if count[g] >= 2 or not big[t] or t == first[g]:
                        continue
                    if count[g] == 0:
                        first[g] = t
                        count[g] = 1
                    else:
                        count[g] = 2
    return count, open_


def _slack(count: int) -> float:
    """Counting noise allowed on top of the tolerance: SLACK_SD standard deviations."""
    return SLACK_SD * math.sqrt(max(count, 1))


def pad_for(radius_um: float, raster_um: float) -> int:
    """Padding (pixels) that lets a closing of ``radius_um`` leave the raster uncut."""
    return int(math.ceil(radius_um / raster_um)) + 2
