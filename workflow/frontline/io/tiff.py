"""TIFF files: OME-TIFF and plain TIFF series, folders of single-channel TIFFs, damage checks.

- OME-TIFF (C, Y, X; singleton T/Z allowed; pyramids read at level 0), channel names and pixel
  size from the OME-XML (or an MCMICRO ``markers.csv``, see ``vendor``);
- any other TIFF whose pages are single-channel planes, named by config ``channel_names``;
- a folder of single-channel TIFFs, one per marker, named by file stem;
- Akoya QPTIFF and inForm component data are detected here and read by ``vendor``.

A window read touches only the tiles (or strips) it overlaps: a page that is one plane is read
segment by segment by ``pages`` (threads decode in parallel), any other layout through
tifffile's zarr store. A truncated or damaged file is refused when it is opened, not halfway
through a run.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
import zarr

from ..errors import FrontlineInputError
from .metadata import file_pixel_size, ome_channel_names
from .pages import page_planes
from .source import Level, Plane, Source
from .vendor import is_qpi, markers_csv, qpi_source

log = logging.getLogger(__name__)

TIFF_SUFFIXES = (".tif", ".tiff")
_FORMATS = (
    "an OME-TIFF, an Akoya QPTIFF, an inForm component_data.tif, "
    "or a folder of single-channel TIFFs; convert other formats to OME-TIFF first "
    "(e.g. `bfconvert -noflat in.czi out.ome.tif`)"
)


def read_file(path: Path, sample: str | None) -> Source:
    """Detect the format of one TIFF file and build its source description."""
    with TiffWarnings() as warned:
        tif = open_tiff(path, sample)
    try:
        with warned:
            if is_qpi(tif):
                src = qpi_source(tif, path, sample)
            else:
                src = series_source(tif, path, sample)
        if warned.messages:
            raise damaged(path, sample, "; ".join(dict.fromkeys(warned.messages)))
        check_complete(tif, src.pages, path, sample)
        src.pages = []
        src.handles = [tif]
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


class TiffWarnings(logging.Handler):
    """Collects tifffile's warnings about broken offsets (its sign of a truncated file)."""

    BROKEN = re.compile(r"invalid (page|value|tag) offset|corrupt|truncat|beyond", re.I)

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if self.BROKEN.search(message):
            self.messages.append(message)

    def __enter__(self) -> TiffWarnings:
        tifffile.logger().addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        tifffile.logger().removeHandler(self)


def damaged(path: Path, sample: str | None, detail: str) -> FrontlineInputError:
    """The error for a damaged or truncated TIFF."""
    return FrontlineInputError(
        f"the TIFF is damaged or truncated ({detail})",
        sample=sample,
        file=path,
        fix="copy the file again from its source (compare its size with the original)",
    )


def open_tiff(path: Path, sample: str | None, fix: str | None = None) -> tifffile.TiffFile:
    """Open a TIFF; a file tifffile cannot parse is a FrontlineInputError."""
    try:
        return tifffile.TiffFile(path)
    except (OSError, ValueError, tifffile.TiffFileError, KeyError, IndexError) as err:
        raise FrontlineInputError(
            f"cannot read the file as TIFF ({type(err).__name__}: {err})",
            sample=sample,
            file=path,
            fix=fix or f"check that the file is complete (re-copy it) and is {_FORMATS}",
        ) from None


def check_complete(tif: tifffile.TiffFile, pages: list, path: Path, sample: str | None) -> None:
    """Every pixel byte of ``pages`` lies inside the file (a truncated copy fails here)."""
    size = tif.filehandle.size
    for index, page in enumerate(pages):
        offsets = np.asarray(page.dataoffsets, dtype=np.int64)
        counts = np.asarray(page.databytecounts, dtype=np.int64)
        if offsets.size and int((offsets + counts).max()) > size:
            raise damaged(
                path,
                sample,
                f"plane {index} needs bytes up to "
                f"{int((offsets + counts).max())}, the file has {size}",
            )


def series_levels(series: Any, path: Path, sample: str | None) -> tuple[list[Level], str]:
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
        lvl_shape = dict(zip(lvl.axes, lvl.shape))
        if lvl.axes != axes or (chan and lvl_shape[chan] != count):
            break  # a level with another layout (e.g. a macro image) ends the pyramid
        planes = page_planes(lvl.pages, lvl.shape[-2:]) if len(lvl.pages) == count else None
        if planes is None:
            array = zarr.open_array(series.aszarr(level=i), mode="r")
            leads = [tuple(c if a == chan else 0 for a in axes[:-2]) for c in range(count)]
            planes = [Plane(array, lead) for lead in leads]
        levels.append(Level(planes))
    return levels, axes


def series_source(tif: tifffile.TiffFile, path: Path, sample: str | None) -> Source:
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
    levels, _ = series_levels(series, path, sample)
    count = levels[0].count
    names, names_from = (ome_channel_names(tif, count), "OME-XML") if tif.is_ome else (None, None)
    markers = markers_csv(path, count, sample)
    if markers is not None:
        if names is not None and names != markers[0]:
            log.info(
                "%s: channel names from %s (the OME-XML says %s)", path.name, markers[1], names
            )
        names, names_from = markers
    size, size_from = file_pixel_size(tif, series.keyframe, path, sample)
    return Source(
        levels=levels,
        names=names,
        names_from=names_from or "config channel_names",
        fluors=None,
        pixel_size=size,
        pixel_from=size_from,
        kind="OME-TIFF" if tif.is_ome else "TIFF",
        pages=list(series.pages),
    )


def _channel_name(file: Path) -> str:
    name = file.name
    for suffix in (".ome.tiff", ".ome.tif", ".tiff", ".tif"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return file.stem


def read_folder(folder: Path, sample: str | None) -> Source:
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
            with TiffWarnings() as warned:
                tif = open_tiff(file, sample)
                handles.append(tif)
                series = tif.series[0]
                levels, axes = series_levels(series, file, sample)
            if warned.messages:
                raise damaged(file, sample, "; ".join(dict.fromkeys(warned.messages)))
            check_complete(tif, [p for p in series.pages if p is not None], file, sample)
            if levels[0].count != 1:
                raise FrontlineInputError(
                    f"a TIFF in an image folder must hold one channel; this one has "
                    f"{levels[0].count} (axes {axes})",
                    sample=sample,
                    file=file,
                    fix="split it into one file per marker, or give the file itself as the image",
                )
            planes_by_file.append([lv.planes[0] for lv in levels])
            size, where = file_pixel_size(tif, series.keyframe, file, sample)
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
        levels.append(Level(planes))
    names = [_channel_name(f) for f in files]
    return Source(
        levels=levels,
        names=names,
        names_from="file names in the folder",
        fluors=None,
        pixel_size=sizes[0][0] if sizes else None,
        pixel_from=f"{sizes[0][2]} of {sizes[0][1]}" if sizes else None,
        kind="TIFF folder",
        handles=handles,
    )
