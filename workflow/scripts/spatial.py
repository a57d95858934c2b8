"""Rule spatial: cells + phenotypes + regions -> per-cell distances, densities, neighbour
statistics, summary.json (with the QC flags) and three figures."""

import pandas as pd

from frontline import io, phenotype, plots, qc, spatial, states, tables
from frontline.step import run


def main(smk):
    sample, p, inp, out = smk.wildcards.sample, smk.params, smk.input, smk.output
    cells = tables.join_phenotypes(
        pd.read_parquet(inp.cells),
        pd.read_parquet(inp.phenotypes),
        sample=sample,
        files=(inp.cells, inp.phenotypes),
    )
    regions = io.read_regions(inp.regions, sample=sample)
    params = spatial.Params.from_config(
        p.spatial, tumor_phenotype=p.tumor_phenotype, workers=smk.threads
    )
    lineage = phenotype.immune_lineage(p.phenotypes, extra=params.immune_types)
    groups = states.state_groups(cells, p.states, p.phenotypes)
    res = spatial.analyze(cells, regions, params, lineage, sample, groups=groups)
    checks = (  # none for a cell table that names its phenotypes: the call's row alone
        pd.read_csv(inp.qc[0], sep="\t", keep_default_na=False) if inp.qc else qc.empty_qc()
    )
    summary = qc.with_flags(res.summary, checks)
    io.write_parquet(res.cells, out.cells)
    for name in spatial.TABLES:
        io.write_tsv(getattr(res, name), out[name])
    io.write_json(summary, out.summary)
    for name, fig in plots.spatial_figures(res, regions, params, sample).items():
        io.save_figure(fig, out[f"{name}_png"], dpi=p.dpi)


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
