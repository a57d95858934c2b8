"""Rules measure, phenotype and evaluate on the demo sample, with the truth nuclei as segmentation.

The truth nuclei stand in for the model's, so these tests run the three rules alone (fast)
and check their files: the cell table, gates.tsv, one gating plot per marker and the
evaluation JSON.
"""

import json
import shutil

import pandas as pd
import pytest
from runs import DEMO_SAMPLE, demo_rows, make_workdir, snakemake


def prepare(work, demo_input, overrides=None):
    make_workdir(work, rows=demo_rows(demo_input), overrides=overrides)
    nuclei = work / "results" / DEMO_SAMPLE / "nuclei.ome.tif"
    nuclei.parent.mkdir(parents=True)
    shutil.copy(f"{demo_input['truth']}.truth_nuclei.ome.tif", nuclei)
    return work / "results" / DEMO_SAMPLE


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, demo_input):
    work = tmp_path_factory.mktemp("phenotype_rules")
    res = prepare(work, demo_input)
    proc = snakemake(work, f"results/{DEMO_SAMPLE}/evaluation.json", timeout_s=300, check=True)
    return {"dir": work, "res": res, "output": proc.output}


def test_rules_write_cells_gates_plots_and_evaluation(evaluated):
    res = evaluated["res"]
    cells = pd.read_parquet(res / "cells.parquet")
    phenotypes = pd.read_parquet(res / "phenotypes.parquet")
    gates = pd.read_csv(res / "gates.tsv", sep="\t")
    assert len(cells) == len(phenotypes) > 300
    assert (cells["cell_id"].to_numpy() == phenotypes["cell_id"].to_numpy()).all()
    assert list(gates.columns[:7]) == [
        "marker",
        "compartment",
        "gate",
        "method",
        "confidence",
        "n_positive",
        "fraction_positive",
    ]
    for marker in gates["marker"]:
        assert (res / "plots" / "gating" / f"{marker}.png").stat().st_size > 10_000
    assert "segment" not in evaluated["output"].split("Job stats:")[1].split("Reasons")[0]


def test_evaluation_json_scores_the_truth_nuclei_perfectly_and_phenotypes_well(evaluated):
    result = json.loads((evaluated["res"] / "evaluation.json").read_text())
    assert set(result) >= {"sample", "segmentation", "phenotype"}
    assert result["segmentation"]["f1"] == 1.0  # the truth nuclei were the segmentation
    assert result["phenotype"]["tumor_vs_immune_accuracy"] >= 0.97
    assert result["phenotype"]["macro_f1"] >= 0.90


def test_unknown_marker_in_a_phenotype_fails_with_the_channel_list(tmp_path, demo_input):
    overrides = {"phenotyping": {"phenotypes": {"tumor": {"positive": ["PanKRT"]}}}}
    res = prepare(tmp_path, demo_input, overrides)
    proc = snakemake(tmp_path, f"results/{DEMO_SAMPLE}/phenotypes.parquet", timeout_s=300)
    assert proc.returncode != 0
    # caught when the workflow starts (the image exists), before any job runs
    assert "'PanKRT'" in proc.output and "'DAPI', 'PanCK', 'CD45'" in proc.output
    assert not (res / "cells.parquet").exists()


def test_a_batch_is_gated_once_on_its_pooled_cells(tmp_path, demo_input):
    """Two samples of one batch (the demo image twice, truth nuclei as segmentation): rule
    batch_gates pools their cells once, and both phenotype jobs use its gates."""
    names = (DEMO_SAMPLE, "twin")
    rows = [dict(demo_rows(demo_input, sample=name)[0], batch="run1") for name in names]
    make_workdir(tmp_path, rows=rows, columns=("sample", "image", "truth", "batch"))
    for name in names:
        nuclei = tmp_path / "results" / name / "nuclei.ome.tif"
        nuclei.parent.mkdir(parents=True)
        shutil.copy(f"{demo_input['truth']}.truth_nuclei.ome.tif", nuclei)
    proc = snakemake(tmp_path, *[f"results/{s}/qc.tsv" for s in names], timeout_s=400)
    assert proc.returncode == 0, proc.output[-3000:]
    assert proc.output.count("rule batch_gates:") == 1  # one job for the batch
    pooled = pd.read_csv(tmp_path / "results" / "batches" / "run1" / "gates.tsv", sep="\t")
    assert sorted(set(pooled["sample"])) == sorted(names)
    assert set(pooled["n_samples"]) == {2} and set(pooled["batch"]) == {"run1"}
    n_cells = len(pd.read_parquet(tmp_path / "results" / DEMO_SAMPLE / "cells.parquet"))
    assert set(pooled["n_cells"]) == {2 * n_cells}  # every cell of both samples
    gates = {
        s: pd.read_csv(tmp_path / "results" / s / "gates.tsv", sep="\t", keep_default_na=False)
        for s in names
    }
    for table in gates.values():
        assert set(table["batch"]) == {"run1"}
    # the same cells twice: one gate per marker, the batch's
    assert gates[DEMO_SAMPLE]["gate"].tolist() == gates["twin"]["gate"].tolist()
    mine = pooled[pooled["sample"] == DEMO_SAMPLE].set_index("marker")["gate"]
    assert gates[DEMO_SAMPLE].set_index("marker")["gate"].to_dict() == pytest.approx(mine.to_dict())
    qc = pd.read_csv(tmp_path / "results" / DEMO_SAMPLE / "qc.tsv", sep="\t", keep_default_na=False)
    assert set(qc["level"]) == {"marker", "lineage"}
    assert qc.loc[qc["level"] == "marker", "method"].str.endswith("(batch run1)").all()
