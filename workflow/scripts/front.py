"""Rule front: cells + phenotypes (+ annotation) -> tumor.geojson (px, QuPath), tumor_um.geojson."""

import json
import logging
from pathlib import Path

import pandas as pd

from frontline import front
from frontline.errors import FrontlineInputError
from frontline.step import atomic_output, open_input_image, run

log = logging.getLogger("frontline.front")


def main(smk):
    sample, p = smk.wildcards.sample, smk.params
    with open_input_image(smk) as img:
        height_px, width_px = img.shape
        pixel_size_um = img.pixel_size_um
    extent_um = (width_px * pixel_size_um, height_px * pixel_size_um)
    cells = front.join_phenotypes(
        pd.read_parquet(smk.input.cells, columns=["cell_id", "x_um", "y_um"]),
        pd.read_parquet(smk.input.phenotypes, columns=["cell_id", "phenotype"]),
        sample=sample,
        files=(smk.input.cells, smk.input.phenotypes),
    )
    settings = dict(p.front)
    tumor_phenotype = settings.pop("tumor_phenotype")
    is_tumor = (cells["phenotype"] == tumor_phenotype).to_numpy()
    if not is_tumor.any() and not smk.input.annotation:
        log.warning(
            "sample %s: no cell has the phenotype '%s' (front: tumor_phenotype); "
            "phenotypes found: %s",
            sample,
            tumor_phenotype,
            sorted(cells["phenotype"].unique()),
        )
    annotation = None
    if smk.input.annotation:
        path = smk.input.annotation[0]
        annotation = front.annotation_to_tumor(
            _read_json(path, sample),
            pixel_size_um=pixel_size_um,
            units=p.annotation_units,
            extent_um=extent_um,
            sample=sample,
            file=path,
        )
    regions = front.detect_regions(
        cells[["x_um", "y_um"]].to_numpy(), is_tumor, extent_um, annotation=annotation, **settings
    )
    log.info(
        "sample %s: tumor %.3f mm² (%s), tissue %.3f mm², invasive front %.0f µm",
        sample,
        regions.tumor.area / 1e6,
        regions.source,
        regions.tissue.area / 1e6,
        regions.front.length,
    )
    for path, units in ((smk.output.regions, "px"), (smk.output.regions_um, "um")):
        text = front.dumps(
            front.regions_to_geojson(regions, units=units, pixel_size_um=pixel_size_um)
        )
        with atomic_output(path) as tmp:
            Path(tmp).write_text(text, encoding="utf-8")


def _read_json(path, sample):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FrontlineInputError(
            f"the annotation is not valid GeoJSON text ({err})",
            sample=sample,
            file=path,
            fix="export the annotation again from QuPath (File > Export objects as GeoJSON)",
        ) from None


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
