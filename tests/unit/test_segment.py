"""Nuclei segmentation: seamless tiles, tile jobs + merge, rescaling, bad input.

The model is the one the config names (``segmentation.model`` in ``segmentation.model_basedir``,
the shipped ``frontline_nuclei``). ``FRONTLINE_TEST_NUCLEI_MODEL=<model folder>`` runs the same
tests with another StarDist model (e.g. a candidate before it is shipped).
"""

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
import yaml
from skimage.segmentation import relabel_sequential
from stardist.matching import matching

from frontline import io
from frontline import segment as sg
from frontline.errors import FrontlineInputError
from frontline.simulate import simulate_tissue

ROOT = Path(__file__).resolve().parents[2]


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def model():
    """The nuclei model through the normal config path (shipped model, offline)."""
    seg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["segmentation"]
    override = os.environ.get("FRONTLINE_TEST_NUCLEI_MODEL")
    if override:
        return sg.load_model(override, precision="float32")
    folder = ROOT / seg["model_basedir"] / seg["model"]
    if not folder.is_dir():
        pytest.fail(
            f"the shipped nuclei model {folder} is missing: train it (`snakemake train`) "
            "and copy it to resources/models/",
            pytrace=False,
        )
    return sg.load_model(seg["model"], ROOT / seg["model_basedir"], precision="float32")


def dapi_of(sim):
    return sim.image[sim.channels.index("DAPI")]


@pytest.fixture(scope="module")
def tissue():
    """Simulated inflamed tissue, 1024 x 1024 px at 0.5 µm/px, with truth nuclei."""
    return simulate_tissue("inflamed", (1024, 1024), 0.5, seed=11)


@pytest.fixture(scope="module")
def slide():
    """Simulated tissue, 1280 x 1280 px at 0.5 µm/px: job tiles of 384 px cut ~100 nuclei."""
    return simulate_tissue("inflamed", (1280, 1280), 0.5, seed=12)


def reader(array):
    return lambda w: array[w[0] : w[1], w[2] : w[3]]


def whole(strips):
    return np.concatenate([labels for _, labels in strips])


def segment_array(
    model, image, pixel_size_um=0.5, tile_px=1024, overlap_px=64, stats=None, background_max=0.1
):
    read = reader(image)
    norm = sg.normalisation_range(read, image.shape)
    plan = sg.plan(model, pixel_size_um, tile_px, overlap_px)
    return whole(
        sg.segment_labels(
            model, read, image.shape, norm, plan, background_max=background_max, stats=stats
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


# ----------------------------------------------------------------------------- normalisation


def test_sample_windows_cover_a_big_image_evenly():
    windows = sg.sample_windows((16384, 8192), size=256, count=64)
    assert 60 <= len(windows) <= 68
    ys = sorted({w[0] for w in windows})
    xs = sorted({w[2] for w in windows})
    assert ys[0] < 16384 / 8 and ys[-1] > 16384 * 7 / 8 - 256
    assert xs[0] < 8192 / 4 and xs[-1] > 8192 * 3 / 4 - 256
    assert all(w[1] - w[0] == 256 and w[3] - w[2] == 256 for w in windows)
    assert sg.sample_windows((300, 500)) == [(0, 300, 0, 500)]


def test_sampled_percentiles_match_whole_image():
    """64 windows of 64 px (6 % of a 2048 px image) give the whole image's percentiles."""
    for preset, seed in (("inflamed", 12), ("desert", 3)):
        dapi = dapi_of(simulate_tissue(preset, (2048, 2048), 0.5, seed=seed))
        lo, hi, contrast, signal = sg.normalisation_range(
            reader(dapi), dapi.shape, (1.0, 99.8), size=64, count=64
        )
        assert signal and contrast > 50
        full_lo, full_hi = np.percentile(dapi, (1.0, 99.8))
        span = full_hi - full_lo
        assert abs(lo - full_lo) < 0.01 * span
        assert abs(hi - full_hi) < 0.04 * span, (preset, hi, full_hi)


# ----------------------------------------------------------------------------- seamless tiles


def test_small_tiles_agree_with_stardist_on_the_whole_image(model, tissue):
    dapi = dapi_of(tissue)
    ref = stardist_whole(model, dapi)
    stats = {}
    ours = segment_array(model, dapi, tile_px=256, overlap_px=64, stats=stats)  # 16 tiles
    m = matching(ref, ours, thresh=0.5)
    assert m.f1 >= 0.995, m
    assert abs(int(ours.max()) - int(ref.max())) <= 0.005 * ref.max()
    assert ((ours > 0) == (ref > 0)).mean() >= 0.999
    assert stats["nuclei"] == ours.max()
    # quality against the simulator's truth, not only agreement with StarDist
    truth = matching(tissue.labels, ours, thresh=0.5)
    assert truth.f1 >= matching(tissue.labels, ref, thresh=0.5).f1 - 0.005


def test_one_tile_equals_stardist_exactly(model, tissue):
    dapi = dapi_of(tissue)[:512, :640]
    ref = stardist_whole(model, dapi)
    ours = segment_array(model, dapi, tile_px=1024)
    assert ours.shape == ref.shape
    assert matching(ref, ours, thresh=0.5).f1 == 1.0
    assert ((ours > 0) == (ref > 0)).mean() >= 0.9999


def test_labels_are_consecutive_in_row_major_order_of_centres(model, tissue):
    ours = segment_array(model, dapi_of(tissue), tile_px=256)
    ids = np.unique(ours)[1:]
    n = int(ours.max())
    assert len(ids) >= 0.99 * n and ids[-1] == n  # all ids used but rare fully hidden ones
    rows = np.bincount(ours.ravel(), weights=np.indices(ours.shape)[0].ravel(), minlength=n + 1)
    area = np.bincount(ours.ravel(), minlength=n + 1)
    centre_rows = rows[ids] / area[ids]
    # ids follow centre rows (up to the polygon centre vs pixel centroid, a few px)
    assert np.all(np.diff(centre_rows) > -10)


def test_image_smaller_than_one_tile(model, tissue):
    small = dapi_of(tissue)[100:300, 200:500]
    truth = tissue.labels[100:300, 200:500]
    labels = segment_array(model, small, tile_px=1024)
    assert labels.shape == (200, 300) and labels.dtype == np.uint32
    assert labels.max() > 20
    assert (
        matching(truth, labels, thresh=0.5).f1
        >= matching(tissue.labels, segment_array(model, dapi_of(tissue)), thresh=0.5).f1 - 0.08
    )


def test_rescales_to_the_models_pixel_size(model):
    """An image at half the model's pixel size is segmented on the model's grid and mapped back."""
    assert model.pixel_size_um is not None
    fine = simulate_tissue("inflamed", (1024, 1024), model.pixel_size_um / 2, seed=13)
    native = simulate_tissue("inflamed", (512, 512), model.pixel_size_um, seed=13)
    labels = segment_array(model, dapi_of(fine), pixel_size_um=fine.pixel_size_um, tile_px=256)
    assert labels.shape == fine.labels.shape
    f1_fine = matching(fine.labels, labels, thresh=0.5).f1
    f1_native = matching(native.labels, segment_array(model, dapi_of(native)), thresh=0.5).f1
    assert f1_fine >= f1_native - 0.05, (f1_fine, f1_native)
    # without rescaling the nuclei are twice the size the model knows: clearly worse
    unscaled = sg.SegmentationModel(
        model.stardist, model.name, model.source, None, model.prob_thresh, model.nms_thresh
    )
    f1_unscaled = matching(
        fine.labels, segment_array(unscaled, dapi_of(fine), tile_px=512), thresh=0.5
    ).f1
    assert f1_fine > f1_unscaled + 0.05, (f1_fine, f1_unscaled)


def test_bfloat16_network_finds_the_same_nuclei(model, tissue):
    """bfloat16 arithmetic (the default on CPUs with AVX512-BF16) barely changes the result."""
    fast = sg.SegmentationModel(
        model.stardist,
        model.name,
        model.source,
        model.pixel_size_um,
        model.prob_thresh,
        model.nms_thresh,
        precision="bfloat16",
    )
    dapi = dapi_of(tissue)
    exact = segment_array(model, dapi)
    approx = segment_array(fast, dapi)
    assert matching(exact, approx, thresh=0.5).f1 >= 0.97
    f1_exact = matching(tissue.labels, exact, thresh=0.5).f1
    f1_approx = matching(tissue.labels, approx, thresh=0.5).f1
    assert f1_approx >= f1_exact - 0.01, (f1_approx, f1_exact)


def test_auto_precision_follows_the_cpu():
    assert sg.resolve_precision("float32") == "float32"
    expected = "bfloat16" if sg.cpu_has_bfloat16() else "float32"
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        expected = "float32"
    assert sg.resolve_precision("auto") == expected
    with pytest.raises(FrontlineInputError, match="precision"):
        sg.resolve_precision("fp8")


def test_background_tiles_are_skipped_without_changing_the_result(model, tissue):
    dapi = dapi_of(tissue).copy()
    dapi[:, 512:] = np.percentile(dapi, 5)  # right half: flat background
    both = segment_array(model, dapi, tile_px=256, background_max=None)
    skipped = segment_array(model, dapi, tile_px=256, background_max=0.1)
    assert np.array_equal(both, skipped)
    assert skipped[:, :512].max() > 100


# ----------------------------------------------------------------------------- tile jobs


def cut_labels(labels, seams_y, seams_x, min_width=6, ratio=0.6):
    """Labels that end on a seam with a straight edge: cut by a job border.

    A label touching seam row s from above only (pixels in row s-1, none in row s) is cut when
    its run in row s-1 is at least ``ratio`` of its widest row (natural, round nuclei end in a
    short run). Same for columns.
    """
    cut = set()
    for axis, seams in ((0, seams_y), (1, seams_x)):
        lab = labels if axis == 0 else labels.T
        width = np.zeros(int(labels.max()) + 1)
        for row in lab:  # widest row (or column) of every label
            counts = np.bincount(row, minlength=len(width))
            np.maximum(width, counts, out=width)
        for s in seams:
            for inner, outer in ((lab[s - 1], lab[s]), (lab[s], lab[s - 1])):
                counts = np.bincount(inner, minlength=len(width))
                present_outer = np.bincount(outer, minlength=len(width)) > 0
                ids = np.flatnonzero(
                    (counts >= ratio * width) & (width >= min_width) & ~present_outer
                )
                cut.update(int(i) for i in ids if i)
    return cut


def labels_per_truth(truth, labels, truth_ids):
    """For each truth nucleus: how many labels lie mostly (>= 25 % of their area) inside it."""
    area = np.bincount(labels.ravel(), minlength=int(labels.max()) + 1)
    both = truth.astype(np.int64) * (int(labels.max()) + 1) + labels
    pairs, counts = np.unique(both[(truth > 0) & (labels > 0)], return_counts=True)
    t, lab = np.divmod(pairs, int(labels.max()) + 1)
    mostly = counts >= 0.25 * area[lab]
    per = np.bincount(t[mostly], minlength=int(truth.max()) + 1)
    return per[truth_ids]


def seam_truth_ids(truth, seams_y, seams_x):
    ids = set()
    for s in seams_y:
        ids |= set(np.intersect1d(truth[s - 1], truth[s]).tolist())
    for s in seams_x:
        ids |= set(np.intersect1d(truth[:, s - 1], truth[:, s]).tolist())
    ids.discard(0)
    return np.array(sorted(ids))


def test_tile_jobs_merge_like_one_job_without_seams(model, slide, tmp_path):
    dapi = dapi_of(slide)
    read = reader(dapi)
    norm = sg.normalisation_range(read, dapi.shape)
    plan = sg.plan(model, 0.5, 512, 64)
    single = whole(sg.segment_labels(model, read, dapi.shape, norm, plan))

    job_px, halo = 384, 128
    paths = []
    for tile_id in sg.job_grid(dapi.shape, job_px):
        job = sg.segment_job(model, read, dapi.shape, norm, plan, tile_id, job_px, halo)
        job.pixel_size_um = 0.5
        paths.append(tmp_path / f"{tile_id}.npz")
        sg.save_job_tile(paths[-1], job)
    assert len(paths) == 16
    shape, pixel_size, rows = sg.job_rows(paths[::-1])  # any order in, row-major out
    stats = {}
    merged = whole(sg.merge_job_rows(rows, stats=stats))
    assert shape == dapi.shape and pixel_size == 0.5

    # the same nuclei as one job
    m = matching(single, merged, thresh=0.5)
    assert m.f1 >= 0.99, m
    assert abs(stats["nuclei"] - single.max()) <= 0.01 * single.max()
    ids = np.unique(merged)[1:]
    assert ids[-1] == merged.max() and len(ids) >= 0.99 * merged.max()

    seams = [384, 768, 1152]
    on_seams = seam_truth_ids(slide.labels, seams, seams)
    assert len(on_seams) >= 80  # the job borders really cut through many nuclei
    # no nucleus on a seam found twice (two labels mostly inside one truth nucleus)
    dup_merged = (labels_per_truth(slide.labels, merged, on_seams) > 1).sum()
    dup_single = (labels_per_truth(slide.labels, single, on_seams) > 1).sum()
    assert dup_merged <= dup_single
    # seam nuclei are whole: as good a match to the truth as in one job
    t_seam = np.isin(slide.labels, on_seams) * slide.labels
    f1_merged = matching(
        t_seam, np.where(np.isin(merged, np.unique(merged[t_seam > 0])), merged, 0), thresh=0.5
    )
    f1_single = matching(
        t_seam, np.where(np.isin(single, np.unique(single[t_seam > 0])), single, 0), thresh=0.5
    )
    assert f1_merged.tp >= f1_single.tp - 1
    assert f1_merged.mean_matched_score >= f1_single.mean_matched_score - 0.01
    # and none ends on a seam with a straight edge made by the job border: a label that does
    # (a model's own straight edge, e.g. where a more probable neighbour overlaps it) must be
    # there with the same shape in the single job, which has no seams
    flagged = cut_labels(merged, seams, seams)
    assert len(flagged) <= 3
    for label in flagged:
        mask = merged == label
        other = np.bincount(single[mask]).argmax()
        iou = (mask & (single == other)).sum() / (mask | (single == other)).sum()
        assert other > 0 and iou >= 0.9, (label, iou)
    # (the check does find cuts: labels split along the seams are caught)
    chopped = merged.copy()
    for s in seams:
        chopped[s:] = np.where(chopped[s:] > 0, chopped[s:] + 100000, 0)
        chopped[:, s:] = np.where(chopped[:, s:] > 0, chopped[:, s:] + 200000, 0)
    chopped = relabel_sequential(chopped)[0]
    assert len(cut_labels(chopped, seams, seams)) >= 50


def test_job_rows_refuse_tiles_that_do_not_fit(model, tmp_path):
    empty = sg.Objects.empty(model.n_rays)
    sg.save_job_tile(
        tmp_path / "r000c000.npz", sg.JobTile(empty, (0, 100, 0, 100), (100, 200), 0.5, 64.0, 0.4)
    )
    sg.save_job_tile(
        tmp_path / "r000c001.npz", sg.JobTile(empty, (0, 100, 120, 200), (100, 200), 0.5, 64.0, 0.4)
    )
    shape, _, rows = sg.job_rows(
        [tmp_path / "r000c000.npz", tmp_path / "r000c001.npz"], sample="s1"
    )
    with pytest.raises(FrontlineInputError, match="does not fit"):
        list(rows)


# ----------------------------------------------------------------------------- files


def test_label_strips_stream_into_a_tiled_ome_tiff(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5000, (1100, 1300)).astype(np.uint32)
    strips = ((y, labels[y : y + sg.STRIP]) for y in range(0, 1100, sg.STRIP))
    path = tmp_path / "nuclei.ome.tif"
    sg.write_label_strips(path, strips, labels.shape, 0.325)
    back, size = io.read_labels(path)
    assert np.array_equal(back, labels) and size == pytest.approx(0.325)
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        assert page.is_tiled and page.tilewidth == sg.STRIP and page.compression == 8  # zlib


# ----------------------------------------------------------------------------- bad input


def test_no_nuclei_gives_empty_labels_and_a_warning(model, tmp_path, caplog):
    rng = np.random.default_rng(1)
    background = rng.poisson(120, (700, 600)).astype(np.uint16)  # camera noise, no nuclei
    stats = {}
    with caplog.at_level(logging.WARNING, logger="frontline.segment"):
        labels = segment_array(model, background, stats=stats)
        sg.report_count(stats, "blank", tmp_path / "nuclei.ome.tif")
    assert labels.shape == (700, 600) and labels.dtype == np.uint32 and labels.max() == 0
    assert stats["nuclei"] == 0
    assert "no signal" in caplog.text and "min_contrast" in caplog.text
    assert "no nuclei found" in caplog.text and "blank" in caplog.text
    norm = sg.normalisation_range(reader(background), background.shape)
    assert not norm.signal and norm.contrast < 10
    # a constant image too (no contrast at all)
    flat = segment_array(model, np.full((300, 300), 7, np.uint16))
    assert flat.shape == (300, 300) and flat.max() == 0


def test_missing_nuclear_channel_lists_the_channels(tmp_path):
    path = tmp_path / "img.ome.tif"
    io.write_image(path, np.zeros((2, 64, 64), np.uint16), ["Hoechst", "CD8"], 0.5)
    with io.open_image(path, sample="s1") as img:
        with pytest.raises(FrontlineInputError) as err:
            io.require_channels(
                img, ["DAPI"], sample="s1", what="segmentation (segmentation.nuclear_channel)"
            )
    text = str(err.value)
    assert "'Hoechst'" in text and "'CD8'" in text and "DAPI" in text and "s1" in text


def test_missing_model_folder(tmp_path):
    with pytest.raises(FrontlineInputError) as err:
        sg.load_model(str(tmp_path / "models" / "mine"), sample="s1")
    assert "does not exist" in str(err.value) and "frontline_nuclei" in str(err.value)
    with pytest.raises(FrontlineInputError) as err:
        sg.load_model("no_such_model", tmp_path)
    assert "no_such_model" in str(err.value) and "2D_versatile_fluo" in str(err.value)


def test_folder_that_is_not_a_stardist_model(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "readme.txt").write_text("hello")
    with pytest.raises(FrontlineInputError, match="no config.json"):
        sg.load_model(str(folder))
    (folder / "config.json").write_text('{"n_rays": 32, "n_dim": 2, "n_channel_in": 1}')
    with pytest.raises(FrontlineInputError, match="no weights"):
        sg.load_model(str(folder))
    (folder / "config.json").write_text('{"layers": 3}')
    with pytest.raises(FrontlineInputError, match="not describe a StarDist 2D model"):
        sg.load_model(str(folder))
    (folder / "config.json").write_text('{"n_rays": 32, "n_dim": 2, "n_channel_in": 1}')
    (folder / "weights_best.h5").write_bytes(b"not hdf5")
    with pytest.raises(FrontlineInputError, match="StarDist cannot load the model"):
        sg.load_model(str(folder))


def test_published_model_without_network_suggests_the_shipped_one(tmp_path):
    """No cached copy (empty KERAS_HOME) and no route out (proxy on a closed port)."""
    env = dict(
        os.environ,
        KERAS_HOME=str(tmp_path / "keras"),
        TF_CPP_MIN_LOG_LEVEL="3",
        HTTPS_PROXY="http://127.0.0.1:9",
        https_proxy="http://127.0.0.1:9",
        PYTHONPATH=str(ROOT / "workflow"),
    )
    code = (
        "from frontline.segment import load_model\n"
        "from frontline.errors import FrontlineInputError\n"
        "try:\n    load_model('2D_versatile_fluo', sample='s1')\n"
        "except FrontlineInputError as e:\n    print('ERROR:', e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    line = [x for x in out.stdout.splitlines() if x.startswith("ERROR:")]
    assert line, out.stdout + out.stderr
    assert "2D_versatile_fluo" in line[0] and "cannot be downloaded" in line[0]
    assert "frontline_nuclei" in line[0] and "s1" in line[0]
