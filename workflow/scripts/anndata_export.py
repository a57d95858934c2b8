"""Rule anndata_export: cells_spatial.parquet -> cells.h5ad (scverse: scanpy, squidpy)."""

import logging

import pandas as pd

from frontline import export, io
from frontline.errors import FrontlineInputError
from frontline.step import atomic_output, run

log = logging.getLogger("frontline.anndata_export")


def main(smk):
    sample, p = smk.wildcards.sample, smk.params
    with io.open_labels(smk.input.labels) as labels:
        pixel_size_um = labels.pixel_size_um
    if not pixel_size_um:
        raise FrontlineInputError(
            "the nuclei labels carry no pixel size",
            sample=sample,
            file=smk.input.labels,
            fix="rerun segmentation",
        )
    cells = pd.read_parquet(smk.input.cells)
    adata = export.to_anndata(cells, pixel_size_um, sample, p.compartments, p.default_compartment)
    with atomic_output(smk.output.h5ad) as tmp:
        adata.write_h5ad(tmp)
    log.info(
        "wrote %d cells x %d markers (X: %s)",
        adata.n_obs,
        adata.n_vars,
        ", ".join(f"{m} {c}" for m, c in zip(adata.var_names, adata.var["compartment"])),
    )


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
