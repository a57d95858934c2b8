"""Files of the analysis steps: tables, JSON, regions and figures written atomically, read back.

Every writer moves its file into place only once it is complete
(:func:`frontline.files.atomic_output`), so a reader never sees a half-written file. The readers
turn a file that is not what it should be into a :class:`~frontline.errors.FrontlineInputError`
naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import FrontlineInputError
from ..files import atomic_output

if TYPE_CHECKING:  # regions imports geopandas: only the scripts that read or write regions pay
    from ..regions import Regions


def write_tsv(
    table: pd.DataFrame, path: str | Path, *, na_rep: str = "NA", float_format: str = "%.6g"
) -> None:
    """A table as tab-separated text (no index); floats to 6 significant digits."""
    with atomic_output(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, na_rep=na_rep, float_format=float_format)


def write_parquet(table: pd.DataFrame, path: str | Path) -> None:
    """A table as Parquet (no index)."""
    with atomic_output(path) as tmp:
        table.to_parquet(tmp, index=False)


def write_json(
    obj: Any, path: str | Path, *, indent: int = 1, ensure_ascii: bool = False, end: str = ""
) -> None:
    """``obj`` as JSON text (UTF-8; NaN is refused: write None), followed by ``end``."""
    text = json.dumps(obj, indent=indent, ensure_ascii=ensure_ascii, allow_nan=False)
    write_text(text + end, path)


def write_text(text: str, path: str | Path) -> None:
    """``text`` as a UTF-8 file."""
    with atomic_output(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def write_regions(
    regions: Regions, path: str | Path, *, units: str, pixel_size_um: float | None
) -> None:
    """The regions as GeoJSON that QuPath imports (:func:`frontline.regions.regions_to_geojson`;
    coordinates rounded to 0.001 px or µm)."""
    from ..regions import dumps, regions_to_geojson

    write_text(dumps(regions_to_geojson(regions, units=units, pixel_size_um=pixel_size_um)), path)


def save_figure(figure: Any, path: str | Path, *, dpi: float | None = None) -> None:
    """A matplotlib Figure as PNG (``dpi`` None: the figure's own)."""
    options = {} if dpi is None else {"dpi": dpi}
    with atomic_output(path) as tmp:
        figure.savefig(tmp, format="png", **options)


def read_json(
    path: str | Path,
    *,
    sample: str | None = None,
    what: str = "the file",
    kind: str = "JSON",
    fix: str = "rerun the step that writes it",
) -> Any:
    """The parsed JSON of a file; FrontlineInputError ("{what} is not valid {kind} text", with
    ``fix``) when it is not JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FrontlineInputError(
            f"{what} is not valid {kind} text ({err})", sample=sample, file=str(path), fix=fix
        ) from None


def read_regions(path: str | Path, *, sample: str | None = None) -> Regions:
    """The regions the front step wrote (``tumor.geojson`` or ``tumor_um.geojson``), in µm."""
    from ..regions import regions_from_geojson

    return regions_from_geojson(read_json(path, sample=sample), file=str(path), sample=sample)


def read_annotation(path: str | Path, *, sample: str | None = None) -> Any:
    """A tumor annotation GeoJSON (QuPath export), parsed; see
    :func:`frontline.regions.annotation_to_tumor`."""
    return read_json(
        path,
        sample=sample,
        what="the annotation",
        kind="GeoJSON",
        fix="export the annotation again from QuPath (File > Export objects as GeoJSON)",
    )


def read_text_table(
    path: str | Path,
    *,
    columns: Any = None,
    what: str = "the table",
    fix: str = "give the path of a tab- or comma-separated text file",
) -> pd.DataFrame:
    """A CSV (``.csv``, ``.csv.gz``) or tab-separated (any other name) table, every cell as text.

    Parameters
    ----------
    path : the file (``.gz`` is decompressed)
    columns : names of the columns to read (others are skipped; absent ones are not an
        error here), or None for all
    what, fix : for the error message

    Returns
    -------
    DataFrame of str (empty cells are ""), header names stripped
    """
    path = Path(path)
    if not path.is_file():
        raise FrontlineInputError(f"{what} does not exist", file=str(path), fix=fix)
    name = path.name.lower().removesuffix(".gz")
    wanted = None if columns is None else {str(c) for c in columns}
    try:
        table = pd.read_csv(
            path,
            sep="," if name.endswith(".csv") else "\t",
            dtype=str,
            keep_default_na=False,
            usecols=None if wanted is None else (lambda c: str(c).strip() in wanted),
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as err:
        raise FrontlineInputError(
            f"{what} cannot be read as a table ({err})", file=str(path), fix=fix
        ) from None
    table.columns = [str(c).strip() for c in table.columns]
    return table


def read_tsv(path: str | Path, *, sample: str | None = None) -> pd.DataFrame:
    """A table an analysis step wrote (:func:`write_tsv`; ``NA`` is NaN)."""
    try:
        return pd.read_csv(path, sep="\t")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise FrontlineInputError(
            f"the table is not tab-separated text ({err})",
            sample=sample,
            file=str(path),
            fix="rerun the step that writes it",
        ) from None


def read_gates_table(path: str | Path, *, sample: str | None = None) -> pd.DataFrame:
    """A table of manual gates (a sample sheet's ``gates`` column names it), as text.

    The ``gates.tsv`` a run writes can be copied in as it is: columns ``marker`` and ``gate``
    (a number, ``auto`` or empty: auto), optionally ``sample`` (rows for other samples are
    theirs) and ``compartment`` (checked against the config's); other columns are ignored.
    :func:`frontline.gating.sample_gates` reads the gates out of it.

    Returns
    -------
    DataFrame of str (empty cells ""), its columns as in the file
    """
    fix = (
        "give a tab-separated table with the columns marker and gate (copy a run's "
        "results/{sample}/gates.tsv and edit its gate column)"
    )
    path = Path(path)
    if not path.is_file():
        raise FrontlineInputError(
            "the gates table does not exist", sample=sample, file=path, fix=fix
        )
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, encoding="utf-8")
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise FrontlineInputError(
            f"the gates table cannot be read as tab-separated UTF-8 text ({err})".replace(
                "\n", " "
            ),
            sample=sample,
            file=path,
            fix=fix,
        ) from None
    table.columns = [str(c).strip().lstrip("\ufeff") for c in table.columns]
    missing = [c for c in ("marker", "gate") if c not in table.columns]
    if missing:
        raise FrontlineInputError(
            f"the gates table lacks the column(s) {missing}; it has {list(table.columns)}",
            sample=sample,
            file=path,
            fix=fix,
        )
    return table.apply(lambda col: col.str.strip())
