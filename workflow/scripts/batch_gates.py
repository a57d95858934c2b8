"""Rule batch_gates: the cells of a batch's samples -> one gates table (a row per sample)."""

import pandas as pd

from frontline import io
from frontline.phenotype import batch_gates_of
from frontline.step import run


def main(smk):
    p = smk.params
    tables = {s: pd.read_parquet(path) for s, path in zip(p.samples, smk.input.cells)}
    gates = batch_gates_of(tables, p.phenotyping, smk.wildcards.batch, p.states)
    io.write_tsv(gates, smk.output.gates, na_rep="")


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
