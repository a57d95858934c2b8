"""Nuclei segmentation with StarDist: seamless, tile by tile, in bounded memory.

How a slide is segmented
------------------------
1. **Normalisation** (:func:`normalisation_range`): the low/high percentiles of the nuclear
   channel are computed once per image from a regular grid of sample windows, so every tile
   is scaled the same way and the slide is not read twice.
2. **Candidates, tile by tile** (:func:`tile_candidates`): each prediction tile is read with
   ``overlap`` pixels of context on every side, rescaled to the model's pixel size, and the
   network gives object candidates (a probability and radial distances on the model's grid).
   Only candidates whose centre lies in the tile's core are kept, so each candidate comes from
   exactly one tile.
3. **Non-maximum suppression, band by band** (:func:`suppress_bands`): StarDist's NMS runs
   over one band (a row of tiles) together with the first rows of the next band; objects kept
   in earlier bands are final and suppress the candidates they overlap. No two kept objects
   overlap by more than ``nms_thresh`` anywhere, tile and band borders included, so no nucleus
   is found twice.
4. **Rendering, strip by strip** (:func:`render_strips`): whole polygons are drawn in
   ascending probability (as StarDist does) into 512-row strips; a strip is emitted once no
   later object can reach it. A nucleus is never cut by a tile border.

Memory is bounded by one tile's network activations plus a few bands of objects and one strip
of labels (512 rows x slide width): it does not grow with the slide's height or its number of
tiles. Label ids are 1..N in the order of the objects' centres (row, then column).

Cluster mode splits the slide into job tiles (:func:`job_grid`); each job finds the objects
whose centre lies in its core (:func:`segment_objects` with ``core``), and :func:`merge_jobs`
runs the same band NMS over the jobs' objects, one job row at a time, and renders the slide.

Coordinates: pixels of the image, (row, column) = (y, x), pixel centres at integers (the
convention of StarDist and scikit-image). Windows are ``(y0, y1, x0, x1)``, end exclusive.
"""

import contextlib
import io as _stdio
import itertools
import json
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .errors import FrontlineInputError

log = logging.getLogger(__name__)

STRIP = 512  # rows per rendered strip (= the label TIFF's tile edge)
NMS_BORDER = 2  # candidates this many grid cells from the image edge are dropped (StarDist's b)
FIXED_SCORE = 2.0  # score offset that makes already-final objects win every NMS comparison

PUBLISHED_HINT = (
    "set `segmentation.model: frontline_nuclei` (the model shipped in "
    "resources/models, works offline)"
)


# ----------------------------------------------------------------------------- the model


@dataclass
class SegmentationModel:
    """A loaded StarDist model and what frontline needs to apply it.

    Attributes
    ----------
    stardist : stardist.models.StarDist2D
    name : str, as given in the config
    source : "shipped" | "published" | "path"
    pixel_size_um : float or None, µm per pixel the model expects (None: images are not rescaled)
    prob_thresh, nms_thresh : float, the thresholds used (config, else the model's)
    """

    stardist: object
    name: str
    source: str
    pixel_size_um: float | None
    prob_thresh: float
    nms_thresh: float
    precision: str = "float32"
    _network: object = field(default=None, repr=False)

    @property
    def grid(self):
        """Subsampling of the network's output, (gy, gx)."""
        return tuple(int(g) for g in self.stardist.config.grid)

    @property
    def n_rays(self):
        return int(self.stardist.config.n_rays)

    @property
    def network(self):
        """The network as one traced function of a (1, h, w, 1) float32 batch -> (prob, dist).

        With ``precision == "bfloat16"`` the layers compute in bfloat16 (float32 weights and
        outputs): about twice as fast on CPUs with AVX512-BF16 or AMX, probabilities within
        ~0.03 of float32.
        """
        if self._network is None:
            import tensorflow as tf

            keras_model = self.stardist.keras_model
            if self.precision == "bfloat16":
                keras_model = _bfloat16_clone(keras_model)
            self._network = tf.function(
                lambda x: tuple(
                    tf.cast(t, tf.float32) for t in keras_model([x], training=False)[:2]
                ),
                input_signature=[tf.TensorSpec([1, None, None, 1], tf.float32)],
            )
        return self._network

    @property
    def div_by(self):
        """Tile edges the network accepts without padding are multiples of this."""
        config = self.stardist.config
        return int(config.unet_pool[0] ** config.unet_n_depth * config.grid[0])


def _bfloat16_clone(keras_model):
    """A copy of a Keras model whose layers compute in bfloat16 (weights stay float32)."""
    import keras

    def clone(layer):
        config = layer.get_config()
        if not isinstance(layer, keras.layers.InputLayer):
            config["dtype"] = "mixed_bfloat16"
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(keras_model, clone_function=clone)
    copy.set_weights(keras_model.get_weights())
    return copy


def cpu_has_bfloat16():
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX), from /proc/cpuinfo."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def resolve_precision(precision):
    """``auto`` -> ``bfloat16`` on a CPU that computes it natively (and no GPU), else float32."""
    if precision in ("float32", "bfloat16"):
        return precision
    if precision != "auto":
        raise FrontlineInputError(
            f"segmentation.precision is '{precision}'", fix="use auto, float32 or bfloat16"
        )
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return "float32"
    return "bfloat16" if cpu_has_bfloat16() else "float32"


def set_threads(n):
    """Let TensorFlow use ``n`` threads (a job's share of a cluster node); call before loading."""
    import tensorflow as tf

    n = max(1, int(n))
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
    except RuntimeError:  # TensorFlow already initialised in this process: keep its setting
        log.info("TensorFlow is already initialised; its thread count stays as it is")


def published_models():
    """Names (and aliases) of StarDist's published 2D models."""
    from csbdeep.models.pretrained import get_registered_models
    from stardist.models import StarDist2D

    names, aliases = get_registered_models(StarDist2D, return_aliases=True, verbose=False)
    return list(names) + [a for key in names for a in aliases.get(key, ())]


def load_model(
    spec,
    basedir="resources/models",
    *,
    prob_thresh=None,
    nms_thresh=None,
    pixel_size_um=None,
    precision="float32",
    sample=None,
):
    """Load a StarDist 2D nuclei model from the config's ``segmentation.model``.

    Parameters
    ----------
    spec : str, one of
        - a folder in ``basedir`` (a shipped model, e.g. ``frontline_nuclei``),
        - a published StarDist name (``2D_versatile_fluo``; downloaded once, needs internet),
        - a path to a StarDist model folder (config.json, thresholds.json, weights*.h5).
    basedir : folder of shipped models
    prob_thresh, nms_thresh : float or None; None takes the model's thresholds.json
    pixel_size_um : float or None, µm per pixel the model expects; overrides the model's
        ``frontline.json``. None for a model without one: images are not rescaled.
    precision : "float32" (StarDist's numbers), "bfloat16" (faster on CPUs with AVX512-BF16
        or AMX) or "auto" (bfloat16 where the CPU computes it natively)
    sample : sample name, for error messages

    Returns
    -------
    SegmentationModel
    """
    spec = str(spec).strip()
    if not spec:
        raise FrontlineInputError(
            "`segmentation.model` is empty", sample=sample, fix=PUBLISHED_HINT
        )
    shipped = Path(basedir) / spec if basedir else None
    as_path = Path(spec).expanduser()
    looks_like_path = "/" in spec or "\\" in spec or spec.startswith(".") or as_path.is_absolute()
    if as_path.is_dir() and looks_like_path:
        model = _load_folder(as_path, spec, "path", prob_thresh, nms_thresh, pixel_size_um, sample)
    elif shipped is not None and shipped.is_dir():
        model = _load_folder(
            shipped, spec, "shipped", prob_thresh, nms_thresh, pixel_size_um, sample
        )
    elif as_path.is_dir():
        model = _load_folder(as_path, spec, "path", prob_thresh, nms_thresh, pixel_size_um, sample)
    elif not looks_like_path and spec in published_models():
        model = _load_published(spec, prob_thresh, nms_thresh, pixel_size_um, sample)
    elif looks_like_path:
        raise FrontlineInputError(
            f"the model folder '{spec}' does not exist",
            sample=sample,
            file=spec,
            fix="set `segmentation.model` to an existing StarDist "
            "model folder, or " + PUBLISHED_HINT,
        )
    else:
        where = f"in '{basedir}'" if basedir else "(no `model_basedir` set)"
        raise FrontlineInputError(
            f"the model '{spec}' is not a folder {where}, not a folder path and not a published "
            f"StarDist model (published: {published_models()})",
            sample=sample,
            file=shipped if shipped is not None else spec,
            fix="check `segmentation.model` and `segmentation.model_basedir`, or " + PUBLISHED_HINT,
        )
    model.precision = resolve_precision(precision)
    log.info("network precision: %s", model.precision)
    return model


def _load_folder(folder, spec, source, prob_thresh, nms_thresh, pixel_size_um, sample):
    from stardist.models import StarDist2D

    fix = (
        "point `segmentation.model` at a folder written by StarDist (config.json, "
        "thresholds.json, weights_best.h5), or " + PUBLISHED_HINT
    )
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise FrontlineInputError(
            "the model folder has no config.json, so it is not a StarDist model",
            sample=sample,
            file=folder,
            fix=fix,
        )
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise FrontlineInputError(
            f"the model's config.json is not valid JSON ({err})",
            sample=sample,
            file=config_file,
            fix=fix,
        ) from None
    if not isinstance(config, dict) or "n_rays" not in config or config.get("n_dim", 2) != 2:
        raise FrontlineInputError(
            "config.json does not describe a StarDist 2D model (no n_rays, or not 2D)",
            sample=sample,
            file=config_file,
            fix=fix,
        )
    if int(config.get("n_channel_in", 1)) != 1:
        raise FrontlineInputError(
            f"the model expects {config.get('n_channel_in')} input channels; nuclei segmentation "
            "feeds it one (the nuclear channel)",
            sample=sample,
            file=config_file,
            fix="use a single-channel fluorescence model, or " + PUBLISHED_HINT,
        )
    weights = sorted(list(folder.glob("*.h5")) + list(folder.glob("*.hdf5")))
    if not weights:
        raise FrontlineInputError(
            "the model folder has no weights (*.h5)", sample=sample, file=folder, fix=fix
        )
    try:
        model = _quiet(StarDist2D, None, name=folder.name, basedir=str(folder.parent))
    except Exception as err:  # noqa: BLE001 - any failure here means a broken model folder
        raise FrontlineInputError(
            f"StarDist cannot load the model ({type(err).__name__}: {err})",
            sample=sample,
            file=folder,
            fix=fix,
        ) from None
    expected = pixel_size_um
    meta_file = folder / "frontline.json"
    if expected is None and meta_file.is_file():
        try:
            expected = json.loads(meta_file.read_text(encoding="utf-8")).get("pixel_size_um")
        except (ValueError, AttributeError) as err:
            raise FrontlineInputError(
                f"frontline.json is not valid ({err})",
                sample=sample,
                file=meta_file,
                fix='write {"pixel_size_um": <µm>}',
            ) from None
    return _finish(model, spec, source, expected, prob_thresh, nms_thresh, sample, folder)


def _load_published(name, prob_thresh, nms_thresh, pixel_size_um, sample):
    from stardist.models import StarDist2D

    try:
        model = _quiet(StarDist2D.from_pretrained, name)
    except Exception as err:  # noqa: BLE001 - keras raises a bare Exception for a failed fetch
        raise FrontlineInputError(
            f"the published StarDist model '{name}' is not cached and cannot be downloaded "
            f"({type(err).__name__}: {str(err)[:200]})",
            sample=sample,
            fix="connect to the internet once (the model is cached in ~/.keras/models), or "
            + PUBLISHED_HINT,
        ) from None
    if model is None:
        raise FrontlineInputError(
            f"StarDist has no published model '{name}'", sample=sample, fix=PUBLISHED_HINT
        )
    if int(model.config.n_channel_in) != 1:
        raise FrontlineInputError(
            f"the published model '{name}' expects {model.config.n_channel_in} input channels; "
            "nuclei segmentation feeds it one (the nuclear channel)",
            sample=sample,
            fix="use '2D_versatile_fluo', or " + PUBLISHED_HINT,
        )
    return _finish(model, name, "published", pixel_size_um, prob_thresh, nms_thresh, sample, None)


def _finish(model, spec, source, expected, prob_thresh, nms_thresh, sample, folder):
    if expected is not None:
        try:
            expected = float(expected)
        except (TypeError, ValueError):
            expected = float("nan")
        if not expected > 0:
            raise FrontlineInputError(
                "the model's expected pixel size is not a positive number",
                sample=sample,
                file=folder,
                fix="set `segmentation.model_pixel_size_um` (µm per pixel)",
            )
    prob = model.thresholds.prob if prob_thresh is None else prob_thresh
    nms = model.thresholds.nms if nms_thresh is None else nms_thresh
    log.info(
        "model %s (%s%s): prob_thresh %.3f, nms_thresh %.2f, pixel size %s",
        spec,
        source,
        f", {folder}" if folder is not None else "",
        prob,
        nms,
        "not set (no rescaling)" if expected is None else f"{expected:g} µm",
    )
    return SegmentationModel(model, spec, source, expected, float(prob), float(nms))


def _quiet(func, *args, **kwargs):
    """Call a StarDist loader, sending what it prints to the log instead of stdout."""
    out = _stdio.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            return func(*args, **kwargs)
    finally:
        for line in out.getvalue().splitlines():
            if line.strip():
                log.info("stardist: %s", line.strip())


# ----------------------------------------------------------------------------- normalisation


def sample_windows(shape, size=256, count=64):
    """A regular grid of sample windows covering the image evenly.

    Parameters
    ----------
    shape : (Y, X) image size, px
    size : window edge, px
    count : about how many windows (a square number is used exactly)

    Returns
    -------
    list of (y0, y1, x0, x1) windows, px; the whole image when it is smaller than the sample
    """
    height, width = int(shape[0]), int(shape[1])
    if height * width <= count * size * size:
        return [(0, height, 0, width)]
    rows = max(1, min(round(math.sqrt(count * height / width)), height // size))
    cols = max(1, min(math.ceil(count / rows), width // size))
    windows = []
    for r in range(rows):
        yc = int((r + 0.5) * height / rows)
        y0 = min(max(0, yc - size // 2), max(0, height - size))
        for c in range(cols):
            xc = int((c + 0.5) * width / cols)
            x0 = min(max(0, xc - size // 2), max(0, width - size))
            windows.append((y0, min(height, y0 + size), x0, min(width, x0 + size)))
    return windows


class Normalisation(NamedTuple):
    """How the nuclear channel is scaled: ``(x - lo) / (hi - lo)``.

    lo, hi : floats, intensity at the low and high percentile of the whole image
    contrast : (hi - lo) in units of the pixel noise (inf when the noise measures 0)
    signal : bool, whether the image has nuclear signal (contrast >= min_contrast)
    """

    lo: float
    hi: float
    contrast: float = math.inf
    signal: bool = True


def pixel_noise(image):
    """Robust pixel noise sigma of an image from neighbour differences (MAD), intensity units."""
    diff = np.diff(np.asarray(image, np.float64), axis=-1).ravel()
    if diff.size == 0:
        return 0.0
    return float(1.4826 * np.median(np.abs(diff - np.median(diff))) / math.sqrt(2))


def normalisation_range(
    read, shape, percentiles=(1.0, 99.8), size=256, count=64, min_contrast=10.0
):
    """Low and high intensity of the whole image from a grid of sample windows.

    Parameters
    ----------
    read : callable, ``read((y0, y1, x0, x1)) -> (h, w) array`` of the nuclear channel
    shape : (Y, X) image size, px
    percentiles : (low, high) in percent
    size, count : sample window edge (px) and number (see :func:`sample_windows`)
    min_contrast : an image whose percentile range is less than this many times its pixel
        noise has no nuclear signal (percentile scaling would blow camera noise up into
        "nuclei"); None or 0 disables the check. Images with nuclei measure 20-300.

    Returns
    -------
    Normalisation
    """
    windows = sample_windows(shape, size, count)
    samples = [np.asarray(read(w)) for w in windows]
    values = np.concatenate([x.ravel() for x in samples])
    lo, hi = (float(v) for v in np.percentile(values, percentiles))
    noise = float(np.median([pixel_noise(x) for x in samples]))
    contrast = (hi - lo) / noise if noise > 0 else (math.inf if hi > lo else 0.0)
    signal = not min_contrast or contrast >= min_contrast
    log.info(
        "normalisation from %d sample window(s), %d px: %.4g (p%g) .. %.4g (p%g); "
        "range %.1f x the pixel noise",
        len(windows),
        values.size,
        lo,
        percentiles[0],
        hi,
        percentiles[1],
        contrast,
    )
    if not signal:
        log.warning(
            "the nuclear channel has no signal: its intensity range (p%g-p%g) is only "
            "%.1f x the pixel noise (images with nuclei: 20 or more); no nuclei will be "
            "searched. If the image does have nuclei, set segmentation.min_contrast "
            "lower (0 disables the check)",
            percentiles[0],
            percentiles[1],
            contrast,
        )
    return Normalisation(lo, hi, contrast, signal)


# ----------------------------------------------------------------------------- objects


class Objects(NamedTuple):
    """Star-convex objects (candidates or nuclei), in image pixels.

    points : (N, 2) float32, centre (y, x), px
    dist : (N, R) float32, radial distances along StarDist's ray angles, px
    prob : (N,) float32, object probability
    """

    points: np.ndarray
    dist: np.ndarray
    prob: np.ndarray

    @classmethod
    def empty(cls, n_rays):
        return cls(
            np.zeros((0, 2), np.float32), np.zeros((0, n_rays), np.float32), np.zeros(0, np.float32)
        )

    @classmethod
    def concat(cls, parts, n_rays):
        parts = [p for p in parts if p is not None and len(p.prob)]
        if not parts:
            return cls.empty(n_rays)
        return cls(*(np.concatenate(arrays) for arrays in zip(*parts)))

    def take(self, index):
        return Objects(self.points[index], self.dist[index], self.prob[index])

    def __len__(self):  # number of objects (not of fields)
        return len(self.prob)


def _order(objects):
    """Indices sorting objects by centre row, then column, then descending probability."""
    return np.lexsort((-objects.prob, objects.points[:, 1], objects.points[:, 0]))


def polygon_coords(objects):
    """Polygon vertices of each object, (N, 2, R) float32 (rows, columns), px."""
    from stardist.geometry import dist_to_coord

    if len(objects) == 0:
        return np.zeros((0, 2, objects.dist.shape[1]), np.float32)
    return dist_to_coord(objects.dist, objects.points)


# ----------------------------------------------------------------------------- prediction


def tiles(region, tile, shape):
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


def predict_tile(model, image, prob_thresh):
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


def _rescale(image, factor):
    """Resize a tile by ``factor`` (model px per image px), bilinear, pixel-centre aligned."""
    from scipy import ndimage as ndi

    if factor == 1.0:
        return image
    out_shape = tuple(max(1, round(s * factor)) for s in image.shape)
    zoom = tuple(o / s for o, s in zip(out_shape, image.shape))
    return ndi.zoom(image, zoom, order=1, mode="nearest", grid_mode=True)


def tile_candidates(
    model, read, shape, core, norm, *, scale=1.0, overlap=64, background_max=None, max_radius=None
):
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


# ----------------------------------------------------------------------------- NMS


def _nms(pool, score, nms_thresh):
    """Indices into ``pool`` kept by StarDist's greedy NMS on ``score``."""
    from stardist.nms import non_maximum_suppression_inds

    if len(pool) == 0:
        return np.zeros(0, int)
    order = np.argsort(-score, kind="stable")
    with _openmp_threads(1):
        keep = non_maximum_suppression_inds(
            pool.dist[order], pool.points[order], score[order], thresh=nms_thresh, verbose=False
        )
    return np.sort(order[keep])


def _stardist_openmp():
    """The OpenMP runtime StarDist's C extension uses (ctypes handle), or None."""
    import ctypes
    import ctypes.util

    import stardist

    bundled = sorted((Path(stardist.__file__).parent.parent / "stardist.libs").glob("libgomp*"))
    name = str(bundled[0]) if bundled else ctypes.util.find_library("gomp")
    if not name:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


@contextlib.contextmanager
def _openmp_threads(n):
    """Run StarDist's C code with ``n`` OpenMP threads, then restore the setting.

    StarDist's NMS opens an OpenMP parallel region per polygon; with 1 thread there is no
    barrier per polygon, which on a busy machine (threads descheduled) is many times faster
    and on an idle one about as fast: the work per polygon is tiny.
    """
    lib = _stardist_openmp()
    if lib is None:
        yield
        return
    before = lib.omp_get_max_threads()
    lib.omp_set_num_threads(int(n))
    try:
        yield
    finally:
        lib.omp_set_num_threads(before)


def suppress_bands(bands, nms_thresh, reach, n_rays):
    """Non-maximum suppression over a stream of bands, consistent across band borders.

    Parameters
    ----------
    bands : iterable of (Objects, y0, y1): candidates whose centre row is in [y0, y1), bands
        in increasing, contiguous y
    nms_thresh : float, StarDist's overlap threshold
    reach : float, the largest object radius, px (objects farther apart never overlap)
    n_rays : int

    Yields
    ------
    (Objects, y1): the kept objects with centre row in [y0, y1) of each band, in band order
    """
    fixed = Objects.empty(n_rays)  # kept objects of earlier bands near the current one
    pending = None
    margin = 2.0 * reach
    for item in list_then_none(bands):
        if pending is not None:
            cand, py0, py1 = pending
            ahead = Objects.empty(n_rays)
            if item is not None:
                nxt = item[0]
                ahead = nxt.take(nxt.points[:, 0] < py1 + margin)
            pool = Objects.concat([fixed, cand, ahead], n_rays)
            score = np.concatenate([fixed.prob + FIXED_SCORE, cand.prob, ahead.prob])
            kept_idx = _nms(pool, score, nms_thresh)
            mine = kept_idx[(kept_idx >= len(fixed)) & (kept_idx < len(fixed) + len(cand))]
            kept = pool.take(mine)
            yield kept, py1
            fixed = Objects.concat([fixed, kept], n_rays)
            fixed = fixed.take(fixed.points[:, 0] >= py1 - margin)
        pending = item


def list_then_none(iterable):
    """Yield the items, then None (so a loop can finish its pending work)."""
    yield from iterable
    yield None


# ----------------------------------------------------------------------------- rendering


def render(objects, ids, window):
    """Draw objects into a label window, higher probability on top (as StarDist does).

    Parameters
    ----------
    objects : Objects, image px
    ids : (N,) int label ids
    window : (y0, y1, x0, x1), px

    Returns
    -------
    (y1 - y0, x1 - x0) uint32 labels
    """
    from skimage.draw import polygon

    y0, y1, x0, x1 = window
    out = np.zeros((y1 - y0, x1 - x0), np.uint32)
    if len(objects) == 0:
        return out
    coords = polygon_coords(objects)
    order = np.argsort(objects.prob, kind="stable")
    shape = out.shape
    for i in order:
        rr, cc = polygon(coords[i, 0] - y0, coords[i, 1] - x0, shape)
        out[rr, cc] = ids[i]
    return out


def render_strips(kept_bands, shape, reach, strip=STRIP, first_id=1):
    """Render label strips of a slide from a stream of final objects.

    Parameters
    ----------
    kept_bands : iterable of (Objects, y_done): final objects, and the row below which every
        object centre has now been given (increasing)
    shape : (Y, X) image size, px
    reach : float, largest object radius, px
    strip : rows per strip
    first_id : the first label id

    Yields
    ------
    (y0, labels) with labels a (h, X) uint32 strip; ids are consecutive in the order of the
    objects' centres (row, column)
    """
    height, width = shape
    held = Objects.empty(0)
    held_ids = np.zeros(0, np.int64)
    next_id = first_id
    s0 = 0
    for item in list_then_none(kept_bands):
        if item is None:
            y_done = math.inf
        else:
            kept, y_done = item
            order = _order(kept)
            kept = kept.take(order)
            ids = np.arange(next_id, next_id + len(kept), dtype=np.int64)
            next_id += len(kept)
            held = Objects.concat([held, kept], kept.dist.shape[1]) if len(held) else kept
            held_ids = np.concatenate([held_ids, ids])
        while s0 < height and min(s0 + strip, height) + reach <= y_done:
            s1 = min(s0 + strip, height)
            near = (held.points[:, 0] >= s0 - reach - 1) & (held.points[:, 0] < s1 + reach + 1)
            yield s0, render(held.take(near), held_ids[near], (s0, s1, 0, width))
            s0 = s1
            stay = held.points[:, 0] >= s0 - reach - 1
            held, held_ids = held.take(stay), held_ids[stay]
    if next_id - first_id > np.iinfo(np.uint32).max:
        raise ValueError("more nuclei than uint32 label ids")


def strips_to_tiles(strips, width, tile=STRIP):
    """Cut (y0, strip) rows into (tile, tile) blocks, row-major, as tifffile writes them."""
    for _, labels in strips:
        for x0 in range(0, width, tile):
            block = labels[:, x0 : x0 + tile]
            if block.shape != (tile, tile):
                padded = np.zeros((tile, tile), labels.dtype)
                padded[: block.shape[0], : block.shape[1]] = block
                block = padded
            yield block


# ----------------------------------------------------------------------------- one image


@dataclass
class Plan:
    """How one image is predicted: tile sizes and scale in image pixels."""

    scale: float  # model px per image px
    tile: int  # prediction tile core, image px
    overlap: int  # context around each tile, image px
    reach: float  # largest object radius, image px (rays are capped here)


def plan(model, image_pixel_size_um, tile_px=1024, overlap_px=64):
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
        scale = float(image_pixel_size_um) / model.pixel_size_um
        if abs(scale - 1.0) < 1e-3:
            scale = 1.0
    tile = max(model.div_by, int(round(tile_px / scale)))
    if scale == 1.0:  # whole network blocks: no padding inside the image
        tile = max(model.div_by, tile - tile % model.div_by)
    overlap = int(math.ceil(overlap_px / scale))
    reach = max(float(overlap), 1.0)
    return Plan(scale, tile, overlap, reach)


def predict_bands(model, read, shape, norm, plan_, region=None, background_max=None):
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


def segment_objects(model, read, shape, norm, plan_, core=None, halo=0, background_max=None):
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


def segment_labels(model, read, shape, norm, plan_, background_max=None, stats=None):
    """Label strips of a whole image (single job).

    Parameters
    ----------
    see :func:`segment_objects`; ``stats`` (dict or None) receives ``nuclei``, the count

    Yields
    ------
    (y0, (h, X) uint32 labels) strips from top to bottom (see :func:`render_strips`)
    """
    kept = segment_objects(model, read, shape, norm, plan_, background_max=background_max)
    yield from render_strips(_counting(kept, stats), shape, plan_.reach)


def _counting(kept_bands, stats):
    total = 0
    for kept, y in kept_bands:
        total += len(kept)
        yield kept, y
    log.info("%d nuclei", total)
    if stats is not None:
        stats["nuclei"] = total


def log_plan(plan_, shape, pixel_size_um, model):
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


def report_count(stats, sample, path):
    """Warn when no nucleus was found (the label image is then empty)."""
    if stats.get("nuclei", 0) == 0:
        log.warning(
            "sample '%s': no nuclei found; %s is an empty label image. If the image "
            "does have nuclei, check segmentation.nuclear_channel, the normalisation "
            "percentiles and prob_thresh",
            sample,
            path,
        )


# ----------------------------------------------------------------------------- tile jobs


def job_grid(shape, job_tile_px):
    """Job tiles of a slide, row-major.

    Parameters
    ----------
    shape : (Y, X) image size, px
    job_tile_px : job tile edge, px

    Returns
    -------
    dict ``{tile_id: (y0, y1, x0, x1)}``; ids ``r{row:03d}c{col:03d}``
    """
    height, width = int(shape[0]), int(shape[1])
    step = int(job_tile_px)
    grid = {}
    for r, y0 in enumerate(range(0, height, step)):
        for c, x0 in enumerate(range(0, width, step)):
            grid[f"r{r:03d}c{c:03d}"] = (y0, min(y0 + step, height), x0, min(x0 + step, width))
    return grid


def segment_job(
    model, read, shape, norm, plan_, tile_id, job_tile_px, job_halo_px, background_max=None
):
    """The final nuclei whose centre lies in one job tile's core.

    Parameters
    ----------
    tile_id : a key of :func:`job_grid` (``r000c001``)
    job_tile_px, job_halo_px : job tile edge and context halo, image px; the halo should be at
        least twice the largest object radius (``plan_.reach``)
    other parameters : see :func:`segment_objects`

    Returns
    -------
    JobTile (``pixel_size_um`` left for the caller to set)
    """
    grid = job_grid(shape, job_tile_px)
    if tile_id not in grid:
        raise FrontlineInputError(
            f"job tile '{tile_id}' is not in the {len(grid)} tiles of a "
            f"{shape[0]} x {shape[1]} px image",
            fix="rerun the workflow so the tile list is rebuilt",
        )
    core = grid[tile_id]
    if job_halo_px < 2 * plan_.reach:
        log.warning(
            "job_halo_px (%d) is less than twice the object radius (%g px): nuclei near "
            "job borders may be found twice or missed",
            job_halo_px,
            plan_.reach,
        )
    log.info("job tile %s: y %d-%d x %d-%d with %d px halo", tile_id, *core, job_halo_px)
    parts = [
        kept
        for kept, _ in segment_objects(
            model, read, shape, norm, plan_, core, job_halo_px, background_max
        )
    ]
    objects = Objects.concat(parts, model.n_rays)
    log.info("job tile %s: %d nuclei", tile_id, len(objects))
    return JobTile(objects, core, tuple(shape), float("nan"), plan_.reach, model.nms_thresh)


def job_rows(paths, sample=None):
    """Group job tile files into rows and check that they tile the slide.

    Parameters
    ----------
    paths : job tile ``.npz`` files (names ``r{row}c{col}.npz``)
    sample : for messages

    Returns
    -------
    shape : (Y, X) of the slide, px
    pixel_size_um : float
    rows : iterable of lists of JobTile, top to bottom, each row loaded when reached
    """
    by_row = {}
    for path in paths:
        match = re.fullmatch(r"r(\d+)c(\d+)", Path(path).name.split(".")[0])
        if match is None:
            raise FrontlineInputError(
                "a job tile file is not named r<row>c<col>.npz",
                sample=sample,
                file=path,
                fix="rerun the workflow",
            )
        by_row.setdefault(int(match[1]), []).append((int(match[2]), path))
    if not by_row:
        raise FrontlineInputError("no job tiles to merge", sample=sample, fix="rerun the workflow")
    first = load_job_tile(sorted(by_row[min(by_row)])[0][1])
    ref = (first.shape, first.pixel_size_um, first.reach, first.nms_thresh)

    def rows():
        y = 0
        for row in sorted(by_row):
            jobs = [load_job_tile(path) for _, path in sorted(by_row[row])]
            x = 0
            for (col, path), job in zip(sorted(by_row[row]), jobs):
                same = (job.shape, job.pixel_size_um, job.reach, job.nms_thresh) == ref
                if not same or job.core[0] != y or job.core[2] != x:
                    raise FrontlineInputError(
                        f"job tile r{row}c{col} does not fit the others (core {job.core}, "
                        f"slide {job.shape}; expected rows from {y}, columns from {x}, slide "
                        f"{first.shape})",
                        sample=sample,
                        file=path,
                        fix="delete results/<sample>/tiles/ and rerun (the tiles come from "
                        "different settings or images)",
                    )
                x = job.core[3]
            if x != first.shape[1]:
                raise FrontlineInputError(
                    f"job tile row {row} ends at column {x}, not at the "
                    f"slide's width {first.shape[1]}",
                    sample=sample,
                    fix="delete results/<sample>/tiles/ and rerun",
                )
            y = jobs[0].core[1]
            yield jobs
        if y != first.shape[0]:
            raise FrontlineInputError(
                f"the job tiles end at row {y}, not at the slide's height {first.shape[0]}",
                sample=sample,
                fix="delete results/<sample>/tiles/ and rerun",
            )

    return first.shape, first.pixel_size_um, rows()


def merge_job_rows(rows, stats=None):
    """Merge job tiles' objects into label strips of the slide.

    Objects of neighbouring jobs that overlap by more than ``nms_thresh`` are one nucleus found
    twice: the band NMS keeps the more probable one. Ids are consecutive in (row, column) order
    of the centres, as in a single job.

    Parameters
    ----------
    rows : iterable of lists of JobTile, top to bottom (see :func:`job_rows`)
    stats : dict or None, receives ``nuclei``

    Yields
    ------
    (y0, (h, X) uint32 labels) strips
    """
    rows = iter(rows)
    first = next(rows)
    ref = first[0]
    n_rays = ref.objects.dist.shape[1]

    def bands():
        for jobs in itertools.chain([first], rows):
            yield (
                Objects.concat([j.objects for j in jobs], n_rays),
                jobs[0].core[0],
                jobs[0].core[1],
            )

    kept = suppress_bands(bands(), ref.nms_thresh, ref.reach, n_rays)
    yield from render_strips(_counting(kept, stats), ref.shape, ref.reach)


# ----------------------------------------------------------------------------- files


def write_label_strips(path, strips, shape, pixel_size_um, tile=STRIP):
    """Stream label strips into a tiled, zlib-compressed uint32 OME-TIFF with µm pixel size.

    Same layout as :func:`frontline.io.write_labels` (one channel named ``labels``), written
    without holding the slide in memory.

    Parameters
    ----------
    path : output ``.ome.tif``
    strips : iterable of (y0, (h, X) uint32) strips from top to bottom, h = ``tile`` except
        the last
    shape : (Y, X), px
    pixel_size_um : float, µm per pixel
    """
    import tifffile

    from .files import atomic_output

    height, width = int(shape[0]), int(shape[1])
    metadata = {
        "axes": "CYX",
        "Channel": {"Name": ["labels"]},
        "PhysicalSizeX": float(pixel_size_um),
        "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": float(pixel_size_um),
        "PhysicalSizeYUnit": "µm",
    }
    with atomic_output(path) as tmp:
        with tifffile.TiffWriter(tmp, bigtiff=height * width * 4 > 2**31, ome=True) as tif:
            tif.write(
                strips_to_tiles(strips, width, tile),
                shape=(1, height, width),
                dtype=np.uint32,
                tile=(tile, tile),
                compression="zlib",
                photometric="minisblack",
                metadata=metadata,
                resolutionunit="CENTIMETER",
                resolution=(1e4 / pixel_size_um, 1e4 / pixel_size_um),
            )


@dataclass
class JobTile:
    """One job tile's result: its final objects and what the merge needs to know."""

    objects: Objects
    core: tuple  # (y0, y1, x0, x1), px
    shape: tuple  # (Y, X) of the slide, px
    pixel_size_um: float
    reach: float  # largest object radius, px
    nms_thresh: float


def save_job_tile(path, job):
    """Write a :class:`JobTile` as ``.npz`` (points, dist, prob and the job's geometry)."""
    from .files import atomic_output

    with atomic_output(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                points=job.objects.points,
                dist=job.objects.dist,
                prob=job.objects.prob,
                core=np.asarray(job.core, np.int64),
                shape=np.asarray(job.shape, np.int64),
                pixel_size_um=np.float64(job.pixel_size_um),
                reach=np.float64(job.reach),
                nms_thresh=np.float64(job.nms_thresh),
            )


def save_normalisation(path, norm, percentiles, channel):
    """Write an image's Normalisation as JSON (read by every job tile)."""
    from .files import atomic_output

    data = {
        "channel": channel,
        "percentiles": list(percentiles),
        "low": norm.lo,
        "high": norm.hi,
        "contrast": min(norm.contrast, 1e300),
        "signal": bool(norm.signal),
    }
    with atomic_output(path) as tmp:
        Path(tmp).write_text(json.dumps(data, indent=1), encoding="utf-8")


def load_normalisation(path, channel):
    """The Normalisation written by :func:`save_normalisation`; the channel must match."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if data.get("channel") != channel:
        raise FrontlineInputError(
            f"the normalisation was computed for channel '{data.get('channel')}', not '{channel}'",
            file=path,
            fix="delete the file and rerun",
        )
    return Normalisation(
        float(data["low"]), float(data["high"]), float(data["contrast"]), bool(data["signal"])
    )


def load_job_tile(path):
    """Read a :class:`JobTile` written by :func:`save_job_tile`."""
    try:
        with np.load(path) as data:
            objects = Objects(data["points"], data["dist"], data["prob"])
            return JobTile(
                objects,
                tuple(int(v) for v in data["core"]),
                tuple(int(v) for v in data["shape"]),
                float(data["pixel_size_um"]),
                float(data["reach"]),
                float(data["nms_thresh"]),
            )
    except (OSError, KeyError, ValueError) as err:
        raise FrontlineInputError(
            f"cannot read the job tile's objects ({err})",
            file=path,
            fix="rerun the segment_tile job that writes it",
        ) from None
