"""The field a cell-table sample covers, from its cells alone (there is no image to say)."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

_SPACING_SAMPLE = 100_000  # cells whose nearest-neighbour distances estimate the spacing


def cell_spacing_um(xy_um: np.ndarray, seed: int = 0) -> float:
    """Median distance from a cell to its nearest neighbour, µm (0 for fewer than two cells).

    Parameters
    ----------
    xy_um : (N, 2) float array, µm; at most 100,000 cells (seeded subset) are measured
    """
    xy_um = np.asarray(xy_um, dtype=float).reshape(-1, 2)
    if len(xy_um) < 2:
        return 0.0
    query = xy_um
    if len(xy_um) > _SPACING_SAMPLE:
        query = xy_um[np.random.default_rng(seed).choice(len(xy_um), _SPACING_SAMPLE, False)]
    distances, _ = cKDTree(xy_um).query(query, k=2)
    return float(np.median(distances[:, 1]))


def field_extent_um(xy_um: np.ndarray) -> tuple[float, float]:
    """(width_um, height_um) of the field of a table sample.

    The field starts at the table's origin (0, 0), as an image does, and ends one cell
    spacing (:func:`cell_spacing_um`) beyond the farthest cell in x and in y: where tissue
    fills the field, its outermost cells lie about that far inside the field's edge (half a
    spacing to their own edge, half to the border). The tissue, tumor and front are found in
    this field as in an image's; the tissue (the closing of all cells) is what bounds the
    statistics, so a field a little too large only adds empty slide.

    Parameters
    ----------
    xy_um : (N, 2) float array, µm, N >= 1

    Returns
    -------
    (width_um, height_um)
    """
    xy_um = np.asarray(xy_um, dtype=float).reshape(-1, 2)
    pad = max(cell_spacing_um(xy_um), 1.0)
    return float(xy_um[:, 0].max() + pad), float(xy_um[:, 1].max() + pad)
