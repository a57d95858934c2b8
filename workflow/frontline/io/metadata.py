"""Image metadata: pixel size and channel names from OME-XML, TIFF tags, ImageJ, sheet, config.

The channel names come from the file (vendor XML, markers.csv, OME) before the config's
``channel_names``, then the fluor map renames them; the pixel size comes from the file's
metadata, else the sample sheet, else the config, and is never silently assumed.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import tifffile

from ..errors import FrontlineInputError
from .source import Source

log = logging.getLogger(__name__)

MAX_TAG_PIXEL_SIZE_UM = 25.0  # coarser "pixel sizes" in resolution tags are dpi placeholders
# µm per pixel of a tissue image that nuclei can be found in: 40x scans ~0.25, 20x ~0.5,
# 10x and imaging mass cytometry ~1; outside this a unit or value is wrong (mm or nm as µm).
PIXEL_SIZE_RANGE_UM = (0.05, 5.0)
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


def resolve_names(
    src: Source,
    path: Path,
    sample: str | None,
    channel_names: list[str] | None,
    fluor_map: dict | None,
) -> tuple[list[str], list[str]]:
    """Channel names: file (vendor XML, markers.csv, OME) > config, then the fluor map.

    Returns
    -------
    names : list of str, marker names in file order (after the fluor map)
    fluors : list of str, the vendor's fluor names (the names before the map)
    """
    count = src.levels[0].count
    names = src.names
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
    _check_unique(names, src.names_from, path, sample)
    fluors = list(src.fluors or names)
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


def positive_or_none(value: Any, sample: str | None, path: Path, what: str) -> float | None:
    """A pixel size given by a person (sheet, config): a positive float, or None if empty."""
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


def resolve_pixel_size(
    src: Source,
    path: Path,
    sample: str | None,
    sheet_size: float | None,
    config_size: float | None,
) -> tuple[float, str]:
    """µm per pixel and where it came from: the file's metadata > the sample sheet > the
    config, else an error; a size outside :data:`PIXEL_SIZE_RANGE_UM` is an error naming its
    source (:func:`check_pixel_size`)."""
    file_size, where = src.pixel_size, src.pixel_from
    if file_size is not None:
        if sheet_size is not None and abs(sheet_size - file_size) > 0.01 * file_size:
            log.warning(
                "sample %s: %s: the file says %.4g µm/px (%s), the sample sheet %.4g; using the "
                "file's value",
                sample,
                path.name,
                file_size,
                where,
                sheet_size,
            )
        log.info("%s: pixel size %.4g µm from %s", path.name, file_size, where)
        source = f"the file's {where}"
        check_pixel_size(file_size, source, sample, path)
        return file_size, source
    for size, where in (
        (sheet_size, "the sample sheet's pixel_size_um"),
        (config_size, "the config's pixel_size_um"),
    ):
        if size is not None:
            log.info("%s: pixel size %.4g µm from %s (the file has none)", path.name, size, where)
            check_pixel_size(size, where, sample, path)
            return size, where
    raise FrontlineInputError(
        "the image carries no pixel size (no OME PhysicalSizeX, no TIFF resolution tags with "
        "a unit) and none is given",
        sample=sample,
        file=path,
        fix="set the sample's `pixel_size_um` in the sample sheet (µm per pixel, e.g. 0.5), "
        "or `pixel_size_um` in the config for all such images",
    )


def check_pixel_size(
    size_um: float, source: str, sample: str | None = None, file: str | Path | None = None
) -> None:
    """FrontlineInputError unless ``size_um`` is within :data:`PIXEL_SIZE_RANGE_UM`.

    Parameters
    ----------
    size_um : µm per pixel
    source : where it came from: "the file's OME PhysicalSizeX/Y", "the sample sheet's
        pixel_size_um" or "the config's pixel_size_um" (the fix depends on it)
    sample, file : for the message
    """
    lo, hi = PIXEL_SIZE_RANGE_UM
    if lo <= size_um <= hi:
        return
    if source.startswith("the file"):
        fix = (
            "the file's metadata wins over the sample sheet, so correct it in the file (e.g. "
            "Bio-Formats' tiffcomment edits the OME-XML) or export the image again with its "
            "pixel size in µm"
        )
    elif "sheet" in source:
        fix = "set the sample's `pixel_size_um` in the sample sheet to µm per pixel"
    else:
        fix = "set `pixel_size_um` in the config to µm per pixel"
    raise FrontlineInputError(
        f"the pixel size {size_um:g} µm per pixel (from {source}) is implausible: tissue "
        f"images have {lo:g}-{hi:g} µm per pixel (0.25 at 40x, 0.5 at 20x, 1 at 10x); a value "
        "outside is a wrong unit (mm or nm read as µm) or a wrong number, and would segment "
        "nothing or crash",
        sample=sample,
        file=file,
        fix=fix + " (typically 0.2-1)",
    )


def ome_pixel_size(tif: tifffile.TiffFile) -> float | None:
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


def ome_channel_names(tif: tifffile.TiffFile, count: int) -> list[str] | None:
    """The OME-XML's channel names when it names all ``count`` channels, else None."""
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


def file_pixel_size(
    tif: tifffile.TiffFile, page: Any, path: Path, sample: str | None
) -> tuple[float | None, str | None]:
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
