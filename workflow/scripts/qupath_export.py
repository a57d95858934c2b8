"""Rule qupath_export: cell outlines + cell table + regions -> qupath_cells.geojson (px)."""

import json
import logging
from pathlib import Path

import pandas as pd

from frontline import export, io
from frontline.errors import FrontlineInputError
from frontline.measure import expansion_px
from frontline.step import atomic_output, run

log = logging.getLogger("frontline.qupath_export")


def main(smk):
    sample, p = smk.wildcards.sample, smk.params
    with io.open_labels(smk.input.labels) as labels:
        if not labels.pixel_size_um:
            raise FrontlineInputError(
                "the nuclei labels carry no pixel size",
                sample=sample,
                file=smk.input.labels,
                fix="rerun segmentation",
            )
        pixel_size_um = labels.pixel_size_um
        grow = expansion_px(p.cell_expansion_um, pixel_size_um) if p.outline == "cell" else 0.0
        log.info(
            "tracing %s outlines (%.2f px growth) in tiles of %d px", p.outline, grow, p.tile_px
        )
        ids, rings = export.cell_outlines(labels, grow, p.tile_px, progress=_progress)
    cells = pd.read_parquet(smk.input.cells)
    regions = json.loads(Path(smk.input.regions).read_text())
    units = (regions.get("frontline") or {}).get("units", "px")
    annotations = export.qupath_annotations(
        regions.get("features", []), pixel_size_um, units, sample=sample
    )
    detections = export.qupath_cells(cells, ids, rings, sample=sample)
    with atomic_output(smk.output.geojson) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        n = write_feature_collection(fh, annotations, detections)
    log.info(
        "wrote %d annotations and %d detections (pixel coordinates, %.4g µm/px)",
        len(annotations),
        n - len(annotations),
        pixel_size_um,
    )


def _progress(done, total):
    log.info("outlines: tile %d of %d", done, total)


def write_feature_collection(fh, *feature_lists):
    """Stream a FeatureCollection, one feature per line, without holding the text in memory."""
    fh.write('{"type": "FeatureCollection", "features": [\n')
    n = 0
    for features in feature_lists:
        for feature in features:
            fh.write(
                (",\n" if n else "")
                + json.dumps(feature, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
            )
            n += 1
    fh.write("\n]}\n")
    return n


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
