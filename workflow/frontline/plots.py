"""Figures. Each function builds and returns a matplotlib Figure; the caller saves it.

Gating QC (:func:`gating_figure`): for one marker, the histogram of per-cell intensities on
the arcsinh scale used for auto gating, with the gate, next to an image crop with the
positive cells outlined, so a person can judge a gate at a glance and copy a better number
into ``phenotyping: gates:``.

Report figures: :func:`overview_figure` (the sample at a glance: pseudo-colour composite of
a downsampled overview, cells by phenotype, tumor outline and invasive front, axes in µm) and
:func:`cohort_figure` (immune densities per region, samples side by side, call annotated).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure
from numpy.typing import ArrayLike
from skimage.segmentation import find_boundaries

if TYPE_CHECKING:
    import pandas as pd
    from shapely.geometry.base import BaseGeometry

log = logging.getLogger(__name__)


def crop_window(
    x_um: ArrayLike,
    y_um: ArrayLike,
    positive: ArrayLike,
    pixel_size_um: float,
    shape: Sequence[int],
    size_px: int = 400,
) -> tuple[int, int, int, int]:
    """A square window showing many positive cells among others.

    Parameters
    ----------
    x_um, y_um : (N,) float arrays, cell centroids in µm
    positive : (N,) bool array
    pixel_size_um : float, µm per pixel
    shape : (Y, X) image size in pixels
    size_px : int, window edge in pixels (clipped to the image)

    Returns
    -------
    (y0, y1, x0, x1) in pixels: the window, on a grid of half-windows, with the most
    positive cells (the most cells when none is positive). Linear in the number of cells.
    """
    height, width = (int(s) for s in shape)
    size_y, size_x = min(int(size_px), height), min(int(size_px), width)
    step_y, step_x = max(size_y // 2, 1), max(size_x // 2, 1)
    col = np.asarray(x_um, float) / pixel_size_um
    row = np.asarray(y_um, float) / pixel_size_um
    weight = np.asarray(positive, bool)
    if not weight.any():
        weight = np.ones(col.shape, bool)
    n_y, n_x = -(-height // step_y), -(-width // step_x)
    counts = np.zeros((n_y + 1, n_x + 1))
    by = np.clip((row[weight] // step_y).astype(int), 0, n_y - 1)
    bx = np.clip((col[weight] // step_x).astype(int), 0, n_x - 1)
    np.add.at(counts, (by, bx), 1)
    # a window starting at bin (i, j) covers bins i..i+1, j..j+1
    windows = counts[:-1, :-1] + counts[1:, :-1] + counts[:-1, 1:] + counts[1:, 1:]
    i, j = np.unravel_index(int(np.argmax(windows)), windows.shape)
    y0 = min(i * step_y, height - size_y)
    x0 = min(j * step_x, width - size_x)
    return (int(y0), int(y0 + size_y), int(x0), int(x0 + size_x))


def gating_figure(
    values: ArrayLike,
    gate: float,
    *,
    marker: str,
    compartment: str,
    method: str,
    confidence: float,
    cofactor: float,
    crop: np.ndarray | None = None,
    cell_labels: np.ndarray | None = None,
    positive_ids: Iterable[int] = (),
    pixel_size_um: float | None = None,
) -> Figure:
    """Histogram with the gate, and a crop with the positive cells outlined.

    Parameters
    ----------
    values : (N,) float array, per-cell mean intensity in the gated compartment
    gate : float, the gate in the same units (NaN: undefined, no line drawn)
    marker, compartment, method : str, for the titles
    confidence : float 0..1
    cofactor : float, the arcsinh cofactor (x axis is arcsinh(value / cofactor))
    crop : (h, w) array of the marker channel, or None for the histogram alone
    cell_labels : (h, w) int array of cell labels on the same window
    positive_ids : iterable of int, labels of the positive cells
    pixel_size_um : float, µm per pixel, for the scale bar

    Returns
    -------
    matplotlib.figure.Figure
    """
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    scale = cofactor if np.isfinite(cofactor) and cofactor > 0 else 1.0
    fig = Figure(figsize=(10, 4.5) if crop is not None else (5.5, 4.5), dpi=110)
    ax = fig.add_subplot(1, 2 if crop is not None else 1, 1)
    z = np.arcsinh(values / scale)
    if z.size:
        ax.hist(z, bins=min(120, max(10, z.size // 20)), color="0.45")
    positive_n = int(np.sum(values > gate)) if np.isfinite(gate) else 0
    if np.isfinite(gate):
        ax.axvline(
            np.arcsinh(gate / scale),
            color="crimson",
            lw=1.5,
            label=f"gate {gate:.4g} ({positive_n}/{values.size} positive)",
        )
        ax.legend(loc="upper right", fontsize=8, frameon=False)
    ax.set_yscale("symlog", linthresh=10)
    ax.set_xlabel(f"arcsinh({marker} {compartment} mean / {scale:.3g})")
    ax.set_ylabel("cells")
    state = (
        "gate undefined (constant marker)"
        if method == "undefined"
        else f"{method}, confidence {confidence:.2f}"
    )
    ax.set_title(f"{marker}: {state}", fontsize=10)
    if crop is not None:
        _crop_panel(
            fig.add_subplot(1, 2, 2), crop, cell_labels, positive_ids, pixel_size_um, marker
        )
    fig.tight_layout()
    return fig


def gating_figures(
    cells: pd.DataFrame,
    phenotypes: pd.DataFrame,
    gates: pd.DataFrame,
    image: Any,
    labels: Any,
    cell_expansion_um: float,
    crop_um: float = 150.0,
) -> Iterator[tuple[str, Figure]]:
    """The :func:`gating_figure` of every gated marker, with a crop of the image around many
    positive cells.

    Parameters
    ----------
    cells : DataFrame from :func:`frontline.measure.measure_cells` (µm)
    phenotypes, gates : from :func:`frontline.phenotype.phenotype_cells`
    image : open image reader (:func:`frontline.io.open_image`): ``read(channel, window)``,
        ``shape``, ``pixel_size_um``
    labels : open nuclei label reader (:func:`frontline.io.open_labels`): ``read(window)``
    cell_expansion_um : µm the nuclei are grown by to make the cells (config
        ``measure: cell_expansion_um``)
    crop_um : edge of the crop, µm

    Yields
    ------
    (marker, matplotlib.figure.Figure), one per row of ``gates``
    """
    from .gating import compartment_values
    from .measure import expand_nuclei, expansion_px

    size_px = int(round(crop_um / image.pixel_size_um))
    grow = expansion_px(cell_expansion_um, image.pixel_size_um)
    for row in gates.itertuples():
        positive = phenotypes[f"{row.marker}_positive"].to_numpy(bool)
        window = crop_window(
            cells["x_um"], cells["y_um"], positive, image.pixel_size_um, image.shape, size_px
        )
        yield (
            row.marker,
            gating_figure(
                compartment_values(cells, row.marker, row.compartment),
                row.gate,
                marker=row.marker,
                compartment=row.compartment,
                method=row.method,
                confidence=row.confidence,
                cofactor=row.cofactor,
                crop=image.read(row.marker, window),
                cell_labels=expand_nuclei(labels.read(window), grow),
                positive_ids=cells["cell_id"].to_numpy()[positive].astype(np.int64),
                pixel_size_um=image.pixel_size_um,
            ),
        )


def _crop_panel(ax, crop, cell_labels, positive_ids, pixel_size_um, marker):
    crop = np.asarray(crop, float)
    lo, hi = np.percentile(crop, [1, 99.5]) if crop.size else (0, 1)
    shown = np.clip((crop - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
    rgb = np.stack([shown] * 3, axis=-1)
    if cell_labels is not None:
        cell_labels = np.asarray(cell_labels)
        edges = find_boundaries(cell_labels, mode="inner")
        is_pos = np.isin(cell_labels, np.asarray(list(positive_ids), dtype=cell_labels.dtype))
        rgb[edges & ~is_pos] = 0.6 * rgb[edges & ~is_pos] + 0.4 * np.array([0.3, 0.5, 1.0])
        rgb[edges & is_pos] = (1.0, 0.15, 0.15)
    ax.imshow(rgb, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{marker}: positive cells red, others blue", fontsize=10)
    if pixel_size_um:
        bar_um = _nice_length(0.25 * crop.shape[1] * pixel_size_um)
        bar_px = bar_um / pixel_size_um
        y, x = crop.shape[0] * 0.95, crop.shape[1] * 0.05
        ax.plot([x, x + bar_px], [y, y], color="white", lw=3)
        ax.text(
            x, y - crop.shape[0] * 0.03, f"{bar_um:g} µm", color="white", fontsize=8, va="bottom"
        )


def _nice_length(length):
    """The largest of 1, 2, 5 x 10^k not above ``length``."""
    if length <= 0:
        return 1.0
    power = 10 ** np.floor(np.log10(length))
    for step in (5, 2, 1):
        if step * power <= length:
            return float(step * power)
    return float(power)


# --------------------------------------------------------------------------- report: overview


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


def _draw_regions(ax, tumor, front):
    """Tumor outline (thin) and invasive front (thick) of µm geometries on ``ax``."""
    import shapely

    drew_front = False
    if tumor is not None and not tumor.is_empty:
        for ring in shapely.get_rings(shapely.get_parts(tumor)):
            xy = shapely.get_coordinates(ring)
            ax.plot(xy[:, 0], xy[:, 1], color="white", lw=0.8, ls=(0, (3, 2)), alpha=0.9)
    if front is not None and not front.is_empty:
        for line in shapely.get_parts(front):
            xy = shapely.get_coordinates(line)
            ax.plot(xy[:, 0], xy[:, 1], color="#ffd000", lw=2.2, solid_capstyle="round")
            drew_front = True
    return drew_front


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
    import pandas as pd
    from matplotlib.lines import Line2D

    from .colours import channel_colours, phenotype_colours_float

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
    drew_front = _draw_regions(left, tumor, front)
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
    handles = []
    if cells is not None and len(cells):
        shown_cells = cells
        if len(cells) > max_points:
            shown_cells = cells.sample(max_points, random_state=seed)
        names = list(pd.unique(cells["phenotype"].astype(str)))
        colours = phenotype_colours_float(names)
        counts = cells["phenotype"].astype(str).value_counts()
        # common types first so that rare immune cells are drawn on top
        names.sort(key=lambda n: -counts.get(n, 0))
        size = float(np.clip(3e4 / max(len(shown_cells), 1), 0.5, 9.0))
        phen = shown_cells["phenotype"].astype(str)
        for name in names:
            sel = phen == name
            right.scatter(
                shown_cells.loc[sel, "x_um"],
                shown_cells.loc[sel, "y_um"],
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
    _draw_regions(right, tumor, front)
    right.set_title("cells by phenotype" + (f" (n = {len(cells):,})" if cells is not None else ""))
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
            title="phenotypes (right)",
            title_fontsize=9,
        )
    for ax in (left, right):
        ax.set_xlim(0, width_um)
        ax.set_ylim(height_um, 0)
        ax.set_xlabel("x (µm)")
        ax.set_aspect("equal")
    left.set_ylabel("y (µm)")
    if title:
        fig.suptitle(title, fontsize=13)
    return fig


# --------------------------------------------------------------------------- report: cohort

REGION_ORDER = ("tumor_core", "inner_margin", "outer_margin", "stroma")
REGION_COLOURS = {
    "tumor_core": "#8c1c13",
    "inner_margin": "#e0663d",
    "outer_margin": "#6aaed6",
    "stroma": "#1f4e8c",
}
CALL_COLOURS = {
    "inflamed": "#c0392b",
    "excluded": "#d68910",
    "desert": "#7f8c8d",
    "no_front": "#5d6d7e",
}


def cohort_figure(
    densities: pd.DataFrame,
    calls: Mapping[str, str] | None = None,
    types: Sequence[str] | None = None,
    regions: Sequence[str] = REGION_ORDER,
) -> Figure:
    """Immune cell densities per region, one panel per immune type, samples side by side.

    Parameters
    ----------
    densities : DataFrame ``sample, phenotype, region, density_per_mm2`` (cells per mm² of
        tissue; ``frontline.cohort.density_long``)
    calls : dict sample -> immune phenotype call (written under the sample's name)
    types : phenotypes to show, one panel each (default: every phenotype in the table)
    regions : region order (bar order within a sample, left to right = tumor to stroma)

    Returns
    -------
    matplotlib.figure.Figure
    """
    import pandas as pd

    calls = calls or {}
    samples = list(pd.unique(densities["sample"]))
    types = list(types) if types is not None else list(pd.unique(densities["phenotype"]))
    regions = [r for r in regions if r in set(densities["region"])] or list(
        pd.unique(densities["region"])
    )
    ncols = min(3, max(1, len(types)))
    nrows = int(np.ceil(len(types) / ncols)) if types else 1
    width = max(4.2, 0.55 * len(samples) * len(regions) / 2 + 1.5)
    fig = Figure(figsize=(min(ncols * width, 22), 3.6 * nrows + 0.9), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    table = densities.set_index(["sample", "phenotype", "region"])["density_per_mm2"]
    bar = 0.8 / max(len(regions), 1)
    x = np.arange(len(samples))
    for ax, name in zip(axes, types):
        for j, region in enumerate(regions):
            values = [table.get((s, name, region), np.nan) for s in samples]
            ax.bar(
                x - 0.4 + bar * (j + 0.5),
                np.nan_to_num(np.asarray(values, float)),
                bar,
                color=REGION_COLOURS.get(region, f"C{j}"),
                label=region.replace("_", " "),
            )
        ax.set_title(name)
        ax.set_xticks(x)
        rotate = len(samples) > 4
        labels = [f"{s}\n{calls[s]}" if calls.get(s) else s for s in samples]
        ax.set_xticklabels(
            labels, rotation=30 if rotate else 0, ha="right" if rotate else "center", fontsize=8
        )
        for tick, s in zip(ax.get_xticklabels(), samples):
            tick.set_color(CALL_COLOURS.get(calls.get(s), "black"))
        ax.set_ylabel("cells per mm² of tissue")
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    for ax in axes[len(types) :]:
        ax.set_visible(False)
    if types:
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(
            handles,
            labels,
            loc="outside lower center",
            ncol=len(regions),
            frameon=False,
            title="region (signed distance to the invasive front)",
        )
    fig.suptitle(
        "Immune cell density by region; the sample's immune phenotype call under its name",
        fontsize=12,
    )
    return fig


# --------------------------------------------------------------------------- spatial step


def distance_profile_figure(
    densities: pd.DataFrame,
    types: Sequence[str],
    margin_um: float,
    title: str | None = None,
    min_area_mm2: float = 0.01,
) -> Figure:
    """Density of each immune type against the signed distance to the invasive front.

    Parameters
    ----------
    densities : DataFrame ``phenotype, band_start_um, band_end_um, n_cells, area_mm2,
        density_per_mm2`` (the spatial step's densities.tsv; cells per mm² of tissue)
    types : phenotypes to draw, one line each
    margin_um : half-width of the invasive margin (shaded), µm
    title : str or None
    min_area_mm2 : bands with less tissue are not drawn (a few cells in a sliver of tissue
        make a meaningless density)

    Returns
    -------
    matplotlib.figure.Figure (an empty panel saying so when there is no front)
    """
    from .colours import phenotype_colours_float

    fig = Figure(figsize=(8.5, 4.8), layout="constrained")
    ax = fig.subplots()
    present = [t for t in types if t in set(densities["phenotype"])] if len(densities) else []
    colours = phenotype_colours_float(present)
    if not present:
        ax.text(
            0.5,
            0.5,
            "no invasive front: no distance profile",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
        ax.set_axis_off()
    else:
        ax.axvspan(
            -margin_um,
            margin_um,
            color="0.92",
            zorder=0,
            label=f"invasive margin (±{margin_um:g} µm)",
        )
        ax.axvline(0, color="black", lw=1.2, label="invasive front")
        for name in present:
            rows = densities[densities["phenotype"] == name]
            if "area_mm2" in rows:
                rows = rows.assign(
                    density_per_mm2=rows["density_per_mm2"].where(rows["area_mm2"] >= min_area_mm2)
                )
            mid = 0.5 * (rows["band_start_um"] + rows["band_end_um"])
            style = (
                dict(color="black", ls="--") if name == "all_immune" else dict(color=colours[name])
            )
            ax.plot(mid, rows["density_per_mm2"], marker="o", ms=2.5, lw=1.4, label=name, **style)
        lo = float(densities["band_start_um"].min())
        hi = float(densities["band_end_um"].max())
        ax.set_xlim(lo, hi)
        ax.set_ylim(bottom=0)
        ax.text(0.02, 0.97, "← tumor", transform=ax.transAxes, va="top", fontsize=9)
        ax.text(0.98, 0.97, "stroma →", transform=ax.transAxes, va="top", ha="right", fontsize=9)
        ax.set_xlabel("signed distance to the invasive front (µm), negative inside the tumor")
        ax.set_ylabel("cells per mm² of tissue")
        ax.grid(alpha=0.3)
        fig.legend(
            loc="outside right upper", fontsize=8, frameon=False
        )  # outside: figure legends only
    if title:
        ax.set_title(title)
    return fig


def neighbourhoods_figure(
    cells: pd.DataFrame,
    composition: pd.DataFrame,
    front: BaseGeometry | None = None,
    tumor: BaseGeometry | None = None,
    title: str | None = None,
    max_points: int = 200_000,
    seed: int = 0,
) -> Figure:
    """Cellular neighbourhoods: a map of the cells coloured by neighbourhood and each
    neighbourhood's mean composition.

    Parameters
    ----------
    cells : DataFrame ``x_um, y_um, neighbourhood`` (1..n; 0 = not computed)
    composition : DataFrame ``neighbourhood, n_cells, phenotype, mean_fraction``
    front, tumor : shapely geometries in µm, or None
    title : str or None
    max_points : at most this many cells are drawn (a seeded random subset beyond it)

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib import colormaps
    from matplotlib.lines import Line2D

    fig = Figure(figsize=(13, 5.8), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[1.25, 1])
    if composition is None or len(composition) == 0:
        for ax in (left, right):
            ax.set_axis_off()
        left.text(
            0.5,
            0.5,
            "neighbourhoods not computed (too few cells)",
            ha="center",
            transform=left.transAxes,
        )
        return fig
    hoods = sorted(composition["neighbourhood"].unique())
    cmap = colormaps["tab10"]
    shown = cells if len(cells) <= max_points else cells.sample(max_points, random_state=seed)
    size = float(np.clip(3e4 / max(len(shown), 1), 0.3, 8.0))
    handles = []
    for i, h in enumerate(hoods):
        sel = shown["neighbourhood"] == h
        left.scatter(
            shown.loc[sel, "x_um"],
            shown.loc[sel, "y_um"],
            s=size,
            color=cmap(i % 10),
            linewidths=0,
            rasterized=True,
        )
        n = int(composition.loc[composition["neighbourhood"] == h, "n_cells"].iloc[0])
        handles.append(Line2D([], [], marker="o", ls="", color=cmap(i % 10), label=f"N{h} ({n:,})"))
    drew_front = False
    if tumor is not None or front is not None:
        import shapely

        if tumor is not None and not tumor.is_empty:
            for ring in shapely.get_rings(shapely.get_parts(tumor)):
                xy = shapely.get_coordinates(ring)
                left.plot(xy[:, 0], xy[:, 1], color="0.3", lw=0.6, ls=(0, (3, 2)))
        if front is not None and not front.is_empty:
            for line in shapely.get_parts(front):
                xy = shapely.get_coordinates(line)
                left.plot(xy[:, 0], xy[:, 1], color="black", lw=1.4)
                drew_front = True
    if drew_front:
        handles.append(Line2D([], [], color="black", lw=1.4, label="invasive front"))
    left.set_aspect("equal")
    left.invert_yaxis()
    left.set_xlabel("x (µm)")
    left.set_ylabel("y (µm)")
    left.set_title("cells by cellular neighbourhood")
    fig.legend(
        handles=handles,
        loc="outside lower left",
        ncol=min(4, len(handles)),
        fontsize=8,
        frameon=False,
    )
    table = composition.pivot(index="neighbourhood", columns="phenotype", values="mean_fraction")
    im = right.imshow(table.to_numpy(), cmap="viridis", vmin=0, vmax=1, aspect="auto")
    right.set_xticks(range(table.shape[1]))
    right.set_xticklabels(table.columns, rotation=40, ha="right", fontsize=9)
    right.set_yticks(range(table.shape[0]))
    right.set_yticklabels([f"N{h}" for h in table.index])
    for (r, c), v in np.ndenumerate(table.to_numpy()):
        right.text(
            c,
            r,
            f"{v:.2f}",
            ha="center",
            va="center",
            fontsize=7,
            color="white" if v < 0.6 else "black",
        )
    right.set_title("mean composition of the k nearest neighbours")
    fig.colorbar(im, ax=right, label="fraction of neighbours", shrink=0.8)
    if title:
        fig.suptitle(title)
    return fig


def lfunction_figure(lfunction: pd.DataFrame, title: str | None = None) -> Figure:
    """Cross L-function of each immune type around tumor cells, as L(r) - r, with the
    random-labelling envelope.

    Parameters
    ----------
    lfunction : DataFrame ``phenotype, radius_um, L_minus_r_um, envelope_low_um,
        envelope_high_um, computable, reason`` (the spatial step's lfunction.tsv)
    title : str or None

    Returns
    -------
    matplotlib.figure.Figure
    """
    from .colours import phenotype_colours_float

    types = list(dict.fromkeys(lfunction["phenotype"])) if len(lfunction) else []
    ncols = min(3, max(1, len(types)))
    nrows = max(1, int(np.ceil(len(types) / ncols)))
    fig = Figure(figsize=(4.2 * ncols, 3.3 * nrows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    colours = phenotype_colours_float(types)
    for ax, name in zip(axes, types):
        rows = lfunction[lfunction["phenotype"] == name]
        r = rows["radius_um"].to_numpy(float)
        ax.axhline(0, color="0.5", lw=0.8)
        if not bool(rows["computable"].iloc[0]):
            ax.text(
                0.5,
                0.5,
                "not computable:\n" + str(rows["reason"].iloc[0]),
                ha="center",
                va="center",
                transform=ax.transAxes,
                fontsize=8,
                wrap=True,
            )
        else:
            lo = rows["envelope_low_um"].to_numpy(float) - r
            hi = rows["envelope_high_um"].to_numpy(float) - r
            if np.isfinite(lo).any():
                n = int(rows["permutations"].iloc[0])
                ax.fill_between(r, lo, hi, color="0.85", label=f"random labelling ({n} perm.)")
            ax.plot(
                r, rows["L_minus_r_um"], marker="o", ms=3, color=colours[name], label="observed"
            )
            ax.legend(fontsize=7, frameon=False, loc="best")
        ax.set_title(f"{name} around tumor cells", fontsize=10)
        ax.set_xlabel("r (µm)")
        ax.set_ylabel("L(r) − r (µm)")
        ax.grid(alpha=0.3)
    for ax in axes[len(types) :]:
        ax.set_visible(False)
    fig.suptitle(title or "Cross L-function (above 0: attraction, below: avoidance)", fontsize=11)
    return fig


def spatial_figures(
    result: Any, regions: Any, params: Any, sample: str | None = None
) -> dict[str, Figure]:
    """The spatial step's three figures of one sample.

    Parameters
    ----------
    result : :class:`frontline.spatial.SpatialResult`
    regions : :class:`frontline.regions.Regions` (µm)
    params : :class:`frontline.spatial.Params` the result was made with
    sample : name, for the titles

    Returns
    -------
    dict ``profile`` (:func:`distance_profile_figure`), ``neighbourhoods``
    (:func:`neighbourhoods_figure`), ``lfunction`` (:func:`lfunction_figure`)
    """
    from .spatial import ALL_IMMUNE

    call = result.summary["phenotype_call"]
    return {
        "profile": distance_profile_figure(
            result.densities,
            list(params.immune_types) + [ALL_IMMUNE],
            params.margin_um,
            title=f"{sample}: immune cells around the invasive front ({call})",
        ),
        "neighbourhoods": neighbourhoods_figure(
            result.cells,
            result.neighbourhoods,
            regions.front,
            regions.tumor,
            title=f"{sample}: cellular neighbourhoods (k = {params.neighbourhood_k})",
        ),
        "lfunction": lfunction_figure(result.lfunction),
    }
