"""Writing OME-TIFF: one OME metadata dict and one writer for images, labels and pyramids.

Every OME-TIFF frontline writes (simulated images and truth, nuclei labels, big simulated
slides) goes through :func:`write_ome_tiff`: tiled, zlib-compressed, channels named in the
OME-XML, the pixel size in µm both in the OME-XML and in the TIFF resolution tags (so Fiji,
QuPath and napari read it), written atomically.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from ..files import atomic_output

TILE = (512, 512)


def ome_metadata(channel_names: Sequence[str], pixel_size_um: float) -> dict:
    """The OME metadata tifffile writes for a (C, Y, X) image: channel names, µm per pixel."""
    return {
        "axes": "CYX",
        "Channel": {"Name": list(channel_names)},
        "PhysicalSizeX": float(pixel_size_um),
        "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": float(pixel_size_um),
        "PhysicalSizeYUnit": "µm",
    }


def write_ome_tiff(
    path: str | Path,
    data: np.ndarray | Iterable[np.ndarray],
    channel_names: Sequence[str],
    pixel_size_um: float,
    *,
    shape: tuple[int, int, int] | None = None,
    dtype: Any = None,
    tile: tuple[int, int] = TILE,
    sublevels: Sequence[tuple[Any, tuple[int, int, int]]] = (),
    compressionargs: dict | None = None,
    maxworkers: int | None = None,
) -> None:
    """Write (C, Y, X) pixels as a tiled, zlib-compressed OME-TIFF.

    Parameters
    ----------
    path : output file (``.ome.tif``)
    data : (C, Y, X) array, or an iterable of (tile) blocks in channel, row, column order
        (then ``shape`` and ``dtype`` are required): pixels streamed, never held together
    channel_names : C str
    pixel_size_um : float, µm per pixel at full resolution
    tile : (h, w) TIFF tile, px
    sublevels : reduced-resolution levels, written as SubIFDs: ``(data, shape)`` each, data
        in the same form as ``data``; their pixel size follows from their height
    compressionargs, maxworkers : passed to tifffile (e.g. ``{"level": 1}``, 1)
    """
    if isinstance(data, np.ndarray):
        shape, dtype, given = data.shape, data.dtype, {}
    else:
        given = {"shape": tuple(shape), "dtype": dtype}
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    options = dict(
        tile=tuple(tile),
        compression="zlib",
        compressionargs=compressionargs,
        photometric="minisblack",
        maxworkers=maxworkers,
    )
    with atomic_output(path) as tmp:
        with tifffile.TiffWriter(tmp, bigtiff=nbytes > 2**31, ome=True) as tif:
            tif.write(
                data,
                **given,
                subifds=len(sublevels),
                metadata=ome_metadata(channel_names, pixel_size_um),
                resolutionunit="CENTIMETER",
                resolution=(1e4 / pixel_size_um, 1e4 / pixel_size_um),
                **options,
            )
            for level, level_shape in sublevels:
                factor = shape[1] / level_shape[1]
                tif.write(
                    level,
                    shape=tuple(level_shape),
                    dtype=dtype,
                    subfiletype=1,
                    resolutionunit="CENTIMETER",
                    resolution=(1e4 / (pixel_size_um * factor),) * 2,
                    **options,
                )


def write_image(
    path: str | Path,
    image: np.ndarray,
    channel_names: Sequence[str],
    pixel_size_um: float,
    tile: tuple[int, int] = TILE,
) -> None:
    """Write a multi-channel image as a tiled, compressed OME-TIFF.

    Parameters
    ----------
    path : output file (``.ome.tif``)
    image : (C, Y, X) array
    channel_names : list of C str
    pixel_size_um : float, µm per pixel
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[0] != len(channel_names):
        raise ValueError(f"image must be (C, Y, X) with C={len(channel_names)}, got {image.shape}")
    write_ome_tiff(path, image, channel_names, pixel_size_um, tile=tile)


def _tiles(array: Any, tile: int) -> Iterator[np.ndarray]:
    """(tile, tile) blocks of a (C, Y, X) array (e.g. zarr), channel by channel, row-major."""
    for c in range(array.shape[0]):
        for y in range(0, array.shape[1], tile):
            for x in range(0, array.shape[2], tile):
                yield array[c, y : y + tile, x : x + tile]


def write_pyramid(
    path: str | Path,
    levels: Sequence[Any],
    channel_names: Sequence[str],
    pixel_size_um: float,
    tile: int,
) -> None:
    """Write (C, Y, X) arrays, full resolution first, as a pyramidal OME-TIFF, tile by tile.

    The arrays (e.g. zarr arrays on disk) are read one (tile, tile) block at a time, so a
    slide bigger than memory can be written. Fast compression (zlib level 1), one thread.

    Parameters
    ----------
    levels : (C, Y, X) arrays, each level a downsampling of the first
    tile : TIFF tile edge, px
    """
    base = levels[0]
    write_ome_tiff(
        path,
        _tiles(base, tile),
        channel_names,
        pixel_size_um,
        shape=base.shape,
        dtype=base.dtype,
        tile=(tile, tile),
        sublevels=[(_tiles(level, tile), level.shape) for level in levels[1:]],
        compressionargs={"level": 1},
        maxworkers=1,
    )
