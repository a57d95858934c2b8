"""Tumor region, tissue and invasive front (frontline.front)."""

import json

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, box

from frontline import front, spatial
from frontline.errors import FrontlineInputError


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


# --------------------------------------------------------------------------- rasters, iso-lines


def test_rasterize_marks_exactly_the_pixel_centres_inside_polygon_with_hole():
    outer = blob(300, 260, 200, wobble=0.3, lobes=7)
    geom = MultiPolygon(
        [
            Polygon(outer.exterior, [Point(300, 260).buffer(60).exterior]),
            box(550.3, 10.1, 599.9, 480.7),
        ]
    )
    mask = front.rasterize(geom, (300, 320), 2.0)
    rows, cols = np.mgrid[0:300, 0:320]
    expected = shapely.contains_xy(geom, (cols + 0.5) * 2.0, (rows + 0.5) * 2.0)
    assert (mask != expected).sum() == 0
    assert mask.sum() * 4.0 == pytest.approx(geom.area, rel=0.01)


def test_iso_region_of_a_cone_is_a_disc_of_the_right_radius():
    grid = 5.0
    yy, xx = np.mgrid[0:120, 0:120]
    field = 300.0 - np.hypot((xx + 0.5) * grid - 300, (yy + 0.5) * grid - 300)  # 0 at r = 300 µm
    region = front.iso_region(field, 100.0, grid)  # r <= 200 µm
    assert region.area == pytest.approx(np.pi * 200**2, rel=0.002)
    assert region.centroid.distance(Point(300, 300)) < 0.5


def test_iso_region_rebuilds_holes_and_islands_in_holes():
    grid = 2.0
    yy, xx = np.mgrid[0:200, 0:200]
    r = np.hypot((xx + 0.5) * grid - 200, (yy + 0.5) * grid - 200)
    field = np.cos(2 * np.pi * r / 120.0) * (r < 170)  # >= 0.5 for r < 20, 100 < r < 140
    region = front.iso_region(field, 0.5, grid)
    expected = np.pi * (20**2 + 140**2 - 100**2)
    assert region.area == pytest.approx(expected, rel=0.01)
    assert len(region.geoms) == 2  # the annulus (one hole) and the island in its hole
    assert sorted(len(p.interiors) for p in region.geoms) == [0, 1]


def test_clean_region_drops_small_parts_and_fills_small_holes():
    big = Polygon(
        box(0, 0, 300, 300).exterior,
        [box(100, 100, 120, 120).exterior, box(150, 150, 250, 250).exterior],
    )
    geom = MultiPolygon([big, box(400, 400, 420, 420)])
    out = front.clean_region(geom, min_region_area_um2=1000, min_hole_area_um2=2500)
    assert len(out.geoms) == 1  # the 400 µm² island is gone
    assert len(out.geoms[0].interiors) == 1  # the 400 µm² hole is filled, the 10,000 µm² one kept
    assert out.area == pytest.approx(300 * 300 - 100 * 100)


# --------------------------------------------------------------------------- detection


def test_detected_front_gives_distances_within_5_um_of_the_truth(tissue_pattern):
    xy, is_tumor, tumor, extent = tissue_pattern
    regions = front.detect_regions(xy, is_tumor, extent)
    dist = spatial.signed_distance(xy, regions)
    truth = true_distance(xy, tumor)
    near = np.abs(truth) < 300
    err = np.abs(dist[near] - truth[near])
    assert np.median(err) <= 5.0
    assert regions.tumor.area == pytest.approx(tumor.area, rel=0.05)
    assert regions.front.length == pytest.approx(tumor.length, rel=0.05)
    # the field is filled with cells: the tissue is the image
    assert regions.tissue.area == pytest.approx(extent[0] * extent[1], rel=0.01)
    assert regions.source == "cells"


def test_front_excludes_the_image_border(tissue_pattern):
    xy, is_tumor, _, extent = tissue_pattern
    # a tumor cut by the left image border: cells of x < 300 µm are tumor
    is_left = xy[:, 0] < 300
    regions = front.detect_regions(xy, is_left, extent)
    assert regions.has_front
    # the only front is the line x = 300 µm across the image (1000 µm less the tolerance)
    assert 900 <= regions.front.length <= 1200  # the outline follows the outermost cells
    coords = shapely.get_coordinates(regions.front)
    assert np.abs(coords[:, 0] - 300).max() < 15
    assert regions.tumor.area == pytest.approx(300 * 1000, rel=0.03)


def test_no_tumor_cells_and_tumor_everywhere_give_no_front(tissue_pattern, caplog):
    xy, _, _, extent = tissue_pattern
    none = front.detect_regions(xy, np.zeros(len(xy), bool), extent)
    assert none.tumor.is_empty and not none.has_front
    everywhere = front.detect_regions(xy, np.ones(len(xy), bool), extent)
    assert everywhere.tumor.area == pytest.approx(everywhere.tissue.area, rel=0.01)
    assert not everywhere.has_front
    assert "no invasive front" in caplog.text


def test_tissue_follows_the_cells():
    rng = np.random.default_rng(3)
    section = blob(600, 500, 350, wobble=0.1, lobes=3)
    xy = jittered_points(rng, section, 1500)
    tissue = front.tissue_region(xy, (1200.0, 1000.0))
    assert tissue.symmetric_difference(section).area / section.area < 0.06


# --------------------------------------------------------------------------- annotations


def qupath_feature(geometry, cls=None):
    props = {"objectType": "annotation"}
    if cls:
        props["classification"] = {"name": cls, "color": [200, 0, 0]}
    return {"type": "Feature", "geometry": geometry, "properties": props}


def test_annotation_in_pixels_is_converted_to_um_and_classes_are_selected():
    tumor_px = shapely.geometry.mapping(box(200, 200, 600, 400))
    stroma_px = shapely.geometry.mapping(box(0, 0, 100, 100))
    obj = {
        "type": "FeatureCollection",
        "features": [qupath_feature(tumor_px, "Tumor"), qupath_feature(stroma_px, "Stroma")],
    }
    region = front.annotation_to_tumor(obj, pixel_size_um=0.5, units="px", extent_um=(500, 500))
    assert region.area == pytest.approx(200 * 100)
    assert region.bounds == pytest.approx((100, 100, 300, 200))
    # a list of features in µm, none classified: every polygon counts
    region = front.annotation_to_tumor(
        [qupath_feature(tumor_px), qupath_feature(stroma_px)],
        pixel_size_um=0.5,
        units="um",
        extent_um=(1000, 1000),
    )
    assert region.area == pytest.approx(400 * 200 + 100 * 100)


def test_annotation_errors_name_sample_file_problem_and_fix():
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [100, 100], [100, 0], [0, 100], [0, 0]]]}
    with pytest.raises(FrontlineInputError) as err:
        front.annotation_to_tumor(
            bowtie, pixel_size_um=1.0, extent_um=(500, 500), sample="s1", file="ann.geojson"
        )
    text = str(err.value)
    assert (
        "s1" in text and "ann.geojson" in text and "not a valid polygon" in text and "Fix:" in text
    )

    far = shapely.geometry.mapping(box(5000, 5000, 6000, 6000))
    with pytest.raises(FrontlineInputError, match="outside the image.*annotation_units"):
        front.annotation_to_tumor(far, pixel_size_um=1.0, extent_um=(1000, 1000), sample="s1")
    half_out = shapely.geometry.mapping(box(800, 0, 1400, 500))  # µm read as px at 2 µm/px
    with pytest.raises(FrontlineInputError, match="lies outside the image"):
        front.annotation_to_tumor(half_out, pixel_size_um=1.0, extent_um=(1000, 1000))
    classified = qupath_feature(shapely.geometry.mapping(box(0, 0, 10, 10)), "Stroma")
    with pytest.raises(FrontlineInputError, match="classified 'Tumor'.*Stroma"):
        front.annotation_to_tumor([classified], pixel_size_um=1.0, extent_um=(100, 100))
    with pytest.raises(FrontlineInputError, match="no Polygon"):
        front.annotation_to_tumor({"type": "FeatureCollection", "features": []}, pixel_size_um=1.0)


def test_annotation_replaces_the_detected_tumor(tissue_pattern):
    xy, is_tumor, tumor, extent = tissue_pattern
    annotated = front.annotation_to_tumor(
        shapely.geometry.mapping(tumor), pixel_size_um=0.5, units="um", extent_um=extent
    )
    regions = front.detect_regions(xy, is_tumor, extent, annotation=annotated)
    assert regions.source == "annotation"
    assert regions.tumor.symmetric_difference(tumor).area < 1.0
    assert regions.front.length == pytest.approx(tumor.length, rel=0.001)


# --------------------------------------------------------------------------- GeoJSON


def test_geojson_for_qupath_is_in_pixels_and_round_trips_in_um():
    tumor = MultiPolygon([blob(400, 300, 150)])
    tissue = MultiPolygon([box(0, 0, 1000, 800)])
    regions = front.Regions(
        tumor=tumor,
        tissue=tissue,
        front=front.invasive_front(tumor, tissue),
        extent_um=(1000.0, 800.0),
    )
    px = json.loads(front.dumps(front.regions_to_geojson(regions, units="px", pixel_size_um=0.5)))
    assert px["type"] == "FeatureCollection"
    assert px["frontline"]["units"] == "px" and px["frontline"]["pixel_size_um"] == 0.5
    classes = [f["properties"]["classification"]["name"] for f in px["features"]]
    assert classes == ["Tissue", "Tumor", "Invasive front"]
    assert all(f["properties"]["objectType"] == "annotation" for f in px["features"])
    tissue_px = shapely.geometry.shape(px["features"][0]["geometry"])
    assert tissue_px.bounds == pytest.approx((0, 0, 2000, 1600))  # pixels = µm / 0.5
    assert px["features"][2]["geometry"]["type"] == "LineString"
    for units in ("px", "um"):
        obj = json.loads(
            front.dumps(front.regions_to_geojson(regions, units=units, pixel_size_um=0.5))
        )
        back = front.regions_from_geojson(obj)
        assert back.tumor.symmetric_difference(tumor).area < 1.0
        assert back.front.hausdorff_distance(regions.front) < 0.01
        assert back.extent_um == (1000.0, 800.0)
    with pytest.raises(FrontlineInputError, match="frontline"):
        front.regions_from_geojson({"type": "FeatureCollection", "features": []}, file="x.geojson")


def test_join_phenotypes_refuses_tables_of_different_cells():
    import pandas as pd

    cells = pd.DataFrame({"cell_id": [1, 2, 3], "x_um": [1.0, 2, 3], "y_um": [1.0, 2, 3]})
    phen = pd.DataFrame(
        {
            "cell_id": [3, 1, 2],
            "phenotype": ["tumor", "CD8_T", "other"],
            "CD8_positive": [False, True, False],
        }
    )
    joined = front.join_phenotypes(cells, phen)
    assert joined["phenotype"].tolist() == ["CD8_T", "other", "tumor"]
    assert joined["CD8_positive"].tolist() == [True, False, False]
    with pytest.raises(FrontlineInputError, match="different cells"):
        front.join_phenotypes(cells, phen.iloc[:2], sample="s", files=("c.parquet", "p.parquet"))
