"""Windows of one TIFF page, decoded segment by segment on the caller's thread.

A multiplex TIFF stores each channel as a page of tiles (or strips), each compressed on its
own. :class:`PageArray` reads a window of a page by reading the bytes of the segments it
overlaps (``os.pread``: no shared file position, so threads read side by side) and decoding
each with tifffile's decoder for the page (imagecodecs, which releases the GIL). Several
threads reading channels of a window therefore decode in parallel, which a zarr store over
the file does not (its reads are serialised). The segments of a read's last column are kept
until the next read of the page: windows read left to right with a halo (the measure step's
tiles) overlap there, and decode them once (a page's cache is a column of segments, a few MB).
Pages with more than one sample per pixel or a depth are not handled here (:func:`page_array`
returns None for them).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import zarr

from .source import Plane

JPEG = {6, 7, 33007, 34892}  # TIFF compression codes decoded with JPEG tables


class PageArray:
    """A (Y, X) TIFF page read by window: ``page_array[ys, xs]`` is a (h, w) array.

    Parameters
    ----------
    page : a tifffile TiffPage or TiffFrame of one sample per pixel and depth 1, of a file
        opened from a path (its descriptor is read with ``os.pread``; closing the TiffFile
        closes it)
    """

    def __init__(self, page: Any) -> None:
        self.keyframe = page.keyframe
        self.offsets = np.asarray(page.dataoffsets, dtype=np.int64)
        self.counts = np.asarray(page.databytecounts, dtype=np.int64)
        self.fd = page.parent.filehandle.fileno()
        self.shape = tuple(int(n) for n in self.keyframe.shape[-2:])
        self.dtype = np.dtype(self.keyframe.dtype)
        self.chunk = tuple(int(n) for n in self.keyframe.chunks[-2:])
        self.across = -(-self.shape[1] // self.chunk[1])
        self.fill = self.keyframe.nodata or 0
        self._last_column = {}  # segment index -> decoded segment, of the last read
        self.decode_args = {}
        if self.keyframe.compression in JPEG:  # tables of the page, header of the keyframe
            self.decode_args = {
                "jpegtables": page.jpegtables,
                "jpegheader": self.keyframe.jpegheader,
            }

    def __getitem__(self, key: tuple[slice, slice]) -> np.ndarray:
        ys, xs = key
        y0, y1, y_step = ys.indices(self.shape[0])
        x0, x1, x_step = xs.indices(self.shape[1])
        if y_step != 1 or x_step != 1:
            raise ValueError("PageArray reads windows (slices with step 1); stride the result")
        out = np.empty((max(y1 - y0, 0), max(x1 - x0, 0)), self.dtype)
        if out.size == 0:
            return out
        ch, cw = self.chunk
        last = (x1 - 1) // cw
        cached, keep = self._last_column, {}
        for ty in range(y0 // ch, (y1 - 1) // ch + 1):
            for tx in range(x0 // cw, last + 1):
                oy, ox = ty * ch, tx * cw
                index = ty * self.across + tx
                tile = cached[index] if index in cached else self._segment(index)
                if tx == last:
                    keep[index] = tile
                sy = slice(max(y0, oy), min(y1, oy + ch))
                sx = slice(max(x0, ox), min(x1, ox + cw))
                target = out[sy.start - y0 : sy.stop - y0, sx.start - x0 : sx.stop - x0]
                if tile is None:
                    target[...] = self.fill
                else:
                    target[...] = tile[sy.start - oy : sy.stop - oy, sx.start - ox : sx.stop - ox]
        self._last_column = keep
        return out

    def _segment(self, index: int) -> np.ndarray | None:
        """The (ch, cw) decoded segment ``index`` (None: the file leaves it empty)."""
        count = int(self.counts[index])
        if count == 0:
            return None
        data = os.pread(self.fd, count, int(self.offsets[index]))
        if len(data) < count:
            raise OSError(f"segment {index} is truncated ({len(data)} of {count} bytes)")
        tile = self.keyframe.decode(data, index, **self.decode_args)[0]
        return tile.reshape(tile.shape[-3:-1])


def page_array(page: Any) -> PageArray | None:
    """A :class:`PageArray` of ``page``, or None where its layout is not one plane of
    segments (several samples per pixel, a depth, no segment grid) or its file has no
    descriptor (an in-memory file)."""
    kf = getattr(page, "keyframe", None)
    if kf is None or kf.samplesperpixel != 1 or kf.imagedepth != 1 or len(kf.shape) != 2:
        return None
    chunked = tuple(kf.chunked)
    if len(chunked) < 2 or int(np.prod(chunked)) != len(page.dataoffsets):
        return None
    try:
        page.parent.filehandle.fileno()
    except (OSError, AttributeError, ValueError):
        return None
    return PageArray(page)


def page_plane(page: Any) -> Plane:
    """A :class:`~frontline.io.source.Plane` of one page: read segment by segment where
    :func:`page_array` can, else through tifffile's zarr store of the page."""
    array = page_array(page)
    return Plane(array if array is not None else zarr.open_array(page.aszarr(), mode="r"))


def page_planes(pages: list, shape: tuple) -> list[Plane] | None:
    """One plane per page, each a :class:`PageArray`, or None unless every page is a single
    (Y, X) plane of ``shape`` in segments (a series' level: all read alike, or through zarr)."""
    arrays = [page_array(page) if page is not None else None for page in pages]
    if any(a is None or a.shape != tuple(shape) for a in arrays):
        return None
    return [Plane(a) for a in arrays]
