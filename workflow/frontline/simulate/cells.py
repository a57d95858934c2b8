"""Cell placement: cells drawn from the density model, their nuclei, placed without overlaps.

Cells are an inhomogeneous Poisson process thinned from the preset's densities (immune cells
are placed first, then tumor, then stromal cells), then placed with rejection sampling so that
nuclei do not overlap (tumor nuclei may overlap each other by up to 12 % of their area:
crowded, touching). A rejected cell is retried at new positions drawn from the same density,
so the measured immune densities follow the model within counting noise; tumor cells come out
0-10 % below 2600/mm² (most in `inflamed`, whose immune cells inside the tumor take room), and
stromal cells fall short just inside the front (-10..0 µm), where tumor cells leave no room
for elongated nuclei.

Placement works in 32 µm blocks, each with its own seeded random stream, processed in four
checkerboard phases so that a block depends only on its neighbours: any window of a slide can
be generated on its own and tiles join seamlessly.

A set of cells is a dict of arrays, one entry per cell (see :func:`generate_cells`).
"""

from __future__ import annotations

import numpy as np

from .presets import (
    CHANNELS,
    DIST_CLIP_UM,
    IMMUNE,
    PHENOTYPE_CODES,
    expected_density_per_mm2,
    preset_of,
)
from .world import AGGREGATE_MAX, DistanceGrid, World, aggregate_field, in_tissue

Cells = dict[str, np.ndarray]

BLOCK_UM = 32.0  # placement block; must exceed twice REACH_UM
OCC_UM = 1.0  # grid of the overlap test
MAX_PER_BLOCK = 1024  # cell ids: block index * MAX_PER_BLOCK + k + 1
REACH_UM = 12.0  # the farthest a nucleus reaches from its centre

_PLACE_ORDER = ("CD8_T", "T_helper", "B_cell", "macrophage", "neutrophil", "tumor", "stromal")

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
NEGATIVE_LEVEL = 0.05  # non-specific expression of marker-negative cells (median)
KERATIN_LOW_FRACTION = 0.02  # tumor cells with a quarter of the PanCK
POSITIVE_SIGMA = 0.45  # log-normal spread of positive expression between cells


def _draw_cells(
    rng: np.random.Generator, phenotype: str, n: int, tumor_radius_um: tuple = (5.0, 8.0)
) -> Cells:
    """Shape, nuclear intensity, cytoplasm width and marker expression of n cells (µm)."""
    cells = {
        "code": np.full(n, PHENOTYPE_CODES[phenotype], np.int8),
        "theta": rng.uniform(0, np.pi, n),
        "harm": np.zeros((n, 3)),
        "harm_phase": rng.uniform(0, 2 * np.pi, (n, 3)),
        "lobes": np.full((n, 4, 2), np.nan),
        "lobe_r": np.zeros(n),
    }
    if phenotype == "tumor":
        radius = rng.uniform(*tumor_radius_um, n)
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


def nucleus_mask(cells: Cells, i: int, y_um: np.ndarray, x_um: np.ndarray) -> np.ndarray:
    """Boolean mask of nucleus i on a grid of pixel centres.

    Parameters
    ----------
    y_um : (h, 1) float array, µm; x_um : (1, w) float array, µm
    """
    dy = y_um - cells["y"][i]
    dx = x_um - cells["x"][i]
    if cells["code"][i] == PHENOTYPE_CODES["neutrophil"]:
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


def _concat(parts: list[Cells]) -> Cells:
    keys = parts[0].keys()
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}


def select(cells: Cells, index: np.ndarray) -> Cells:
    """The cells at ``index`` (an index or boolean array)."""
    return {k: v[index] for k, v in cells.items()}


def _empty_cells() -> Cells:
    empty = _draw_cells(np.random.default_rng(0), "tumor", 0)
    empty.update(x=np.zeros(0), y=np.zeros(0), id=np.zeros(0, np.int64))
    return empty


class _Occupancy:
    """A 1 µm grid of placed nuclei for the overlap test: 0 free, 1 tumor, 2 other."""

    def __init__(self, y0_um: float, y1_um: float, x0_um: float, x1_um: float) -> None:
        self.i0 = int(np.floor(y0_um / OCC_UM)) - 1
        self.j0 = int(np.floor(x0_um / OCC_UM)) - 1
        shape = (
            int(np.ceil(y1_um / OCC_UM)) + 2 - self.i0,
            int(np.ceil(x1_um / OCC_UM)) + 2 - self.j0,
        )
        self.grid = np.zeros(shape, np.uint8)

    def try_place(self, cells: Cells, i: int) -> bool:
        """Mark nucleus i if it fits (tumor may overlap tumor by 12 %); return success."""
        reach = cells["reach"][i]
        r0 = int(np.floor((cells["y"][i] - reach) / OCC_UM)) - self.i0
        c0 = int(np.floor((cells["x"][i] - reach) / OCC_UM)) - self.j0
        r1 = int(np.ceil((cells["y"][i] + reach) / OCC_UM)) + 1 - self.i0
        c1 = int(np.ceil((cells["x"][i] + reach) / OCC_UM)) + 1 - self.j0
        ys = ((np.arange(r0, r1) + self.i0 + 0.5) * OCC_UM)[:, None]
        xs = ((np.arange(c0, c1) + self.j0 + 0.5) * OCC_UM)[None, :]
        mask = nucleus_mask(cells, i, ys, xs)
        sub = self.grid[r0:r1, c0:c1]
        under = sub[mask]
        if cells["code"][i] == PHENOTYPE_CODES["tumor"]:
            if (under == 2).any() or (under == 1).sum() > 0.12 * mask.sum():
                return False
            sub[mask & (sub == 0)] = 1
        else:
            if under.any():
                return False
            sub[mask] = 2
        return True


def _place_block(world: World, by: int, bx: int, dist: DistanceGrid, occ: _Occupancy) -> Cells:
    """Draw and place the cells whose centres lie in block (by, bx); returns a cell dict."""
    rng = np.random.default_rng([world.seed, 7919, by, bx])
    preset = preset_of(world.preset)
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
        gather = world.aggregate_modes is not None and phenotype in IMMUNE
        if gather:
            lam_max *= AGGREGATE_MAX

        def proposals(count, phenotype=phenotype, lam_max=lam_max, gather=gather):
            py = rng.uniform(y0, y1, count)
            px = rng.uniform(x0, x1, count)
            lam = expected_density_per_mm2(world.preset, phenotype, dist(py, px))
            if gather:
                lam = lam * aggregate_field(world, py, px)
            if world.core is not None:
                lam = np.where(in_tissue(world, py, px), lam, 0.0)
            keep = rng.random(count) * lam_max < lam
            return py[keep], px[keep]

        py, px = proposals(rng.poisson(lam_max * area_mm2))
        if len(py) == 0:
            continue
        cells = _draw_cells(rng, phenotype, len(py), preset.tumor_radius_um)
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
        parts.append(select(cells, placed))
    if not parts:
        return _empty_cells()
    out = _concat(parts)
    n = len(out["x"])
    if n >= MAX_PER_BLOCK:
        raise RuntimeError(f"block ({by}, {bx}) holds {n} cells, more than {MAX_PER_BLOCK}")
    out["id"] = base_id + 1 + np.arange(n, dtype=np.int64)
    return out


def generate_cells(world: World, y0_um: float, y1_um: float, x0_um: float, x1_um: float) -> Cells:
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
    dist = DistanceGrid(world, ey0, ey1, ex0, ex1)
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
    return select(cells, np.argsort(cells["id"], kind="stable"))
