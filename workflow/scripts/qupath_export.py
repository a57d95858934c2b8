"""Rule qupath_export: cell outlines (a cell table: discs) + cell table + regions ->
qupath_cells.geojson (px)."""

import json
from pathlib import Path

import pandas as pd

from frontline import export, io
from frontline.step import run


def main(smk):
    p, sample = smk.params, smk.wildcards.sample
    cells = pd.read_parquet(smk.input.cells)
    regions = json.loads(Path(smk.input.regions).read_text())
    if not smk.input.labels:  # a cell-table sample
        size = p.table_pixel_size_um
        features = export.qupath_table_features(cells, regions, size, sample)
        units = {"units": "px" if size else "um", "pixel_size_um": size}
        io.write_feature_collection(smk.output.geojson, *features, members={"frontline": units})
        return
    with io.open_labels(smk.input.labels) as labels:
        features = export.qupath_features(
            labels,
            cells,
            regions,
            outline=p.outline,
            cell_expansion_um=p.cell_expansion_um,
            tile_px=p.tile_px,
            sample=sample,
        )
    io.write_feature_collection(smk.output.geojson, *features)


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
