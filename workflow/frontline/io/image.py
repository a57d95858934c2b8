"""Reading images lazily: :func:`open_image` and the :class:`ImageReader` it returns.

The reader API is described in docs/architecture.md: channels by name, windows in
full-resolution pixels, an overview from a pyramid level when there is one. Formats are read by
``tiff`` and ``vendor``; names and pixel size are resolved by ``metadata``. :class:`ArrayImage`
gives an in-memory (C, Y, X) array the same interface, for tests and notebooks.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FrontlineInputError
from .metadata import positive_or_none, resolve_names, resolve_pixel_size
from .source import Level, read_plane, read_strided, window_slices
from .tiff import read_file, read_folder

log = logging.getLogger(__name__)

Window = tuple[int, int, int, int]  # (y0, y1, x0, x1), px, end exclusive


class ImageReader:
    """A multi-channel image opened lazily; see :func:`open_image`.

    Attributes
    ----------
    channels : list of str, marker names in file order
    shape : (Y, X) full-resolution size in pixels
    pixel_size_um : float, µm per pixel
    pixel_size_from : str, where it came from ("the file's OME PhysicalSizeX/Y", "the sample
        sheet's pixel_size_um", "the config's pixel_size_um")
    dtype : numpy dtype of every plane returned
    fluors : list of str, the vendor's fluor names (equal to ``channels`` for plain files)
    source : str, the detected input format
    """

    def __init__(
        self,
        path: str | Path,
        sample: str | None,
        channels: list[str],
        fluors: list[str],
        levels: list[Level],
        pixel_size_um: float,
        dtype: Any,
        source: str,
        handles: list,
    ) -> None:
        self.path = Path(path)
        self.sample = sample
        self.channels = list(channels)
        self.fluors = list(fluors)
        self.shape = levels[0].shape
        self.pixel_size_um = float(pixel_size_um)
        self.pixel_size_from = ""
        self.dtype = np.dtype(dtype)
        self.source = source
        self._levels = levels
        self._handles = handles
        self._index = {name: i for i, name in enumerate(self.channels)}

    @property
    def level_shapes(self) -> list[tuple[int, int]]:
        """(Y, X) of every resolution level, full resolution first."""
        return [level.shape for level in self._levels]

    def read(
        self, channel: str, window: Window | None = None, *, check_finite: bool = True
    ) -> np.ndarray:
        """One channel as a (h, w) array.

        Parameters
        ----------
        channel : str, a name in :attr:`channels`
        window : (y0, y1, x0, x1) in full-resolution pixels, or None for the whole image
        check_finite : a window of a float image with NaN or infinite pixels is an error
            (:func:`require_finite`); False returns them (to count them)
        """
        plane = self._levels[0].planes[self._channel_index(channel)]
        ys, xs = window_slices(window, self.shape)
        out = read_plane(plane, ys, xs, self.path, self.sample).astype(self.dtype, copy=False)
        if check_finite:
            require_finite(out, channel, window, sample=self.sample, file=self.path)
        return out

    def read_channels(self, channels: Sequence[str], window: Window | None = None) -> np.ndarray:
        """Several channels as a (C, h, w) array, in the order asked for."""
        require_channels(self, channels, sample=self.sample, what="this step")
        return np.stack([self.read(name, window) for name in channels])

    def overview(self, max_px: int = 2048) -> tuple[np.ndarray, float]:
        """All channels downsampled so the longer side is at most ``max_px``.

        Uses the finest pyramid level that fits (striding it further when none does), so a
        whole-slide overview never reads the full-resolution image when a pyramid exists.

        Returns
        -------
        image : (C, h, w) array of :attr:`dtype`
        factor : float, full-resolution pixels per overview pixel: overview pixel (i, j)
            sits at full-resolution pixel (i * factor, j * factor), and µm per overview pixel
            = ``factor * pixel_size_um``
        """
        max_px = int(max_px)
        if max_px < 1:
            raise ValueError("max_px must be at least 1")
        fitting = [lv for lv in self._levels if max(lv.shape) <= max_px]
        level = fitting[0] if fitting else self._levels[-1]
        step = max(1, math.ceil(max(level.shape) / max_px))
        if level is self._levels[0] and step > 1:
            log.info(
                "%s: no pyramid level of at most %d px; striding the full-resolution image "
                "(reads it once, band by band)",
                self.path.name,
                max_px,
            )
        out = np.stack(
            [read_strided(plane, step, self.path, self.sample) for plane in level.planes]
        ).astype(self.dtype, copy=False)
        # a stride is exact; a pyramid level's scale is its size ratio (e.g. 20000 / 10000)
        return out, float(step * self.shape[1] / level.shape[1])

    def close(self) -> None:
        for handle in self._handles:
            handle.close()
        self._handles = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return (
            f"ImageReader({self.path.name!r}, {self.source}, channels={self.channels}, "
            f"shape={self.shape}, pixel_size_um={self.pixel_size_um:g})"
        )

    def _channel_index(self, channel):
        if channel not in self._index:
            require_channels(self, [channel], sample=self.sample, what="this step")
        return self._index[channel]


class ArrayImage:
    """The reader interface over an in-memory (C, Y, X) array (tests, notebooks).

    Attributes
    ----------
    channels : list of C str
    shape : (Y, X)
    dtype : the array's dtype
    pixel_size_um : float or None
    """

    def __init__(
        self, image: np.ndarray, channels: Sequence[str], pixel_size_um: float | None = None
    ) -> None:
        self.array = image
        self.channels = list(channels)
        self.shape = image.shape[-2:]
        self.dtype = image.dtype
        self.pixel_size_um = pixel_size_um
        self.sample = None
        self.path = None

    def read(
        self, channel: str, window: Window | None = None, *, check_finite: bool = True
    ) -> np.ndarray:
        """One channel as a (h, w) view; ``window`` = (y0, y1, x0, x1) px or None (all);
        ``check_finite`` as :meth:`ImageReader.read`."""
        plane = self.array[self.channels.index(channel)]
        if window is not None:
            y0, y1, x0, x1 = window
            plane = plane[y0:y1, x0:x1]
        if check_finite:
            require_finite(plane, channel, window)
        return plane

    def read_channels(self, channels: Sequence[str], window: Window | None = None) -> np.ndarray:
        """Several channels as a (C, h, w) array, in the order asked for."""
        require_channels(self, channels, what="this step")
        return np.stack([self.read(name, window) for name in channels])


NONFINITE_FIX = (
    "replace the NaN or infinite pixels in the image (e.g. by 0, or the channel's background) "
    "and export it again: frontline does not guess a value for a pixel, so such an image stops "
    "the run instead of turning into negative cells or infinite means"
)


def nonfinite_counts(plane: np.ndarray) -> tuple[int, int]:
    """(NaN pixels, infinite pixels) of a plane (0, 0 for integer images)."""
    if plane.dtype.kind not in "fc":
        return 0, 0
    nan = int(np.count_nonzero(np.isnan(plane)))
    return nan, int(np.count_nonzero(~np.isfinite(plane))) - nan


def require_finite(
    plane: np.ndarray,
    channel: str,
    window: Window | None = None,
    *,
    sample: str | None = None,
    file: str | Path | None = None,
) -> None:
    """FrontlineInputError when a window of a channel has NaN or infinite pixels, with their
    share (the policy: such pixels stop the run, see :data:`NONFINITE_FIX`)."""
    nan, inf = nonfinite_counts(plane)
    if not (nan or inf):
        return
    where = "the whole image" if window is None else "the window y {}:{}, x {}:{}".format(*window)
    raise FrontlineInputError(
        f"channel '{channel}' has NaN or infinite pixels: {100 * (nan + inf) / plane.size:.3g}% "
        f"of {where} ({nan} NaN, {inf} infinite)",
        sample=sample,
        file=file,
        fix=NONFINITE_FIX,
    )


def require_channels(
    img: Any, names: str | Sequence[str], sample: str | None = None, what: str = "this step"
) -> None:
    """Raise FrontlineInputError unless every name in ``names`` is a channel of ``img``.

    Parameters
    ----------
    img : ImageReader (or ArrayImage)
    names : str or list of str, the channel names a step needs
    sample : sample name for the message (default: the one the image was opened with)
    what : what needs the channels, for the message (e.g. "segmentation (nuclear channel)")
    """
    if isinstance(names, str):
        names = [names]
    missing = [n for n in names if n not in img.channels]
    if not missing:
        return
    sample = sample if sample is not None else getattr(img, "sample", None)
    lower = {c.lower(): c for c in img.channels}
    hints = [f"'{n}' -> '{lower[str(n).lower()]}'" for n in missing if str(n).lower() in lower]
    fix = (
        "use channel names exactly as the image has them (case matters) in the config"
        + (f" ({', '.join(hints)})" if hints else "")
        + "; for vendor fluor names (e.g. 'Opal 570') set a fluor map (config `fluor_maps`, "
        "sheet column `fluor_map`)"
    )
    raise FrontlineInputError(
        f"{what} needs channel(s) {missing}, which the image does not have; its channels "
        f"are {list(img.channels)}",
        sample=sample,
        file=getattr(img, "path", None),
        fix=fix,
    )


def open_image(
    path: str | Path,
    sample: str | None = None,
    pixel_size_um: float | str | None = None,
    default_pixel_size_um: float | None = None,
    channel_names: list[str] | None = None,
    fluor_map: dict[str, str] | None = None,
) -> ImageReader:
    """Open a multiplex image for lazy, window-by-window reading.

    Parameters
    ----------
    path : an image file (OME-TIFF, QPTIFF, inForm component TIFF, TIFF) or a folder of
        single-channel TIFFs
    sample : sample name, for error messages
    pixel_size_um : float, µm per pixel from the sample sheet; used when the file has none
    default_pixel_size_um : float, µm per pixel from the config; used when neither has one
    channel_names : list of str from the config; used when the file names no channels
    fluor_map : dict {fluor name: marker name}, applied on read (channels not in the map keep
        their names)

    Returns
    -------
    ImageReader
    """
    path = Path(path)
    if not path.exists():
        raise FrontlineInputError(
            "the image does not exist",
            sample=sample,
            file=path,
            fix="check the sample sheet's `image` column (paths are relative to the folder "
            "Snakemake runs in)",
        )
    sheet_size = positive_or_none(pixel_size_um, sample, path, "the sample sheet's pixel_size_um")
    config_size = positive_or_none(default_pixel_size_um, sample, path, "config pixel_size_um")
    if path.is_dir():
        src = read_folder(path, sample)
    else:
        src = read_file(path, sample)
    try:
        names, fluors = resolve_names(src, path, sample, channel_names, fluor_map)
        size, size_from = resolve_pixel_size(src, path, sample, sheet_size, config_size)
        dtype = np.result_type(*[p.dtype for p in src.levels[0].planes])
        img = ImageReader(
            path, sample, names, fluors, src.levels, size, dtype, src.kind, src.handles
        )
        img.pixel_size_from = size_from
    except BaseException:
        for handle in src.handles:
            handle.close()
        raise
    log.info("opened %r", img)
    return img
