"""Vendor formats: Akoya QPTIFF, inForm component data, MCMICRO ``markers.csv``.

- Akoya QPTIFF (PhenoImager / Vectra Polaris / PhenoCycler) and inForm
  ``*_component_data.tif``: one page per fluor, names from each page's PerkinElmer-QPI XML
  description, reduced-resolution pages as pyramid levels; thumbnails, overview and label
  images are skipped.
- MCMICRO: a ``markers.csv`` beside the image (or one folder up) names the channels from its
  ``marker_name`` column.

(Cell tables exported by vendor software, HALO / inForm / QuPath / MCMICRO, are a different
input: their readers belong in ``io/celltables.py``, beside these image readers.)
"""

from __future__ import annotations

import html
import logging
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pandas as pd
import tifffile

from ..errors import FrontlineInputError
from .metadata import file_pixel_size
from .pages import page_plane
from .source import Level, Source

log = logging.getLogger(__name__)


def is_qpi(tif: tifffile.TiffFile) -> bool:
    """Whether a TIFF is Akoya QPTIFF / inForm component data (PerkinElmer-QPI pages)."""
    page = tif.pages.first
    software = str(page.software or "")
    return (
        software.startswith("PerkinElmer-QPI")
        or "<PerkinElmer-QPI-ImageDescription" in (page.description or "")[:2000]
    )


def _qpi_xml(page: Any, index: int, path: Path, sample: str | None) -> dict[str, str]:
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


def qpi_source(tif: tifffile.TiffFile, path: Path, sample: str | None) -> Source:
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
    levels = [Level([page_plane(p) for _, p, _ in full])]
    groups = {}
    for _, page in reduced:
        groups.setdefault(page.shape, []).append(page)
    for shape in sorted(groups, key=lambda s: -s[0]):
        pages = groups[shape]
        if len(pages) == len(full) and all(p.samplesperpixel == 1 for p in pages):
            levels.append(Level([page_plane(p) for p in pages]))
    size, size_from = file_pixel_size(tif, first, path, sample)
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
    return Source(
        levels=levels,
        names=names,
        names_from=f"{kind} page descriptions",
        fluors=fluors,
        pixel_size=size,
        pixel_from=size_from,
        kind=kind,
        pages=[p for _, p, _ in full],
    )


def _xml_pixel_size(description: str | None) -> float | None:
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


def markers_csv(path: Path, count: int, sample: str | None) -> tuple[list[str], str] | None:
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
