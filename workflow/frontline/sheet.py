"""The sample sheet: one row per image, read and checked once."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import FrontlineInputError
from .files import MAX_NAME_LENGTH, name_problem

REQUIRED = ("sample", "image")
OPTIONAL = (
    "pixel_size_um",
    "annotation",
    "annotation_units",
    "truth",
    "fluor_map",
    "patient",
    "gates",
)


def load_sample_sheet(path: str | os.PathLike) -> pd.DataFrame:
    """Read a tab-separated sample sheet.

    Parameters
    ----------
    path : str or Path
        TSV with columns ``sample``, ``image`` and optionally ``pixel_size_um`` (µm),
        ``annotation`` (GeoJSON), ``annotation_units`` (``um`` or ``px``), ``truth``
        (prefix of simulator truth files), ``fluor_map`` (a key of config ``fluor_maps``),
        ``patient`` (several images of one patient; empty: the sample is its own patient),
        ``gates`` (a table of the sample's manual gates, e.g. a copied ``gates.tsv``).

    Returns
    -------
    DataFrame indexed by ``sample``, every optional column present (empty string when not
    given).
    """
    path = Path(path)
    if not path.is_file():
        raise FrontlineInputError(
            "the sample sheet does not exist",
            file=path,
            fix="set `samples:` in the config to an existing TSV file",
        )
    raw = path.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise FrontlineInputError(
            f"the sample sheet is not UTF-8 text (byte {err.start})",
            file=path,
            fix="save the sheet as UTF-8 (e.g. 'iconv -f latin1 -t utf-8')",
        ) from None
    try:
        table = pd.read_csv(
            path, sep="\t", dtype=str, keep_default_na=False, comment=None, encoding="utf-8"
        )
    except pd.errors.EmptyDataError:
        raise FrontlineInputError(
            "the sample sheet is empty",
            file=path,
            fix="add a header line 'sample<TAB>image' and one row per image",
        ) from None
    table.columns = [c.strip() for c in table.columns]
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise FrontlineInputError(
            f"the sample sheet lacks the required column(s) {missing}; "
            f"it has {list(table.columns)}",
            file=path,
            fix="the sheet must be tab-separated with at least the columns 'sample' and 'image'",
        )
    table = table.apply(lambda col: col.str.strip())
    if table.empty:
        raise FrontlineInputError(
            "the sample sheet has a header but no samples", file=path, fix="add one row per image"
        )
    blank = table.index[table["sample"] == ""].tolist()
    if blank:
        raise FrontlineInputError(
            f"row(s) {[i + 2 for i in blank]} have no sample name",
            file=path,
            fix="give every row a unique sample name",
        )
    dup = sorted(table["sample"][table["sample"].duplicated()].unique())
    if dup:
        raise FrontlineInputError(
            f"duplicate sample name(s) {dup}", file=path, fix="give every row a unique sample name"
        )
    check_sample_names(table["sample"], path)
    noimage = table["sample"][table["image"] == ""].tolist()
    if noimage:
        raise FrontlineInputError(
            "no image path given", sample=noimage[0], file=path, fix="fill the 'image' column"
        )
    for col in OPTIONAL:
        if col not in table.columns:
            table[col] = ""
    check_pixel_sizes(table, path)
    return table.set_index("sample", drop=False)


def check_sample_names(names: Iterable[str], path: str | os.PathLike) -> None:
    """Every sample name can be a folder name inside results/ (:func:`frontline.files.name_problem`:
    letters of any script, digits, ``_ . + -``; not ``.`` or ``..``, no separator, at most
    100 characters): a sample named ``..`` would write its outputs outside results/."""
    for name in names:
        problem = name_problem(name)
        if problem:
            raise FrontlineInputError(
                f"the sample name '{name}' cannot be a folder name: {problem}",
                sample=name,
                file=path,
                fix="name samples with letters, digits, '_', '-', '.' and '+' only (not '.' or "
                f"'..', no spaces or '/', at most {MAX_NAME_LENGTH} characters; non-ASCII "
                "letters are fine): each becomes the folder results/{sample}/",
            )


def check_pixel_sizes(table: pd.DataFrame, path: str | os.PathLike) -> None:
    """Every ``pixel_size_um`` the sheet gives is a number of µm per pixel a tissue image can
    have (:data:`frontline.io.PIXEL_SIZE_RANGE_UM`, checked by the image reader too)."""
    from .io.metadata import check_pixel_size

    for sample, value in zip(table["sample"], table["pixel_size_um"]):
        if value == "":
            continue
        try:
            size = float(value)
        except ValueError:
            size = float("nan")
        if not size > 0:
            raise FrontlineInputError(
                f"pixel_size_um is '{value}', not a positive number",
                sample=sample,
                file=path,
                fix="give the pixel size in µm per pixel (e.g. 0.5), or leave it empty",
            )
        check_pixel_size(size, "the sample sheet's pixel_size_um", sample, path)


def optional(value: Any) -> Any | None:
    """An optional sheet cell as a value or None (empty cells are None)."""
    if value is None or (isinstance(value, float) and value != value) or str(value).strip() == "":
        return None
    return value


def wildcard_pattern(samples: Iterable[str]) -> list[str]:
    """Regex alternatives that match exactly the given sample names."""
    return [re.escape(s) for s in samples]


def patient_id(value: Any) -> str:
    """A patient name as sheet and clinical table compare it: stripped text, with an integral
    number's ``.0`` dropped (``"2.0"`` -> ``"2"``: tables written from a numeric column with
    gaps carry it)."""
    text = str(value).strip()
    match = re.fullmatch(r"([+-]?\d+)\.0*", text)
    return match.group(1) if match else text


def patients_of(table: pd.DataFrame) -> dict[str, str]:
    """Sample -> patient (the ``patient`` column; the sample itself where it is empty).

    Parameters
    ----------
    table : the sample sheet (:func:`load_sample_sheet`)

    Returns
    -------
    dict sample name -> patient name, in the sheet's order
    """
    column = table["patient"] if "patient" in table.columns else [""] * len(table)
    return {
        sample: patient_id(value) if optional(value) is not None else sample
        for sample, value in zip(table["sample"], column)
    }
