"""The world of a slide: extent, the tumor as a smooth random field, its front, distances.

The tumor is the super-level set of a smooth random field (plane waves of 150-700 µm
wavelength; one central mass in small images, mm-scale masses and nests on big slides),
pushed to stroma near the image border so the whole front lies inside the image. The truth
tumor (and each cell's ``dist_front_um``) is that region as its cells show it
(:func:`observable_tumor`): specks holding fewer than 5 tumor cells and holes holding no cell
are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce

import numpy as np
import shapely
from scipy import ndimage
from skimage import measure

from .presets import DIST_CLIP_UM, PRESETS

LATTICE_UM = 2.0  # grid of the tumor field
MIN_TUMOR_CELLS = 5  # the truth tumor keeps parts with at least this many tumor cells


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


def tumor_polygon(world: World, step_um: float = LATTICE_UM) -> shapely.Geometry:
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
