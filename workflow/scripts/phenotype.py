"""Rule phenotype: cells.parquet -> phenotypes.parquet, gates.tsv, plots/gating/{marker}.png."""

from pathlib import Path

import pandas as pd

from frontline import io, plots
from frontline.phenotype import phenotype_cells, with_sample_gates
from frontline.step import open_input_image, run


def main(smk):
    sample, p, out = smk.wildcards.sample, smk.params, smk.output
    cells = pd.read_parquet(smk.input.cells)
    path = smk.input.gates[0] if smk.input.gates else None  # the sample's gates table, optional
    table = io.read_gates_table(path, sample=sample) if path else None
    phenotyping = with_sample_gates(p.phenotyping, table, sample, path)
    phenotypes, gates = phenotype_cells(cells, phenotyping, sample=sample)
    io.write_parquet(phenotypes, out.phenotypes)
    io.write_tsv(gates, out.gates, na_rep="")
    targets = {Path(path).name[: -len(".png")]: path for path in out.plots}
    with open_input_image(smk) as img, io.open_labels(smk.input.labels) as labels:
        figures = plots.gating_figures(cells, phenotypes, gates, img, labels, p.cell_expansion_um)
        for marker, fig in figures:
            io.save_figure(fig, targets[marker])


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
