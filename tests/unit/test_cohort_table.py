"""Cohort table: one row per sample, headline numbers first, accuracy where there is truth."""

import numpy as np
import pandas as pd

from frontline.cohort import cohort_table, density_long, summary_row


def summary(name, call, cd8_core):
    return {
        "sample": name,
        "phenotype_call": call,
        "phenotype_call_reason": "because",
        "has_front": True,
        "tumor_source": "cells",
        "front_length_um": 1450.0,
        "tissue_area_mm2": 0.26,
        "tumor_area_mm2": 0.11,
        "n_cells": 688,
        "n_cells_CD8_T": 68,
        "density_per_mm2_tumor_core_CD8_T": cd8_core,
        "ratio_intratumoral_stromal_CD8_T": None,
        "fraction_near_front_CD8_T": 0.5,
        "not_computable": {"ratio_intratumoral_stromal_CD8_T": "no front"},
    }


EVALUATION = {
    "sample": "the file's own name",
    "version": 2,
    "segmentation": {"f1": 0.91, "precision": 0.93, "per_class": {"a": 1}},
    "phenotype": {"accuracy": 0.95, "confusion": [[1, 0], [0, 1]]},
    "spatial": {"call_correct": True},
}


def test_a_row_flattens_scalars_and_evaluation_sections():
    row = summary_row(summary("a", "inflamed", 283.2), EVALUATION)
    assert row["sample"] == "a"
    assert row["density_per_mm2_tumor_core_CD8_T"] == 283.2
    assert row["ratio_intratumoral_stromal_CD8_T"] is None
    assert row["n_not_computable"] == 1
    assert row["segmentation_f1"] == 0.91
    assert row["phenotype_accuracy"] == 0.95
    assert row["spatial_call_correct"] is True
    assert row["evaluation_version"] == 2
    assert "segmentation_per_class" not in row and "phenotype_confusion" not in row
    assert "not_computable" not in row


def test_the_table_has_one_row_per_sample_leading_columns_first():
    table = cohort_table(
        {"a": summary("a", "inflamed", 283.2), "b": summary("b", "desert", 1.0)},
        evaluations={"a": EVALUATION},
    )
    assert table["sample"].tolist() == ["a", "b"]
    assert table.columns[:4].tolist() == ["sample", "phenotype_call", "has_front", "n_cells"]
    assert table.columns[-1] == "spatial_call_correct"
    assert table["phenotype_call"].tolist() == ["inflamed", "desert"]
    assert table.loc[0, "segmentation_f1"] == 0.91
    assert pd.isna(table.loc[1, "segmentation_f1"])  # no truth for sample b
    # TSV round trip keeps numbers
    back = pd.read_csv(pd.io.common.StringIO(table.to_csv(sep="\t", index=False)), sep="\t")
    np.testing.assert_allclose(back["density_per_mm2_tumor_core_CD8_T"], [283.2, 1.0])


def test_density_long_stacks_samples():
    region = pd.DataFrame(
        {
            "phenotype": ["CD8_T", "CD8_T"],
            "region": ["tumor_core", "stroma"],
            "n_cells": [3, 2],
            "area_mm2": [0.01, 0.02],
            "density_per_mm2": [300.0, 100.0],
        }
    )
    long = density_long({"a": region, "b": region.assign(density_per_mm2=[1.0, 2.0])})
    assert long.columns.tolist() == [
        "sample",
        "phenotype",
        "region",
        "n_cells",
        "area_mm2",
        "density_per_mm2",
    ]
    assert long["sample"].tolist() == ["a", "a", "b", "b"]
    assert long["density_per_mm2"].tolist() == [300.0, 100.0, 1.0, 2.0]
