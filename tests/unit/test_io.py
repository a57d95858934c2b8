"""frontline.io image reading (image, tiff, metadata): OME-TIFF, TIFF folders, bad inputs."""

import numpy as np
import psutil
import pytest
import tifffile

from frontline.errors import FrontlineInputError
from frontline.io import open_image, require_channels, write_image

NAMES = ["DAPI", "PanCK", "CD8"]


@pytest.fixture
def image():
    """(3, 300, 420) uint16 with distinct values per channel, seeded."""
    rng = np.random.default_rng(7)
    return rng.integers(0, 4000, (3, 300, 420), dtype=np.uint16)


@pytest.fixture
def ome(tmp_path, image):
    path = tmp_path / "sample.ome.tif"
    write_image(path, image, NAMES, 0.325)
    return path


def _plane_tiff(path, plane, pixel_size_um=None, **kw):
    res = {}
    if pixel_size_um is not None:
        res = {"resolution": (1e4 / pixel_size_um,) * 2, "resolutionunit": "CENTIMETER"}
    tifffile.imwrite(path, plane, photometric="minisblack", metadata=None, **res, **kw)


# --------------------------------------------------------------------------- OME-TIFF


def test_ome_round_trip_keeps_names_pixel_size_and_pixels(ome, image):
    with open_image(ome, sample="s1") as img:
        assert img.channels == NAMES
        assert img.shape == (300, 420)
        assert img.pixel_size_um == pytest.approx(0.325, rel=1e-9)
        assert img.dtype == np.uint16
        assert img.source == "OME-TIFF"
        np.testing.assert_array_equal(img.read("PanCK"), image[1])
        np.testing.assert_array_equal(
            img.read("CD8", window=(10, 77, 300, 420)), image[2, 10:77, 300:420]
        )
        both = img.read_channels(["CD8", "DAPI"], window=(0, 5, 0, 6))
        assert both.shape == (2, 5, 6)
        np.testing.assert_array_equal(both, image[[2, 0], :5, :6])
        overview, factor = img.overview(max_px=2048)
        assert factor == 1.0
        np.testing.assert_array_equal(overview, image)
        small, factor = img.overview(max_px=100)
        assert max(small.shape[1:]) <= 100 and factor == pytest.approx(420 / small.shape[2])
        np.testing.assert_array_equal(small, image[:, ::5, ::5])


def test_ome_with_singleton_t_and_z_axes(tmp_path, image):
    path = tmp_path / "tczyx.ome.tif"
    tifffile.imwrite(
        path,
        image[None, :, None],
        photometric="minisblack",
        metadata={
            "axes": "TCZYX",
            "Channel": {"Name": NAMES},
            "PhysicalSizeX": 0.5,
            "PhysicalSizeY": 0.5,
        },
    )
    with open_image(path) as img:
        assert img.channels == NAMES and img.shape == (300, 420)
        np.testing.assert_array_equal(img.read("CD8", (1, 3, 4, 9)), image[2, 1:3, 4:9])


def test_ome_pixel_size_in_nanometres_is_converted(tmp_path, image):
    path = tmp_path / "nm.ome.tif"
    tifffile.imwrite(
        path,
        image,
        photometric="minisblack",
        metadata={
            "axes": "CYX",
            "Channel": {"Name": NAMES},
            "PhysicalSizeX": 650.0,
            "PhysicalSizeXUnit": "nm",
            "PhysicalSizeY": 650.0,
            "PhysicalSizeYUnit": "nm",
        },
    )
    with open_image(path) as img:
        assert img.pixel_size_um == pytest.approx(0.65)


def test_file_pixel_size_wins_over_sheet_and_config(ome):
    with open_image(ome, pixel_size_um=0.5, default_pixel_size_um=1.0) as img:
        assert img.pixel_size_um == pytest.approx(0.325)
        assert img.pixel_size_from == "the file's OME PhysicalSizeX/Y"


@pytest.mark.parametrize(
    "file_size, sheet, config, source",
    [
        (1000.0, None, None, "the file's OME PhysicalSizeX/Y"),
        (0.01, 0.5, None, "the file's OME PhysicalSizeX/Y"),  # the file wins, even when wrong
        (None, 20.0, None, "the sample sheet's pixel_size_um"),
        (None, None, 0.001, "the config's pixel_size_um"),
    ],
)
def test_an_implausible_pixel_size_is_refused_naming_its_source(
    tmp_path, image, file_size, sheet, config, source
):
    path = tmp_path / "img.ome.tif"
    if file_size is None:
        _plane_tiff(path, image[0])
    else:
        write_image(path, image, NAMES, file_size)
    names = None if file_size is not None else ["DAPI"]
    with pytest.raises(FrontlineInputError) as err:
        open_image(
            path, "s1", pixel_size_um=sheet, default_pixel_size_um=config, channel_names=names
        )
    text = err.value.message()
    size = file_size if file_size is not None else sheet if sheet is not None else config
    assert f"the pixel size {size:g} µm per pixel (from {source}) is implausible" in text, text
    assert text.startswith(f"sample 's1', file '{path}'")


def test_nan_or_infinite_pixels_stop_a_read_with_their_share(tmp_path, image):
    planes = image.astype(np.float32)
    planes[1, :30, :42] = np.nan
    planes[1, 299, 419] = -np.inf
    path = tmp_path / "float.ome.tif"
    write_image(path, planes, NAMES, 0.5)
    with open_image(path, "s1") as img:
        assert np.isfinite(img.read("DAPI")).all()
        with pytest.raises(FrontlineInputError) as err:
            img.read("PanCK", (0, 300, 0, 420))
        text = err.value.message()
        assert "PanCK' has NaN or infinite pixels: 1% of the window y 0:300, x 0:420 " in text
        assert "(1260 NaN, 1 infinite)" in text and "Fix: replace the NaN" in text
        assert text.startswith(f"sample 's1', file '{path}'")
        assert np.isnan(img.read("PanCK", (0, 10, 0, 10), check_finite=False)).all()
        assert np.isfinite(img.read("PanCK", (100, 200, 100, 200))).all()  # a clean window


def test_lazy_tile_read_of_a_20k_slide_keeps_memory_low(tmp_path):
    """A 512 x 512 window of a 20000 x 20000 x 8 uint8 slide (3.2 GB) costs a few MB."""
    path = tmp_path / "big.ome.tif"
    C, Y, X, T = 8, 20000, 20000, 512
    ny, nx = -(-Y // T), -(-X // T)

    def tiles():  # tile (c, i, j) holds (3 c + 5 i + j) % 251: cheap and checkable
        for c in range(C):
            for i in range(ny):
                for j in range(nx):
                    yield np.full((T, T), (3 * c + 5 * i + j) % 251, np.uint8)

    with tifffile.TiffWriter(path, bigtiff=True, ome=True) as tif:
        tif.write(
            tiles(),
            shape=(C, Y, X),
            dtype=np.uint8,
            tile=(T, T),
            compression="zstd",
            photometric="minisblack",
            metadata={
                "axes": "CYX",
                "Channel": {"Name": [f"M{c}" for c in range(C)]},
                "PhysicalSizeX": 0.5,
                "PhysicalSizeY": 0.5,
            },
        )
    full_bytes = C * Y * X

    def open_and_read_one_tile():
        with open_image(path) as img:
            return img.shape, img.channels, img.read("M5", window=(10240, 10752, 5120, 5632))

    (shape, channels, window), grown = _peak_rss_growth(open_and_read_one_tile)
    # control: a 20000 x 2048 strip (41 MB) must show up, so the measure is not blind
    with open_image(path) as img:
        strip, strip_grown = _peak_rss_growth(lambda: img.read("M0", window=(0, Y, 0, 2048)))
    assert shape == (Y, X) and channels == [f"M{c}" for c in range(C)]
    assert window.shape == (512, 512)
    assert np.all(window == (3 * 5 + 5 * 20 + 10) % 251)  # tile (c=5, i=20, j=10)
    assert strip[0, 0] == 0 and strip[-1, -1] == (5 * 39 + 3) % 251
    assert strip_grown > 30e6, f"the control strip read shows only {strip_grown / 1e6:.0f} MB"
    assert grown < 200e6, f"peak RSS grew {grown / 1e6:.0f} MB reading one tile"
    assert grown < full_bytes / 15, f"{grown / 1e6:.0f} MB vs {full_bytes / 1e9:.1f} GB image"


def _peak_rss_growth(read):
    """(read(), peak resident bytes added while it ran); the peak where Linux can reset it."""
    proc = psutil.Process()
    before = proc.memory_info().rss
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # resets VmHWM, the peak resident set, to the current one
        resettable = True
    except OSError:
        resettable = False
    result = read()
    peak = proc.memory_info().rss
    if resettable:
        with open("/proc/self/status") as status:
            hwm = [line for line in status if line.startswith("VmHWM:")][0]
        peak = max(peak, int(hwm.split()[1]) * 1024)
    return result, peak - before


def test_pyramidal_ome_reads_level0_and_overview_from_a_level(tmp_path, image):
    from vendor_tiffs import write_pyramidal_ome

    path = tmp_path / "pyramid.ome.tif"
    # the reduced levels hold constant values that a stride of level 0 could never give
    levels = [np.full((3, 150, 210), 11, np.uint16), np.full((3, 75, 105), 22, np.uint16)]
    write_pyramidal_ome(path, image, NAMES, 0.25, level_images=levels)
    with open_image(path) as img:
        assert img.level_shapes == [(300, 420), (150, 210), (75, 105)]
        np.testing.assert_array_equal(img.read("PanCK", (0, 300, 0, 420)), image[1])
        overview, factor = img.overview(max_px=256)
        assert overview.shape == (3, 150, 210) and factor == 2.0 and np.all(overview == 11)
        overview, factor = img.overview(max_px=110)
        assert overview.shape == (3, 75, 105) and factor == 4.0 and np.all(overview == 22)
        overview, factor = img.overview(max_px=40)  # coarser than the last level: stride it
        assert overview.shape == (3, 25, 35) and factor == 12.0 and np.all(overview == 22)


# --------------------------------------------------------------------------- folders


def test_folder_of_single_channel_tiffs(tmp_path, image):
    folder = tmp_path / "fov1"
    folder.mkdir()
    for name, plane, suffix in zip(NAMES, image, [".tif", ".TIFF", ".tiff"]):
        _plane_tiff(folder / f"{name}{suffix}", plane, pixel_size_um=0.8)
    (folder / "notes.txt").write_text("not an image")
    with open_image(folder, sample="fov1") as img:
        assert sorted(img.channels) == sorted(NAMES)
        assert img.pixel_size_um == pytest.approx(0.8)
        assert img.source == "TIFF folder"
        for i, name in enumerate(NAMES):
            np.testing.assert_array_equal(img.read(name, (3, 40, 50, 60)), image[i, 3:40, 50:60])


def test_folder_without_pixel_size_uses_the_sheet_then_the_config(tmp_path, image):
    folder = tmp_path / "fov"
    folder.mkdir()
    for name, plane in zip(NAMES, image):
        _plane_tiff(folder / f"{name}.tif", plane)
    with open_image(folder, pixel_size_um=0.49, default_pixel_size_um=1.0) as img:
        assert img.pixel_size_um == pytest.approx(0.49)
    with open_image(folder, pixel_size_um="", default_pixel_size_um=1.0) as img:
        assert img.pixel_size_um == pytest.approx(1.0)
    with pytest.raises(FrontlineInputError, match=r"(?s)sample 'x'.*no pixel size.*pixel_size_um"):
        open_image(folder, sample="x")


def test_dpi_placeholder_resolution_is_not_a_pixel_size(tmp_path, image):
    path = tmp_path / "dpi.tif"
    tifffile.imwrite(
        path,
        image[0],
        photometric="minisblack",
        metadata=None,
        resolution=(72, 72),
        resolutionunit="INCH",
    )
    with open_image(path, channel_names=["DAPI"], pixel_size_um=0.5) as img:
        assert img.pixel_size_um == pytest.approx(0.5)


def test_real_dcis_mibi_folders(shared_data):
    folders = sorted(p for p in (shared_data / "dcis_mibi").iterdir() if p.is_dir())
    assert len(folders) == 3
    for folder in folders:
        with open_image(folder, sample=folder.name, pixel_size_um=0.49) as img:
            assert len(img.channels) == 41
            assert {"HH3", "PanKRT", "CD45", "Nuc", "CD8", "SMA"} <= set(img.channels)
            assert img.shape == (1024, 1024)
            assert img.dtype == np.uint8
            # the files carry no pixel size of their own: the sheet value is used
            assert img.pixel_size_um == pytest.approx(0.49)
            hh3 = img.read("HH3")
            assert (hh3 > 0).mean() > 0.05  # nuclear signal covers a good part of the field
            tile = img.read_channels(["PanKRT", "CD45"], window=(0, 256, 512, 768))
            assert tile.shape == (2, 256, 256)
            np.testing.assert_array_equal(tile[0], img.read("PanKRT")[:256, 512:768])


# --------------------------------------------------------------------------- names


def test_plain_tiff_names_from_config_or_a_clear_error(tmp_path, image):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, image, photometric="minisblack", metadata=None)
    with open_image(path, channel_names=NAMES, pixel_size_um=0.5) as img:
        assert img.channels == NAMES
        np.testing.assert_array_equal(img.read("CD8"), image[2])
    with pytest.raises(
        FrontlineInputError, match=r"(?s)3 channel\(s\) but no channel names.*channel_names"
    ):
        open_image(path, sample="s", pixel_size_um=0.5)
    with pytest.raises(FrontlineInputError, match=r"lists 2 name\(s\) but the image has 3"):
        open_image(path, channel_names=NAMES[:2], pixel_size_um=0.5)


def test_missing_channel_lists_the_available_names(ome):
    with open_image(ome, sample="s9") as img:
        with pytest.raises(FrontlineInputError) as err:
            img.read("CD3")
        text = str(err.value)
        assert "sample 's9'" in text and "sample.ome.tif" in text
        assert "['CD3']" in text and "['DAPI', 'PanCK', 'CD8']" in text
        with pytest.raises(FrontlineInputError, match=r"(?s)segmentation.*'panck' -> 'PanCK'"):
            require_channels(img, ["DAPI", "panck"], what="segmentation")
        require_channels(img, ["DAPI", "CD8"])  # present: no error


def test_fluor_map_renames_channels_of_any_image(ome):
    with open_image(ome, fluor_map={"CD8": "CD8a"}) as img:
        assert img.channels == ["DAPI", "PanCK", "CD8a"]
        assert img.fluors == NAMES
    with pytest.raises(FrontlineInputError, match=r"fluor\(s\) \['Opal 999'\]"):
        open_image(ome, fluor_map={"Opal 999": "CD3"})


def test_duplicate_channel_names_are_an_error(tmp_path, image):
    path = tmp_path / "dup.ome.tif"
    write_image(path, image, ["DAPI", "DAPI", "CD8"], 0.5)
    with pytest.raises(FrontlineInputError, match=r"named \['DAPI'\]"):
        open_image(path)


# --------------------------------------------------------------------------- bad inputs


def test_missing_image(tmp_path):
    with pytest.raises(FrontlineInputError, match=r"(?s)sample 's'.*does not exist.*image"):
        open_image(tmp_path / "nope.ome.tif", sample="s")


def test_not_a_tiff(tmp_path):
    path = tmp_path / "fake.tif"
    path.write_bytes(b"this is not an image" * 20)
    with pytest.raises(FrontlineInputError, match=r"(?s)cannot read the file as TIFF.*OME-TIFF"):
        open_image(path, sample="s")


@pytest.mark.parametrize("keep", [0.999, 0.6, 0.05])
def test_truncated_ome_tiff(tmp_path, keep):
    rng = np.random.default_rng(1)
    full = tmp_path / "full.ome.tif"
    write_image(full, rng.integers(0, 255, (3, 600, 600), dtype=np.uint8), NAMES, 0.5)
    data = full.read_bytes()
    cut = tmp_path / "cut.ome.tif"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(FrontlineInputError, match=r"damaged or truncated"):
        with open_image(cut, sample="s") as img:
            img.read_channels(img.channels)


def test_truncated_plain_tiff_pixel_data(tmp_path):
    full = tmp_path / "full.tif"
    rng = np.random.default_rng(2)
    tifffile.imwrite(full, rng.integers(0, 255, (400, 400), dtype=np.uint8), metadata=None)
    data = full.read_bytes()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(FrontlineInputError, match=r"damaged or truncated"):
        open_image(cut, channel_names=["DAPI"], pixel_size_um=0.5)


def test_rgb_image_is_refused(tmp_path):
    path = tmp_path / "he.tif"
    tifffile.imwrite(path, np.zeros((64, 64, 3), np.uint8), photometric="rgb")
    with pytest.raises(FrontlineInputError, match=r"(?s)sample 'he'.*RGB.*one grayscale plane"):
        open_image(path, sample="he", pixel_size_um=0.5, channel_names=["R", "G", "B"])


def test_z_stack_is_refused(tmp_path):
    path = tmp_path / "stack.ome.tif"
    tifffile.imwrite(
        path,
        np.zeros((5, 2, 32, 32), np.uint8),
        photometric="minisblack",
        metadata={
            "axes": "ZCYX",
            "Channel": {"Name": ["DAPI", "CD8"]},
            "PhysicalSizeX": 0.5,
            "PhysicalSizeY": 0.5,
        },
    )
    with pytest.raises(FrontlineInputError, match=r"(?s)3-D.*Z=5.*project"):
        open_image(path, sample="s")


@pytest.mark.parametrize("bad", [0, -0.5, "abc"])
def test_non_positive_pixel_size_is_refused(tmp_path, image, bad):
    path = tmp_path / "plain.tif"
    _plane_tiff(path, image[0])
    with pytest.raises(FrontlineInputError, match=r"not a positive number"):
        open_image(path, channel_names=["DAPI"], pixel_size_um=bad)
    with pytest.raises(FrontlineInputError, match=r"not a positive number"):
        open_image(path, channel_names=["DAPI"], default_pixel_size_um=bad)


def test_non_square_pixels_are_refused(tmp_path, image):
    path = tmp_path / "rect.tif"
    tifffile.imwrite(
        path,
        image[0],
        photometric="minisblack",
        metadata=None,
        resolution=(1e4 / 0.5, 1e4 / 1.0),
        resolutionunit="CENTIMETER",
    )
    with pytest.raises(FrontlineInputError, match=r"not square"):
        open_image(path, channel_names=["DAPI"])


def test_folder_without_tiffs(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "readme.txt").write_text("x")
    with pytest.raises(FrontlineInputError, match=r"(?s)sample 'e'.*no TIFF files"):
        open_image(folder, sample="e")


def test_folder_with_tiffs_of_different_sizes(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    _plane_tiff(folder / "DAPI.tif", np.zeros((64, 64), np.uint8))
    _plane_tiff(folder / "CD8.tif", np.zeros((64, 80), np.uint8))
    with pytest.raises(FrontlineInputError, match=r"different sizes") as err:
        open_image(folder, sample="m", pixel_size_um=0.5)
    assert "(64, 64): DAPI.tif" in str(err.value) and "(64, 80): CD8.tif" in str(err.value)


def test_folder_with_a_multichannel_tiff(tmp_path, image):
    folder = tmp_path / "multi"
    folder.mkdir()
    tifffile.imwrite(folder / "all.tif", image, photometric="minisblack", metadata=None)
    with pytest.raises(FrontlineInputError, match=r"must hold one channel.*has 3"):
        open_image(folder, pixel_size_um=0.5)


def test_window_outside_the_image_is_a_programming_error(ome):
    with open_image(ome) as img:
        with pytest.raises(ValueError, match="outside the image"):
            img.read("DAPI", (0, 301, 0, 10))


# --------------------------------------------------------------------------- labels


def test_imagej_tiff_pixel_size_from_its_micron_unit(tmp_path, image):
    path = tmp_path / "fiji.tif"
    tifffile.imwrite(
        path,
        image,
        imagej=True,
        resolution=(1 / 0.4, 1 / 0.4),
        metadata={"axes": "CYX", "unit": "um"},
    )
    with open_image(path, channel_names=NAMES, pixel_size_um=1.0) as img:
        assert img.pixel_size_um == pytest.approx(0.4)
        np.testing.assert_array_equal(img.read("PanCK"), image[1])


def test_multifile_ome_with_a_missing_companion_is_refused(tmp_path):
    """tifffile would zero the missing planes; the reader must not pass zeros on as data."""
    uuid_a, uuid_b = (f"urn:uuid:{d * 8}-{d * 4}-{d * 4}-{d * 4}-{d * 12}" for d in "12")
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" UUID="{uuid_a}">'
        '<Image ID="Image:0"><Pixels ID="Pixels:0" DimensionOrder="XYCZT" Type="uint8" '
        'SizeX="32" SizeY="16" SizeC="2" SizeZ="1" SizeT="1" '
        'PhysicalSizeX="0.5" PhysicalSizeY="0.5">'
        '<Channel ID="Channel:0:0" Name="DAPI" SamplesPerPixel="1"/>'
        '<Channel ID="Channel:0:1" Name="CD8" SamplesPerPixel="1"/>'
        '<TiffData FirstC="0" IFD="0" PlaneCount="1">'
        f'<UUID FileName="a.ome.tif">{uuid_a}</UUID></TiffData>'
        '<TiffData FirstC="1" IFD="0" PlaneCount="1">'
        f'<UUID FileName="b.ome.tif">{uuid_b}</UUID></TiffData>'
        "</Pixels></Image></OME>"
    )
    path = tmp_path / "a.ome.tif"
    tifffile.imwrite(path, np.ones((16, 32), np.uint8), description=xml, metadata=None)
    with pytest.raises(
        FrontlineInputError, match=r"(?s)sample 'mf'.*1 of the image's 2 planes are missing"
    ):
        open_image(path, sample="mf")


def test_overview_factor_of_a_stride_is_exact_for_odd_sizes(tmp_path):
    path = tmp_path / "odd.ome.tif"
    image = np.arange(3 * 101 * 1001, dtype=np.uint32).reshape(3, 101, 1001) % 65000
    write_image(path, image.astype(np.uint16), NAMES, 0.5)
    with open_image(path) as img:
        overview, factor = img.overview(max_px=500)
    assert factor == 3.0 and overview.shape == (3, 34, 334)
    np.testing.assert_array_equal(overview, image[:, ::3, ::3])


def test_overview_stride_across_read_bands(tmp_path):
    path = tmp_path / "tall.ome.tif"
    image = (np.arange(3 * 5001 * 11).reshape(3, 5001, 11) % 65000).astype(np.uint16)
    write_image(path, image, NAMES, 0.5)
    with open_image(path) as img:
        overview, factor = img.overview()  # step 3, read in bands of 2046 rows
    assert factor == 3.0
    np.testing.assert_array_equal(overview, image[:, ::3, ::3])
