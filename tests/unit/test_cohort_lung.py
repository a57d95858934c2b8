"""The real lung cohort (../shared/data/vectra_lung_cohort: 50 patients, 247 fields, survival)
through the library, as bench/lung_cohort.py runs it for README.md: the numbers README quotes,
and pooled features checked against the raw table by an independent computation."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.spatial import cKDTree

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.shared_data, pytest.mark.timeout(1800)]


def _bench():
    spec = importlib.util.spec_from_file_location("lung_cohort", ROOT / "bench" / "lung_cohort.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def lung(shared_data):
    bench = _bench()
    table = shared_data / "vectra_lung_cohort" / "lung_cells.csv.gz"
    features, stats, _ = bench.run(table, bootstrap=0)  # the intervals of epsilon² not needed
    return {"table": table, "features": features, "stats": stats, "bench": bench}


def test_every_patient_pools_its_fields(lung):
    p = lung["features"].patients.table
    images = lung["features"].images.table
    assert len(p) == 50 and len(images) == 247
    assert p["n_images"].value_counts().to_dict() == {5: 47, 4: 3}
    assert p["n_cells"].sum() == 285_412
    # pooled = a weighted mean of the fields' densities (weights: their tissue areas): inside
    # their range, and not their plain mean (it differs by a median 4 %, up to 23 %)
    column = "density_per_mm2_tissue_CD8_T"
    fields = images.groupby("patient")[column]
    pooled = p.set_index("patient")[column].loc[fields.mean().index]
    assert ((pooled >= fields.min() - 1e-9) & (pooled <= fields.max() + 1e-9)).all()
    off = (pooled - fields.mean()).abs() / pooled
    assert off.median() > 0.02 and off.max() > 0.2  # measured: 0.040, 0.235
    assert p["n_cells_CD8_T"].sum() == 11_775  # the table's CD8+ cells


def test_nearest_tumor_distances_equal_a_direct_kd_tree_on_the_raw_table(lung):
    raw = pd.read_csv(
        lung["table"],
        usecols=["patient_id", "patientImage_id", "x", "y", "phenotype_ck", "phenotype_cd8"],
    )
    feature = lung["features"].patients.table.set_index("patient")[
        "median_dist_nearest_tumor_um_CD8_T"
    ]
    checked = 0
    for patient in ("2", "10", "41"):
        rows = raw[raw["patient_id"].astype(int).astype(str) == patient]
        distances = []
        for _, field in rows.groupby("patientImage_id"):
            ck = field["phenotype_ck"] == "CK+"
            if ck.sum() < 20:  # spatial.min_cells: a field with fewer tumor cells says nothing
                continue
            cd8 = field.loc[field["phenotype_cd8"] == "CD8+", ["x", "y"]].to_numpy()
            d, _ = cKDTree(field.loc[ck, ["x", "y"]].to_numpy()).query(cd8)
            distances.append(d)
        pooled = np.concatenate(distances)
        assert feature[patient] == pytest.approx(np.median(pooled), rel=1e-9)
        checked += 1
    assert checked == 3


def test_the_clinical_table_is_the_cell_table_and_counts_each_patient_once(lung):
    notes = lung["stats"].notes
    assert "285412 rows for 50 patients" in notes.loc[notes["topic"] == "clinical", "note"].iloc[0]
    survival = lung["stats"].survival.set_index("feature")
    assert survival.at["density_per_mm2_tissue_CD8_T", "n_patients"] == 50
    assert survival.at["density_per_mm2_tissue_CD8_T", "n_events"] == 33


def test_survival_no_association_survives_the_fdr_the_strongest_as_readme_says(lung):
    s = lung["stats"].survival.set_index("feature")
    assert len(s) == 30  # 6 densities, 4 distances, 5 mixing scores, 15 enrichment pairs
    assert s["fdr"].min() > 0.05  # measured: 0.12
    top = s["p"].idxmin()
    assert top == "enrichment_z_B_cell__monocyte"
    assert s.at[top, "hr_per_sd"] == pytest.approx(1.93, abs=0.01)
    assert (s.at[top, "ci_low"], s.at[top, "ci_high"]) == pytest.approx((1.23, 3.01), abs=0.01)
    assert s.at[top, "p"] == pytest.approx(0.0040, abs=0.0005)
    assert s.at[top, "fdr"] == pytest.approx(0.12, abs=0.005)
    assert s.at[top, "adj_hr_per_sd"] == pytest.approx(1.93, abs=0.01)
    assert s.at[top, "concordance"] == pytest.approx(0.65, abs=0.01)
    cd8 = s.loc["density_per_mm2_tissue_CD8_T"]
    assert cd8["hr_per_sd"] == pytest.approx(1.16, abs=0.01) and cd8["p"] > 0.4
    assert bool(cd8["ph_violated"])  # ph_p 0.0499: its hazard ratio is an average over time


def test_stage_groups_and_kaplan_meier_as_readme_says(lung):
    g = lung["stats"].group_tests.set_index("feature")
    assert set(g["test"]) == {"kruskal_wallis"} and g["fdr"].min() > 0.05  # measured 0.73
    assert g["p"].idxmin() == "enrichment_z_CD8_T__monocyte"
    assert g["p"].min() == pytest.approx(0.032, abs=0.001)
    km = lung["stats"].km_tests.set_index("split")
    call = km.loc["phenotype_call"]
    assert call["groups"] == "desert (16), inflamed (32)"
    # no field of these two patients has a call: no tumor region, or tumor filling the field
    assert "patients without a call left out: not_computable (2)" in call["reason"]
    assert call["logrank_p"] == pytest.approx(0.066, abs=0.001)
    split = km.loc["enrichment_z_B_cell__monocyte (median split)"]
    assert split["logrank_p"] == pytest.approx(0.061, abs=0.001)
