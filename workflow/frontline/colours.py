"""One colour per phenotype and per channel, shared by every figure and export.

A phenotype keeps its colour in every plot, in the QuPath export and in the AnnData file, so
a reader learns it once. Names the table below does not know get colours, in sorted order,
from a fixed qualitative list and then an sRGB grid, each far (in CIE Lab) from those given
before it, so the same names always get the same colours and no two look alike.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import numpy as np

RGB = tuple[int, int, int]  # 0-255
RGBFloat = tuple[float, float, float]  # 0-1 (matplotlib)

# RGB 0-255. Immune types in saturated hues; tumour and unclassified cells muted.
KNOWN_PHENOTYPES = {
    "tumor": (46, 160, 67),
    "CD8_T": (228, 26, 28),
    "T_helper": (255, 127, 0),
    "T_cell": (247, 129, 191),
    "B_cell": (55, 126, 184),
    "macrophage": (152, 78, 163),
    "neutrophil": (0, 190, 210),
    "immune": (230, 200, 0),
    "stromal": (150, 150, 150),
    "other": (150, 150, 150),
    "unclassified": (150, 150, 150),
}

_EXTRA = [
    (141, 211, 199),
    (190, 186, 218),
    (251, 128, 114),
    (128, 177, 211),
    (253, 180, 98),
    (179, 222, 105),
    (252, 205, 229),
    (188, 128, 189),
    (204, 235, 197),
    (255, 237, 111),
]

# QuPath classes of the region annotations (tumor.geojson, qupath_cells.geojson, simulator truth).
TUMOR_CLASS = "Tumor"
TISSUE_CLASS = "Tissue"
FRONT_CLASS = "Invasive front"
REGION_COLOURS = {
    TUMOR_CLASS: (200, 0, 0),
    TISSUE_CLASS: (150, 150, 150),
    FRONT_CLASS: (255, 200, 0),
}


def region_colour(name: str) -> RGB:
    """The colour (r, g, b ints 0-255) of a region class, matched without regard to case
    (``Tumour`` is ``Tumor``); grey for other names."""
    key = str(name).strip().lower()
    aliases = {"tumour": TUMOR_CLASS, "front": FRONT_CLASS}
    by_lower = {k.lower(): k for k in REGION_COLOURS}
    cls = aliases.get(key, by_lower.get(key))
    return REGION_COLOURS[cls] if cls else (200, 200, 200)


# The four regions of the spatial step (in their order) and the immune phenotype calls, as the
# report figures show them (matplotlib colours).
SPATIAL_REGION_COLOURS = {
    "tumor_core": "#8c1c13",
    "inner_margin": "#e0663d",
    "outer_margin": "#6aaed6",
    "stroma": "#1f4e8c",
}
CALL_COLOURS = {
    "inflamed": "#c0392b",
    "excluded": "#d68910",
    "desert": "#7f8c8d",
    "no_front": "#5d6d7e",
    "not_computable": "#aab7b8",
}


# Pseudo-colours of the usual mIF channels in a composite (RGB 0-1).
KNOWN_CHANNELS = {
    "DAPI": (0.15, 0.35, 1.0),
    "PanCK": (0.1, 0.9, 0.2),
    "CD45": (0.9, 0.9, 0.0),
    "CD3": (1.0, 0.55, 0.0),
    "CD8": (1.0, 0.1, 0.1),
    "CD20": (0.0, 0.9, 0.9),
    "CD68": (1.0, 0.0, 1.0),
    "MPO": (0.6, 0.4, 1.0),
}
_EXTRA_CHANNELS = [
    (1.0, 0.5, 0.5),
    (0.5, 1.0, 0.5),
    (0.5, 0.5, 1.0),
    (1.0, 1.0, 0.5),
    (0.5, 1.0, 1.0),
    (1.0, 0.5, 1.0),
]


def phenotype_colours(names: Iterable[str]) -> dict[str, RGB]:
    """A colour for every phenotype name, no two alike.

    Known names keep their colour (``KNOWN_PHENOTYPES``; the greys of tumour-free classes are
    shared on purpose). Other names, in sorted order, take the first colour of a fixed
    qualitative list that is at least ``MIN_DELTA_E`` (CIE76 ΔE in Lab) from every colour given
    so far, and past that list the colour of an sRGB grid farthest from all of them, so a
    panel of 20 or 40 phenotypes never shows two in one colour.

    Parameters
    ----------
    names : iterable of str

    Returns
    -------
    dict str -> (r, g, b) ints 0-255
    """
    names = sorted(set(str(n) for n in names))
    colours = {n: KNOWN_PHENOTYPES[n] for n in names if n in KNOWN_PHENOTYPES}
    used = list(_lab([*colours.values(), *BACKGROUNDS]))
    for name in (n for n in names if n not in KNOWN_PHENOTYPES):
        rgb = _most_distinct(np.asarray(used))
        colours[name] = rgb
        used.extend(_lab([rgb]))
    return colours


MIN_DELTA_E = 20.0  # Lab distance at which two phenotype colours are told apart at a glance
BACKGROUNDS = [(31, 31, 31), (255, 255, 255)]  # the overview's dark field and a white page


def _lab(colours: list[RGB]) -> np.ndarray:
    """(n, 3) CIE Lab of n colours (r, g, b ints 0-255)."""
    from skimage.color import rgb2lab

    rgb = np.asarray(colours, dtype=float).reshape(-1, 1, 3) / 255
    return rgb2lab(rgb).reshape(-1, 3)


@functools.cache
def _candidates() -> tuple[list[RGB], np.ndarray, list[RGB], np.ndarray]:
    """``_EXTRA`` and the sRGB grid (steps of 51, lightness 50-90), each with its Lab."""
    levels = range(0, 256, 51)
    grid = [(r, g, b) for r in levels for g in levels for b in levels]
    lab = _lab(grid)
    keep = (lab[:, 0] >= 50) & (lab[:, 0] <= 90)
    return _EXTRA, _lab(_EXTRA), [c for c, k in zip(grid, keep) if k], lab[keep]


def _most_distinct(used_lab: np.ndarray) -> RGB:
    """The first colour of ``_EXTRA`` at least ``MIN_DELTA_E`` from every used colour (Lab),
    else the grid colour farthest from them (ties: the first in grid order)."""
    extra, extra_lab, grid, grid_lab = _candidates()
    for rgb, lab in zip(extra, extra_lab):
        if np.linalg.norm(used_lab - lab, axis=1).min() >= MIN_DELTA_E:
            return rgb
    nearest = np.linalg.norm(grid_lab[:, None, :] - used_lab[None, :, :], axis=2).min(axis=1)
    return grid[int(np.argmax(nearest))]


def phenotype_colours_float(names: Iterable[str]) -> dict[str, RGBFloat]:
    """As :func:`phenotype_colours`, as matplotlib colours (r, g, b floats 0-1)."""
    return {n: tuple(v / 255 for v in rgb) for n, rgb in phenotype_colours(names).items()}


def channel_colours(channels: Iterable[str]) -> dict[str, RGBFloat]:
    """A pseudo-colour (r, g, b floats 0-1) for every channel name, in the given order."""
    colours, extra = {}, 0
    for name in channels:
        if name in KNOWN_CHANNELS:
            colours[name] = KNOWN_CHANNELS[name]
        else:
            colours[name] = _EXTRA_CHANNELS[extra % len(_EXTRA_CHANNELS)]
            extra += 1
    return colours
