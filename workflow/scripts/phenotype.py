"""Rule phenotype: cells.parquet -> phenotypes.parquet, gates.tsv, plots/gating/{marker}.png."""

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from frontline import io, plots
from frontline.measure import expand_nuclei, expansion_px
from frontline.phenotype import compartment_values, phenotype_cells
from frontline.step import atomic_output, open_input_image, run

log = logging.getLogger("frontline.phenotype_rule")
CROP_UM = 150.0  # edge of the image crop in each gating plot


def main(smk):
    sample, p = smk.wildcards.sample, smk.params
    cells = pd.read_parquet(smk.input.cells)
    phenotypes, gates = phenotype_cells(cells, p.phenotyping, sample=sample)
    with atomic_output(smk.output.phenotypes) as tmp:
        phenotypes.to_parquet(tmp, index=False)
    with atomic_output(smk.output.gates) as tmp:
        gates.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    plot_gates(smk, cells, phenotypes, gates)


def plot_gates(smk, cells, phenotypes, gates):
    """One QC figure per gated marker: histogram with the gate, crop with positives outlined."""
    p = smk.params
    targets = {Path(path).name[: -len(".png")]: path for path in smk.output.plots}
    with open_input_image(smk) as img, io.open_labels(smk.input.labels) as labels:
        size_px = int(round(CROP_UM / img.pixel_size_um))
        grow = expansion_px(p.cell_expansion_um, img.pixel_size_um)
        for row in gates.itertuples():
            positive = phenotypes[f"{row.marker}_positive"].to_numpy(bool)
            window = plots.crop_window(
                cells["x_um"], cells["y_um"], positive, img.pixel_size_um, img.shape, size_px
            )
            crop = img.read(row.marker, window)
            cell_labels = expand_nuclei(labels.read(window), grow)
            fig = plots.gating_figure(
                compartment_values(cells, row.marker, row.compartment),
                row.gate,
                marker=row.marker,
                compartment=row.compartment,
                method=row.method,
                confidence=row.confidence,
                cofactor=row.cofactor,
                crop=crop,
                cell_labels=cell_labels,
                positive_ids=cells["cell_id"].to_numpy()[positive].astype(np.int64),
                pixel_size_um=img.pixel_size_um,
            )
            with atomic_output(targets[row.marker]) as tmp:
                fig.savefig(tmp, format="png")
            log.info("gating plot %s", targets[row.marker])


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
