"""Rule front: cells + phenotypes (+ annotation) -> tumor.geojson (px, QuPath; µm for a cell
table without a pixel size), tumor_um.geojson."""

import pandas as pd

from frontline import celltables, front, io, tables
from frontline.step import open_input_image, run


def main(smk):
    sample, p, inp = smk.wildcards.sample, smk.params, smk.input
    cells = tables.join_phenotypes(
        pd.read_parquet(inp.cells, columns=["cell_id", "x_um", "y_um"]),
        pd.read_parquet(inp.phenotypes, columns=["cell_id", "phenotype"]),
        sample=sample,
        files=(inp.cells, inp.phenotypes),
    )
    if inp.image:
        with open_input_image(smk) as img:
            (height_px, width_px), pixel_size_um = img.shape, img.pixel_size_um
        extent_um = (width_px * pixel_size_um, height_px * pixel_size_um)
    else:  # a cell table: the field its cells cover
        extent_um = celltables.field_extent_um(cells[["x_um", "y_um"]].to_numpy())
        pixel_size_um = p.table_pixel_size_um
    annotation = inp.annotation[0] if inp.annotation else None  # a path, optional
    parsed = io.read_annotation(annotation, sample=sample) if annotation else None
    regions = front.find_regions(
        cells,
        extent_um,
        p.front,
        annotation=parsed,
        annotation_units=p.annotation_units,
        pixel_size_um=pixel_size_um,
        sample=sample,
        annotation_file=annotation,
        workers=smk.threads,
    )
    units_px = "px" if pixel_size_um else "um"
    for path, units in ((smk.output.regions, units_px), (smk.output.regions_um, "um")):
        io.write_regions(regions, path, units=units, pixel_size_um=pixel_size_um)


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
