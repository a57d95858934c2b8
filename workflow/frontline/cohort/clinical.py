"""The clinical table: one row per patient, checked against the sample sheet's patients.

The config's ``cohort:`` section names the table (``clinical``), the column naming the patient
(``patient_column``) and the columns the statistics use: ``group`` (the groups compared),
``survival.time`` and ``survival.event`` (1 = event, 0 = censored) and ``covariates``.

What is an error (the run stops before any job) and what is a note (the run goes on, the note
is logged, written to ``results/cohort/notes.tsv`` and printed at the end):

- errors: a configured column the table lacks; a row without a patient; a patient of the table
  that no sample of the sheet names (a typo on either side would otherwise drop it silently);
  a patient with two rows that disagree; a time that is not a number >= 0; an event that is
  not 0 or 1; ``survival`` with only one of time and event;
- notes: patients of the sheet the table lacks, and patients with an empty cell in a column a
  statistic uses (both drop out of that statistic); rows repeated per patient that agree (a
  per-cell table holding the patient's columns counts each patient once).

Empty cells, ``NA``, ``NaN``, ``N/A``, ``#N/A``, ``null`` and ``None`` are missing values.
Patient names compare as :func:`frontline.sheet.patient_id` writes them.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import FrontlineInputError
from ..sheet import patient_id

log = logging.getLogger(__name__)

MISSING = frozenset({"", "na", "nan", "n/a", "#n/a", "null", "none"})
TIME, EVENT, GROUP = "time", "event", "group"  # the roles of the configured columns


@dataclass
class Clinical:
    """The checked clinical table.

    ``table``: indexed by patient (str), one column per role: ``group`` (str), ``time``
    (float), ``event`` (float 0/1) and each covariate under its own name (float when every
    value is a number, else str); NaN where missing. Only the patients of the sheet.
    ``columns``: role -> the clinical table's column. ``notes``: what the checks found.
    """

    table: pd.DataFrame
    columns: dict[str, str]
    covariates: list[str]
    notes: list[str] = field(default_factory=list)


def configured_columns(cohort: Mapping[str, Any]) -> dict[str, str]:
    """Role (``group``, ``time``, ``event``) -> clinical column, for the roles configured."""
    survival = cohort["survival"]
    roles = {GROUP: cohort["group"], TIME: survival["time"], EVENT: survival["event"]}
    return {role: column for role, column in roles.items() if column}


def clinical_columns(cohort: Mapping[str, Any]) -> list[str]:
    """Every clinical column the ``cohort:`` section names (patient, roles, covariates)."""
    names = [cohort["patient_column"], *configured_columns(cohort).values(), *cohort["covariates"]]
    return list(dict.fromkeys(names))


def check_settings(cohort: Mapping[str, Any], file: Any = None) -> None:
    """The ``cohort:`` section on its own: statistics need a clinical table, time needs event.

    Raises
    ------
    FrontlineInputError
    """
    survival = cohort["survival"]
    if bool(survival["time"]) != bool(survival["event"]):
        given, other = ("time", "event") if survival["time"] else ("event", "time")
        raise FrontlineInputError(
            f"`cohort: survival:` names the {given} column but not the {other} column",
            file=file,
            fix="set both `cohort.survival.time` and `cohort.survival.event` "
            "(1 = event, 0 = censored), or neither",
        )
    used = [k for k, v in configured_columns(cohort).items() if v] + (
        ["covariates"] if cohort["covariates"] else []
    )
    if used and not cohort["clinical"]:
        raise FrontlineInputError(
            f"`cohort:` sets {used} but no clinical table",
            file=file,
            fix="set `cohort.clinical` to the table with one row per patient",
        )


def _missing(values: pd.Series) -> pd.Series:
    return values.astype(str).str.strip().str.lower().isin(MISSING)


def _numbers(values: pd.Series) -> pd.Series:
    """Text -> float; NaN where missing, and where not a number (the caller checks which)."""
    out = pd.to_numeric(values.astype(str).str.strip(), errors="coerce")
    return out.where(~_missing(values))


def _listing(names: Iterable[Any], limit: int = 12) -> str:
    names = [str(n) for n in names]
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def check_clinical(
    raw: pd.DataFrame,
    patients: Iterable[str],
    cohort: Mapping[str, Any],
    file: Any = None,
) -> Clinical:
    """Check the clinical table against the sheet's patients and type its columns.

    Parameters
    ----------
    raw : the table as text (every cell a str; :func:`frontline.io.read_text_table`)
    patients : the sheet's patients (:func:`frontline.sheet.patients_of` values)
    cohort : the config's ``cohort:`` section
    file : the table's path, for messages

    Returns
    -------
    :class:`Clinical` (rows: the sheet's patients the table has)

    Raises
    ------
    FrontlineInputError
        see the module docstring
    """
    check_settings(cohort, file)
    patients = list(dict.fromkeys(patients))
    key = cohort["patient_column"]
    roles = configured_columns(cohort)
    covariates = list(cohort["covariates"])
    wanted = [key, *roles.values(), *covariates]
    absent = [c for c in dict.fromkeys(wanted) if c not in raw.columns]
    if absent:
        hints = {c: difflib.get_close_matches(c, list(map(str, raw.columns)), n=1) for c in absent}
        said = "; ".join(f"'{c}' (closest: '{h[0]}')" if h else f"'{c}'" for c, h in hints.items())
        raise FrontlineInputError(
            f"the clinical table lacks the column(s) {said}; it has {list(raw.columns)}",
            file=file,
            fix="name the table's columns in `cohort:` (patient_column, group, survival, "
            "covariates) as the table's header spells them",
        )
    table = raw[list(dict.fromkeys(wanted))].astype(str).apply(lambda c: c.str.strip())
    blank = np.flatnonzero(_missing(table[key]).to_numpy())
    if len(blank):
        raise FrontlineInputError(
            f"row(s) {_listing(blank + 2)} of the clinical table have no patient in column '{key}'",
            file=file,
            fix="give every row its patient, or delete the row",
        )
    table[key] = table[key].map(patient_id)
    notes = []
    n_rows = len(table)
    table = table.drop_duplicates()
    conflicting = sorted(table[key][table[key].duplicated()].unique())
    if conflicting:
        first = table[table[key] == conflicting[0]]
        differ = [c for c in first.columns if first[c].nunique() > 1]
        raise FrontlineInputError(
            f"patient(s) {_listing(conflicting)} have several rows that disagree "
            f"(patient {conflicting[0]}: column(s) {differ} differ)",
            file=file,
            fix="keep one row per patient in the clinical table",
        )
    if len(table) < n_rows:
        notes.append(
            f"the clinical table has {n_rows} rows for {len(table)} patients; the repeated rows "
            "of each patient agree and count once"
        )
    table = table.set_index(key)
    unknown = [p for p in table.index if p not in set(patients)]
    if unknown:
        lowered = {p.lower(): p for p in patients}
        close = [lowered[c] for c in difflib.get_close_matches(unknown[0].lower(), lowered, n=1)]
        raise FrontlineInputError(
            f"the clinical table names {len(unknown)} patient(s) no sample of the sheet has: "
            f"{_listing(unknown)}"
            + (f" (closest sheet patient to '{unknown[0]}': '{close[0]}')" if close else ""),
            file=file,
            fix="delete their rows, or name them in the sample sheet's `patient` column (the "
            "sample itself is the patient where that column is empty)",
        )
    lacking = [p for p in patients if p not in table.index]
    if lacking:
        notes.append(
            f"{len(lacking)} patient(s) of the sample sheet are not in the clinical table and "
            f"drop out of the outcome statistics: {_listing(lacking)}"
        )
    out = pd.DataFrame(index=pd.Index([p for p in patients if p in table.index], name="patient"))
    text = table.loc[out.index]
    if TIME in roles:
        out[TIME] = _typed_time(text[roles[TIME]], roles[TIME], file)
        out[EVENT] = _typed_event(text[roles[EVENT]], roles[EVENT], file)
    if GROUP in roles:
        column = text[roles[GROUP]]
        out[GROUP] = column.map(patient_id).where(~_missing(column))
    for name in covariates:
        column = text[name]
        numbers = _numbers(column)
        mixed = numbers.isna() & ~_missing(column)
        out[name] = numbers.astype(float) if not mixed.any() else column.where(~_missing(column))
    for role, label in ((GROUP, "group tests"), (TIME, "survival statistics")):
        if role in out and out[role].isna().any():
            gone = (
                out.index[out[role].isna()]
                if role == GROUP
                else out.index[out[[TIME, EVENT]].isna().any(axis=1)]
            )
            notes.append(
                f"{len(gone)} patient(s) have no {roles[role] if role == GROUP else 'survival'} "
                f"value and drop out of the {label}: {_listing(gone)}"
            )
    for name in covariates:
        if out[name].isna().any():
            gone = out.index[out[name].isna()]
            notes.append(
                f"{len(gone)} patient(s) have no '{name}' and drop out of the adjusted Cox "
                f"models: {_listing(gone)}"
            )
    for note in notes:
        log.warning("clinical table: %s", note)
    return Clinical(out, dict(roles), covariates, notes)


def _typed_time(column: pd.Series, name: str, file: Any) -> pd.Series:
    values = _numbers(column)
    bad = column.index[(values.isna() & ~_missing(column)) | (values < 0)]
    if len(bad):
        raise FrontlineInputError(
            f"survival time column '{name}' has values that are not numbers >= 0: "
            + _listing(f"patient {p}: '{column[p]}'" for p in bad),
            file=file,
            fix="give the time as a number (one unit for all patients, e.g. days), or leave "
            "the cell empty when it is unknown",
        )
    return values.astype(float)


def _typed_event(column: pd.Series, name: str, file: Any) -> pd.Series:
    values = _numbers(column)
    bad = column.index[(values.isna() & ~_missing(column)) | ~(values.isin([0, 1]) | values.isna())]
    if len(bad):
        raise FrontlineInputError(
            f"event column '{name}' has values other than 0 and 1: "
            + _listing(f"patient {p}: '{column[p]}'" for p in bad),
            file=file,
            fix="write 1 for an event (e.g. death, progression) and 0 for censored, or leave "
            "the cell empty when it is unknown",
        )
    return values.astype(float)
