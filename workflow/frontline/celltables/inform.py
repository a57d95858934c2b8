"""Akoya inForm cell tables (``*_cell_seg_data.txt``, tab-separated; merged exports too).

``Cell X Position`` / ``Cell Y Position``: the centroid, in pixels (pixel index) or µm as the
header says (``(pixels)``, ``(microns)``); a bare header is in µm when the table's other
headers are in microns (``Entire Cell Area (square microns)``), else in pixels (inForm 2.3 and
older), which needs the sample sheet's ``pixel_size_um``. ``Cell ID`` is the cell id;
``Phenotype`` the phenotype name, or, in a multi-schema export, one ``Phenotype-<marker>``
column per marker holding ``<marker>+`` / ``<marker>-`` (positivity flags, phenotyped by the
config's phenotype tree); ``Tissue Category`` is kept as ``tissue_class``. Intensities
``<Nucleus|Cytoplasm|Entire Cell> <marker> Mean (...)`` become frontline's nucleus, ring and
cell means (the membrane means are left out: frontline has no membrane compartment); a marker
named with its fluor (``CD8 (Opal 520)``) is the marker (``CD8``), one named by the fluor alone
keeps the fluor's name (``Alexa 594``, as the image path names that channel) unless the sheet's
fluor map renames it. ``#N/A`` is a missing value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from .common import Layout, canonical, find

NAME = "inform"
EXPECTED = (
    "'Cell X Position', 'Cell Y Position', 'Cell ID', 'Phenotype' (or 'Phenotype-<marker>' "
    "columns), optional 'Tissue Category' and '<compartment> <marker> Mean (...)' intensities"
)
_INTENSITY = re.compile(
    r"^(?P<comp>Nucleus|Cytoplasm|Membrane|Entire Cell) (?P<marker>.+?) Mean(?: \(.*\))?$"
)
_COMPARTMENT = {"Nucleus": "nucleus", "Cytoplasm": "ring", "Entire Cell": "cell"}
_WITH_FLUOR = re.compile(r"^(?P<marker>.+?) \((?P<fluor>[^)]*)\)$")


def _position(columns: Sequence[str], axis: str) -> str | None:
    return next((c for c in columns if canonical(c).startswith(f"cell {axis} position")), None)


def matches(columns: Sequence[str]) -> bool:
    """Whether the header has inForm's position columns."""
    return _position(columns, "x") is not None and _position(columns, "y") is not None


def _units(position: str, columns: Sequence[str]) -> str:
    words = canonical(position).split()[3:]
    if any(w in ("microns", "micron", "um") for w in words):
        return "um"
    if "pixels" in words:
        return "px"
    said = " ".join(canonical(c) for c in columns)
    return "um" if "microns" in said else "px"


def _marker(text: str, rename: Mapping[str, str]) -> str:
    text = text.strip()
    hit = _WITH_FLUOR.match(text)
    keys = [text] + ([hit.group("fluor"), hit.group("marker")] if hit else [])
    for key in keys:
        if key in rename:
            return rename[key]
    return hit.group("marker").strip() if hit else text


def layout(columns: Sequence[str], fluor_map: Mapping[str, str] | None = None) -> Layout:
    """inForm's columns (see the module docstring)."""
    rename = dict(fluor_map or {})
    x, y = _position(columns, "x"), _position(columns, "y")
    out = Layout(format=NAME, x=x, y=y, units=_units(x or "", columns), pixel_origin=0.5)
    out.cell_id = find(columns, "cell id")
    out.phenotype = find(columns, "phenotype")
    for column in columns:
        words = canonical(column).split()
        if len(words) > 1 and words[0] == "phenotype" and column.lower().startswith("phenotype"):
            marker = column[len("phenotype") :].lstrip(" -_")
            out.flags[_marker(marker, rename)] = column
        hit = _INTENSITY.match(column)
        if hit is not None and hit.group("comp") in _COMPARTMENT:
            marker = _marker(hit.group("marker"), rename)
            out.intensities[f"{marker}_{_COMPARTMENT[hit.group('comp')]}_mean"] = column
    if out.phenotype is not None:
        out.flags = {}  # one phenotype column wins over per-marker ones
    for name, key in (("nucleus_area_um2", "nucleus area"), ("cell_area_um2", "entire cell area")):
        column = next(
            (c for c in columns if canonical(c).startswith(key) and "percent" not in canonical(c)),
            None,
        )
        if column is not None:
            out.measures[name] = column
            out.area_units = "px2" if "pixels" in canonical(column) else "um2"
    category = find(columns, "tissue category")
    if category is not None:
        out.measures["tissue_class"] = category
    return out
