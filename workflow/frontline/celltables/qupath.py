"""QuPath detection measurement exports (Measure > Export measurements, or
``saveDetectionMeasurements``; tab-separated text).

``Centroid X µm`` / ``Centroid Y µm`` (or ``... px`` for an uncalibrated image, which needs the
sample sheet's ``pixel_size_um``; QuPath's pixel coordinates are continuous, pixel i spanning
i to i + 1), ``Class`` (or ``Classification``, QuPath 0.5) as the phenotype (an empty class is
``other``; a table of unclassified cells is gated by frontline once its class column is
renamed away, e.g. ``cell_tables.columns: {Class: qupath_class}``), intensities
``<marker>: <Nucleus|Cytoplasm|Cell>: Mean`` (QuPath 0.4 and later) or ``<Nucleus|Cytoplasm|
Cell>: <marker> mean`` (earlier) as frontline's nucleus, ring and cell means (membrane means
are left out), ``Nucleus: Area µm^2`` and ``Cell: Area µm^2`` as the areas. Cell ids are the
row numbers (QuPath's object ids are not integers).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from .common import Layout, canonical, find

NAME = "qupath"
EXPECTED = (
    "'Centroid X µm', 'Centroid Y µm' (or '... px'), 'Class', optional '<marker>: <Nucleus|"
    "Cytoplasm|Cell>: Mean' intensities"
)
_COMPARTMENT = {"nucleus": "nucleus", "cytoplasm": "ring", "cell": "cell"}
_NEW = re.compile(r"^(?P<marker>.+?): (?P<comp>Nucleus|Cytoplasm|Membrane|Cell): Mean$", re.I)
_OLD = re.compile(r"^(?P<comp>Nucleus|Cytoplasm|Membrane|Cell): (?P<marker>.+?) mean$", re.I)


def _centroid(columns: Sequence[str], axis: str) -> tuple[str | None, str]:
    for units in ("um", "px"):
        column = find(columns, f"centroid {axis} {units}")
        if column is not None:
            return column, units
    return None, "um"


def matches(columns: Sequence[str]) -> bool:
    """Whether the header has QuPath's centroid columns."""
    return _centroid(columns, "x")[0] is not None and _centroid(columns, "y")[0] is not None


def layout(columns: Sequence[str], fluor_map: Mapping[str, str] | None = None) -> Layout:
    """QuPath's columns (see the module docstring)."""
    rename = dict(fluor_map or {})
    x, units = _centroid(columns, "x")
    y, _ = _centroid(columns, "y")
    out = Layout(format=NAME, x=x, y=y, units=units, pixel_origin=0.0)
    out.phenotype = find(columns, "class", "classification")
    for column in columns:
        hit = _NEW.match(column) or _OLD.match(column)
        if hit is None or hit.group("comp").lower() not in _COMPARTMENT:
            continue
        marker = hit.group("marker").strip()
        marker = rename.get(marker, marker)
        out.intensities[f"{marker}_{_COMPARTMENT[hit.group('comp').lower()]}_mean"] = column
    for name, key in (("nucleus_area_um2", "nucleus area"), ("cell_area_um2", "cell area")):
        column = find(columns, f"{key} um 2", f"{key} um2", key)
        if column is not None:
            out.measures[name] = column
            out.area_units = "px2" if "px" in canonical(column) else "um2"
    return out
