"""Auto gates whichever side is the majority (frontline.gating, issue 14): tumor fields with
60-95 % keratin-positive cells, a B-cell follicle 90 % CD20-positive, rare (1-3 %) and absent
markers, ion-count zeros, a heavy-tailed negative bulk with a bright bump; batch gates."""

import numpy as np
import pandas as pd
import pytest
from phenotype_cases import GATING

from frontline.errors import FrontlineInputError
from frontline.gating import auto_gate, batch_gates, gate_markers


def two_populations(n, fraction, seed, neg=150.0, pos=1500.0, sd_neg=0.3, sd_pos=0.35):
    """Log-normal negatives and positives, ``fraction`` positive; returns (x, truth)."""
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < fraction
    x = np.where(
        truth, rng.lognormal(np.log(pos), sd_pos, n), rng.lognormal(np.log(neg), sd_neg, n)
    )
    return x, truth


@pytest.mark.parametrize("fraction", [0.6, 0.8, 0.9, 0.95])
def test_a_majority_of_positive_cells_is_gated_from_its_negatives(fraction):
    # a tumor field of 60-95 % keratin-positive cells; a follicle of 90 % CD20-positive cells
    x, truth = two_populations(8000, fraction, seed=int(fraction * 100))
    result = auto_gate(x, **GATING)
    assert result["method"] in ("gmm", "valley")
    positive = x > result["gate"]
    assert abs(positive.mean() - fraction) < 0.01
    assert np.mean(positive == truth) > 0.99


@pytest.mark.parametrize("fraction", [0.01, 0.03])
def test_a_rare_marker_with_a_population_of_its_own_is_found(fraction):
    x, truth = two_populations(20000, fraction, seed=11)
    result = auto_gate(x, **GATING)
    assert result["method"] in ("gmm", "valley")
    assert np.mean((x > result["gate"]) == truth) > 0.998


def test_an_absent_marker_calls_almost_no_cell_positive():
    rng = np.random.default_rng(12)
    x = rng.lognormal(np.log(150), 0.4, 20000)
    result = auto_gate(x, **GATING)
    assert result["method"] == "negative_tail"
    assert np.mean(x > result["gate"]) < 0.005


def test_ion_count_zeros_are_negative_and_a_bright_group_above_them_is_split():
    # MIBI: most cells have no counts; some have a few (spill), the stained cells many
    rng = np.random.default_rng(13)
    x = np.zeros(10000)
    spill = rng.random(10000) < 0.25
    x[spill] = rng.poisson(1.5, spill.sum()) + 1.0
    stained = rng.random(10000) < 0.04
    x[stained] = rng.poisson(40, stained.sum()) + 1.0
    result = auto_gate(x, **GATING)
    assert result["method"] in ("gmm", "valley")
    assert np.mean((x > result["gate"]) == stained) > 0.995


def test_heavy_tailed_negatives_and_a_bright_bump_are_gated_at_the_foot_of_the_bump():
    # HALO's CD3: a broad negative bulk, a plateau of dim (spill-over) cells, a bright bump;
    # HALO's gate sits at the foot of the bump. A two-Gaussian mixture splits the bulk's tail.
    rng = np.random.default_rng(14)
    n = 16000
    kind = rng.choice(3, n, p=[0.88, 0.045, 0.075])
    x = np.where(
        kind == 0,
        rng.lognormal(np.log(0.15), 0.55, n),
        np.where(kind == 1, np.exp(rng.uniform(np.log(0.8), np.log(4.0), n)), 0),
    )
    x = np.where(kind == 2, rng.lognormal(np.log(12.0), 0.45, n), x)
    result = auto_gate(x, **GATING)
    assert result["method"] == "valley"
    assert 3.0 < result["gate"] < 7.0, result
    assert np.mean((x > result["gate"]) == (kind == 2)) > 0.985


def test_one_population_with_known_negatives_below_it_is_the_positive_one():
    # a B-cell follicle: 92 % CD20-positive in one broad population, no valley; the T cells
    # (positive for CD4 or CD8, lineages B cells exclude) have dim CD20
    rng = np.random.default_rng(15)
    n = 400
    is_t = rng.random(n) < 0.08
    x = np.where(is_t, rng.lognormal(np.log(1.2), 0.35, n), rng.lognormal(np.log(3.3), 0.25, n))
    alone = auto_gate(x, **GATING)
    assert np.mean(x > alone["gate"]) < 0.05  # taken as one negative population
    result = auto_gate(x, **GATING, reference=x[is_t][:20])
    assert result["method"] == "reference"
    assert result["confidence"] >= 0.6  # the share of the known negatives gated negative
    assert np.mean((x > result["gate"]) == ~is_t) > 0.97


def test_known_negatives_inside_the_population_change_nothing():
    rng = np.random.default_rng(16)
    x = rng.lognormal(np.log(150), 0.3, 3000)
    plain = auto_gate(x, **GATING)
    assert auto_gate(x, **GATING, reference=x[:200]) == plain


def test_gate_markers_retries_one_population_with_the_excluded_lineage_as_reference():
    rng = np.random.default_rng(17)
    n = 600
    is_t = rng.random(n) < 0.1
    cells = pd.DataFrame(
        {
            "cell_id": np.arange(n),
            "CD20_cell_mean": np.where(
                is_t, rng.lognormal(np.log(1.2), 0.3, n), rng.lognormal(np.log(3.3), 0.2, n)
            ),
            "CD3_cell_mean": np.where(
                is_t, rng.lognormal(np.log(20), 0.3, n), rng.lognormal(np.log(1.0), 0.3, n)
            ),
        }
    )
    plain = gate_markers(cells, ["CD20", "CD3"], None, "cell", **GATING).set_index("marker")
    assert plain.loc["CD20", "fraction_positive"] < 0.05
    gates = gate_markers(
        cells, ["CD20", "CD3"], None, "cell", **GATING, references={"CD20": ["CD3"]}
    ).set_index("marker")
    assert gates.loc["CD20", "method"] == "reference"
    assert gates.loc["CD20", "fraction_positive"] == pytest.approx(1 - is_t.mean(), abs=0.03)
    assert gates.loc["CD3", "method"] in ("gmm", "valley")


def field(n, fraction, seed, scale=1.0):
    x, truth = two_populations(n, fraction, seed)
    return pd.DataFrame({"cell_id": np.arange(n), "CD8_cell_mean": x * scale}), truth


def test_a_batch_gates_its_samples_on_their_pooled_cells():
    # a tumor-filled field with 3 positive cells borrows the gate that its batch defines
    few, few_truth = field(800, 0.004, seed=20)
    many, many_truth = field(3000, 0.08, seed=21)
    gates = batch_gates(
        {"few": few, "many": many},
        ["CD8"],
        None,
        "cell",
        normalisation="none",
        **GATING,
        batch="run1",
    )
    assert list(gates["sample"]) == ["few", "many"]
    assert gates["gate"].nunique() == 1 and set(gates["batch"]) == {"run1"}
    assert set(gates["n_samples"]) == {2} and set(gates["n_cells"]) == {3800}
    gate = gates["gate"].iloc[0]
    assert np.mean((few["CD8_cell_mean"] > gate) == few_truth) > 0.998
    assert np.mean((many["CD8_cell_mean"] > gate) == many_truth) > 0.995
    # the sample's own gate_markers uses the batch's gate and names the batch
    own = gate_markers(
        few, ["CD8"], None, "cell", **GATING, batch_gates=gates.iloc[:1], batch="run1"
    )
    assert own.iloc[0]["gate"] == gate and own.iloc[0]["batch"] == "run1"
    assert own.iloc[0]["n_positive"] == int((few["CD8_cell_mean"] > gate).sum())


def test_median_normalisation_scales_the_batch_gate_to_each_sample():
    a, a_truth = field(3000, 0.08, seed=22)
    b, b_truth = field(3000, 0.08, seed=23, scale=3.0)  # a brighter exposure
    raw = batch_gates({"a": a, "b": b}, ["CD8"], None, "cell", normalisation="none", **GATING)
    scaled = batch_gates({"a": a, "b": b}, ["CD8"], None, "cell", normalisation="median", **GATING)
    ratio = scaled.set_index("sample")["gate"]
    assert ratio["b"] / ratio["a"] == pytest.approx(3.0, rel=0.05)
    assert raw["gate"].nunique() == 1
    for name, table, truth in (("a", a, a_truth), ("b", b, b_truth)):
        assert np.mean((table["CD8_cell_mean"] > ratio[name]) == truth) > 0.995


def test_a_batch_of_one_sample_gets_that_samples_own_gate():
    a, _ = field(3000, 0.08, seed=24)
    pooled = batch_gates({"a": a}, ["CD8"], None, "cell", normalisation="none", **GATING)
    own = gate_markers(a, ["CD8"], None, "cell", **GATING)
    assert pooled["gate"].iloc[0] == pytest.approx(own["gate"].iloc[0])
    with pytest.raises(FrontlineInputError, match="normalisation 'z'"):
        batch_gates({"a": a}, ["CD8"], None, "cell", normalisation="z", **GATING)


def test_a_lumpy_bright_population_is_not_cut_at_one_of_its_peaks():
    """Keratin's ring median on a 0.5 mm demo field (219 tumour cells of 637): the tumour
    cells form a broad, lumpy population with several peaks; the gate sits in the valley
    below all of them, not at the foot of the highest (which called a third of the tumour
    cells negative: 23 % positive, tumour vs immune 0.82)."""
    from frontline import simulate
    from frontline.measure import measure_cells

    sim = simulate.simulate_tissue("inflamed", (1024, 1024), 0.5, seed=7)
    cells = measure_cells(sim.image, sim.labels, 0.5, sim.channels, 3.0, ring_median=["PanCK"])
    values = cells["PanCK_ring_median"].to_numpy()
    gate = auto_gate(values, **GATING)
    tumor_share = float(np.mean(sim.cells["phenotype"] == "tumor"))
    # measured: gate 254 (gmm), 35.0 % positive; tumour cells 34.4 %
    assert abs(np.mean(values > gate["gate"]) - tumor_share) < 0.02, gate
