"""A panel's gates: one per marker (auto, manual or the batch's), and positivity."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import FrontlineInputError
from ..measure import READOUTS, intensity_column
from .auto import FALLBACK_METHODS, arcsinh_cofactor, auto_gate

log = logging.getLogger(__name__)

COMPARTMENTS = READOUTS  # nucleus, cell, ring (means) and ring_median
GATE_COLUMNS = [
    "marker",
    "compartment",
    "gate",
    "method",
    "confidence",
    "n_positive",
    "fraction_positive",
    "cofactor",
    "batch",
]


# --------------------------------------------------------------------------- one marker


def measured_channels(cells: pd.DataFrame) -> list[str]:
    """Markers measured in a cells table (those with a ``{marker}_cell_mean`` column)."""
    return [c[: -len("_cell_mean")] for c in cells.columns if c.endswith("_cell_mean")]


def compartment_values(
    cells: pd.DataFrame,
    marker: str,
    compartment: str,
    sample: str | None = None,
    file: str | None = None,
) -> np.ndarray:
    """Per-cell intensity of ``marker`` in ``compartment`` (one of ``COMPARTMENTS``).

    A cell without ring pixels (NaN ring mean or median) is read from the whole cell instead,
    so a tightly packed cell is still gated.

    Returns
    -------
    (N,) float array
    """
    column = intensity_column(marker, compartment)
    if column not in cells.columns:
        raise FrontlineInputError(
            f"marker '{marker}' is read from its {compartment} but the cell table has no "
            f"column {column}",
            sample=sample,
            file=file,
            fix="rerun the measure rule (it measures ring medians for the markers that "
            "`phenotyping: compartments` reads there), e.g. snakemake --forcerun measure",
        )
    values = cells[column].to_numpy(np.float64)
    if compartment in ("ring", "ring_median"):
        whole = cells[f"{marker}_cell_mean"].to_numpy(np.float64)
        values = np.where(np.isnan(values), whole, values)
    return values


def parse_gate(
    value: Any, marker: str, sample: str | None = None, file: str | None = None
) -> str | float:
    """A config gate as ``"auto"`` or a finite float; FrontlineInputError otherwise."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return "auto"
    if isinstance(value, bool):
        number = math.nan
    else:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
    if not math.isfinite(number):
        raise FrontlineInputError(
            f"the gate for marker '{marker}' is {value!r}, neither 'auto' nor a number",
            sample=sample,
            file=file,
            fix=f"set `phenotyping: gates: {marker}:` to auto or to a number in the marker's "
            "mean intensity units (see gates.tsv of an auto run)",
        )
    return number


def gate_marker(
    values: np.ndarray,
    setting: str | float,
    *,
    min_confidence: float,
    tail_mads: float,
    seed: int,
    reference: np.ndarray | None = None,
) -> dict:
    """The gate of one marker from its config setting: a manual number, or the auto gate.

    Parameters
    ----------
    values : (N,) float, per-cell intensity in the marker's compartment
    setting : ``"auto"`` or a number (from :func:`parse_gate`)
    min_confidence, tail_mads, seed, reference : see :func:`frontline.gating.auto_gate`

    Returns
    -------
    dict with ``gate``, ``method`` (``manual`` or the auto gate's), ``confidence``, ``cofactor``
    """
    if setting == "auto":
        return auto_gate(
            values,
            min_confidence=min_confidence,
            tail_mads=tail_mads,
            seed=seed,
            reference=reference,
        )
    return {
        "gate": setting,
        "method": "manual",
        "confidence": 1.0,
        "cofactor": arcsinh_cofactor(values),
    }


# --------------------------------------------------------------------------- a panel


def gate_markers(
    cells: pd.DataFrame,
    markers: Sequence[str],
    compartments: dict | None,
    default_compartment: str,
    gates: dict | None = None,
    *,
    min_confidence: float,
    tail_mads: float,
    seed: int,
    references: Mapping[str, Sequence[str]] | None = None,
    batch_gates: pd.DataFrame | None = None,
    batch: str | None = None,
    sample: str | None = None,
    file: str | None = None,
) -> pd.DataFrame:
    """One gate per marker.

    Parameters
    ----------
    cells : DataFrame from :func:`frontline.measure.measure_cells`
    markers : list of str
    compartments : dict marker -> ``nucleus`` | ``cell`` | ``ring`` | ``ring_median``
        (others, or None: ``default_compartment``)
    default_compartment : str
    gates : dict marker -> ``auto`` | number (others, or None: auto)
    min_confidence, tail_mads, seed : see :func:`frontline.gating.auto_gate`
    references : dict marker -> markers of the lineages it excludes
        (:func:`frontline.phenotype.reference_markers`): an auto gate that finds one
        population is tried again with the cells positive for those markers as known
        negatives (method ``reference``)
    batch_gates : the gates of this sample's batch (:func:`frontline.gating.batch_gates`),
        used for the auto-gated markers they hold; None: every auto gate from this sample
    batch : the batch's name, written in the ``batch`` column of its gates
    sample, file : for error messages

    Returns
    -------
    DataFrame with columns ``GATE_COLUMNS``: ``marker, compartment, gate, method,
    confidence, n_positive, fraction_positive, cofactor, batch`` (gate in the compartment's
    mean intensity units; method ``manual`` or one of :data:`frontline.gating.METHODS`;
    n_positive and fraction_positive are this sample's; batch empty unless the gate is
    the batch's).
    """
    compartments = compartments or {}
    gates = gates or {}
    references = references or {}
    pooled = {} if batch_gates is None else batch_gates.set_index("marker").to_dict("index")
    channels = measured_channels(cells)
    found = {}  # marker -> (compartment, values, setting, result, from the batch)
    for marker in markers:
        if marker not in channels:
            raise FrontlineInputError(
                f"marker '{marker}' was not measured; the measured channels are {channels}",
                sample=sample,
                file=file,
                fix="use channel names exactly as the image names them in `phenotyping:`",
            )
        compartment = compartments.get(marker, default_compartment)
        if compartment not in COMPARTMENTS:
            raise FrontlineInputError(
                f"compartment '{compartment}' for marker '{marker}' is not one of "
                f"{list(COMPARTMENTS)}",
                sample=sample,
                file=file,
                fix="set `phenotyping: compartments:` to nucleus, cell, ring or ring_median",
            )
        values = compartment_values(cells, marker, compartment, sample, file)
        setting = parse_gate(gates.get(marker, "auto"), marker, sample, file)
        if setting == "auto" and marker in pooled:
            row = pooled[marker]
            result = {k: row[k] for k in ("gate", "method", "confidence", "cofactor")}
            found[marker] = (compartment, values, setting, result, True)
            continue
        result = gate_marker(
            values, setting, min_confidence=min_confidence, tail_mads=tail_mads, seed=seed
        )
        found[marker] = (compartment, values, setting, result, False)
    # second pass: one population, and cells of an excluded lineage to say which side it is
    for marker, (compartment, values, setting, result, shared) in list(found.items()):
        others = [m for m in references.get(marker, ()) if m in found and m != marker]
        if shared or setting != "auto" or result["method"] not in FALLBACK_METHODS or not others:
            continue
        known = np.zeros(values.shape, bool)
        for other in others:
            known |= _is_positive(found[other][1], found[other][3]["gate"])
        retry = gate_marker(
            values,
            setting,
            min_confidence=min_confidence,
            tail_mads=tail_mads,
            seed=seed,
            reference=values[known],
        )
        if retry["method"] == "reference":
            log.info(
                "gate %s: one population, and the %d cells positive for %s (lineages it "
                "excludes) lie below it: the population is %s-positive",
                marker,
                int(known.sum()),
                "/".join(others),
                marker,
            )
            found[marker] = (compartment, values, setting, retry, False)
    rows = []
    for marker, (compartment, values, _, result, shared) in found.items():
        _explain(marker, compartment, result)
        positive = _is_positive(values, result["gate"])
        rows.append(
            {
                "marker": marker,
                "compartment": compartment,
                **result,
                "n_positive": int(positive.sum()),
                "fraction_positive": float(positive.mean()) if positive.size else 0.0,
                "batch": (batch or "") if shared else "",
            }
        )
        log.info(
            "gate %s (%s): %.4g by %s%s, confidence %.2f, %d/%d positive",
            marker,
            compartment,
            result["gate"],
            result["method"],
            f" (batch {batch})" if shared else "",
            result["confidence"],
            positive.sum(),
            positive.size,
        )
    return pd.DataFrame(rows, columns=GATE_COLUMNS)


def _explain(marker, compartment, result):
    """Log what a fallback gate means for the marker."""
    if result["method"] == "undefined":
        log.warning(
            "marker %s (%s mean) has the same intensity in every cell, so no gate "
            "can be found: every cell counts as %s-negative. Check the channel, or "
            "set a number in `phenotyping: gates: %s:`",
            marker,
            compartment,
            marker,
            marker,
        )
    elif result["method"] == "floor":
        log.info(
            "marker %s: the cells at the lowest intensity (%.4g) are negative and, with "
            "no second population above them, all others positive",
            marker,
            result["gate"],
        )
    elif result["method"] == "negative_tail":
        log.warning(
            "marker %s: no second population (confidence %.2f); gate %.4g from the "
            "upper tail of the bulk. Check plots/gating/%s.png and set a number in "
            "`phenotyping: gates:` if it is wrong",
            marker,
            result["confidence"],
            result["gate"],
            marker,
        )


def _is_positive(values, gate):
    if not np.isfinite(gate):
        return np.zeros(values.shape, bool)
    with np.errstate(invalid="ignore"):
        return values > gate


def positivity(cells: pd.DataFrame, gates: pd.DataFrame) -> pd.DataFrame:
    """``{marker}_positive`` booleans for every cell.

    Parameters
    ----------
    cells : DataFrame with the intensity columns
    gates : DataFrame from :func:`gate_markers`

    Returns
    -------
    DataFrame with ``cell_id`` and one bool column per marker; an undefined gate (NaN) or a
    missing intensity is negative.
    """
    out = {"cell_id": cells["cell_id"].to_numpy()}
    for row in gates.itertuples():
        values = compartment_values(cells, row.marker, row.compartment)
        out[f"{row.marker}_positive"] = _is_positive(values, row.gate)
    return pd.DataFrame(out)
