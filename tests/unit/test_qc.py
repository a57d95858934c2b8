"""QC (frontline.qc): every flag raised by a case built for it, its severity and action, the
summary keys, the cohort table and the end-of-run lines."""

import numpy as np
import pandas as pd
from phenotype_cases import GATING, TREE

from frontline import qc
from frontline.gating import gate_markers

KEY = ["tumor", "CD8_T"]  # the tumor region and the call rest on these


def table(**columns):
    n = len(next(iter(columns.values())))
    return pd.DataFrame(
        {"cell_id": np.arange(n), **{f"{m}_cell_mean": v for m, v in columns.items()}}
    )


def check(cells, markers, phenotype, min_cells=20):
    gates = gate_markers(cells, markers, None, "cell", **GATING)
    return qc.sample_qc(
        gates,
        phenotype,
        TREE,
        min_confidence=GATING["min_confidence"],
        min_cells=min_cells,
        key_phenotypes=KEY,
        sample="s1",
    ).set_index(["level", "name"])


def test_a_marker_with_no_positive_cell_is_flagged_and_an_error_when_the_tumor_rests_on_it():
    # keratin gated above every cell (a gate copied from another run): 0 % positive
    rng = np.random.default_rng(1)
    cells = table(PanCK=rng.lognormal(5, 0.3, 2000), CD68=rng.lognormal(5, 0.3, 2000))
    gates = gate_markers(
        cells, ["PanCK", "CD68"], None, "cell", **GATING, gates={"PanCK": 1e4, "CD68": 1e4}
    )
    rows = qc.sample_qc(
        gates, ["other"] * 2000, TREE, min_confidence=0.1, min_cells=20, key_phenotypes=KEY
    )
    rows = rows.set_index("name")
    assert rows.loc["PanCK", "flags"] == "no_positive" and rows.loc["PanCK", "severity"] == "error"
    assert "plots/gating/PanCK.png" in rows.loc["PanCK", "action"]
    assert "batch" in rows.loc["PanCK", "action"]
    # CD68 is no key marker: the same flag is a warning
    assert rows.loc["CD68", "flags"] == "no_positive" and rows.loc["CD68", "severity"] == "warning"


def test_a_marker_with_99_percent_positive_cells_is_flagged():
    rng = np.random.default_rng(2)
    x = rng.lognormal(np.log(1500), 0.2, 3000)
    gates = gate_markers(table(CD20=x), ["CD20"], None, "cell", **GATING, gates={"CD20": 500.0})
    assert gates.iloc[0]["fraction_positive"] >= 0.99
    rows = qc.sample_qc(gates, ["B_cell"] * 3000, TREE, min_confidence=0.1, min_cells=20)
    row = rows.set_index("name").loc["CD20"]
    assert row["flags"] == "all_positive" and row["severity"] == "warning"  # not a key marker


def test_a_fallback_gate_with_low_confidence_is_a_warning_even_on_a_key_marker():
    rng = np.random.default_rng(3)
    x = rng.lognormal(np.log(150), 0.3, 3000)
    x[:30] = rng.lognormal(np.log(600), 0.3, 30)  # 1 %, scattered: no peak of their own
    rows = check(table(CD8=x), ["CD8"], ["other"] * 3000)
    row = rows.loc[("marker", "CD8")]
    assert row["method"] == "negative_tail"
    assert row["flags"] == "fallback_gate" and row["severity"] == "warning"


def test_a_constant_marker_is_flagged_undefined():
    rows = check(table(CD3=np.full(100, 5.0)), ["CD3"], ["other"] * 100)
    assert rows.loc[("marker", "CD3"), "flags"] == "undefined_gate"
    assert rows.loc[("marker", "CD3"), "severity"] == "error"  # CD3 is above CD8_T


def test_a_lineage_with_too_few_cells_is_flagged():
    rng = np.random.default_rng(4)
    n = 500
    cells = table(PanCK=rng.lognormal(5, 0.3, n))
    phenotype = ["tumor"] * 490 + ["CD8_T"] * 6 + ["B_cell"] * 4
    rows = check(cells, ["PanCK"], phenotype)
    assert rows.loc[("lineage", "tumor"), "flags"] == ""
    assert rows.loc[("lineage", "tumor"), "n_cells"] == 490
    immune = rows.loc[("lineage", "immune")]  # CD8_T and B_cell are both immune
    assert immune["n_cells"] == 10 and immune["flags"] == "few_cells"
    assert immune["severity"] == "error"  # the call phenotype CD8_T is of this lineage
    assert "too few cells" in immune["action"]


def test_the_call_is_flagged_when_not_computable_or_of_low_confidence():
    """The call's row reads the call's keys: a call from too few cells of its phenotype is
    not_computable (an error, with the call's reason), a straddling interval a warning."""
    from frontline import spatial
    from frontline.spatial import call_evidence, call_summary, immune_call

    call = spatial.Params.from_config({"immune_types": ["CD8_T"], "call": {"phenotype": "CD8_T"}})
    cells = pd.DataFrame(
        {
            "phenotype": ["CD8_T"] * 12,
            "in_tissue": True,
            "in_tumor": [True] * 6 + [False] * 6,
            "region": ["tumor_core"] * 6 + ["outer_margin"] * 6,
            "dist_nearest_tumor_um": [0.0] * 6 + [50.0] * 6,
        }
    )
    areas = pd.DataFrame(
        {"region": ["tumor_core", "inner_margin", "outer_margin", "stroma"], "area_mm2": 0.02}
    )
    evidence = call_evidence(cells, areas, call.call, ["CD8_T"])  # 300/mm² in the tumor
    summary = {
        "sample": "s1",
        **call_summary(evidence, immune_call(evidence, call.call, 20), call.call),
    }
    assert summary["phenotype_call"] == "not_computable"
    row = qc.call_qc(summary).iloc[0]
    assert row["flags"] == "call_not_computable" and row["severity"] == "error"
    assert row["name"] == "CD8_T" and row["n_cells"] == 12
    assert "only 12 CD8_T cells (< min_cells 20)" in row["action"]
    summary = {
        "sample": "s1",
        **call_summary(evidence, immune_call(evidence, call.call, 10), call.call),
    }
    # 6 of 12 infiltrate: 50 %, Wilson interval 25-75 % around the 30 % threshold
    assert summary["phenotype_call"] == "inflamed"
    assert summary["phenotype_call_confidence"] == "low"
    row = qc.call_qc(summary).iloc[0]
    assert row["flags"] == "low_call_confidence" and row["severity"] == "warning"
    assert row["method"] == "inflamed (low confidence)"
    fine = {**summary, "phenotype_call_confidence": "high"}
    assert qc.call_qc(fine).iloc[0]["flags"] == ""


def test_summary_cohort_and_end_of_run_carry_every_flag():
    rng = np.random.default_rng(5)
    cells = table(PanCK=rng.lognormal(5, 0.3, 300))
    gates = gate_markers(cells, ["PanCK"], None, "cell", **GATING, gates={"PanCK": 1e6})
    bad = qc.sample_qc(
        gates,
        ["tumor"] * 300,
        TREE,
        min_confidence=0.1,
        min_cells=20,
        key_phenotypes=KEY,
        sample="bad",
    )
    summary = qc.with_flags(
        {"sample": "bad", "phenotype_call": "no_front", "call_phenotype": "CD8_T"}, bad
    )
    assert summary["qc_status"] == "error"
    assert "marker PanCK: no_positive" in summary["qc_flags"]
    assert "lineage immune: few_cells" in summary["qc_flags"]
    good = bad.assign(sample="good", flags="", severity="ok", action="")
    cohort = qc.cohort_qc([good, bad])
    assert cohort["sample"].iloc[0] == "bad"  # flagged rows first
    lines = qc.qc_report_lines(cohort)
    assert lines[0].startswith("frontline finished, but QC FAILED")
    assert lines[1].startswith("QC: 1 sample(s) flagged, 1 with errors")
    assert any("bad:" in line for line in lines) and not any("good:" in line for line in lines)
    assert any("[error] marker PanCK: no_positive" in line for line in lines)
    assert qc.qc_report_lines(qc.cohort_qc([good])) == [
        "frontline finished; every gate and lineage passed QC (results/cohort/qc.tsv)."
    ]
