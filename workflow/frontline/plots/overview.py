"""The sample at a glance: pseudo-colour composite of a downsampled overview, cells by phenotype,
the tumor region shaded with its nests outlined, the invasive front, axes in µm; the immune
call with its numbers in the title (:func:`overview_figure`); without an image (a cell-table
sample), the cells alone on a dark field (:func:`cells_figure`).

The composite shows the channels a person reads the sample by (:func:`overview_channels`): the
nuclear channel, the tumor marker and a few immune markers, each in its own colour, not every
channel of a 40-marker panel.
"""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from ..errors import FrontlineInputError
from .common import FRONT_COLOUR, NEST_OUTLINE, TUMOR_SHADE, composite, draw_regions

if TYPE_CHECKING:
    import pandas as pd
    from shapely.geometry.base import BaseGeometry

log = logging.getLogger(__name__)

MAX_COMPOSITE_CHANNELS = 6
TITLE_WIDTH = 110  # characters per line of the title
CELLS_TITLE_WIDTH = 70  # the same for the one-panel figure of a cell table
NUCLEAR_COLOUR = (0.15, 0.35, 1.0)
TUMOR_COLOUR = (0.1, 0.9, 0.2)
MARKER_COLOURS = [  # immune markers: hues apart from the nuclear blue and the tumor green
    (1.0, 0.1, 0.1),
    (1.0, 0.85, 0.0),
    (1.0, 0.0, 1.0),
    (0.0, 0.9, 0.9),
    (1.0, 0.5, 0.0),
    (1.0, 1.0, 1.0),
]


def overview_channels(
    channels: Sequence[str],
    *,
    nuclear_channel: str | None = None,
    phenotypes: Mapping[str, Mapping] | None = None,
    tumor_phenotype: str | None = None,
    chosen: Sequence[str] | None = None,
    max_channels: int = MAX_COMPOSITE_CHANNELS,
    sample: str | None = None,
) -> dict[str, tuple[float, float, float]]:
    """The composite's channels and their colours.

    ``chosen`` (the config's ``report: overview_channels``) names them; otherwise: the nuclear
    channel, the markers the tumor phenotype is positive for, then the positive markers of the
    other phenotypes in the table's order, up to ``max_channels`` (without a phenotype table:
    the nuclear channel, then the others in file order). The nuclear channel is blue,
    tumor markers green, the others in distinct hues.

    Parameters
    ----------
    channels : the image's channel names
    nuclear_channel, tumor_phenotype : names (the config's)
    phenotypes : the config's ``phenotyping: phenotypes`` table
    chosen : channel names, or None
    sample : for messages

    Returns
    -------
    dict channel -> (r, g, b) floats 0-1, in drawing order

    Raises
    ------
    FrontlineInputError
        when ``chosen`` names a channel the image lacks
    """
    channels = list(channels)
    phenotypes = dict(phenotypes or {})
    tumor_markers = list((phenotypes.get(tumor_phenotype) or {}).get("positive", []))
    if chosen:
        missing = [c for c in chosen if c not in channels]
        if missing:
            raise FrontlineInputError(
                f"report: overview_channels names {missing}, not channels of the image",
                sample=sample,
                fix=f"choose among {channels}, or set overview_channels: null",
            )
        names = list(chosen)
    else:
        wanted = [nuclear_channel, *tumor_markers]
        for name, spec in phenotypes.items():
            if name != tumor_phenotype:
                wanted.extend((spec or {}).get("positive", []))
        if not phenotypes:
            wanted.extend(channels)
        names = []
        for c in wanted:
            if c in channels and c not in names:
                names.append(c)
        names = names[:max_channels]
    colours, extra = {}, 0
    for c in names:
        if c == nuclear_channel:
            colours[c] = NUCLEAR_COLOUR
        elif c in tumor_markers:
            colours[c] = TUMOR_COLOUR
        else:
            colours[c] = MARKER_COLOURS[extra % len(MARKER_COLOURS)]
            extra += 1
    return colours


def call_title(sample: str, summary: Mapping) -> str:
    """The figure title: the sample, its immune call and the numbers the call rests on."""
    call = summary.get("phenotype_call")
    name = summary.get("call_phenotype")
    if call in ("no_front", "not_computable") or summary.get("call_fraction_infiltrating") is None:
        reason = textwrap.fill(f"({summary.get('phenotype_call_reason')})", TITLE_WIDTH)
        return f"{sample}: {call}\n{reason}"
    share = summary["call_fraction_infiltrating"]
    threshold = summary.get("call_inflamed_min_fraction")
    d_tumor = summary.get("call_density_per_mm2_tumor") or 0.0
    d_margin = summary.get("call_density_per_mm2_outer_margin") or 0.0
    confidence = summary.get("phenotype_call_confidence")
    return (
        f"{sample}: {call}"
        + (f" ({confidence} confidence)" if confidence else "")
        + f"\n{name}: {share:.0%} infiltrating (inflamed from {threshold:.0%}), "
        f"{d_tumor:.0f}/mm² in the tumor, {d_margin:.0f}/mm² in the outer margin "
        f"(desert below {summary.get('call_desert_max_per_mm2'):g}), "
        f"n = {summary.get('call_n_cells')}"
    )


def overview_figure(
    image: np.ndarray,
    channels: Sequence[str],
    factor: float,
    pixel_size_um: float,
    cells: pd.DataFrame | None = None,
    tumor: BaseGeometry | None = None,
    front: BaseGeometry | None = None,
    title: str | None = None,
    composite_channels: Mapping[str, tuple] | Sequence[str] | None = None,
    max_points: int = 200_000,
    seed: int = 0,
) -> Figure:
    """The sample at a glance: a pseudo-colour composite and the cells by phenotype, with the
    tumor region shaded, its nests outlined and the invasive front on both, axes in µm.

    Parameters
    ----------
    image : (C, h, w) array, a downsampled overview (``frontline.io`` ``img.overview()``)
    channels : list of C str, channel names
    factor : float, full-resolution pixels per overview pixel
    pixel_size_um : float, µm per full-resolution pixel
    cells : DataFrame with ``x_um``, ``y_um``, ``phenotype`` (µm), or None
    tumor : shapely (Multi)Polygon in µm, or None
    front : shapely (Multi)LineString in µm, or None
    title : str, the figure title (:func:`call_title`)
    composite_channels : channel -> colour (:func:`overview_channels`), or channel names
        (colours from :func:`frontline.colours.channel_colours`), or None for
        :func:`overview_channels` of the image's channels
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
    if composite_channels is None:
        tints = overview_channels(channels, nuclear_channel="DAPI")
    elif isinstance(composite_channels, Mapping):
        tints = {c: v for c, v in composite_channels.items() if c in channels}
    else:
        tints = channel_colours([c for c in composite_channels if c in channels])
    shown = list(tints)
    # the nuclear channel dimmed, so that the markers read on top of it
    weights = [0.6 if tints[c] == NUCLEAR_COLOUR or c.upper() == "DAPI" else 1.0 for c in shown]
    rgb = composite(
        image[[channels.index(c) for c in shown]],
        [tuple(w * v for v in tints[c]) for w, c in zip(weights, shown)],
    )

    aspect = height_um / width_um if width_um else 1.0
    fig = Figure(figsize=(13.5, max(4.0, 6.2 * aspect + 1.6)), layout="constrained")
    left, right = fig.subplots(1, 2, sharex=True, sharey=True)

    left.imshow(rgb, extent=extent, interpolation="antialiased")
    drew_front = draw_regions(left, tumor, front, shade_alpha=0.12)
    left.set_title(f"pseudo-colour composite ({len(shown)} of {len(channels)} channels)")
    handles = [
        Line2D([], [], marker="s", ls="", color=tints[c], markersize=8, label=c) for c in shown
    ]
    fig.legend(
        handles=handles,
        loc="outside lower left",
        ncol=min(3, len(shown)),
        frameon=False,
        fontsize=9,
        title="channels (left)",
        title_fontsize=9,
    )

    nuclear = next((c for c, v in tints.items() if v == NUCLEAR_COLOUR), None)
    dapi = channels.index(nuclear) if nuclear else 0
    grey = composite(image[[dapi]], [(0.35, 0.35, 0.35)], percentiles=(1.0, 99.8))
    right.imshow(grey, extent=extent, interpolation="antialiased")
    handles = draw_cells(right, cells, max_points, seed)
    draw_regions(right, tumor, front, outline="0.25")
    right.set_title("cells by phenotype" + (f" (n = {len(cells):,})" if cells is not None else ""))
    _region_legend(fig, handles, drew_front, tumor, "phenotypes and regions (right)")
    for ax in (left, right):
        ax.set_xlim(0, width_um)
        ax.set_ylim(height_um, 0)
        ax.set_xlabel("x (µm)")
        ax.set_aspect("equal")
    left.set_ylabel("y (µm)")
    if title:
        fig.suptitle(title, fontsize=12)
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
        # one panel, not two: the title's lines wrapped to its width
        lines = [textwrap.fill(line, CELLS_TITLE_WIDTH) for line in title.split("\n")]
        fig.suptitle("\n".join(lines), fontsize=12)
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
    """The legend of the cells panel: phenotypes with their counts, the tumor's nests, the
    front."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = list(handles)
    if tumor is not None and not tumor.is_empty:
        n_nests = len(getattr(tumor, "geoms", [tumor]))
        handles.append(
            Patch(
                facecolor=TUMOR_SHADE,
                alpha=0.35,
                edgecolor=NEST_OUTLINE,
                label=f"tumor ({n_nests:,} nest{'s' if n_nests != 1 else ''})",
            )
        )
    if drew_front:
        handles.append(Line2D([], [], color=FRONT_COLOUR, lw=2.2, label="invasive front"))
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
