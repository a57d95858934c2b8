"""HALO (Indica Labs) object data exports.

One row per cell: ``XMin``, ``XMax``, ``YMin``, ``YMax`` (the cell's bounding box in the
export's pixels; the centroid is its centre, ``(XMin + XMax) / 2`` as a pixel index, so the
sample sheet's ``pixel_size_um`` is required), ``Object Id``, per marker ``<marker> (<fluor>)
Positive`` (0/1: phenotypes come from the config's phenotype tree over these flags),
``<marker> (<fluor>) Nucleus Intensity`` and ``Cytoplasm Intensity`` (-> frontline's nucleus
and ring means; ``Cell Intensity`` when HALO gives one, else the cell mean is their average
weighted by nucleus and cytoplasm area), ``Cell Area (µm²)``, ``Nucleus Area (µm²)`` and
``Classifier Label`` (HALO's tissue classifier, kept as ``tissue_class``).

Headers are accepted as HALO writes them and as R's ``read.csv`` mangles them
(``CD3 (Opal 570) Positive`` = ``CD3..Opal.570..Positive``, ``Classifier Label`` =
``Classifier.Label``). Marker names keep letters, digits and ``_`` only, so both forms give
the same marker (``PD-L1`` and ``PD.L1`` -> ``PDL1``); HALO's DAPI column (``Nuclei (DAPI)``)
is the marker ``DAPI`` (the stain in brackets). A fluor map (sheet column ``fluor_map``)
renames a marker by its fluor or its name (``{"Opal 570": CD3}``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from .common import Layout, canonical, find, marker_name

NAME = "halo"
EXPECTED = (
    "XMin, XMax, YMin, YMax (bounding box, px), Object Id, '<marker> (<fluor>) Positive' "
    "flags, optional '... Nucleus Intensity' / '... Cytoplasm Intensity', 'Classifier Label'"
)
# marker, fluor and what the column holds: "CD3 (Opal 570) Positive" or "CD3..Opal.570..Positive"
_MARKER_COLUMN = re.compile(r"^(?P<marker>.+?)(?: \(|\.\.)(?P<fluor>.+?)(?:\) ?|\.\.)(?P<what>.+)$")
_WHAT = {
    "positive": None,
    "nucleus intensity": "nucleus",
    "cytoplasm intensity": "ring",
    "cell intensity": "cell",
}
_NUCLEAR = {"nuclei", "nucleus"}


def matches(columns: Sequence[str]) -> bool:
    """Whether the header has HALO's bounding-box columns."""
    return all(find(columns, c) for c in ("xmin", "xmax", "ymin", "ymax"))


def _marker(raw_marker: str, fluor: str, rename: Mapping[str, str]) -> str:
    fluor_text = " ".join(re.split(r"[.\s]+", fluor.strip()))  # "Opal.570" -> "Opal 570"
    for key in (fluor.strip(), fluor_text, raw_marker.strip()):
        if key in rename:
            return rename[key]
    if canonical(raw_marker) in _NUCLEAR:  # "Nuclei (DAPI)": the stain is the marker
        return marker_name(fluor_text)
    return marker_name(raw_marker)


def layout(columns: Sequence[str], fluor_map: Mapping[str, str] | None = None) -> Layout:
    """HALO's columns (see the module docstring)."""
    rename = dict(fluor_map or {})
    bbox = tuple(find(columns, c) for c in ("xmin", "xmax", "ymin", "ymax"))
    out = Layout(format=NAME, bbox=bbox, units="px", pixel_origin=0.5)
    out.cell_id = find(columns, "object id")
    for column in columns:
        hit = _MARKER_COLUMN.match(column)
        if hit is None:
            continue
        what = canonical(hit.group("what"))
        if what not in _WHAT:
            continue  # "Positive Nucleus", phenotype combinations such as "CD3..CD8."
        marker = _marker(hit.group("marker"), hit.group("fluor"), rename)
        if _WHAT[what] is None:
            out.flags[marker] = column
        else:
            out.intensities[f"{marker}_{_WHAT[what]}_mean"] = column
    for name, key in (("cell_area_um2", "cell area"), ("nucleus_area_um2", "nucleus area")):
        column = next((c for c in columns if canonical(c).startswith(key + " u")), None)
        column = column or next((c for c in columns if canonical(c) in (key, key + " m")), None)
        if column is not None:
            out.measures[name] = column
    label = find(columns, "classifier label")
    if label is not None:
        out.measures["tissue_class"] = label
    return out
