"""Tiled prediction (frontline.segment.predict, .nms): seamless tiles that agree with StarDist,
rescaling to the model's pixel size, skipped background, an image without nuclei."""

import logging

import numpy as np
import pytest
from stardist.matching import matching

from frontline import segment as sg
from frontline.simulate import simulate_tissue


@pytest.fixture(scope="module")
def tissue():
    """Simulated inflamed tissue, 1024 x 1024 px at 0.5 µm/px, with truth nuclei."""
    return simulate_tissue("inflamed", (1024, 1024), 0.5, seed=11)


def dapi_of(sim):
    return sim.image[sim.channels.index("DAPI")]


def reader(array):
    return lambda w: array[w[0] : w[1], w[2] : w[3]]


def whole(strips):
    return np.concatenate([labels for _, labels in strips])


def segment_array(
    model,
    image,
    pixel_size_um=0.5,
    tile_px=1024,
    overlap_px=64,
    stats=None,
    background_max=0.1,
    sample=None,
):
    read = reader(image)
    norm = sg.normalisation_range(read, image.shape)
    plan = sg.plan(model, pixel_size_um, tile_px, overlap_px)
    return whole(
        sg.segment_labels(
            model,
            read,
            image.shape,
            norm,
            plan,
            background_max=background_max,
            stats=stats,
            sample=sample,
        )
    )


def stardist_whole(model, image):
    """StarDist's own predict_instances on the whole image (same normalisation)."""
    norm = sg.normalisation_range(reader(image), image.shape)
    x = (image.astype(np.float32) - norm.lo) / (norm.hi - norm.lo)
    labels, _ = model.stardist.predict_instances(
        x, prob_thresh=model.prob_thresh, nms_thresh=model.nms_thresh, show_tile_progress=False
    )
    return labels


# ----------------------------------------------------------------------------- seamless tiles


def test_small_tiles_agree_with_stardist_on_the_whole_image(nuclei_model, tissue):
    dapi = dapi_of(tissue)
    ref = stardist_whole(nuclei_model, dapi)
    stats = {}
    ours = segment_array(nuclei_model, dapi, tile_px=256, overlap_px=64, stats=stats)  # 16 tiles
    m = matching(ref, ours, thresh=0.5)
    assert m.f1 >= 0.995, m
    assert abs(int(ours.max()) - int(ref.max())) <= 0.005 * ref.max()
    assert ((ours > 0) == (ref > 0)).mean() >= 0.999
    assert stats["nuclei"] == ours.max()
    # quality against the simulator's truth, not only agreement with StarDist
    truth = matching(tissue.labels, ours, thresh=0.5)
    assert truth.f1 >= matching(tissue.labels, ref, thresh=0.5).f1 - 0.005


def test_one_tile_equals_stardist_exactly(nuclei_model, tissue):
    dapi = dapi_of(tissue)[:512, :640]
    ref = stardist_whole(nuclei_model, dapi)
    ours = segment_array(nuclei_model, dapi, tile_px=1024)
    assert ours.shape == ref.shape
    assert matching(ref, ours, thresh=0.5).f1 == 1.0
    assert ((ours > 0) == (ref > 0)).mean() >= 0.9999


def test_labels_are_consecutive_in_row_major_order_of_centres(nuclei_model, tissue):
    ours = segment_array(nuclei_model, dapi_of(tissue), tile_px=256)
    ids = np.unique(ours)[1:]
    n = int(ours.max())
    assert len(ids) >= 0.99 * n and ids[-1] == n  # all ids used but rare fully hidden ones
    rows = np.bincount(ours.ravel(), weights=np.indices(ours.shape)[0].ravel(), minlength=n + 1)
    area = np.bincount(ours.ravel(), minlength=n + 1)
    centre_rows = rows[ids] / area[ids]
    # ids follow centre rows (up to the polygon centre vs pixel centroid, a few px)
    assert np.all(np.diff(centre_rows) > -10)


def test_image_smaller_than_one_tile(nuclei_model, tissue):
    small = dapi_of(tissue)[100:300, 200:500]
    truth = tissue.labels[100:300, 200:500]
    labels = segment_array(nuclei_model, small, tile_px=1024)
    assert labels.shape == (200, 300) and labels.dtype == np.uint32
    assert labels.max() > 20
    assert (
        matching(truth, labels, thresh=0.5).f1
        >= matching(tissue.labels, segment_array(nuclei_model, dapi_of(tissue)), thresh=0.5).f1
        - 0.08
    )


def test_rescales_to_the_models_pixel_size(nuclei_model):
    """An image at half the model's pixel size is segmented on the model's grid and mapped back."""
    assert nuclei_model.pixel_size_um is not None
    fine = simulate_tissue("inflamed", (1024, 1024), nuclei_model.pixel_size_um / 2, seed=13)
    native = simulate_tissue("inflamed", (512, 512), nuclei_model.pixel_size_um, seed=13)
    labels = segment_array(
        nuclei_model, dapi_of(fine), pixel_size_um=fine.pixel_size_um, tile_px=256
    )
    assert labels.shape == fine.labels.shape
    f1_fine = matching(fine.labels, labels, thresh=0.5).f1
    f1_native = matching(native.labels, segment_array(nuclei_model, dapi_of(native)), thresh=0.5).f1
    assert f1_fine >= f1_native - 0.05, (f1_fine, f1_native)
    # without rescaling the nuclei are twice the size the model knows: clearly worse
    unscaled = sg.SegmentationModel(
        nuclei_model.stardist,
        nuclei_model.name,
        nuclei_model.source,
        None,
        nuclei_model.prob_thresh,
        nuclei_model.nms_thresh,
    )
    f1_unscaled = matching(
        fine.labels, segment_array(unscaled, dapi_of(fine), tile_px=512), thresh=0.5
    ).f1
    assert f1_fine > f1_unscaled + 0.05, (f1_fine, f1_unscaled)


def test_background_tiles_are_skipped_without_changing_the_result(nuclei_model, tissue):
    dapi = dapi_of(tissue).copy()
    dapi[:, 512:] = np.percentile(dapi, 5)  # right half: flat background
    both = segment_array(nuclei_model, dapi, tile_px=256, background_max=None)
    skipped = segment_array(nuclei_model, dapi, tile_px=256, background_max=0.1)
    assert np.array_equal(both, skipped)
    assert skipped[:, :512].max() > 100


def test_bfloat16_network_finds_the_same_nuclei(nuclei_model, tissue):
    """bfloat16 arithmetic (the default on CPUs with AVX512-BF16) barely changes the result."""
    fast = sg.SegmentationModel(
        nuclei_model.stardist,
        nuclei_model.name,
        nuclei_model.source,
        nuclei_model.pixel_size_um,
        nuclei_model.prob_thresh,
        nuclei_model.nms_thresh,
        precision="bfloat16",
    )
    dapi = dapi_of(tissue)
    exact = segment_array(nuclei_model, dapi)
    approx = segment_array(fast, dapi)
    assert matching(exact, approx, thresh=0.5).f1 >= 0.97
    f1_exact = matching(tissue.labels, exact, thresh=0.5).f1
    f1_approx = matching(tissue.labels, approx, thresh=0.5).f1
    assert f1_approx >= f1_exact - 0.01, (f1_approx, f1_exact)


# ----------------------------------------------------------------------------- no nuclei


def test_no_nuclei_gives_empty_labels_and_a_warning(nuclei_model, caplog):
    rng = np.random.default_rng(1)
    background = rng.poisson(120, (700, 600)).astype(np.uint16)  # camera noise, no nuclei
    stats = {}
    with caplog.at_level(logging.WARNING, logger="frontline.segment"):
        labels = segment_array(nuclei_model, background, stats=stats, sample="blank")
    assert labels.shape == (700, 600) and labels.dtype == np.uint32 and labels.max() == 0
    assert stats["nuclei"] == 0
    assert "no signal" in caplog.text and "min_contrast" in caplog.text
    assert "no nuclei found" in caplog.text and "blank" in caplog.text
    norm = sg.normalisation_range(reader(background), background.shape)
    assert not norm.signal and norm.contrast < 10
    # a constant image too (no contrast at all)
    flat = segment_array(nuclei_model, np.full((300, 300), 7, np.uint16))
    assert flat.shape == (300, 300) and flat.max() == 0
