"""The phenotype tree: most-specific phenotype, exclusive lineages, errors (frontline.phenotype)."""

import numpy as np
import pandas as pd
import pytest
from phenotype_cases import CHANNELS, EXCLUSIVE, TREE, nest_cells, phenotyping

from frontline.errors import FrontlineInputError
from frontline.phenotype import (
    assign_phenotypes,
    gated_markers,
    immune_lineage,
    lineage_of,
    parse_phenotypes,
    phenotype_cells,
    ring_median_markers,
    sample_gates,
    with_sample_gates,
)


def test_ring_median_markers_are_those_read_there():
    cfg = phenotyping(
        compartments={"PanCK": "ring_median", "DAPI": "nucleus"},
        exclusive_compartments={"CD68": "ring_median"},
    )
    assert ring_median_markers(cfg) == ["CD68", "PanCK"]
    every = ring_median_markers(
        phenotyping(default_compartment="ring_median", compartments={"CD45": "cell"})
    )
    assert every == sorted(set(CHANNELS) - {"DAPI", "CD45"})


def positives(rows):
    """A positivity table from a list of sets of positive markers."""
    return pd.DataFrame({f"{m}_positive": [m in r for r in rows] for m in CHANNELS})


def test_most_specific_phenotype_ambiguous_and_other():
    tree = parse_phenotypes(TREE, CHANNELS, EXCLUSIVE)
    rows = [
        {"PanCK"},
        {"CD45"},
        {"CD45", "CD3"},
        {"CD45", "CD3", "CD8"},
        {"CD45", "CD20"},
        {"CD45", "CD68"},
        {"CD45", "MPO"},
        set(),
        {"CD3"},
        {"PanCK", "CD45", "CD3"},
        {"CD45", "CD20", "CD68"},
        {"PanCK", "CD8"},
    ]
    names = assign_phenotypes(positives(rows), tree, EXCLUSIVE)
    assert list(names) == [
        "tumor",
        "immune",
        "T_helper",
        "CD8_T",
        "B_cell",
        "macrophage",
        "neutrophil",
        "other",
        "other",
        "ambiguous",
        "immune",
        "tumor",
    ]


def test_co_positive_roots_without_common_ancestor_are_ambiguous():
    tree = parse_phenotypes({"a": {"positive": ["CD3"]}, "b": {"positive": ["CD8"]}}, CHANNELS)
    names = assign_phenotypes(positives([{"CD3", "CD8"}, {"CD3"}]), tree)
    assert list(names) == ["ambiguous", "a"]


def test_cycle_in_tree_is_an_error():
    spec = {"a": {"parent": "c", "positive": ["CD3"]}, "b": {"parent": "a"}, "c": {"parent": "b"}}
    with pytest.raises(FrontlineInputError, match="cycle: a -> c -> b -> a"):
        parse_phenotypes(spec, CHANNELS, sample="s1")


def test_unknown_parent_is_an_error():
    with pytest.raises(FrontlineInputError, match="parent 'myeloid'.*not a phenotype"):
        parse_phenotypes({"macrophage": {"parent": "myeloid", "positive": ["CD68"]}}, CHANNELS)


def test_unknown_channel_error_lists_the_channels():
    with pytest.raises(FrontlineInputError) as err:
        parse_phenotypes(
            {"tumor": {"positive": ["PanKRT"]}}, CHANNELS, sample="s1", file="config/config.yaml"
        )
    text = str(err.value)
    assert "'PanKRT'" in text and "sample 's1'" in text
    assert str(CHANNELS) in text


def test_exclusive_must_name_phenotypes():
    with pytest.raises(FrontlineInputError, match="exclusive"):
        parse_phenotypes(TREE, CHANNELS, [["tumor", "stroma"]])


def test_gated_markers_follow_the_tree_then_extra_gates():
    cfg = {"phenotypes": TREE, "gates": {"CD8": 3.0, "Ki67": "auto"}}
    assert gated_markers(cfg) == ["PanCK", "CD45", "CD3", "CD8", "CD20", "CD68", "MPO", "Ki67"]


def test_phenotype_cells_end_to_end_on_synthetic_table():
    rng = np.random.default_rng(5)
    n = 6000
    kind = rng.choice(
        ["tumor", "CD8_T", "T_helper", "B_cell", "stromal"], n, p=[0.5, 0.1, 0.1, 0.1, 0.2]
    )
    expected = {
        "tumor": {"PanCK"},
        "CD8_T": {"CD45", "CD3", "CD8"},
        "T_helper": {"CD45", "CD3"},
        "B_cell": {"CD45", "CD20"},
        "stromal": set(),
    }
    cells = {"cell_id": np.arange(1, n + 1)}
    for m in CHANNELS:
        on = np.array([m in expected[k] for k in kind])
        level = np.where(
            on, rng.lognormal(np.log(1500), 0.3, n), rng.lognormal(np.log(150), 0.4, n)
        )
        for comp in ("nucleus", "cell", "ring"):
            cells[f"{m}_{comp}_mean"] = level
    phenotypes, gates = phenotype_cells(
        pd.DataFrame(cells), phenotyping(compartments={"CD45": "ring"})
    )
    want = np.where(kind == "stromal", "other", kind)
    assert np.mean(phenotypes["phenotype"].to_numpy() == want) > 0.99
    assert list(phenotypes.columns[:2]) == ["cell_id", "phenotype"]
    assert phenotypes["CD8_positive"].dtype == bool
    assert set(gates["marker"]) == {"PanCK", "CD45", "CD3", "CD8", "CD20", "CD68", "MPO"}
    assert gates.set_index("marker").loc["CD45", "compartment"] == "ring"


def test_exclusive_conflict_goes_to_the_clearly_stronger_lineage():
    tree = parse_phenotypes(TREE, CHANNELS, EXCLUSIVE)
    rows = [{"PanCK", "CD45"}, {"PanCK", "CD45", "CD3", "CD8"}, {"PanCK", "CD45"}, {"PanCK"}]
    margins = pd.DataFrame({m: [0.0] * 4 for m in CHANNELS})
    margins["PanCK"] = [2.0, 0.2, 0.50, 1.0]  # arcsinh units above the gate
    margins["CD45"] = [0.3, 1.5, 0.55, -1.0]
    margins["CD3"] = [-1.0, 1.2, -1.0, -1.0]
    margins["CD8"] = [-1.0, 0.9, -1.0, -1.0]
    names = assign_phenotypes(positives(rows), tree, EXCLUSIVE, margins, exclusive_margin=0.1)
    # tumor wins; immune wins and the cell keeps its most specific type; a near tie stays
    assert list(names) == ["tumor", "CD8_T", "ambiguous", "tumor"]
    strict = assign_phenotypes(positives(rows), tree, EXCLUSIVE, margins, exclusive_margin=None)
    assert list(strict) == ["ambiguous", "ambiguous", "ambiguous", "tumor"]


def test_exclusive_conflict_weighed_in_the_nucleus_keeps_t_cells_in_tumour_nests():
    cells, kind, in_nest = nest_cells()
    cfg = phenotyping(exclusive_margin=0.1, compartments={"PanCK": "cell"})
    cell_only, gates = phenotype_cells(cells, cfg)
    assert gates.set_index("marker").loc["PanCK", "compartment"] == "cell"  # positivity unchanged
    nucleus, _ = phenotype_cells(cells, {**cfg, "exclusive_compartments": {"PanCK": "nucleus"}})
    want = np.where(kind == "stromal", "other", kind)
    got_cell, got_nucleus = cell_only["phenotype"].to_numpy(), nucleus["phenotype"].to_numpy()
    # weighed in the cell, the nest T cells' borrowed keratin often beats or ties their CD45
    assert np.mean(got_cell[in_nest] == "CD8_T") < 0.7  # about half are lost
    # weighed in the nucleus they stay T cells, and the tumour cells stay tumour
    assert np.mean(got_nucleus[in_nest] == "CD8_T") > 0.97
    assert np.mean(got_nucleus[kind == "tumor"] == "tumor") > 0.99
    assert np.mean(got_nucleus == want) > 0.99
    # the PanCK+ calls themselves still come from the cell
    assert np.array_equal(nucleus["PanCK_positive"], cell_only["PanCK_positive"])


def test_phenotype_cells_settles_exclusive_conflicts_as_the_schema_says():
    # the schema's exclusive_margin (0.1) applies from Python as in the workflow
    cells, kind, in_nest = nest_cells()
    cfg = phenotyping(exclusive_compartments={"PanCK": "nucleus"})
    assert cfg["exclusive_margin"] == 0.1
    settled, _ = phenotype_cells(cells, cfg)
    strict, _ = phenotype_cells(cells, {**cfg, "exclusive_margin": None})
    got, got_strict = settled["phenotype"].to_numpy(), strict["phenotype"].to_numpy()
    assert np.mean(got[in_nest] == "CD8_T") > 0.97
    assert np.mean(got_strict[in_nest] == "ambiguous") > 0.9  # every such conflict stays open
    with pytest.raises(KeyError, match="exclusive"):
        phenotype_cells(cells, {k: v for k, v in cfg.items() if k != "exclusive"})


def test_immune_lineage_walks_the_tree_down_from_the_root():
    assert immune_lineage(TREE) == (
        "B_cell",
        "CD8_T",
        "T_cell",
        "T_helper",
        "immune",
        "macrophage",
        "neutrophil",
    )
    assert immune_lineage(TREE, root="T_cell", extra=["NK"]) == (
        "CD8_T",
        "NK",
        "T_cell",
        "T_helper",
    )
    cyclic = {"a": {"parent": "b"}, "b": {"parent": "a"}}
    assert immune_lineage(cyclic) == () and immune_lineage(None, extra=["x"]) == ("x",)


def test_lineage_of_is_the_root_of_the_tree():
    tree = parse_phenotypes(TREE, CHANNELS, EXCLUSIVE)
    assert lineage_of(tree, "CD8_T") == "immune" and lineage_of(tree, "tumor") == "tumor"
    assert lineage_of(tree, "ambiguous") == "ambiguous"


def test_a_sample_gates_table_overrides_the_config_gates_for_its_markers():
    table = pd.DataFrame(
        {"marker": ["CD8", "CD3"], "compartment": ["cell", ""], "gate": ["400", ""], "n": ["", ""]}
    )
    ph = phenotyping(gates={"CD8": 100, "CD20": 7})
    merged = with_sample_gates(ph, table, "s1", "g.tsv")
    assert merged["gates"] == {"CD8": 400.0, "CD20": 7, "CD3": "auto"}  # empty gate: auto
    assert ph["gates"] == {"CD8": 100, "CD20": 7}  # the section itself is unchanged
    assert with_sample_gates(ph, None, "s1") is ph
    # a table for several samples: each sample reads its own rows
    shared = pd.DataFrame({"sample": ["s1", "s2"], "marker": ["CD8", "CD8"], "gate": ["1", "2"]})
    assert sample_gates(shared, "s2", ph, samples=["s1", "s2"]) == {"CD8": 2.0}
    assert sample_gates(shared, "s3", ph) == {}
    with pytest.raises(FrontlineInputError, match=r"'CD8a'.*\(did you mean 'CD8'\?\)"):
        sample_gates(pd.DataFrame({"marker": ["CD8a"], "gate": ["1"]}), "s1", ph, file="g.tsv")


def test_a_sample_gate_changes_that_samples_positives():
    cells, _, _ = nest_cells()
    ph = phenotyping()
    auto, gates = phenotype_cells(cells, ph)
    gate = float(gates.set_index("marker").at["CD8", "gate"])
    high = pd.DataFrame({"marker": ["CD8"], "gate": [str(gate * 4)]})
    manual, gates2 = phenotype_cells(cells, with_sample_gates(ph, high, "s1"))
    assert gates2.set_index("marker").at["CD8", "method"] == "manual"
    assert manual["CD8_positive"].sum() < auto["CD8_positive"].sum()
    assert (manual["CD3_positive"] == auto["CD3_positive"]).all()  # other markers: as before
