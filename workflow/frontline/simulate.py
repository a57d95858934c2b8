"""Synthetic multiplex immunofluorescence (mIF) tissue with known truth.

A simulated sample is a tumor (irregular nests, an invasive front, stroma around it) whose
cells are drawn from a known density model, painted as realistic fluorescence nuclei with
membrane/cytoplasm marker signal, blurred, with background and camera noise. Everything is
in µm and deterministic from a seed (``numpy.random.Generator`` streams keyed by the seed).

Channels: DAPI, PanCK, CD45, CD3, CD8, CD68, CD20, MPO.

Phenotypes and markers
----------------------
=========== ======================= ===========================================
phenotype   markers                 nucleus
=========== ======================= ===========================================
tumor       PanCK (cytoplasm+membr.) 10-16 µm, irregular, dim textured, crowded
CD8_T       CD45, CD3, CD8 (membr.)  6-7 µm round, bright
T_helper    CD45, CD3 (membr.)       6-7 µm round, bright
B_cell      CD45, CD20 (membr.)      6-7 µm round, bright
macrophage  CD45, CD68 (cytoplasm)   9-12.5 µm, oval/bean, large cytoplasm
neutrophil  CD45 (dim), MPO (cyto.)  3-4 connected lobes, ~8-9 µm overall
stromal     none (fibroblast)        elongated, 12-18 x 3.5-5 µm
=========== ======================= ===========================================

Density model (cells per mm² against signed distance ``d`` to the front, µm, negative
inside the tumor), the same for every slide size; see :func:`expected_density_per_mm2`::

    s(d)    = 1 / (1 + exp(-d / 8 µm))                      # 0 inside -> 1 in stroma
    band(d) = exp(-0.5 * ((d - 25 µm) / 30 µm)**2)          # a pile just outside the front
    lambda(d) = inside + (outside - inside) * s(d) + peak * s(d) * band(d)
    tumor:  lambda(d) = 2600 if d < 0 else 0               # a hard edge

with (inside, outside, peak) in cells/mm² (see ``DENSITY_TABLE``):

=========== =============== =============== ===============
phenotype   inflamed        excluded        desert
=========== =============== =============== ===============
CD8_T       320, 180, 120   15, 120, 700    6, 12, 0
T_helper    200, 200, 80    10, 120, 450    6, 14, 0
B_cell      30, 80, 20      2, 60, 120      1, 4, 0
macrophage  180, 120, 60    25, 100, 300    12, 20, 0
neutrophil  60, 40, 20      5, 30, 60       3, 6, 0
stromal     120, 1100, 0    120, 1100, 0    120, 1100, 0
tumor       2600 inside     2600 inside     2600 inside
=========== =============== =============== ===============

Cells are an inhomogeneous Poisson process thinned from these densities (immune cells are
placed first, then tumor, then stromal cells), then placed with rejection sampling so that
nuclei do not overlap (tumor nuclei may overlap each other by up to 12 % of their area:
crowded, touching); truth labels are non-overlapping, an earlier painted nucleus keeping a
shared pixel. A rejected cell is retried at new positions drawn from the same density, so the
measured immune densities follow the model within counting noise; tumor cells come out 0-10 %
below 2600/mm² (most in `inflamed`, whose immune cells inside the tumor take room), and
stromal cells fall short just inside the front (-10..0 µm), where tumor cells leave no room
for elongated nuclei.

Placement works in 32 µm blocks, each with its own seeded random stream, processed in four
checkerboard phases so that a block depends only on its neighbours: any window of a slide can
be generated on its own and tiles join seamlessly (:func:`write_large_slide`). The tumor is the
super-level set of a smooth random field (plane waves of 150-700 µm wavelength; one central
mass in :func:`simulate_tissue`, mm-scale masses and nests on big slides), pushed to stroma
near the image border so the whole front lies inside the image. The truth tumor (and each
cell's ``dist_front_um``) is that region as its cells show it (:func:`observable_tumor`):
specks holding fewer than 5 tumor cells and holes holding no cell are left out.

Image formation per pixel: DAPI = nuclear level x (1 + chromatin texture, bright
chromocentres); a marker = expression x (membrane ring + cytoplasm + a little nucleus, with
granular texture for CD68 and MPO), per-cell log-normal expression (sigma 0.45), a small
non-specific level in negative cells (~5 % of positive), 2 % keratin-low tumor cells, 12 %
lateral spill-over (Gaussian, 2 µm) into neighbours, PSF blur (Gaussian, 0.35 µm),
extracellular autofluorescence and a flat background, then Poisson shot noise, a camera offset
of 100 and Gaussian read noise (4 counts), as uint16. Automatic gating of cell means (3 µm
around the nucleus) separates tumor from immune cells at ~97-99 %: markers are gateable, not
trivially separable.
"""

import logging
from dataclasses import dataclass, field
from functools import reduce

import numpy as np
import pandas as pd
import shapely
from scipy import ndimage
from skimage import measure, segmentation

from .colours import REGION_COLOURS, TUMOR_CLASS

log = logging.getLogger(__name__)

CHANNELS = ("DAPI", "PanCK", "CD45", "CD3", "CD8", "CD68", "CD20", "MPO")
PHENOTYPES = ("tumor", "CD8_T", "T_helper", "B_cell", "macrophage", "neutrophil", "stromal")
IMMUNE = ("CD8_T", "T_helper", "B_cell", "macrophage", "neutrophil")
PRESETS = ("inflamed", "excluded", "desert")

# preset -> phenotype -> (inside, outside, peak at the front), cells/mm²
DENSITY_TABLE = {
    "inflamed": {
        "CD8_T": (320, 180, 120),
        "T_helper": (200, 200, 80),
        "B_cell": (30, 80, 20),
        "macrophage": (180, 120, 60),
        "neutrophil": (60, 40, 20),
    },
    "excluded": {
        "CD8_T": (15, 120, 700),
        "T_helper": (10, 120, 450),
        "B_cell": (2, 60, 120),
        "macrophage": (25, 100, 300),
        "neutrophil": (5, 30, 60),
    },
    "desert": {
        "CD8_T": (6, 12, 0),
        "T_helper": (6, 14, 0),
        "B_cell": (1, 4, 0),
        "macrophage": (12, 20, 0),
        "neutrophil": (3, 6, 0),
    },
}
for _table in DENSITY_TABLE.values():
    _table["stromal"] = (120, 1100, 0)
    _table["tumor"] = (2600, 0, 0)

TRANSITION_UM = 8.0  # width of the inside -> outside step (logistic scale)
BAND_CENTER_UM = 25.0  # the pile at the front sits this far out in the stroma
BAND_SIGMA_UM = 30.0
DIST_CLIP_UM = 250.0  # beyond this distance every density is flat
BLOCK_UM = 32.0  # placement block; must exceed twice REACH_UM
LATTICE_UM = 2.0  # grid of the tumor field
OCC_UM = 1.0  # grid of the overlap test
MAX_PER_BLOCK = 1024  # cell ids: block index * MAX_PER_BLOCK + k + 1
HALO_UM = 40.0  # context around a rendered tile (nucleus + cytoplasm + blur)
REACH_UM = 12.0  # the farthest a nucleus reaches from its centre
CYTO_MAX_UM = 5.5  # the widest cytoplasm

_PLACE_ORDER = ("CD8_T", "T_helper", "B_cell", "macrophage", "neutrophil", "tumor", "stromal")
_CODE = {p: i for i, p in enumerate(PHENOTYPES)}

# marker -> phenotype -> mean expression of positive cells (relative units)
_POSITIVE = {
    "PanCK": {"tumor": 1.0},
    "CD45": {"CD8_T": 1.0, "T_helper": 1.0, "B_cell": 1.0, "macrophage": 0.7, "neutrophil": 0.6},
    "CD3": {"CD8_T": 1.0, "T_helper": 1.0},
    "CD8": {"CD8_T": 1.0},
    "CD68": {"macrophage": 1.0},
    "CD20": {"B_cell": 1.0},
    "MPO": {"neutrophil": 1.0},
}
# marker -> (membrane ring, cytoplasm, nucleus) weights, and granular texture amplitude
_COMPARTMENTS = {
    "PanCK": ((0.7, 1.0, 0.08), 0.25),
    "CD45": ((1.0, 0.3, 0.04), 0.2),
    "CD3": ((1.0, 0.25, 0.04), 0.2),
    "CD8": ((1.0, 0.2, 0.04), 0.2),
    "CD68": ((0.4, 1.0, 0.05), 0.6),
    "CD20": ((1.0, 0.25, 0.04), 0.2),
    "MPO": ((0.3, 1.0, 0.15), 0.6),
}
# channel -> photons at expression 1, flat background photons, autofluorescence photons
_OPTICS = {
    "DAPI": (1800.0, 20.0, 15.0),
    "PanCK": (780.0, 40.0, 45.0),
    "CD45": (660.0, 35.0, 30.0),
    "CD3": (500.0, 30.0, 25.0),
    "CD8": (460.0, 30.0, 25.0),
    "CD68": (420.0, 35.0, 40.0),
    "CD20": (460.0, 30.0, 25.0),
    "MPO": (420.0, 30.0, 30.0),
}
NEGATIVE_LEVEL = 0.05  # non-specific expression of marker-negative cells (median)
SPILL_FRACTION = 0.12
SPILL_SIGMA_UM = 2.0
KERATIN_LOW_FRACTION = 0.02  # tumor cells with a quarter of the PanCK
POSITIVE_SIGMA = 0.45  # log-normal spread of positive expression between cells
PSF_SIGMA_UM = 0.35
CAMERA_OFFSET = 100.0
READ_NOISE = 4.0
MIN_TUMOR_CELLS = 5  # the truth tumor keeps parts with at least this many tumor cells


def expected_density_per_mm2(preset, phenotype, dist_um):
    """The density model the simulator draws cells from.

    Parameters
    ----------
    preset : "inflamed" | "excluded" | "desert"
    phenotype : one of ``PHENOTYPES``
    dist_um : float or (N,) array, signed distance to the front, µm (negative inside)

    Returns
    -------
    density : float array shaped like ``dist_um``, cells per mm²
    """
    if preset not in DENSITY_TABLE:
        raise ValueError(f"unknown preset {preset!r}; choose one of {PRESETS}")
    if phenotype not in _CODE:
        raise ValueError(f"unknown phenotype {phenotype!r}; choose one of {PHENOTYPES}")
    d = np.asarray(dist_um, dtype=float)
    inside, outside, peak = DENSITY_TABLE[preset][phenotype]
    if phenotype == "tumor":
        return np.where(d < 0, float(inside), float(outside))
    s = 0.5 * (1.0 + np.tanh(d / (2.0 * TRANSITION_UM)))  # the logistic, overflow-free
    band = np.exp(-0.5 * ((d - BAND_CENTER_UM) / BAND_SIGMA_UM) ** 2)
    return inside + (outside - inside) * s + peak * s * band


# ----------------------------------------------------------------------------- the tumor


@dataclass(frozen=True)
class World:
    """Everything that defines a slide: extent, tumor field, preset and seed (µm)."""

    preset: str
    seed: int
    height_um: float
    width_um: float
    pixel_size_um: float
    modes: np.ndarray = field(repr=False)  # (K, 4): kx, ky (rad/µm), phase, amplitude
    bump: tuple | None  # (cy_um, cx_um, radius_um, height) or None
    threshold: float
    taper_um: float


def make_world(preset, shape_px, pixel_size_um, seed, central_mass=True):
    """The tumor field and parameters of a slide.

    Parameters
    ----------
    preset : "inflamed" | "excluded" | "desert"
    shape_px : (Y, X) slide size in pixels
    pixel_size_um : float, µm per pixel
    seed : int
    central_mass : bool; True puts one irregular tumor mass in the middle (small images),
        False scatters nests over the whole slide (large slides)
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {PRESETS}")
    rng = np.random.default_rng([int(seed), 1])
    height_um = shape_px[0] * pixel_size_um
    width_um = shape_px[1] * pixel_size_um
    k = 48
    wavelength = np.exp(rng.uniform(np.log(150.0), np.log(700.0), k))
    angle = rng.uniform(0, 2 * np.pi, k)
    kx = 2 * np.pi / wavelength * np.cos(angle)
    ky = 2 * np.pi / wavelength * np.sin(angle)
    phase = rng.uniform(0, 2 * np.pi, k)
    amp = np.sqrt(wavelength)
    amp *= np.sqrt(2.0 / np.sum(amp**2))  # unit variance
    modes = np.stack([kx, ky, phase, amp], axis=1)
    if not central_mass:  # add mm-scale waves: tumor masses and stroma-rich regions
        k_big = 16
        wavelength = rng.uniform(1500.0, 6000.0, k_big)
        angle = rng.uniform(0, 2 * np.pi, k_big)
        big = np.stack(
            [
                2 * np.pi / wavelength * np.cos(angle),
                2 * np.pi / wavelength * np.sin(angle),
                rng.uniform(0, 2 * np.pi, k_big),
                np.full(k_big, np.sqrt(2.0 / k_big) * 0.8),
            ],
            axis=1,
        )
        modes[:, 3] *= 0.6  # variances 0.36 + 0.64 = 1
        modes = np.concatenate([modes, big])
    extent = min(height_um, width_um)
    taper = min(120.0, 0.15 * extent)
    if central_mass:
        jitter = rng.uniform(-0.05, 0.05, 2) * extent
        bump = (height_um / 2 + jitter[0], width_um / 2 + jitter[1], 0.22 * extent, 1.4)
        threshold = 0.5
    else:
        bump = None
        threshold = 0.25  # ~40 % of the slide is tumor
    return World(
        preset, int(seed), height_um, width_um, float(pixel_size_um), modes, bump, threshold, taper
    )


def tumor_field(world, ys_um, xs_um):
    """The smooth field whose super-level set ``> world.threshold`` is the tumor.

    Parameters
    ----------
    ys_um : (ny,) float array, µm; xs_um : (nx,) float array, µm

    Returns
    -------
    field : (ny, nx) float64 array
    """
    ys = np.asarray(ys_um, float)[:, None]
    xs = np.asarray(xs_um, float)[None, :]
    out = np.zeros((ys.shape[0], xs.shape[1]))
    for kx, ky, phase, amp in world.modes:  # cos(a + b) = cos a cos b - sin a sin b
        a = kx * xs + phase
        b = ky * ys
        out += amp * (np.cos(b) * np.cos(a) - np.sin(b) * np.sin(a))
    if world.bump is not None:
        cy, cx, radius, height = world.bump
        out = 0.5 * out + height * np.exp(-0.5 * ((ys - cy) ** 2 + (xs - cx) ** 2) / radius**2)
    edge = np.minimum(np.minimum(ys, world.height_um - ys), np.minimum(xs, world.width_um - xs))
    out -= 4.0 * np.clip(1.0 - edge / world.taper_um, 0.0, 1.0) ** 2
    return out


def tumor_polygon(world, step_um=LATTICE_UM):
    """The tumor as a shapely (Multi)Polygon in µm (x right, y down, origin top-left)."""
    pad = 2 * step_um
    ys = np.arange(-pad, world.height_um + pad + step_um, step_um)
    xs = np.arange(-pad, world.width_um + pad + step_um, step_um)
    values = tumor_field(world, ys, xs)
    values[[0, -1], :] = values[:, [0, -1]] = world.threshold - 10.0  # closed contours
    rings = []
    for contour in measure.find_contours(values, world.threshold):
        if len(contour) >= 4:
            ring = shapely.Polygon(
                np.column_stack([xs[0] + contour[:, 1] * step_um, ys[0] + contour[:, 0] * step_um])
            )
            rings.append(shapely.make_valid(ring))
    if not rings:
        return shapely.MultiPolygon()
    rings.sort(key=lambda g: -g.area)
    geom = reduce(lambda a, b: a.symmetric_difference(b), rings)  # even-odd: holes
    return geom.intersection(shapely.box(0, 0, world.width_um, world.height_um))


def observable_tumor(tumor, x_um, y_um, is_tumor, min_cells=MIN_TUMOR_CELLS):
    """The truth tumor as cells show it: the field's region without its cell-free slivers.

    Where the random field only just crosses its threshold it leaves specks of "tumor" that
    hold no tumor cell, or one to a few (a tumor bud is a cluster of at most 4 cells, not a
    mass with a front), and holes that hold no cell at all. No method can see them, and a
    speck would give the cells around it a truth distance to a front that is not there.

    Parameters
    ----------
    tumor : (Multi)Polygon, µm (from :func:`tumor_polygon`)
    x_um, y_um : (N,) float, cell centroids, µm
    is_tumor : (N,) bool
    min_cells : a part of the tumor is kept when it holds at least this many tumor cells

    Returns
    -------
    MultiPolygon, µm: the parts with ``min_cells`` tumor cells, holes with no cell filled.
    """
    x_um, y_um = np.asarray(x_um, float), np.asarray(y_um, float)
    is_tumor = np.asarray(is_tumor, bool)
    parts = []
    for part in getattr(tumor, "geoms", [tumor]):
        if part.is_empty:
            continue
        if shapely.contains_xy(part, x_um[is_tumor], y_um[is_tumor]).sum() < min_cells:
            continue
        holes = [
            ring
            for ring in part.interiors
            if shapely.contains_xy(shapely.Polygon(ring), x_um, y_um).any()
        ]
        parts.append(shapely.Polygon(part.exterior, holes))
    return shapely.MultiPolygon(parts)


def signed_distance_um(polygon, x_um, y_um):
    """Signed distance from points to a polygon's boundary, µm, negative inside.

    Parameters
    ----------
    polygon : shapely (Multi)Polygon, µm
    x_um, y_um : (N,) float arrays, µm

    Returns
    -------
    (N,) float64 array, µm
    """
    x_um = np.asarray(x_um, float)
    y_um = np.asarray(y_um, float)
    if polygon.is_empty:
        return np.full(x_um.shape, np.inf)
    points = shapely.points(x_um, y_um)
    dist = shapely.distance(polygon.boundary, points)
    inside = shapely.contains_xy(polygon, x_um, y_um)
    return np.where(inside, -dist, dist)


class _DistanceGrid:
    """Signed distance to the tumor on a lattice window, clipped to +-DIST_CLIP_UM (µm).

    Values are a pure function of position: the same whichever window computes them.
    """

    def __init__(self, world, y0_um, y1_um, x0_um, x1_um):
        margin = DIST_CLIP_UM + 2 * LATTICE_UM
        self.i0 = int(np.floor((y0_um - margin) / LATTICE_UM))
        self.j0 = int(np.floor((x0_um - margin) / LATTICE_UM))
        i1 = int(np.ceil((y1_um + margin) / LATTICE_UM)) + 1
        j1 = int(np.ceil((x1_um + margin) / LATTICE_UM)) + 1
        ys = np.arange(self.i0, i1) * LATTICE_UM
        xs = np.arange(self.j0, j1) * LATTICE_UM
        inside = tumor_field(world, ys, xs) > world.threshold
        if inside.all() or not inside.any():
            dist = np.full(inside.shape, DIST_CLIP_UM)
        else:
            d_in = ndimage.distance_transform_edt(inside, sampling=LATTICE_UM)
            d_out = ndimage.distance_transform_edt(~inside, sampling=LATTICE_UM)
            # the boundary lies half a step between the two classes
            dist = np.where(inside, d_in, d_out) - 0.5 * LATTICE_UM
        self.values = np.where(inside, -1.0, 1.0) * np.minimum(dist, DIST_CLIP_UM)

    def __call__(self, y_um, x_um):
        """Bilinear signed distance at points, µm."""
        rows = np.asarray(y_um) / LATTICE_UM - self.i0
        cols = np.asarray(x_um) / LATTICE_UM - self.j0
        return ndimage.map_coordinates(self.values, [rows, cols], order=1, mode="nearest")


# ----------------------------------------------------------------------------- the cells


def _draw_cells(rng, phenotype, n):
    """Shape, nuclear intensity, cytoplasm width and marker expression of n cells (µm)."""
    cells = {
        "code": np.full(n, _CODE[phenotype], np.int8),
        "theta": rng.uniform(0, np.pi, n),
        "harm": np.zeros((n, 3)),
        "harm_phase": rng.uniform(0, 2 * np.pi, (n, 3)),
        "lobes": np.full((n, 4, 2), np.nan),
        "lobe_r": np.zeros(n),
    }
    if phenotype == "tumor":
        radius = rng.uniform(5.0, 8.0, n)
        aspect = rng.uniform(1.0, 1.35, n)
        cells["harm"] = np.clip(rng.normal(0, 0.04, (n, 3)), -0.08, 0.08)
        dapi, texture, cyto = rng.lognormal(np.log(0.55), 0.25, n), 0.45, rng.uniform(2.5, 4.5, n)
    elif phenotype in ("CD8_T", "T_helper", "B_cell"):
        radius = rng.uniform(3.0, 3.6, n)
        aspect = rng.uniform(1.0, 1.12, n)
        cells["harm"] = np.clip(rng.normal(0, 0.02, (n, 3)), -0.04, 0.04)
        dapi, texture, cyto = rng.lognormal(0.0, 0.2, n), 0.25, rng.uniform(0.8, 1.4, n)
    elif phenotype == "macrophage":
        radius = rng.uniform(4.5, 6.25, n)
        aspect = rng.uniform(1.2, 1.7, n)
        cells["harm"][:, 0] = np.clip(rng.normal(0, 0.05, n), -0.1, 0.1)
        cells["harm"][:, 1] = rng.uniform(0.06, 0.12, n)  # k=3: a bean / kidney outline
        cells["harm"][:, 2] = np.clip(rng.normal(0, 0.03, n), -0.06, 0.06)
        dapi, texture, cyto = rng.lognormal(np.log(0.6), 0.25, n), 0.3, rng.uniform(3.0, 5.5, n)
    elif phenotype == "neutrophil":
        radius = np.zeros(n)
        aspect = np.ones(n)
        n_lobes = rng.integers(3, 5, n)
        lobe_r = rng.uniform(1.5, 1.9, n)
        bend = rng.uniform(-0.7, 0.7, n)  # turn between lobes, rad
        for i in range(n):  # lobes on a bent chain, neighbours overlapping (connected)
            step = 1.6 * lobe_r[i]
            heading, pos, pts = cells["theta"][i], np.zeros(2), [np.zeros(2)]
            for _ in range(n_lobes[i] - 1):
                heading += bend[i] + rng.normal(0, 0.3)
                pos = pos + step * np.array([np.cos(heading), np.sin(heading)])
                pts.append(pos)
            pts = np.array(pts) - np.mean(pts, axis=0)
            cells["lobes"][i, : len(pts)] = pts
        cells["lobe_r"] = lobe_r
        dapi, texture, cyto = rng.lognormal(np.log(1.1), 0.2, n), 0.2, rng.uniform(2.0, 3.0, n)
    elif phenotype == "stromal":
        radius = np.sqrt(rng.uniform(6.0, 9.0, n) * rng.uniform(1.75, 2.5, n))
        aspect = rng.uniform(3.0, 4.5, n)
        cells["harm"] = np.clip(rng.normal(0, 0.03, (n, 3)), -0.06, 0.06)
        dapi, texture, cyto = rng.lognormal(np.log(0.75), 0.25, n), 0.3, rng.uniform(0.8, 1.6, n)
    else:
        raise ValueError(f"unknown phenotype {phenotype!r}")
    cells["a"] = radius * np.sqrt(aspect)
    cells["b"] = radius / np.sqrt(aspect)
    if phenotype == "neutrophil":
        reach = np.nanmax(np.linalg.norm(cells["lobes"], axis=2), axis=1) + cells["lobe_r"]
    else:
        reach = cells["a"] * (1.0 + np.abs(cells["harm"]).sum(axis=1))
    cells["reach"] = reach
    cells["dapi"] = dapi
    cells["texture"] = np.full(n, texture)
    cells["cyto"] = cyto
    expr = np.empty((n, len(CHANNELS)), np.float32)
    expr[:, 0] = 0.0
    for c, marker in enumerate(CHANNELS[1:], start=1):
        mean = _POSITIVE[marker].get(phenotype)
        if mean is None:
            expr[:, c] = rng.lognormal(np.log(NEGATIVE_LEVEL), 0.7, n)
        else:
            expr[:, c] = mean * rng.lognormal(0.0, POSITIVE_SIGMA, n)
    if phenotype == "tumor":  # a few keratin-low tumor cells: PanCK overlaps the negatives
        low = rng.random(n) < KERATIN_LOW_FRACTION
        expr[low, CHANNELS.index("PanCK")] *= 0.25
    cells["expr"] = expr
    return cells


def _nucleus_mask(cells, i, y_um, x_um):
    """Boolean mask of nucleus i on a grid of pixel centres.

    Parameters
    ----------
    y_um : (h, 1) float array, µm; x_um : (1, w) float array, µm
    """
    dy = y_um - cells["y"][i]
    dx = x_um - cells["x"][i]
    if cells["code"][i] == _CODE["neutrophil"]:
        r2 = cells["lobe_r"][i] ** 2
        mask = np.zeros(np.broadcast_shapes(dy.shape, dx.shape), bool)
        for ly, lx in cells["lobes"][i][:, ::-1]:
            if np.isnan(lx):
                break
            mask |= (dx - lx) ** 2 + (dy - ly) ** 2 <= r2
        return mask
    cos, sin = np.cos(cells["theta"][i]), np.sin(cells["theta"][i])
    u = (dx * cos + dy * sin) / cells["a"][i]
    v = (-dx * sin + dy * cos) / cells["b"][i]
    phi = np.arctan2(v, u)
    harm, phase = cells["harm"][i], cells["harm_phase"][i]
    edge = (
        1.0
        + harm[0] * np.cos(2 * phi + phase[0])
        + harm[1] * np.cos(3 * phi + phase[1])
        + harm[2] * np.cos(4 * phi + phase[2])
    )
    return u * u + v * v <= edge * edge


def _concat(parts):
    keys = parts[0].keys()
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}


def _select(cells, index):
    return {k: v[index] for k, v in cells.items()}


def _empty_cells():
    empty = _draw_cells(np.random.default_rng(0), "tumor", 0)
    empty.update(x=np.zeros(0), y=np.zeros(0), id=np.zeros(0, np.int64))
    return empty


class _Occupancy:
    """A 1 µm grid of placed nuclei for the overlap test: 0 free, 1 tumor, 2 other."""

    def __init__(self, y0_um, y1_um, x0_um, x1_um):
        self.i0 = int(np.floor(y0_um / OCC_UM)) - 1
        self.j0 = int(np.floor(x0_um / OCC_UM)) - 1
        shape = (
            int(np.ceil(y1_um / OCC_UM)) + 2 - self.i0,
            int(np.ceil(x1_um / OCC_UM)) + 2 - self.j0,
        )
        self.grid = np.zeros(shape, np.uint8)

    def try_place(self, cells, i):
        """Mark nucleus i if it fits (tumor may overlap tumor by 12 %); return success."""
        reach = cells["reach"][i]
        r0 = int(np.floor((cells["y"][i] - reach) / OCC_UM)) - self.i0
        c0 = int(np.floor((cells["x"][i] - reach) / OCC_UM)) - self.j0
        r1 = int(np.ceil((cells["y"][i] + reach) / OCC_UM)) + 1 - self.i0
        c1 = int(np.ceil((cells["x"][i] + reach) / OCC_UM)) + 1 - self.j0
        ys = ((np.arange(r0, r1) + self.i0 + 0.5) * OCC_UM)[:, None]
        xs = ((np.arange(c0, c1) + self.j0 + 0.5) * OCC_UM)[None, :]
        mask = _nucleus_mask(cells, i, ys, xs)
        sub = self.grid[r0:r1, c0:c1]
        under = sub[mask]
        if cells["code"][i] == _CODE["tumor"]:
            if (under == 2).any() or (under == 1).sum() > 0.12 * mask.sum():
                return False
            sub[mask & (sub == 0)] = 1
        else:
            if under.any():
                return False
            sub[mask] = 2
        return True


def _place_block(world, by, bx, dist, occ):
    """Draw and place the cells whose centres lie in block (by, bx); returns a cell dict."""
    rng = np.random.default_rng([world.seed, 7919, by, bx])
    y0, x0 = by * BLOCK_UM, bx * BLOCK_UM
    y1, x1 = min(y0 + BLOCK_UM, world.height_um), min(x0 + BLOCK_UM, world.width_um)
    area_mm2 = (y1 - y0) * (x1 - x0) * 1e-6
    d_grid = np.linspace(-DIST_CLIP_UM, DIST_CLIP_UM, 1001)
    n_bx = int(np.ceil(world.width_um / BLOCK_UM))
    base_id = (by * n_bx + bx) * MAX_PER_BLOCK
    parts = []
    for phenotype in _PLACE_ORDER:
        lam_max = 1.001 * expected_density_per_mm2(world.preset, phenotype, d_grid).max()
        if lam_max <= 0:
            continue

        def proposals(count, phenotype=phenotype, lam_max=lam_max):
            py = rng.uniform(y0, y1, count)
            px = rng.uniform(x0, x1, count)
            lam = expected_density_per_mm2(world.preset, phenotype, dist(py, px))
            keep = rng.random(count) * lam_max < lam
            return py[keep], px[keep]

        py, px = proposals(rng.poisson(lam_max * area_mm2))
        if len(py) == 0:
            continue
        cells = _draw_cells(rng, phenotype, len(py))
        cells["y"], cells["x"] = py.copy(), px.copy()
        placed = np.zeros(len(py), bool)
        spare_y, spare_x = np.zeros(0), np.zeros(0)
        for i in range(len(py)):
            for _attempt in range(40):
                if occ.try_place(cells, i):
                    placed[i] = True
                    break
                if len(spare_y) == 0:  # more positions from the same density
                    spare_y, spare_x = proposals(64)
                    if len(spare_y) == 0:
                        continue
                cells["y"][i], cells["x"][i] = spare_y[0], spare_x[0]
                spare_y, spare_x = spare_y[1:], spare_x[1:]
        parts.append(_select(cells, placed))
    if not parts:
        return _empty_cells()
    out = _concat(parts)
    n = len(out["x"])
    if n >= MAX_PER_BLOCK:
        raise RuntimeError(f"block ({by}, {bx}) holds {n} cells, more than {MAX_PER_BLOCK}")
    out["id"] = base_id + 1 + np.arange(n, dtype=np.int64)
    return out


def generate_cells(world, y0_um, y1_um, x0_um, x1_um):
    """All cells whose centres lie in the placement blocks overlapping a window.

    The result for a block does not depend on the window asked for (seamless tiles).

    Parameters
    ----------
    world : World
    y0_um, y1_um, x0_um, x1_um : window, µm

    Returns
    -------
    dict of arrays, one entry per cell: ``id`` (int64, unique on the slide), ``x``, ``y``
    (nucleus centre, µm), ``code`` (index into PHENOTYPES), shape parameters, ``dapi``,
    ``cyto`` (cytoplasm width, µm), ``expr`` ((N, C) marker expression)
    """
    n_by = int(np.ceil(world.height_um / BLOCK_UM))
    n_bx = int(np.ceil(world.width_um / BLOCK_UM))
    b_y0 = max(int(np.floor(y0_um / BLOCK_UM)), 0)
    b_y1 = min(int(np.ceil(y1_um / BLOCK_UM)), n_by)
    b_x0 = max(int(np.floor(x0_um / BLOCK_UM)), 0)
    b_x1 = min(int(np.ceil(x1_um / BLOCK_UM)), n_bx)
    # phase p (checkerboard of 2x2) depends on phases < p of its 8 neighbours only
    ext = (max(b_y0 - 3, 0), min(b_y1 + 3, n_by), max(b_x0 - 3, 0), min(b_x1 + 3, n_bx))
    ey0, ey1, ex0, ex1 = (v * BLOCK_UM for v in ext)
    dist = _DistanceGrid(world, ey0, ey1, ex0, ex1)
    occ = _Occupancy(ey0 - REACH_UM, ey1 + REACH_UM, ex0 - REACH_UM, ex1 + REACH_UM)
    parts = []
    for phase in range(4):
        ring = 3 - phase
        for by in range(max(b_y0 - ring, 0), min(b_y1 + ring, n_by)):
            if by % 2 != phase // 2:
                continue
            for bx in range(max(b_x0 - ring, 0), min(b_x1 + ring, n_bx)):
                if bx % 2 != phase % 2:
                    continue
                parts.append(_place_block(world, by, bx, dist, occ))
    cells = _concat(parts) if parts else _empty_cells()
    return _select(cells, np.argsort(cells["id"], kind="stable"))


# ----------------------------------------------------------------------------- rendering


def _hash_uniform(seed, salt, rows, cols, strip=256):
    """Uniform noise in [-0.5, 0.5) that is a pure function of global pixel indices.

    Parameters
    ----------
    rows : (h,) int array, cols : (w,) int array; global pixel indices

    Returns
    -------
    (h, w) float32 array
    """
    out = np.empty((len(rows), len(cols)), np.float32)
    key = np.uint64(
        (int(seed) * 0x165667B19E3779F9 + salt * 0x27D4EB2F165667C5) & 0xFFFFFFFFFFFFFFFF
    )
    c = cols.astype(np.uint64)[None, :] * np.uint64(0xC2B2AE3D27D4EB4F)
    with np.errstate(over="ignore"):
        for r0 in range(0, len(rows), strip):  # strips keep the uint64 temporaries small
            r = rows[r0 : r0 + strip].astype(np.uint64)[:, None] * np.uint64(0x9E3779B97F4A7C15)
            h = r ^ c ^ key  # splitmix64 finaliser
            h ^= h >> np.uint64(30)
            h *= np.uint64(0xBF58476D1CE4E5B9)
            h ^= h >> np.uint64(27)
            h *= np.uint64(0x94D049BB133111EB)
            h ^= h >> np.uint64(31)
            out[r0 : r0 + strip] = (h >> np.uint64(40)).astype(np.float32)
    out *= np.float32(2.0**-24)
    out -= np.float32(0.5)
    return out


def _smooth(white, sigma_px):
    """Gaussian-smoothed white noise (variance 1/12) rescaled to unit standard deviation."""
    radius = int(4.0 * sigma_px + 0.5)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_px) ** 2)
    kernel /= kernel.sum()
    std = np.sqrt(1.0 / 12.0) * np.sum(kernel**2)  # 2-D: (sum k^2)^2 of the variance
    return ndimage.gaussian_filter(white, sigma_px, mode="nearest") / np.float32(std)


def _low_frequency(seed, salt, y_um, x_um, wavelength_um):
    """A smooth unit-variance field of random plane waves, a pure function of position."""
    rng = np.random.default_rng([int(seed), salt])
    k = 24
    wavelength = rng.uniform(*wavelength_um, k)
    angle = rng.uniform(0, 2 * np.pi, k)
    phase = rng.uniform(0, 2 * np.pi, k)
    ys = y_um.astype(np.float32)[:, None]
    xs = x_um.astype(np.float32)[None, :]
    out = np.zeros((len(y_um), len(x_um)), np.float32)
    for lam, ang, ph in zip(wavelength, angle, phase):
        kx, ky = 2 * np.pi / lam * np.cos(ang), 2 * np.pi / lam * np.sin(ang)
        a, b = kx * xs + ph, ky * ys
        out += np.cos(b) * np.cos(a) - np.sin(b) * np.sin(a)
    out *= np.float32(np.sqrt(2.0 / k))
    return out


def _patch(cells, i, reach, y_um0, x_um0, ps, shape):
    """Pixel bounds (r0, r1, c0, c1) of a square of half-size ``reach`` µm around cell i."""
    r0 = max(int(np.floor((cells["y"][i] - reach - y_um0) / ps)), 0)
    r1 = min(int(np.ceil((cells["y"][i] + reach - y_um0) / ps)) + 1, shape[0])
    c0 = max(int(np.floor((cells["x"][i] - reach - x_um0) / ps)), 0)
    c1 = min(int(np.ceil((cells["x"][i] + reach - x_um0) / ps)) + 1, shape[1])
    return r0, r1, c0, c1


def render(world, cells, y0_px, x0_px, h_px, w_px, halo_px=None, noise_seed=None):
    """Paint cells into a window of the slide.

    Parameters
    ----------
    world : World
    cells : dict from :func:`generate_cells` (must cover the window plus ``HALO_UM``)
    y0_px, x0_px, h_px, w_px : window in slide pixels
    halo_px : context rendered around the window and cropped; default ``HALO_UM``
    noise_seed : seed material for shot and read noise (default: seed and window origin)

    Returns
    -------
    image : (C, h, w) uint16, channels ``CHANNELS``
    labels : (h, w) int64, cell ``id`` of each nucleus pixel, 0 background
    """
    f32 = np.float32
    ps = world.pixel_size_um
    halo = int(np.ceil(HALO_UM / ps)) if halo_px is None else int(halo_px)
    cy0, cx0 = y0_px - halo, x0_px - halo
    H, W = h_px + 2 * halo, w_px + 2 * halo
    rows = np.arange(cy0, cy0 + H)
    cols = np.arange(cx0, cx0 + W)
    y_um = (rows + 0.5) * ps
    x_um = (cols + 0.5) * ps
    y_um0, x_um0 = cy0 * ps, cx0 * ps  # top-left corner of the canvas
    reach = cells["reach"] + cells["cyto"]
    near = (
        (cells["y"] + reach >= y_um[0])
        & (cells["y"] - reach <= y_um[-1])
        & (cells["x"] + reach >= x_um[0])
        & (cells["x"] - reach <= x_um[-1])
    )
    cells = _select(cells, np.flatnonzero(near))  # already sorted by id: the painting order
    n = len(cells["x"])

    # nuclei, painted in id order; an earlier nucleus keeps a shared pixel
    lab = np.zeros((H, W), np.int32)  # 1 + index into `cells`
    for i in range(n):
        r0, r1, c0, c1 = _patch(cells, i, cells["reach"][i], y_um0, x_um0, ps, (H, W))
        if r0 >= r1 or c0 >= c1:
            continue
        mask = _nucleus_mask(cells, i, y_um[r0:r1, None], x_um[None, c0:c1])
        sub = lab[r0:r1, c0:c1]
        sub[mask & (sub == 0)] = i + 1

    # cells: a pixel belongs to its nearest nucleus when within that cell's cytoplasm width
    owner = lab.copy()
    nearest = np.where(lab > 0, f32(0), f32(np.inf))
    for i in range(n):
        r0, r1, c0, c1 = _patch(
            cells, i, cells["reach"][i] + CYTO_MAX_UM + ps, y_um0, x_um0, ps, (H, W)
        )
        own = lab[r0:r1, c0:c1] == i + 1
        if r0 >= r1 or c0 >= c1 or not own.any():
            continue
        dist = ndimage.distance_transform_edt(~own, sampling=ps).astype(f32)
        best = nearest[r0:r1, c0:c1]
        closer = dist < best
        best[closer] = dist[closer]
        owner[r0:r1, c0:c1][closer] = i + 1
    cyto_w = np.concatenate([[np.inf], cells["cyto"]]).astype(f32)
    cellmap = np.where(nearest <= cyto_w[owner], owner, 0)
    del nearest, owner

    nucleus = lab > 0
    ring = segmentation.find_boundaries(cellmap, mode="inner")
    ring &= cellmap > 0
    cytoplasm = (cellmap > 0) & ~nucleus & ~ring
    extracellular = cellmap == 0

    white = _hash_uniform(world.seed, 11, rows, cols)
    fine = _smooth(white, 0.5 / ps)  # chromatin grain; granules in the cytoplasm
    coarse = _smooth(white, 1.5 / ps)  # chromatin domains
    del white
    texture_amp = np.concatenate([[0.0], cells["texture"]]).astype(f32)[lab]
    coarse *= f32(0.5)
    coarse += f32(0.6) * fine
    coarse += f32(0.6) * (fine > 1.6)  # bright chromocentres
    coarse *= texture_amp
    coarse += f32(1.0)
    np.clip(coarse, 0.15, None, out=coarse)
    dapi = np.concatenate([[0.0], cells["dapi"]]).astype(f32)[lab]
    dapi *= coarse
    del coarse, texture_amp
    autofluor = _low_frequency(world.seed, 14, y_um, x_um, (8.0, 40.0))
    autofluor *= f32(0.6)
    autofluor += f32(1.0)
    np.clip(autofluor, 0, None, out=autofluor)
    autofluor *= extracellular
    del extracellular

    rng = np.random.default_rng(
        [world.seed, 104729]
        + ([int(y0_px), int(x0_px)] if noise_seed is None else list(np.atleast_1d(noise_seed)))
    )
    image = np.empty((len(CHANNELS), h_px, w_px), np.uint16)
    crop = (slice(halo, halo + h_px), slice(halo, halo + w_px))
    for c, channel in enumerate(CHANNELS):
        if channel == "DAPI":
            signal = dapi
        else:
            (w_ring, w_cyto, w_nuc), grain = _COMPARTMENTS[channel]
            signal = np.concatenate([[0.0], cells["expr"][:, c]]).astype(f32)[cellmap]
            weight = np.where(
                ring,
                f32(w_ring),
                np.where(nucleus, f32(w_nuc), np.where(cytoplasm, f32(w_cyto), f32(0))),
            )
            weight *= np.clip(f32(1.0) + f32(grain) * fine, 0.0, None)
            signal *= weight
            del weight
            spill = ndimage.gaussian_filter(
                signal, SPILL_SIGMA_UM / ps, mode="nearest", truncate=3.0
            )
            signal += f32(SPILL_FRACTION) * spill
            del spill
        signal = ndimage.gaussian_filter(signal, PSF_SIGMA_UM / ps, mode="nearest")[crop]
        scale, flat, auto = _OPTICS[channel]
        photons = f32(scale) * signal
        photons += f32(flat)
        photons += f32(auto) * autofluor[crop]
        counts = rng.poisson(photons).astype(f32)
        counts += rng.normal(CAMERA_OFFSET, READ_NOISE, counts.shape).astype(f32)
        np.rint(counts, out=counts)
        np.clip(counts, 0, 65535, out=counts)
        image[c] = counts
        del signal, photons, counts

    ids = np.concatenate([[0], cells["id"]])
    labels = ids[lab[crop]]
    return image, labels


# ----------------------------------------------------------------------------- a sample


@dataclass
class Simulation:
    """A simulated sample with its truth (see :func:`simulate_tissue`)."""

    image: np.ndarray  # (C, Y, X) uint16
    channels: list  # C marker names
    labels: np.ndarray  # (Y, X) uint32, label == cell_id
    cells: pd.DataFrame  # cell_id, x_um, y_um, phenotype, dist_front_um
    tumor: object  # shapely (Multi)Polygon, µm
    pixel_size_um: float
    preset: str
    seed: int

    def __getitem__(self, key):
        return getattr(self, key)


def simulate_tissue(preset="inflamed", shape_px=(2048, 2048), pixel_size_um=0.5, seed=0):
    """Simulate one mIF image of a tumor with its invasive front, and its truth.

    Parameters
    ----------
    preset : "inflamed" | "excluded" | "desert" (immune pattern, see the module docstring)
    shape_px : (Y, X) image size in pixels
    pixel_size_um : float, µm per pixel
    seed : int; the same arguments give the same sample

    Returns
    -------
    Simulation with ``image`` (C, Y, X) uint16, ``channels`` (list of C names),
    ``labels`` (Y, X) uint32 truth nuclei (label == cell_id, ids 1..N in painting order),
    ``cells`` DataFrame ``cell_id, x_um, y_um, phenotype, dist_front_um`` (centroid of the
    visible nucleus, µm; distance negative inside the tumor), ``tumor`` (Multi)Polygon in µm
    """
    shape_px = (int(shape_px[0]), int(shape_px[1]))
    world = make_world(preset, shape_px, pixel_size_um, seed, central_mass=True)
    cells = generate_cells(world, 0.0, world.height_um, 0.0, world.width_um)
    image, ids = render(world, cells, 0, 0, shape_px[0], shape_px[1], halo_px=0)

    # compact ids 1..N for visible nuclei, kept in painting order
    index = np.searchsorted(cells["id"], ids)  # ids are sorted; 0 maps to index 0
    counts = np.bincount(index.ravel(), weights=(ids > 0).ravel(), minlength=len(cells["id"]))
    visible = counts > 0
    new_id = np.zeros(len(cells["id"]) + 1, np.uint32)
    new_id[np.flatnonzero(visible)] = np.arange(1, visible.sum() + 1, dtype=np.uint32)
    labels = np.where(ids > 0, new_id[index], 0).astype(np.uint32)
    n = int(visible.sum())
    flat = labels.ravel()
    area = np.bincount(flat, minlength=n + 1)[1:]
    rows, cols = np.indices(labels.shape, dtype=np.float64)
    y_mean = np.bincount(flat, weights=rows.ravel(), minlength=n + 1)[1:] / area
    x_mean = np.bincount(flat, weights=cols.ravel(), minlength=n + 1)[1:] / area
    del rows, cols
    x = (x_mean + 0.5) * pixel_size_um
    y = (y_mean + 0.5) * pixel_size_um
    phenotype = np.array(PHENOTYPES)[cells["code"][visible]]
    tumor = observable_tumor(tumor_polygon(world), x, y, phenotype == "tumor")
    table = pd.DataFrame(
        {
            "cell_id": np.arange(1, n + 1, dtype=np.int64),
            "x_um": x,
            "y_um": y,
            "phenotype": pd.Categorical(phenotype, categories=PHENOTYPES).astype(str),
            "dist_front_um": signed_distance_um(tumor, x, y),
        }
    )
    log.info(
        "simulated %s seed %d: %d x %d px, %d cells, tumor %.0f%% of the area",
        preset,
        seed,
        shape_px[0],
        shape_px[1],
        n,
        100 * tumor.area / (world.height_um * world.width_um),
    )
    return Simulation(
        image, list(CHANNELS), labels, table, tumor, float(pixel_size_um), preset, int(seed)
    )


# ----------------------------------------------------------------------------- files


def truth_cells(preset="inflamed", shape_px=(2048, 2048), pixel_size_um=0.5, seed=0):
    """The truth of :func:`simulate_tissue` without the image: cells and tumor, in seconds.

    The same world and cells (cell centres instead of the centroids of the visible nuclei;
    cells hidden under others are kept), for tests and benchmarks of the front and spatial
    steps on truth.

    Returns
    -------
    cells : DataFrame ``cell_id, x_um, y_um, phenotype, dist_front_um`` (µm)
    tumor : MultiPolygon, µm (:func:`observable_tumor`)
    extent_um : (width_um, height_um)
    """
    world = make_world(
        preset, (int(shape_px[0]), int(shape_px[1])), pixel_size_um, seed, central_mass=True
    )
    raw = generate_cells(world, 0.0, world.height_um, 0.0, world.width_um)
    cells = pd.DataFrame(
        {
            "cell_id": raw["id"],
            "x_um": raw["x"],
            "y_um": raw["y"],
            "phenotype": np.array(PHENOTYPES)[raw["code"]],
        }
    )
    keep = (
        (cells["x_um"] >= 0)
        & (cells["x_um"] < world.width_um)
        & (cells["y_um"] >= 0)
        & (cells["y_um"] < world.height_um)
    )
    cells = cells[keep].reset_index(drop=True)
    x, y = cells["x_um"].to_numpy(), cells["y_um"].to_numpy()
    tumor = observable_tumor(tumor_polygon(world), x, y, (cells["phenotype"] == "tumor").to_numpy())
    cells["dist_front_um"] = signed_distance_um(tumor, x, y)
    return cells, tumor, (world.width_um, world.height_um)


def tumor_feature_collection(tumor, pixel_size_um):
    """The truth tumor as a GeoJSON FeatureCollection (dict), coordinates in µm.

    One QuPath-style annotation feature (classification "Tumor"); the properties state the
    unit, since QuPath itself reads coordinates as pixels (divide by ``pixel_size_um``).
    """
    geometry = shapely.geometry.mapping(tumor) if not tumor.is_empty else None
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": geometry,
                "properties": {
                    "objectType": "annotation",
                    "name": "Tumor",
                    "classification": {
                        "name": TUMOR_CLASS,
                        "color": list(REGION_COLOURS[TUMOR_CLASS]),
                    },
                    "coordinate_unit": "µm",
                    "pixel_size_um": float(pixel_size_um),
                },
            }
        ],
    }


def truth_paths(outdir, name):
    """The four files of a simulated sample: image, truth nuclei, truth cells, truth tumor."""
    from pathlib import Path

    base = Path(outdir)
    return {
        "image": base / f"{name}.ome.tif",
        "nuclei": base / f"{name}.truth_nuclei.ome.tif",
        "cells": base / f"{name}.truth_cells.parquet",
        "tumor": base / f"{name}.truth_tumor.geojson",
    }


def write_simulation(sim, paths):
    """Write a Simulation: image and truth (paths as from :func:`truth_paths`)."""
    import json

    from . import io
    from .files import atomic_output

    io.write_image(paths["image"], sim.image, sim.channels, sim.pixel_size_um)
    io.write_labels(paths["nuclei"], sim.labels, sim.pixel_size_um)
    with atomic_output(paths["cells"]) as tmp:
        sim.cells.to_parquet(tmp, index=False)
    with atomic_output(paths["tumor"]) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(
                tumor_feature_collection(sim.tumor, sim.pixel_size_um), fh, ensure_ascii=False
            )


def _downsample(image, factor):
    """Block mean of a (C, h, w) array by ``factor`` (edges replicated), same dtype."""
    c, h, w = image.shape
    ph, pw = -h % factor, -w % factor
    if ph or pw:
        image = np.pad(image, ((0, 0), (0, ph), (0, pw)), mode="edge")
    out = np.empty((c, image.shape[1] // factor, image.shape[2] // factor), image.dtype)
    for i in range(c):  # one channel at a time keeps the float copy small
        blocks = image[i].reshape(out.shape[1], factor, out.shape[2], factor)
        out[i] = np.rint(blocks.mean(axis=(1, 3), dtype=np.float32))
    return out


def _ome_metadata(channel_names, pixel_size_um):
    return {
        "axes": "CYX",
        "Channel": {"Name": list(channel_names)},
        "PhysicalSizeX": float(pixel_size_um),
        "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": float(pixel_size_um),
        "PhysicalSizeYUnit": "µm",
    }


def _write_tiled_ome(path, levels, channel_names, pixel_size_um, tile):
    """Write zarr arrays (level 0 first, then sub-resolutions) as a pyramidal OME-TIFF."""
    import tifffile

    from .files import atomic_output

    def tiles(arr):
        for c in range(arr.shape[0]):
            for y in range(0, arr.shape[1], tile):
                for x in range(0, arr.shape[2], tile):
                    yield arr[c, y : y + tile, x : x + tile]

    base = levels[0]
    nbytes = int(np.prod(base.shape)) * np.dtype(base.dtype).itemsize
    options = dict(
        tile=(tile, tile),
        compression="zlib",
        compressionargs={"level": 1},
        photometric="minisblack",
        maxworkers=1,
    )
    with atomic_output(path) as tmp:
        with tifffile.TiffWriter(tmp, bigtiff=nbytes > 2**31, ome=True) as tif:
            tif.write(
                tiles(base),
                shape=base.shape,
                dtype=base.dtype,
                subifds=len(levels) - 1,
                metadata=_ome_metadata(channel_names, pixel_size_um),
                resolutionunit="CENTIMETER",
                resolution=(1e4 / pixel_size_um, 1e4 / pixel_size_um),
                **options,
            )
            for level in levels[1:]:
                factor = base.shape[1] / level.shape[1]
                tif.write(
                    tiles(level),
                    shape=level.shape,
                    dtype=level.dtype,
                    subfiletype=1,
                    resolutionunit="CENTIMETER",
                    resolution=(1e4 / (pixel_size_um * factor),) * 2,
                    **options,
                )


def write_large_slide(
    path,
    shape_px=(16384, 16384),
    seed=0,
    preset="inflamed",
    pixel_size_um=0.5,
    tile_px=2048,
    labels_path=None,
    store_tile_px=512,
    min_level_px=1024,
):
    """Write a big simulated slide as a pyramidal OME-TIFF, tile by tile, in bounded memory.

    Each tile (plus a halo) is generated on its own from the slide's seeded placement blocks,
    so tiles join seamlessly and peak memory depends on ``tile_px``, not on the slide size.
    Tiles go to a compressed zarr scratch store beside ``path`` (OME-TIFF stores channel
    after channel), then are streamed into the TIFF. Tumor nests cover ~40 % of the slide.

    Parameters
    ----------
    path : output ``.ome.tif``
    shape_px : (Y, X) slide size in pixels
    seed : int
    preset : "inflamed" | "excluded" | "desert"
    pixel_size_um : float, µm per pixel
    tile_px : generated tile edge, pixels (a multiple of ``store_tile_px``)
    labels_path : optional ``.ome.tif`` for the uint32 truth nuclei (slide-wide cell ids,
        not consecutive)
    store_tile_px : TIFF tile edge, pixels
    min_level_px : sub-resolution levels (x2 each) are added until the longer side is at
        most this many pixels

    Returns
    -------
    dict with ``n_cells`` (nuclei centred in the slide) and ``levels`` (list of (Y, X))
    """
    import tempfile
    from pathlib import Path

    import zarr

    if tile_px % store_tile_px:
        raise ValueError(
            f"tile_px ({tile_px}) must be a multiple of store_tile_px ({store_tile_px})"
        )
    shape_px = (int(shape_px[0]), int(shape_px[1]))
    world = make_world(preset, shape_px, pixel_size_um, seed, central_mass=False)
    n_blocks = np.ceil(world.height_um / BLOCK_UM) * np.ceil(world.width_um / BLOCK_UM)
    if labels_path is not None and n_blocks * MAX_PER_BLOCK >= 2**32:
        raise ValueError("slide too large for uint32 truth labels")
    factors = [1]
    while (
        max(shape_px) / factors[-1] > min_level_px
        and tile_px % (2 * factors[-1]) == 0
        and store_tile_px <= max(shape_px) // (2 * factors[-1])
    ):
        factors.append(2 * factors[-1])
    halo_um = HALO_UM + REACH_UM
    ps = float(pixel_size_um)
    n_cells = 0
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=Path(path).parent, prefix=".simulate-") as scratch:

        def store(name, channels, dtype, factor):
            shape = (channels, -(-shape_px[0] // factor), -(-shape_px[1] // factor))
            return zarr.create_array(
                store=f"{scratch}/{name}_{factor}.zarr",
                shape=shape,
                chunks=(1, store_tile_px, store_tile_px),
                dtype=dtype,
                fill_value=0,
            )

        levels = [store("image", len(CHANNELS), np.uint16, f) for f in factors]
        label_store = store("labels", 1, np.uint32, 1) if labels_path is not None else None
        for y0 in range(0, shape_px[0], tile_px):
            for x0 in range(0, shape_px[1], tile_px):
                h, w = min(tile_px, shape_px[0] - y0), min(tile_px, shape_px[1] - x0)
                cells = generate_cells(
                    world,
                    y0 * ps - halo_um,
                    (y0 + h) * ps + halo_um,
                    x0 * ps - halo_um,
                    (x0 + w) * ps + halo_um,
                )
                inside = (
                    (cells["y"] >= y0 * ps)
                    & (cells["y"] < (y0 + h) * ps)
                    & (cells["x"] >= x0 * ps)
                    & (cells["x"] < (x0 + w) * ps)
                )
                n_cells += int(inside.sum())
                image, ids = render(world, cells, y0, x0, h, w)
                for factor, level in zip(factors, levels):
                    y, x = y0 // factor, x0 // factor
                    small = image if factor == 1 else _downsample(image, factor)
                    level[:, y : y + small.shape[1], x : x + small.shape[2]] = small
                if label_store is not None:
                    label_store[0, y0 : y0 + h, x0 : x0 + w] = ids.astype(np.uint32)
                del image, ids, cells
                log.info("slide tile y=%d x=%d done (%d cells so far)", y0, x0, n_cells)
        _write_tiled_ome(path, levels, CHANNELS, ps, store_tile_px)
        if label_store is not None:
            _write_tiled_ome(labels_path, [label_store], ["labels"], ps, store_tile_px)
    return {"n_cells": n_cells, "levels": [tuple(lv.shape[1:]) for lv in levels]}
