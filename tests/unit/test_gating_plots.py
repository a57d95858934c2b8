"""Gating QC figure and its crop window (frontline.plots)."""

import numpy as np

from frontline.plots import crop_window, gating_figure


def test_crop_window_holds_the_most_positive_cells():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 300, 500)  # µm, on a 600 x 600 px image at 0.5 µm/px
    y = rng.uniform(0, 300, 500)
    positive = (x > 200) & (y < 60)  # a cluster of positives top right
    y0, y1, x0, x1 = crop_window(x, y, positive, 0.5, (600, 600), size_px=200)
    assert (y1 - y0, x1 - x0) == (200, 200)
    inside = (x / 0.5 >= x0) & (x / 0.5 < x1) & (y / 0.5 >= y0) & (y / 0.5 < y1)
    assert (inside & positive).sum() >= 0.6 * positive.sum()
    # a window larger than the image is the image
    assert crop_window(x, y, positive, 0.5, (150, 120), size_px=400) == (0, 150, 0, 120)


def test_gating_figure_has_histogram_gate_and_crop():
    rng = np.random.default_rng(1)
    values = np.r_[rng.lognormal(5, 0.3, 900), rng.lognormal(7, 0.3, 100)]
    labels = np.zeros((60, 60), np.int64)
    labels[5:20, 5:20], labels[30:50, 30:50] = 1, 2
    fig = gating_figure(
        values,
        500.0,
        marker="CD8",
        compartment="cell",
        method="gmm",
        confidence=0.9,
        cofactor=150.0,
        crop=rng.random((60, 60)),
        cell_labels=labels,
        positive_ids=[2],
        pixel_size_um=0.5,
    )
    hist, crop = fig.axes
    assert np.isclose(hist.lines[0].get_xdata()[0], np.arcsinh(500 / 150))
    rgb = crop.images[0].get_array()
    assert np.allclose(rgb[30, 35], (1.0, 0.15, 0.15))  # outline of the positive cell, red
    assert not np.allclose(rgb[5, 10], (1.0, 0.15, 0.15))  # the negative cell is not red


def test_gating_figure_without_gate_or_crop():
    fig = gating_figure(
        np.full(50, 3.0),
        np.nan,
        marker="MPO",
        compartment="cell",
        method="undefined",
        confidence=0.0,
        cofactor=np.nan,
    )
    assert len(fig.axes) == 1
    assert "undefined" in fig.axes[0].get_title()
