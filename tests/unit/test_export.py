"""QuPath and AnnData exports: outlines that cover exactly their labels, tiled == whole,
detections QuPath reads, an h5ad that anndata and squidpy open."""

import json

import numpy as np
import pandas as pd
import pytest
from matplotlib.path import Path
from scipy import ndimage
from skimage.segmentation import expand_labels

from frontline.export import (
    cell_outlines,
    feature_collection,
    label_outlines,
    marker_compartments,
    qupath_annotations,
    qupath_cells,
    to_anndata,
)
from frontline.measure import expand_nuclei


def random_cells(size=150, n=120, grow=3, seed=0):
    """Seeds grown into touching, irregular cells (like expanded nuclei), labels 1..n."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((size, size), np.uint32)
    labels[rng.integers(0, size, n), rng.integers(0, size, n)] = np.arange(1, n + 1)
    return expand_labels(labels, grow)


def rasterise(rings, shape):
    """Pixels whose centre lies inside the outline and outside its holes."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    centres = np.column_stack([xx.ravel() + 0.5, yy.ravel() + 0.5])
    inside = Path(rings[0]).contains_points(centres)
    for hole in rings[1:]:
        inside &= ~Path(hole).contains_points(centres)
    return inside.reshape(shape)


def test_a_square_label_gives_its_four_pixel_corners_clockwise():
    labels = np.zeros((6, 8), np.uint32)
    labels[1:3, 2:5] = 9  # rows 1-2, cols 2-4
    ids, rings = label_outlines(labels)
    assert ids.tolist() == [9]
    assert rings[0][0].tolist() == [[2, 1], [5, 1], [5, 3], [2, 3], [2, 1]]


def test_a_hole_is_kept_as_an_inner_ring():
    labels = np.zeros((7, 7), np.uint32)
    labels[1:6, 1:6] = 3
    labels[3, 3] = 4
    ids, rings = label_outlines(labels)
    assert ids.tolist() == [3, 4]
    assert len(rings[0]) == 2  # outline + hole
    assert rings[0][1].tolist() == [[3, 3], [3, 4], [4, 4], [4, 3], [3, 3]]
    assert rasterise(rings[0], labels.shape).sum() == 24


def test_pixels_touching_only_at_a_corner_are_separate_pieces_largest_kept():
    labels = np.zeros((6, 6), np.uint32)
    labels[1:3, 1:3] = 5  # 4 px
    labels[3, 3] = 5  # 1 px, touching at a corner only
    ids, rings = label_outlines(labels)
    assert ids.tolist() == [5]
    assert rings[0][0].tolist() == [[1, 1], [3, 1], [3, 3], [1, 3], [1, 1]]


def test_outlines_cover_exactly_the_pixels_of_their_label():
    labels = random_cells()
    ids, rings = label_outlines(labels)
    assert ids.tolist() == np.unique(labels[labels > 0]).tolist()
    checked = 0
    for label, outline in zip(ids, rings):
        if ndimage.label(labels == label)[1] != 1:
            continue  # split labels keep their largest piece only
        np.testing.assert_array_equal(rasterise(outline, labels.shape), labels == label)
        checked += 1
    assert checked >= 110


def test_tiled_cell_outlines_equal_the_whole_image():
    nuclei = random_cells(size=160, n=150, grow=2, seed=3)
    whole_ids, whole = label_outlines(expand_nuclei(nuclei, 4.0))
    ids, rings = cell_outlines(nuclei, expansion_px=4.0, tile_px=37)
    assert ids.tolist() == whole_ids.tolist()
    for a, b in zip(rings, whole):
        assert len(a) == len(b)
        for ra, rb in zip(a, b):
            np.testing.assert_array_equal(ra, rb)


def test_cell_outlines_reports_progress_per_tile():
    calls = []
    cell_outlines(
        random_cells(size=64, n=10),
        1.0,
        tile_px=32,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


def small_table():
    """Three cells with marker means, a phenotype, a region and a distance (one NaN ring)."""
    return pd.DataFrame(
        {
            "cell_id": np.array([1, 2, 3], np.int64),
            "x_um": [1.5, 6.0, 3.0],
            "y_um": [1.0, 2.0, 4.0],
            "CD8_nucleus_mean": [1.0, 2.0, 3.0],
            "CD8_cell_mean": [4.0, 5.0, 6.0],
            "CD8_ring_mean": [7.0, np.nan, 9.0],
            "DAPI_nucleus_mean": [10.0, 11.0, 12.0],
            "DAPI_cell_mean": [13.0, 14.0, 15.0],
            "DAPI_ring_mean": [16.0, 17.0, 18.0],
            "phenotype": ["CD8_T", "tumor", "CD8_T"],
            "region": pd.Categorical(["outer_margin", "tumor_core", "stroma"]),
            "dist_front_um": [12.5, -150.0, 130.0],
        }
    )


def small_labels():
    labels = np.zeros((10, 14), np.uint32)
    labels[1:3, 2:4] = 1
    labels[3:5, 10:14] = 2
    labels[7:9, 5:7] = 3
    return labels


def test_qupath_detections_carry_class_colour_measurements_and_region():
    ids, rings = cell_outlines(small_labels())
    features = list(qupath_cells(small_table(), ids, rings, sample="s1"))
    text = json.dumps(feature_collection(features), allow_nan=False)  # valid JSON, no NaN
    assert len(features) == 3
    first = json.loads(text)["features"][0]
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
    assert next(qupath_cells(small_table(), ids, rings, sample="s1"))["id"] == features[0]["id"]


def test_cells_without_an_outline_are_left_out():
    labels = small_labels()
    labels[labels == 3] = 0
    ids, rings = cell_outlines(labels)
    features = list(qupath_cells(small_table(), ids, rings))
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


def test_marker_compartments_follow_the_config_and_fall_back():
    columns = list(small_table().columns)
    assert marker_compartments(columns, {"CD8": "ring"}, "nucleus") == {
        "CD8": "ring",
        "DAPI": "nucleus",
    }


def test_anndata_holds_markers_cells_and_um_coordinates(tmp_path):
    import anndata as ad

    adata = to_anndata(
        small_table(),
        pixel_size_um=0.5,
        sample="s1",
        compartments={"CD8": "ring", "DAPI": "nucleus"},
    )
    path = tmp_path / "cells.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    assert back.shape == (3, 2)
    assert back.var_names.tolist() == ["CD8", "DAPI"]
    assert back.var["compartment"].tolist() == ["ring", "nucleus"]
    np.testing.assert_allclose(back.X[:, 1], [10.0, 11.0, 12.0])
    np.testing.assert_allclose(back.X[[0, 2], 0], [7.0, 9.0])
    assert np.isnan(back.X[1, 0])
    np.testing.assert_allclose(back.layers["cell"][:, 0], [4.0, 5.0, 6.0])
    np.testing.assert_allclose(back.obsm["spatial"], [[1.5, 1.0], [6.0, 2.0], [3.0, 4.0]])
    assert back.obs_names.tolist() == ["1", "2", "3"]
    assert back.obs["cell_id"].tolist() == [1, 2, 3]
    assert back.obs["phenotype"].tolist() == ["CD8_T", "tumor", "CD8_T"]
    assert back.obs["region"].tolist() == ["outer_margin", "tumor_core", "stroma"]
    assert back.obs["dist_front_um"].tolist() == [12.5, -150.0, 130.0]
    assert back.uns["sample"] == "s1" and back.uns["pixel_size_um"] == 0.5
    assert list(back.uns["phenotype_colors"]) == ["#e41a1c", "#2ea043"]


def test_squidpy_runs_on_the_exported_anndata(tmp_path):
    import anndata as ad

    sq = pytest.importorskip("squidpy", reason="squidpy is a test extra")

    rng = np.random.default_rng(0)
    n = 300
    table = pd.DataFrame(
        {
            "cell_id": np.arange(1, n + 1),
            "x_um": rng.uniform(0, 500, n),
            "y_um": rng.uniform(0, 500, n),
            "CD8_cell_mean": rng.random(n),
            "DAPI_nucleus_mean": rng.random(n),
        }
    )
    # tumor cells on the left half, CD8 T cells on the right: strongly segregated
    table["phenotype"] = np.where(table["x_um"] < 250, "tumor", "CD8_T")
    table["region"] = "stroma"
    table["dist_front_um"] = table["x_um"] - 250
    path = tmp_path / "cells.h5ad"
    to_anndata(table, 0.5, "s").write_h5ad(path)
    adata = ad.read_h5ad(path)
    sq.gr.spatial_neighbors_radius(adata, radius=30.0)  # µm, as obsm["spatial"]
    zscore, count = sq.gr.nhood_enrichment(
        adata, cluster_key="phenotype", n_perms=50, seed=0, copy=True, show_progress_bar=False
    )
    cats = adata.obs["phenotype"].cat.categories.tolist()
    i, j = cats.index("tumor"), cats.index("CD8_T")
    assert zscore[i, i] > 5 and zscore[j, j] > 5  # each type neighbours its own kind
    assert zscore[i, j] < -5


def test_measurements_are_rounded_to_six_significant_digits():
    from frontline.export import round_significant

    out = round_significant([629.4442138671875, 0.00123456789, -150.0, np.nan, 0.0])
    assert out[:3].tolist() == [629.444, 0.00123457, -150.0]
    assert np.isnan(out[3]) and out[4] == 0.0
