"""Regions and their file forms: QuPath GeoJSON in pixels or µm, annotations (frontline.regions)."""

import json

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, box

from frontline import front, regions
from frontline.errors import FrontlineInputError


def blob(cx, cy, radius, wobble=0.15, n=720, lobes=5):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = radius * (1 + wobble * np.sin(lobes * t))
    return Polygon(np.c_[cx + r * np.cos(t), cy + r * np.sin(t)])


def qupath_feature(geometry, cls=None):
    props = {"objectType": "annotation"}
    if cls:
        props["classification"] = {"name": cls, "color": [200, 0, 0]}
    return {"type": "Feature", "geometry": geometry, "properties": props}


@pytest.fixture
def two_tumors():
    tumor = MultiPolygon([blob(400, 300, 150), Point(800, 600).buffer(60)])
    tissue = MultiPolygon([box(0, 0, 1000, 800)])
    return regions.Regions(
        tumor=tumor,
        tissue=tissue,
        front=front.invasive_front(tumor, tissue, 20.0),
        extent_um=(1000.0, 800.0),
    )


# --------------------------------------------------------------------------- annotations


def test_annotation_in_pixels_is_converted_to_um_and_classes_are_selected():
    tumor_px = shapely.geometry.mapping(box(200, 200, 600, 400))
    stroma_px = shapely.geometry.mapping(box(0, 0, 100, 100))
    obj = {
        "type": "FeatureCollection",
        "features": [qupath_feature(tumor_px, "Tumor"), qupath_feature(stroma_px, "Stroma")],
    }
    region = regions.annotation_to_tumor(obj, pixel_size_um=0.5, units="px", extent_um=(500, 500))
    assert region.area == pytest.approx(200 * 100)
    assert region.bounds == pytest.approx((100, 100, 300, 200))
    # the sheet's empty units are pixels too
    same = regions.annotation_to_tumor(obj, pixel_size_um=0.5, units="", extent_um=(500, 500))
    assert same.equals(region)
    # a list of features in µm, none classified: every polygon counts
    region = regions.annotation_to_tumor(
        [qupath_feature(tumor_px), qupath_feature(stroma_px)],
        pixel_size_um=0.5,
        units="um",
        extent_um=(1000, 1000),
    )
    assert region.area == pytest.approx(400 * 200 + 100 * 100)


@pytest.mark.parametrize("units", ["µm", "micron", "UM", " px", None])
def test_annotation_units_are_exactly_those_of_the_sample_sheet(units):
    square = shapely.geometry.mapping(box(0, 0, 10, 10))
    with pytest.raises(FrontlineInputError, match="annotation_units"):
        regions.annotation_to_tumor(square, pixel_size_um=1.0, units=units, sample="s1")


def test_annotation_layer_reads_the_polygon_features():
    obj = {
        "type": "FeatureCollection",
        "features": [
            qupath_feature(shapely.geometry.mapping(box(0, 0, 10, 10)), "Tumor"),
            qupath_feature({"type": "LineString", "coordinates": [[0, 0], [5, 5]]}, "Tumor"),
            qupath_feature(shapely.geometry.mapping(box(20, 0, 30, 10))),
        ],
    }
    layer = regions.annotation_layer(obj)
    assert list(layer["classification"]) == ["Tumor", None]
    assert list(layer.geometry.area) == [100.0, 100.0]
    broken = {"type": "Polygon", "coordinates": [[[0, 0], [1]]]}
    with pytest.raises(FrontlineInputError, match="feature 0 has malformed coordinates"):
        regions.annotation_layer(broken, sample="s1", file="ann.geojson")


def test_annotation_errors_name_sample_file_problem_and_fix():
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [100, 100], [100, 0], [0, 100], [0, 0]]]}
    with pytest.raises(FrontlineInputError) as err:
        regions.annotation_to_tumor(
            bowtie, pixel_size_um=1.0, extent_um=(500, 500), sample="s1", file="ann.geojson"
        )
    text = str(err.value)
    assert (
        "s1" in text and "ann.geojson" in text and "not a valid polygon" in text and "Fix:" in text
    )

    far = shapely.geometry.mapping(box(5000, 5000, 6000, 6000))
    with pytest.raises(FrontlineInputError, match="outside the image.*annotation_units"):
        regions.annotation_to_tumor(far, pixel_size_um=1.0, extent_um=(1000, 1000), sample="s1")
    half_out = shapely.geometry.mapping(box(800, 0, 1400, 500))  # µm read as px at 2 µm/px
    with pytest.raises(FrontlineInputError, match="lies outside the image"):
        regions.annotation_to_tumor(half_out, pixel_size_um=1.0, extent_um=(1000, 1000))
    classified = qupath_feature(shapely.geometry.mapping(box(0, 0, 10, 10)), "Stroma")
    with pytest.raises(FrontlineInputError, match="classified 'Tumor'.*Stroma"):
        regions.annotation_to_tumor([classified], pixel_size_um=1.0, extent_um=(100, 100))
    with pytest.raises(FrontlineInputError, match="no Polygon"):
        regions.annotation_to_tumor(
            {"type": "FeatureCollection", "features": []}, pixel_size_um=1.0
        )


# --------------------------------------------------------------------------- GeoJSON


def test_regions_layer_has_a_row_per_part(two_tumors):
    layer = regions.regions_layer(two_tumors)
    n_front = len(two_tumors.front.geoms)
    assert list(layer["classification"]) == ["Tissue"] + ["Tumor"] * 2 + ["Invasive front"] * (
        n_front
    )
    assert list(layer["name"][:3]) == ["Tissue 1", "Tumor 1", "Tumor 2"]
    assert layer.geometry.iloc[1:3].area.sum() == pytest.approx(two_tumors.tumor.area)


def test_geojson_for_qupath_is_in_pixels_and_round_trips_in_um(two_tumors):
    px = json.loads(
        regions.dumps(regions.regions_to_geojson(two_tumors, units="px", pixel_size_um=0.5))
    )
    assert px["type"] == "FeatureCollection"
    assert px["frontline"]["units"] == "px" and px["frontline"]["pixel_size_um"] == 0.5
    classes = [f["properties"]["classification"]["name"] for f in px["features"]]
    assert classes == list(regions.regions_layer(two_tumors)["classification"])
    assert all(f["properties"]["objectType"] == "annotation" for f in px["features"])
    tissue_px = shapely.geometry.shape(px["features"][0]["geometry"])
    assert tissue_px.bounds == pytest.approx((0, 0, 2000, 1600))  # pixels = µm / 0.5
    assert px["features"][3]["geometry"]["type"] == "LineString"
    for units in ("px", "um"):
        obj = json.loads(
            regions.dumps(regions.regions_to_geojson(two_tumors, units=units, pixel_size_um=0.5))
        )
        back = regions.regions_from_geojson(obj)
        assert back.tumor.symmetric_difference(two_tumors.tumor).area < 1.0
        assert back.front.hausdorff_distance(two_tumors.front) < 0.01
        assert back.extent_um == (1000.0, 800.0)
    with pytest.raises(FrontlineInputError, match="frontline"):
        regions.regions_from_geojson(
            {"type": "FeatureCollection", "features": []}, file="x.geojson"
        )


def test_polygons_from_geojson_unions_the_features():
    obj = {
        "type": "FeatureCollection",
        "features": [
            qupath_feature(shapely.geometry.mapping(box(0, 0, 10, 10)), "Tumor"),
            qupath_feature(shapely.geometry.mapping(box(5, 0, 20, 10)), "Tumor"),
            qupath_feature(None),
        ],
    }
    assert regions.polygons_from_geojson(obj).area == pytest.approx(200.0)
    assert regions.polygons_from_geojson({"type": "FeatureCollection", "features": []}).is_empty


def test_a_tumor_that_nearly_touches_itself_is_written_valid_on_the_rounding_grid():
    # two lobes joined by a neck 0.0008 µm wide: valid, but its two neck vertices round to the
    # same point on the 0.001 grid the GeoJSON is written on
    neck = Polygon(
        [(0, 0), (4, 0), (5, 4.9996), (6, 0), (10, 0), (10, 10), (6, 10), (5, 5.0004), (4, 10)]
        + [(0, 10)]
    )
    assert neck.is_valid
    rounded = Polygon(np.round(np.asarray(neck.exterior.coords), 3))
    assert not rounded.is_valid  # what plain rounding would write
    found = regions.Regions(
        tumor=MultiPolygon([neck]),
        tissue=MultiPolygon([box(-5, -5, 15, 15)]),
        front=shapely.MultiLineString([neck.exterior]),
        extent_um=(20.0, 20.0),
    )
    for units in ("um", "px"):
        text = regions.dumps(regions.regions_to_geojson(found, units=units, pixel_size_um=0.5))
        written = [shapely.geometry.shape(f["geometry"]) for f in json.loads(text)["features"]]
        assert all(g.is_valid for g in written if g.geom_type.endswith("Polygon"))
        back = regions.regions_from_geojson(json.loads(text))
        assert back.tumor.is_valid and back.tumor.area == pytest.approx(neck.area, abs=0.01)
    # a file with the plain rounded ring (an older file, or another tool's) is repaired on read
    layer = json.loads(regions.dumps(regions.regions_to_geojson(found, units="um")))
    for feature in layer["features"]:
        if feature["properties"]["classification"]["name"] == "Tumor":
            feature["geometry"] = shapely.geometry.mapping(rounded)
    assert regions.regions_from_geojson(layer).tumor.is_valid
