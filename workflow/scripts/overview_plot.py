"""Rule overview_plot: overview composite, front and cells by phenotype -> plots/overview.png."""

import json
import logging
from pathlib import Path

import pandas as pd

from frontline import front, plots
from frontline.step import atomic_output, open_input_image, run

log = logging.getLogger("frontline.overview_plot")


def main(smk):
    sample, p = smk.wildcards.sample, smk.params
    with open_input_image(smk) as img:
        image, factor = img.overview(p.max_px)  # a pyramid level or a strided read, never full
        channels, pixel_size_um = img.channels, img.pixel_size_um
    log.info(
        "overview %s px (%.1f µm per px) of %s",
        image.shape[1:],
        factor * pixel_size_um,
        Path(smk.input.image).name,
    )
    cells = pd.read_parquet(smk.input.cells, columns=["x_um", "y_um", "phenotype"])
    regions = front.regions_from_geojson(
        json.loads(Path(smk.input.regions).read_text()), file=smk.input.regions, sample=sample
    )
    call = json.loads(Path(smk.input.summary).read_text()).get("phenotype_call")
    fig = plots.overview_figure(
        image,
        channels,
        factor,
        pixel_size_um,
        cells,
        regions.tumor,
        regions.front,
        title=f"{sample}: immune phenotype {call}",
    )
    with atomic_output(smk.output.png) as tmp:
        fig.savefig(tmp, dpi=p.dpi, format="png")


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
