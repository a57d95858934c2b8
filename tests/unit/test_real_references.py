"""The front and the immune call against real references (../shared/data; skipped without it).

- halo_tma: five TMA cores from a HALO analysis; HALO's tissue classifier labels every cell
  Tumor or Stroma. The tumor cells are HALO's Tumor cells; frontline's tumor region is then
  compared cell by cell with HALO's labels (accuracy and Cohen's kappa per core). The export
  gives bounding boxes in pixels without a pixel size: 0.5 µm/px follows from the data (the
  cell areas in µm² against the bounding boxes in px² give 0.495-0.502 µm/px in every core).
- tnbc_keren_dev: 17 TNBC fields (MIBI, 800 µm, 0.390625 µm/px) with Keren et al.'s published
  phenotypes and class per patient (mixed or compartmentalized). The call on all immune cells
  (Keren's classes concern all of them) must agree with the class (mixed -> inflamed,
  compartmentalized -> excluded or desert).
Both are read here from their CSV files as generic cell tables (x, y, phenotype).
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from frontline import config, front, spatial
from frontline.geometry import inside

HALO_CORES = ["TMA1_3_B", "TMA2_3_B", "TMA3_7_B", "TMA3_8_U", "TMA3_9_K"]
HALO_UM_PER_PX = 0.5
TNBC_UM_PER_PX = 0.390625
TNBC_IMMUNE = (
    "CD8T",
    "CD4T",
    "CD3T",
    "Treg",
    "B",
    "Macrophage",
    "Neutrophil",
    "DCMono",
    "MonoNeu",
    "DC",
    "NK",
    "Otherimmune",
)


def halo_cells(folder, core):
    table = pd.read_csv(folder / "halo_tma" / f"{core}.csv")
    x = (table["XMin"] + table["XMax"]) / 2 * HALO_UM_PER_PX
    y = (table["YMin"] + table["YMax"]) / 2 * HALO_UM_PER_PX
    is_tumor = (table["Classifier.Label"] == "Tumor").to_numpy()
    cells = pd.DataFrame({"x_um": x, "y_um": y, "phenotype": np.where(is_tumor, "Tumor", "Stroma")})
    return cells, (float(x.max() + 20), float(y.max() + 20))


@pytest.fixture(scope="module")
def halo(shared_data):
    """Per core: (accuracy, kappa) of frontline's tumor region against HALO's labels."""
    settings = {**config.section("front"), "tumor_phenotype": "Tumor"}
    out = {}
    for core in HALO_CORES:
        cells, extent = halo_cells(shared_data, core)
        regions = front.find_regions(cells, extent, settings, sample=core)
        truth = (cells["phenotype"] == "Tumor").to_numpy()
        found = inside(cells[["x_um", "y_um"]].to_numpy(), regions.tumor)
        out[core] = ((found == truth).mean(), cohen_kappa_score(truth, found))
    return out


@pytest.mark.parametrize("core", HALO_CORES)
def test_halo_region_agreement_per_core(halo, core):
    accuracy, kappa = halo[core]
    assert accuracy >= 0.90 and kappa >= 0.60, (core, accuracy, kappa)


@pytest.fixture(scope="module")
def tnbc(shared_data):
    """Per patient: the published class and the calls on all immune cells and on CD8 T cells."""
    folder = shared_data / "tnbc_keren_dev"
    table = pd.read_csv(folder / "cells.csv.gz")
    classes = pd.read_csv(folder / "patients.csv").set_index("patient")["keren_class_name"]
    settings = {**config.section("front"), "tumor_phenotype": "Tumor"}
    rows = []
    for patient, group in table.groupby("patient"):
        cells = pd.DataFrame(
            {
                "cell_id": np.arange(len(group)) + 1,
                "x_um": group["x_px"].to_numpy() * TNBC_UM_PER_PX,
                "y_um": group["y_px"].to_numpy() * TNBC_UM_PER_PX,
                "phenotype": group["phenotype"].to_numpy(),
            }
        )
        regions = front.find_regions(cells, (800.0, 800.0), settings, sample=str(patient))
        row = {"patient": patient, "class": classes[patient], "has_front": regions.has_front}
        for name in ("all_immune", "CD8T"):
            params = spatial.Params.from_config(
                envelope="none",
                tumor_phenotype="Tumor",
                immune_types=("CD8T",),
                call={"phenotype": name},
            )
            summary = spatial.analyze(cells, regions, params, TNBC_IMMUNE, sample=str(patient))
            row[name] = summary.summary["phenotype_call"]
            row[f"{name}_share"] = summary.summary["call_fraction_infiltrating"]
        rows.append(row)
    return pd.DataFrame(rows).set_index("patient")


def agrees(call, keren_class):
    return call == "inflamed" if keren_class == "mixed" else call in ("excluded", "desert")


def test_tnbc_call_on_all_immune_cells_agrees_with_the_published_class(tnbc):
    agree = [agrees(r["all_immune"], r["class"]) for _, r in tnbc.iterrows()]
    assert np.mean(agree) >= 0.75, tnbc
    # measured: 16 of 17; patient 13 (mixed) has 29.4 % of its immune cells infiltrating, the
    # threshold 30 % (30.9 % when the tumor was grown by the edge tolerance along the tissue
    # outline, which HALO's labels showed wrong)
    assert sum(agree) >= 16, tnbc
    # the CD8 call, reported beside it, agrees less (the classes concern all immune cells)
    cd8 = [agrees(r["CD8T"], r["class"]) for _, r in tnbc.iterrows()]
    assert 0.5 <= np.mean(cd8) <= 1.0


def test_tnbc_no_front_only_where_the_field_has_no_stroma_with_cells(tnbc):
    # patient 18: 5,027 tumor cells with 508 immune cells mingled among them, no stroma
    no_front = tnbc.index[~tnbc["has_front"]].tolist()
    assert no_front == [18], tnbc
    assert tnbc.loc[18, "all_immune"] == "inflamed"  # every immune cell among tumor cells
    assert (tnbc["all_immune"] != "no_front").all() and (tnbc["CD8T"] != "no_front").all()
