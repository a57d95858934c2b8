"""The cohort table: one row per sample from its summary.json and evaluation.json.

``summary.json`` (spatial step) is a flat dict whose keys carry their units
(``density_per_mm2_{region}_{type}``, ``ratio_intratumoral_stromal_{type}``,
``fraction_near_front_{type}``, ``n_cells_{type}``, ``phenotype_call``, ...); every scalar
becomes a column. ``evaluation.json`` (evaluate step, samples with truth) has one section per
stage (``segmentation``, ``phenotype``, ``spatial``); its top-level scalars become columns
named ``{section}_{key}`` (e.g. ``segmentation_f1``). Samples without an evaluation have
empty cells there.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

# Columns people look at first, in this order, when present.
LEADING = [
    "sample",
    "phenotype_call",
    "has_front",
    "n_cells",
    "tissue_area_mm2",
    "tumor_area_mm2",
    "front_length_um",
]


def _scalar(value):
    return value is None or isinstance(value, (bool, int, float, str, np.generic))


def summary_row(
    summary: Mapping[str, Any],
    evaluation: Mapping[str, Any] | None = None,
    sample: str | None = None,
) -> dict[str, Any]:
    """One sample's row.

    Parameters
    ----------
    summary : dict, the sample's summary.json
    evaluation : dict or None, the sample's evaluation.json
    sample : str, the sample name (default ``summary['sample']``)

    Returns
    -------
    dict column -> scalar (None for null)
    """
    row = {"sample": sample if sample is not None else summary.get("sample")}
    for key, value in summary.items():
        if key != "sample" and _scalar(value):
            row[key] = value
    not_computable = summary.get("not_computable")
    if isinstance(not_computable, dict):
        row["n_not_computable"] = len(not_computable)
    row.update(evaluation_columns(evaluation))
    return row


def evaluation_columns(evaluation: Mapping[str, Any] | None) -> dict[str, Any]:
    """The top-level scalars of each evaluation section as ``{section}_{key}`` columns (other
    top-level scalars as ``evaluation_{key}``; the sample name is the row's own)."""
    out = {}
    for section, values in (evaluation or {}).items():
        if isinstance(values, dict):
            for key, value in values.items():
                if _scalar(value):
                    out[f"{section}_{key}"] = value
        elif _scalar(values) and section != "sample":
            out[f"evaluation_{section}"] = values
    return out


def cohort_table(
    summaries: Mapping[str, Mapping[str, Any]],
    evaluations: Mapping[str, Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """The cohort table.

    Parameters
    ----------
    summaries : dict sample -> summary dict (in the order the rows should appear)
    evaluations : dict sample -> evaluation dict, for the samples that have one

    Returns
    -------
    DataFrame, one row per sample; leading columns (sample, call, counts, areas) first, then
    the other summary columns in their summary order, then the evaluation columns.
    """
    evaluations = evaluations or {}
    rows = [summary_row(s, evaluations.get(name), sample=name) for name, s in summaries.items()]
    columns = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    evaluated = {c for e in evaluations.values() for c in evaluation_columns(e)}
    rest = [c for c in columns if c not in LEADING and c not in evaluated]
    ordered = (
        [c for c in LEADING if c in columns]
        + rest
        + [c for c in columns if c in evaluated and c not in LEADING]
    )
    table = pd.DataFrame(rows, columns=ordered)
    log.info(
        "cohort table: %d samples, %d columns (%d with accuracy against truth)",
        len(table),
        len(ordered),
        len(evaluations),
    )
    return table


def density_long(region_tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Region densities of several samples in one long table.

    Parameters
    ----------
    region_tables : dict sample -> DataFrame ``phenotype, region, n_cells, area_mm2,
        density_per_mm2`` (the spatial step's region_densities.tsv)

    Returns
    -------
    DataFrame ``sample, phenotype, region, n_cells, area_mm2, density_per_mm2``
    """
    parts = []
    for name, table in region_tables.items():
        part = table.copy()
        part.insert(0, "sample", name)
        parts.append(part)
    if not parts:
        return pd.DataFrame(
            columns=["sample", "phenotype", "region", "n_cells", "area_mm2", "density_per_mm2"]
        )
    return pd.concat(parts, ignore_index=True)
