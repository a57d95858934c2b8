"""Cluster tile jobs (frontline.segment.jobs): jobs + merge give one job's nuclei, no seams."""

import numpy as np
import pytest
from skimage.segmentation import relabel_sequential
from stardist.matching import matching

from frontline import segment as sg
from frontline.errors import FrontlineInputError
from frontline.simulate import simulate_tissue


@pytest.fixture(scope="module")
def slide():
    """Simulated tissue, 1280 x 1280 px at 0.5 µm/px: job tiles of 384 px cut ~100 nuclei."""
    return simulate_tissue("inflamed", (1280, 1280), 0.5, seed=12)


def dapi_of(sim):
    return sim.image[sim.channels.index("DAPI")]


def reader(array):
    return lambda w: array[w[0] : w[1], w[2] : w[3]]


def whole(strips):
    return np.concatenate([labels for _, labels in strips])


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


def test_tile_jobs_merge_like_one_job_without_seams(nuclei_model, slide, tmp_path):
    dapi = dapi_of(slide)
    read = reader(dapi)
    norm = sg.normalisation_range(read, dapi.shape)
    plan = sg.plan(nuclei_model, 0.5, 512, 64)
    single = whole(sg.segment_labels(nuclei_model, read, dapi.shape, norm, plan))

    job_px, halo = 384, 128
    paths = []
    for tile_id in sg.job_grid(dapi.shape, job_px):
        job = sg.segment_job(nuclei_model, read, dapi.shape, norm, plan, tile_id, job_px, halo)
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


def test_job_rows_refuse_tiles_that_do_not_fit(tmp_path):
    empty = sg.Objects.empty(32)
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
