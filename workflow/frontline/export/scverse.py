"""AnnData for scverse (scanpy, squidpy): one observation per cell, markers as variables.

:func:`to_anndata`: ``X`` = marker means (each marker in its phenotyping compartment), layers
``nucleus``, ``cell``, ``ring``; ``obsm['spatial']`` in µm.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..colours import phenotype_colours
from ..measure import COMPARTMENTS, READOUTS, intensity_column

log = logging.getLogger(__name__)


def marker_compartments(
    columns: Sequence[str],
    compartments: Mapping[str, str] | None = None,
    default_compartment: str = "cell",
) -> dict[str, str]:
    """Markers found in a cell table and the compartment each one is read from.

    Parameters
    ----------
    columns : the table's column names (``{marker}_{compartment}_mean``,
        ``{marker}_ring_median``)
    compartments : dict marker -> "nucleus" | "cell" | "ring" | "ring_median" (phenotyping
        config; a readout the table lacks falls back to the first mean it has)
    default_compartment : for markers not in ``compartments``

    Returns
    -------
    dict marker -> compartment, markers in table order
    """
    compartments = compartments or {}
    markers = []
    for column in columns:
        for comp in COMPARTMENTS:
            suffix = f"_{comp}_mean"
            if column.endswith(suffix):
                marker = column[: -len(suffix)]
                if marker not in markers:
                    markers.append(marker)
    out = {}
    for marker in markers:
        comp = compartments.get(marker, default_compartment)
        if intensity_column(marker, comp) not in columns:
            comp = next(c for c in COMPARTMENTS if f"{marker}_{c}_mean" in columns)
        out[marker] = comp
    return out


def to_anndata(
    cells: pd.DataFrame,
    pixel_size_um: float | None,
    sample: str,
    compartments: Mapping[str, str] | None = None,
    default_compartment: str = "cell",
) -> Any:
    """An AnnData of a cell table: cells x markers.

    Parameters
    ----------
    cells : DataFrame, one row per cell: ``cell_id``, ``x_um``, ``y_um``,
        ``{marker}_{compartment}_mean``, and optionally ``phenotype``, ``region``,
        ``dist_front_um`` and other per-cell columns
    pixel_size_um : float, µm per px of the image (None: a cell table in µm without one)
    sample : str
    compartments, default_compartment : which mean goes into ``X`` per marker

    Returns
    -------
    anndata.AnnData with
      - ``X`` (n_cells, n_markers) float32: each marker's mean (or ring median) in its
        compartment;
      - ``layers['nucleus' | 'cell' | 'ring']``: the means in every compartment (NaN where a
        compartment is empty, e.g. a cell without ring pixels);
      - ``obs`` indexed by the cell id as text: ``cell_id``, ``phenotype`` and ``region``
        (categorical), ``dist_front_um``, ``x_um``, ``y_um`` and the other non-marker columns;
      - ``var`` indexed by marker with ``compartment``;
      - ``obsm['spatial']`` (n_cells, 2) float: (x, y) in µm;
      - ``uns``: ``sample``, ``pixel_size_um`` (when known), ``spatial_unit`` ("um"),
        ``phenotype_colors`` (hex, aligned with the categories, as scanpy expects).
    """
    import anndata as ad

    comps = marker_compartments(list(cells.columns), compartments, default_compartment)
    markers = list(comps)
    marker_columns = [
        intensity_column(m, c)
        for m in markers
        for c in READOUTS
        if intensity_column(m, c) in cells.columns
    ]
    X = (
        np.column_stack(
            [cells[intensity_column(m, comps[m])].to_numpy(np.float32) for m in markers]
        )
        if markers
        else np.zeros((len(cells), 0), np.float32)
    )
    layers = {}
    for comp in COMPARTMENTS:
        if all(f"{m}_{comp}_mean" in cells.columns for m in markers) and markers:
            layers[comp] = np.column_stack(
                [cells[f"{m}_{comp}_mean"].to_numpy(np.float32) for m in markers]
            )
    obs = cells.drop(columns=marker_columns).copy()
    obs.index = obs["cell_id"].astype("int64").astype(str).to_numpy()
    for name in ("phenotype", "region"):
        if name in obs:
            obs[name] = obs[name].astype(str).astype("category")
    for column in obs.columns:  # h5ad keeps text columns as categoricals
        if obs[column].dtype == object:
            obs[column] = obs[column].astype(str).astype("category")
    var = pd.DataFrame({"compartment": pd.Categorical([comps[m] for m in markers])}, index=markers)
    uns = {"sample": str(sample), "spatial_unit": "um"}
    if pixel_size_um is not None:
        uns["pixel_size_um"] = float(pixel_size_um)
    if "phenotype" in obs:
        palette = phenotype_colours(obs["phenotype"].cat.categories)
        uns["phenotype_colors"] = [
            "#{:02x}{:02x}{:02x}".format(*palette[c]) for c in obs["phenotype"].cat.categories
        ]
    adata = ad.AnnData(
        X=X,
        obs=obs,
        var=var,
        layers=layers,
        uns=uns,
        obsm={"spatial": cells[["x_um", "y_um"]].to_numpy(np.float64)},
    )
    log.info(
        "%d cells x %d markers (X: %s)",
        adata.n_obs,
        adata.n_vars,
        ", ".join(f"{m} {c}" for m, c in zip(adata.var_names, adata.var["compartment"])),
    )
    return adata
