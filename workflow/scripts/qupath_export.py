"""Rule qupath_export: cell outlines + cell table + regions -> qupath_cells.geojson (px)."""

import json
from pathlib import Path

import pandas as pd

from frontline import export, io
from frontline.step import run


def main(smk):
    p = smk.params
    cells = pd.read_parquet(smk.input.cells)
    regions = json.loads(Path(smk.input.regions).read_text())
    with io.open_labels(smk.input.labels) as labels:
        features = export.qupath_features(
            labels,
            cells,
            regions,
            outline=p.outline,
            cell_expansion_um=p.cell_expansion_um,
            tile_px=p.tile_px,
            sample=smk.wildcards.sample,
        )
    io.write_feature_collection(smk.output.geojson, *features)


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
