"""Tumor region, tissue and invasive front detected from cells (frontline.front)."""

import numpy as np
import pandas as pd
import pytest
import shapely
from shapely import affinity
from shapely.geometry import Point, Polygon, box

from frontline import config, front, regions
from frontline.errors import FrontlineInputError
from frontline.spatial import signed_distance

FRONT = config.section("front")
DETECT = {k: v for k, v in FRONT.items() if k != "tumor_phenotype"}  # detect_regions' keywords


def blob(cx, cy, radius, wobble=0.15, n=720, lobes=5):
    """A smooth star-shaped polygon, µm."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = radius * (1 + wobble * np.sin(lobes * t))
    return Polygon(np.c_[cx + r * np.cos(t), cy + r * np.sin(t)])


def jittered_points(rng, region, density_per_mm2, jitter=0.45):
    """Points at ``density_per_mm2`` inside ``region``: a square lattice of spacing
    1 / sqrt(density) with uniform jitter (± ``jitter`` spacings), like packed nuclei."""
    step = 1e3 / np.sqrt(density_per_mm2)
    x0, y0, x1, y1 = region.bounds
    gx, gy = np.meshgrid(np.arange(x0 + step / 2, x1, step), np.arange(y0 + step / 2, y1, step))
    xy = np.c_[gx.ravel(), gy.ravel()] + rng.uniform(-jitter, jitter, (gx.size, 2)) * step
    return xy[shapely.contains_xy(region, xy[:, 0], xy[:, 1])]


@pytest.fixture(scope="module")
def tissue_pattern():
    """A 1 x 1 mm field: a lobed tumor (2,600 tumor cells/mm², hard edge) in stroma (1,600/mm²)."""
    rng = np.random.default_rng(7)
    extent = (1000.0, 1000.0)
    tumor = blob(500, 500, 280)
    image = box(0, 0, *extent)
    t = jittered_points(rng, tumor, 2600)
    s = jittered_points(rng, image.difference(tumor), 1600)
    xy = np.vstack([t, s])
    is_tumor = np.r_[np.ones(len(t), bool), np.zeros(len(s), bool)]
    return xy, is_tumor, tumor, extent


def true_distance(xy, tumor):
    d = shapely.distance(tumor.boundary, shapely.points(xy))
    return np.where(shapely.contains_xy(tumor, xy[:, 0], xy[:, 1]), -d, d)


def test_detected_front_gives_distances_within_5_um_of_the_truth(tissue_pattern):
    xy, is_tumor, tumor, extent = tissue_pattern
    found = front.detect_regions(xy, is_tumor, extent, **DETECT)
    dist = signed_distance(xy, found)
    truth = true_distance(xy, tumor)
    near = np.abs(truth) < 300
    err = np.abs(dist[near] - truth[near])
    assert np.median(err) <= 5.0
    assert found.tumor.area == pytest.approx(tumor.area, rel=0.05)
    assert found.front.length == pytest.approx(tumor.length, rel=0.05)
    # the field is filled with cells: the tissue is the image
    assert found.tissue.area == pytest.approx(extent[0] * extent[1], rel=0.01)
    assert found.source == "cells"


def test_front_excludes_the_image_border(tissue_pattern):
    xy, is_tumor, _, extent = tissue_pattern
    # a tumor cut by the left image border: cells of x < 300 µm are tumor
    is_left = xy[:, 0] < 300
    found = front.detect_regions(xy, is_left, extent, **DETECT)
    assert found.has_front
    # the only front is the line x = 300 µm across the image (1000 µm less the tolerance)
    assert 900 <= found.front.length <= 1200  # the outline follows the outermost cells
    coords = shapely.get_coordinates(found.front)
    assert np.abs(coords[:, 0] - 300).max() < 15
    assert found.tumor.area == pytest.approx(300 * 1000, rel=0.03)


def test_no_tumor_cells_and_tumor_everywhere_give_no_front(tissue_pattern, caplog):
    xy, _, _, extent = tissue_pattern
    none = front.detect_regions(xy, np.zeros(len(xy), bool), extent, **DETECT)
    assert none.tumor.is_empty and not none.has_front
    everywhere = front.detect_regions(xy, np.ones(len(xy), bool), extent, **DETECT)
    assert everywhere.tumor.area == pytest.approx(everywhere.tissue.area, rel=0.01)
    assert not everywhere.has_front
    assert "no invasive front" in caplog.text


def test_tissue_follows_the_cells():
    rng = np.random.default_rng(3)
    section = blob(600, 500, 350, wobble=0.1, lobes=3)
    xy = jittered_points(rng, section, 1500)
    tissue = front.tissue_region(
        xy,
        (1200.0, 1000.0),
        closing_um=FRONT["tissue_closing_um"],
        raster_um=2 * FRONT["raster_um"],
        outline_smoothing_um=FRONT["outline_smoothing_um"],
        min_region_area_um2=FRONT["tissue_min_region_area_um2"],
        min_hole_area_um2=FRONT["tissue_min_hole_area_um2"],
        edge_tolerance_um=FRONT["edge_tolerance_um"],
    )
    assert tissue.symmetric_difference(section).area / section.area < 0.06


def test_annotation_replaces_the_detected_tumor(tissue_pattern):
    xy, is_tumor, tumor, extent = tissue_pattern
    annotated = regions.annotation_to_tumor(
        shapely.geometry.mapping(tumor), pixel_size_um=0.5, units="um", extent_um=extent
    )
    found = front.detect_regions(xy, is_tumor, extent, annotation=annotated, **DETECT)
    assert found.source == "annotation"
    assert found.tumor.symmetric_difference(tumor).area < 1.0
    assert found.front.length == pytest.approx(tumor.length, rel=0.001)


def test_find_regions_reads_the_tumor_phenotype_and_the_annotation(tissue_pattern, caplog):
    xy, is_tumor, tumor, extent = tissue_pattern
    cells = pd.DataFrame(
        {"x_um": xy[:, 0], "y_um": xy[:, 1], "phenotype": np.where(is_tumor, "PanCK+", "other")}
    )
    found = front.find_regions(cells, extent, {**FRONT, "tumor_phenotype": "PanCK+"})
    assert found.source == "cells" and found.tumor.area == pytest.approx(tumor.area, rel=0.05)
    # an annotation in pixels of 0.5 µm replaces the tumor, and no tumor cell is needed
    annotation = shapely.geometry.mapping(affinity.scale(tumor, 2, 2, origin=(0, 0)))
    by_hand = front.find_regions(
        cells.assign(phenotype="other"),
        extent,
        FRONT,
        annotation=annotation,
        annotation_units="px",
        pixel_size_um=0.5,
        sample="s1",
    )
    assert by_hand.source == "annotation"
    assert by_hand.tumor.symmetric_difference(tumor).area < 1.0
    assert "no cell has the phenotype" not in caplog.text
    front.find_regions(cells.assign(phenotype="other"), extent, FRONT, sample="s1")
    assert "sample s1: no cell has the phenotype 'tumor'" in caplog.text


# --------------------------------------------------------------------------- the data's scale


def nests_field(rng, gap_um, stroma_per_mm2=3000.0, tumor_per_mm2=7000.0):
    """Two 200 x 400 µm nests side by side, ``gap_um`` of stroma between them (cells at
    ``stroma_per_mm2``) and around them: spacing of tumor cells about 8 µm, as in real tissue."""
    extent = (600.0, 600.0)
    a = box(100, 100, 300 - gap_um / 2, 500)
    b = box(300 + gap_um / 2, 100, 500, 500)
    nests = a.union(b)
    t = jittered_points(rng, nests, tumor_per_mm2)
    s = jittered_points(rng, box(0, 0, *extent).difference(nests), stroma_per_mm2)
    xy = np.vstack([t, s])
    is_tumor = np.r_[np.ones(len(t), bool), np.zeros(len(s), bool)]
    return xy, is_tumor, nests, extent


@pytest.mark.parametrize("gap_um", [20.0, 40.0])
def test_nests_separated_by_thin_stroma_stay_separate(gap_um):
    xy, is_tumor, nests, extent = nests_field(np.random.default_rng(11), gap_um)
    found = front.detect_regions(xy, is_tumor, extent, **DETECT)
    spacing = found.outline_scale["tumor_cell_spacing_um"]
    assert 7.0 <= spacing <= 9.0
    assert len(found.tumor.geoms) == 2  # two nests, not one region across the channel
    # the channel is stroma: its cells are outside the tumor
    channel = box(300 - gap_um / 2 + 4, 120, 300 + gap_um / 2 - 4, 480)
    in_channel = shapely.contains_xy(channel, xy[:, 0], xy[:, 1]) & ~is_tumor
    assert in_channel.sum() >= 5
    assert not shapely.contains_xy(found.tumor, xy[in_channel, 0], xy[in_channel, 1]).any()
    assert found.tumor.symmetric_difference(nests).area / nests.area < 0.12
    # a fixed closing of 40 µm (the old default) merges them; the channel opening parts them
    old = {**DETECT, "closing_um": 40.0, "channel_scale": None}
    merged = front.detect_regions(xy, is_tumor, extent, **old)
    assert len(merged.tumor.geoms) == 1 and merged.outline_scale["closing_spacings"] is None
    opened = front.detect_regions(xy, is_tumor, extent, **{**old, "channel_scale": 1.5})
    assert len(opened.tumor.geoms) == 2


def test_the_ladder_is_recorded_and_a_cell_free_gap_is_not_stroma(tissue_pattern):
    xy, is_tumor, tumor, extent = tissue_pattern
    found = front.detect_regions(xy, is_tumor, extent, **DETECT)
    scale = found.outline_scale
    assert scale["closing_um"] == pytest.approx(
        scale["closing_spacings"] * scale["tumor_cell_spacing_um"], rel=1e-3
    )
    assert [s["closing_spacings"] for s in scale["ladder"]][0] == 2.0
    # empty the stroma of a 60 µm hole in the tumor: a lumen, not stroma
    hole = Point(500, 500).buffer(30)
    keep = ~shapely.contains_xy(hole, xy[:, 0], xy[:, 1])
    lumen = front.detect_regions(xy[keep], is_tumor[keep], extent, **DETECT)
    assert lumen.tumor.contains(Point(500, 500))
    # ... but 12 immune cells in it make a stromal pocket with a front of its own
    rng = np.random.default_rng(5)
    pocket = 500 + rng.uniform(-15, 15, (12, 2))
    xy2 = np.vstack([xy[keep], pocket])
    is_t2 = np.r_[is_tumor[keep], np.zeros(12, bool)]
    found = front.detect_regions(xy2, is_t2, extent, **DETECT)
    assert not found.tumor.contains(Point(500, 500))
    assert found.front.length > tumor.length + 100  # the pocket's outline is front too


def test_tumor_fills_the_tissue_only_without_stroma_with_cells():
    rng = np.random.default_rng(8)
    extent = (500.0, 500.0)
    t = jittered_points(rng, box(0, 0, *extent), 7000)
    few = np.array([[250.0, 250.0], [253.0, 256.0], [258.0, 250.0]])  # 3 immune cells
    xy = np.vstack([t, few])
    is_tumor = np.r_[np.ones(len(t), bool), np.zeros(3, bool)]
    filled = front.detect_regions(xy, is_tumor, extent, **DETECT)
    assert not filled.has_front and filled.no_front_reason.endswith("(no stroma with cells)")
    # a stroma strip of 40 µm across the field with its cells: a front on both sides
    strip = box(0, 230, 500, 270)
    inside_strip = shapely.contains_xy(strip, t[:, 0], t[:, 1])
    s = jittered_points(rng, strip, 3000)
    xy = np.vstack([t[~inside_strip], s])
    is_tumor = np.r_[np.ones((~inside_strip).sum(), bool), np.zeros(len(s), bool)]
    cut = front.detect_regions(xy, is_tumor, extent, **DETECT)
    assert cut.has_front and len(cut.tumor.geoms) == 2
    assert 2 * 460 <= cut.front.length <= 2 * 520


@pytest.mark.parametrize(
    "key,value,message",
    [
        ("closing_um", 0.0, "must be positive"),
        ("closing_um", -5.0, "must be positive"),
        ("closing_um", 5000.0, "is longer than the image"),
        ("tissue_closing_um", 1500.0, "is longer than the image"),
        ("min_region_area_um2", 2e6, "is larger than the image's area"),
        ("scale_ladder", [3.0, 2.0], "must be positive and increasing"),
    ],
)
def test_absurd_scale_keys_stop_the_step_naming_the_key(tissue_pattern, key, value, message):
    xy, is_tumor, _, extent = tissue_pattern
    cells = pd.DataFrame({"x_um": xy[:, 0], "y_um": xy[:, 1], "phenotype": "tumor"})
    with pytest.raises(FrontlineInputError) as err:
        front.find_regions(cells, extent, {**FRONT, key: value}, sample="s1")
    text = str(err.value)
    assert f"front: {key}" in text and message in text and "1000 x 1000 µm" in text
    assert "s1" in text


def test_an_annotation_beside_the_tumor_cells_is_warned_with_the_overlap(tissue_pattern, caplog):
    xy, is_tumor, tumor, extent = tissue_pattern
    elsewhere = regions.annotation_to_tumor(
        shapely.geometry.mapping(box(0, 0, 150, 150)),
        pixel_size_um=0.5,
        units="um",
        extent_um=extent,
    )
    found = front.detect_regions(xy, is_tumor, extent, annotation=elsewhere, sample="s1", **DETECT)
    assert found.source == "annotation"
    agree = found.outline_scale["annotation_agreement"]
    assert agree["tumor_cells_inside"] == 0.0 and agree["overlap"] == 0.0
    assert (
        "sample s1: the tumor annotation disagrees with the tumor cells: 0% of the" in caplog.text
    )
    caplog.clear()
    good = regions.annotation_to_tumor(
        shapely.geometry.mapping(tumor), pixel_size_um=0.5, units="um", extent_um=extent
    )
    found = front.detect_regions(xy, is_tumor, extent, annotation=good, **DETECT)
    assert found.outline_scale["annotation_agreement"]["tumor_cells_inside"] > 0.97
    assert found.outline_scale["annotation_agreement"]["overlap"] > 0.9
    assert "disagrees" not in caplog.text


def test_nest_table_gives_each_nest_its_area_and_front():
    xy, is_tumor, nests, extent = nests_field(np.random.default_rng(11), 40.0)
    found = front.detect_regions(xy, is_tumor, extent, **DETECT)
    table = regions.nest_table(found)
    assert list(table["nest"]) == [1, 2]
    np.testing.assert_allclose(sorted(table["area_um2"]), [180 * 400] * 2, rtol=0.1)
    assert table["front_length_um"].sum() == pytest.approx(found.front.length, rel=1e-6)
    assert (table["front_length_um"] > 2 * (180 + 400) * 0.9).all()
