"""The cohort figure: immune densities per region, samples side by side, their call annotated."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from ..colours import CALL_COLOURS, SPATIAL_REGION_COLOURS

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)
REGION_ORDER = tuple(SPATIAL_REGION_COLOURS)


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
                color=SPATIAL_REGION_COLOURS.get(region, f"C{j}"),
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
