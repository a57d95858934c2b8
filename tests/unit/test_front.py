"""Tumor region, tissue and invasive front detected from cells (frontline.front)."""

import numpy as np
import pandas as pd
import pytest
import shapely
from shapely import affinity
from shapely.geometry import Polygon, box

from frontline import config, front, regions
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
