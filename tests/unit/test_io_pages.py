"""frontline.io.pages: windows of a TIFF page decoded segment by segment, against tifffile."""

import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tifffile

from frontline.errors import FrontlineInputError
from frontline.io import open_image, write_image
from frontline.io.pages import PageArray, page_array

LAYOUTS = {
    "tiles, deflate + predictor": dict(tile=(128, 128), compression="zlib", predictor=True),
    "tiles, zstd, not a multiple": dict(tile=(96, 160), compression="zstd"),
    "tiles, uncompressed": dict(tile=(64, 256)),
    "strips of 37 rows, LZW + predictor": dict(rowsperstrip=37, compression="lzw", predictor=True),
    "strips, uncompressed": dict(rowsperstrip=50),
    "one strip, uncompressed": dict(),
}


@pytest.fixture
def planes():
    rng = np.random.default_rng(3)
    return rng.integers(0, 60000, (3, 301, 427), dtype=np.uint16)


def _windows(shape, rng, n=25):
    for _ in range(n):
        y0 = int(rng.integers(0, shape[0]))
        x0 = int(rng.integers(0, shape[1]))
        yield (
            y0,
            int(rng.integers(y0 + 1, shape[0] + 1)),
            x0,
            int(rng.integers(x0 + 1, shape[1] + 1)),
        )


@pytest.mark.parametrize("layout", LAYOUTS)
def test_windows_equal_tifffile_for_every_layout(tmp_path, planes, layout):
    path = tmp_path / "x.tif"
    tifffile.imwrite(path, planes, photometric="minisblack", **LAYOUTS[layout])
    rng = np.random.default_rng(0)
    with tifffile.TiffFile(path) as tif:
        for index, page in enumerate(tif.series[0].pages):
            array = page_array(page)
            assert isinstance(array, PageArray)
            assert np.array_equal(array[:, :], planes[index])
            for y0, y1, x0, x1 in _windows(planes.shape[1:], rng):
                assert np.array_equal(array[y0:y1, x0:x1], planes[index, y0:y1, x0:x1])


def test_jpeg_tiles_decode_as_tifffile_does(tmp_path):
    rng = np.random.default_rng(4)
    data = rng.integers(0, 255, (2, 256, 320), dtype=np.uint8)
    path = tmp_path / "j.tif"
    tifffile.imwrite(path, data, photometric="minisblack", compression="jpeg", tile=(128, 128))
    with tifffile.TiffFile(path) as tif:
        for page in tif.series[0].pages:
            assert np.array_equal(page_array(page)[10:250, 5:300], page.asarray()[10:250, 5:300])


def test_float_pages_and_threads_reading_side_by_side(tmp_path, planes):
    path = tmp_path / "f.tif"
    values = planes.astype(np.float32) / 7
    tifffile.imwrite(path, values, photometric="minisblack", tile=(64, 64), compression="zlib")
    rng = np.random.default_rng(1)
    windows = list(_windows(values.shape[1:], rng, 60))
    with tifffile.TiffFile(path) as tif:
        arrays = [page_array(p) for p in tif.series[0].pages]
        jobs = [(c, w) for c in range(3) for w in windows]
        with ThreadPoolExecutor(4) as pool:
            got = list(
                pool.map(
                    lambda job: arrays[job[0]][job[1][0] : job[1][1], job[1][2] : job[1][3]], jobs
                )
            )
    for (c, (y0, y1, x0, x1)), window in zip(jobs, got):
        assert window.dtype == np.float32
        assert np.array_equal(window, values[c, y0:y1, x0:x1])


def test_samples_per_pixel_or_an_in_memory_file_are_left_to_zarr(tmp_path, planes):
    rgb = tmp_path / "rgb.tif"
    tifffile.imwrite(rgb, planes.transpose(1, 2, 0).copy(), photometric="rgb", tile=(64, 64))
    with tifffile.TiffFile(rgb) as tif:
        assert page_array(tif.pages[0]) is None
    path = tmp_path / "x.tif"
    tifffile.imwrite(path, planes, photometric="minisblack", tile=(64, 64))
    with tifffile.TiffFile(io.BytesIO(path.read_bytes())) as tif:
        assert page_array(tif.pages[0]) is None


def test_ome_reader_reads_by_segments_with_pyramid_levels(tmp_path, planes):
    path = tmp_path / "s.ome.tif"
    write_image(path, planes, ["DAPI", "PanCK", "CD8"], 0.5)
    with open_image(path) as img:
        assert all(isinstance(p.array, PageArray) for lv in img._levels for p in lv.planes)
        assert np.array_equal(img.read("PanCK", (7, 290, 13, 400)), planes[1, 7:290, 13:400])


def test_a_corrupted_segment_is_the_files_fault(tmp_path, planes):
    path = tmp_path / "c.ome.tif"
    write_image(path, planes, ["DAPI", "PanCK", "CD8"], 0.5)
    with tifffile.TiffFile(path) as tif:
        page = tif.series[0].pages[1]
        offset, count = int(page.dataoffsets[0]), int(page.databytecounts[0])
        compressed = page.compression != 1
    if not compressed:
        pytest.fail("write_image is expected to compress its tiles")
    data = bytearray(path.read_bytes())
    data[offset : offset + count] = bytes(count)  # zeros are not a deflate stream
    path.write_bytes(bytes(data))
    with open_image(path, sample="s1") as img:
        assert np.array_equal(img.read("DAPI"), planes[0])
        with pytest.raises(
            FrontlineInputError, match=r"s1.*cannot decode|cannot decode.*s1|damaged"
        ):
            img.read("PanCK", (0, 10, 0, 10))


def test_windows_read_left_to_right_decode_their_overlap_once(tmp_path, planes, monkeypatch):
    path = tmp_path / "t.tif"
    tifffile.imwrite(path, planes, photometric="minisblack", tile=(64, 64), compression="zlib")
    decoded = []
    segment = PageArray._segment
    monkeypatch.setattr(
        PageArray, "_segment", lambda self, i: decoded.append(i) or segment(self, i)
    )
    with tifffile.TiffFile(path) as tif:
        array = page_array(tif.series[0].pages[2])
        # two windows with a 20-pixel halo, the second starting in the first's last column
        first = array[0:150, 0:148]  # columns 0-2 of segments, rows 0-2
        second = array[0:150, 108:276]  # columns 1-4: column 2 was decoded for the first
    assert np.array_equal(first, planes[2, 0:150, 0:148])
    assert np.array_equal(second, planes[2, 0:150, 108:276])
    assert len(decoded) == 9 + 9  # 3 x 3, then 3 x 4 less the 3 kept (column 2)
    assert len(set(decoded)) == len(decoded) - 3  # column 1 is decoded again, 2 is not
