"""Normalisation (frontline.segment.normalisation): sampled percentiles, saved for tile jobs."""

import numpy as np
import pytest

from frontline import segment as sg
from frontline.errors import FrontlineInputError
from frontline.simulate import simulate_tissue


def dapi_of(sim):
    return sim.image[sim.channels.index("DAPI")]


def reader(array):
    return lambda w: array[w[0] : w[1], w[2] : w[3]]


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


def test_tile_jobs_read_the_saved_normalisation_of_their_channel(tmp_path):
    norm = sg.Normalisation(101.5, 2345.25, 87.0, True)
    path = tmp_path / "tiles" / "normalisation.json"
    sg.save_normalisation(path, norm, (1.0, 99.8), "DAPI")
    assert sg.load_normalisation(path, "DAPI") == norm
    with pytest.raises(FrontlineInputError, match="computed for channel 'DAPI', not 'Hoechst'"):
        sg.load_normalisation(path, "Hoechst")
    # an image without signal keeps its verdict (and an infinite contrast stays readable)
    sg.save_normalisation(path, sg.Normalisation(5.0, 5.0, float("inf"), False), (1, 99), "DAPI")
    back = sg.load_normalisation(path, "DAPI")
    assert back.signal is False and back.contrast == 1e300
