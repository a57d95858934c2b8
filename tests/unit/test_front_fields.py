"""The front's rasters and outlines: compiled distance transform and smoothing, frame snap."""

import numpy as np
import pytest
from scipy import ndimage

from frontline.edt import distance_transform


@pytest.mark.parametrize(
    "shape, background, raster_um",
    [
        ((7, 5), 0.3, 2.0),
        ((300, 411), 0.01, 2.0),  # sparse background: long parabola envelopes
        ((120, 130), 0.999, 4.0),  # almost all background
        ((64, 1), 0.2, 2.0),  # one column
        ((1, 64), 0.2, 2.0),  # one row
        ((200, 300), 0.0005, 1.0),  # whole columns without background
    ],
)
def test_distance_transform_is_scipys_bit_for_bit(shape, background, raster_um):
    rng = np.random.default_rng(sum(shape))
    mask = rng.random(shape) >= background
    mask[rng.integers(shape[0]), rng.integers(shape[1])] = False  # at least one background pixel
    expected = ndimage.distance_transform_edt(mask, sampling=raster_um)
    assert np.array_equal(distance_transform(mask, raster_um), expected)
    # in strips on three threads, and into float32 (scipy's values rounded)
    assert np.array_equal(distance_transform(mask, raster_um, workers=3), expected)
    out = np.empty(shape, dtype=np.float32)
    assert distance_transform(mask, raster_um, workers=2, out=out) is out
    assert np.array_equal(out, expected.astype(np.float32))


def test_distance_transform_at_any_pixel_size_and_without_background():
    rng = np.random.default_rng(5)
    mask = rng.random((257, 190)) > 0.002
    mask[3, 4] = False
    got = distance_transform(mask, 0.37)
    np.testing.assert_allclose(got, ndimage.distance_transform_edt(mask, sampling=0.37), rtol=1e-14)
    # a lone background pixel in the corner: the distances are the exact Euclidean ones
    lone = np.ones((40, 30), dtype=bool)
    lone[0, 0] = False
    rows, cols = np.indices(lone.shape)
    np.testing.assert_allclose(
        distance_transform(lone, 2.0), 2.0 * np.hypot(rows, cols), rtol=1e-15
    )
    everywhere = np.ones((5, 6), dtype=bool)  # no background: scipy's answer
    assert np.array_equal(
        distance_transform(everywhere, 2.0),
        ndimage.distance_transform_edt(everywhere, sampling=2.0),
    )


def test_snap_to_frame_equals_closing_the_whole_region():
    import shapely
    from shapely.geometry import MultiPolygon, Point, box

    from frontline.front import snap_to_frame
    from frontline.front.tissue import close_against
    from frontline.geometry import as_multipolygon

    rng = np.random.default_rng(2)
    frame = MultiPolygon([box(0, 0, 1000, 800).difference(Point(500, 400).buffer(120))])
    discs = [Point(*rng.uniform(0, 1000, 2)).buffer(rng.uniform(5, 60)) for _ in range(60)]
    region = as_multipolygon(shapely.union_all(discs).intersection(frame))
    tol = 8.0
    band = frame.boundary.buffer(tol, quad_segs=4).intersection(frame)
    outside = box(-100, -100, 1100, 900).difference(frame)
    closed = close_against(region, outside, tol).intersection(band)
    touching = [p for p in as_multipolygon(closed).geoms if p.intersects(region)]
    expected = region.union(shapely.union_all(touching))
    got = snap_to_frame(region, frame, tol)
    assert got.is_valid and got.area > region.area  # parts near the outline grew
    assert got.symmetric_difference(expected).area < 1e-6 * expected.area
    assert len(got.geoms) == len(as_multipolygon(expected).geoms)


def test_snap_to_frame_fills_the_gap_without_wedges_along_the_frame():
    """A round core whose outline passes 5 µm from the image border (tolerance 20 µm): the gap
    where it is narrower than 20 µm fills and the core reaches the border there; nothing is
    added along the border beyond that stretch (growing the core by 20 µm put wedges of tissue
    52 µm to each side of it)."""
    from shapely.geometry import LineString, MultiPolygon, Point, box

    from frontline.front import snap_to_frame

    frame = MultiPolygon([box(0, 0, 1000, 1000)])
    core = Point(500, 1000 - 305).buffer(300, quad_segs=64)
    got = snap_to_frame(MultiPolygon([core]), frame, 20.0)
    added = got.difference(core)
    # where the gap is under 20 µm: |x - 500| < sqrt(300² - 285²) = 93.7 µm
    on_border = got.intersection(LineString([(0, 1000), (1000, 1000)]))
    assert 2 * 93.7 - 10 <= on_border.length <= 2 * 93.7 + 10
    minx, miny, maxx, maxy = added.bounds
    assert miny >= 1000 - 20 - 1e-6 and maxy <= 1000 + 1e-9  # only in the band along the border
    assert minx >= 500 - 93.7 - 15 and maxx <= 500 + 93.7 + 15  # no wedge reaching beyond it
    # the gap where it is under 20 µm: 187 µm long, 9.9 µm wide on average (5 + dx² / 600)
    assert 0.7 * 1855 <= added.area <= 1.05 * 1855
    assert len(got.geoms) == 1  # the frame's own corners, which the closing rounds, are not added


@pytest.mark.parametrize("shape, sigma", [((60, 45), 3.0), ((7, 9), 3.0), ((200, 13), 1.5)])
def test_smooth_is_scipys_gaussian_filter_bit_for_bit(shape, sigma):
    from frontline.front.fields import smooth

    field = np.random.default_rng(3).random(shape) * 40.0  # lines shorter than the kernel too
    expected = ndimage.gaussian_filter(field, sigma)
    assert np.array_equal(smooth(field, sigma), expected)
    assert np.array_equal(smooth(field, sigma, workers=3), expected)
    # float32 in and out, summed in float64: scipy's float64 values to float32 precision
    single = field.astype(np.float32)
    got = smooth(single, sigma, workers=2)
    assert got.dtype == np.float32
    exact = ndimage.gaussian_filter(single.astype(np.float64), sigma)
    np.testing.assert_allclose(got, exact, rtol=2e-7, atol=0)
    with pytest.raises(ValueError, match="share memory"):
        smooth(field, sigma, out=field)


def test_absorb_empty_gaps_fills_empty_holes_and_notches_and_keeps_stroma():
    """Holes and notches of the tumor without cells join it; those with cells stay stroma; the
    same region as uniting the tumor with every empty gap."""
    import shapely
    from shapely.geometry import MultiPolygon, box

    from frontline.front.tumor import absorb_empty_gaps, holds_points
    from frontline.geometry import as_multipolygon, polygon_parts

    tissue = MultiPolygon([box(0, 0, 1000, 1000)])
    nest = box(100, 100, 600, 600).difference(box(200, 200, 260, 260))  # hole without cells
    nest = nest.difference(box(400, 400, 480, 480))  # hole with stroma cells
    notch = box(600, 0, 1000, 300).difference(box(700, 0, 760, 80))  # a notch at the edge
    island = box(215, 215, 245, 245)  # a tumor island in the empty hole
    tumor = as_multipolygon(shapely.union_all([nest, notch, island]))
    rng = np.random.default_rng(0)
    stroma = rng.uniform(0, 1000, (4000, 2))
    stroma = stroma[~shapely.contains_xy(tumor, stroma[:, 0], stroma[:, 1])]
    empty = box(200, 200, 260, 260).union(box(700, 0, 760, 80))
    stroma = stroma[~shapely.contains_xy(empty, stroma[:, 0], stroma[:, 1])]
    got = absorb_empty_gaps(tumor, tissue, stroma)
    gaps = polygon_parts(tissue.difference(tumor))
    expected = shapely.union_all(
        [tumor] + [g for g in gaps if shapely.contains_xy(g, stroma[:, 0], stroma[:, 1]).sum() < 3]
    )
    assert got.is_valid and got.symmetric_difference(expected).area < 1e-6
    assert got.area == pytest.approx(tumor.area + 60 * 60 - 30 * 30 + 60 * 80)
    assert not shapely.contains_xy(got, 440, 440)  # the hole holding cells stays stroma
    # the point test behind it: exact, a strided sample first for big polygons
    xy = stroma[np.argsort(stroma[:, 0])]
    for gap in gaps:
        n = int(shapely.contains_xy(gap, xy[:, 0], xy[:, 1]).sum())
        assert holds_points(gap, xy, 3) == (n >= 3)
        assert holds_points(gap, xy, n + 1) is False


@pytest.mark.parametrize(
    "shape, background", [((300, 411), 0.01), ((64, 1), 0.2), ((1, 64), 0.2), ((200, 300), 5e-4)]
)
def test_nearest_background_is_a_nearest_background_pixel(shape, background):
    from frontline.edt import nearest_background

    rng = np.random.default_rng(sum(shape))
    mask = rng.random(shape) >= background
    mask[rng.integers(shape[0]), rng.integers(shape[1])] = False
    expected = ndimage.distance_transform_edt(mask)
    for workers in (1, 3):
        rows, cols = np.divmod(nearest_background(mask, workers), shape[1])
        assert not mask[rows, cols].any()  # a background pixel, at the nearest distance
        r, c = np.indices(shape)
        np.testing.assert_allclose(np.hypot(r - rows, c - cols), expected, rtol=1e-12)
    with pytest.raises(ValueError, match="no background"):
        nearest_background(np.ones((3, 3), dtype=bool))
