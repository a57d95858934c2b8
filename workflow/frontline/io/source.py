"""What a format reader hands to :func:`frontline.io.open_image`, and window reads of planes.

Every format reader (``tiff``, ``vendor``) describes what it found as a :class:`Source`: the
lazily read planes of each resolution level and what the file says about their names and
pixel size. ``open_image`` resolves names and pixel size from it (``metadata``) and wraps the
planes in an :class:`~frontline.io.ImageReader`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from ..errors import FrontlineInputError


class Plane:
    """One lazily read 2-D plane: ``array[lead + (ys, xs)]`` is a (h, w) window."""

    def __init__(self, array: Any, lead: tuple = ()) -> None:
        self.array = array
        self.lead = tuple(lead)
        self.shape = tuple(int(n) for n in array.shape[-2:])
        self.dtype = np.dtype(array.dtype)


class Level:
    """One resolution level: C planes of the same (h, w) shape."""

    def __init__(self, planes: list[Plane]) -> None:
        self.planes = list(planes)
        self.shape = self.planes[0].shape
        self.count = len(self.planes)


@dataclass
class Source:
    """An image file (or folder) as a format reader found it.

    Attributes
    ----------
    levels : list of Level, full resolution first
    names : list of str or None, channel names the file gives (None: it gives none)
    names_from : where the names come from, for messages (e.g. "OME-XML")
    fluors : list of str or None, the vendor's fluor names (None: same as the names)
    pixel_size : float or None, µm per pixel from the file's metadata
    pixel_from : where the pixel size comes from, for messages
    kind : the detected format (e.g. "OME-TIFF", "QPTIFF", "TIFF folder")
    handles : open files to close with the image
    pages : the TIFF pages holding the pixels (checked for truncation, then dropped)
    """

    levels: list[Level]
    names: list[str] | None
    names_from: str
    fluors: list[str] | None
    pixel_size: float | None
    pixel_from: str | None
    kind: str
    handles: list = field(default_factory=list)
    pages: list = field(default_factory=list)


def window_slices(window: tuple[int, int, int, int] | None, shape: tuple) -> tuple[slice, slice]:
    """(y0, y1, x0, x1) px -> two slices, checked against the (Y, X) shape."""
    if window is None:
        return slice(0, shape[0]), slice(0, shape[1])
    if len(window) != 4:
        raise ValueError(f"window must be (y0, y1, x0, x1), got {window!r}")
    y0, y1, x0, x1 = (int(v) for v in window)
    if not (0 <= y0 < y1 <= shape[0] and 0 <= x0 < x1 <= shape[1]):
        raise ValueError(f"window {window!r} is empty or outside the image of shape {shape}")
    return slice(y0, y1), slice(x0, x1)


def read_plane(plane: Plane, ys: slice, xs: slice, path: Path, sample: str | None) -> np.ndarray:
    """The (h, w) window ``ys, xs`` of a plane; a decoding failure is the file's fault."""
    try:
        return np.asarray(plane.array[plane.lead + (ys, xs)])
    except (OSError, RuntimeError, ValueError, tifffile.TiffFileError) as err:
        raise FrontlineInputError(
            f"cannot decode pixels {ys.start}:{ys.stop}, {xs.start}:{xs.stop} "
            f"({type(err).__name__}: {err})",
            sample=sample,
            file=path,
            fix="the file is damaged or truncated; copy it again from the source",
        ) from None


def read_strided(
    plane: Plane, step: int, path: Path, sample: str | None, band_px: int = 2048
) -> np.ndarray:
    """Every ``step``-th pixel of a plane, read in horizontal bands to bound memory."""
    height, width = plane.shape
    if step == 1:
        return read_plane(plane, slice(0, height), slice(0, width), path, sample)
    band = max(step, (band_px // step) * step)
    parts = []
    for y0 in range(0, height, band):
        part = read_plane(plane, slice(y0, min(height, y0 + band)), slice(0, width), path, sample)
        parts.append(part[::step, ::step])
    return np.concatenate(parts, axis=0)
