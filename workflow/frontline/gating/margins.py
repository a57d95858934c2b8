"""How far each cell clears each gate: the margins that settle exclusive-lineage conflicts."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .panel import compartment_values, gate_markers

log = logging.getLogger(__name__)


def gate_margins(cells: pd.DataFrame, gates: pd.DataFrame) -> pd.DataFrame:
    """How far each cell is above each gate, on the marker's arcsinh scale.

    ``arcsinh(x / cofactor) - arcsinh(gate / cofactor)``: positive above the gate, about the
    natural log of the fold change for intensities well above the cofactor, so margins of
    different markers can be compared.

    Parameters
    ----------
    cells : DataFrame with the intensity columns
    gates : DataFrame from :func:`gate_markers`

    Returns
    -------
    DataFrame with one float column per marker (-inf where the gate is undefined or the
    intensity missing)
    """
    out = {}
    for row in gates.itertuples():
        values = compartment_values(cells, row.marker, row.compartment)
        scale = row.cofactor if np.isfinite(row.cofactor) and row.cofactor > 0 else 1.0
        with np.errstate(invalid="ignore"):
            margin = np.arcsinh(values / scale) - np.arcsinh(row.gate / scale)
        out[row.marker] = np.where(np.isfinite(margin), margin, -np.inf)
    return pd.DataFrame(out, index=cells.index)


def exclusive_margins(
    cells: pd.DataFrame,
    gates: pd.DataFrame,
    compartments: dict | None,
    *,
    min_confidence: float,
    tail_mads: float,
    seed: int,
    sample: str | None = None,
    file: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Gate margins for settling exclusive-lineage conflicts, some read in other compartments.

    The margins of :func:`gate_margins`, except for each marker in ``compartments`` whose
    compartment differs from its gating compartment: that marker is auto-gated again in the
    given compartment and its margin measured against that gate, so the lead of one lineage
    over the other is still a ratio to a gate of the same compartment. A marker whose gate
    there is ``undefined`` keeps its margin from the gating compartment.

    Why: positivity wants the compartment that holds most of a marker's signal (keratin:
    the whole cell), but the choice between two lineages wants the compartment least mixed
    with the neighbours'. A lymphocyte in a tumour nest is small, so most of its grown cell
    region lies in the keratin-filled cytoplasm of the tumour cells around it and it reads
    keratin-positive; its nucleus is its own and stays keratin-dim, whereas a tumour cell's
    nucleus is wrapped in its own keratin and reads well above a lymphocyte's.

    Parameters
    ----------
    cells : DataFrame with the intensity columns
    gates : DataFrame from :func:`gate_markers`
    compartments : dict marker -> one of ``COMPARTMENTS``; markers must be gated
    min_confidence, tail_mads, seed : see :func:`auto_gate`
    sample, file : for error messages

    Returns
    -------
    (margins, decision_gates): margins as from :func:`gate_margins`, and the gates
    (:func:`gate_markers` rows) of the markers read in another compartment (may be empty)
    """
    margins = gate_margins(cells, gates)
    current = dict(zip(gates["marker"], gates["compartment"]))
    moved = {}
    for marker, compartment in (compartments or {}).items():
        marker = str(marker)
        if marker not in current:
            # an ungated marker has nothing to settle and is left out (the workflow's startup
            # check refuses such a config; a Python caller gets this warning)
            log.warning(
                "`phenotyping: exclusive_compartments` names marker '%s', which is not "
                "gated (gated: %s); it is ignored",
                marker,
                list(current),
            )
            continue
        if compartment != current[marker]:
            moved[marker] = compartment
    if not moved:
        return margins, gates.iloc[:0]
    decision = gate_markers(
        cells,
        list(moved),
        moved,
        "cell",  # every marker here has its compartment in ``moved``
        min_confidence=min_confidence,
        tail_mads=tail_mads,
        seed=seed,
        sample=sample,
        file=file,
    )
    usable = decision[decision["method"] != "undefined"]
    if len(usable):
        extra = gate_margins(cells, usable)
        for marker in usable["marker"]:
            margins[marker] = extra[marker]
            log.info(
                "exclusive lineages: %s weighed in the %s (gate %.4g there)",
                marker,
                moved[marker],
                usable.set_index("marker").loc[marker, "gate"],
            )
    return margins, usable.reset_index(drop=True)
