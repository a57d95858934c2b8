"""Activation states (frontline.states, frontline.spatial.states): bool columns, state groups,
their densities and summary keys; bad state definitions."""

import numpy as np
import pandas as pd
import pytest
from phenotype_cases import CHANNELS, TREE, phenotyping
from spatial_cases import PANEL, PANEL_CALL, small_sample

from frontline import spatial
from frontline.errors import FrontlineInputError
from frontline.phenotype import gated_markers, parse_phenotypes, phenotype_cells
from frontline.states import group_label, parse_states, state_columns, state_groups

STATES = {
    "PD1_pos": {"positive": ["PD1"], "of": ["T_cell"]},
    "GZMB_pos": {"positive": ["GZMB"], "of": ["CD8_T"]},
}
MARKERS = CHANNELS + ["PD1", "GZMB"]


def tree():
    return parse_phenotypes(TREE, MARKERS, [["tumor", "immune"]])


def test_a_state_is_its_markers_within_its_phenotypes_and_those_below_them():
    names = np.array(["CD8_T", "T_helper", "B_cell", "CD8_T", "tumor"])
    positive = pd.DataFrame(
        {
            "PD1_positive": [True, True, True, False, True],
            "GZMB_positive": [True, False, True, True, True],
        }
    )
    columns = state_columns(names, positive, parse_states(STATES, tree(), MARKERS), tree())
    # PD1_pos of T_cell: CD8_T and T_helper are below T_cell; B_cell and tumor are not
    assert columns["PD1_pos"].tolist() == [True, True, False, False, False]
    assert columns["GZMB_pos"].tolist() == [True, False, False, True, False]
    with_negative = {"exhausted": {"positive": ["PD1"], "negative": ["GZMB"], "of": ["T_cell"]}}
    parsed = parse_states(with_negative, tree(), MARKERS)
    assert state_columns(names, positive, parsed, tree())["exhausted"].tolist() == [
        False,
        True,
        False,
        False,
        False,
    ]


@pytest.mark.parametrize(
    ("states", "match"),
    [
        (
            {"PD1_pos": {"positive": ["PD-1"], "of": ["CD8_T"]}},
            r"PD-1.*not among.*did you mean 'PD1'",
        ),
        (
            {"PD1_pos": {"positive": ["PD1"], "of": ["CD8T"]}},
            r"CD8T.*not phenotypes.*did you mean 'CD8_T'",
        ),
        ({"PD1_pos": {"positive": [], "of": ["CD8_T"]}}, "no positive marker"),
        ({"PD1_pos": {"positive": ["PD1"], "of": []}}, "applies to no phenotype"),
        ({"CD8_T": {"positive": ["PD1"], "of": ["CD8_T"]}}, "phenotype's name"),
        ({"PD1+": {"positive": ["PD1"], "of": ["CD8_T"]}}, "holds '\\+'"),
    ],
)
def test_bad_state_definitions_are_clear_errors(states, match):
    with pytest.raises(FrontlineInputError, match=match):
        parse_states(states, tree(), MARKERS, sample="s1", file="config.yaml")


def test_phenotype_cells_gates_the_state_markers_and_adds_a_column_per_state():
    rng = np.random.default_rng(3)
    n = 3000
    kind = rng.choice(["tumor", "CD8_T", "T_helper", "stromal"], n, p=[0.5, 0.2, 0.1, 0.2])
    pd1 = (kind != "tumor") & (kind != "stromal") & (rng.random(n) < 0.4)
    gzmb = (kind == "CD8_T") & (rng.random(n) < 0.5)
    on = {
        "PanCK": kind == "tumor",
        "CD45": np.isin(kind, ["CD8_T", "T_helper"]),
        "CD3": np.isin(kind, ["CD8_T", "T_helper"]),
        "CD8": kind == "CD8_T",
        "PD1": pd1,
        "GZMB": gzmb,
    }
    cells = {"cell_id": np.arange(1, n + 1)}
    for m in MARKERS:
        flag = on.get(m, np.zeros(n, bool))
        level = np.where(
            flag, rng.lognormal(np.log(1500), 0.3, n), rng.lognormal(np.log(150), 0.3, n)
        )
        for comp in ("nucleus", "cell", "ring"):
            cells[f"{m}_{comp}_mean"] = level
    table, gates = phenotype_cells(pd.DataFrame(cells), phenotyping(), states=STATES)
    assert {"PD1", "GZMB"} <= set(gates["marker"])
    assert gated_markers(phenotyping(), STATES)[-2:] == ["PD1", "GZMB"]
    assert table["PD1_pos"].dtype == bool and list(table.columns[-2:]) == ["PD1_pos", "GZMB_pos"]
    truth_pd1 = pd1 & np.isin(kind, ["CD8_T", "T_helper"])
    f1 = 2 * np.sum(table["PD1_pos"] & truth_pd1) / (table["PD1_pos"].sum() + truth_pd1.sum())
    assert f1 > 0.98
    assert np.array_equal(table["GZMB_pos"], gzmb & (table["phenotype"] == "CD8_T"))


def test_state_groups_get_densities_and_summary_keys_of_their_own():
    rng = np.random.default_rng(4)
    cells, regions = small_sample(rng)
    is_cd8 = cells["phenotype"].to_numpy() == "CD8_T"
    cells["PD1_pos"] = is_cd8 & (rng.random(len(cells)) < 0.5)
    states = {"PD1_pos": {"positive": ["PD1"], "of": ["CD8_T", "macrophage"]}}
    groups = state_groups(cells, states, {"CD8_T": {}, "macrophage": {}})
    assert list(groups) == ["CD8_T+PD1_pos", "macrophage+PD1_pos"]
    assert group_label("CD8_T", "PD1_pos") == "CD8_T+PD1_pos"
    params = spatial.Params.from_config(PANEL, call=PANEL_CALL, permutations=0)
    res = spatial.analyze(cells, regions, params, groups=groups)
    label = "CD8_T+PD1_pos"
    s = res.summary
    n = int(cells["PD1_pos"].sum())
    assert s[f"n_cells_{label}"] == n
    assert s[f"fraction_of_phenotype_{label}"] == pytest.approx(n / is_cd8.sum())
    regions_table = res.region_densities.set_index(["phenotype", "region"])
    for region in ("tumor_core", "inner_margin", "outer_margin", "stroma"):
        row = regions_table.loc[(label, region)]
        assert s[f"density_per_mm2_{region}_{label}"] == pytest.approx(row["density_per_mm2"])
    # the PD-1+ half of the CD8 T cells: about half of the CD8 T cells' density everywhere
    both = regions_table.loc[("CD8_T", "outer_margin"), "n_cells"]
    assert regions_table.loc[(label, "outer_margin"), "n_cells"] == pytest.approx(
        both / 2, rel=0.25
    )
    d = res.cells.loc[res.cells["PD1_pos"], "dist_front_um"]
    assert s[f"median_dist_front_um_{label}"] == pytest.approx(float(np.median(d)))
    assert label in set(res.densities["phenotype"])
    # no macrophage is PD-1+: its group is empty and its distances not computable
    assert s["n_cells_macrophage+PD1_pos"] == 0
    assert s["median_dist_front_um_macrophage+PD1_pos"] is None
    assert "macrophage+PD1_pos" in s["not_computable"]["median_dist_front_um_macrophage+PD1_pos"]


def test_a_state_missing_from_the_cell_table_asks_for_a_rerun():
    cells = pd.DataFrame({"phenotype": ["CD8_T"]})
    with pytest.raises(FrontlineInputError, match="no column for state 'PD1_pos'.*forcerun"):
        state_groups(cells, {"PD1_pos": {"positive": ["PD1"], "of": ["CD8_T"]}}, {})


def test_the_exports_carry_the_states(cell_table, tmp_path):
    import anndata as ad

    from frontline.export import cell_outlines, qupath_cells, to_anndata

    cells = cell_table.assign(PD1_pos=[True, False, False])
    adata = to_anndata(cells, pixel_size_um=0.5, sample="s1", compartments={})
    adata.write_h5ad(tmp_path / "cells.h5ad")
    assert ad.read_h5ad(tmp_path / "cells.h5ad").obs["PD1_pos"].tolist() == [True, False, False]
    labels = np.zeros((10, 14), np.uint32)
    labels[1:3, 2:4], labels[3:5, 10:14], labels[7:9, 5:7] = 1, 2, 3
    features = list(qupath_cells(cells, *cell_outlines(labels), sample="s1"))
    assert [f["properties"]["measurements"]["PD1_pos"] for f in features] == [1.0, 0.0, 0.0]
