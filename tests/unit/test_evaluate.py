"""Truth matching and metrics; measure + phenotype reach the accuracy targets on simulated data."""

import numpy as np
import pandas as pd
import pytest
import yaml
from stardist.matching import matching

from frontline.evaluate import (
    classification_scores,
    map_predictions,
    match_points,
    phenotype_metrics,
    segmentation_metrics,
)
from frontline.gating import measured_channels
from frontline.measure import measure_cells
from frontline.phenotype import parse_phenotypes, phenotype_cells, ring_median_markers
from frontline.simulate import simulate_tissue


def shifted_disks(seed=0):
    """Truth: 60 disks; prediction: the same disks shifted by 0-4 px, 5 dropped, 4 spurious."""
    from skimage.draw import disk

    rng = np.random.default_rng(seed)
    truth = np.zeros((300, 300), np.int32)
    pred = np.zeros_like(truth)
    k = 0
    for r in range(20, 300, 40):
        for c in range(20, 300, 40):
            k += 1
            truth[disk((r, c), 8, shape=truth.shape)] = k
            if k % 12 == 0:
                continue  # missed
            dr, dc = rng.integers(-4, 5, 2)
            pred[disk((r + dr, c + dc), 8, shape=truth.shape)] = 100 + k
    for i in range(4):
        pred[disk((38 + 40 * i, 40), 3, shape=truth.shape)] = 500 + i  # between disks
    return truth, pred


def test_segmentation_metrics_agree_with_stardist():
    truth, pred = shifted_disks()
    ours = segmentation_metrics(truth, pred, 0.5)
    theirs = matching(truth, pred, thresh=0.5)
    assert ours["n_truth"] == theirs.n_true == 49
    assert ours["tp"] == theirs.tp
    assert ours["fp"] == theirs.fp
    assert ours["f1"] == pytest.approx(theirs.f1)
    assert ours["mean_matched_iou"] == pytest.approx(theirs.mean_matched_score)
    assert 0.5 < ours["recall"] < 1.0


def test_perfect_segmentation_scores_one():
    truth, _ = shifted_disks()
    scores = segmentation_metrics(truth, truth * 3)
    assert scores["f1"] == 1.0 and scores["mean_matched_iou"] == 1.0


def test_match_points_is_one_to_one_within_radius_and_maximal():
    truth = np.array([[0.0, 0.0], [3.0, 0.0], [20.0, 20.0], [50.0, 50.0]])
    # a chain: pred 0 is nearest to truth 0 and 1; only pairing 0-0 and 1-1 matches both
    pred = np.array([[1.6, 0.0], [5.5, 0.0], [20.0, 24.5], [50.0, 50.0], [50.0, 51.0]])
    i_t, i_p = match_points(truth, pred, radius=4.0)
    assert list(zip(i_t, i_p)) == [(0, 0), (1, 1), (3, 3)]
    assert match_points(truth, pred[:0], 4.0)[0].size == 0


def test_classification_scores_by_hand():
    truth = ["tumor", "tumor", "CD8_T", "CD8_T", "stromal"]
    pred = ["tumor", "CD8_T", "CD8_T", "unassigned", "stromal"]
    scores = classification_scores(truth, pred, ["tumor", "CD8_T", "B_cell", "stromal"])
    assert scores["accuracy"] == pytest.approx(3 / 5)
    assert scores["per_class"]["tumor"]["f1"] == pytest.approx(2 / 3)
    assert scores["per_class"]["CD8_T"]["f1"] == pytest.approx(0.5)
    assert "B_cell" not in scores["per_class"]  # absent from truth and prediction
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 0.5 + 1.0) / 3)


def test_prediction_mapping():
    mapped = map_predictions(
        ["other", "CD8_T", "immune", "ambiguous"], ["tumor", "CD8_T", "stromal"]
    )
    assert list(mapped) == ["stromal", "CD8_T", "unassigned", "unassigned"]


@pytest.fixture(scope="module")
def phenotyping(repo_root):
    with open(repo_root / "config" / "config.yaml") as handle:
        return yaml.safe_load(handle)["phenotyping"]


@pytest.mark.parametrize("preset,seed", [("inflamed", 1), ("excluded", 2), ("desert", 3)])
def test_measure_and_phenotype_reach_targets_on_simulated_truth_nuclei(preset, seed, phenotyping):
    # the truth nuclei stand in for segmentation, so this checks measure + phenotype alone
    sim = simulate_tissue(preset, (1024, 1024), 0.5, seed)
    cells = measure_cells(
        sim.image,
        sim.labels,
        0.5,
        sim.channels,
        cell_expansion_um=3.0,
        tile_px=512,
        ring_median=ring_median_markers(phenotyping),
    )
    phenotypes, gates = phenotype_cells(cells, phenotyping, sample=preset)
    tree = parse_phenotypes(
        phenotyping["phenotypes"], measured_channels(cells), phenotyping["exclusive"]
    )
    result = phenotype_metrics(sim.cells, cells, phenotypes, tree, match_radius_um=4.0)
    assert result["n_matched"] == len(sim.cells)  # same nuclei: every cell pairs up
    assert result["tumor_vs_immune_accuracy"] >= 0.97
    assert result["macro_f1"] >= 0.90
    # every phenotype has 10+ cells in these 0.26 mm² fields, except the desert's immune types
    assert len(result["macro_f1_classes"]) == (2 if preset == "desert" else 7)
    assert (gates["method"] != "undefined").all()
    counts = np.array(result["confusion"]["counts"])
    assert counts.sum() == result["n_matched"]


def test_phenotype_metrics_counts_unmatched_and_lineages(phenotyping):
    tree = parse_phenotypes(
        phenotyping["phenotypes"],
        ["PanCK", "CD45", "CD3", "CD8", "CD20", "CD68", "MPO"],
        phenotyping["exclusive"],
    )
    truth = pd.DataFrame(
        {
            "cell_id": [1, 2, 3, 4],
            "x_um": [0.0, 10, 20, 30],
            "y_um": [0.0, 0, 0, 0],
            "phenotype": ["tumor", "CD8_T", "macrophage", "stromal"],
        }
    )
    cells = pd.DataFrame({"cell_id": [7, 8, 9], "x_um": [1.0, 11, 30], "y_um": [0.0, 1, 0]})
    phen = pd.DataFrame({"cell_id": [7, 8, 9], "phenotype": ["tumor", "T_cell", "other"]})
    result = phenotype_metrics(truth, cells, phen, tree, match_radius_um=4.0)
    assert result["n_matched"] == 3
    assert result["tumor_vs_immune_accuracy"] == pytest.approx(1.0)  # T_cell is immune
    assert result["accuracy"] == pytest.approx(2 / 3)  # T_cell is not a truth class
