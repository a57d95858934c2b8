"""Rule spatial: cells + phenotypes + regions -> per-cell distances, densities, neighbour
statistics, summary.json and three figures."""

import json
import logging
from pathlib import Path

import pandas as pd

from frontline import front, plots, spatial
from frontline.step import atomic_output, run

log = logging.getLogger("frontline.spatial")


def main(smk):
    sample, p, out = smk.wildcards.sample, smk.params, smk.output
    cells = front.join_phenotypes(
        pd.read_parquet(smk.input.cells),
        pd.read_parquet(smk.input.phenotypes),
        sample=sample,
        files=(smk.input.cells, smk.input.phenotypes),
    )
    regions = front.regions_from_geojson(
        json.loads(Path(smk.input.regions).read_text("utf-8")),
        file=smk.input.regions,
        sample=sample,
    )
    params = spatial.Params.from_config(
        p.spatial, tumor_phenotype=p.tumor_phenotype, workers=smk.threads
    )
    lineage = spatial.immune_lineage(p.phenotypes, extra=params.immune_types)
    res = spatial.analyze(cells, regions, params, immune_lineage=lineage, sample=sample)
    log.info(
        "sample %s: %d cells, call %s (%s); timings %s",
        sample,
        len(cells),
        res.summary["phenotype_call"],
        res.summary["phenotype_call_reason"],
        {k: round(v, 2) for k, v in res.timings_s.items()},
    )

    with atomic_output(out.cells) as tmp:
        res.cells.to_parquet(tmp, index=False)
    for name in (
        "densities",
        "region_densities",
        "nearest_tumor",
        "neighbours",
        "neighbourhoods",
        "lfunction",
        "mixing",
        "enrichment",
    ):
        with atomic_output(out[name]) as tmp:
            getattr(res, name).to_csv(tmp, sep="\t", index=False, na_rep="NA", float_format="%.6g")
    with atomic_output(out.summary) as tmp:
        Path(tmp).write_text(
            json.dumps(res.summary, indent=1, ensure_ascii=False, allow_nan=False), encoding="utf-8"
        )

    call = res.summary["phenotype_call"]
    figures = {
        "profile_png": plots.distance_profile_figure(
            res.densities,
            list(params.immune_types) + [spatial.ALL_IMMUNE],
            params.margin_um,
            title=f"{sample}: immune cells around the invasive front ({call})",
        ),
        "neighbourhoods_png": plots.neighbourhoods_figure(
            res.cells,
            res.neighbourhoods,
            regions.front,
            regions.tumor,
            title=f"{sample}: cellular neighbourhoods (k = {params.neighbourhood_k})",
        ),
        "lfunction_png": plots.lfunction_figure(res.lfunction),
    }
    for name, fig in figures.items():
        with atomic_output(out[name]) as tmp:
            fig.savefig(tmp, dpi=p.dpi, format="png")


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
