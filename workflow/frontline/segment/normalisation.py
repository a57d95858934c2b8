"""Normalisation of the nuclear channel: one intensity range per image, from sample windows.

The low/high percentiles are computed once per image from a regular grid of sample windows, so
every tile is scaled the same way and the slide is not read twice. An image whose range is
close to its pixel noise has no nuclear signal and is not searched. Tile jobs read the range
from the JSON file :func:`save_normalisation` writes.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import FrontlineInputError
from ..files import atomic_output

log = logging.getLogger(__name__)

Window = tuple[int, int, int, int]  # (y0, y1, x0, x1), px, end exclusive


def sample_windows(shape: tuple[int, int], size: int = 256, count: int = 64) -> list[Window]:
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


def pixel_noise(image: np.ndarray) -> float:
    """Robust pixel noise sigma of an image from neighbour differences (MAD), intensity units."""
    diff = np.diff(np.asarray(image, np.float64), axis=-1).ravel()
    if diff.size == 0:
        return 0.0
    return float(1.4826 * np.median(np.abs(diff - np.median(diff))) / math.sqrt(2))


def normalisation_range(
    read: Callable[[Window], np.ndarray],
    shape: tuple[int, int],
    percentiles: Sequence[float] = (1.0, 99.8),
    size: int = 256,
    count: int = 64,
    min_contrast: float | None = 10.0,
) -> Normalisation:
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


def save_normalisation(
    path: str | Path, norm: Normalisation, percentiles: Sequence[float], channel: str
) -> None:
    """Write an image's Normalisation as JSON (read by every job tile)."""
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


def load_normalisation(path: str | Path, channel: str) -> Normalisation:
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
