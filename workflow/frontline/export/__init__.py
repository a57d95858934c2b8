"""Exports other tools open: QuPath GeoJSON and AnnData (scverse).

Modules, bottom to top:

- ``outlines``: one polygon per label along the pixel edges (:func:`cell_outlines`)
- ``qupath``: cells as QuPath detections, regions as annotations (:func:`qupath_features`;
  a cell-table sample's cells as discs, :func:`qupath_table_features`)
- ``scverse``: the cell table as AnnData (:func:`to_anndata`)

They build objects and touch no files: ``frontline.io.write_feature_collection`` writes the
QuPath GeoJSON, AnnData's ``write_h5ad`` the ``.h5ad``.
"""

from .outlines import cell_outlines, label_outlines
from .qupath import (
    CellDiscs,
    qupath_annotations,
    qupath_cells,
    qupath_features,
    qupath_table_features,
    round_significant,
)
from .scverse import marker_compartments, to_anndata

__all__ = [
    "CellDiscs",
    "cell_outlines",
    "label_outlines",
    "marker_compartments",
    "qupath_annotations",
    "qupath_cells",
    "qupath_features",
    "qupath_table_features",
    "round_significant",
    "to_anndata",
]
