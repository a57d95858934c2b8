"""Reading images lazily and writing labels, tables and polygons.

The image-reader API (``open_image``) is described in docs/architecture.md. Supported inputs:

- OME-TIFF (C, Y, X; singleton T/Z allowed; pyramids read at level 0), channel names and
  pixel size from the OME-XML; an MCMICRO ``markers.csv`` beside the image (or one folder
  up) names the channels from its ``marker_name`` column;
- Akoya QPTIFF (PhenoImager / Vectra Polaris / PhenoCycler) and inForm
  ``*_component_data.tif``: one page per fluor, names from each page's XML description;
- a folder of single-channel TIFFs, one per marker, named by file stem;
- any other TIFF whose pages are single-channel planes, named by config ``channel_names``.

Every plane is read through tifffile's zarr store, so a window read touches only the tiles
it overlaps and memory does not grow with slide size.
"""

import html
import logging
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile
import zarr

from .errors import FrontlineInputError
from .files import atomic_output

log = logging.getLogger(__name__)

TILE = (512, 512)
TIFF_SUFFIXES = (".tif", ".tiff")
MAX_TAG_PIXEL_SIZE_UM = 25.0  # coarser "pixel sizes" in resolution tags are dpi placeholders
_UNIT_UM = {
    "µm": 1.0,
    "um": 1.0,
    "micron": 1.0,
    "microns": 1.0,
    "\\u00B5m": 1.0,
    "nm": 1e-3,
    "mm": 1e3,
    "cm": 1e4,
    "m": 1e6,
}
_TAG_UNIT_UM = {2: 25400.0, 3: 1e4, 4: 1e3, 5: 1.0}  # RESUNIT: INCH, CENTIMETER, MM, µm
_FORMATS = (
    "an OME-TIFF, an Akoya QPTIFF, an inForm component_data.tif, "
    "or a folder of single-channel TIFFs; convert other formats to OME-TIFF first "
    "(e.g. `bfconvert -noflat in.czi out.ome.tif`)"
)


# --------------------------------------------------------------------------- writers


def write_image(path, image, channel_names, pixel_size_um, tile=TILE):
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
    metadata = {
        "axes": "CYX",
        "Channel": {"Name": list(channel_names)},
        "PhysicalSizeX": float(pixel_size_um),
        "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": float(pixel_size_um),
        "PhysicalSizeYUnit": "µm",
    }
    with atomic_output(path) as tmp:
        with tifffile.TiffWriter(tmp, bigtiff=image.nbytes > 2**31, ome=True) as tif:
            tif.write(
                image,
                tile=tile,
                compression="zlib",
                photometric="minisblack",
                metadata=metadata,
                resolutionunit="CENTIMETER",
                resolution=(1e4 / pixel_size_um, 1e4 / pixel_size_um),
            )


def write_labels(path, labels, pixel_size_um, tile=TILE):
    """Write a (Y, X) label image as uint32, tiled, compressed OME-TIFF with µm pixel size."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be (Y, X), got {labels.shape}")
    if labels.size and labels.max() > np.iinfo(np.uint32).max:
        raise ValueError("label ids exceed uint32")
    write_image(path, labels.astype(np.uint32, copy=False)[None], ["labels"], pixel_size_um, tile)


# --------------------------------------------------------------------------- labels


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

    def __init__(self, path, plane, pixel_size_um, tif):
        self.path = Path(path)
        self.shape = plane.shape
        self.pixel_size_um = pixel_size_um
        self._plane = plane
        self._tif = tif

    def read(self, window=None):
        """(h, w) uint32 labels of ``window`` = (y0, y1, x0, x1) px, the whole image if None."""
        ys, xs = _window_slices(window, self.shape)
        return _read_plane(self._plane, ys, xs, self.path, None).astype(np.uint32, copy=False)

    def close(self):
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


def open_labels(path):
    """Open a label OME-TIFF (as written by :func:`write_labels`) for lazy window reads."""
    path = Path(path)
    if not path.is_file():
        raise FrontlineInputError(
            "the label image does not exist", file=path, fix="rerun the step that writes it"
        )
    tif = _open_tiff(path, None, fix="rerun the step that writes it")
    try:
        series = tif.series[0]
        levels, axes = _series_levels(series, path, None)
        if levels[0].count != 1:
            raise FrontlineInputError(
                f"a label image must have one plane, this one has {levels[0].count}",
                file=path,
                fix="rerun the step that writes it",
            )
        return LabelReader(path, levels[0].planes[0], _ome_pixel_size(tif), tif)
    except BaseException:
        tif.close()
        raise


# --------------------------------------------------------------------------- image reader


class _Plane:
    """One lazily read 2-D plane: ``array[lead + (ys, xs)]`` is a (h, w) window."""

    def __init__(self, array, lead=()):
        self.array = array
        self.lead = tuple(lead)
        self.shape = tuple(int(n) for n in array.shape[-2:])
        self.dtype = np.dtype(array.dtype)


class _Level:
    """One resolution level: C planes of the same (h, w) shape."""

    def __init__(self, planes):
        self.planes = list(planes)
        self.shape = self.planes[0].shape
        self.count = len(self.planes)


class ImageReader:
    """A multi-channel image opened lazily; see :func:`open_image`.

    Attributes
    ----------
    channels : list of str, marker names in file order
    shape : (Y, X) full-resolution size in pixels
    pixel_size_um : float, µm per pixel
    dtype : numpy dtype of every plane returned
    fluors : list of str, the vendor's fluor names (equal to ``channels`` for plain files)
    source : str, the detected input format
    """

    def __init__(
        self, path, sample, channels, fluors, levels, pixel_size_um, dtype, source, handles
    ):
        self.path = Path(path)
        self.sample = sample
        self.channels = list(channels)
        self.fluors = list(fluors)
        self.shape = levels[0].shape
        self.pixel_size_um = float(pixel_size_um)
        self.dtype = np.dtype(dtype)
        self.source = source
        self._levels = levels
        self._handles = handles
        self._index = {name: i for i, name in enumerate(self.channels)}

    @property
    def level_shapes(self):
        """(Y, X) of every resolution level, full resolution first."""
        return [level.shape for level in self._levels]

    def read(self, channel, window=None):
        """One channel as a (h, w) array.

        Parameters
        ----------
        channel : str, a name in :attr:`channels`
        window : (y0, y1, x0, x1) in full-resolution pixels, or None for the whole image
        """
        plane = self._levels[0].planes[self._channel_index(channel)]
        ys, xs = _window_slices(window, self.shape)
        return _read_plane(plane, ys, xs, self.path, self.sample).astype(self.dtype, copy=False)

    def read_channels(self, channels, window=None):
        """Several channels as a (C, h, w) array, in the order asked for."""
        require_channels(self, channels, sample=self.sample, what="this step")
        return np.stack([self.read(name, window) for name in channels])

    def overview(self, max_px=2048):
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
            [_read_strided(plane, step, self.path, self.sample) for plane in level.planes]
        ).astype(self.dtype, copy=False)
        # a stride is exact; a pyramid level's scale is its size ratio (e.g. 20000 / 10000)
        return out, float(step * self.shape[1] / level.shape[1])

    def close(self):
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


def require_channels(img, names, sample=None, what="this step"):
    """Raise FrontlineInputError unless every name in ``names`` is a channel of ``img``.

    Parameters
    ----------
    img : ImageReader
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
    path,
    sample=None,
    pixel_size_um=None,
    default_pixel_size_um=None,
    channel_names=None,
    fluor_map=None,
):
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
    sheet_size = _positive_or_none(pixel_size_um, sample, path, "the sample sheet's pixel_size_um")
    config_size = _positive_or_none(default_pixel_size_um, sample, path, "config pixel_size_um")
    if path.is_dir():
        src = _read_folder(path, sample)
    else:
        src = _read_file(path, sample)
    try:
        names, fluors = _resolve_names(src, path, sample, channel_names, fluor_map)
        size = _resolve_pixel_size(src, path, sample, sheet_size, config_size)
        dtype = np.result_type(*[p.dtype for p in src["levels"][0].planes])
        img = ImageReader(
            path, sample, names, fluors, src["levels"], size, dtype, src["kind"], src["handles"]
        )
    except BaseException:
        for handle in src["handles"]:
            handle.close()
        raise
    log.info("opened %r", img)
    return img


# --------------------------------------------------------------------------- names, µm


def _resolve_names(src, path, sample, channel_names, fluor_map):
    """Channel names: file (vendor XML, markers.csv, OME) > config, then the fluor map."""
    count = src["levels"][0].count
    names = src["names"]
    if names is None and channel_names:
        given = 0 if isinstance(channel_names, str) else len(channel_names)
        if given != count:
            raise FrontlineInputError(
                f"config `channel_names` lists {given} name(s) but the image has {count} "
                "channel(s)",
                sample=sample,
                file=path,
                fix=f"give exactly {count} names, in file order, as a YAML list",
            )
        names = [str(n) for n in channel_names]
        log.info("%s: channel names from config `channel_names`", path.name)
    elif names is not None and channel_names:
        log.debug("%s: the file names its channels; config `channel_names` ignored", path.name)
    if names is None:
        raise FrontlineInputError(
            f"the image has {count} channel(s) but no channel names",
            sample=sample,
            file=path,
            fix=f"set `channel_names` in the config to the {count} marker names in file order "
            "(or save the image as OME-TIFF with channel names, or put an MCMICRO "
            "markers.csv with a `marker_name` column beside it)",
        )
    names = [str(n).strip() for n in names]
    _check_unique(names, src["names_from"], path, sample)
    fluors = list(src.get("fluors") or names)
    if fluor_map:
        names = _apply_fluor_map(names, fluors, fluor_map, path, sample)
    return names, fluors


def _check_unique(names, where, path, sample):
    empty = [i for i, n in enumerate(names) if not n]
    if empty:
        raise FrontlineInputError(
            f"channel(s) at position {empty} have an empty name ({where})",
            sample=sample,
            file=path,
            fix="give every channel a name",
        )
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise FrontlineInputError(
            f"two or more channels are named {dup} ({where}); channels are addressed by name",
            sample=sample,
            file=path,
            fix="give every channel a unique name (e.g. DAPI_1, DAPI_2), or map them to "
            "distinct markers with a fluor map",
        )


def _apply_fluor_map(names, fluors, fluor_map, path, sample):
    """Rename channels whose fluor (or current name) is a key of ``fluor_map``."""
    if not isinstance(fluor_map, dict):
        raise FrontlineInputError(
            f"the fluor map is {type(fluor_map).__name__}, not a mapping",
            sample=sample,
            file=path,
            fix='write it as {"Opal 570": CD8, ...} under config `fluor_maps`',
        )
    unknown = [k for k in fluor_map if k not in fluors and k not in names]
    if unknown:
        raise FrontlineInputError(
            f"the fluor map names fluor(s) {unknown} that the image does not have; its fluors "
            f"are {fluors}",
            sample=sample,
            file=path,
            fix="spell the fluors as the file does (see the list), or use the fluor map of "
            "this sample's panel",
        )
    out = []
    for name, fluor in zip(names, fluors):
        out.append(str(fluor_map.get(fluor, fluor_map.get(name, name))))
    _check_unique(out, "after the fluor map", path, sample)
    log.info(
        "%s: fluor map applied: %s",
        path.name,
        ", ".join(f"{f} -> {n}" for f, n in zip(fluors, out) if f != n) or "nothing renamed",
    )
    return out


def _positive_or_none(value, sample, path, what):
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    try:
        size = float(value)
    except (TypeError, ValueError):
        size = float("nan")
    if isinstance(value, float) and math.isnan(value):
        return None
    if not size > 0 or math.isinf(size):
        raise FrontlineInputError(
            f"{what} is '{value}', not a positive number",
            sample=sample,
            file=path,
            fix="give the pixel size in µm per pixel (e.g. 0.5)",
        )
    return size


def _resolve_pixel_size(src, path, sample, sheet_size, config_size):
    """µm per pixel: the file's metadata > the sample sheet > the config, else an error."""
    file_size, where = src["pixel_size"], src["pixel_from"]
    if file_size is not None:
        if sheet_size is not None and abs(sheet_size - file_size) > 0.01 * file_size:
            log.warning(
                "%s: the file says %.4g µm/px (%s), the sample sheet %.4g; using the file's value",
                path.name,
                file_size,
                where,
                sheet_size,
            )
        log.info("%s: pixel size %.4g µm from %s", path.name, file_size, where)
        return file_size
    for size, where in ((sheet_size, "the sample sheet"), (config_size, "config pixel_size_um")):
        if size is not None:
            log.info("%s: pixel size %.4g µm from %s (the file has none)", path.name, size, where)
            return size
    raise FrontlineInputError(
        "the image carries no pixel size (no OME PhysicalSizeX, no TIFF resolution tags with "
        "a unit) and none is given",
        sample=sample,
        file=path,
        fix="set the sample's `pixel_size_um` in the sample sheet (µm per pixel, e.g. 0.5), "
        "or `pixel_size_um` in the config for all such images",
    )


def _ome_pixel_size(tif):
    """PhysicalSizeX from the OME-XML of an open TiffFile, in µm, or None."""
    sizes = _ome_pixel_sizes(tif)
    return None if sizes is None else sizes[0]


def _ome_pixels(tif):
    if not tif.is_ome:
        return {}
    try:
        meta = tifffile.xml2dict(tif.ome_metadata)
    except Exception:  # malformed OME-XML: treat as absent, the caller falls back
        log.warning("cannot parse the OME-XML of %s", tif.filename)
        return {}
    image = meta.get("OME", {}).get("Image", {})
    if isinstance(image, list):
        image = image[0]
    return image.get("Pixels", {}) or {}


def _ome_pixel_sizes(tif):
    """(x, y) PhysicalSize from the OME-XML in µm, or None when absent or in an odd unit."""
    pixels = _ome_pixels(tif)
    out = []
    for axis in "XY":
        size = pixels.get(f"PhysicalSize{axis}")
        scale = _UNIT_UM.get(pixels.get(f"PhysicalSize{axis}Unit", "µm"))
        if size is None or scale is None:
            out.append(None)
        else:
            out.append(float(size) * scale)
    if out[0] is None:
        return None
    return out[0], out[1] if out[1] is not None else out[0]


def _ome_channel_names(tif, count):
    channels = _ome_pixels(tif).get("Channel")
    if channels is None:
        return None
    if isinstance(channels, dict):
        channels = [channels]
    names = [c.get("Name") if isinstance(c, dict) else None for c in channels]
    if len(names) != count or any(n is None or str(n).strip() == "" for n in names):
        return None
    return [str(n) for n in names]


def _tag_pixel_sizes(page):
    """(x, y) µm per pixel from XResolution/YResolution and a real ResolutionUnit, or None."""
    tags = page.tags
    if 282 not in tags or 283 not in tags:
        return None
    scale = _TAG_UNIT_UM.get(int(tags.valueof(296, default=2)))
    if scale is None:
        return None
    try:
        xres, yres = page.resolution
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not (xres > 0 and yres > 0):
        return None
    sizes = scale / xres, scale / yres
    if sizes[0] > MAX_TAG_PIXEL_SIZE_UM:
        log.info(
            "resolution tags give %.4g µm/px, a dpi placeholder rather than a pixel size; ignored",
            sizes[0],
        )
        return None
    return sizes


def _imagej_pixel_sizes(tif, page):
    meta = tif.imagej_metadata if tif.is_imagej else None
    if not meta:
        return None
    scale = _UNIT_UM.get(str(meta.get("unit", "")).strip())
    if scale is None:
        return None
    xres, yres = page.resolution
    if not (xres > 0 and yres > 0) or (xres == 1 and yres == 1):
        return None
    return scale / xres, scale / yres


def _xml_pixel_size(description):
    """µm per pixel from a vendor XML description (e.g. a QPTIFF ScanProfile), or None."""
    text = html.unescape(description or "")
    found = re.search(
        r"<(PixelSizeMicrons|MicronsPerPixel|ResolutionMicrons)>\s*"
        r"([0-9.eE+-]+)\s*</",
        text,
    )
    if not found:
        return None
    try:
        size = float(found.group(2))
    except ValueError:
        return None
    return size if size > 0 else None


def _file_pixel_size(tif, page, path, sample):
    """(µm per pixel or None, where it came from) from one TIFF's own metadata."""
    for getter, where in (
        (lambda: _ome_pixel_sizes(tif), "OME PhysicalSizeX/Y"),
        (lambda: _tag_pixel_sizes(page), "TIFF resolution tags"),
        (lambda: _imagej_pixel_sizes(tif, page), "ImageJ metadata"),
    ):
        sizes = getter()
        if sizes is None:
            continue
        x, y = sizes
        if not (x > 0 and y > 0 and math.isfinite(x) and math.isfinite(y)):
            raise FrontlineInputError(
                f"the {where} give a pixel size of {x:g} x {y:g} µm, not positive",
                sample=sample,
                file=path,
                fix="fix the file's metadata, or re-export it with the right pixel size",
            )
        if abs(x - y) > 0.01 * x:
            raise FrontlineInputError(
                f"pixels are not square ({x:.4g} x {y:.4g} µm from the {where})",
                sample=sample,
                file=path,
                fix="resample the image to square pixels before analysis",
            )
        return x, where
    return None, None


# --------------------------------------------------------------------------- opening files


class _TiffWarnings(logging.Handler):
    """Collects tifffile's warnings about broken offsets (its sign of a truncated file)."""

    BROKEN = re.compile(r"invalid (page|value|tag) offset|corrupt|truncat|beyond", re.I)

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        message = record.getMessage()
        if self.BROKEN.search(message):
            self.messages.append(message)

    def __enter__(self):
        tifffile.logger().addHandler(self)
        return self

    def __exit__(self, *exc):
        tifffile.logger().removeHandler(self)


def _damaged(path, sample, detail):
    return FrontlineInputError(
        f"the TIFF is damaged or truncated ({detail})",
        sample=sample,
        file=path,
        fix="copy the file again from its source (compare its size with the original)",
    )


def _open_tiff(path, sample, fix=None):
    try:
        return tifffile.TiffFile(path)
    except (OSError, ValueError, tifffile.TiffFileError, KeyError, IndexError) as err:
        raise FrontlineInputError(
            f"cannot read the file as TIFF ({type(err).__name__}: {err})",
            sample=sample,
            file=path,
            fix=fix or f"check that the file is complete (re-copy it) and is {_FORMATS}",
        ) from None


def _check_complete(tif, pages, path, sample):
    """Every pixel byte of ``pages`` lies inside the file (a truncated copy fails here)."""
    size = tif.filehandle.size
    for index, page in enumerate(pages):
        offsets = np.asarray(page.dataoffsets, dtype=np.int64)
        counts = np.asarray(page.databytecounts, dtype=np.int64)
        if offsets.size and int((offsets + counts).max()) > size:
            raise _damaged(
                path,
                sample,
                f"plane {index} needs bytes up to "
                f"{int((offsets + counts).max())}, the file has {size}",
            )


def _read_file(path, sample):
    """Detect the format of one TIFF file and build its source description."""
    with _TiffWarnings() as warned:
        tif = _open_tiff(path, sample)
    try:
        with warned:
            if _is_qpi(tif):
                src = _qpi_source(tif, path, sample)
            else:
                src = _series_source(tif, path, sample)
        if warned.messages:
            raise _damaged(path, sample, "; ".join(dict.fromkeys(warned.messages)))
        _check_complete(tif, src.pop("pages"), path, sample)
        src["handles"] = [tif]
        return src
    except FrontlineInputError:
        tif.close()
        raise
    except (OSError, ValueError, tifffile.TiffFileError, KeyError, IndexError) as err:
        tif.close()
        raise FrontlineInputError(
            f"cannot read the TIFF structure ({type(err).__name__}: {err})",
            sample=sample,
            file=path,
            fix=f"check that the file is complete (re-copy it) and is {_FORMATS}",
        ) from None


def _is_qpi(tif):
    page = tif.pages.first
    software = str(page.software or "")
    return (
        software.startswith("PerkinElmer-QPI")
        or "<PerkinElmer-QPI-ImageDescription" in (page.description or "")[:2000]
    )


def _series_levels(series, path, sample):
    """Resolution levels of a tifffile series as planes; checks for RGB and 3-D data."""
    axes = series.axes
    shape = dict(zip(axes, series.shape))
    if shape.get("S", 1) > 1:
        raise FrontlineInputError(
            f"the image is RGB ({shape['S']} samples per pixel, axes {axes}); frontline needs "
            "one grayscale plane per marker",
            sample=sample,
            file=path,
            fix="export the multiplex image with one channel per marker (OME-TIFF, unmixed "
            "QPTIFF or inForm component data), not a colour rendering",
        )
    for axis, what in (("Z", "3-D (a Z stack)"), ("T", "a time series")):
        if shape.get(axis, 1) > 1:
            raise FrontlineInputError(
                f"the image is {what}: {axis}={shape[axis]} planes (axes {axes})",
                sample=sample,
                file=path,
                fix="project it to one 2-D plane per channel (e.g. a maximum "
                "projection in Fiji) and save that as OME-TIFF",
            )
    if axes[-2:] != "YX":
        raise FrontlineInputError(
            f"unsupported axis order {axes}",
            sample=sample,
            file=path,
            fix="save the image as OME-TIFF with axes CYX",
        )
    chan_axes = [a for a in axes[:-2] if shape[a] > 1]
    if len(chan_axes) > 1:
        raise FrontlineInputError(
            f"the image has more than one non-spatial axis ({axes}, shape {series.shape})",
            sample=sample,
            file=path,
            fix="save it as OME-TIFF with axes CYX (one plane per channel)",
        )
    chan = chan_axes[0] if chan_axes else None
    count = shape[chan] if chan else 1
    levels = []
    for i, lvl in enumerate(series.levels):
        array = zarr.open_array(series.aszarr(level=i), mode="r")
        lvl_shape = dict(zip(lvl.axes, lvl.shape))
        if lvl.axes != axes or (chan and lvl_shape[chan] != count):
            break  # a level with another layout (e.g. a macro image) ends the pyramid
        planes = []
        for c in range(count):
            planes.append(_Plane(array, tuple(c if a == chan else 0 for a in axes[:-2])))
        levels.append(_Level(planes))
    return levels, axes


def _series_source(tif, path, sample):
    """OME-TIFF or plain TIFF: series 0, channel names from OME or markers.csv."""
    series = tif.series[0]
    absent = sum(page is None for page in series.pages)
    if absent:
        raise FrontlineInputError(
            f"{absent} of the image's {len(series.pages)} planes are missing (a multi-file "
            "OME-TIFF whose companion files are not beside it?)",
            sample=sample,
            file=path,
            fix="keep all files of a multi-file OME-TIFF in one folder, or convert it to a "
            "single OME-TIFF",
        )
    if len(tif.series) > 1:
        log.info(
            "%s holds %d image series; reading the first (%s)",
            path.name,
            len(tif.series),
            series.shape,
        )
    levels, _ = _series_levels(series, path, sample)
    count = levels[0].count
    names, names_from = (_ome_channel_names(tif, count), "OME-XML") if tif.is_ome else (None, None)
    markers = _markers_csv(path, count, sample)
    if markers is not None:
        if names is not None and names != markers[0]:
            log.info(
                "%s: channel names from %s (the OME-XML says %s)", path.name, markers[1], names
            )
        names, names_from = markers
    size, size_from = _file_pixel_size(tif, series.keyframe, path, sample)
    kind = "OME-TIFF" if tif.is_ome else "TIFF"
    return {
        "levels": levels,
        "pages": list(series.pages),
        "names": names,
        "names_from": names_from or "config channel_names",
        "fluors": None,
        "pixel_size": size,
        "pixel_from": size_from,
        "kind": kind,
    }


def _markers_csv(path, count, sample):
    """MCMICRO: ``markers.csv`` beside the image or one folder up; (names, where) or None."""
    for folder in (path.parent, path.parent.parent):
        csv = folder / "markers.csv"
        if csv.is_file():
            break
    else:
        return None
    try:
        table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise FrontlineInputError(  # noqa: B904 - the message carries the cause
            f"cannot read markers.csv ({err})",
            sample=sample,
            file=csv,
            fix="write it as comma-separated text with a `marker_name` column",
        )
    table.columns = [c.strip() for c in table.columns]
    if "marker_name" not in table.columns:
        raise FrontlineInputError(
            f"markers.csv has no `marker_name` column (it has {list(table.columns)})",
            sample=sample,
            file=csv,
            fix="name the column of marker names `marker_name`, as MCMICRO does",
        )
    names = [n.strip() for n in table["marker_name"]]
    if len(names) != count:
        raise FrontlineInputError(
            f"markers.csv lists {len(names)} markers but the image {path.name} has {count} "
            "channels",
            sample=sample,
            file=csv,
            fix="give markers.csv exactly one row per image channel, in channel order",
        )
    return names, f"{csv.parent.name}/markers.csv"


# --------------------------------------------------------------------------- QPTIFF, inForm


def _qpi_xml(page, index, path, sample):
    """The fields of a page's PerkinElmer-QPI XML description as a dict of str."""
    text = (page.description or "").strip()
    if not text:
        return {}
    # the declaration says utf-16 but the text is utf-8 (and already decoded here)
    text = re.sub(r"^<\?xml[^>]*\?>", "", text).strip()
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        raise FrontlineInputError(
            f"the XML description of page {index} is malformed ({err})",
            sample=sample,
            file=path,
            fix="re-export the image from the vendor software",
        ) from None
    fields = {child.tag: (child.text or "").strip() for child in root}
    fields["_raw"] = page.description
    return fields


def _qpi_source(tif, path, sample):
    """Akoya QPTIFF / inForm component data: FullResolution pages are the channels."""
    full, reduced, info = [], [], []
    for index, page in enumerate(tif.pages):
        fields = _qpi_xml(page, index, path, sample)
        kind = fields.get("ImageType", "")
        if kind == "FullResolution":
            full.append((index, page, fields))
        elif kind == "ReducedResolution":
            reduced.append((index, page))
        info.append(kind or "?")
    if not full:
        raise FrontlineInputError(
            f"no page is marked FullResolution (page types: {info})",
            sample=sample,
            file=path,
            fix="re-export the image from the vendor software (whole-slide scan or component data)",
        )
    acq = full[0][2].get("AcquisitionSoftware", "")
    kind = (
        "inForm component data"
        if "inform" in acq.lower() or path.name.lower().endswith("component_data.tif")
        else "QPTIFF"
    )
    first = full[0][1]
    for index, page, _ in full:
        if page.samplesperpixel > 1:
            raise FrontlineInputError(
                f"page {index} is RGB ({page.samplesperpixel} samples per pixel): a brightfield "
                "scan, not multiplex immunofluorescence",
                sample=sample,
                file=path,
                fix="use the fluorescence (unmixed) scan, one page per fluor",
            )
        if page.shape != first.shape:
            raise FrontlineInputError(
                f"full-resolution pages have different sizes ({first.shape} on page "
                f"{full[0][0]}, {page.shape} on page {index})",
                sample=sample,
                file=path,
                fix="re-export the image so all channels have the same size",
            )
    fluors = [f.get("Name", "") for _, _, f in full]
    if any(not f for f in fluors):
        fluors = None
        names = None
    else:
        dup = sorted({f for f in fluors if fluors.count(f) > 1})
        if dup:
            pages = [i for i, _, f in full if f.get("Name") in dup]
            raise FrontlineInputError(
                f"two or more pages claim the same fluor {dup} (pages {pages})",
                sample=sample,
                file=path,
                fix="re-export the image; each fluor must appear once at full resolution",
            )
        names = [f.get("Biomarker") or f.get("Name") for _, _, f in full]
    levels = [_Level([_Plane(zarr.open_array(p.aszarr(), mode="r")) for _, p, _ in full])]
    groups = {}
    for _, page in reduced:
        groups.setdefault(page.shape, []).append(page)
    for shape in sorted(groups, key=lambda s: -s[0]):
        pages = groups[shape]
        if len(pages) == len(full) and all(p.samplesperpixel == 1 for p in pages):
            levels.append(_Level([_Plane(zarr.open_array(p.aszarr(), mode="r")) for p in pages]))
    size, size_from = _file_pixel_size(tif, first, path, sample)
    if size is None:
        size = _xml_pixel_size(full[0][2].get("_raw"))
        size_from = "the XML description" if size is not None else None
    log.info(
        "%s: %s, %d fluor page(s), %d pyramid level(s), skipped %d other page(s)",
        path.name,
        kind,
        len(full),
        len(levels),
        len(info) - len(full) - (len(levels) - 1) * len(full),
    )
    return {
        "levels": levels,
        "pages": [p for _, p, _ in full],
        "names": names,
        "names_from": f"{kind} page descriptions",
        "fluors": fluors,
        "pixel_size": size,
        "pixel_from": size_from,
        "kind": kind,
    }


# --------------------------------------------------------------------------- folders


def _channel_name(file):
    name = file.name
    for suffix in (".ome.tiff", ".ome.tif", ".tiff", ".tif"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return file.stem


def _read_folder(folder, sample):
    """A folder of single-channel TIFFs, one per marker named by the file stem."""
    files = sorted(
        (
            f
            for f in folder.iterdir()
            if f.is_file() and f.suffix.lower() in TIFF_SUFFIXES and not f.name.startswith(".")
        ),
        key=lambda f: f.name.lower(),
    )
    if not files:
        zarr_like = folder.suffix == ".zarr" or any(
            (folder / n).exists() for n in (".zattrs", ".zgroup", "zarr.json")
        )
        raise FrontlineInputError(
            "the image folder holds no TIFF files (.tif/.tiff)"
            + (" (it looks like OME-Zarr, which frontline does not read)" if zarr_like else ""),
            sample=sample,
            file=folder,
            fix="point the sheet's `image` to a folder with one single-channel TIFF per marker, "
            "or to a multi-channel image file"
            + (" (convert OME-Zarr with raw2ometiff)" if zarr_like else ""),
        )
    handles, planes_by_file, sizes = [], [], []
    try:
        for file in files:
            with _TiffWarnings() as warned:
                tif = _open_tiff(file, sample)
                handles.append(tif)
                series = tif.series[0]
                levels, axes = _series_levels(series, file, sample)
            if warned.messages:
                raise _damaged(file, sample, "; ".join(dict.fromkeys(warned.messages)))
            _check_complete(tif, [p for p in series.pages if p is not None], file, sample)
            if levels[0].count != 1:
                raise FrontlineInputError(
                    f"a TIFF in an image folder must hold one channel; this one has "
                    f"{levels[0].count} (axes {axes})",
                    sample=sample,
                    file=file,
                    fix="split it into one file per marker, or give the file itself as the image",
                )
            planes_by_file.append([lv.planes[0] for lv in levels])
            size, where = _file_pixel_size(tif, series.keyframe, file, sample)
            if size is not None:
                sizes.append((size, file.name, where))
        shapes = {}
        for file, planes in zip(files, planes_by_file):
            shapes.setdefault(planes[0].shape, []).append(file.name)
        if len(shapes) > 1:
            listing = "; ".join(
                f"{s}: {', '.join(names[:5])}" + (" ..." if len(names) > 5 else "")
                for s, names in shapes.items()
            )
            raise FrontlineInputError(
                f"the TIFFs in the folder have different sizes ({listing})",
                sample=sample,
                file=folder,
                fix="all channels of an image must have the same size; remove or "
                "re-export the odd ones",
            )
        if sizes and max(s for s, _, _ in sizes) > 1.01 * min(s for s, _, _ in sizes):
            raise FrontlineInputError(
                "the TIFFs in the folder disagree on the pixel size ("
                + ", ".join(f"{n}: {s:.4g} µm" for s, n, _ in sizes[:6])
                + ")",
                sample=sample,
                file=folder,
                fix="re-export the channels with one pixel size",
            )
    except BaseException:
        for tif in handles:
            tif.close()
        raise
    depth = min(len(p) for p in planes_by_file)
    levels = []
    for i in range(depth):
        planes = [p[i] for p in planes_by_file]
        if len({p.shape for p in planes}) != 1:
            break
        levels.append(_Level(planes))
    names = [_channel_name(f) for f in files]
    return {
        "levels": levels,
        "names": names,
        "names_from": "file names in the folder",
        "fluors": None,
        "pixel_size": sizes[0][0] if sizes else None,
        "pixel_from": f"{sizes[0][2]} of {sizes[0][1]}" if sizes else None,
        "kind": "TIFF folder",
        "handles": handles,
    }


# --------------------------------------------------------------------------- reading


def _window_slices(window, shape):
    """(y0, y1, x0, x1) px -> two slices, checked against the (Y, X) shape."""
    if window is None:
        return slice(0, shape[0]), slice(0, shape[1])
    if len(window) != 4:
        raise ValueError(f"window must be (y0, y1, x0, x1), got {window!r}")
    y0, y1, x0, x1 = (int(v) for v in window)
    if not (0 <= y0 < y1 <= shape[0] and 0 <= x0 < x1 <= shape[1]):
        raise ValueError(f"window {window!r} is empty or outside the image of shape {shape}")
    return slice(y0, y1), slice(x0, x1)


def _read_plane(plane, ys, xs, path, sample):
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


def _read_strided(plane, step, path, sample, band_px=2048):
    """Every ``step``-th pixel of a plane, read in horizontal bands to bound memory."""
    height, width = plane.shape
    if step == 1:
        return _read_plane(plane, slice(0, height), slice(0, width), path, sample)
    band = max(step, (band_px // step) * step)
    parts = []
    for y0 in range(0, height, band):
        part = _read_plane(plane, slice(y0, min(height, y0 + band)), slice(0, width), path, sample)
        parts.append(part[::step, ::step])
    return np.concatenate(parts, axis=0)
