"""Benchmark: the front and spatial steps on a 1,000,000-cell slide, and squidpy's
neighbourhood enrichment on the same cells.

The table is synthetic: a 10 x 10 mm slide whose tumor is the simulator's multi-nest tumor
field (``frontline.simulate.make_world(central_mass=False)``), cells drawn from the
simulator's density model (``expected_density_per_mm2``, inflamed preset) scaled to 10,000
cells/mm², seven phenotypes (tumor, stromal and five immune types).

Every method runs in a fresh process, so its peak RSS (``ru_maxrss``) is its own (Python,
libraries, the table and its outputs); times exclude imports and reading the table:

- ``front``: ``front.detect_regions`` (tissue and tumor from the cells, invasive front) on the
  front rule's 2 threads;
- ``spatial_default``: the spatial step exactly as the workflow's ``spatial`` rule runs it
  with the default config (``spatial.analyze`` with ``Params.from_config`` and the rule's
  2 threads, the immune lineage of the default phenotype tree, the closed-form L-function
  envelope included); then, timed apart, writing its outputs as the rule does (cells
  parquet, the tables, summary.json, the three figures) into a temporary folder;
- ``spatial``: the same without the L-function envelope (``envelope: none``): distance
  raster, per-cell distances, band and region densities, nearest tumor cell, the one pass
  over cell pairs, neighbour counts, kNN neighbourhoods + k-means, L-function, mixing,
  closed-form neighbourhood enrichment, summary;
- ``permutations``: one immune type's permutation envelope (``envelope: permutations``),
  ``--permutations`` relabellings (what the closed form saves, per type);
- ``enrichment``: frontline's neighbourhood enrichment alone (radius graph of
  ``--radius`` µm, closed-form z-scores);
- ``squidpy``: ``sq.gr.spatial_neighbors(radius=--radius, coord_type="generic")`` +
  ``sq.gr.nhood_enrichment(n_perms=--squidpy-perms)`` on the same cells (numba compiled
  beforehand on a small table, not timed); its z-scores are compared with frontline's.

Usage::

    nice -n 5 python bench/spatial_bench.py --out bench/out/spatial.json
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

TYPES = ("tumor", "stromal", "CD8_T", "T_helper", "B_cell", "macrophage", "neutrophil")
# the spatial keys that name phenotypes (no schema default): the simulator's panel
PANEL = {"immune_types": TYPES[2:], "call": {"phenotype": "CD8_T"}}


def make_table(path, n_cells=1_000_000, size_um=10_000.0, seed=3, lattice_um=4.0):
    """A synthetic slide of about ``n_cells`` cells (parquet ``cell_id, x_um, y_um, phenotype``)."""
    import numpy as np
    import pandas as pd
    from scipy import ndimage

    from frontline import simulate

    px = int(size_um / 0.5)
    world = simulate.make_world("inflamed", (px, px), 0.5, seed, central_mass=False)
    axis = (np.arange(int(size_um / lattice_um)) + 0.5) * lattice_um
    inside = simulate.tumor_field(world, axis, axis) > world.threshold
    dist = np.where(
        inside,
        -ndimage.distance_transform_edt(inside, sampling=lattice_um),
        ndimage.distance_transform_edt(~inside, sampling=lattice_um),
    )
    area_mm2 = (size_um / 1e3) ** 2
    expected = {
        t: simulate.expected_density_per_mm2("inflamed", t, dist).mean() * area_mm2 for t in TYPES
    }
    scale = n_cells / sum(expected.values())
    rng = np.random.default_rng(seed)
    parts = []
    for t in TYPES:
        density = simulate.expected_density_per_mm2("inflamed", t, dist) * scale
        top = float(density.max())
        n = rng.poisson(top * area_mm2)
        xy = rng.uniform(0, size_um, (n, 2))
        cell = np.minimum((xy / lattice_um).astype(int), len(axis) - 1)
        keep = rng.random(n) * top < density[cell[:, 1], cell[:, 0]]
        parts.append(pd.DataFrame({"x_um": xy[keep, 0], "y_um": xy[keep, 1], "phenotype": t}))
    table = pd.concat(parts, ignore_index=True).sample(frac=1.0, random_state=seed)
    table.insert(0, "cell_id", np.arange(1, len(table) + 1, dtype=np.int64))
    table.to_parquet(path, index=False)
    return table


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_seconds():
    """User + system CPU time of this process, all threads, s."""
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def run_method(method, table_path, regions_path, args):
    """Run one method in this process; return its measurements."""
    import numpy as np
    import pandas as pd
    import yaml

    from frontline import config, front, geometry, phenotype, regions, spatial

    cells = pd.read_parquet(table_path)
    xy = cells[["x_um", "y_um"]].to_numpy()
    phen = cells["phenotype"].to_numpy()
    out = {"method": method, "n_cells": int(len(cells)), "load_average_1min": os.getloadavg()[0]}
    size = float(max(cells["x_um"].max(), cells["y_um"].max()))
    extent = (float(np.ceil(size)), float(np.ceil(size)))
    if method == "front":
        settings = config.section("front")
        is_tumor = phen == settings.pop("tumor_phenotype")
        t, c = time.perf_counter(), cpu_seconds()
        found = front.detect_regions(xy, is_tumor, extent, workers=2, **settings)
        out["seconds"], out["cpu_seconds"] = time.perf_counter() - t, cpu_seconds() - c
        Path(regions_path).write_text(regions.dumps(regions.regions_to_geojson(found, units="um")))
        out.update(
            tumor_area_mm2=found.tumor.area / 1e6,
            front_length_mm=found.front.length / 1e3,
            tissue_area_mm2=found.tissue.area / 1e6,
        )
    else:
        found = regions.regions_from_geojson(json.loads(Path(regions_path).read_text()))
    if method in ("spatial", "spatial_default"):
        default = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
        overrides = {"envelope": "none"} if method == "spatial" else {}
        params = spatial.Params.from_config(
            default["spatial"],
            tumor_phenotype=default["front"]["tumor_phenotype"],
            workers=args.workers,
            **overrides,
        )
        lineage = phenotype.immune_lineage(
            default["phenotyping"]["phenotypes"], extra=params.immune_types
        )
        t, c = time.perf_counter(), cpu_seconds()
        res = spatial.analyze(cells, found, params, immune_lineage=lineage, sample="bench")
        out["seconds"], out["cpu_seconds"] = time.perf_counter() - t, cpu_seconds() - c
        out["stages_s"] = {k: round(v, 3) for k, v in res.timings_s.items()}
        out["stages_cpu_s"] = {k: round(v, 3) for k, v in res.cpu_s.items()}
        out["phenotype_call"] = res.summary["phenotype_call"]
        out["peak_rss_analyze_mb"] = peak_rss_mb()
        if method == "spatial_default":
            t, c = time.perf_counter(), cpu_seconds()
            write_spatial_outputs(res, found, params)
            out["write_seconds"] = time.perf_counter() - t
            out["write_cpu_seconds"] = cpu_seconds() - c
    elif method == "permutations":
        params = spatial.Params.from_config(**PANEL)
        dmap = spatial.distance_map(found, params.raster_um)
        r, c = dmap.pixel_of(xy)
        in_tissue = dmap.tissue[r, c]
        edge = geometry.distance_to_lines(xy, found.tissue.boundary, 0.5, args.workers)
        a = (phen == "CD8_T") & in_tissue
        b = (phen == "tumor") & in_tissue
        radii = np.sort(params.lfunction_radii_um)
        t, c = time.perf_counter(), cpu_seconds()
        spatial.l_function_envelope(
            xy[a],
            edge[a],
            xy[b],
            edge[b],
            dmap.tissue.sum() * params.raster_um**2,
            radii,
            args.permutations,
            seed=0,
        )
        out["seconds"], out["cpu_seconds"] = time.perf_counter() - t, cpu_seconds() - c
        out["permutations"] = args.permutations
        out["seconds_per_permutation"] = out["seconds"] / max(args.permutations, 1)
    elif method == "enrichment":
        t, c = time.perf_counter(), cpu_seconds()
        z = spatial.nhood_enrichment(xy, phen, args.radius, min_cells=20, workers=args.workers)
        out["seconds"], out["cpu_seconds"] = time.perf_counter() - t, cpu_seconds() - c
        z.to_csv(Path(args.out).with_name("enrichment_frontline.tsv"), sep="\t", index=False)

    elif method == "squidpy":
        import anndata as ad
        import squidpy as sq

        def adata_of(n):
            a = ad.AnnData(X=np.zeros((n, 1), dtype=np.float32))
            a.obsm["spatial"] = xy[:n]
            a.obs["phenotype"] = pd.Categorical(phen[:n])
            return a

        warm = adata_of(20_000)  # numba compiles here, not in the timed call
        sq.gr.spatial_neighbors(warm, coord_type="generic", radius=args.radius)
        sq.gr.nhood_enrichment(
            warm, cluster_key="phenotype", n_perms=10, seed=0, show_progress_bar=False
        )
        adata = adata_of(len(cells))
        t, c = time.perf_counter(), cpu_seconds()
        sq.gr.spatial_neighbors(adata, coord_type="generic", radius=args.radius)
        t_graph = time.perf_counter() - t
        sq.gr.nhood_enrichment(
            adata,
            cluster_key="phenotype",
            n_perms=args.squidpy_perms,
            seed=0,
            show_progress_bar=False,
            n_jobs=1,
        )  # n_jobs > 1: numba fails on read-only arrays
        out["seconds"], out["cpu_seconds"] = time.perf_counter() - t, cpu_seconds() - c
        out["graph_seconds"] = t_graph
        out["n_perms"] = args.squidpy_perms
        names = list(adata.obs["phenotype"].cat.categories)
        zs = adata.uns["phenotype_nhood_enrichment"]["zscore"]
        rows = [
            {"phenotype": a, "neighbour_phenotype": b, "zscore": float(zs[i, j])}
            for i, a in enumerate(names)
            for j, b in enumerate(names)
        ]
        pd.DataFrame(rows).to_csv(
            Path(args.out).with_name("enrichment_squidpy.tsv"), sep="\t", index=False
        )
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def write_spatial_outputs(res, found, params):
    """The spatial rule's outputs (workflow/scripts/spatial.py), into a temporary folder."""
    import tempfile

    from frontline import io, plots, spatial

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        io.write_parquet(res.cells, out / "cells_spatial.parquet")
        for name in spatial.TABLES:
            io.write_tsv(getattr(res, name), out / f"{name}.tsv")
        io.write_json(res.summary, out / "summary.json")
        for name, fig in plots.spatial_figures(res, found, params, "bench").items():
            io.save_figure(fig, out / f"{name}.png", dpi=120)


def versions():
    from importlib.metadata import version

    return {
        p: version(p)
        for p in (
            "numpy",
            "scipy",
            "shapely",
            "scikit-image",
            "scikit-learn",
            "pandas",
            "squidpy",
            "anndata",
            "numba",
        )
    }


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "spatial.json"))
    parser.add_argument("--cells", type=int, default=1_000_000)
    parser.add_argument("--radius", type=float, default=50.0, help="enrichment radius graph, µm")
    parser.add_argument("--squidpy-perms", type=int, default=100)
    parser.add_argument("--permutations", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--methods", default="front,spatial_default,spatial,permutations,enrichment,squidpy"
    )
    parser.add_argument("--run", help=argparse.SUPPRESS)  # internal: one method in this process
    args = parser.parse_args()
    out_dir = Path(args.out).parent
    out_dir.mkdir(parents=True, exist_ok=True)
    table = out_dir / f"bench_cells_{args.cells}.parquet"
    regions = out_dir / f"bench_regions_{args.cells}.geojson"
    if args.run:
        print(json.dumps(run_method(args.run, table, regions, args)), flush=True)
        return
    if not table.exists():
        t = time.perf_counter()
        made = make_table(table, args.cells)
        print(f"made {len(made):,} cells in {time.perf_counter() - t:.0f} s -> {table}", flush=True)
    results = []
    for method in args.methods.split(","):
        cmd = [
            sys.executable,
            __file__,
            "--run",
            method,
            "--out",
            args.out,
            "--cells",
            str(args.cells),
            "--radius",
            str(args.radius),
            "--squidpy-perms",
            str(args.squidpy_perms),
            "--permutations",
            str(args.permutations),
            "--workers",
            str(args.workers),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"{method} failed")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(json.dumps(result), flush=True)
        results.append(result)
    summary = {
        "machine": machine.describe(),
        "versions": versions(),
        "radius_um": args.radius,
        "results": results,
    }
    by = {r["method"]: r for r in results}
    if "enrichment" in by and "squidpy" in by:
        import pandas as pd

        ours = pd.read_csv(Path(args.out).with_name("enrichment_frontline.tsv"), sep="\t")
        theirs = pd.read_csv(Path(args.out).with_name("enrichment_squidpy.tsv"), sep="\t")
        both = ours.merge(
            theirs, on=["phenotype", "neighbour_phenotype"], suffixes=("", "_squidpy")
        )
        summary["enrichment_speedup"] = by["squidpy"]["seconds"] / by["enrichment"]["seconds"]
        if "front" in by and "spatial_default" in by:
            ours_s = by["front"]["seconds"] + by["spatial_default"]["seconds"]
            summary["front_spatial_default_seconds"] = ours_s
            summary["front_spatial_default_speedup_vs_squidpy"] = by["squidpy"]["seconds"] / ours_s
        summary["zscore_correlation"] = float(both["zscore"].corr(both["zscore_squidpy"]))
        summary["zscore_max_abs_difference"] = float(
            (both["zscore"] - both["zscore_squidpy"]).abs().max()
        )
        summary["zscore_median_rel_difference"] = float(
            (
                (both["zscore"] - both["zscore_squidpy"]).abs() / both["zscore_squidpy"].abs()
            ).median()
        )
    Path(args.out).write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if k != "results"}, indent=1))


if __name__ == "__main__":
    main()
