"""Figures of the spatial step: distance profile, cellular neighbourhoods, cross L-function."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

if TYPE_CHECKING:
    import pandas as pd
    from shapely.geometry.base import BaseGeometry

log = logging.getLogger(__name__)


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
    from ..colours import phenotype_colours_float

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
        envelope_high_um, envelope, envelope_level, permutations, computable, reason`` (the
        spatial step's lfunction.tsv)
    title : str or None

    Returns
    -------
    matplotlib.figure.Figure
    """
    from ..colours import phenotype_colours_float

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
                ax.fill_between(r, lo, hi, color="0.85", label=_envelope_label(rows.iloc[0]))
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


def _envelope_label(row: pd.Series) -> str:
    """Legend of the random-labelling band: its method and pointwise level."""
    level = f"{100 * float(row['envelope_level']):.0f} %"
    if row["envelope"] == "permutations":
        return f"random labelling ({int(row['permutations'])} perm., {level})"
    return f"random labelling ({level}, closed form)"


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
    from ..spatial import ALL_IMMUNE

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
