"""Benchmark: the whole workflow on simulated whole slides, rule by rule.

For each ``--sizes`` value: a simulated slide (``frontline.simulate.write_large_slide``,
preset inflamed, seed 7, 8 channels, 0.5 µm/px, pyramidal OME-TIFF; made once in
``--workdir/slides``), a working folder holding the default config (``config/config.yaml``:
no demo samples of its own, the shipped model) and a one-row sample sheet, then
``snakemake --cores --cores`` on the repository's Snakefile: segment (tile jobs and a merge
from 16384 px on, as the default config splits such slides), measure, phenotype, front,
spatial, the overview, the QuPath and AnnData exports and the cohort table.

Snakemake's benchmark files (``benchmarks/{rule}/...tsv``, one per job) give each job's wall
time, CPU time and peak RSS; the table sums them per rule (the tile jobs of
``segment_tile`` together) and gives each rule's share of the summed job time. The run's own
wall time is measured around the ``snakemake`` command (DAG building included), with cells/s
and megapixels/s of the whole run. The 1-minute load average is recorded before and after
every run: other work on the machine slows a run, record it with the numbers.

``--channels 40`` gives the slide 32 more channels (copies of the 8, named M01..M32), for
the cost of channels in measure, phenotype and the exports.

The checks of issue 17, in the JSON and printed: time linear in pixels (the largest size's
wall time over the smallest's within 1.1 x their pixel ratio, i.e. 16384² within 4.4 x
8192²), every job's peak RSS <= 2 GB, and no rule other than segment (its tile jobs and
merge) over 25 % of the summed job time. The last lines are markdown tables for
bench/README.md.

Usage::

    nice -n 5 python bench/workflow_bench.py --sizes 8192 16384 --out bench/out/workflow.json
    nice -n 5 python bench/workflow_bench.py --sizes 8192 --channels 40 \
        --out bench/out/workflow_40ch.json

A quick check that it works: ``--sizes 2048 --workdir /tmp/wf`` (a few minutes, dominated by
each job's start-up).
"""

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import machine  # bench/machine.py

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

SEGMENT_RULES = ("segment", "segment_tile", "merge_tiles", "segment_normalisation")
MAX_SHARE = 0.25  # of the summed job time, for any rule but segmentation's
MAX_JOB_RSS_MB = 2048.0
LINEAR_SLACK = 1.1  # time ratio within this factor of the pixel ratio


def make_slide(workdir, size, channels, seed=7):
    """The simulated size x size slide with ``channels`` channels (8, or more: copies); cached."""
    from frontline.simulate import write_large_slide

    folder = Path(workdir) / "slides"
    base = folder / f"slide_{size}.ome.tif"
    made = {}
    if not base.exists():
        t = time.perf_counter()
        info = write_large_slide(base, shape_px=(size, size), seed=seed, preset="inflamed")
        made = {"simulated_cells": info["n_cells"], "write_s": time.perf_counter() - t}
        print(f"wrote {base} in {made['write_s']:.0f} s", flush=True)
    if channels == 8:
        return base, made
    path = folder / f"slide_{size}_{channels}ch.ome.tif"
    if not path.exists():
        t = time.perf_counter()
        more_channels(base, path, channels)
        print(f"wrote {path} in {time.perf_counter() - t:.0f} s", flush=True)
    return path, made


def more_channels(src, dst, channels):
    """Copy of the slide ``src`` with ``channels`` channels: its own, then copies named M01..."""
    import tifffile
    import zarr

    from frontline import io

    with io.open_image(src) as img:
        names, pixel_size = list(img.channels), img.pixel_size_um
    with tifffile.TiffFile(src) as tif:
        group = zarr.open(tif.series[0].aszarr(), mode="r")
        levels = [_Repeated(group[str(k)], channels) for k in range(len(tif.series[0].levels))]
        extra = [f"M{i + 1:02d}" for i in range(channels - len(names))]
        io.write_pyramid(dst, levels, [*names, *extra], pixel_size, 512)


class _Repeated:
    """A (C, Y, X) array whose channel c is channel c % C0 of ``base``, read block by block."""

    def __init__(self, base, channels):
        self.base, self.shape, self.dtype = base, (channels, *base.shape[1:]), base.dtype

    def __getitem__(self, key):
        c, ys, xs = key
        return self.base[c % self.base.shape[0], ys, xs]


def make_run(folder, sample, image, cores):
    """A working folder: the default config (no demo samples, the shipped model) and a sheet."""
    import yaml

    folder = Path(folder)
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "config").mkdir(parents=True)
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    config["simulate"]["samples"] = {}
    config["samples"] = "config/samples.tsv"
    config["segmentation"]["model_basedir"] = str(ROOT / "resources" / "models")
    (folder / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (folder / "config" / "samples.tsv").write_text(
        f"sample\timage\n{sample}\t{Path(image).resolve()}\n", encoding="utf-8"
    )
    return folder


def run_workflow(folder, cores, timeout_s):
    """``snakemake --cores`` in ``folder``; wall seconds and load averages around it."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "workflow"), env.get("PYTHONPATH", "")])
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    cmd = [
        "timeout",
        "-s",
        "KILL",
        str(timeout_s),
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(folder),
        "--cores",
        str(cores),
    ]
    load_before = os.getloadavg()[0]
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    (folder / "snakemake.out").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        print(done.stderr[-4000:], file=sys.stderr)
        raise SystemExit(f"snakemake failed in {folder} ({done.returncode})")
    return {"wall_s": wall, "load_before": load_before, "load_after": os.getloadavg()[0]}


def rule_table(folder):
    """Per rule: jobs, summed wall and CPU seconds, the largest peak RSS (MB) of its jobs."""
    rules = {}
    for path in sorted((Path(folder) / "benchmarks").rglob("*.tsv")):
        rule = path.relative_to(Path(folder) / "benchmarks").parts[0]
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        for row in rows[-1:]:  # a retried job: its last attempt
            entry = rules.setdefault(rule, {"jobs": 0, "wall_s": 0.0, "cpu_s": 0.0, "rss": 0.0})
            entry["jobs"] += 1
            entry["wall_s"] += float(row["s"])
            entry["cpu_s"] += _number(row.get("cpu_time"))
            entry["rss"] = max(entry["rss"], _number(row.get("max_rss")))
    total = sum(e["wall_s"] for e in rules.values())
    total_cpu = sum(e["cpu_s"] for e in rules.values())
    return [
        {
            "rule": rule,
            "jobs": e["jobs"],
            "wall_s": round(e["wall_s"], 2),
            "cpu_s": round(e["cpu_s"], 2),
            "peak_rss_mb": round(e["rss"], 1),
            "share": round(e["wall_s"] / total, 4) if total else 0.0,
            # under other load wall shares drift; the CPU share does less
            "cpu_share": round(e["cpu_s"] / total_cpu, 4) if total_cpu else 0.0,
        }
        for rule, e in sorted(rules.items(), key=lambda kv: -kv[1]["wall_s"])
    ]


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return 0.0


def count_cells(folder, sample):
    import pyarrow.parquet as pq

    return pq.ParquetFile(Path(folder) / "results" / sample / "cells.parquet").metadata.num_rows


def versions():
    from importlib.metadata import version

    return {
        p: version(p)
        for p in ("snakemake", "tensorflow-cpu", "stardist", "numpy", "scipy", "numba", "pandas")
    }


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[8192, 16384])
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--workdir", default=str(ROOT / "bench" / "out" / "workflow"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "workflow.json"))
    parser.add_argument("--timeout-s", type=int, default=6 * 3600)
    args = parser.parse_args()
    runs = []
    for size in args.sizes:
        image, made = make_slide(args.workdir, size, args.channels)
        sample = f"slide_{size}" + ("" if args.channels == 8 else f"_{args.channels}ch")
        folder = make_run(Path(args.workdir) / f"run_{sample}", sample, image, args.cores)
        timing = run_workflow(folder, args.cores, args.timeout_s)
        cells = count_cells(folder, sample)
        megapixels = size * size / 1e6
        table = rule_table(folder)
        run = {
            "sample": sample,
            "size_px": size,
            "channels": args.channels,
            "megapixels": megapixels,
            "cells": cells,
            **made,
            **timing,
            "cells_per_s": cells / timing["wall_s"],
            "megapixels_per_s": megapixels / timing["wall_s"],
            "max_job_rss_mb": max(r["peak_rss_mb"] for r in table),
            "largest_share_not_segment": max(
                (r for r in table if r["rule"] not in SEGMENT_RULES),
                key=lambda r: r["share"],
            ),
            "rules_over_25_percent": [
                r["rule"]
                for r in table
                if r["rule"] not in SEGMENT_RULES and r["share"] > MAX_SHARE
            ],
            "rss_ok": all(r["peak_rss_mb"] <= MAX_JOB_RSS_MB for r in table),
            "rules": table,
        }
        runs.append(run)
        print(json.dumps({k: v for k, v in run.items() if k != "rules"}), flush=True)
        for r in table:
            print(
                f"  {r['rule']:<22} {r['jobs']:>3} jobs {r['wall_s']:>9.1f} s wall "
                f"{r['cpu_s']:>9.1f} s CPU {r['peak_rss_mb']:>8.0f} MB {100 * r['share']:5.1f} %",
                flush=True,
            )
    summary = {"machine": machine.describe(), "versions": versions(), "runs": runs}
    if len(runs) > 1:
        first, last = runs[0], runs[-1]
        summary["time_ratio"] = last["wall_s"] / first["wall_s"]
        summary["pixel_ratio"] = last["megapixels"] / first["megapixels"]
        summary["linear"] = summary["time_ratio"] <= LINEAR_SLACK * summary["pixel_ratio"]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=1))
    print(markdown(summary))


def markdown(summary):
    """Tables for bench/README.md: the runs side by side, then each run's rules."""
    m = summary["machine"]
    lines = [
        f"{m['date']}, {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, snakemake "
        f"{summary['versions']['snakemake']}, tensorflow-cpu "
        f"{summary['versions']['tensorflow-cpu']}",
        "",
        "| slide | channels | cells | wall s | cells/s | MP/s | largest job RSS MB | "
        "largest rule but segment | load before → after |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in summary["runs"]:
        top = run["largest_share_not_segment"]
        lines.append(
            f"| {run['size_px']}² | {run['channels']} | {run['cells']:,} | {run['wall_s']:.0f} | "
            f"{run['cells_per_s']:.0f} | {run['megapixels_per_s']:.3f} | "
            f"{run['max_job_rss_mb']:.0f} | {top['rule']} {100 * top['share']:.1f} % | "
            f"{run['load_before']:.2f} → {run['load_after']:.2f} |"
        )
    if "time_ratio" in summary:
        lines.append(
            f"\ntime ratio {summary['time_ratio']:.2f} for a pixel ratio of "
            f"{summary['pixel_ratio']:.1f} (linear: {summary['linear']})"
        )
    for run in summary["runs"]:
        lines += [
            "",
            f"{run['size_px']}², {run['channels']} channels: per rule (jobs summed)",
            "",
            "| rule | jobs | wall s | CPU s | peak RSS MB | share of wall | share of CPU |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['rule']} | {r['jobs']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
            f"{r['peak_rss_mb']:.0f} | {100 * r['share']:.1f} % | "
            f"{100 * r.get('cpu_share', 0):.1f} % |"
            for r in run["rules"]
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
