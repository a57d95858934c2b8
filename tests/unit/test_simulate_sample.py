"""A simulated sample (frontline.simulate.sample, and the presets, world, cells and rendering
beneath it): density model recovered, truth consistent, realistic nuclei, gateable markers."""

import numpy as np
import pandas as pd
import pytest
import shapely
from scipy import ndimage
from skimage.segmentation import expand_labels

from frontline import simulate

PS = 0.5
SHAPE = (1024, 1024)  # 512 x 512 µm
DEMO_PRESETS = ("inflamed", "excluded", "desert")  # one tumor mass: the demo's layout


@pytest.fixture(scope="module")
def samples():
    """One 1024 x 1024 px sample per demo preset, seed 7."""
    return {p: simulate.simulate_tissue(p, SHAPE, PS, seed=7) for p in DEMO_PRESETS}


def signed_distance_map(tumor, shape, ps):
    """Signed distance (µm) of every pixel centre to the rasterised tumor, negative inside."""
    yy, xx = np.indices(shape)
    inside = shapely.contains_xy(tumor, (xx.ravel() + 0.5) * ps, (yy.ravel() + 0.5) * ps).reshape(
        shape
    )
    return np.where(
        inside,
        -ndimage.distance_transform_edt(inside, ps),
        ndimage.distance_transform_edt(~inside, ps),
    )


def immune_density(cells, region_area_mm2, selector):
    immune = cells["phenotype"].isin(simulate.IMMUNE)
    return (immune & selector).sum() / region_area_mm2


# --- tumor and density model -------------------------------------------------------------


def test_front_lies_inside_the_image_with_stroma_around(samples):
    for sim in samples.values():
        area = SHAPE[0] * SHAPE[1] * PS**2
        assert 0.15 < sim.tumor.area / area < 0.7
        frame = shapely.box(0, 0, SHAPE[1] * PS, SHAPE[0] * PS).exterior
        assert sim.tumor.distance(frame) > 20.0  # stroma all around the tumor


def test_presets_give_the_expected_immune_patterns(samples):
    area = SHAPE[0] * SHAPE[1] * PS**2 * 1e-6
    ratios, totals = {}, {}
    for preset, sim in samples.items():
        cells = sim.cells
        a_in = sim.tumor.area * 1e-6
        inside = immune_density(cells, a_in, cells["dist_front_um"] < 0)
        outside = immune_density(cells, area - a_in, cells["dist_front_um"] >= 0)
        ratios[preset] = inside / outside
        totals[preset] = immune_density(cells, area, True)
    assert ratios["inflamed"] > 0.5
    assert ratios["excluded"] < 0.2
    assert totals["desert"] < 0.15 * min(totals["inflamed"], totals["excluded"])

    sim = samples["excluded"]
    box = shapely.box(0, 0, SHAPE[1] * PS, SHAPE[0] * PS)
    band = sim.tumor.buffer(60.0).difference(sim.tumor).intersection(box).area * 1e-6
    far = box.difference(sim.tumor.buffer(100.0)).area * 1e-6
    d = sim.cells["dist_front_um"]
    pile = immune_density(sim.cells, band, (d >= 0) & (d < 60))
    beyond = immune_density(sim.cells, far, d >= 100)
    assert pile > 2.0 * beyond  # the immune cells pile up at the front


def test_measured_density_recovers_the_model(samples):
    """Cells per mm² in distance bands agree with expected_density_per_mm2 averaged there."""
    for preset in ("inflamed", "excluded"):
        sim = samples[preset]
        dmap = signed_distance_map(sim.tumor, SHAPE, PS).ravel()
        for lo, hi in [(-1000, -20), (0, 60), (60, 1000)]:
            in_band = (dmap >= lo) & (dmap < hi)
            area_mm2 = in_band.sum() * PS**2 * 1e-6
            expected = sum(
                simulate.expected_density_per_mm2(preset, p, dmap[in_band]).mean()
                for p in simulate.IMMUNE
            )
            d = sim.cells["dist_front_um"]
            measured = immune_density(sim.cells, area_mm2, (d >= lo) & (d < hi))
            assert abs(measured - expected) < 0.3 * expected + 30, (preset, lo, hi)


def test_cell_density_is_realistic(samples):
    sim = samples["inflamed"]
    area = SHAPE[0] * SHAPE[1] * PS**2 * 1e-6
    a_in = sim.tumor.area * 1e-6
    inside = (sim.cells["dist_front_um"] < 0).sum() / a_in
    outside = (sim.cells["dist_front_um"] >= 0).sum() / (area - a_in)
    assert 1500 < inside < 4000
    assert 500 < outside < inside
    tumor = sim.cells[sim.cells["phenotype"] == "tumor"]
    assert (tumor["dist_front_um"] < 5).mean() > 0.98


# --- truth consistency -------------------------------------------------------------------


def test_truth_distance_matches_the_tumor_mask(samples):
    for sim in samples.values():
        dmap = signed_distance_map(sim.tumor, SHAPE, PS)
        rows = (sim.cells["y_um"].to_numpy() / PS).astype(int)
        cols = (sim.cells["x_um"].to_numpy() / PS).astype(int)
        diff = np.abs(dmap[rows, cols] - sim.cells["dist_front_um"].to_numpy())
        assert np.median(diff) < 1.0
        assert np.quantile(diff, 0.99) < 2.0


def test_truth_tumor_has_no_cell_free_specks_or_holes(samples):
    for sim in samples.values():
        xy = sim.cells[["x_um", "y_um"]].to_numpy()
        tumor_xy = xy[(sim.cells["phenotype"] == "tumor").to_numpy()]
        for part in sim.tumor.geoms:
            assert shapely.contains_xy(part, *tumor_xy.T).sum() >= simulate.MIN_TUMOR_CELLS
            for ring in part.interiors:
                assert shapely.contains_xy(shapely.Polygon(ring), *xy.T).any()


def test_truth_labels_match_the_cells_table(samples):
    for sim in samples.values():
        labels = sim.labels
        assert labels.dtype == np.uint32 and labels.shape == SHAPE
        ids = sim.cells["cell_id"].to_numpy()
        assert set(np.unique(labels[labels > 0])) == set(ids)
        n = labels.max()
        area = np.bincount(labels.ravel(), minlength=n + 1)
        rows, cols = np.indices(labels.shape)
        y = (np.bincount(labels.ravel(), rows.ravel(), n + 1) / np.maximum(area, 1) + 0.5) * PS
        x = (np.bincount(labels.ravel(), cols.ravel(), n + 1) / np.maximum(area, 1) + 0.5) * PS
        err = np.hypot(x[ids] - sim.cells["x_um"], y[ids] - sim.cells["y_um"])
        assert err.max() < 1.0
        # nuclei are single connected objects
        objects = [
            ndimage.label(labels[s] == i + 1)[1]
            for i, s in enumerate(ndimage.find_objects(labels))
            if s is not None
        ]
        assert np.mean(np.array(objects) == 1) > 0.99


def test_nuclei_have_realistic_sizes_and_shapes(samples):
    from skimage.measure import regionprops_table

    sim = samples["inflamed"]
    props = pd.DataFrame(
        regionprops_table(
            sim.labels,
            properties=("label", "area", "axis_major_length", "axis_minor_length", "solidity"),
        )
    )
    props = props.merge(sim.cells, left_on="label", right_on="cell_id")
    props["diameter_um"] = 2 * np.sqrt(props["area"] * PS**2 / np.pi)
    props["elongation"] = props["axis_major_length"] / props["axis_minor_length"]
    med = props.groupby("phenotype")[["diameter_um", "elongation", "solidity"]].median()
    assert 10.0 < med.loc["tumor", "diameter_um"] < 16.0
    for lymph in ("CD8_T", "T_helper"):
        assert 5.5 < med.loc[lymph, "diameter_um"] < 7.5
        assert med.loc[lymph, "elongation"] < 1.3
    assert med.loc["macrophage", "diameter_um"] > med.loc["CD8_T", "diameter_um"] + 2
    assert med.loc["stromal", "elongation"] > 2.5
    assert med.loc["neutrophil", "solidity"] < med.loc["CD8_T", "solidity"] - 0.08  # lobed
    # tumor nuclei are crowded: many touch or nearly touch a neighbour (within 1 µm)
    tumor_ids = props.loc[props["phenotype"] == "tumor", "label"].to_numpy()
    grown = expand_labels(np.where(np.isin(sim.labels, tumor_ids), sim.labels, 0), 2)
    touching = np.unique(grown[1:][(grown[1:] != grown[:-1]) & (grown[:-1] > 0)])
    assert np.isin(tumor_ids, touching).mean() > 0.3


def test_markers_are_gateable_but_not_trivially(samples):
    """A two-threshold gate on PanCK / CD45 separates tumor from immune at >= 97 %, yet the
    single-marker intensity distributions of the two lineages overlap."""
    sim = samples["inflamed"]
    cell = expand_labels(sim.labels, int(3.0 / PS))
    ring = np.where(sim.labels > 0, 0, cell)
    ids = sim.cells["cell_id"].to_numpy()
    panck = np.log(ndimage.mean(sim.image[1].astype(float), cell, ids))
    cd45 = np.log(ndimage.mean(sim.image[2].astype(float), ring, ids))
    keep = sim.cells["phenotype"].isin(("tumor",) + simulate.IMMUNE).to_numpy()
    is_tumor = (sim.cells["phenotype"] == "tumor").to_numpy()[keep]
    panck, cd45 = panck[keep], cd45[keep]
    best = 0.0
    for tp in np.quantile(panck, np.linspace(0.02, 0.98, 49)):
        for tc in np.quantile(cd45, np.linspace(0.02, 0.98, 49)):
            called_tumor = (panck > tp) & (cd45 <= tc)
            called_immune = cd45 > tc
            best = max(best, np.mean(np.where(is_tumor, called_tumor, called_immune)))
    assert best >= 0.97
    immune = ~is_tumor
    assert panck[is_tumor].min() < panck[immune].max()
    assert cd45[immune].min() < cd45[is_tumor].max()
