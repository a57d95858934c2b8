"""Tiled prediction: the plan of an image, candidates tile by tile, final nuclei band by band.

Each prediction tile is read with ``overlap`` pixels of context on every side, normalised,
rescaled to the model's pixel size, and the network gives object candidates (a probability and
radial distances on the model's grid). Only candidates whose centre lies in the tile's core are
kept, so each candidate comes from exactly one tile; :func:`segment_objects` streams them band
by band through the NMS (``nms``). Memory is bounded by one tile's network activations plus a
few bands of objects: it does not grow with the slide's height or its number of tiles.

Coordinates: pixels of the image, (row, column) = (y, x), pixel centres at integers (the
convention of StarDist and scikit-image). Windows are ``(y0, y1, x0, x1)``, end exclusive.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import FrontlineInputError
from .model import SegmentationModel
from .nms import Objects, Strips, counting, render_strips, suppress_bands
from .normalisation import Normalisation

log = logging.getLogger(__name__)

NMS_BORDER = 2  # candidates this many grid cells from the image edge are dropped (StarDist's b)
# model px per image px that a prediction can use: beyond it the tiles shrink to a few pixels
# (or grow past memory) and a nucleus is smaller than a pixel or larger than a tile
RESCALE_RANGE = (0.1, 10.0)

Window = tuple[int, int, int, int]  # (y0, y1, x0, x1), px, end exclusive
Reader = Callable[[Window], np.ndarray]  # raw nuclear channel of a window, image px


@dataclass
class Plan:
    """How one image is predicted: tile sizes and scale in image pixels."""

    scale: float  # model px per image px
    tile: int  # prediction tile core, image px
    overlap: int  # context around each tile, image px
    reach: float  # largest object radius, image px (rays are capped here)


def plan(
    model: SegmentationModel, image_pixel_size_um: float, tile_px: int = 1024, overlap_px: int = 64
) -> Plan:
    """Prediction geometry for an image.

    Parameters
    ----------
    model : SegmentationModel
    image_pixel_size_um : float, µm per image pixel
    tile_px, overlap_px : tile core and context at the model's pixel size, px

    Returns
    -------
    Plan (in image pixels)
    """
    if model.pixel_size_um is None:
        scale = 1.0
    else:
        check_rescale(image_pixel_size_um, model.pixel_size_um)
        scale = float(image_pixel_size_um) / model.pixel_size_um
        if abs(scale - 1.0) < 1e-3:
            scale = 1.0
    tile = max(model.div_by, int(round(tile_px / scale)))
    if scale == 1.0:  # whole network blocks: no padding inside the image
        tile = max(model.div_by, tile - tile % model.div_by)
    overlap = int(math.ceil(overlap_px / scale))
    reach = max(float(overlap), 1.0)
    return Plan(scale, tile, overlap, reach)


def check_rescale(
    image_pixel_size_um: float,
    model_pixel_size_um: float,
    *,
    image_from: str = "the image",
    model_from: str = "the model",
    sample: str | None = None,
    file: str | None = None,
) -> None:
    """FrontlineInputError unless the image's rescale to the model is within
    :data:`RESCALE_RANGE` (factor = image µm per px / model µm per px).

    Parameters
    ----------
    image_pixel_size_um, model_pixel_size_um : µm per pixel
    image_from, model_from : where each came from, for the message and its fix
    sample, file : for the message
    """
    factor = float(image_pixel_size_um) / float(model_pixel_size_um)
    lo, hi = RESCALE_RANGE
    if lo <= factor <= hi:
        return
    raise FrontlineInputError(
        f"segmentation would rescale the image x{factor:.3g} ({image_pixel_size_um:g} µm per "
        f"pixel from {image_from}, to the model's {model_pixel_size_um:g} from {model_from}); "
        f"nuclei are found between x{lo:g} and x{hi:g}",
        sample=sample,
        file=file,
        fix="check both pixel sizes: segmentation.model_pixel_size_um is the pixel size the "
        "model was trained at (0.5 for the shipped model), the image's is µm per pixel (its "
        "metadata, the sheet's pixel_size_um or the config's); or use a model trained near the "
        "image's pixel size",
    )


def log_plan(
    plan_: Plan, shape: tuple[int, int], pixel_size_um: float, model: SegmentationModel
) -> None:
    """One log line: image size, scale, tiles."""
    if model.pixel_size_um is None:
        log.info(
            "the model has no expected pixel size (frontline.json or "
            "segmentation.model_pixel_size_um): the image is not rescaled"
        )
    log.info(
        "image %d x %d px at %.4g µm/px; model %s µm/px (x%.3f); tiles of %d px with %d px context",
        shape[0],
        shape[1],
        pixel_size_um,
        "?" if model.pixel_size_um is None else f"{model.pixel_size_um:g}",
        plan_.scale,
        plan_.tile,
        plan_.overlap,
    )


def tiles(region: Window, tile: int, shape: tuple[int, int]) -> list[list[Window]]:
    """Cores of prediction tiles covering ``region``, as bands (rows of tiles).

    Parameters
    ----------
    region : (y0, y1, x0, x1), px
    tile : core edge, px
    shape : (Y, X) image size, px (cores are clipped to it)

    Returns
    -------
    list of bands; a band is a list of (y0, y1, x0, x1) cores, left to right
    """
    y0, y1, x0, x1 = region
    bands = []
    for ty in range(y0, y1, tile):
        band = [
            (ty, min(ty + tile, y1, shape[0]), tx, min(tx + tile, x1, shape[1]))
            for tx in range(x0, x1, tile)
        ]
        bands.append(band)
    return bands


def predict_tile(
    model: SegmentationModel, image: np.ndarray, prob_thresh: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Object candidates of one normalised tile at the model's resolution.

    Same numbers as ``StarDist2D.predict`` (reflect-padded to the network's block size, then
    cropped), but through one traced TensorFlow function for all tile shapes, which avoids
    Keras' per-call setup and a retrace for every new edge-tile shape.

    Parameters
    ----------
    model : SegmentationModel
    image : (h, w) float32, normalised, at the model's pixel size
    prob_thresh : float

    Returns
    -------
    points : (N, 2) int, candidate centres (y, x) in tile pixels
    dist : (N, R) float32, px
    prob : (N,) float32
    """
    div = model.div_by
    gy, gx = model.grid
    h, w = image.shape
    pad_y, pad_x = (-h) % div, (-w) % div
    x = np.pad(image, ((0, pad_y), (0, pad_x)), mode="reflect") if pad_y or pad_x else image
    prob, dist = model.network(np.ascontiguousarray(x, np.float32)[None, :, :, None])
    prob = prob.numpy()[0, :, :, 0]
    dist = dist.numpy()[0]
    crop_y = prob.shape[0] - (pad_y // gy if pad_y >= gy else 0)
    crop_x = prob.shape[1] - (pad_x // gx if pad_x >= gx else 0)
    prob, dist = prob[:crop_y, :crop_x], dist[:crop_y, :crop_x]
    inds = np.nonzero(prob > prob_thresh)
    points = np.stack(inds, axis=1) * np.asarray(model.grid)
    return points, np.maximum(dist[inds], 1e-3).astype(np.float32), prob[inds].astype(np.float32)


def _rescale(image: np.ndarray, factor: float) -> np.ndarray:
    """Resize a tile by ``factor`` (model px per image px), bilinear, pixel-centre aligned."""
    from scipy import ndimage as ndi

    if factor == 1.0:
        return image
    out_shape = tuple(max(1, round(s * factor)) for s in image.shape)
    zoom = tuple(o / s for o, s in zip(out_shape, image.shape))
    return ndi.zoom(image, zoom, order=1, mode="nearest", grid_mode=True)


def tile_candidates(
    model: SegmentationModel,
    read: Reader,
    shape: tuple[int, int],
    core: Window,
    norm: Normalisation,
    *,
    scale: float = 1.0,
    overlap: int = 64,
    background_max: float | None = None,
    max_radius: float | None = None,
) -> tuple[Objects, str]:
    """Candidates whose centre lies in one tile's core.

    Parameters
    ----------
    model : SegmentationModel
    read : callable ``read((y0, y1, x0, x1)) -> (h, w)`` raw nuclear channel, image px
    shape : (Y, X) image size, px
    core : (y0, y1, x0, x1) the tile's core, image px
    norm : Normalisation
    scale : model px per image px (image µm/px over the model's µm/px)
    overlap : context read around the core, image px
    background_max : float or None; a tile whose normalised intensity never exceeds it is
        background and skipped without running the network
    max_radius : float or None; radial distances are capped here (px)

    Returns
    -------
    Objects in image pixels, and a status str ("ok" or "background")
    """
    height, width = shape
    y0, y1, x0, x1 = core
    win = (
        max(0, y0 - overlap),
        min(height, y1 + overlap),
        max(0, x0 - overlap),
        min(width, x1 + overlap),
    )
    raw = np.asarray(read(win))
    lo, span = norm.lo, norm.hi - norm.lo
    if background_max is not None and (span <= 0 or raw.max() <= lo + background_max * span):
        return Objects.empty(model.n_rays), "background"
    image = (raw.astype(np.float32) - np.float32(lo)) / np.float32(span if span > 0 else 1.0)
    image = _rescale(image, scale)
    points, dist, prob = predict_tile(model, image, model.prob_thresh)
    fy = image.shape[0] / raw.shape[0]
    fx = image.shape[1] / raw.shape[1]
    # model px -> image px (pixel-centre aligned resize)
    yy = win[0] + (points[:, 0] + 0.5) / fy - 0.5
    xx = win[2] + (points[:, 1] + 0.5) / fx - 0.5
    dist = dist / np.float32(math.sqrt(fy * fx))
    keep = (yy >= y0) & (yy < y1) & (xx >= x0) & (xx < x1)
    # StarDist drops candidates within NMS_BORDER grid cells of the image edge
    gy, gx = model.grid
    border_y = (NMS_BORDER * gy) / fy
    border_x = (NMS_BORDER * gx) / fx
    keep &= (yy >= border_y - 1e-6) & (yy <= height - 1 - border_y + 1e-6)
    keep &= (xx >= border_x - 1e-6) & (xx <= width - 1 - border_x + 1e-6)
    if max_radius is not None:
        dist = np.minimum(dist, np.float32(max_radius))
    points = np.stack([yy[keep], xx[keep]], axis=1).astype(np.float32)
    return Objects(points, dist[keep], prob[keep]), "ok"


def predict_bands(
    model: SegmentationModel,
    read: Reader,
    shape: tuple[int, int],
    norm: Normalisation,
    plan_: Plan,
    region: Window | None = None,
    background_max: float | None = None,
) -> Iterator[tuple[Objects, int, int]]:
    """Candidates of every prediction tile in ``region``, band by band (see :func:`tiles`).

    Yields
    ------
    (Objects, y0, y1) per band of tiles; logs progress per tile
    """
    region = region or (0, shape[0], 0, shape[1])
    bands = tiles(region, plan_.tile, shape)
    total = sum(len(b) for b in bands)
    done = skipped = 0
    for band in bands:
        parts = []
        for core in band:
            cand, status = tile_candidates(
                model,
                read,
                shape,
                core,
                norm,
                scale=plan_.scale,
                overlap=plan_.overlap,
                background_max=background_max,
                max_radius=plan_.reach,
            )
            done += 1
            skipped += status == "background"
            log.info(
                "tile %d/%d y %d-%d x %d-%d: %s",
                done,
                total,
                core[0],
                core[1],
                core[2],
                core[3],
                "background, skipped" if status == "background" else f"{len(cand)} candidates",
            )
            parts.append(cand)
        yield Objects.concat(parts, model.n_rays), band[0][0], band[0][1]
    if skipped:
        log.info("%d of %d tiles were background and skipped", skipped, total)


def segment_objects(
    model: SegmentationModel,
    read: Reader,
    shape: tuple[int, int],
    norm: Normalisation,
    plan_: Plan,
    core: Window | None = None,
    halo: int = 0,
    background_max: float | None = None,
) -> Iterator[tuple[Objects, int]]:
    """Final nuclei (after NMS) of an image, or of one job tile's core.

    Parameters
    ----------
    model : SegmentationModel
    read : callable ``read((y0, y1, x0, x1)) -> (h, w)`` raw nuclear channel
    shape : (Y, X) image size, px
    norm : Normalisation (without signal, no tile is predicted and no object returned)
    plan_ : Plan
    core : (y0, y1, x0, x1) or None (the whole image); only objects whose centre lies in it
        are returned
    halo : context around ``core`` whose candidates take part in NMS, px (>= 2 * reach)
    background_max : see :func:`tile_candidates`

    Yields
    ------
    (Objects, y1) per band: kept objects with centre rows below y1 (and in ``core``)
    """
    height, width = shape
    core = core or (0, height, 0, width)
    region = (
        max(0, core[0] - halo),
        min(height, core[1] + halo),
        max(0, core[2] - halo),
        min(width, core[3] + halo),
    )
    if norm.signal:
        bands = predict_bands(model, read, shape, norm, plan_, region, background_max)
    else:
        bands = (
            (Objects.empty(model.n_rays), band[0][0], band[0][1])
            for band in tiles(region, plan_.tile, shape)
        )
    for kept, y1 in suppress_bands(bands, model.nms_thresh, plan_.reach, model.n_rays):
        inside = (
            (kept.points[:, 0] >= core[0])
            & (kept.points[:, 0] < core[1])
            & (kept.points[:, 1] >= core[2])
            & (kept.points[:, 1] < core[3])
        )
        yield kept.take(inside), min(y1, core[1])


def segment_labels(
    model: SegmentationModel,
    read: Reader,
    shape: tuple[int, int],
    norm: Normalisation,
    plan_: Plan,
    background_max: float | None = None,
    stats: dict | None = None,
    sample: str | None = None,
) -> Strips:
    """Label strips of a whole image (single job).

    Parameters
    ----------
    see :func:`segment_objects`; ``stats`` (dict or None) receives ``nuclei``, the count;
    ``sample`` names the sample in the warning when no nucleus is found

    Yields
    ------
    (y0, (h, X) uint32 labels) strips from top to bottom (see :func:`render_strips`)
    """
    kept = segment_objects(model, read, shape, norm, plan_, background_max=background_max)
    yield from render_strips(counting(kept, stats, sample), shape, plan_.reach)
