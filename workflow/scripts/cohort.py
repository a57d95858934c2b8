"""Rule cohort: every sample's summary.json (+ evaluation.json) and qc.tsv -> cohort table,
figure and QC table."""

import json
from pathlib import Path

import pandas as pd

from frontline import cohort, io, plots, qc
from frontline.step import atomic_output, run


def main(smk):
    p = smk.params
    summaries = {s: _json(f) for s, f in zip(p.samples, smk.input.summaries)}
    evaluations = {s: _json(f) for s, f in zip(p.evaluated, smk.input.evaluations)}
    table = cohort.cohort_table(summaries, evaluations)
    with atomic_output(smk.output.table) as tmp:
        table.to_csv(tmp, sep="\t", index=False, na_rep="")
    densities = cohort.density_long(
        {s: pd.read_csv(f, sep="\t") for s, f in zip(p.samples, smk.input.densities)}
    )
    calls = {s: summary.get("phenotype_call") for s, summary in summaries.items()}
    types = [t for t in p.immune_types if t in set(densities["phenotype"])]
    fig = plots.cohort_figure(densities, calls, types)
    with atomic_output(smk.output.png) as tmp:
        fig.savefig(tmp, dpi=p.dpi, format="png")
    checks = [pd.read_csv(f, sep="\t", keep_default_na=False) for f in smk.input.qc]
    calls = [qc.call_qc(summaries[s]) for s in p.samples]
    io.write_tsv(qc.cohort_qc(checks + calls), smk.output.qc, na_rep="")


def _json(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
