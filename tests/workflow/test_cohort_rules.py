"""The cohort rules on their own (``--allowed-rules``): six samples of four patients, their
spatial outputs made here by the library, a clinical table; features pooled per patient, the
outcome statistics, the notes printed at the end; every output written when statistics cannot
be made (no events, a group of one patient)."""

import numpy as np
import pandas as pd
import pytest
from runs import make_workdir, snakemake, write_sheet

pytestmark = pytest.mark.timeout(900)

PATIENTS = {"s1": "P1", "s2": "P1", "s3": "P2", "s4": "P2", "s5": "P3", "s6": "P4"}
CD8_CELLS = {"s1": 80, "s2": 20, "s3": 150, "s4": 60, "s5": 10, "s6": 40}
RULES = ["cohort_features", "cohort_statistics", "all"]
STATISTICS = ["group_tests", "survival", "km_curves", "km_tests", "notes"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A header-only image and each sample's spatial outputs (results/{sample}/...)."""
    import shapely
    from shapely.geometry import MultiPolygon, Point, box

    from frontline import front, io, spatial
    from frontline.geometry import as_multipolygon
    from frontline.regions import Regions

    folder = tmp_path_factory.mktemp("cohort inputs")
    channels = ["DAPI", "PanCK", "CD45", "CD3", "CD8", "CD68", "CD20", "MPO"]
    io.write_image(folder / "field.ome.tif", np.zeros((8, 250, 250), np.uint16), channels, 2.0)
    params = spatial.Params.from_config({"permutations": 0})
    tissue = MultiPolygon([box(0, 0, 500, 500)])
    tumor = as_multipolygon(Point(250, 250).buffer(150, quad_segs=32))
    regions = Regions(tumor, tissue, front.invasive_front(tumor, tissue, 20.0), (500.0, 500.0))
    for i, (sample, n_cd8) in enumerate(CD8_CELLS.items()):
        rng = np.random.default_rng(i)
        xy = rng.uniform(0, 500, (1500 + n_cd8, 2))
        inside = shapely.contains_xy(tumor, xy[:, 0], xy[:, 1])
        phen = np.where(inside, "tumor", "other").astype(object)
        phen[1500:] = "CD8_T"
        phen[rng.choice(1500, 60, replace=False)] = "macrophage"
        cells = pd.DataFrame(
            {
                "cell_id": np.arange(1, len(xy) + 1),
                "x_um": xy[:, 0],
                "y_um": xy[:, 1],
                "phenotype": phen.astype(str),
            }
        )
        res = spatial.analyze(cells, regions, params, sample=sample)
        out = folder / "results" / sample
        io.write_parquet(res.cells, out / "cells_spatial.parquet")
        for name in ("region_densities", "densities", "enrichment"):
            io.write_tsv(getattr(res, name), out / f"{name}.tsv")
        io.write_json(res.summary, out / "summary.json")
    return folder


def run_cohort(work, inputs, clinical, cohort=None):
    """A working folder with the six samples, their outputs and ``clinical`` rows; runs the
    cohort rules alone."""
    import shutil

    cohort = cohort or {
        "clinical": "clinical.tsv",
        "group": "response",
        "survival": {"time": "os_days", "event": "death"},
        "covariates": ["age"],
        "km_top": 1,
    }
    make_workdir(work, overrides={"cohort": cohort})
    rows = [
        {"sample": s, "image": str(inputs / "field.ome.tif"), "patient": p}
        for s, p in PATIENTS.items()
    ]
    write_sheet(work / "config" / "samples.tsv", rows, columns=("sample", "image", "patient"))
    shutil.copytree(inputs / "results", work / "results")
    pd.DataFrame(clinical, columns=["patient", "os_days", "death", "response", "age"]).to_csv(
        work / "clinical.tsv", sep="\t", index=False
    )
    targets = ["results/cohort/features.tsv", "results/cohort/km.png"]
    return snakemake(work, "--allowed-rules", *RULES, "--", *targets, timeout_s=600)


def test_features_are_pooled_per_patient_and_the_statistics_written(tmp_path, inputs):
    work = tmp_path / "work"
    clinical = [("P1", 400, 1, "R", 61), ("P2", 2000, 0, "R", 70), ("P3", 90, 1, "NR", 55)]
    proc = run_cohort(work, inputs, clinical)
    assert proc.returncode == 0, proc.output[-4000:]
    cohort = work / "results" / "cohort"
    features = pd.read_csv(cohort / "features.tsv", sep="\t").set_index("patient")
    assert features.index.tolist() == ["P1", "P2", "P3", "P4"]
    assert features["n_images"].tolist() == [2, 2, 1, 1]
    # P1's CD8 T cells per mm² of tissue: both images' cells over both images' area
    tables = [
        pd.read_csv(work / "results" / s / "region_densities.tsv", sep="\t") for s in ("s1", "s2")
    ]
    cells = sum(t.loc[t["phenotype"] == "CD8_T", "n_cells"].sum() for t in tables)
    area = sum(t.drop_duplicates("region")["area_mm2"].sum() for t in tables)
    assert features.at["P1", "density_per_mm2_tissue_CD8_T"] == pytest.approx(
        cells / area, rel=1e-5
    )
    images = pd.read_csv(cohort / "image_features.tsv", sep="\t")
    assert images["sample"].tolist() == list(PATIENTS) and images["patient"].tolist() == list(
        PATIENTS.values()
    )
    for name in STATISTICS + ["feature_descriptions", "features_not_computable", "band_densities"]:
        assert (cohort / f"{name}.tsv").is_file(), name
    for name in ("group_effects", "hazard_ratios", "km"):
        assert (cohort / f"{name}.png").stat().st_size > 10_000, name
    survival = pd.read_csv(cohort / "survival.tsv", sep="\t")
    assert survival["n_patients"].max() == 3  # P4 has no clinical row
    notes = pd.read_csv(cohort / "notes.tsv", sep="\t")["note"].tolist()
    lacking = "1 patient(s) of the sample sheet are not in the clinical table"
    assert any(lacking in n and "P4" in n for n in notes)
    assert any("'NR' (1)" in n for n in notes)  # a group of one patient: left out, said
    text = " ".join(proc.output.split())
    assert "per patient: results/cohort/features.tsv" in text
    assert f"note: {lacking}" in text  # printed at the end of the run


def test_no_events_still_writes_every_output_and_says_why(tmp_path, inputs):
    work = tmp_path / "work"
    clinical = [(p, 1000, 0, "R", 60) for p in ("P1", "P2", "P3", "P4")]
    proc = run_cohort(work, inputs, clinical)
    assert proc.returncode == 0, proc.output[-4000:]
    cohort = work / "results" / "cohort"
    survival = pd.read_csv(cohort / "survival.tsv", sep="\t")
    assert set(survival["reason"]) == {"no events (every event value is 0)"}
    notes = pd.read_csv(cohort / "notes.tsv", sep="\t")["note"].tolist()
    assert any("no events" in n for n in notes)
    assert any("fewer than 2 groups" in n for n in notes)  # everyone responded
    assert (cohort / "km.png").is_file() and (cohort / "group_effects.png").is_file()
