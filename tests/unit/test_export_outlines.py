"""Cell outlines (frontline.export.outlines): polygons that cover exactly their labels, tiled ==
whole image."""

import numpy as np
from matplotlib.path import Path
from scipy import ndimage
from skimage.segmentation import expand_labels

from frontline.export import cell_outlines, label_outlines
from frontline.measure import expand_nuclei


def random_cells(size=150, n=120, grow=3, seed=0):
    """Seeds grown into touching, irregular cells (like expanded nuclei), labels 1..n."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((size, size), np.uint32)
    labels[rng.integers(0, size, n), rng.integers(0, size, n)] = np.arange(1, n + 1)
    return expand_labels(labels, grow)


def rasterise(rings, shape):
    """Pixels whose centre lies inside the outline and outside its holes."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    centres = np.column_stack([xx.ravel() + 0.5, yy.ravel() + 0.5])
    inside = Path(rings[0]).contains_points(centres)
    for hole in rings[1:]:
        inside &= ~Path(hole).contains_points(centres)
    return inside.reshape(shape)


def test_a_square_label_gives_its_four_pixel_corners_clockwise():
    labels = np.zeros((6, 8), np.uint32)
    labels[1:3, 2:5] = 9  # rows 1-2, cols 2-4
    ids, rings = label_outlines(labels)
    assert ids.tolist() == [9]
    assert rings[0][0].tolist() == [[2, 1], [5, 1], [5, 3], [2, 3], [2, 1]]


def test_a_hole_is_kept_as_an_inner_ring():
    labels = np.zeros((7, 7), np.uint32)
    labels[1:6, 1:6] = 3
    labels[3, 3] = 4
    ids, rings = label_outlines(labels)
    assert ids.tolist() == [3, 4]
    assert len(rings[0]) == 2  # outline + hole
    assert rings[0][1].tolist() == [[3, 3], [3, 4], [4, 4], [4, 3], [3, 3]]
    assert rasterise(rings[0], labels.shape).sum() == 24


def test_pixels_touching_only_at_a_corner_are_separate_pieces_largest_kept():
    labels = np.zeros((6, 6), np.uint32)
    labels[1:3, 1:3] = 5  # 4 px
    labels[3, 3] = 5  # 1 px, touching at a corner only
    ids, rings = label_outlines(labels)
    assert ids.tolist() == [5]
    assert rings[0][0].tolist() == [[1, 1], [3, 1], [3, 3], [1, 3], [1, 1]]


def test_outlines_cover_exactly_the_pixels_of_their_label():
    labels = random_cells()
    ids, rings = label_outlines(labels)
    assert ids.tolist() == np.unique(labels[labels > 0]).tolist()
    checked = 0
    for label, outline in zip(ids, rings):
        if ndimage.label(labels == label)[1] != 1:
            continue  # split labels keep their largest piece only
        np.testing.assert_array_equal(rasterise(outline, labels.shape), labels == label)
        checked += 1
    assert checked >= 110


def test_tiled_cell_outlines_equal_the_whole_image():
    nuclei = random_cells(size=160, n=150, grow=2, seed=3)
    whole_ids, whole = label_outlines(expand_nuclei(nuclei, 4.0))
    ids, rings = cell_outlines(nuclei, expansion_px=4.0, tile_px=37)
    assert ids.tolist() == whole_ids.tolist()
    for a, b in zip(rings, whole):
        assert len(a) == len(b)
        for ra, rb in zip(a, b):
            np.testing.assert_array_equal(ra, rb)


def test_cell_outlines_reports_progress_per_tile():
    calls = []
    cell_outlines(
        random_cells(size=64, n=10),
        1.0,
        tile_px=32,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
