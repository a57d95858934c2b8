"""QuPath objects (frontline.export.qupath): detections QuPath reads, annotations in pixels,
the sample's GeoJSON written as a stream."""

import json

import numpy as np
import pytest

from frontline import io
from frontline.errors import FrontlineInputError
from frontline.export import (
    cell_outlines,
    qupath_annotations,
    qupath_cells,
    qupath_features,
    round_significant,
)


def small_labels():
    labels = np.zeros((10, 14), np.uint32)
    labels[1:3, 2:4] = 1
    labels[3:5, 10:14] = 2
    labels[7:9, 5:7] = 3
    return labels


def test_qupath_detections_carry_class_colour_measurements_and_region(cell_table, tmp_path):
    ids, rings = cell_outlines(small_labels())
    features = list(qupath_cells(cell_table, ids, rings, sample="s1"))
    io.write_feature_collection(tmp_path / "cells.geojson", features)  # valid JSON, no NaN
    assert len(features) == 3
    first = json.loads((tmp_path / "cells.geojson").read_text())["features"][0]
    props = first["properties"]
    assert props["objectType"] == "detection"
    assert props["classification"] == {"name": "CD8_T", "color": [228, 26, 28]}
    assert props["measurements"]["dist_front_um"] == 12.5
    assert props["measurements"]["CD8_ring_mean"] == 7.0
    assert props["metadata"] == {"cell_id": "1", "region": "outer_margin"}
    # pixel coordinates: label 1 covers rows 1-2, cols 2-3
    assert first["geometry"]["coordinates"] == [[[2, 1], [4, 1], [4, 3], [2, 3], [2, 1]]]
    # a NaN measurement is left out, not written as NaN
    assert "CD8_ring_mean" not in features[1]["properties"]["measurements"]
    # stable ids: the same sample and cell give the same object id
    assert next(qupath_cells(cell_table, ids, rings, sample="s1"))["id"] == features[0]["id"]


def test_cells_without_an_outline_are_left_out(cell_table):
    labels = small_labels()
    labels[labels == 3] = 0
    ids, rings = cell_outlines(labels)
    features = list(qupath_cells(cell_table, ids, rings))
    assert [f["properties"]["metadata"]["cell_id"] for f in features] == ["1", "2"]


def test_annotations_in_um_become_pixels():
    square_um = {
        "type": "Feature",
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[0, 0], [10, 0], [10, 5], [0, 5], [0, 0]]],
        },
        "properties": {"classification": {"name": "Tumor"}},
    }
    front_um = {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[10, 0], [10, 5]]},
        "properties": {"name": "Invasive front"},
    }
    out = qupath_annotations([square_um, front_um], pixel_size_um=0.5, coordinate_units="um")
    assert out[0]["properties"]["objectType"] == "annotation"
    assert out[0]["properties"]["classification"]["name"] == "Tumor"
    assert out[0]["geometry"]["coordinates"][0][2] == (20.0, 10.0)
    assert out[1]["properties"]["classification"]["name"] == "Invasive front"
    assert out[1]["geometry"]["type"] == "LineString"
    same = qupath_annotations([square_um], pixel_size_um=0.5, coordinate_units="px")
    assert same[0]["geometry"]["coordinates"][0][2] == (10.0, 5.0)


def test_measurements_are_rounded_to_six_significant_digits():

    out = round_significant([629.4442138671875, 0.00123456789, -150.0, np.nan, 0.0])
    assert out[:3].tolist() == [629.444, 0.00123457, -150.0]
    assert np.isnan(out[3]) and out[4] == 0.0


def test_qupath_features_of_a_sample_in_pixels(cell_table):
    labels = io.ArrayLabels(small_labels(), pixel_size_um=0.5)
    regions = {  # as front writes tumor_um.geojson: µm, said so in `frontline.units`
        "type": "FeatureCollection",
        "frontline": {"units": "um"},
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [4, 0], [4, 2], [0, 0]]]},
                "properties": {"classification": {"name": "Tumor"}},
            }
        ],
    }
    settings = dict(cell_expansion_um=0.5, tile_px=8, sample="s1")
    annotations, detections = qupath_features(
        labels, cell_table, regions, outline="cell", **settings
    )
    assert [a["geometry"]["coordinates"][0][1] for a in annotations] == [(8.0, 0.0)]  # px
    cells = list(detections)
    assert [c["properties"]["metadata"]["cell_id"] for c in cells] == ["1", "2", "3"]
    _, nuclei = qupath_features(labels, cell_table, regions, outline="nucleus", **settings)
    # a cell outline is its nucleus grown by 0.5 µm = 1 px: label 1 (2 x 2 px) becomes 4 x 4
    xs = np.array(cells[0]["geometry"]["coordinates"][0])[:, 0]
    assert np.ptp(xs) == 4
    assert np.ptp(np.array(next(nuclei)["geometry"]["coordinates"][0])[:, 0]) == 2
    with pytest.raises(FrontlineInputError, match="carry no pixel size"):
        qupath_features(
            io.ArrayLabels(small_labels()), cell_table, regions, outline="cell", **settings
        )


def test_table_cells_become_discs_in_pixels_or_um():
    import pandas as pd

    from frontline.export import CellDiscs, qupath_table_features

    cells = pd.DataFrame(
        {
            "cell_id": [5, 9],
            "x_um": [10.0, 20.0],
            "y_um": [4.0, 8.0],
            "nucleus_area_um2": [np.pi * 9.0, np.nan],  # radius 3 µm; none: 4 µm
            "phenotype": ["tumor", "CD8_T"],
            "region": ["tumor_core", "stroma"],
        }
    )
    discs = CellDiscs(cells, 0.5)
    ring = discs[0][0]
    assert ring.shape == (13, 2) and (ring[0] == ring[-1]).all()
    np.testing.assert_allclose(np.hypot(*(ring - [20.0, 8.0]).T), 6.0, atol=1e-3)  # 3 µm, px
    ring = CellDiscs(cells, None)[1][0]
    np.testing.assert_allclose(np.hypot(*(ring - [20.0, 8.0]).T), 4.0, atol=1e-3)  # µm
    regions = {
        "type": "FeatureCollection",
        "frontline": {"units": "um"},
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [4, 0], [4, 4], [0, 0]]]},
                "properties": {"classification": {"name": "Tumor"}},
            }
        ],
    }
    annotations, detections = qupath_table_features(cells, regions, 0.5, sample="t1")
    assert list(annotations[0]["geometry"]["coordinates"][0][1]) == [8.0, 0.0]  # µm -> px
    detections = list(detections)
    assert [d["properties"]["metadata"]["cell_id"] for d in detections] == ["5", "9"]
    assert detections[1]["properties"]["classification"]["name"] == "CD8_T"
    assert detections[0]["properties"]["measurements"]["x_um"] == 10.0
    annotations, _ = qupath_table_features(cells, regions, None, sample="t1")
    assert list(annotations[0]["geometry"]["coordinates"][0][1]) == [4.0, 0.0]  # µm stay µm


def test_feature_collection_carries_extra_members(tmp_path):
    path = tmp_path / "cells.geojson"
    io.write_feature_collection(path, [], members={"frontline": {"units": "um"}})
    assert json.loads(path.read_text()) == {
        "type": "FeatureCollection",
        "frontline": {"units": "um"},
        "features": [],
    }
