"""frontline.io label images (labels, ometiff): round trips, lazy and in-memory readers, strips."""

import numpy as np
import pytest
import tifffile

from frontline import io
from frontline.errors import FrontlineInputError
from frontline.io import open_labels, read_labels, write_labels


def test_labels_round_trip_and_lazy_reader(tmp_path):
    labels = np.zeros((700, 900), np.uint32)
    labels[100:200, 300:420] = 7
    labels[650:700, 0:5] = 70000
    path = tmp_path / "nuclei.ome.tif"
    write_labels(path, labels, 0.65)
    back, size = read_labels(path)
    np.testing.assert_array_equal(back, labels)
    assert size == pytest.approx(0.65)
    with open_labels(path) as lab:
        assert lab.shape == (700, 900) and lab.pixel_size_um == pytest.approx(0.65)
        part = lab.read((600, 700, 0, 512))
        assert part.dtype == np.uint32
        np.testing.assert_array_equal(part, labels[600:700, :512])
        np.testing.assert_array_equal(lab.read(), labels)


def test_open_labels_missing_file(tmp_path):
    with pytest.raises(FrontlineInputError, match="does not exist"):
        open_labels(tmp_path / "none.ome.tif")


def test_array_labels_read_like_a_label_file():
    labels = np.arange(12, dtype=np.uint32).reshape(3, 4)
    lab = io.ArrayLabels(labels, pixel_size_um=0.5)
    assert lab.shape == (3, 4) and lab.pixel_size_um == 0.5
    np.testing.assert_array_equal(lab.read((1, 3, 2, 4)), [[6, 7], [10, 11]])
    np.testing.assert_array_equal(lab.read(), labels)
    assert io.require_pixel_size(lab) == 0.5
    with pytest.raises(FrontlineInputError, match="carry no pixel size"):
        io.require_pixel_size(io.ArrayLabels(labels), sample="s1")


def test_label_strips_stream_into_a_tiled_ome_tiff(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5000, (1100, 1300)).astype(np.uint32)
    strips = ((y, labels[y : y + io.TILE[0]]) for y in range(0, 1100, io.TILE[0]))
    path = tmp_path / "nuclei.ome.tif"
    io.write_label_strips(path, strips, labels.shape, 0.325)
    back, size = io.read_labels(path)
    assert np.array_equal(back, labels) and size == pytest.approx(0.325)
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        assert page.is_tiled and page.tilewidth == io.TILE[0] and page.compression == 8  # zlib
    with tifffile.TiffFile(path) as tif:  # the OME-XML names the one channel `labels`
        meta = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]["Pixels"]
        assert meta["Channel"]["Name"] == "labels" and meta["PhysicalSizeXUnit"] == "µm"
