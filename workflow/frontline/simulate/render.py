"""Rendering: cells painted into a window of the slide as a multiplex fluorescence image.

Image formation per pixel: DAPI = nuclear level x (1 + chromatin texture, bright
chromocentres); a marker = expression x (membrane ring + cytoplasm + a little nucleus, with
granular texture for CD68 and MPO), 12 % lateral spill-over (Gaussian, 2 µm) into neighbours,
PSF blur (Gaussian, 0.35 µm), extracellular autofluorescence and a flat background, then
Poisson shot noise, a camera offset of 100 and Gaussian read noise (4 counts), as uint16.
Noise and texture are pure functions of global pixel indices, so tiles join seamlessly.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage import segmentation

from .cells import Cells, nucleus_mask, select
from .presets import CHANNELS, STATE_MARKERS, preset_of
from .world import World

HALO_UM = 40.0  # context around a rendered tile (nucleus + cytoplasm + blur)
CYTO_MAX_UM = 5.5  # the widest cytoplasm

# marker -> (membrane ring, cytoplasm, nucleus) weights, and granular texture amplitude
_COMPARTMENTS = {
    "PanCK": ((0.7, 1.0, 0.08), 0.25),
    "CD45": ((1.0, 0.3, 0.04), 0.2),
    "CD3": ((1.0, 0.25, 0.04), 0.2),
    "CD8": ((1.0, 0.2, 0.04), 0.2),
    "CD68": ((0.4, 1.0, 0.05), 0.6),
    "CD20": ((1.0, 0.25, 0.04), 0.2),
    "MPO": ((0.3, 1.0, 0.15), 0.6),
    "PD1": ((1.0, 0.25, 0.04), 0.2),
    "GZMB": ((0.3, 1.0, 0.1), 0.6),
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
    "PD1": (440.0, 30.0, 25.0),
    "GZMB": (420.0, 30.0, 30.0),
}
EIGHT_BIT_DIVISOR = 16.0  # an 8-bit preset's pixel is the count / 16, rounded and clipped
SPILL_FRACTION = 0.12
SPILL_SIGMA_UM = 2.0
PSF_SIGMA_UM = 0.35
CAMERA_OFFSET = 100.0
READ_NOISE = 4.0


def _hash_uniform(
    seed: int, salt: int, rows: np.ndarray, cols: np.ndarray, strip: int = 256
) -> np.ndarray:
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


def _smooth(white: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian-smoothed white noise (variance 1/12) rescaled to unit standard deviation."""
    radius = int(4.0 * sigma_px + 0.5)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_px) ** 2)
    kernel /= kernel.sum()
    std = np.sqrt(1.0 / 12.0) * np.sum(kernel**2)  # 2-D: (sum k^2)^2 of the variance
    return ndimage.gaussian_filter(white, sigma_px, mode="nearest") / np.float32(std)


def _low_frequency(
    seed: int, salt: int, y_um: np.ndarray, x_um: np.ndarray, wavelength_um: tuple
) -> np.ndarray:
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


def _patch(
    cells: Cells, i: int, reach: float, y_um0: float, x_um0: float, ps: float, shape: tuple
) -> tuple[int, int, int, int]:
    """Pixel bounds (r0, r1, c0, c1) of a square of half-size ``reach`` µm around cell i."""
    r0 = max(int(np.floor((cells["y"][i] - reach - y_um0) / ps)), 0)
    r1 = min(int(np.ceil((cells["y"][i] + reach - y_um0) / ps)) + 1, shape[0])
    c0 = max(int(np.floor((cells["x"][i] - reach - x_um0) / ps)), 0)
    c1 = min(int(np.ceil((cells["x"][i] + reach - x_um0) / ps)) + 1, shape[1])
    return r0, r1, c0, c1


def render(
    world: World,
    cells: Cells,
    y0_px: int,
    x0_px: int,
    h_px: int,
    w_px: int,
    halo_px: int | None = None,
    noise_seed: int | tuple | None = None,
) -> tuple[np.ndarray, np.ndarray]:
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
    image : (C, h, w) uint16 (uint8 for an 8-bit preset), the preset's channels
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
    cells = select(cells, np.flatnonzero(near))  # already sorted by id: the painting order
    n = len(cells["x"])

    # nuclei, painted in id order; an earlier nucleus keeps a shared pixel
    lab = np.zeros((H, W), np.int32)  # 1 + index into `cells`
    for i in range(n):
        r0, r1, c0, c1 = _patch(cells, i, cells["reach"][i], y_um0, x_um0, ps, (H, W))
        if r0 >= r1 or c0 >= c1:
            continue
        mask = nucleus_mask(cells, i, y_um[r0:r1, None], x_um[None, c0:c1])
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
    preset = preset_of(world.preset)
    image = np.empty((len(preset.channels), h_px, w_px), np.uint16)
    crop = (slice(halo, halo + h_px), slice(halo, halo + w_px))
    for c, channel in enumerate(preset.channels):
        if channel == "DAPI":
            signal = dapi
        else:
            (w_ring, w_cyto, w_nuc), grain = _COMPARTMENTS[channel]
            if channel in STATE_MARKERS:
                level = cells["state_expr"][:, STATE_MARKERS.index(channel)]
            else:
                level = cells["expr"][:, CHANNELS.index(channel)]
            signal = np.concatenate([[0.0], level]).astype(f32)[cellmap]
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

    if preset.bit_depth == 8:  # an 8-bit export of the camera's counts
        image = np.clip(np.rint(image / EIGHT_BIT_DIVISOR), 0, 255).astype(np.uint8)
    ids = np.concatenate([[0], cells["id"]])
    labels = ids[lab[crop]]
    return image, labels
