"""Rule overview_plot: overview composite, front and cells by phenotype -> plots/overview.png."""

import logging
from pathlib import Path

import pandas as pd

from frontline import io, plots
from frontline.step import open_input_image, run

log = logging.getLogger("frontline.overview_plot")


def main(smk):
    sample, p, inp = smk.wildcards.sample, smk.params, smk.input
    with open_input_image(smk) as img:
        image, factor = img.overview(p.max_px)  # a pyramid level or a strided read, never full
        channels, pixel_size_um = img.channels, img.pixel_size_um
    log.info(
        "overview %s px (%.1f µm per px) of %s",
        image.shape[1:],
        factor * pixel_size_um,
        Path(inp.image).name,
    )
    cells = pd.read_parquet(inp.cells, columns=["x_um", "y_um", "phenotype"])
    regions = io.read_regions(inp.regions, sample=sample)
    summary = io.read_json(inp.summary, sample=sample)
    shown = plots.overview_channels(
        channels,
        nuclear_channel=p.nuclear_channel,
        phenotypes=p.phenotypes,
        tumor_phenotype=p.tumor_phenotype,
        chosen=p.channels,
        sample=sample,
    )
    fig = plots.overview_figure(
        image,
        channels,
        factor,
        pixel_size_um,
        cells,
        regions.tumor,
        regions.front,
        title=plots.call_title(sample, summary),
        composite_channels=shown,
    )
    io.save_figure(fig, smk.output.png, dpi=p.dpi)


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
