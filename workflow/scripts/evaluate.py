"""Rule evaluate: outputs + simulator truth -> results/{sample}/evaluation.json.

The sections of the JSON are built by :func:`frontline.evaluate.evaluate_sample`; to add one
(e.g. a new accuracy measure), extend it and give the rule the inputs it reads
(workflow/rules/evaluate.smk).
"""

import pandas as pd
import pyarrow.parquet as pq

from frontline import evaluate, gating, io, phenotype, regions, spatial
from frontline.step import run


def main(smk):
    sample, p, inp = smk.wildcards.sample, smk.params, smk.input
    params = spatial.Params.from_config(p.spatial, tumor_phenotype=p.tumor_phenotype)
    columns = pq.read_schema(inp.cells).names
    result = evaluate.evaluate_sample(
        truth_nuclei=io.read_labels(inp.truth_nuclei)[0],
        nuclei=io.read_labels(inp.nuclei)[0],
        truth_cells=pd.read_parquet(inp.truth_cells),
        cells=pd.read_parquet(inp.cells, columns=["cell_id", "x_um", "y_um"]),
        channels=gating.measured_channels(pd.DataFrame(columns=columns)),
        phenotypes=pd.read_parquet(inp.phenotypes),
        truth_tumor=regions.polygons_from_geojson(io.read_json(inp.truth_tumor)),
        regions=io.read_regions(inp.regions, sample=sample),
        spatial_cells=pd.read_parquet(inp.spatial_cells, columns=["x_um", "y_um", "dist_front_um"]),
        densities=pd.read_csv(inp.densities, sep="\t"),
        call=io.read_json(inp.summary, sample=sample)["phenotype_call"],
        evaluation=p.evaluation,
        phenotyping=p.phenotyping,
        params=params,
        immune_lineage=phenotype.immune_lineage(
            p.phenotyping["phenotypes"], extra=params.immune_types
        ),
        sample=sample,
        truth_file=inp.truth_nuclei,
        edge_tolerance_um=p.edge_tolerance_um,
    )
    io.write_json(result, smk.output.json, indent=2, ensure_ascii=True, end="\n")


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
