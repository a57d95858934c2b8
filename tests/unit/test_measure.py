"""Cell measurement: hand-checked means, ring vs nucleus, tiled == whole image."""

import numpy as np
import pandas as pd
import pytest
from skimage.draw import ellipse
from skimage.measure import regionprops

from frontline import io, measure
from frontline.errors import FrontlineInputError
from frontline.measure import expand_nuclei, intensity_columns, measure_cells


def two_squares():
    """Two 4x4 nuclei on a 40x40 image; channel 'nuc' is 10 inside nuclei, 1 outside;
    channel 'mem' is 0 inside nuclei, 5 in the 2-px band around them, 0 elsewhere."""
    labels = np.zeros((40, 40), np.uint32)
    labels[10:14, 10:14] = 1
    labels[25:29, 20:24] = 7
    nuc = np.where(labels > 0, 10.0, 1.0)
    mem = np.zeros((40, 40))
    for lab in (1, 7):
        grown = expand_nuclei(np.where(labels == lab, lab, 0), 2.0) == lab
        mem[grown & (labels == 0)] = 5.0
    return np.stack([nuc, mem]).astype(np.float32), labels


def test_means_areas_and_centroid_match_hand_computation():
    image, labels = two_squares()
    # 0.5 µm/px and a 1 µm growth = 2 px, exactly the band painted into 'mem'
    cells = measure_cells(
        image, labels, pixel_size_um=0.5, channels=["nuc", "mem"], cell_expansion_um=1.0
    )
    assert list(cells["cell_id"]) == [1, 7]
    first = cells.iloc[0]
    # centroid of rows/cols 10..13 is 11.5 px -> (11.5 + 0.5) * 0.5 µm
    assert first["x_um"] == pytest.approx(6.0)
    assert first["y_um"] == pytest.approx(6.0)
    assert first["nucleus_area_um2"] == pytest.approx(16 * 0.25)
    grown_px = (expand_nuclei(labels, 2.0) == 1).sum()
    assert grown_px == 16 + 4 * 4 * 2 + 4  # sides 2 px deep; one corner px each (√2 ≤ 2 < √5)
    assert first["cell_area_um2"] == pytest.approx(grown_px * 0.25)
    assert first["nuc_nucleus_mean"] == pytest.approx(10.0)
    assert first["nuc_ring_mean"] == pytest.approx(1.0)
    assert first["nuc_cell_mean"] == pytest.approx((16 * 10 + (grown_px - 16)) / grown_px)
    assert first["mem_nucleus_mean"] == 0
    assert first["mem_ring_mean"] == pytest.approx(5.0)
    assert first["eccentricity"] == pytest.approx(0.0, abs=1e-9)
    assert first["solidity"] == pytest.approx(1.0)


def test_ring_excludes_nucleus_and_empty_ring_is_nan():
    image, labels = two_squares()
    cells = measure_cells(image, labels, 0.5, ["nuc", "mem"], cell_expansion_um=0.0)
    assert (cells["cell_area_um2"] == cells["nucleus_area_um2"]).all()
    assert cells["nuc_ring_mean"].isna().all()
    assert (cells["nuc_cell_mean"] == cells["nuc_nucleus_mean"]).all()


def test_touching_nuclei_share_no_pixels():
    labels = np.zeros((30, 30), np.uint32)
    labels[10:20, 5:15] = 1
    labels[10:20, 15:25] = 2  # touching: no room to grow towards each other
    image = np.ones((1, 30, 30), np.float32)
    cells = measure_cells(image, labels, 1.0, ["a"], cell_expansion_um=3.0)
    grown = expand_nuclei(labels, 3.0)
    assert cells["cell_area_um2"].sum() == pytest.approx((grown > 0).sum())
    assert cells["cell_area_um2"].sum() < 2 * (10 * 10 + 4 * 10 * 3 + 4 * 9)


def random_nuclei(shape=(500, 620), n=400, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.uint32)
    k = 1
    for _ in range(n):
        r, c = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        rr, cc = ellipse(
            r, c, rng.uniform(2, 9), rng.uniform(2, 14), shape=shape, rotation=rng.uniform(0, np.pi)
        )
        if (labels[rr, cc] == 0).all():
            labels[rr, cc] = 3 * k + 100  # ids need not be consecutive
            k += 1
    image = rng.gamma(2.0, 50.0, size=(3,) + shape).astype(np.float32)
    return image, labels


@pytest.mark.parametrize("tile_px", [97, 128, 256])
def test_tiled_equals_whole_image(tile_px):
    image, labels = random_nuclei()
    whole = measure_cells(image, labels, 0.65, ["a", "b", "c"], cell_expansion_um=3.0, tile_px=4096)
    tiled = measure_cells(
        image, labels, 0.65, ["a", "b", "c"], cell_expansion_um=3.0, tile_px=tile_px
    )
    assert len(whole) == len(np.unique(labels)) - 1  # every nucleus once, edge ones included
    pd.testing.assert_frame_equal(whole, tiled)
    threads = measure_cells(
        image,
        labels,
        0.65,
        ["a", "b", "c"],
        cell_expansion_um=3.0,
        tile_px=tile_px,
        ring_median=["b"],
        workers=3,
    )
    pd.testing.assert_frame_equal(whole, threads[whole.columns])  # channels on 3 threads


def test_big_nucleus_across_tiles_is_measured_once_whole():
    labels = np.zeros((300, 300), np.uint32)
    rr, cc = ellipse(150, 150, 40, 120, shape=labels.shape)  # wider than tile + halo
    labels[rr, cc] = 5
    image = np.ones((1, 300, 300), np.float32)
    cells = measure_cells(image, labels, 1.0, ["a"], cell_expansion_um=1.0, tile_px=64)
    assert list(cells["cell_id"]) == [5]
    assert cells["nucleus_area_um2"].iloc[0] == pytest.approx(len(rr))


def test_shape_features_agree_with_scikit_image():
    _, labels = random_nuclei(n=150, seed=3)
    cells = measure_cells(np.zeros((1,) + labels.shape, np.float32), labels, 1.0, ["a"])
    props = {p.label: p for p in regionprops(labels.astype(np.int64))}
    ecc = np.array([props[i].eccentricity for i in cells["cell_id"]])
    sol = np.array([props[i].solidity for i in cells["cell_id"]])
    assert np.abs(cells["eccentricity"] - ecc).max() < 1e-9
    assert np.abs(cells["solidity"] - sol).median() < 0.03
    assert cells["solidity"].between(0, 1).all()


def test_notched_nucleus_has_low_solidity():
    labels = np.zeros((60, 60), np.uint32)
    labels[10:50, 10:50] = 1
    labels[10:45, 25:35] = 0  # a deep notch: a U shape
    cells = measure_cells(np.zeros((1, 60, 60), np.float32), labels, 1.0, ["a"])
    assert cells["solidity"].iloc[0] == pytest.approx(1250 / 1600, abs=0.03)


def test_column_names_and_types():
    image, labels = two_squares()
    cells = measure_cells(image, labels, 0.5, ["nuc", "mem"])
    assert list(cells.columns[:7]) == [
        "cell_id",
        "x_um",
        "y_um",
        "nucleus_area_um2",
        "cell_area_um2",
        "eccentricity",
        "solidity",
    ]
    assert list(cells.columns[7:]) == intensity_columns(["nuc", "mem"])
    assert cells["cell_id"].dtype == np.int64


def test_no_nuclei_gives_empty_table_with_columns():
    cells = measure_cells(
        np.ones((2, 50, 50), np.float32), np.zeros((50, 50), np.uint32), 1.0, ["a", "b"]
    )
    assert len(cells) == 0
    assert "b_ring_mean" in cells.columns


def test_tiled_equals_whole_image_on_simulated_tissue():
    from frontline.simulate import simulate_tissue

    sim = simulate_tissue("inflamed", (512, 512), 0.5, seed=5)
    whole = measure_cells(sim.image, sim.labels, 0.5, sim.channels, tile_px=4096)
    tiled = measure_cells(sim.image, sim.labels, 0.5, sim.channels, tile_px=200)
    assert len(whole) == len(sim.cells)
    pd.testing.assert_frame_equal(whole, tiled)
    # the measured centroids are the simulator's truth centroids
    truth = sim.cells.set_index("cell_id").loc[whole["cell_id"]]
    assert np.abs(whole["x_um"].to_numpy() - truth["x_um"].to_numpy()).max() < 1e-6


def test_ring_median_is_the_median_over_each_ring():
    image, labels = random_nuclei()
    cells = measure_cells(
        image,
        labels,
        0.65,
        ["a", "b", "c"],
        cell_expansion_um=3.0,
        ring_median=["b", "not_a_channel"],
    )
    assert list(cells.columns[7:]) == intensity_columns(["a", "b", "c"], ring_median=["b"])
    grown = expand_nuclei(labels, 3.0 / 0.65)
    ring = grown != labels
    for row in cells.sample(25, random_state=0).itertuples():
        pixels = image[1][ring & (grown == row.cell_id)]
        expected = np.median(pixels) if pixels.size else np.nan
        np.testing.assert_allclose(row.b_ring_median, expected, rtol=1e-6)
    tiled = measure_cells(
        image, labels, 0.65, ["a", "b", "c"], cell_expansion_um=3.0, tile_px=97, ring_median=["b"]
    )
    pd.testing.assert_frame_equal(cells, tiled)
    boxed = measure_cells(
        *two_squares(), 0.5, ["nuc", "mem"], cell_expansion_um=0.0, ring_median=["mem"]
    )
    assert boxed["mem_ring_median"].isna().all()  # no ring: absent, not dark


def test_ring_median_ignores_keratin_on_one_side_of_the_ring():
    """A stromal nucleus touching a keratin-filled tumour cell: the neighbour's cytoplasm
    fills one side of the stromal cell's ring, which lifts its ring mean but not its median;
    the tumour cell's ring is keratin all round."""
    from skimage.draw import disk

    labels = np.zeros((80, 90), np.uint32)
    keratin = np.zeros((80, 90), np.float32)
    keratin[disk((40, 30), 17, shape=keratin.shape)] = 100.0  # tumour cytoplasm, 17 px
    labels[disk((40, 30), 8, shape=labels.shape)] = 1  # tumour nucleus
    labels[disk((40, 53), 4, shape=labels.shape)] = 2  # stromal nucleus, 15 px off
    keratin[labels == 2] = 0.0
    cells = measure_cells(
        keratin[None], labels, 0.5, ["PanCK"], cell_expansion_um=3.0, ring_median=["PanCK"]
    ).set_index("cell_id")
    assert cells.loc[1, "PanCK_ring_median"] == 100.0
    assert cells.loc[2, "PanCK_ring_mean"] > 10.0  # a sixth or more of its ring is keratin
    assert cells.loc[2, "PanCK_ring_median"] == 0.0


def test_labels_must_cover_the_image_pixel_for_pixel():
    image = io.ArrayImage(np.zeros((1, 40, 50), np.uint16), ["DAPI"], pixel_size_um=0.5)
    with pytest.raises(FrontlineInputError, match=r"labels are \(40, 49\) px but the image is"):
        measure_cells(image, np.zeros((40, 49), np.uint32), 0.5)
    coarser = io.ArrayLabels(np.zeros((40, 50), np.uint32), pixel_size_um=0.65)
    with pytest.raises(FrontlineInputError, match="0.65 µm/px but the image has 0.5 µm/px"):
        measure_cells(image, coarser, 0.5)
    same = io.ArrayLabels(np.zeros((40, 50), np.uint32), pixel_size_um=0.502)
    assert len(measure_cells(image, same, 0.5)) == 0


def test_tile_helpers_give_what_unique_and_lexsort_give():
    rng = np.random.default_rng(0)
    for labels in (
        rng.integers(0, 500, (64, 80)).astype(np.uint32),
        rng.integers(0, 2**31, (8, 8)).astype(np.uint32),  # ids far above the pixel count
    ):
        ids, compact = measure.compact_labels(labels)
        expected_ids, inverse = np.unique(labels, return_inverse=True)
        assert np.array_equal(ids, expected_ids) and ids.dtype == labels.dtype
        assert np.array_equal(compact, inverse.reshape(labels.shape))
    groups = rng.integers(0, 50, 5000)
    for values in (rng.integers(0, 65535, 5000).astype(np.uint16), rng.normal(size=5000)):
        got = measure._label_medians(groups, values, 60)
        expected = [
            np.median(values[groups == g]) if (groups == g).any() else np.nan for g in range(60)
        ]
        assert np.array_equal(got, np.array(expected), equal_nan=True)
    plane = rng.integers(0, 4000, 5000).astype(np.uint16)
    cells = np.minimum(groups + rng.integers(0, 2, 5000), 59)
    every = np.arange(5000)
    nuc, cell = measure._label_sums(every, groups, cells, plane, 60)
    assert np.array_equal(nuc, np.bincount(groups, plane.astype(float), 60))
    assert np.array_equal(cell, np.bincount(cells, plane.astype(float), 60))
    some = np.flatnonzero(cells % 3)  # a subset of the pixels, as the cells' pixels of a tile
    nuc, cell = measure._label_sums(some, groups[some], cells[some], plane, 60)
    assert np.array_equal(cell, np.bincount(cells[some], plane[some].astype(float), 60))
