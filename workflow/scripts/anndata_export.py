"""Rule anndata_export: cells_spatial.parquet -> cells.h5ad (scverse: scanpy, squidpy)."""

import pandas as pd

from frontline import export, io
from frontline.step import atomic_output, run


def main(smk):
    sample, p = smk.wildcards.sample, smk.params
    pixel_size_um = p.table_pixel_size_um  # a cell table's (or None); an image's labels carry it
    if smk.input.labels:
        with io.open_labels(smk.input.labels) as labels:
            pixel_size_um = io.require_pixel_size(labels, sample)
    cells = pd.read_parquet(smk.input.cells)
    adata = export.to_anndata(cells, pixel_size_um, sample, p.compartments, p.default_compartment)
    with atomic_output(smk.output.h5ad) as tmp:
        adata.write_h5ad(tmp)


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
