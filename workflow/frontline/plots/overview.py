"""The sample at a glance: pseudo-colour composite of a downsampled overview, cells by phenotype,
tumor outline and invasive front, axes in µm (:func:`overview_figure`); without an image (a
cell-table sample), the cells alone on a dark field (:func:`cells_figure`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from .common import composite, draw_regions

if TYPE_CHECKING:
    import pandas as pd
    from shapely.geometry.base import BaseGeometry

log = logging.getLogger(__name__)


def overview_figure(
    image: np.ndarray,
    channels: Sequence[str],
    factor: float,
    pixel_size_um: float,
    cells: pd.DataFrame | None = None,
    tumor: BaseGeometry | None = None,
    front: BaseGeometry | None = None,
    title: str | None = None,
    composite_channels: Sequence[str] | None = None,
    max_points: int = 200_000,
    seed: int = 0,
) -> Figure:
    """The sample at a glance: a pseudo-colour composite and the cells by phenotype, with the
    tumor outline and the invasive front on both, axes in µm.

    Parameters
    ----------
    image : (C, h, w) array, a downsampled overview (``frontline.io`` ``img.overview()``)
    channels : list of C str, channel names
    factor : float, full-resolution pixels per overview pixel
    pixel_size_um : float, µm per full-resolution pixel
    cells : DataFrame with ``x_um``, ``y_um``, ``phenotype`` (µm), or None
    tumor : shapely (Multi)Polygon in µm, or None
    front : shapely (Multi)LineString in µm, or None
    title : str, the figure title
    composite_channels : channel names for the composite (default: all, DAPI dimmed)
    max_points : at most this many cells are drawn (a seeded random subset beyond it)

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.lines import Line2D

    from ..colours import channel_colours

    channels = list(channels)
    image = np.asarray(image)
    height_um = image.shape[1] * factor * pixel_size_um
    width_um = image.shape[2] * factor * pixel_size_um
    extent = (0.0, width_um, height_um, 0.0)
    shown = [c for c in (composite_channels or channels) if c in channels]
    tints = channel_colours(shown)
    weights = {c: (0.6 if c.upper() == "DAPI" else 1.0) for c in shown}
    rgb = composite(
        image[[channels.index(c) for c in shown]],
        [tuple(weights[c] * v for v in tints[c]) for c in shown],
    )

    aspect = height_um / width_um if width_um else 1.0
    fig = Figure(figsize=(13.5, max(4.0, 6.2 * aspect + 1.4)), layout="constrained")
    left, right = fig.subplots(1, 2, sharex=True, sharey=True)

    left.imshow(rgb, extent=extent, interpolation="antialiased")
    drew_front = draw_regions(left, tumor, front)
    left.set_title("pseudo-colour composite")
    handles = [
        Line2D([], [], marker="s", ls="", color=tints[c], markersize=8, label=c) for c in shown
    ]
    fig.legend(
        handles=handles,
        loc="outside lower left",
        ncol=min(4, len(shown)),
        frameon=False,
        fontsize=9,
        title="channels (left)",
        title_fontsize=9,
    )

    dapi = next((i for i, c in enumerate(channels) if c.upper() == "DAPI"), 0)
    grey = composite(image[[dapi]], [(0.35, 0.35, 0.35)], percentiles=(1.0, 99.8))
    right.imshow(grey, extent=extent, interpolation="antialiased")
    handles = draw_cells(right, cells, max_points, seed)
    draw_regions(right, tumor, front)
    right.set_title("cells by phenotype" + (f" (n = {len(cells):,})" if cells is not None else ""))
    _region_legend(fig, handles, drew_front, tumor, "phenotypes (right)")
    for ax in (left, right):
        ax.set_xlim(0, width_um)
        ax.set_ylim(height_um, 0)
        ax.set_xlabel("x (µm)")
        ax.set_aspect("equal")
    left.set_ylabel("y (µm)")
    if title:
        fig.suptitle(title, fontsize=13)
    return fig


def cells_figure(
    cells: pd.DataFrame,
    extent_um: tuple[float, float],
    tumor: BaseGeometry | None = None,
    front: BaseGeometry | None = None,
    title: str | None = None,
    max_points: int = 200_000,
    seed: int = 0,
) -> Figure:
    """The sample at a glance without an image (a cell-table sample): its cells by phenotype
    on a dark field, with the tumor outline and the invasive front, axes in µm.

    Parameters
    ----------
    cells : DataFrame with ``x_um``, ``y_um``, ``phenotype`` (µm)
    extent_um : (width_um, height_um) of the field (``Regions.extent_um``)
    tumor : shapely (Multi)Polygon in µm, or None
    front : shapely (Multi)LineString in µm, or None
    title : str, the figure title
    max_points : at most this many cells are drawn (a seeded random subset beyond it)

    Returns
    -------
    matplotlib.figure.Figure
    """
    width_um, height_um = (float(v) for v in extent_um)
    aspect = height_um / width_um if width_um else 1.0
    fig = Figure(figsize=(8.0, max(4.0, 6.6 * aspect + 1.6)), layout="constrained")
    ax = fig.subplots()
    ax.set_facecolor("0.12")
    handles = draw_cells(ax, cells, max_points, seed)
    drew_front = draw_regions(ax, tumor, front)
    ax.set_title(f"cells by phenotype (n = {len(cells):,}; from the cell table)")
    _region_legend(fig, handles, drew_front, tumor, "phenotypes")
    ax.set_xlim(0, width_um)
    ax.set_ylim(height_um, 0)
    ax.set_xlabel("x (µm)")
    ax.set_ylabel("y (µm)")
    ax.set_aspect("equal")
    if title:
        fig.suptitle(title, fontsize=13)
    return fig


def draw_cells(ax, cells, max_points: int = 200_000, seed: int = 0) -> list:
    """Cells as dots coloured by phenotype on ``ax`` (common types first, so that rare immune
    cells are drawn on top); returns the legend handles, one per phenotype with its count."""
    import pandas as pd
    from matplotlib.lines import Line2D

    from ..colours import phenotype_colours_float

    handles = []
    if cells is None or not len(cells):
        return handles
    shown = cells if len(cells) <= max_points else cells.sample(max_points, random_state=seed)
    names = list(pd.unique(cells["phenotype"].astype(str)))
    colours = phenotype_colours_float(names)
    counts = cells["phenotype"].astype(str).value_counts()
    names.sort(key=lambda n: -counts.get(n, 0))
    size = float(np.clip(3e4 / max(len(shown), 1), 0.5, 9.0))
    phen = shown["phenotype"].astype(str)
    for name in names:
        sel = phen == name
        ax.scatter(
            shown.loc[sel, "x_um"],
            shown.loc[sel, "y_um"],
            s=size,
            color=colours[name],
            linewidths=0,
            rasterized=True,
        )
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                ls="",
                color=colours[name],
                markersize=6,
                label=f"{name} ({counts.get(name, 0):,})",
            )
        )
    return handles


def _region_legend(fig, handles, drew_front, tumor, title):
    from matplotlib.lines import Line2D

    handles = list(handles)
    if drew_front:
        handles.append(Line2D([], [], color="#ffd000", lw=2.2, label="invasive front"))
    if tumor is not None and not tumor.is_empty:
        handles.append(Line2D([], [], color="0.4", lw=0.8, ls=(0, (3, 2)), label="tumor outline"))
    if handles:
        fig.legend(
            handles=handles,
            loc="outside lower right",
            ncol=3,
            frameon=False,
            fontsize=9,
            title=title,
            title_fontsize=9,
        )
