"""Rule front: cells + phenotypes (+ annotation) -> tumor.geojson (px, QuPath), tumor_um.geojson."""

import pandas as pd

from frontline import front, io, tables
from frontline.step import open_input_image, run


def main(smk):
    sample, p, inp = smk.wildcards.sample, smk.params, smk.input
    with open_input_image(smk) as img:
        (height_px, width_px), pixel_size_um = img.shape, img.pixel_size_um
    cells = tables.join_phenotypes(
        pd.read_parquet(inp.cells, columns=["cell_id", "x_um", "y_um"]),
        pd.read_parquet(inp.phenotypes, columns=["cell_id", "phenotype"]),
        sample=sample,
        files=(inp.cells, inp.phenotypes),
    )
    annotation = inp.annotation[0] if inp.annotation else None  # a path, optional
    parsed = io.read_annotation(annotation, sample=sample) if annotation else None
    regions = front.find_regions(
        cells,
        (width_px * pixel_size_um, height_px * pixel_size_um),
        p.front,
        annotation=parsed,
        annotation_units=p.annotation_units,
        pixel_size_um=pixel_size_um,
        sample=sample,
        annotation_file=annotation,
    )
    for path, units in ((smk.output.regions, "px"), (smk.output.regions_um, "um")):
        io.write_regions(regions, path, units=units, pixel_size_um=pixel_size_um)


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
