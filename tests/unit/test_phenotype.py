"""Gating and the phenotype tree: known thresholds, fallbacks, most-specific assignment, errors."""

import logging

import numpy as np
import pandas as pd
import pytest

from frontline.errors import FrontlineInputError
from frontline.phenotype import (
    assign_phenotypes,
    auto_gate,
    exclusive_margins,
    gate_margins,
    gate_markers,
    gated_markers,
    parse_phenotypes,
    phenotype_cells,
    ring_median_markers,
)

CHANNELS = ["DAPI", "PanCK", "CD45", "CD3", "CD8", "CD20", "CD68", "MPO"]
TREE = {
    "tumor": {"positive": ["PanCK"]},
    "immune": {"positive": ["CD45"]},
    "T_cell": {"parent": "immune", "positive": ["CD3"]},
    "CD8_T": {"parent": "T_cell", "positive": ["CD8"]},
    "T_helper": {"parent": "T_cell", "negative": ["CD8"]},
    "B_cell": {"parent": "immune", "positive": ["CD20"]},
    "macrophage": {"parent": "immune", "positive": ["CD68"]},
    "neutrophil": {"parent": "immune", "positive": ["MPO"]},
}
EXCLUSIVE = [["tumor", "immune"]]


def bimodal(n, fraction, seed, neg=200.0, pos=2000.0, sigma=0.4):
    """Log-normal negatives around ``neg`` and positives around ``pos``; returns (x, truth)."""
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < fraction
    x = np.where(truth, rng.lognormal(np.log(pos), sigma, n), rng.lognormal(np.log(neg), sigma, n))
    return x, truth


def bayes_gate(fraction, neg=200.0, pos=2000.0, sigma=0.4):
    """Where the two weighted log-normal densities cross (same sigma in log space)."""
    a, b = np.log(neg), np.log(pos)
    # (1-f) exp(-(t-a)²/2s²) = f exp(-(t-b)²/2s²)  ->  t = (a+b)/2 + s² ln((1-f)/f) / (b-a)
    return float(np.exp((a + b) / 2 + sigma**2 * np.log((1 - fraction) / fraction) / (b - a)))


@pytest.mark.parametrize("fraction", [0.05, 0.3, 0.7])
def test_bimodal_gate_recovers_known_threshold(fraction):
    x, truth = bimodal(20000, fraction, seed=1)
    result = auto_gate(x)
    assert result["method"] == "gmm"
    assert result["confidence"] > 0.8
    # near the ideal (Bayes) gate, and almost as accurate as the ideal gate on the truth
    ideal = bayes_gate(fraction)
    assert result["gate"] == pytest.approx(ideal, rel=0.35)
    best = np.mean((x > ideal) == truth)
    assert np.mean((x > result["gate"]) == truth) > min(best - 0.01, 0.99)


def test_rare_positives_above_two_negative_populations():
    # e.g. a dim stroma and a brighter tumor background, and 1 % positive cells
    rng = np.random.default_rng(7)
    n = 20000
    kind = rng.choice(3, n, p=[0.55, 0.44, 0.01])
    x = np.where(
        kind == 0,
        rng.lognormal(np.log(150), 0.08, n),
        np.where(kind == 1, rng.lognormal(np.log(180), 0.1, n), rng.lognormal(np.log(400), 0.2, n)),
    )
    result = auto_gate(x)
    assert np.mean((x > result["gate"]) == (kind == 2)) > 0.998


def test_gate_does_not_depend_on_intensity_units():
    x, _ = bimodal(5000, 0.2, seed=2)
    assert auto_gate(x * 1e-3)["gate"] == pytest.approx(auto_gate(x)["gate"] * 1e-3, rel=1e-6)


@pytest.mark.parametrize("name", ["lognormal", "gamma", "normal"])
def test_unimodal_skewed_falls_back_with_low_confidence(name):
    rng = np.random.default_rng(3)
    x = {
        "lognormal": rng.lognormal(5, 0.6, 20000),
        "gamma": rng.gamma(1.5, 100, 20000),
        "normal": rng.normal(100, 10, 20000),
    }[name]
    result = auto_gate(x)
    assert result["method"] == "negative_tail"
    assert result["confidence"] < 0.5
    assert np.mean(x > result["gate"]) < 0.02  # only outliers of a single population


def test_zero_inflated_marker_gates_between_nonzero_populations():
    rng = np.random.default_rng(4)
    x = np.zeros(20000)
    spill = rng.random(20000) < 0.2
    x[spill] = rng.lognormal(-1, 0.5, spill.sum())
    truth = rng.random(20000) < 0.05
    x[truth] = rng.lognormal(1, 0.3, truth.sum())
    result = auto_gate(x)
    assert result["method"] == "gmm"
    assert np.mean((x > result["gate"]) == truth) > 0.99


def test_point_mass_at_zero_is_negative_and_one_population_above_it_positive():
    # ion counts: cells without the marker have no counts; the stained cells form one group
    rng = np.random.default_rng(6)
    x = np.zeros(5000)
    stained = rng.random(5000) < 0.7
    x[stained] = rng.lognormal(-0.5, 0.8, stained.sum())
    result = auto_gate(x)
    assert result["method"] == "floor"
    assert result["gate"] == 0.0
    assert np.array_equal(x > result["gate"], stained)


def test_constant_marker_is_undefined_all_negative_and_warned(caplog):
    cells = pd.DataFrame(
        {
            "cell_id": np.arange(50),
            "CD3_cell_mean": np.full(50, 7.0),
            "CD3_ring_mean": np.full(50, 7.0),
        }
    )
    with caplog.at_level(logging.WARNING):
        gates = gate_markers(cells, ["CD3"], {"CD3": "ring"})
    row = gates.iloc[0]
    assert row["method"] == "undefined"
    assert np.isnan(row["gate"])
    assert row["n_positive"] == 0
    assert "CD3" in caplog.text and "same intensity" in caplog.text


def test_manual_gate_is_used_and_non_number_is_rejected():
    cells = pd.DataFrame({"cell_id": np.arange(4), "CD8_cell_mean": [1.0, 2.0, 3.0, 4.0]})
    gates = gate_markers(cells, ["CD8"], gates={"CD8": "2.5"})
    assert gates.iloc[0]["method"] == "manual"
    assert gates.iloc[0]["n_positive"] == 2
    with pytest.raises(FrontlineInputError, match="CD8.*'high'.*neither 'auto' nor a number"):
        gate_markers(cells, ["CD8"], gates={"CD8": "high"}, sample="s1")
    with pytest.raises(FrontlineInputError, match="neither"):
        gate_markers(cells, ["CD8"], gates={"CD8": True})


def test_empty_ring_reads_the_whole_cell():
    cells = pd.DataFrame(
        {
            "cell_id": [1, 2, 3, 4],
            "CD3_cell_mean": [0.0, 9.0, 0.0, 9.0],
            "CD3_ring_mean": [0.0, np.nan, 0.0, 9.0],
        }
    )
    gates = gate_markers(cells, ["CD3"], {"CD3": "ring"}, gates={"CD3": 5})
    assert gates.iloc[0]["n_positive"] == 2


def test_ring_median_is_gated_and_an_empty_ring_reads_the_whole_cell():
    cells = pd.DataFrame(
        {
            "cell_id": [1, 2, 3, 4],
            "PanCK_cell_mean": [0.0, 9.0, 9.0, 0.0],
            "PanCK_ring_mean": [9.0, np.nan, 9.0, 9.0],
            "PanCK_ring_median": [0.0, np.nan, 9.0, 0.0],
        }
    )
    gates = gate_markers(cells, ["PanCK"], {"PanCK": "ring_median"}, gates={"PanCK": 5})
    assert gates.iloc[0]["compartment"] == "ring_median"
    assert gates.iloc[0]["n_positive"] == 2  # cells 2 (whole cell) and 3; not 1 and 4


def test_ring_median_not_measured_is_a_clear_error():
    cells = pd.DataFrame({"cell_id": [1], "PanCK_cell_mean": [1.0], "PanCK_ring_mean": [1.0]})
    with pytest.raises(FrontlineInputError, match="PanCK_ring_median.*measure"):
        gate_markers(cells, ["PanCK"], {"PanCK": "ring_median"}, sample="s1")


def test_ring_median_markers_are_those_read_there():
    cfg = {
        "phenotypes": TREE,
        "compartments": {"PanCK": "ring_median", "DAPI": "nucleus"},
        "exclusive_compartments": {"CD68": "ring_median"},
    }
    assert ring_median_markers(cfg) == ["CD68", "PanCK"]
    every = ring_median_markers(
        {"phenotypes": TREE, "default_compartment": "ring_median", "compartments": {"CD45": "cell"}}
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
    cfg = {
        "phenotypes": TREE,
        "exclusive": EXCLUSIVE,
        "default_compartment": "cell",
        "compartments": {"CD45": "ring"},
        "gates": {},
    }
    phenotypes, gates = phenotype_cells(pd.DataFrame(cells), cfg)
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


def nest_cells(seed=3):
    """Tumour cells, stromal cells and T cells, a third of the T cells inside tumour nests.

    Keratin is cytoplasmic: a tumour cell's whole cell is bright, its nucleus (wrapped in its
    own keratin) about half as bright. A T cell in a nest has mostly the tumour neighbours'
    cytoplasm in its grown cell region (keratin-positive there) but its own, dim nucleus.
    """
    rng = np.random.default_rng(seed)
    n_tumor, n_stroma, n_t = 1500, 1000, 600
    kind = np.array(["tumor"] * n_tumor + ["stromal"] * n_stroma + ["CD8_T"] * n_t)
    in_nest = np.zeros(kind.size, bool)
    in_nest[n_tumor + n_stroma :][: n_t // 3] = True
    n = kind.size
    lognormal = lambda level, sd=0.3: rng.lognormal(np.log(level), sd, n)  # noqa: E731
    is_tumor, is_t = kind == "tumor", kind == "CD8_T"
    cells = {"cell_id": np.arange(1, n + 1)}
    panck_cell = np.where(
        is_tumor, lognormal(2000), np.where(in_nest, lognormal(1800), lognormal(150))
    )
    panck_nucleus = np.where(
        is_tumor, lognormal(1000), np.where(in_nest, lognormal(180), lognormal(120))
    )
    for m in CHANNELS:
        on = is_t if m in ("CD45", "CD3", "CD8") else np.zeros(n, bool)
        level = np.where(on, lognormal(1200), lognormal(150, 0.4))
        for comp in ("nucleus", "cell", "ring"):
            cells[f"{m}_{comp}_mean"] = level
    cells["PanCK_cell_mean"] = cells["PanCK_ring_mean"] = panck_cell
    cells["PanCK_nucleus_mean"] = panck_nucleus
    return pd.DataFrame(cells), kind, in_nest


def test_exclusive_conflict_weighed_in_the_nucleus_keeps_t_cells_in_tumour_nests():
    cells, kind, in_nest = nest_cells()
    cfg = {
        "phenotypes": TREE,
        "exclusive": EXCLUSIVE,
        "exclusive_margin": 0.1,
        "compartments": {"PanCK": "cell"},
    }
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


def test_exclusive_margins_against_a_gate_of_the_same_compartment():
    cells, _, _ = nest_cells()
    gates = gate_markers(cells, ["PanCK", "CD45"], {"PanCK": "cell", "CD45": "cell"})
    margins, decision = exclusive_margins(cells, gates, {"PanCK": "nucleus", "CD45": "cell"})
    assert list(decision["marker"]) == ["PanCK"]  # CD45 is already gated in the cell
    assert decision.iloc[0]["compartment"] == "nucleus"
    expected = gate_margins(cells, decision.assign(compartment="nucleus"))["PanCK"]
    assert np.allclose(margins["PanCK"], expected)
    assert np.allclose(margins["CD45"], gate_margins(cells, gates)["CD45"])
    unchanged, none = exclusive_margins(cells, gates, None)
    assert none.empty and unchanged.equals(gate_margins(cells, gates))
    # a marker the panel does not gate (inherited from another panel's config) is ignored
    ignored, nothing = exclusive_margins(cells, gates, {"CD8": "nucleus"})
    assert nothing.empty and ignored.equals(gate_margins(cells, gates))


def test_gate_margins_are_log_fold_above_the_gate():
    cells = pd.DataFrame({"cell_id": [1, 2, 3], "CD8_cell_mean": [1000.0, 100.0, 10.0]})
    gates = gate_markers(cells, ["CD8"], gates={"CD8": 100.0})
    margins = gate_margins(cells, gates)
    cof = gates.iloc[0]["cofactor"]
    assert margins["CD8"].iloc[1] == pytest.approx(0.0)
    assert margins["CD8"].iloc[0] == pytest.approx(np.arcsinh(1000 / cof) - np.arcsinh(100 / cof))
    assert margins["CD8"].iloc[2] < 0
