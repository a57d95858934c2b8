"""Rule phenotype: cells.parquet -> phenotypes.parquet (with states), gates.tsv, qc.tsv,
plots/gating/{marker}.png (a cell table's intensities: histograms without image crops)."""

from contextlib import nullcontext
from pathlib import Path

import pandas as pd

from frontline import io, plots, qc
from frontline.phenotype import phenotype_cells, with_sample_gates
from frontline.step import open_input_image, run


def main(smk):
    sample, p, out, inp = smk.wildcards.sample, smk.params, smk.output, smk.input
    cells = pd.read_parquet(inp.cells)
    path = inp.gates[0] if inp.gates else None  # the sample's gates table, optional
    table = io.read_gates_table(path, sample=sample) if path else None
    phenotyping = with_sample_gates(p.phenotyping, table, sample, path, states=p.states)
    batch = (
        pd.read_csv(inp.batch_gates[0], sep="\t", keep_default_na=False)
        if inp.batch_gates
        else None
    )
    phenotypes, gates = phenotype_cells(
        cells, phenotyping, sample=sample, states=p.states, batch_gates=batch, batch=p.batch
    )
    io.write_parquet(phenotypes, out.phenotypes)
    io.write_tsv(gates, out.gates, na_rep="")
    checks = qc.sample_qc(
        gates,
        phenotypes["phenotype"],
        p.phenotyping["phenotypes"],
        min_confidence=p.phenotyping["min_confidence"],
        min_cells=p.min_cells,
        key_phenotypes=p.key_phenotypes,
        sample=sample,
    )
    io.write_tsv(checks, out.qc, na_rep="")
    targets = {Path(path).name[: -len(".png")]: path for path in out.plots}
    image = open_input_image(smk) if inp.image else nullcontext()
    labels = io.open_labels(inp.labels) if inp.labels else nullcontext()
    with image as img, labels as lab:
        figures = plots.gating_figures(cells, phenotypes, gates, img, lab, p.cell_expansion_um)
        for marker, fig in figures:
            io.save_figure(fig, targets[marker])


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
