"""MCMICRO quantification tables (mcquant: ``{image}_{mask}.csv``).

``CellID``, ``X_centroid`` / ``Y_centroid`` (pixel index, so the sample sheet's
``pixel_size_um`` is required), the morphology columns (``Area`` in px², ``Eccentricity``,
``Solidity``, ...) and one column of mean intensity per marker, named by the marker (a
``_nucleiMask``, ``_cellRingMask`` or ``_nucleiRingMask`` suffix, as some pipelines add, puts
the mean in the nucleus or ring compartment; otherwise it is the whole cell's mean, mcquant's
default cell mask). The table carries no phenotypes: frontline's gates and phenotype tree run
on the intensities.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .common import Layout, canonical, find

NAME = "mcmicro"
EXPECTED = "CellID, X_centroid, Y_centroid (px) and one mean-intensity column per marker"
_MORPHOLOGY = {
    "cellid",
    "x centroid",
    "y centroid",
    "column centroid",
    "row centroid",
    "area",
    "majoraxislength",
    "minoraxislength",
    "eccentricity",
    "solidity",
    "extent",
    "orientation",
}
_SUFFIXES = {
    "_nucleiMask": "nucleus",
    "_cellMask": "cell",
    "_cellRingMask": "ring",
    "_nucleiRingMask": "ring",
}


def matches(columns: Sequence[str]) -> bool:
    """Whether the header has MCMICRO's centroid columns."""
    return find(columns, "x centroid") is not None and find(columns, "y centroid") is not None


def layout(columns: Sequence[str], fluor_map: Mapping[str, str] | None = None) -> Layout:
    """MCMICRO's columns (see the module docstring)."""
    rename = dict(fluor_map or {})
    out = Layout(
        format=NAME,
        x=find(columns, "x centroid"),
        y=find(columns, "y centroid"),
        units="px",
        pixel_origin=0.5,
        area_units="px2",
    )
    out.cell_id = find(columns, "cellid", "cell id")
    for name, key in (
        ("cell_area_um2", "area"),
        ("eccentricity", "eccentricity"),
        ("solidity", "solidity"),
    ):
        column = find(columns, key)
        if column is not None:
            out.measures[name] = column
    for column in columns:
        if canonical(column) in _MORPHOLOGY:
            continue
        marker, compartment = column, "cell"
        for suffix, comp in _SUFFIXES.items():
            if column.endswith(suffix):
                marker, compartment = column[: -len(suffix)], comp
        marker = rename.get(marker, marker)
        out.intensities[f"{marker}_{compartment}_mean"] = column
    return out
