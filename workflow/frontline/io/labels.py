"""Label images: nuclei labels as uint32 OME-TIFF, read whole or lazily, written whole or in strips.

:class:`LabelReader` (from :func:`open_labels`) and :class:`ArrayLabels` (an in-memory array)
share one interface, ``shape``, ``pixel_size_um`` and ``read(window)``, which every step that
works tile by tile (``measure``, ``export``) takes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import tifffile

from ..errors import FrontlineInputError
from .metadata import ome_pixel_size
from .ometiff import TILE, write_image, write_ome_tiff
from .source import Plane, read_plane, window_slices
from .tiff import open_tiff, series_levels

Window = tuple[int, int, int, int]  # (y0, y1, x0, x1), px, end exclusive
Strips = Iterable[tuple[int, np.ndarray]]  # (y0, (h, X) uint32 labels), top to bottom


def read_labels(path: str | Path) -> tuple[np.ndarray, float | None]:
    """Read a label OME-TIFF written by :func:`write_labels`.

    Returns
    -------
    labels : (Y, X) uint32 array
    pixel_size_um : float or None
    """
    try:
        with tifffile.TiffFile(path) as tif:
            labels = tif.series[0].asarray()
            pixel_size = ome_pixel_size(tif)
    except (OSError, tifffile.TiffFileError) as err:
        raise FrontlineInputError(
            f"cannot read the label image ({err})", file=path, fix="rerun the step that writes it"
        ) from None
    labels = np.squeeze(labels)
    return labels.astype(np.uint32, copy=False), pixel_size


class LabelReader:
    """A label image opened lazily; read it window by window.

    Attributes
    ----------
    shape : (Y, X) in pixels
    pixel_size_um : float or None, µm per pixel from the OME metadata
    dtype : numpy.uint32
    """

    dtype = np.dtype(np.uint32)

    def __init__(
        self, path: str | Path, plane: Plane, pixel_size_um: float | None, tif: tifffile.TiffFile
    ) -> None:
        self.path = Path(path)
        self.shape = plane.shape
        self.pixel_size_um = pixel_size_um
        self._plane = plane
        self._tif = tif

    def read(self, window: Window | None = None) -> np.ndarray:
        """(h, w) uint32 labels of ``window`` = (y0, y1, x0, x1) px, the whole image if None."""
        ys, xs = window_slices(window, self.shape)
        return read_plane(self._plane, ys, xs, self.path, None).astype(np.uint32, copy=False)

    def close(self) -> None:
        self._tif.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return (
            f"LabelReader({self.path.name!r}, shape={self.shape}, "
            f"pixel_size_um={self.pixel_size_um})"
        )


def open_labels(path: str | Path) -> LabelReader:
    """Open a label OME-TIFF (as written by :func:`write_labels`) for lazy window reads."""
    path = Path(path)
    if not path.is_file():
        raise FrontlineInputError(
            "the label image does not exist", file=path, fix="rerun the step that writes it"
        )
    tif = open_tiff(path, None, fix="rerun the step that writes it")
    try:
        series = tif.series[0]
        levels, axes = series_levels(series, path, None)
        if levels[0].count != 1:
            raise FrontlineInputError(
                f"a label image must have one plane, this one has {levels[0].count}",
                file=path,
                fix="rerun the step that writes it",
            )
        return LabelReader(path, levels[0].planes[0], ome_pixel_size(tif), tif)
    except BaseException:
        tif.close()
        raise


def write_labels(
    path: str | Path, labels: np.ndarray, pixel_size_um: float, tile: tuple[int, int] = TILE
) -> None:
    """Write a (Y, X) label image as uint32, tiled, compressed OME-TIFF with µm pixel size."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be (Y, X), got {labels.shape}")
    if labels.size and labels.max() > np.iinfo(np.uint32).max:
        raise ValueError("label ids exceed uint32")
    write_image(path, labels.astype(np.uint32, copy=False)[None], ["labels"], pixel_size_um, tile)


class ArrayLabels:
    """The label-reader interface over an in-memory (Y, X) label array.

    Attributes
    ----------
    shape : (Y, X) in pixels
    pixel_size_um : float or None
    path : None (no file)
    """

    def __init__(self, labels: np.ndarray, pixel_size_um: float | None = None) -> None:
        self.array = np.asarray(labels)
        self.shape = self.array.shape
        self.dtype = self.array.dtype
        self.pixel_size_um = pixel_size_um
        self.path = None

    def read(self, window: Window | None = None) -> np.ndarray:
        """(h, w) labels of ``window`` = (y0, y1, x0, x1) px (a view), the whole image if None."""
        if window is None:
            return self.array
        y0, y1, x0, x1 = window
        return self.array[y0:y1, x0:x1]


def require_pixel_size(labels: LabelReader | ArrayLabels, sample: str | None = None) -> float:
    """µm per pixel of a label image; a FrontlineInputError when it carries none."""
    if not labels.pixel_size_um:
        raise FrontlineInputError(
            "the nuclei labels carry no pixel size",
            sample=sample,
            file=labels.path,
            fix="rerun segmentation",
        )
    return float(labels.pixel_size_um)


def strips_to_tiles(strips: Strips, width: int, tile: int = TILE[0]) -> Iterator[np.ndarray]:
    """Cut (y0, strip) rows into (tile, tile) blocks, row-major, as tifffile writes them."""
    for _, labels in strips:
        for x0 in range(0, width, tile):
            block = labels[:, x0 : x0 + tile]
            if block.shape != (tile, tile):
                padded = np.zeros((tile, tile), labels.dtype)
                padded[: block.shape[0], : block.shape[1]] = block
                block = padded
            yield block


def write_label_strips(
    path: str | Path,
    strips: Strips,
    shape: tuple[int, int],
    pixel_size_um: float,
    tile: int = TILE[0],
) -> None:
    """Stream label strips into a tiled, zlib-compressed uint32 OME-TIFF with µm pixel size.

    Same layout as :func:`write_labels` (one channel named ``labels``), written without
    holding the slide in memory.

    Parameters
    ----------
    path : output ``.ome.tif``
    strips : iterable of (y0, (h, X) uint32) strips from top to bottom, h = ``tile`` except
        the last
    shape : (Y, X), px
    pixel_size_um : float, µm per pixel
    """
    height, width = int(shape[0]), int(shape[1])
    write_ome_tiff(
        path,
        strips_to_tiles(strips, width, tile),
        ["labels"],
        pixel_size_um,
        shape=(1, height, width),
        dtype=np.uint32,
        tile=(tile, tile),
    )
