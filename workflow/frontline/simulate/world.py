"""The world of a slide: extent, tissue, the tumor as a level set, its front, distances.

The tumor is the super-level set of a field (:func:`tumor_field`), by the preset's layout:

- ``mass``: a smooth random field (plane waves of 150-700 µm wavelength) with one central
  mass in small images, mm-scale masses and nests on big slides;
- ``compartments``: the same waves without the central mass: tumor and stroma in large
  interlocking compartments, about half the field each;
- ``nests``: the cells of a Voronoi tessellation (seeds about 170 µm apart) shrunk from each
  edge by half its stroma channel, 15-60 µm wide (one width per pair of nests), edges made
  wavy by warping the plane with the waves (6 µm);
- ``septa``: the same with nests of about 380 µm, septa of 25-50 µm (wobble 4 µm) and round
  stromal pockets (15-35 µm radius, about 5 per mm²), tumor up to the image border (a
  tumor-rich crop);
- ``core``: the ``mass`` field inside a tissue-microarray core, a disc of 0.6 mm diameter
  (slightly irregular) with glass (no cells) around it.

Except in ``septa`` and ``core`` the field is pushed to stroma near the image border, so the
whole front lies inside the image. The truth tumor (and each cell's ``dist_front_um``) is that
region inside the tissue as its cells show it (:func:`observable_tumor`): specks holding fewer
than 5 tumor cells and holes holding no cell are left out; the truth front is its outline
inside the tissue (where the image border or the edge of the core cuts the tumor, there is no
front, :func:`truth_regions`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce

import numpy as np
import shapely
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage import measure

from .presets import DIST_CLIP_UM, preset_of

LATTICE_UM = 2.0  # grid of the tumor field
MIN_TUMOR_CELLS = 5  # the truth tumor keeps parts with at least this many tumor cells

# Voronoi layouts: seed spacing, stroma channel widths (min, max), pockets per mm², radii, µm
NEST_LAYOUTS = {
    "nests": {
        "spacing_um": 170.0,
        "width_um": (15.0, 60.0),
        "pockets_per_mm2": 0.0,
        "wobble_um": 6.0,
    },
    "septa": {
        "spacing_um": 380.0,
        "width_um": (25.0, 50.0),
        "pockets_per_mm2": 5.0,
        "wobble_um": 4.0,
    },
}
POCKET_RADIUS_UM = (15.0, 35.0)
CORE_RADIUS_UM = 300.0  # a 0.6 mm TMA core
AGGREGATE_MAX = 3.0  # the aggregate field multiplies immune densities by at most this


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
    layout: str = "mass"
    seeds: np.ndarray | None = field(default=None, repr=False)  # (K, 3): x, y, u (nests)
    channel_um: tuple = (0.0, 0.0)  # widths of the stroma channels between nests, µm
    wobble_um: float = 0.0  # waviness of the nest edges (amplitude of the waves), µm
    pockets: np.ndarray | None = field(default=None, repr=False)  # (M, 3): x, y, radius
    core: tuple | None = None  # (cy_um, cx_um, radius_um, harmonics (H, 3): k, amp, phase)
    aggregate_modes: np.ndarray | None = field(default=None, repr=False)  # like modes


def make_world(
    preset: str,
    shape_px: tuple[int, int],
    pixel_size_um: float,
    seed: int,
    central_mass: bool = True,
) -> World:
    """The tumor field and parameters of a slide.

    Parameters
    ----------
    preset : a name of :data:`frontline.simulate.presets.PRESETS`
    shape_px : (Y, X) slide size in pixels
    pixel_size_um : float, µm per pixel
    seed : int
    central_mass : bool; for the ``mass`` layout, True puts one irregular tumor mass in the
        middle (small images), False scatters nests over the whole slide (large slides)
    """
    row = preset_of(preset)
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
    world = World(
        preset, int(seed), height_um, width_um, float(pixel_size_um), modes, bump, threshold, taper
    )
    if row.layout == "mass" and not row.aggregates:
        return world
    return _layout(world, row, np.random.default_rng([int(seed), 2]))


def _layout(world: World, row, rng: np.random.Generator) -> World:
    """The world of a layout other than ``mass`` (its own random stream)."""
    from dataclasses import replace

    h, w = world.height_um, world.width_um
    changes: dict = {"layout": row.layout}
    if row.layout in NEST_LAYOUTS:
        spec = NEST_LAYOUTS[row.layout]
        step = spec["spacing_um"]
        ys = np.arange(-1.5 * step, h + 1.5 * step, step)
        xs = np.arange(-1.5 * step, w + 1.5 * step, step)
        gy, gx = np.meshgrid(ys, xs, indexing="ij")
        jitter = rng.uniform(-0.35, 0.35, (gy.size, 2)) * step
        seeds = np.column_stack(
            [gx.ravel() + jitter[:, 0], gy.ravel() + jitter[:, 1], rng.uniform(0, 1, gy.size)]
        )
        n_pockets = rng.poisson(spec["pockets_per_mm2"] * h * w * 1e-6)
        pockets = np.column_stack(
            [
                rng.uniform(0, w, n_pockets),
                rng.uniform(0, h, n_pockets),
                rng.uniform(*POCKET_RADIUS_UM, n_pockets),
            ]
        )
        changes.update(
            seeds=seeds,
            channel_um=spec["width_um"],
            wobble_um=spec["wobble_um"],
            pockets=pockets,
            threshold=0.0,
        )
        if row.layout == "septa":
            changes["taper_um"] = 0.0  # tumor up to the border: a crop of a tumor-rich field
    elif row.layout == "compartments":
        changes.update(bump=None, threshold=0.0)
    elif row.layout == "core":
        jitter = rng.uniform(-0.03, 0.03, 2) * CORE_RADIUS_UM
        cy, cx = h / 2 + jitter[0], w / 2 + jitter[1]
        k = np.arange(2, 6)
        harmonics = np.column_stack([k, rng.uniform(0, 0.03, 4), rng.uniform(0, 2 * np.pi, 4)])
        changes.update(
            core=(cy, cx, CORE_RADIUS_UM, harmonics),
            bump=(cy, cx, 0.4 * CORE_RADIUS_UM, 1.4),
            taper_um=0.0,
        )
    if row.aggregates:
        k = 32
        wavelength = np.exp(rng.uniform(np.log(60.0), np.log(200.0), k))
        angle = rng.uniform(0, 2 * np.pi, k)
        changes["aggregate_modes"] = np.column_stack(
            [
                2 * np.pi / wavelength * np.cos(angle),
                2 * np.pi / wavelength * np.sin(angle),
                rng.uniform(0, 2 * np.pi, k),
                np.full(k, np.sqrt(2.0 / k)),
            ]
        )
    return replace(world, **changes)


def _waves(modes: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Sum of plane waves ``amp * cos(kx x + ky y + phase)`` on a grid, (ny, nx)."""
    out = np.zeros((ys.shape[0], xs.shape[1]))
    for kx, ky, phase, amp in modes:  # cos(a + b) = cos a cos b - sin a sin b
        a = kx * xs + phase
        b = ky * ys
        out += amp * (np.cos(b) * np.cos(a) - np.sin(b) * np.sin(a))
    return out


def _nest_field(world: World, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Distance (µm) inside a nest to its shrunk Voronoi edge (negative in the stroma).

    The points are displaced by the waves (``wobble_um``, a smooth warp of the plane) before
    their Voronoi cell is found, so edges are wavy while channels keep their width.
    """
    shape = (ys.shape[0], xs.shape[1])
    gx = _waves(world.modes, ys, xs)
    shifted = world.modes.copy()
    shifted[:, 2] += np.pi / 2  # a second, independent-looking warp component
    gy = _waves(shifted, ys, xs)
    px = np.broadcast_to(xs, shape) + world.wobble_um * gx
    py = np.broadcast_to(ys, shape) + world.wobble_um * gy
    pts = np.column_stack([px.ravel(), py.ravel()])
    seeds = world.seeds
    k = min(8, len(seeds))
    dist, idx = cKDTree(seeds[:, :2]).query(pts, k=k)
    a, u = seeds[idx[:, 0], :2], seeds[idx[:, 0], 2]
    lo, hi = world.channel_um
    best = np.full(len(pts), np.inf)
    for j in range(1, k):
        b = seeds[idx[:, j], :2]
        sep = np.maximum(np.linalg.norm(b - a, axis=1), 1e-9)
        to_edge = (dist[:, j] ** 2 - dist[:, 0] ** 2) / (2 * sep)  # to the bisector of a, b
        width = lo + (hi - lo) * np.mod(u + seeds[idx[:, j], 2], 1.0)
        best = np.minimum(best, to_edge - width / 2)
    flat_x = np.broadcast_to(xs, shape).ravel()
    flat_y = np.broadcast_to(ys, shape).ravel()
    for cx, cy, radius in world.pockets:
        best = np.minimum(best, np.hypot(flat_x - cx, flat_y - cy) - radius)
    return best.reshape(shape)


def in_tissue(world: World, y_um: np.ndarray, x_um: np.ndarray) -> np.ndarray:
    """Whether points lie in the tissue (everywhere but outside a TMA core), bool array."""
    y_um, x_um = np.broadcast_arrays(np.asarray(y_um, float), np.asarray(x_um, float))
    if world.core is None:
        return np.ones(y_um.shape, bool)
    cy, cx, radius, harmonics = world.core
    theta = np.arctan2(y_um - cy, x_um - cx)
    edge = np.ones_like(theta)
    for k, amp, phase in harmonics:
        edge += amp * np.cos(k * theta + phase)
    return np.hypot(y_um - cy, x_um - cx) <= radius * edge


def tissue_polygon(world: World, n: int = 720) -> shapely.Polygon:
    """The tissue as a polygon, µm: the image, or the TMA core."""
    image = shapely.box(0, 0, world.width_um, world.height_um)
    if world.core is None:
        return image
    cy, cx, radius, harmonics = world.core
    theta = np.linspace(0, 2 * np.pi, n, endpoint=False)
    edge = np.ones_like(theta)
    for k, amp, phase in harmonics:
        edge += amp * np.cos(k * theta + phase)
    ring = np.column_stack([cx + radius * edge * np.cos(theta), cy + radius * edge * np.sin(theta)])
    return shapely.Polygon(ring).intersection(image)


def aggregate_field(world: World, y_um: np.ndarray, x_um: np.ndarray) -> np.ndarray:
    """Multiplier (0..AGGREGATE_MAX, mean about 1) of stromal immune densities: patches of
    30-120 µm where immune cells gather (1 everywhere without aggregates)."""
    y_um, x_um = np.asarray(y_um, float), np.asarray(x_um, float)
    if world.aggregate_modes is None:
        return np.ones(np.broadcast_shapes(y_um.shape, x_um.shape))
    g = np.zeros(np.broadcast_shapes(y_um.shape, x_um.shape))
    for kx, ky, phase, amp in world.aggregate_modes:
        g = g + amp * np.cos(kx * x_um + ky * y_um + phase)
    return np.clip(np.exp(1.1 * g - 0.6), 0.0, AGGREGATE_MAX)


def tumor_field(world: World, ys_um: np.ndarray, xs_um: np.ndarray) -> np.ndarray:
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
    if world.seeds is not None:
        out, push = _nest_field(world, ys, xs), 400.0  # µm
    else:
        out, push = _waves(world.modes, ys, xs), 4.0
        if world.bump is not None:
            cy, cx, radius, height = world.bump
            out = 0.5 * out + height * np.exp(-0.5 * ((ys - cy) ** 2 + (xs - cx) ** 2) / radius**2)
    if world.taper_um > 0:
        edge = np.minimum(np.minimum(ys, world.height_um - ys), np.minimum(xs, world.width_um - xs))
        out -= push * np.clip(1.0 - edge / world.taper_um, 0.0, 1.0) ** 2
    return out


def tumor_polygon(
    world: World, step_um: float = LATTICE_UM, pad_um: float | None = None
) -> shapely.Geometry:
    """The tumor as a shapely (Multi)Polygon in µm (x right, y down, origin top-left).

    ``pad_um`` (default two lattice steps) is how far beyond the image the field is traced;
    the result is clipped to the image.
    """
    pad = 2 * step_um if pad_um is None else float(pad_um)
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


def observable_tumor(
    tumor: shapely.Geometry,
    x_um: np.ndarray,
    y_um: np.ndarray,
    is_tumor: np.ndarray,
    min_cells: int = MIN_TUMOR_CELLS,
) -> shapely.MultiPolygon:
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


def signed_distance_um(polygon: shapely.Geometry, x_um: np.ndarray, y_um: np.ndarray) -> np.ndarray:
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


def truth_regions(
    world: World, x_um: np.ndarray, y_um: np.ndarray, is_tumor: np.ndarray
) -> tuple[shapely.MultiPolygon, np.ndarray]:
    """The truth tumor and each cell's signed distance to the truth front, µm.

    The tumor is the field's region inside the tissue as the cells show it
    (:func:`observable_tumor`); the front is its outline inside the tissue: where the image
    border or the edge of a TMA core cuts the tumor there is no front.

    Returns
    -------
    tumor : MultiPolygon, µm
    dist_front_um : (N,) float, negative inside the tumor (``inf`` without a front)
    """
    x_um, y_um = np.asarray(x_um, float), np.asarray(y_um, float)
    if world.taper_um > 0 and world.core is None:  # the front lies inside the image
        tumor = observable_tumor(tumor_polygon(world), x_um, y_um, is_tumor)
        return tumor, signed_distance_um(tumor, x_um, y_um)
    tissue = tissue_polygon(world)
    raw = tumor_polygon(world, pad_um=4 * LATTICE_UM).intersection(tissue)
    tumor = observable_tumor(raw, x_um, y_um, is_tumor)
    front = tumor.boundary.difference(tissue.boundary.buffer(0.5 * LATTICE_UM))
    if front.is_empty:
        return tumor, np.full(x_um.shape, np.inf)
    dist = shapely.distance(front, shapely.points(x_um, y_um))
    return tumor, np.where(shapely.contains_xy(tumor, x_um, y_um), -dist, dist)


class DistanceGrid:
    """Signed distance to the tumor on a lattice window, clipped to +-DIST_CLIP_UM (µm).

    Values are a pure function of position: the same whichever window computes them.
    """

    def __init__(
        self, world: World, y0_um: float, y1_um: float, x0_um: float, x1_um: float
    ) -> None:
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

    def __call__(self, y_um: np.ndarray, x_um: np.ndarray) -> np.ndarray:
        """Bilinear signed distance at points, µm."""
        rows = np.asarray(y_um) / LATTICE_UM - self.i0
        cols = np.asarray(x_um) / LATTICE_UM - self.j0
        return ndimage.map_coordinates(self.values, [rows, cols], order=1, mode="nearest")
