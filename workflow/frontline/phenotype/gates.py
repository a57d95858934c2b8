"""A sample's gates from a gates table, and a batch's gates from its pooled cells."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import pandas as pd

from ..errors import FrontlineInputError
from ..gating import batch_gates, parse_gate
from .markers import gated_markers, reference_markers


def sample_gates(
    table: pd.DataFrame,
    sample: str,
    phenotyping: dict,
    *,
    samples: Iterable[str] | None = None,
    file: str | None = None,
    states: dict | None = None,
) -> dict[str, str | float]:
    """One sample's manual gates from a gates table (:func:`frontline.io.read_gates_table`).

    The sheet's ``gates`` column names the table; ``phenotyping.gates`` is the fallback for
    the markers it does not set (:func:`with_sample_gates`).

    Parameters
    ----------
    table : DataFrame of str with ``marker``, ``gate`` and optionally ``sample`` and
        ``compartment`` columns (a run's ``gates.tsv`` as it is)
    sample : the sample whose gates these are (with a ``sample`` column: its rows)
    phenotyping : the config's ``phenotyping`` section: a marker the config does not gate
        (:func:`gated_markers`) is an error; a row's ``compartment``, when given, must be the
        one the config gates the marker in (the gate is a number in its units)
    samples : every sample of the sheet; with a ``sample`` column, a name outside them is an
        error (None: not checked)
    file : the table's path, for messages
    states : the config's ``states`` section (their markers are gated too)

    Returns
    -------
    dict marker -> ``"auto"`` or a number (an empty gate is ``auto``), the markers the table
    sets for ``sample``
    """
    markers = gated_markers(phenotyping, states)
    compartments = phenotyping["compartments"] or {}
    default_compartment = phenotyping["default_compartment"]
    samples = None if samples is None else [str(s) for s in samples]
    rows = table
    if "sample" in table.columns:
        if samples is not None:
            unknown = sorted(set(table["sample"]) - set(samples))
            if unknown:
                raise FrontlineInputError(
                    f"the gates table names the sample(s) {unknown}, which the sample sheet "
                    f"does not have; its samples are {list(samples)}",
                    sample=sample,
                    file=file,
                    fix="use the sheet's sample names in the table's sample column",
                )
        rows = table[table["sample"] == str(sample)]
    found: dict[str, str | float] = {}
    for row in rows.to_dict("records"):
        marker = row["marker"]
        if marker not in markers:
            close = difflib.get_close_matches(marker, markers, n=1)
            raise FrontlineInputError(
                f"the gates table sets a gate for '{marker}', a marker the config does not gate"
                + (f" (did you mean '{close[0]}'?)" if close else "")
                + f"; the gated markers (phenotype table and `phenotyping.gates`) are {markers}",
                sample=sample,
                file=file,
                fix="remove the row, or use the marker's name as the config has it",
            )
        if marker in found:
            raise FrontlineInputError(
                f"the gates table sets the gate for '{marker}' twice",
                sample=sample,
                file=file,
                fix="keep one row per marker (and sample)",
            )
        gated_in = compartments.get(marker, default_compartment)
        given = row.get("compartment", "") or ""
        if given and given != gated_in:
            raise FrontlineInputError(
                f"the gate for '{marker}' is for its {given} intensity, but the config gates "
                f"{marker} in its {gated_in} intensity",
                sample=sample,
                file=file,
                fix=f"copy the gate from a gates.tsv of a run with the same compartments, or set "
                f"`phenotyping.compartments: {{{marker}: {given}}}`",
            )
        value = row["gate"]
        found[marker] = parse_gate(None if value == "" else value, marker, sample, file)
    return found


def with_sample_gates(
    phenotyping: dict,
    table: pd.DataFrame | None,
    sample: str,
    file: str | None = None,
    states: dict | None = None,
) -> dict:
    """The ``phenotyping`` section with one sample's gates table on top of ``gates``.

    Parameters
    ----------
    phenotyping : the config's ``phenotyping`` section
    table : the sample's gates table (:func:`frontline.io.read_gates_table`), or None
    sample, file : the sample, and the table's path for messages
    states : the config's ``states`` section (their markers may be set too)

    Returns
    -------
    dict, a new section (``phenotyping`` itself when there is no table)
    """
    if table is None:
        return phenotyping
    own = sample_gates(table, sample, phenotyping, file=file, states=states)
    return {**phenotyping, "gates": {**(phenotyping["gates"] or {}), **own}}


def batch_gates_of(
    tables: dict[str, pd.DataFrame],
    phenotyping: dict,
    batch: str,
    states: dict | None = None,
) -> pd.DataFrame:
    """The gates of a batch: the auto-gated markers gated once on the pooled cells of its
    samples (:func:`frontline.gating.batch_gates`; ``phenotyping.batch_normalisation``).

    Parameters
    ----------
    tables : dict sample -> cells table, the batch's samples
    phenotyping : the config's ``phenotyping`` section (every key)
    batch : the batch's name
    states : the config's ``states`` section (their markers are gated too)

    Returns
    -------
    DataFrame with :data:`frontline.gating.BATCH_COLUMNS`, one row per sample and marker
    """
    manual = {m for m, v in (phenotyping["gates"] or {}).items() if parse_gate(v, m) != "auto"}
    markers = [m for m in gated_markers(phenotyping, states) if m not in manual]
    return batch_gates(
        tables,
        markers,
        phenotyping["compartments"],
        phenotyping["default_compartment"],
        normalisation=phenotyping["batch_normalisation"],
        **{k: phenotyping[k] for k in ("min_confidence", "tail_mads", "seed")},
        references=reference_markers(phenotyping),
        batch=batch,
    )
