"""frontline's own cell-table form, which any tool's export takes after a rename.

Columns (exact names):

- ``x_um``, ``y_um``: the cell centroid in µm, origin at the top-left corner of the image; or
  ``x_px``, ``y_px`` in pixels (pixel index, as scikit-image's centroids; the sample sheet's
  ``pixel_size_um`` is then required);
- ``phenotype``: the cell's phenotype name; without it, ``{marker}_positive`` flags
  (phenotyped by the config's phenotype tree) or ``{marker}_{nucleus|cell|ring}_mean``
  intensities (gated by frontline);
- optional: ``cell_id`` (integer, unique; default 1..N in table order), ``tissue_class``
  (text, e.g. tumor / stroma from a tissue classifier), ``nucleus_area_um2``,
  ``cell_area_um2``, ``eccentricity``, ``solidity``, ``{marker}_ring_median``, and boolean
  state columns (``true``/``false``), kept as they are. Other columns are left out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from .common import Layout, find

NAME = "generic"
EXPECTED = (
    "x_um, y_um (cell centroid, µm; or x_px, y_px with the sheet's pixel_size_um) and phenotype "
    "(or {marker}_positive flags, or {marker}_{nucleus|cell|ring}_mean intensities); optional "
    "cell_id, tissue_class, boolean state columns"
)
MEASURES = ("nucleus_area_um2", "cell_area_um2", "eccentricity", "solidity", "tissue_class")
_INTENSITY = re.compile(r"^(?P<marker>.+)_(?:nucleus|cell|ring)_mean$|^(?P<m2>.+)_ring_median$")


def coordinates(columns: Sequence[str]) -> tuple[str | None, str | None, str]:
    """The x and y columns (µm first, else px) and their units."""
    x_um, y_um = find(columns, "x um"), find(columns, "y um")
    if x_um or y_um:
        return x_um, y_um, "um"
    x_px, y_px = find(columns, "x px"), find(columns, "y px")
    return x_px, y_px, "px"


def matches(columns: Sequence[str]) -> bool:
    """Whether the header has the generic form's coordinate columns."""
    x, y, _ = coordinates(columns)
    return x is not None and y is not None


def layout(columns: Sequence[str], fluor_map: Mapping[str, str] | None = None) -> Layout:
    """The generic form's columns (``fluor_map`` renames markers of flags and intensities)."""
    rename = dict(fluor_map or {})
    x, y, units = coordinates(columns)
    out = Layout(format=NAME, x=x, y=y, units=units, pixel_origin=0.5)
    out.cell_id = find(columns, "cell id")
    out.phenotype = find(columns, "phenotype")
    used = {x, y, out.cell_id, out.phenotype}
    for column in columns:
        if column in used:
            continue
        if column.endswith("_positive") and len(column) > len("_positive"):
            marker = column[: -len("_positive")]
            out.flags[rename.get(marker, marker)] = column
        elif column in MEASURES:
            out.measures[column] = column
        elif (hit := _INTENSITY.match(column)) is not None:
            marker = hit.group("marker") or hit.group("m2")
            out.intensities[rename.get(marker, marker) + column[len(marker) :]] = column
        else:
            out.states.append(column)  # kept when its values are booleans
    return out
