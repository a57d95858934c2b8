"""Gates learned across the samples of a batch: cells pooled, one auto gate per marker."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import FrontlineInputError
from .panel import compartment_values, gate_markers

log = logging.getLogger(__name__)

NORMALISATIONS = ("none", "median")
BATCH_COLUMNS = [
    "sample",
    "marker",
    "compartment",
    "gate",
    "method",
    "confidence",
    "cofactor",
    "batch",
    "n_samples",
    "n_cells",
]


def batch_gates(
    tables: Mapping[str, pd.DataFrame],
    markers: Sequence[str],
    compartments: dict | None,
    default_compartment: str,
    *,
    normalisation: str,
    min_confidence: float,
    tail_mads: float,
    seed: int,
    references: Mapping[str, Sequence[str]] | None = None,
    batch: str | None = None,
) -> pd.DataFrame:
    """One auto gate per marker from the cells of every sample of a batch, pooled.

    A tumor-filled field has almost no negative cells of its own; pooled with the other
    fields of its batch (same staining and scanning run), it is gated against their
    negatives, and every sample of the batch gets the same gate.

    Parameters
    ----------
    tables : dict sample -> cells table (:func:`frontline.measure.measure_cells`)
    markers : the markers to gate (manual gates are not pooled: leave them out)
    compartments, default_compartment : as :func:`frontline.gating.gate_markers`
    normalisation : ``none`` (pool the intensities as measured: one run, one scale) or
        ``median`` (divide each sample's intensities of a marker by their median first, and
        scale the pooled gate back per sample: runs whose exposure differs)
    min_confidence, tail_mads, seed, references : as :func:`frontline.gating.gate_markers`
    batch : the batch's name, for the table and messages

    Returns
    -------
    DataFrame with ``BATCH_COLUMNS``, one row per sample and marker (a gates table with a
    ``sample`` column, :func:`frontline.phenotype.sample_gates` reads it): the gate in the
    sample's own intensity units, the pooled gate's method and confidence, the number of
    samples and cells pooled.
    """
    if normalisation not in NORMALISATIONS:
        raise FrontlineInputError(
            f"batch normalisation '{normalisation}' is not one of {list(NORMALISATIONS)}",
            fix="set `phenotyping: batch_normalisation:` to none or median",
        )
    if not tables:
        raise ValueError("a batch needs at least one sample")
    compartments = compartments or {}
    where = {m: compartments.get(m, default_compartment) for m in markers}
    scales = {s: {} for s in tables}
    columns = {}
    for marker in markers:
        parts = []
        for sample, cells in tables.items():
            values = compartment_values(cells, marker, where[marker], sample)
            scale = 1.0
            if normalisation == "median":
                finite = values[np.isfinite(values)]
                scale = float(np.median(finite)) if finite.size else 1.0
                scale = scale if scale > 0 else 1.0
            scales[sample][marker] = scale
            parts.append(values / scale)
        columns[f"{marker}_cell_mean"] = np.concatenate(parts)
    n_cells = sum(len(c) for c in tables.values())
    pooled = pd.DataFrame({"cell_id": np.arange(1, n_cells + 1), **columns})
    gates = gate_markers(
        pooled,
        list(markers),
        {m: "cell" for m in markers},
        "cell",
        min_confidence=min_confidence,
        tail_mads=tail_mads,
        seed=seed,
        references=references,
        sample=f"batch {batch}" if batch else None,
    )
    if len(tables) == 1:
        log.info(
            "batch %s has one sample (%s): its gates are that sample's own",
            batch,
            next(iter(tables)),
        )
    rows = []
    for sample in tables:
        for row in gates.itertuples():
            rows.append(
                {
                    "sample": sample,
                    "marker": row.marker,
                    "compartment": where[row.marker],
                    "gate": row.gate * scales[sample][row.marker],
                    "method": row.method,
                    "confidence": row.confidence,
                    "cofactor": row.cofactor * scales[sample][row.marker],
                    "batch": batch or "",
                    "n_samples": len(tables),
                    "n_cells": n_cells,
                }
            )
    return pd.DataFrame(rows, columns=BATCH_COLUMNS)
