"""One call per rule (frontline.segment.pipeline): an opened image and the config section in,
label strips or a job tile out."""

import numpy as np
import pytest
from stardist.matching import matching

from frontline import config, io
from frontline import segment as sg
from frontline.errors import FrontlineInputError
from frontline.simulate import simulate_tissue


@pytest.fixture(scope="module")
def image_file(tmp_path_factory):
    """A simulated 512 x 640 px OME-TIFF at 0.5 µm/px and its truth nuclei."""
    sim = simulate_tissue("inflamed", (512, 640), 0.5, seed=21)
    path = tmp_path_factory.mktemp("pipeline") / "tissue.ome.tif"
    io.write_image(path, sim.image, sim.channels, sim.pixel_size_um)
    return path, sim.labels


@pytest.fixture(scope="module")
def settings(nuclei_model):
    """The config's segmentation section, with the model the other tests use."""
    return config.section(
        "segmentation",
        model=str(nuclei_model.stardist.logdir),
        precision="float32",
        tile_px=256,
    )


def test_segment_image_streams_the_labels_of_the_whole_image(image_file, settings, tmp_path):
    path, truth = image_file
    with io.open_image(path, sample="s1") as img:
        strips = sg.segment_image(img, settings, threads=1)
        io.write_label_strips(tmp_path / "nuclei.ome.tif", strips, img.shape, img.pixel_size_um)
    labels, pixel_size_um = io.read_labels(tmp_path / "nuclei.ome.tif")
    assert labels.shape == (512, 640) and pixel_size_um == pytest.approx(0.5)
    assert matching(truth, labels, thresh=0.5).f1 >= 0.9
    ids = np.unique(labels)[1:]
    assert ids[0] == 1 and ids[-1] == labels.max()


def test_tile_jobs_and_their_merge_give_the_single_job_labels(image_file, settings, tmp_path):
    path, _ = image_file
    settings = dict(settings, job_tile_px=256, job_halo_px=128)
    with io.open_image(path, sample="s1") as img:
        single = np.concatenate([s for _, s in sg.segment_image(img, settings)])
        norm = sg.image_normalisation(img, settings)
        paths = []
        for tile_id in sg.job_grid(img.shape, settings["job_tile_px"]):
            job = sg.segment_image_tile(img, norm, tile_id, settings)
            assert job.pixel_size_um == pytest.approx(0.5)
            paths.append(tmp_path / f"{tile_id}.npz")
            sg.save_job_tile(paths[-1], job)
    assert len(paths) == 6
    shape, pixel_size_um, strips = sg.merge_tiles(paths, sample="s1")
    merged = np.concatenate([s for _, s in strips])
    assert shape == (512, 640) and pixel_size_um == pytest.approx(0.5)
    assert matching(single, merged, thresh=0.5).f1 >= 0.99


def test_missing_nuclear_channel_lists_the_channels(tmp_path):
    path = tmp_path / "img.ome.tif"
    io.write_image(path, np.zeros((2, 64, 64), np.uint16), ["Hoechst", "CD8"], 0.5)
    with io.open_image(path, sample="s1") as img:
        with pytest.raises(FrontlineInputError) as err:
            sg.image_normalisation(img, config.section("segmentation"))
    text = str(err.value)
    assert "'Hoechst'" in text and "'CD8'" in text and "DAPI" in text and "s1" in text
    assert "segmentation.nuclear_channel" in text
