"""The ``cohort:`` section and its clinical table, checked against the sheet's patients."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from .. import cohort, io, sheet
from .origin import Origin

if TYPE_CHECKING:
    import pandas as pd


def check_cohort(
    samples: pd.DataFrame, config: Mapping, config_files: Origin | list | None = None
) -> None:
    """The ``cohort:`` section and its clinical table against the sheet's patients.

    Errors stop the run (:func:`frontline.cohort.check_clinical`); the notes (patients the
    table lacks, empty cells) are written by the cohort rule.
    """
    origin = Origin.of(config_files)
    settings = config["cohort"]
    cohort.check_settings(settings, origin.file("cohort"))
    if not settings["clinical"]:
        return
    path = settings["clinical"]
    raw = io.read_text_table(
        path,
        columns=cohort.clinical_columns(settings),
        what="the clinical table (config `cohort.clinical`)",
        fix="set `cohort.clinical` to a tab-separated (or .csv) table with one row per patient",
    )
    cohort.check_clinical(raw, sheet.patients_of(samples).values(), settings, file=path)
