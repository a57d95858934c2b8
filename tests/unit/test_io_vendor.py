"""frontline.io on vendor layouts: Akoya QPTIFF, inForm component data, MCMICRO markers.csv."""

import numpy as np
import pytest
import tifffile
from vendor_tiffs import qpi_description, write_inform_components, write_pyramidal_ome, write_qptiff

from frontline.errors import FrontlineInputError
from frontline.io import open_image, write_image

FLUORS = ["DAPI", "Opal 520", "Opal 570", "Opal 690", "Sample AF"]
MARKERS = ["DAPI", "PD-L1", "CD8", "PanCK", None]  # Sample AF has no biomarker


@pytest.fixture
def planes():
    """(5, 512, 640) uint8 fluor planes, seeded."""
    return np.random.default_rng(3).integers(0, 256, (5, 512, 640), dtype=np.uint8)


@pytest.fixture
def qptiff(tmp_path, planes):
    path = tmp_path / "Slide_01_Scan1.qptiff"
    reduced = write_qptiff(path, planes, FLUORS, MARKERS, pixel_size_um=0.4977, levels=2)
    return path, reduced


# --------------------------------------------------------------------------- QPTIFF


def test_qptiff_channels_pixel_size_and_pixels(qptiff, planes):
    path, _ = qptiff
    pages = tifffile.TiffFile(path).pages
    assert len(pages) == 5 + 1 + 2 * 5 + 2  # fluors, thumbnail, 2 levels, overview, label
    with open_image(path, sample="slide1") as img:
        assert img.source == "QPTIFF"
        assert img.channels == ["DAPI", "PD-L1", "CD8", "PanCK", "Sample AF"]
        assert img.fluors == FLUORS
        assert img.shape == (512, 640) and img.dtype == np.uint8
        assert img.pixel_size_um == pytest.approx(0.4977, rel=1e-6)
        for i, name in enumerate(img.channels):
            np.testing.assert_array_equal(
                img.read(name, (100, 356, 33, 290)), planes[i, 100:356, 33:290]
            )


def test_qptiff_overview_comes_from_the_reduced_pages(qptiff, planes):
    path, reduced = qptiff
    with open_image(path) as img:
        assert img.level_shapes == [(512, 640), (256, 320), (128, 160)]
        overview, factor = img.overview(max_px=400)
        assert factor == 2.0
        # the reduced pages are block means: a stride of level 0 would differ
        np.testing.assert_array_equal(overview, reduced[0])
        assert not np.array_equal(overview, planes[:, ::2, ::2])
        overview, factor = img.overview(max_px=160)
        assert factor == 4.0
        np.testing.assert_array_equal(overview, reduced[1])


def test_qptiff_fluor_map_speaks_markers(tmp_path, planes):
    path = tmp_path / "old.qptiff"
    write_qptiff(path, planes, FLUORS, biomarkers=None, levels=1)  # an older file: no <Biomarker>
    with open_image(path) as img:
        assert img.channels == FLUORS
    fmap = {"Opal 520": "PD-L1", "Opal 570": "CD8", "Opal 690": "PanCK"}
    with open_image(path, fluor_map=fmap) as img:
        assert img.channels == ["DAPI", "PD-L1", "CD8", "PanCK", "Sample AF"]
        np.testing.assert_array_equal(img.read("CD8", (0, 10, 0, 10)), planes[2, :10, :10])
    with pytest.raises(FrontlineInputError) as err:
        open_image(path, sample="s2", fluor_map={"Opal 620": "CD3", "Opal 570": "CD8"})
    text = str(err.value)
    assert "sample 's2'" in text and "['Opal 620']" in text
    assert "['DAPI', 'Opal 520', 'Opal 570', 'Opal 690', 'Sample AF']" in text


def test_fluor_map_applies_to_fluors_even_when_biomarkers_are_named(qptiff):
    path, _ = qptiff
    with open_image(path, fluor_map={"Opal 570": "CD8a"}) as img:
        assert img.channels == ["DAPI", "PD-L1", "CD8a", "PanCK", "Sample AF"]


def test_qptiff_two_pages_claiming_one_fluor(tmp_path, planes):
    path = tmp_path / "dup.qptiff"
    write_qptiff(path, planes[:3], ["DAPI", "Opal 570", "Opal 570"], levels=1)
    with pytest.raises(
        FrontlineInputError, match=r"(?s)same fluor \['Opal 570'\] \(pages \[1, 2\]\)"
    ):
        open_image(path, sample="s")


def test_qptiff_full_resolution_pages_of_different_sizes(tmp_path, planes):
    path = tmp_path / "sizes.qptiff"
    write_qptiff(path, [planes[0], planes[1, :500, :640]], ["DAPI", "Opal 570"], levels=0)
    with pytest.raises(FrontlineInputError, match=r"different sizes \(\(512, 640\).*\(500, 640\)"):
        open_image(path, sample="s")


def test_qptiff_without_resolution_falls_back_or_fails_clearly(tmp_path, planes):
    path = tmp_path / "nores.qptiff"
    write_qptiff(path, planes[:2], ["DAPI", "Opal 570"], resolution_tags=False, levels=1)
    with open_image(path, pixel_size_um=0.5) as img:
        assert img.pixel_size_um == 0.5
    with open_image(path, default_pixel_size_um=0.25) as img:
        assert img.pixel_size_um == 0.25
    with pytest.raises(FrontlineInputError, match=r"(?s)sample 'q'.*no pixel size.*sample sheet"):
        open_image(path, sample="q")


def test_qptiff_pixel_size_from_the_scan_profile(tmp_path, planes):
    path = tmp_path / "profile.qptiff"
    write_qptiff(
        path,
        planes[:2],
        ["DAPI", "Opal 570"],
        resolution_tags=False,
        scan_profile_um=0.2488,
        levels=1,
    )
    with open_image(path, pixel_size_um=0.5) as img:
        assert img.pixel_size_um == pytest.approx(0.2488)


def test_brightfield_qptiff_is_refused(tmp_path):
    path = tmp_path / "he.qptiff"
    with tifffile.TiffWriter(path) as tif:
        tif.write(
            np.zeros((256, 256, 3), np.uint8),
            photometric="rgb",
            metadata=None,
            software="PerkinElmer-QPI",
            tile=(128, 128),
            description=qpi_description("FullResolution", "Brightfield"),
        )
    with pytest.raises(FrontlineInputError, match=r"(?s)RGB.*brightfield"):
        open_image(path, sample="he", pixel_size_um=0.5)


# --------------------------------------------------------------------------- inForm


def test_inform_component_data(tmp_path):
    rng = np.random.default_rng(5)
    components = rng.gamma(2.0, 3.0, (4, 300, 400)).astype(np.float32)
    names = ["DAPI", "Opal 520", "Opal 690", "Autofluorescence"]
    path = tmp_path / "Set4_1-6plex_[16142,55840]_component_data.tif"
    write_inform_components(path, components, names, pixel_size_um=0.4977)
    assert tifffile.TiffFile(path).pages[-1].shape == (75, 100, 3)  # the thumbnail
    fmap = {"Opal 520": "CD8", "Opal 690": "PanCK"}
    with open_image(path, sample="field1", fluor_map=fmap) as img:
        assert img.source == "inForm component data"
        assert img.channels == ["DAPI", "CD8", "PanCK", "Autofluorescence"]
        assert img.dtype == np.float32 and img.shape == (300, 400)
        assert img.pixel_size_um == pytest.approx(0.4977, rel=1e-6)
        np.testing.assert_array_equal(img.read_channels(img.channels), components)


# --------------------------------------------------------------------------- MCMICRO


def _markers(path, names, column="marker_name"):
    rows = "\n".join(f"{i + 1},{n},FITC" for i, n in enumerate(names))
    path.write_text(f"cycle,{column},Filter\n{rows}\n")


def test_mcmicro_markers_csv_in_the_parent_folder(tmp_path, planes):
    (tmp_path / "registration").mkdir()
    image = tmp_path / "registration" / "exemplar-001.ome.tif"
    write_image(image, planes[:3], ["Channel 0", "Channel 1", "Channel 2"], 0.65)
    _markers(tmp_path / "markers.csv", ["DNA_1", "CD8", "PanCK"])
    with open_image(image) as img:
        assert img.channels == ["DNA_1", "CD8", "PanCK"]
        assert img.pixel_size_um == pytest.approx(0.65)
        np.testing.assert_array_equal(img.read("PanCK"), planes[2])


def test_mcmicro_markers_csv_beside_the_image_must_match_the_channel_count(tmp_path, planes):
    image = tmp_path / "exemplar.ome.tif"
    write_image(image, planes[:3], ["a", "b", "c"], 0.65)
    _markers(tmp_path / "markers.csv", ["DNA_1", "CD8"])
    with pytest.raises(
        FrontlineInputError, match=r"(?s)sample 'm'.*markers.csv.*2 markers.*3 channels"
    ):
        open_image(image, sample="m")
    _markers(tmp_path / "markers.csv", ["DNA_1", "CD8", "PanCK"], column="name")
    with pytest.raises(FrontlineInputError, match=r"no `marker_name` column"):
        open_image(image, sample="m")


def test_pyramidal_ome_with_markers_csv_reads_level0_lazily(tmp_path, planes):
    image = tmp_path / "slide.ome.tif"
    reduced = write_pyramidal_ome(image, planes, [f"ch{i}" for i in range(5)], 0.5, levels=2)
    _markers(tmp_path / "markers.csv", ["DAPI", "PDL1", "CD8", "PanCK", "AF"])
    with open_image(image) as img:
        assert img.channels == ["DAPI", "PDL1", "CD8", "PanCK", "AF"]
        np.testing.assert_array_equal(img.read("CD8", (500, 512, 600, 640)), planes[2, 500:, 600:])
        overview, factor = img.overview(max_px=200)
        assert factor == 4.0
        np.testing.assert_array_equal(overview, reduced[1])
