"""Cell tables exported by other software, read as they are: CSV, TSV, TXT or Parquet.

Text tables may be gzip-compressed (``.csv.gz``, ...). The separator of a text table is the
one its header line holds most of (tab, comma or semicolon), so a ``.txt`` export of inForm
(tab-separated) and a ``.csv`` of HALO read alike. Text is UTF-8, else Latin-1 (QuPath and
HALO on Windows may write the µ of ``Centroid X µm`` as one Latin-1 byte). Empty cells and
``#N/A`` (inForm), ``NA``, ``N/A``, ``NaN`` and ``null`` are missing values.

What the columns mean (HALO, inForm, QuPath, MCMICRO or frontline's generic form) is
:mod:`frontline.celltables`' job: these functions only read.
"""

from __future__ import annotations

import csv
import gzip
import os
from pathlib import Path

import pandas as pd

from ..errors import FrontlineInputError

TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
NA_VALUES = ["", "#N/A", "NA", "N/A", "NaN", "nan", "null"]
_SEPARATORS = ("\t", ",", ";")
_FIX_FORMAT = (
    "give a cell table as .csv, .tsv, .txt (each may end in .gz) or .parquet, with one header "
    "line and one row per cell"
)


def table_kind(path: str | os.PathLike) -> str:
    """``"text"`` or ``"parquet"``, from the file name; ValueError for anything else."""
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[: -len(".gz")]
        if name.endswith(TEXT_SUFFIXES):
            return "text"
    elif name.endswith(TEXT_SUFFIXES):
        return "text"
    elif name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    raise ValueError(f"not a cell table file name: {Path(path).name}")


def _open_text(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def _first_line(path: Path, sample: str | None) -> tuple[str, str]:
    """The header line of a text table and the encoding it reads in."""
    try:
        with _open_text(path) as fh:
            raw = fh.readline()
    except (OSError, EOFError) as err:
        raise FrontlineInputError(
            f"the cell table cannot be read ({err})", sample=sample, file=path, fix=_FIX_FORMAT
        ) from None
    raw = raw.lstrip(b"\xef\xbb\xbf").rstrip(b"\r\n")
    if not raw.strip():
        raise FrontlineInputError(
            "the cell table is empty (no header line)",
            sample=sample,
            file=path,
            fix="export the table again; the first line must name the columns",
        )
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


def _separator(header: str) -> str:
    return max(_SEPARATORS, key=header.count)


def _check_exists(path: Path, sample: str | None) -> None:
    if not path.is_file():
        raise FrontlineInputError(
            "the cell table does not exist",
            sample=sample,
            file=path,
            fix="correct the `cells` column of the sample sheet",
        )
    try:
        table_kind(path)
    except ValueError:
        raise FrontlineInputError(
            f"'{path.name}' is not a cell table file name",
            sample=sample,
            file=path,
            fix=_FIX_FORMAT,
        ) from None


def read_table_header(path: str | os.PathLike, *, sample: str | None = None) -> list[str]:
    """The column names of a cell table (reads the header line or the Parquet schema only).

    Parameters
    ----------
    path : a .csv/.tsv/.txt (optionally .gz) or .parquet file
    sample : for messages

    Returns
    -------
    list of str, as the file spells them (surrounding spaces removed)
    """
    path = Path(path)
    _check_exists(path, sample)
    if table_kind(path) == "parquet":
        import pyarrow.parquet as pq

        try:
            return [str(n).strip() for n in pq.read_schema(path).names]
        except Exception as err:  # pyarrow raises several types for damaged files
            raise FrontlineInputError(
                f"the Parquet cell table cannot be read ({err})",
                sample=sample,
                file=path,
                fix=_FIX_FORMAT,
            ) from None
    header, _ = _first_line(path, sample)
    names = next(csv.reader([header], delimiter=_separator(header)))
    return [c.strip() for c in names]


def read_cell_table(
    path: str | os.PathLike,
    *,
    columns: list[str] | None = None,
    sample: str | None = None,
) -> pd.DataFrame:
    """A cell table as a DataFrame, one row per cell, columns as the file names them.

    Parameters
    ----------
    path : a .csv/.tsv/.txt (optionally .gz) or .parquet file
    columns : read only these columns (names as :func:`read_table_header` gives them); None: all
    sample : for messages

    Returns
    -------
    DataFrame; types as pandas infers them, missing values NaN (see the module docstring)

    Raises
    ------
    FrontlineInputError
        the file is missing, not a table, or has no header.
    """
    path = Path(path)
    header = read_table_header(path, sample=sample)
    if table_kind(path) == "parquet":
        table = pd.read_parquet(path, columns=columns)
        table.columns = [str(c).strip() for c in table.columns]
        return table
    text, encoding = _first_line(path, sample)
    usecols = None
    if columns is not None:
        wanted = set(columns)
        usecols = [i for i, name in enumerate(header) if name in wanted]
    try:
        table = pd.read_csv(
            path,
            sep=_separator(text),
            encoding=encoding,
            na_values=NA_VALUES,
            keep_default_na=False,
            usecols=usecols,
            low_memory=False,
            compression="gzip" if path.name.lower().endswith(".gz") else None,
        )
    except (pd.errors.ParserError, ValueError, OSError, EOFError) as err:
        raise FrontlineInputError(
            f"the cell table cannot be parsed ({str(err).strip()})",
            sample=sample,
            file=path,
            fix=_FIX_FORMAT,
        ) from None
    table.columns = [str(c).strip() for c in table.columns]
    return table
