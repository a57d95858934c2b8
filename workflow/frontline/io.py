"""Reading images lazily and writing labels, tables and polygons.

The image-reader API (``open_image``) is described in docs/architecture.md.
"""

import logging

import numpy as np
import tifffile

from .errors import FrontlineInputError
from .step import atomic_output

log = logging.getLogger(__name__)

TILE = (512, 512)


def write_image(path, image, channel_names, pixel_size_um, tile=TILE):
    """Write a multi-channel image as a tiled, compressed OME-TIFF.

    Parameters
    ----------
    path : output file (``.ome.tif``)
    image : (C, Y, X) array, or an iterable of (Y, X) planes when ``shape`` is huge
    channel_names : list of C str
    pixel_size_um : float, µm per pixel
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[0] != len(channel_names):
        raise ValueError(f"image must be (C, Y, X) with C={len(channel_names)}, got {image.shape}")
    metadata = {
        "axes": "CYX",
        "Channel": {"Name": list(channel_names)},
        "PhysicalSizeX": float(pixel_size_um), "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": float(pixel_size_um), "PhysicalSizeYUnit": "µm",
    }
    with atomic_output(path) as tmp:
        with tifffile.TiffWriter(tmp, bigtiff=image.nbytes > 2**31, ome=True) as tif:
            tif.write(image, tile=tile, compression="zlib", photometric="minisblack",
                      metadata=metadata, resolutionunit="CENTIMETER",
                      resolution=(1e4 / pixel_size_um, 1e4 / pixel_size_um))


def write_labels(path, labels, pixel_size_um, tile=TILE):
    """Write a (Y, X) label image as uint32, tiled, compressed OME-TIFF with µm pixel size."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be (Y, X), got {labels.shape}")
    if labels.size and labels.max() > np.iinfo(np.uint32).max:
        raise ValueError("label ids exceed uint32")
    write_image(path, labels.astype(np.uint32, copy=False)[None], ["labels"], pixel_size_um, tile)


def read_labels(path):
    """Read a label OME-TIFF written by :func:`write_labels`.

    Returns
    -------
    labels : (Y, X) uint32 array
    pixel_size_um : float or None
    """
    try:
        with tifffile.TiffFile(path) as tif:
            labels = tif.series[0].asarray()
            pixel_size = _ome_pixel_size(tif)
    except (OSError, tifffile.TiffFileError) as err:
        raise FrontlineInputError(f"cannot read the label image ({err})", file=path,
                                  fix="rerun the step that writes it") from None
    labels = np.squeeze(labels)
    return labels.astype(np.uint32, copy=False), pixel_size


def _ome_pixel_size(tif):
    """PhysicalSizeX from the OME-XML of an open TiffFile, in µm, or None."""
    if not tif.is_ome:
        return None
    meta = tifffile.xml2dict(tif.ome_metadata)
    pixels = meta.get("OME", {}).get("Image", {})
    if isinstance(pixels, list):
        pixels = pixels[0]
    pixels = pixels.get("Pixels", {})
    size = pixels.get("PhysicalSizeX")
    if size is None:
        return None
    unit = pixels.get("PhysicalSizeXUnit", "µm")
    scale = {"µm": 1.0, "um": 1.0, "nm": 1e-3, "mm": 1e3, "m": 1e6, "cm": 1e4}.get(unit)
    if scale is None:
        return None
    return float(size) * scale
