"""Rule cohort_features: every sample's spatial outputs -> features per patient and per image."""

import pandas as pd

from frontline import cohort, io, phenotype, spatial
from frontline.step import run


def main(smk):
    p, inp, out = smk.params, smk.input, smk.output
    files = zip(p.samples, inp.summaries, inp.region_densities, inp.densities, inp.enrichment)
    outputs = (  # one sample at a time: the library keeps only its counts
        (s, cohort.SampleOutputs(io.read_json(j, sample=s), *map(io.read_tsv, (r, d, e)), cells))
        for (s, j, r, d, e), cells in zip(files, map(_cells, inp.cells))
    )
    params = spatial.Params.from_config(p.spatial, tumor_phenotype=p.tumor_phenotype)
    lineage = phenotype.immune_lineage(p.phenotypes, extra=params.immune_types)
    result = cohort.cohort_features(outputs, p.patients, params, lineage)
    for name, table in result.tables().items():
        io.write_tsv(table, out[name])


def _cells(path):
    return pd.read_parquet(path, columns=list(cohort.CELL_COLUMNS))


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
