"""Cell tables from other software as frontline samples: HALO, inForm, QuPath, MCMICRO or the
generic form (``x_um, y_um, phenotype``).

A sample whose sheet row gives ``cells`` instead of ``image`` starts here: its table is read
(:func:`frontline.io.celltables.read_cell_table`) and normalised into the ``cells.parquet``
and ``phenotypes.parquet`` forms an image sample reaches after measure and phenotype
(:func:`normalise_cell_table`); from there both kinds of sample run the same rules. Each
format's module says which of its columns become which of frontline's: ``generic``, ``halo``,
``inform``, ``qupath``, ``mcmicro``. :func:`field_extent_um` gives the field a table sample
covers, which an image's size gives otherwise.
"""

from .common import FROM_FLAGS, FROM_GATING, FROM_TABLE, Layout, canonical
from .extent import cell_spacing_um, field_extent_um
from .normalise import (
    FORMATS,
    TableCells,
    cells_frame,
    detect_formats,
    needs_pixel_size,
    normalise_cell_table,
    parse_rows,
    phenotype_source,
    renamed,
    select_rows,
    table_layout,
)
from .phenotypes import phenotypes_frame, phenotypes_from_flags

__all__ = [
    "FORMATS",
    "FROM_FLAGS",
    "FROM_GATING",
    "FROM_TABLE",
    "Layout",
    "TableCells",
    "canonical",
    "cell_spacing_um",
    "cells_frame",
    "detect_formats",
    "field_extent_um",
    "needs_pixel_size",
    "normalise_cell_table",
    "parse_rows",
    "phenotype_source",
    "phenotypes_frame",
    "phenotypes_from_flags",
    "renamed",
    "select_rows",
    "table_layout",
]
