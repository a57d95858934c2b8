"""Marker gates: thresholds, fallbacks, manual gates, compartments, margins (frontline.gating)."""

import logging

import numpy as np
import pandas as pd
import pytest
from phenotype_cases import GATING, nest_cells

from frontline.errors import FrontlineInputError
from frontline.gating import (
    auto_gate,
    exclusive_margins,
    gate_margins,
    gate_marker,
    gate_markers,
    parse_gate,
    positivity,
)


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
    result = auto_gate(x, **GATING)
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
    result = auto_gate(x, **GATING)
    assert np.mean((x > result["gate"]) == (kind == 2)) > 0.998


def test_gate_does_not_depend_on_intensity_units():
    x, _ = bimodal(5000, 0.2, seed=2)
    assert auto_gate(x * 1e-3, **GATING)["gate"] == pytest.approx(
        auto_gate(x, **GATING)["gate"] * 1e-3, rel=1e-6
    )


@pytest.mark.parametrize("name", ["lognormal", "gamma", "normal"])
def test_unimodal_skewed_falls_back_with_low_confidence(name):
    rng = np.random.default_rng(3)
    x = {
        "lognormal": rng.lognormal(5, 0.6, 20000),
        "gamma": rng.gamma(1.5, 100, 20000),
        "normal": rng.normal(100, 10, 20000),
    }[name]
    result = auto_gate(x, **GATING)
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
    result = auto_gate(x, **GATING)
    assert result["method"] == "gmm"
    assert np.mean((x > result["gate"]) == truth) > 0.99


def test_point_mass_at_zero_is_negative_and_one_population_above_it_positive():
    # ion counts: cells without the marker have no counts; the stained cells form one group
    rng = np.random.default_rng(6)
    x = np.zeros(5000)
    stained = rng.random(5000) < 0.7
    x[stained] = rng.lognormal(-0.5, 0.8, stained.sum())
    result = auto_gate(x, **GATING)
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
        gates = gate_markers(cells, ["CD3"], {"CD3": "ring"}, "cell", **GATING)
    row = gates.iloc[0]
    assert row["method"] == "undefined"
    assert np.isnan(row["gate"])
    assert row["n_positive"] == 0
    assert "CD3" in caplog.text and "same intensity" in caplog.text


def test_manual_gate_is_used_and_non_number_is_rejected():
    cells = pd.DataFrame({"cell_id": np.arange(4), "CD8_cell_mean": [1.0, 2.0, 3.0, 4.0]})
    gates = gate_markers(cells, ["CD8"], None, "cell", {"CD8": "2.5"}, **GATING)
    assert gates.iloc[0]["method"] == "manual"
    assert gates.iloc[0]["n_positive"] == 2
    with pytest.raises(FrontlineInputError, match="CD8.*'high'.*neither 'auto' nor a number"):
        gate_markers(cells, ["CD8"], None, "cell", {"CD8": "high"}, **GATING, sample="s1")
    with pytest.raises(FrontlineInputError, match="neither"):
        gate_markers(cells, ["CD8"], None, "cell", {"CD8": True}, **GATING)


def test_empty_ring_reads_the_whole_cell():
    cells = pd.DataFrame(
        {
            "cell_id": [1, 2, 3, 4],
            "CD3_cell_mean": [0.0, 9.0, 0.0, 9.0],
            "CD3_ring_mean": [0.0, np.nan, 0.0, 9.0],
        }
    )
    gates = gate_markers(cells, ["CD3"], {"CD3": "ring"}, "cell", {"CD3": 5}, **GATING)
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
    gates = gate_markers(cells, ["PanCK"], {"PanCK": "ring_median"}, "cell", {"PanCK": 5}, **GATING)
    assert gates.iloc[0]["compartment"] == "ring_median"
    assert gates.iloc[0]["n_positive"] == 2  # cells 2 (whole cell) and 3; not 1 and 4


def test_ring_median_not_measured_is_a_clear_error():
    cells = pd.DataFrame({"cell_id": [1], "PanCK_cell_mean": [1.0], "PanCK_ring_mean": [1.0]})
    with pytest.raises(FrontlineInputError, match="PanCK_ring_median.*measure"):
        gate_markers(cells, ["PanCK"], {"PanCK": "ring_median"}, "cell", **GATING, sample="s1")


def test_exclusive_margins_against_a_gate_of_the_same_compartment():
    cells, _, _ = nest_cells()
    gates = gate_markers(
        cells, ["PanCK", "CD45"], {"PanCK": "cell", "CD45": "cell"}, "cell", **GATING
    )
    margins, decision = exclusive_margins(
        cells, gates, {"PanCK": "nucleus", "CD45": "cell"}, **GATING
    )
    assert list(decision["marker"]) == ["PanCK"]  # CD45 is already gated in the cell
    assert decision.iloc[0]["compartment"] == "nucleus"
    expected = gate_margins(cells, decision.assign(compartment="nucleus"))["PanCK"]
    assert np.allclose(margins["PanCK"], expected)
    assert np.allclose(margins["CD45"], gate_margins(cells, gates)["CD45"])
    unchanged, none = exclusive_margins(cells, gates, None, **GATING)
    assert none.empty and unchanged.equals(gate_margins(cells, gates))
    # a marker the panel does not gate (inherited from another panel's config) is ignored
    ignored, nothing = exclusive_margins(cells, gates, {"CD8": "nucleus"}, **GATING)
    assert nothing.empty and ignored.equals(gate_margins(cells, gates))


def test_gate_margins_are_log_fold_above_the_gate():
    cells = pd.DataFrame({"cell_id": [1, 2, 3], "CD8_cell_mean": [1000.0, 100.0, 10.0]})
    gates = gate_markers(cells, ["CD8"], None, "cell", {"CD8": 100.0}, **GATING)
    margins = gate_margins(cells, gates)
    cof = gates.iloc[0]["cofactor"]
    assert margins["CD8"].iloc[1] == pytest.approx(0.0)
    assert margins["CD8"].iloc[0] == pytest.approx(np.arcsinh(1000 / cof) - np.arcsinh(100 / cof))
    assert margins["CD8"].iloc[2] < 0


def test_gate_marker_uses_a_manual_number_and_else_the_auto_gate():
    x, _ = bimodal(5000, 0.2, seed=8)
    manual = gate_marker(x, 500.0, **GATING)
    assert manual["gate"] == 500.0 and manual["method"] == "manual" and manual["confidence"] == 1
    assert gate_marker(x, "auto", **GATING) == auto_gate(x, **GATING)
    assert parse_gate(None, "CD8") == "auto" and parse_gate(" Auto ", "CD8") == "auto"
    assert parse_gate("2.5", "CD8") == 2.5


def test_positivity_is_above_the_gate_and_an_undefined_gate_is_negative():
    cells = pd.DataFrame(
        {"cell_id": [1, 2, 3], "CD8_cell_mean": [1.0, 5.0, np.nan], "CD3_cell_mean": [1.0] * 3}
    )
    gates = pd.DataFrame(
        {"marker": ["CD8", "CD3"], "compartment": ["cell", "cell"], "gate": [2.0, np.nan]}
    )
    table = positivity(cells, gates)
    assert table["CD8_positive"].tolist() == [False, True, False]
    assert not table["CD3_positive"].any()
