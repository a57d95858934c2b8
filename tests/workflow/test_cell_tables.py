"""Samples that start from a cell table run the workflow from the cells on, beside image samples.

- a mixed run: the demo image, the demo's own truth cells as a generic table (phenotypes from
  the table) and an MCMICRO table of the same cells with intensities (gated by frontline),
  one cohort table;
- the issue's minimal form: a sheet with `sample` and `cells`, a table with x_um, y_um and
  phenotype, a config naming only the immune types and the call's phenotype;
- the real-data example configs (config/examples/): every table checked at startup, the whole
  workflow planned (the lung cohort's 247 fields with its cohort statistics), one HALO core run.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from runs import ROOT, make_workdir, planned_jobs, snakemake

pytestmark = pytest.mark.timeout(900)

MARKERS = {  # what the demo panel's phenotypes are positive for
    "tumor": ["PanCK"],
    "CD8_T": ["CD45", "CD3", "CD8"],
    "T_helper": ["CD45", "CD3"],
    "B_cell": ["CD45", "CD20"],
    "macrophage": ["CD45", "CD68"],
    "neutrophil": ["CD45", "MPO"],
}
PANEL = ["DAPI", "PanCK", "CD45", "CD3", "CD8", "CD20", "CD68", "MPO"]
PIXEL_UM = 0.5


def truth_cells(demo_input):
    return pd.read_parquet(f"{demo_input['truth']}.truth_cells.parquet")


def mcmicro_table(truth, seed=0):
    """An MCMICRO quantification table of the truth cells: px centroids, one mean per marker
    (bright where the cell's phenotype has the marker)."""
    rng = np.random.default_rng(seed)
    table = {
        "CellID": truth["cell_id"].to_numpy(),
        "X_centroid": truth["x_um"].to_numpy() / PIXEL_UM - 0.5,
        "Y_centroid": truth["y_um"].to_numpy() / PIXEL_UM - 0.5,
        "Area": rng.uniform(80, 140, len(truth)),
        "Eccentricity": rng.uniform(0.2, 0.8, len(truth)),
        "Solidity": rng.uniform(0.85, 1.0, len(truth)),
    }
    for marker in PANEL:
        positive = truth["phenotype"].map(lambda p, m=marker: m in MARKERS.get(p, [])).to_numpy()
        positive |= marker == "DAPI"
        table[marker] = np.where(positive, 600.0, 40.0) * rng.lognormal(0.0, 0.25, len(truth))
    return pd.DataFrame(table)


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory, demo_input):
    """The demo image, its truth cells as a generic table and as an MCMICRO table, run whole."""
    work = tmp_path_factory.mktemp("mixed_run")
    tables = work / "tables"
    tables.mkdir()
    truth = truth_cells(demo_input)
    truth[["cell_id", "x_um", "y_um", "phenotype"]].to_csv(tables / "truth.csv.gz", index=False)
    mcmicro_table(truth).to_csv(tables / "demo_cell.csv", index=False)
    sheet = (
        "sample\timage\tcells\tcells_format\tpixel_size_um\ttruth\n"
        f"demo\t{demo_input['image']}\t\t\t\t{demo_input['truth']}\n"
        f"truth_table\t\t{tables / 'truth.csv.gz'}\t\t\t\n"
        f"mcmicro\t\t{tables / 'demo_cell.csv'}\tmcmicro\t{PIXEL_UM}\t\n"
    )
    # MCMICRO gives whole-cell means only: gate every marker on its cell mean
    cell = {m: "cell" for m in PANEL}
    gated = {m: "cell" for m in PANEL if m != "DAPI"}  # exclusive_compartments: gated markers
    overrides = {"phenotyping": {"compartments": cell, "exclusive_compartments": gated}}
    make_workdir(work, overrides=overrides, sheet_text=sheet)
    proc = snakemake(work, cores=2, timeout_s=900, check=True)
    return {"dir": work, "output": proc.output, "truth": truth}


def test_table_samples_skip_segment_and_measure(mixed_run):
    jobs = planned_jobs(mixed_run["output"])
    assert jobs["segment"] == 1 and jobs["measure"] == 1  # the image only
    assert jobs["table_phenotypes"] == 1 and jobs["table_cells"] == 1
    assert jobs["phenotype"] == 2  # the image and the MCMICRO intensities
    assert jobs["front"] == jobs["spatial"] == jobs["overview_plot"] == 3
    assert jobs["qupath_export"] == jobs["anndata_export"] == 3 and jobs["cohort"] == 1


def test_one_cohort_table_holds_image_and_table_samples(mixed_run):
    cohort = pd.read_csv(mixed_run["dir"] / "results" / "cohort" / "summary.tsv", sep="\t")
    assert sorted(cohort["sample"]) == ["demo", "mcmicro", "truth_table"]
    calls = cohort.set_index("sample")["phenotype_call"]
    assert calls["truth_table"] == calls["demo"] == "inflamed"  # the demo's preset


def test_front_from_truth_cells_matches_the_truth_front(mixed_run):
    res = mixed_run["dir"] / "results" / "truth_table"
    cells = pd.read_parquet(res / "cells_spatial.parquet").merge(
        mixed_run["truth"][["cell_id", "dist_front_um"]], on="cell_id", suffixes=("", "_truth")
    )
    assert len(cells) == len(mixed_run["truth"])
    near = cells["dist_front_um_truth"].abs() <= 300
    error = (cells["dist_front_um"] - cells["dist_front_um_truth"])[near].abs().median()
    print(f"\ntruth cells as a table: median |distance error| {error:.2f} µm")
    assert error <= 5.0
    regions = json.loads((res / "tumor.geojson").read_text())
    assert regions["frontline"]["units"] == "um"  # no pixel size for this table


def test_mcmicro_intensities_are_gated_into_the_truth_phenotypes(mixed_run):
    res = mixed_run["dir"] / "results" / "mcmicro"
    phenotypes = pd.read_parquet(res / "phenotypes.parquet").merge(
        mixed_run["truth"][["cell_id", "phenotype"]], on="cell_id", suffixes=("", "_truth")
    )
    known = phenotypes["phenotype_truth"].isin(list(MARKERS))
    accuracy = (phenotypes["phenotype"] == phenotypes["phenotype_truth"])[known].mean()
    print(f"\nMCMICRO intensities gated: phenotype accuracy {accuracy:.3f}")
    assert accuracy >= 0.95
    gates = pd.read_csv(res / "gates.tsv", sep="\t")
    assert set(gates["marker"]) >= {"PanCK", "CD8", "CD45"}
    assert (res / "plots" / "gating" / "CD8.png").stat().st_size > 5_000


def test_table_sample_exports(mixed_run):
    import anndata as ad

    res = mixed_run["dir"] / "results" / "mcmicro"
    cells = pd.read_parquet(res / "cells_spatial.parquet")
    qupath = json.loads((res / "qupath_cells.geojson").read_text())
    assert qupath["frontline"] == {"units": "px", "pixel_size_um": PIXEL_UM}
    detections = [f for f in qupath["features"] if f["properties"]["objectType"] == "detection"]
    assert len(detections) == len(cells)
    ring = np.asarray(detections[0]["geometry"]["coordinates"][0])
    row = cells.set_index("cell_id").loc[int(detections[0]["properties"]["metadata"]["cell_id"])]
    centre = ring[:-1].mean(axis=0) * PIXEL_UM
    np.testing.assert_allclose(centre, [row["x_um"], row["y_um"]], atol=0.01)
    adata = ad.read_h5ad(res / "cells.h5ad")
    assert adata.n_obs == len(cells) and adata.uns["pixel_size_um"] == PIXEL_UM
    assert "CD8" in adata.var_names
    assert (res / "plots" / "overview.png").stat().st_size > 20_000


def test_minimal_form_of_the_issue(tmp_path, demo_input):
    """sample + cells; x_um, y_um, phenotype; a config naming only what it must."""
    work = tmp_path / "work"
    (work / "config").mkdir(parents=True)
    table = truth_cells(demo_input)[["x_um", "y_um", "phenotype"]]
    table.to_csv(work / "p1.csv", index=False)
    (work / "config" / "samples.tsv").write_text(f"sample\tcells\np1\t{work / 'p1.csv'}\n")
    config = {
        "samples": "config/samples.tsv",
        "spatial": {"immune_types": ["CD8_T", "macrophage"], "call": {"phenotype": "CD8_T"}},
    }
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    proc = snakemake(work, cores=2, timeout_s=600, check=True)
    jobs = planned_jobs(proc.output)
    assert "segment" not in jobs and "phenotype" not in jobs and jobs["table_phenotypes"] == 1
    summary = json.loads((work / "results" / "p1" / "summary.json").read_text())
    assert summary["phenotype_call"] == "inflamed" and summary["n_cells"] == len(table)
    assert (work / "results" / "cohort" / "summary.tsv").is_file()


# --------------------------------------------------------------------------- real examples


def example_workdir(work, name, shared_data, keep=None):
    """A working folder whose config is the example (its whole config) and whose sheet points
    into ``shared_data``; ``keep``: only these samples."""
    (work / "config").mkdir(parents=True)
    config = yaml.safe_load((ROOT / "config" / "examples" / f"{name}.yaml").read_text())
    rows = pd.read_csv(ROOT / config["samples"], sep="\t", dtype=str, keep_default_na=False)
    rows["cells"] = [str(shared_data / p.split("shared/data/", 1)[1]) for p in rows["cells"]]
    if keep is not None:
        rows = rows[rows["sample"].isin(keep)]
    rows.to_csv(work / "config" / "samples.tsv", sep="\t", index=False)
    config["samples"] = "config/samples.tsv"
    clinical = (config.get("cohort") or {}).get("clinical")
    if clinical:
        config["cohort"]["clinical"] = str(shared_data / clinical.split("shared/data/", 1)[1])
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return len(rows)


@pytest.mark.parametrize(
    ("name", "n"), [("halo_tma", 5), ("tnbc_keren", 17), ("inform_fihc4_table", 1)]
)
def test_example_plans_the_workflow(tmp_path, shared_data, name, n):
    work = tmp_path / "work"
    assert example_workdir(work, name, shared_data) == n
    proc = snakemake(work, "-n", timeout_s=300)
    assert proc.returncode == 0, proc.output[-3000:]
    jobs = planned_jobs(proc.output)
    assert jobs["table_phenotypes"] == n and jobs["spatial"] == n
    assert not {"segment", "measure", "phenotype"} & set(jobs)


def test_lung_example_plans_247_fields_and_the_cohort(tmp_path, shared_data):
    work = tmp_path / "work"
    assert example_workdir(work, "vectra_lung_cohort", shared_data) == 247
    proc = snakemake(work, "-n", timeout_s=600)
    assert proc.returncode == 0, proc.output[-3000:]
    jobs = planned_jobs(proc.output)
    assert jobs["table_phenotypes"] == jobs["spatial"] == 247
    assert jobs["cohort_features"] == jobs["cohort_statistics"] == 1  # 50 patients, survival
    assert not {"segment", "measure", "phenotype"} & set(jobs)


def test_halo_core_runs_whole(tmp_path, shared_data):
    work = tmp_path / "work"
    example_workdir(work, "halo_tma", shared_data, keep=["TMA3_9_K"])
    snakemake(work, cores=2, timeout_s=600, check=True)
    res = work / "results" / "TMA3_9_K"
    summary = json.loads((res / "summary.json").read_text())
    assert summary["n_cells"] == 1803 and summary["has_front"]
    cells = pd.read_parquet(res / "cells_spatial.parquet")
    inside = cells["in_tumor"].to_numpy(bool)
    truth = cells["tissue_class"].eq("Tumor").to_numpy()
    assert np.mean(inside == truth) >= 0.75  # accuracy 0.82 with today's front (0.5 µm/px)
    assert Path(res / "plots" / "overview.png").stat().st_size > 20_000
