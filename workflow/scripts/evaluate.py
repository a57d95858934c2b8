"""Rule evaluate: outputs + simulator truth -> results/{sample}/evaluation.json.

Each top-level section of the JSON is built by one function of ``SECTIONS``; to add a
section (e.g. ``spatial``), write ``def spatial_section(smk): ... return dict`` and add it
(and its inputs in workflow/rules/evaluate.smk).
"""

import json

import pandas as pd
import pyarrow.parquet as pq

from frontline import evaluate, io
from frontline.errors import FrontlineInputError
from frontline.phenotype import measured_channels, parse_phenotypes
from frontline.step import atomic_output, run


def segmentation_section(smk):
    truth, _ = io.read_labels(smk.input.truth_nuclei)
    pred, _ = io.read_labels(smk.input.nuclei)
    if truth.shape != pred.shape:
        raise FrontlineInputError(
            f"the truth nuclei are {truth.shape} px but the segmentation is {pred.shape} px",
            sample=smk.wildcards.sample,
            file=smk.input.truth_nuclei,
            fix="the sheet's truth prefix must belong to this sample's image",
        )
    return evaluate.segmentation_metrics(
        truth, pred, smk.params.evaluation.get("iou_threshold", 0.5)
    )


def phenotype_section(smk):
    ev, ph = smk.params.evaluation, smk.params.phenotyping
    truth = pd.read_parquet(smk.input.truth_cells)
    columns = pq.read_schema(smk.input.cells).names
    tree = parse_phenotypes(
        ph["phenotypes"],
        measured_channels(pd.DataFrame(columns=columns)),
        ph.get("exclusive"),
        sample=smk.wildcards.sample,
    )
    cells = pd.read_parquet(smk.input.cells, columns=["cell_id", "x_um", "y_um"])
    return evaluate.phenotype_metrics(
        truth,
        cells,
        pd.read_parquet(smk.input.phenotypes),
        tree,
        match_radius_um=ev.get("match_radius_um", 4.0),
        phenotype_map=ev.get("phenotype_map"),
        min_class_cells=ev.get("min_class_cells", 10),
    )


def spatial_section(smk):
    from pathlib import Path

    import shapely

    from frontline import front, spatial

    sample, p = smk.wildcards.sample, smk.params
    truth = json.loads(Path(smk.input.truth_tumor).read_text(encoding="utf-8"))
    parts = [
        shapely.geometry.shape(f["geometry"])
        for f in truth.get("features", [])
        if f.get("geometry")
    ]  # the simulator writes the truth tumor in µm
    truth_tumor = (
        front.as_multipolygon(shapely.union_all(parts)) if parts else shapely.MultiPolygon()
    )
    regions = front.regions_from_geojson(
        json.loads(Path(smk.input.regions).read_text("utf-8")),
        file=smk.input.regions,
        sample=sample,
    )
    params = spatial.Params.from_config(p.spatial, tumor_phenotype=p.tumor_phenotype)
    summary = json.loads(Path(smk.input.summary).read_text(encoding="utf-8"))
    return evaluate.spatial_accuracy(
        pd.read_parquet(smk.input.truth_cells),
        truth_tumor,
        pd.read_parquet(smk.input.spatial_cells, columns=["x_um", "y_um", "dist_front_um"]),
        regions,
        pd.read_csv(smk.input.densities, sep="\t"),
        summary["phenotype_call"],
        params,
        immune_lineage=spatial.immune_lineage(
            p.phenotyping["phenotypes"], extra=params.immune_types
        ),
        match_radius_um=p.evaluation.get("match_radius_um", 4.0),
    )


SECTIONS = {
    "segmentation": segmentation_section,
    "phenotype": phenotype_section,
    "spatial": spatial_section,
}


def main(smk):
    result = {"sample": smk.wildcards.sample}
    for name, build in SECTIONS.items():
        result[name] = build(smk)
    with atomic_output(smk.output.json) as tmp:
        tmp.write_text(json.dumps(result, indent=2, allow_nan=False) + "\n", encoding="utf-8")


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
