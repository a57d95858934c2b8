"""The simulator's fields other than the demo's mass (frontline.simulate: presets and world):
thin stroma between nests, tumor-rich septa, a TMA core in glass, compartments with immune
aggregates, immune cells mixed among tumor cells; each with its truth front."""

import numpy as np
import pytest
import shapely
from scipy.spatial import cKDTree

from frontline import simulate

SHAPE = (2048, 2048)  # 1 x 1 mm at 0.5 µm/px
PS = 0.5


@pytest.fixture(scope="module")
def fields():
    """Truth cells of each new preset, seed 1: {preset: (cells, tumor, extent)}."""
    names = ("nests", "septa", "tma_core", "compartmentalized", "mixed")
    return {name: simulate.truth_cells(name, SHAPE, PS, seed=1) for name in names}


def spacing(cells):
    xy = cells.loc[cells["phenotype"] == "tumor", ["x_um", "y_um"]].to_numpy()
    return float(np.median(cKDTree(xy).query(xy, k=2)[0][:, 1]))


def test_presets_are_one_table_with_layout_pattern_and_call():
    table = simulate.PRESET_TABLE
    assert set(table) == set(simulate.PRESETS) and len(table) == 8
    assert {row.layout for row in table.values()} == set(simulate.LAYOUTS)
    assert {row.call for row in table.values()} == {"inflamed", "excluded", "desert"}
    assert table["inflamed"].densities == simulate.DENSITY_TABLE["inflamed"]
    assert table["nests"].densities["tumor"] == (4500.0, 0, 0)
    with pytest.raises(ValueError, match="unknown preset"):
        simulate.preset_of("hot")


def test_new_fields_have_the_tumor_cell_spacing_of_real_breast_carcinoma(fields):
    for name, (cells, _, _) in fields.items():
        assert 8.5 <= spacing(cells) <= 10.5, name  # TNBC MIBI: 7.5-9.6 µm; demo: 13 µm


def test_nests_are_separated_by_15_to_60_um_of_stroma(fields):
    cells, tumor, _ = fields["nests"]
    parts = [p for p in tumor.geoms if p.area > 2000]
    assert len(parts) >= 20
    tree = shapely.STRtree(parts)
    gaps = []
    for i, part in enumerate(parts):
        for j in tree.query(part.buffer(70)):
            if j > i:
                gaps.append(part.distance(parts[j]))
    gaps = np.array(gaps)
    assert gaps.min() >= 8.0  # the waviness (6 µm) narrows a 15 µm channel in places
    assert 15.0 <= np.median(gaps) <= 60.0
    stroma = cells["dist_front_um"] > 0
    assert stroma.mean() > 0.3 and (cells["dist_front_um"][stroma] < 60).mean() > 0.5


def test_septa_cut_a_tumor_rich_field_and_its_border_is_not_front(fields):
    cells, tumor, extent = fields["septa"]
    image = shapely.box(0, 0, *extent)
    assert tumor.area / image.area > 0.75
    assert tumor.distance(image.exterior) < 1.0  # the tumor reaches the border
    assert any(len(p.interiors) for p in tumor.geoms)  # stromal pockets
    # a tumor cell at the border is far from the front: the border is not front
    edge = (cells["phenotype"] == "tumor") & (cells["x_um"] < 5)
    assert np.median(cells.loc[edge, "dist_front_um"]) < -15  # not -3 as to a border front


def test_tma_core_is_a_disc_of_0_6_mm_in_glass(fields):
    cells, tumor, extent = fields["tma_core"]
    r = np.hypot(cells["x_um"] - extent[0] / 2, cells["y_um"] - extent[1] / 2)
    assert r.max() < 1.15 * 300 and np.percentile(r, 99) > 0.85 * 300
    assert 0.1 < tumor.area / (np.pi * 300**2) < 0.7
    assert np.isfinite(cells["dist_front_um"]).all()


def test_compartmentalized_immune_cells_gather_in_aggregates_at_the_tumor(fields):
    cells, _, _ = fields["compartmentalized"]
    immune = cells["phenotype"].isin(simulate.IMMUNE)
    d = cells["dist_front_um"]
    assert (immune & (d < -20)).sum() / (d < -20).sum() < 0.03  # few inside
    near, far = immune & (d > 0) & (d < 40), immune & (d > 150)
    assert near.sum() > 4 * far.sum()  # dense along the tumor
    # aggregates: counts of stromal immune cells in 50 µm squares are overdispersed
    xy = cells.loc[immune & (d > 0), ["x_um", "y_um"]].to_numpy()
    counts = np.histogram2d(xy[:, 0], xy[:, 1], bins=20, range=[[0, 1024], [0, 1024]])[0]
    counts = counts[counts > 0]
    assert counts.var() > 2 * counts.mean()


def test_mixed_immune_cells_lie_among_the_tumor_cells(fields):
    cells, _, _ = fields["mixed"]
    immune = cells["phenotype"].isin(simulate.IMMUNE)
    d = cells["dist_front_um"]
    inside = (immune & (d < -30)).sum() / (d < -30).sum()
    assert inside > 0.12  # about one cell in six inside the tumor is immune
