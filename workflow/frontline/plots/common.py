"""Pieces shared by the figures: pseudo-colour composites, regions drawn on axes, scale bars."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

log = logging.getLogger(__name__)


def nice_length(length):
    """The largest of 1, 2, 5 x 10^k not above ``length``."""
    if length <= 0:
        return 1.0
    power = 10 ** np.floor(np.log10(length))
    for step in (5, 2, 1):
        if step * power <= length:
            return float(step * power)
    return float(power)


def composite(
    image: np.ndarray,
    colours: Sequence[Sequence[float]],
    percentiles: tuple[float, float] = (50.0, 99.8),
) -> np.ndarray:
    """A pseudo-colour RGB image from several channels: each channel stretched between its
    percentiles, tinted with its colour, and the tints added. The default low percentile,
    the median, is the background of a sparse marker, so background stays black.

    Parameters
    ----------
    image : (C, h, w) array
    colours : list of C (r, g, b) floats 0-1
    percentiles : (low, high) of each channel mapped to 0 and 1

    Returns
    -------
    (h, w, 3) float array in 0..1
    """
    image = np.asarray(image, dtype=np.float32)
    rgb = np.zeros(image.shape[1:] + (3,), np.float32)
    for plane, colour in zip(image, colours):
        lo, hi = np.percentile(plane, percentiles)
        scaled = np.clip((plane - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(plane)
        rgb += scaled[..., None] * np.asarray(colour, np.float32)
    return np.clip(rgb, 0, 1)


TUMOR_SHADE = "#ff5a5a"  # the tumor region's fill (translucent) and its nests' outlines
NEST_OUTLINE = "white"
FRONT_COLOUR = "#ffd000"


def polygon_patch(poly, **kwargs):
    """A matplotlib patch of a shapely Polygon with its holes (µm)."""
    import shapely
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path

    vertices, codes = [], []
    for ring in [poly.exterior, *poly.interiors]:
        xy = shapely.get_coordinates(ring)
        vertices.append(xy)
        codes.append([Path.MOVETO] + [Path.LINETO] * (len(xy) - 2) + [Path.CLOSEPOLY])
    return PathPatch(Path(np.concatenate(vertices), np.concatenate(codes)), **kwargs)


def draw_regions(ax, tumor, front, shade_alpha=0.18, outline=NEST_OUTLINE):
    """The tumor region shaded (so the side of the front shows), each nest outlined, and the
    invasive front (thick) of µm geometries on ``ax``; returns whether a front was drawn."""
    import shapely

    drew_front = False
    if tumor is not None and not tumor.is_empty:
        for poly in shapely.get_parts(tumor):
            if poly.geom_type != "Polygon" or poly.is_empty:
                continue
            ax.add_patch(polygon_patch(poly, facecolor=TUMOR_SHADE, alpha=shade_alpha, lw=0))
            for ring in shapely.get_rings(poly):
                xy = shapely.get_coordinates(ring)
                ax.plot(xy[:, 0], xy[:, 1], color=outline, lw=0.7, alpha=0.9)
    if front is not None and not front.is_empty:
        for line in shapely.get_parts(front):
            xy = shapely.get_coordinates(line)
            ax.plot(xy[:, 0], xy[:, 1], color=FRONT_COLOUR, lw=2.2, solid_capstyle="round")
            drew_front = True
    return drew_front
