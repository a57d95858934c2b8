"""Accuracy of the front and spatial steps alone, on simulator truth.

For each preset and image size: the simulator's truth cells (``simulate.truth_cells``, the
demo seeds 1, 2, 3), the tumor traced from the truth tumor cells (``front.detect_regions``,
the config's default parameters), the spatial step (``spatial.analyze``, no permutations), and
``evaluate.spatial_accuracy`` against the true distances and band densities. Segmentation and
phenotyping are out of the picture: this is the floor the whole workflow can reach.

Usage::

    python bench/front_accuracy.py --sizes 2048 4096 --out bench/out/front_accuracy.json
    python bench/front_accuracy.py --sizes 2048 --seeds 21 22 23 24 25 26 27 28 \
        --out bench/out/front_accuracy_seeds.json     # other fields than the demo's
"""

import argparse
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

import machine  # noqa: E402  (bench/machine.py)

from frontline import config, evaluate, front, simulate, spatial  # noqa: E402

SEEDS = {"inflamed": 1, "excluded": 2, "desert": 3}


def one(preset, size, seed):
    cells, tumor, extent = simulate.truth_cells(preset, (size, size), 0.5, seed)
    settings = config.section("front")
    is_tumor = (cells["phenotype"] == settings.pop("tumor_phenotype")).to_numpy()
    regions = front.detect_regions(cells[["x_um", "y_um"]].to_numpy(), is_tumor, extent, **settings)
    params = spatial.Params.from_config(  # the simulator's panel names the phenotypes
        immune_types=simulate.IMMUNE, call={"phenotype": "CD8_T"}, permutations=0
    )
    res = spatial.analyze(
        cells.drop(columns="dist_front_um"),
        regions,
        params,
        immune_lineage=simulate.IMMUNE,
        sample=preset,
    )
    acc = evaluate.spatial_accuracy(
        cells,
        tumor,
        res.cells,
        regions,
        res.densities,
        res.summary["phenotype_call"],
        params,
        simulate.IMMUNE,
    )
    worst = max(acc["density_worst_bands"], key=lambda b: abs(b["rel_error"]), default=None)
    return {
        "size_px": size,
        "preset": preset,
        "seed": seed,
        "cells": len(cells),
        "dist_median_abs_error_um": round(acc["dist_median_abs_error_um"], 2),
        "dist_median_error_um": round(acc["dist_median_error_um"], 2),
        "bands": f"{acc['density_bands_within_tolerance']}/{acc['density_bands_compared']}",
        "density_max_rel_error": round(acc["density_max_rel_error"], 3),
        "worst_band": worst,
        "call": acc["call"],
        "truth_call": acc["truth_call"],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2048, 4096])
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=None,
        help="seeds for every preset (default: the demo's, 1 2 3)",
    )
    parser.add_argument("--out", type=Path, default=Path("bench/out/front_accuracy.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = [
        one(preset, size, seed)
        for size in args.sizes
        for preset in SEEDS
        for seed in (args.seeds or [SEEDS[preset]])
    ]
    for row in rows:
        print(json.dumps(row))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine.describe(), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
