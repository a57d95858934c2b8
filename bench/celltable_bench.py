"""Benchmark: a 1,000,000-cell table through front and spatial, beside the image path's tables.

The cells are those of ``bench/spatial_bench.py`` (``make_table``: a 10 x 10 mm slide, seven
phenotypes) with eight markers' nucleus, ring and cell means and two areas added, so a table
holds what an image's ``cells.parquet`` does. Each method runs in a fresh process (its peak
RSS is its own), side by side on the same cells:

- ``image``: the image path from its tables on: ``cells.parquet`` + ``phenotypes.parquet``
  read and joined, ``front.find_regions`` on the image's extent, ``spatial.analyze``;
- ``generic_csv``: the same cells as a generic-format ``.csv.gz`` (x_um, y_um, phenotype,
  intensities): ``io.read_cell_table``, ``celltables.normalise_cell_table``, the field from
  the cells (``field_extent_um``), then the same front and spatial calls;
- ``generic_parquet``: the same as a generic-format Parquet table;
- ``halo_csv``: the same cells as a HALO object export (bounding boxes in px at 0.5 µm/px,
  ``<marker> (<fluor>) Positive`` flags, nucleus/cytoplasm intensities, Classifier Label),
  phenotyped by the phenotype tree over its flags;
- ``generic_csv_job``, ``generic_parquet_job``, ``halo_csv_job``: the workflow's table rule
  alone (read, normalise, write ``cells.parquet`` and ``phenotypes.parquet``): in the workflow
  it is a job of its own, and front and spatial then read the same two files an image sample's
  measure and phenotype rules write, so they cost what ``image`` measures.

Front and spatial run with the schema's defaults and ``spatial.permutations = 0`` (the
L-function envelope costs the same on both paths and is benchmarked in
``spatial_bench.py``). Times exclude imports; reading the tables is timed.

Usage::

    nice -n 5 python bench/celltable_bench.py --out bench/out/celltable.json
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import machine  # bench/machine.py
from spatial_bench import make_table  # the 1M-cell slide of the spatial benchmark

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

MARKERS = {  # marker -> the phenotypes positive for it
    "DAPI": None,
    "PanCK": ("tumor",),
    "CD45": ("CD8_T", "T_helper", "B_cell", "macrophage", "neutrophil"),
    "CD3": ("CD8_T", "T_helper"),
    "CD8": ("CD8_T",),
    "CD20": ("B_cell",),
    "CD68": ("macrophage",),
    "MPO": ("neutrophil",),
}
FLUORS = dict(zip(MARKERS, ["DAPI", "Opal 690", "Opal 480", "Opal 570", "Opal 520", "Opal 620",
                            "Opal 650", "Opal 540"]))  # fmt: skip
HALO_TREE = {
    "tumor": {"positive": ["tissue_class=Tumor"], "negative": ["CD45"]},
    "immune": {"positive": ["CD45"]},
    "T_cell": {"parent": "immune", "positive": ["CD3"]},
    "CD8_T": {"parent": "T_cell", "positive": ["CD8"]},
    "T_helper": {"parent": "T_cell", "negative": ["CD8"]},
    "B_cell": {"parent": "immune", "positive": ["CD20"]},
    "macrophage": {"parent": "immune", "positive": ["CD68"]},
    "neutrophil": {"parent": "immune", "positive": ["MPO"]},
}
PIXEL_UM = 0.5
SIZE_UM = 10_000.0


def make_inputs(folder, n_cells, seed=3):
    """The image path's two tables and three cell tables of the same cells."""
    import numpy as np
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    base = folder / "cells_base.parquet"
    make_table(base, n_cells=n_cells, size_um=SIZE_UM, seed=seed)
    cells = pd.read_parquet(base)
    rng = np.random.default_rng(seed)
    n = len(cells)
    cells["nucleus_area_um2"] = rng.uniform(20, 60, n)
    cells["cell_area_um2"] = cells["nucleus_area_um2"] * rng.uniform(1.8, 2.6, n)
    positive = {}
    for marker, types in MARKERS.items():
        on = np.ones(n, bool) if types is None else cells["phenotype"].isin(types).to_numpy()
        positive[marker] = on
        level = np.where(on, 8.0, 0.4)
        for comp in ("nucleus", "ring", "cell"):
            cells[f"{marker}_{comp}_mean"] = level * rng.lognormal(0, 0.3, n)
    image = cells.drop(columns="phenotype")
    image.to_parquet(folder / "cells.parquet", index=False)
    phen = pd.DataFrame({"cell_id": cells["cell_id"], "phenotype": cells["phenotype"]})
    for marker, on in positive.items():
        phen[f"{marker}_positive"] = on
    phen.to_parquet(folder / "phenotypes.parquet", index=False)
    cells.to_csv(folder / "generic.csv.gz", index=False, float_format="%.6g")
    cells.to_parquet(folder / "generic.parquet", index=False)
    halo = pd.DataFrame({"Image Location": "slide.tif", "Object Id": cells["cell_id"] - 1})
    r = np.sqrt(cells["nucleus_area_um2"].to_numpy() / np.pi) / PIXEL_UM
    for axis, col in (("X", "x_um"), ("Y", "y_um")):
        centre = cells[col].to_numpy() / PIXEL_UM - 0.5
        low = np.round(centre - r).astype(int)
        high = low + np.round(2 * r).astype(int)
        shift = np.minimum(low, 0)  # a box never starts left of the image
        halo[f"{axis}Min"], halo[f"{axis}Max"] = low - shift, high - shift
    for marker in MARKERS:
        name = f"{marker} ({FLUORS[marker]})" if marker != "DAPI" else "Nuclei (DAPI)"
        halo[f"{name} Positive"] = positive[marker].astype(int)
        halo[f"{name} Nucleus Intensity"] = cells[f"{marker}_nucleus_mean"]
        halo[f"{name} Cytoplasm Intensity"] = cells[f"{marker}_ring_mean"]
    halo["Cell Area (µm²)"] = cells["cell_area_um2"]
    halo["Nucleus Area (µm²)"] = cells["nucleus_area_um2"]
    halo["Classifier Label"] = np.where(cells["phenotype"] == "stromal", "Stroma", "Tumor")
    halo.to_csv(folder / "halo.csv", index=False, float_format="%.6g")
    counts = cells["phenotype"].value_counts().to_dict()
    sizes = {p.name: p.stat().st_size for p in folder.iterdir() if p.name != base.name}
    return {"n_cells": n, "phenotypes": counts, "file_bytes": sizes}


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_method(method, folder, workers):
    """One method in this process: stage times (s), cells, the call."""
    import pandas as pd

    from frontline import celltables, config, front, io, spatial, tables

    times = {}
    t0 = time.perf_counter()
    job = method.endswith("_job")
    method = method.removesuffix("_job")
    if method == "image":
        cells = tables.join_phenotypes(
            pd.read_parquet(folder / "cells.parquet"),
            pd.read_parquet(folder / "phenotypes.parquet"),
        )
        extent = (SIZE_UM, SIZE_UM)
        times["read"] = time.perf_counter() - t0
    else:
        name = {"generic_csv": "generic.csv.gz", "generic_parquet": "generic.parquet"}
        path = folder / name.get(method, "halo.csv")
        raw = io.read_cell_table(path)
        times["read"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        fmt = "halo" if method == "halo_csv" else "generic"
        out = celltables.normalise_cell_table(
            raw,
            fmt,
            config.section("cell_tables"),
            pixel_size_um=PIXEL_UM,
            phenotyping={"phenotypes": HALO_TREE, "exclusive": []},
        )
        del raw
        times["normalise"] = time.perf_counter() - t1
        if job:
            io.write_parquet(out.cells, folder / "job_cells.parquet")
            io.write_parquet(out.phenotypes, folder / "job_phenotypes.parquet")
            times["total"] = time.perf_counter() - t0
            return {"times_s": times, "n_cells": len(out.cells), "peak_rss_mb": peak_rss_mb()}
        cells = tables.join_phenotypes(out.cells, out.phenotypes)
        extent = celltables.field_extent_um(cells[["x_um", "y_um"]].to_numpy())
        times["normalise"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    regions = front.find_regions(cells, extent, config.section("front"))
    times["front"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    params = spatial.Params.from_config({"permutations": 0}, workers=workers)
    result = spatial.analyze(cells, regions, params)
    times["spatial"] = time.perf_counter() - t1
    times["total"] = time.perf_counter() - t0
    return {
        "times_s": times,
        "n_cells": len(cells),
        "phenotypes": cells["phenotype"].value_counts().to_dict(),
        "tumor_area_mm2": regions.tumor.area / 1e6,
        "front_length_mm": regions.front.length / 1e3,
        "call": result.summary["phenotype_call"],
        "peak_rss_mb": peak_rss_mb(),
        "cpu_s": sum(resource.getrusage(resource.RUSAGE_SELF)[:2]),
    }


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "celltable.json"))
    parser.add_argument("--cells", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--methods",
        default="image,generic_csv,generic_parquet,halo_csv,"
        "generic_csv_job,generic_parquet_job,halo_csv_job",
    )
    parser.add_argument("--data", default=str(ROOT / "bench" / "out" / "celltable_data"))
    parser.add_argument("--reuse", action="store_true", help="keep the tables of --data")
    parser.add_argument("--run", help=argparse.SUPPRESS)  # internal: one method in this process
    args = parser.parse_args()
    folder = Path(args.data)
    if args.run:
        print(json.dumps(run_method(args.run, folder, args.workers)))
        return
    report = {"machine": machine.describe()}
    t0 = time.perf_counter()
    described = folder / "data.json"
    if args.reuse and described.is_file():
        report["data"] = json.loads(described.read_text())
    else:
        report["data"] = make_inputs(folder, args.cells)
        report["data"]["seconds"] = time.perf_counter() - t0
        described.write_text(json.dumps(report["data"]))
    print(f"data: {report['data']['n_cells']:,} cells ({report['data']['seconds']:.0f} s)")
    for method in args.methods.split(","):
        cmd = [sys.executable, __file__, "--run", method, "--data", str(folder)]
        cmd += ["--workers", str(args.workers)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        report[method] = json.loads(proc.stdout.strip().splitlines()[-1])
        report[method]["load_average_1min"] = os.getloadavg()[0]
        r = report[method]
        stages = ", ".join(f"{k} {v:.1f}" for k, v in r["times_s"].items())
        print(f"{method}: {stages} s; peak RSS {r['peak_rss_mb']:.0f} MB; call {r.get('call')}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
