"""The sample sheet: one row per image, read and checked once."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import FrontlineInputError

REQUIRED = ("sample", "image")
OPTIONAL = (
    "pixel_size_um",
    "annotation",
    "annotation_units",
    "truth",
    "fluor_map",
    "gates",
    "batch",
)


def load_sample_sheet(path: str | os.PathLike) -> pd.DataFrame:
    """Read a tab-separated sample sheet.

    Parameters
    ----------
    path : str or Path
        TSV with columns ``sample``, ``image`` and optionally ``pixel_size_um`` (µm),
        ``annotation`` (GeoJSON), ``annotation_units`` (``um`` or ``px``), ``truth``
        (prefix of simulator truth files), ``fluor_map`` (a key of config ``fluor_maps``),
        ``gates`` (a table of the sample's manual gates, e.g. a copied ``gates.tsv``),
        ``batch`` (samples of one batch are auto-gated together).

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
    bad = [s for s in table["sample"] if not re.fullmatch(r"[^/\\\s]+", s)]
    if bad:
        raise FrontlineInputError(
            f"sample name(s) {bad} contain spaces or slashes",
            sample=bad[0],
            file=path,
            fix="use names without spaces or '/' (they become folder names)",
        )
    noimage = table["sample"][table["image"] == ""].tolist()
    if noimage:
        raise FrontlineInputError(
            "no image path given", sample=noimage[0], file=path, fix="fill the 'image' column"
        )
    for col in OPTIONAL:
        if col not in table.columns:
            table[col] = ""
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
    return table.set_index("sample", drop=False)


def optional(value: Any) -> Any | None:
    """An optional sheet cell as a value or None (empty cells are None)."""
    if value is None or (isinstance(value, float) and value != value) or str(value).strip() == "":
        return None
    return value


def wildcard_pattern(samples: Iterable[str]) -> list[str]:
    """Regex alternatives that match exactly the given sample names."""
    return [re.escape(s) for s in samples]
