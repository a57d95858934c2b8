"""Real cell tables (../shared/data) through frontline.celltables and the front and spatial steps,
with the example configs of config/examples/ (skipped when the public data folder is absent).

- inForm (inform_fihc4): the cell count, phenotypes and positions equal inForm's own.
- HALO (halo_tma, 0.5 µm/px assumed, see config/examples/halo_tma.yaml): the tumor region
  frontline traces from the cells HALO's tissue classifier labels Tumor, against that label
  per cell: accuracy and Cohen's kappa per core. The targets (accuracy >= 0.90, kappa >= 0.60
  per core) belong to the issue on fronts and calls; the thresholds here guard today's figures.
- TNBC (tnbc_keren_dev, generic tables): per patient the immune call, the mixing score and
  the published class; the mixing score separates mixed from compartmentalized tumors
  (AUC >= 0.90).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from frontline import celltables, config, front, geometry, sheet, spatial
from frontline.io import read_cell_table

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"
HALO_CORES = ("TMA1_3_B", "TMA2_3_B", "TMA3_7_B", "TMA3_8_U", "TMA3_9_K")
INFORM_TABLE = "inform_fihc4/FIHC4__0929309_HP_IM3_2_cell_seg_data.txt"
INFORM_PIXEL_UM = 0.4971469753648031  # the component image's resolution tags


def example(name, shared_data):
    """An example config (defaults filled in) and its sheet, paths into ``shared_data``."""
    cfg = config.fill_defaults(yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text()))
    samples = sheet.load_sample_sheet(EXAMPLES.parents[1] / cfg["samples"])
    samples["cells"] = [
        str(shared_data / p.split("shared/data/", 1)[1]) for p in samples["cells"].tolist()
    ]
    return cfg, samples


def table_sample(cfg, samples, name, raw=None):
    """One sample of an example: its cells with phenotypes, and its field (µm)."""
    row = samples.loc[name]
    size = sheet.optional(row["pixel_size_um"])
    out = celltables.normalise_cell_table(
        read_cell_table(row["cells"]) if raw is None else raw,
        sheet.cells_format(samples, name),
        cfg["cell_tables"],
        pixel_size_um=None if size is None else float(size),
        rows=celltables.parse_rows(row["cells_rows"], name),
        phenotyping=cfg["phenotyping"],
        sample=name,
    )
    cells = out.cells.merge(out.phenotypes, on="cell_id")
    return cells, celltables.field_extent_um(cells[["x_um", "y_um"]].to_numpy())


def kappa(truth, predicted):
    """Cohen's kappa of two boolean labelings."""
    truth, predicted = np.asarray(truth, bool), np.asarray(predicted, bool)
    observed = np.mean(truth == predicted)
    expected = truth.mean() * predicted.mean() + (1 - truth.mean()) * (1 - predicted.mean())
    return float((observed - expected) / (1 - expected))


def test_inform_table_equals_inform(shared_data):
    path = shared_data / INFORM_TABLE
    inform = pd.read_csv(path, sep="\t")
    cfg, samples = example("inform_fihc4_table", shared_data)
    cells, _ = table_sample(cfg, samples, samples.index[0])
    assert len(cells) == len(inform) == 270
    assert cells["cell_id"].tolist() == inform["Cell ID"].tolist()
    mapped = inform["Phenotype"].map(cfg["cell_tables"]["phenotype_map"])
    assert cells["phenotype"].tolist() == mapped.tolist()
    assert cells["phenotype"].value_counts().to_dict() == {
        "B_cell": 249,
        "T_helper": 15,
        "CD8_T": 6,
    }
    # inForm's pixel positions (pixel index) in frontline's µm: (px + 0.5) x pixel size
    back_x = cells["x_um"].to_numpy() / INFORM_PIXEL_UM - 0.5
    back_y = cells["y_um"].to_numpy() / INFORM_PIXEL_UM - 0.5
    np.testing.assert_allclose(back_x, inform["Cell X Position"], atol=1e-9)
    np.testing.assert_allclose(back_y, inform["Cell Y Position"], atol=1e-9)
    assert cells["tissue_class"].eq("Tumor").all()
    assert cells["nucleus_area_um2"].iloc[0] == pytest.approx(149 * INFORM_PIXEL_UM**2)


def test_inform_positions_sit_on_inform_nuclei(shared_data):
    """inForm's positions against its own nuclear label map (the same cell ids): within 2 px."""
    import re

    import tifffile
    from scipy import ndimage

    inform = pd.read_csv(shared_data / INFORM_TABLE, sep="\t")
    maps = shared_data / "inform_fihc4" / "FIHC4__0929309_HP_IM3_2_binary_seg_maps.tif"
    with tifffile.TiffFile(maps) as tif:
        page = next(
            p
            for p in tif.pages
            if re.search(r"<CompartmentType>Nucleus</CompartmentType>", p.description or "")
        )
        labels = page.asarray()
    ids = inform["Cell ID"].to_numpy()
    centre = np.array(ndimage.center_of_mass(labels > 0, labels, ids))  # (row, col) index
    dx = np.abs(centre[:, 1] - inform["Cell X Position"].to_numpy())
    dy = np.abs(centre[:, 0] - inform["Cell Y Position"].to_numpy())
    print(
        f"\ninForm position vs its nucleus centroid: median |dx| {np.median(dx):.2f} px, "
        f"|dy| {np.median(dy):.2f} px"
    )
    assert np.median(dx) < 2.0 and np.median(dy) < 2.0


def test_halo_region_per_cell_against_the_classifier(shared_data):
    cfg, samples = example("halo_tma", shared_data)
    rows = []
    for core in HALO_CORES:
        cells, extent = table_sample(cfg, samples, core)
        regions = front.find_regions(cells, extent, cfg["front"], sample=core)
        inside = geometry.inside(cells[["x_um", "y_um"]].to_numpy(), regions.tumor)
        truth = cells["tissue_class"].eq("Tumor").to_numpy()
        rows.append(
            {
                "core": core,
                "cells": len(cells),
                "tumor_share": truth.mean(),
                "accuracy": float(np.mean(inside == truth)),
                "kappa": kappa(truth, inside),
            }
        )
    table = pd.DataFrame(rows).set_index("core")
    print("\nHALO region per cell vs Classifier Label (0.5 µm/px):\n" + table.round(3).to_string())
    assert table["cells"].tolist() == [3803, 3008, 1850, 2318, 1803]
    # today's front (the issue on fronts and calls raises these to >= 0.90 and >= 0.60)
    assert (table["accuracy"] >= 0.75).all(), table
    assert (table["kappa"] >= 0.10).all(), table


def test_tnbc_mixing_score_separates_the_published_classes(shared_data):
    from sklearn.metrics import roc_auc_score

    cfg, samples = example("tnbc_keren", shared_data)
    classes = pd.read_csv(shared_data / "tnbc_keren_dev" / "patients.csv")
    classes = classes.set_index("patient")["keren_class_name"]
    raw = read_cell_table(samples["cells"].iloc[0])  # one table holds every patient
    immune = list(cfg["spatial"]["immune_types"])
    params = spatial.Params.from_config(
        {**cfg["spatial"], "permutations": 0},  # the envelope does not enter the mixing score
        tumor_phenotype=cfg["front"]["tumor_phenotype"],
    )
    rows = []
    for name in samples.index:
        patient = int(name.removeprefix("tnbc_p"))
        cells, extent = table_sample(cfg, samples, name, raw)
        regions = front.find_regions(cells, extent, cfg["front"], sample=name)
        result = spatial.analyze(cells, regions, params, immune_lineage=immune, sample=name)
        rows.append(
            {
                "patient": patient,
                "class": classes[patient],
                "call": result.summary["phenotype_call"],
                "mixing_score": result.summary["mixing_score"],
            }
        )
    table = pd.DataFrame(rows).set_index("patient")
    mixed = table["class"].eq("mixed")
    auc = roc_auc_score(mixed, table["mixing_score"])
    agree = np.where(
        mixed, table["call"].eq("inflamed"), table["call"].isin(["excluded", "desert"])
    )
    print("\nTNBC per patient:\n" + table.round(3).to_string())
    print(
        f"mixing-score AUC {auc:.3f}; call agreement all_immune {agree.sum()}/{len(table)} "
        "(the calls are tested in test_real_references.py)"
    )
    assert len(table) == 17 and mixed.sum() == 9
    assert auc >= 0.90


def test_lung_cohort_fields_from_one_table(shared_data):
    """The lung cohort's 247 fields of 50 patients, each picked from the one table by cells_rows,
    renamed into the generic form, phenotyped from the per-marker calls; the startup checks
    pass, the clinical table's among them."""
    from frontline import preflight

    cfg, samples = example("vectra_lung_cohort", shared_data)
    tables = preflight.table_samples(samples, cfg, "vectra_lung_cohort_samples.tsv")
    assert tables.needs_tree == tuple(samples.index)  # per-marker calls: the tree names cells
    preflight.check_table_samples(samples, cfg, "vectra_lung_cohort_samples.tsv")
    patients = sheet.patients_of(samples)
    assert len(set(patients.values())) == 50 and patients["lung_2_1"] == "2"
    cfg["cohort"]["clinical"] = str(shared_data / "vectra_lung_cohort" / "lung_cells.csv.gz")
    preflight.check_cohort(samples, cfg)  # the clinical table knows every patient of the sheet
    raw = read_cell_table(samples["cells"].iloc[0])
    counts = pd.Series(0, dtype=int)
    total = 0
    for name in samples.index:
        cells, extent = table_sample(cfg, samples, name, raw)
        assert cells["x_um"].max() < extent[0] and cells["y_um"].max() < extent[1]
        counts = counts.add(cells["phenotype"].value_counts(), fill_value=0)
        total += len(cells)
    assert len(samples) == 247 and total == len(raw) == 285_412
    assert counts["tumor"] == (raw["phenotype_ck"] == "CK+").sum() == 187_373
    cd8 = (raw["phenotype_cd8"] == "CD8+") & (raw["phenotype_ck"] == "CK-")
    assert counts["CD8_T"] == cd8.sum()
