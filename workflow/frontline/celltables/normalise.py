"""A vendor's cell table -> frontline's ``cells.parquet`` and ``phenotypes.parquet`` forms.

Steps, each a pure function on DataFrames:

1. :func:`select_rows`: the rows of one sample in a file holding many (sheet column
   ``cells_rows``: ``COLUMN=VALUE``, or ``COLUMN`` when the value is the sample's name);
2. :func:`table_layout`: which columns hold what, from the header alone, as the format says
   (:mod:`frontline.celltables.generic`, ``halo``, ``inform``, ``qupath``, ``mcmicro``), after
   the renames of ``cell_tables.columns``; a header that does not fit the format is named
   with the format it does look like;
3. :func:`cells_frame`: positions in µm, cell ids, areas, intensities, ``tissue_class`` and
   state columns, checked (no missing or negative coordinates, unique ids);
4. :func:`frontline.celltables.phenotypes.phenotypes_frame`: the table's own phenotype names
   (mapped by ``cell_tables.phenotype_map``), or the config's phenotype tree over the table's
   positivity flags, or nothing (the phenotype rule then gates the intensities).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import FrontlineInputError
from . import generic, halo, inform, mcmicro, qupath
from .common import FROM_FLAGS, FROM_GATING, FROM_TABLE, Layout, as_flags, is_state
from .phenotypes import phenotypes_frame

log = logging.getLogger(__name__)

FORMATS = {m.NAME: m for m in (generic, halo, inform, qupath, mcmicro)}
_DETECTION_ORDER = ("halo", "inform", "qupath", "mcmicro", "generic")  # specific first


@dataclass
class TableCells:
    """One sample's cell table in frontline's forms.

    ``cells``: the ``cells.parquet`` columns (``cell_id``, ``x_um``, ``y_um``, areas,
    ``{marker}_{compartment}_mean``, ``tissue_class``, states); ``phenotypes``: the
    ``phenotypes.parquet`` columns (``cell_id``, ``phenotype``, ``{marker}_positive``), or None
    when the phenotype rule is to gate the intensities; ``layout``: what was read from where.
    """

    cells: pd.DataFrame
    phenotypes: pd.DataFrame | None
    layout: Layout


# --------------------------------------------------------------------------- header


def renamed(columns: Sequence[str], renames: Mapping[str, str] | None) -> list[str]:
    """The header after ``cell_tables.columns`` (table name -> frontline name)."""
    renames = dict(renames or {})
    return [renames.get(c, c) for c in columns]


def detect_formats(columns: Sequence[str]) -> list[str]:
    """The formats whose signature columns the header has, most specific first."""
    return [name for name in _DETECTION_ORDER if FORMATS[name].matches(columns)]


def _shown(columns: Sequence[str], n: int = 12) -> str:
    columns = list(columns)
    more = f" and {len(columns) - n} more" if len(columns) > n else ""
    return f"{columns[:n]}{more}"


def table_layout(
    columns: Sequence[str],
    fmt: str,
    *,
    fluor_map: Mapping[str, str] | None = None,
    sample: str | None = None,
    file: str | None = None,
) -> Layout:
    """Which columns hold what in a table of format ``fmt`` (header only).

    Parameters
    ----------
    columns : the header (after :func:`renamed`)
    fmt : one of ``FORMATS``
    fluor_map : fluor or marker name -> marker (the sheet's ``fluor_map``)
    sample, file : for messages

    Raises
    ------
    FrontlineInputError
        the header does not fit ``fmt`` (the message names the format it looks like), or
        lacks the coordinates or anything to phenotype the cells by.
    """
    module = FORMATS[fmt]
    if not module.matches(columns):
        looks = [f for f in detect_formats(columns) if f != fmt]
        if looks:
            raise FrontlineInputError(
                f"the cell table's headers do not fit cells_format '{fmt}' ({module.EXPECTED}); "
                f"they look like '{looks[0]}'",
                sample=sample,
                file=file,
                fix=f"set the sheet's `cells_format` to {looks[0]}",
            )
        raise FrontlineInputError(
            f"the cell table lacks the position columns of cells_format '{fmt}': it has the "
            f"columns {_shown(columns)}; the format expects {module.EXPECTED}",
            sample=sample,
            file=file,
            fix="set the sheet's `cells_format` to the software that wrote the table, or rename "
            "the columns to the generic form (config `cell_tables.columns`, e.g. {x: x_um, y: "
            "y_um, celltype: phenotype})",
        )
    out = module.layout(columns, fluor_map)
    if out.phenotype is None and not out.flags and not out.intensities:
        raise FrontlineInputError(
            f"the cell table has no phenotype column, no positivity flags and no intensities: it "
            f"has the columns {_shown(columns)}; cells_format '{fmt}' expects {module.EXPECTED}",
            sample=sample,
            file=file,
            fix="add a `phenotype` column (or rename yours with config `cell_tables.columns`, "
            "e.g. {celltype: phenotype})",
        )
    return out


def phenotype_source(columns: Sequence[str], fmt: str) -> str:
    """Where a table's phenotypes come from (``table``, ``flags`` or ``gating``), from its
    header; the workflow decides from it whether the phenotype rule runs."""
    return FORMATS[fmt].layout(columns).phenotypes


# --------------------------------------------------------------------------- rows


def parse_rows(spec: str | None, sample: str) -> tuple[str, str] | None:
    """The sheet's ``cells_rows`` as (column, value): ``COLUMN=VALUE``, or ``COLUMN`` whose
    value is the sample name; None selects every row."""
    if spec is None or not str(spec).strip():
        return None
    column, sep, value = str(spec).partition("=")
    return column.strip(), (value.strip() if sep else str(sample))


def _same(values: pd.Series, value: str) -> np.ndarray:
    """Cells of ``values`` equal to ``value`` (as text, or as numbers: ``1`` matches ``1.0``)."""
    if pd.api.types.is_numeric_dtype(values):
        try:
            return values.to_numpy(dtype=float) == float(value)
        except ValueError:
            return np.zeros(len(values), bool)
    hit = values.to_numpy() == value  # text as it is (fast), then with spaces stripped
    return hit if hit.any() else values.astype(str).str.strip().to_numpy() == value


def select_rows(
    raw: pd.DataFrame,
    rows: tuple[str, str] | None,
    *,
    sample: str | None = None,
    file: str | None = None,
) -> pd.DataFrame:
    """The rows of one sample (``rows`` from :func:`parse_rows`; None: all), index reset."""
    if rows is None:  # the table itself, not a copy (a slide's table is big)
        plain = isinstance(raw.index, pd.RangeIndex) and raw.index.equals(pd.RangeIndex(len(raw)))
        return raw if plain else raw.reset_index(drop=True)
    column, value = rows
    if column not in raw.columns:
        raise FrontlineInputError(
            f"the sheet's cells_rows names the column '{column}', which the cell table does not "
            f"have; it has {_shown(raw.columns)}",
            sample=sample,
            file=file,
            fix="name the column that tells the samples apart, as the table's header spells it "
            "(`cells_rows`: COLUMN=VALUE)",
        )
    picked = raw[_same(raw[column], value)].reset_index(drop=True)
    if picked.empty:
        found = sorted(raw[column].dropna().astype(str).unique())
        raise FrontlineInputError(
            f"no row of the cell table has {column} = '{value}'; its values are "
            f"{found[:10]}{' ...' if len(found) > 10 else ''}",
            sample=sample,
            file=file,
            fix="correct the sheet's `cells_rows` (COLUMN=VALUE; COLUMN alone uses the sample "
            "name as the value)",
        )
    return picked


# --------------------------------------------------------------------------- cells


def needs_pixel_size(out: Layout) -> bool:
    """Whether the table's positions are in pixels."""
    return out.units == "px"


def _numbers(raw: pd.DataFrame, column: str, sample, file) -> np.ndarray:
    values = pd.to_numeric(raw[column], errors="coerce").to_numpy(dtype=float)
    text = raw[column].notna().to_numpy() & np.isnan(values)
    if text.any():
        bad = raw[column][text].astype(str).unique()[:3].tolist()
        raise FrontlineInputError(
            f"the column '{column}' holds text where numbers belong (e.g. {bad})",
            sample=sample,
            file=file,
            fix="export the table again with plain numbers (a point as decimal separator)",
        )
    return values


def _coordinates(raw, out, pixel_size_um, sample, file):
    if needs_pixel_size(out) and pixel_size_um is None:
        raise FrontlineInputError(
            f"the cell table's positions are in pixels ({out.format} format) and no pixel size "
            "is given",
            sample=sample,
            file=file,
            fix="give the pixel size in µm per pixel in the sample sheet's `pixel_size_um` "
            "column (or the config's `pixel_size_um`)",
        )
    if out.bbox is not None:
        x0, x1, y0, y1 = (_numbers(raw, c, sample, file) for c in out.bbox)
        x, y = (x0 + x1) / 2.0, (y0 + y1) / 2.0
        names = f"{out.bbox[0]}/{out.bbox[1]}, {out.bbox[2]}/{out.bbox[3]}"
    else:
        x, y = _numbers(raw, out.x, sample, file), _numbers(raw, out.y, sample, file)
        names = f"{out.x}, {out.y}"
    if needs_pixel_size(out):
        x, y = (x + out.pixel_origin) * pixel_size_um, (y + out.pixel_origin) * pixel_size_um
    missing = np.flatnonzero(~(np.isfinite(x) & np.isfinite(y)))
    if missing.size:
        raise FrontlineInputError(
            f"{missing.size} of {len(x)} cells have no position ({names} empty or NaN; table "
            f"rows {(missing[:5] + 2).tolist()}, counting the header as row 1)",
            sample=sample,
            file=file,
            fix="remove the cells without a position from the table, or export it again",
        )
    negative = np.flatnonzero((x < 0) | (y < 0))
    if negative.size:
        raise FrontlineInputError(
            f"{negative.size} cells have negative positions (e.g. x = {x[negative[0]]:.4g}, "
            f"y = {y[negative[0]]:.4g} µm): frontline's origin is the image's top-left corner",
            sample=sample,
            file=file,
            fix="shift the positions so the top-left corner of the field is (0, 0)",
        )
    return x, y


def _cell_ids(raw, out, sample, file):
    if out.cell_id is None:
        return np.arange(1, len(raw) + 1, dtype=np.int64)
    values = pd.to_numeric(raw[out.cell_id], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values != np.round(values))
    if bad.any():
        raise FrontlineInputError(
            f"the cell id column '{out.cell_id}' holds values that are no integers (e.g. "
            f"{raw[out.cell_id][bad].astype(str).tolist()[:3]})",
            sample=sample,
            file=file,
            fix="give integer cell ids, or rename the column away (config `cell_tables.columns`) "
            "to number the cells 1..N in table order",
        )
    ids = values.astype(np.int64)
    dup = pd.Series(ids)[pd.Series(ids).duplicated()].unique()
    if dup.size:
        raise FrontlineInputError(
            f"{dup.size} cell id(s) occur more than once in '{out.cell_id}' (e.g. "
            f"{dup[:5].tolist()})",
            sample=sample,
            file=file,
            fix="a table holding several samples needs the sheet's `cells_rows` (COLUMN=VALUE) "
            "to pick one sample's rows; otherwise make the ids unique",
        )
    return ids


def cells_frame(
    raw: pd.DataFrame,
    out: Layout,
    *,
    pixel_size_um: float | None,
    sample: str | None = None,
    file: str | None = None,
) -> pd.DataFrame:
    """The ``cells.parquet`` form of one sample's rows.

    Parameters
    ----------
    raw : the sample's rows (:func:`select_rows`), columns as ``out`` names them
    out : from :func:`table_layout`
    pixel_size_um : µm per pixel, needed when the positions or areas are in pixels

    Returns
    -------
    DataFrame ``cell_id`` (int64), ``x_um``, ``y_um`` (µm, origin top-left), then
    ``nucleus_area_um2``, ``cell_area_um2``, ``eccentricity``, ``solidity`` and
    ``{marker}_{nucleus|cell|ring}_mean`` where the table has them (a missing cell mean is the
    area-weighted mean of the nucleus and ring means, as HALO's nucleus and cytoplasm make up
    its cell), ``tissue_class`` (text) and boolean state columns.
    """
    if raw.empty:
        raise FrontlineInputError(
            "the cell table has no cells (a header and no rows)",
            sample=sample,
            file=file,
            fix="export the table again with its cells",
        )
    x, y = _coordinates(raw, out, pixel_size_um, sample, file)
    cells = {"cell_id": _cell_ids(raw, out, sample, file), "x_um": x, "y_um": y}
    area_scale = pixel_size_um**2 if out.area_units == "px2" and pixel_size_um else 1.0
    for name, column in out.measures.items():
        if name == "tissue_class":
            continue
        values = _numbers(raw, column, sample, file)
        cells[name] = values * area_scale if name.endswith("_area_um2") else values
    for name, column in out.intensities.items():
        cells[name] = _numbers(raw, column, sample, file)
    _add_cell_means(cells)
    if "tissue_class" in out.measures:
        labels = raw[out.measures["tissue_class"]]
        cells["tissue_class"] = labels.where(labels.isna(), labels.astype(str).str.strip())
    for column in out.states:
        if column not in cells and is_state(raw[column]):
            cells[column] = as_flags(raw[column], column=column, sample=sample, file=file)
    return pd.DataFrame(cells)


def _add_cell_means(cells: dict) -> None:
    if "nucleus_area_um2" not in cells or "cell_area_um2" not in cells:
        return
    nucleus, cell = cells["nucleus_area_um2"], cells["cell_area_um2"]
    ring = np.clip(cell - nucleus, 0.0, None)
    for name in [c for c in cells if c.endswith("_nucleus_mean")]:
        marker = name[: -len("_nucleus_mean")]
        target, other = f"{marker}_cell_mean", f"{marker}_ring_mean"
        if target in cells or other not in cells:
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            cells[target] = (cells[name] * nucleus + cells[other] * ring) / (nucleus + ring)


# --------------------------------------------------------------------------- one sample


def normalise_cell_table(
    raw: pd.DataFrame,
    fmt: str,
    settings: Mapping,
    *,
    pixel_size_um: float | None = None,
    rows: tuple[str, str] | None = None,
    fluor_map: Mapping[str, str] | None = None,
    phenotyping: Mapping | None = None,
    layout: Layout | None = None,
    sample: str | None = None,
    file: str | None = None,
) -> TableCells:
    """One sample's cell table in frontline's ``cells.parquet`` / ``phenotypes.parquet`` forms.

    Parameters
    ----------
    raw : the table as read (:func:`frontline.io.celltables.read_cell_table`)
    fmt : its format, one of ``FORMATS`` (the sheet's ``cells_format``)
    settings : the config's ``cell_tables`` section (``columns``, ``phenotype_map``)
    pixel_size_um : µm per pixel (sheet, else config), needed for tables in pixels
    rows : the sample's rows in a file of many (:func:`parse_rows`); None: all
    fluor_map : fluor or marker name -> marker (the sheet's ``fluor_map``)
    phenotyping : the config's ``phenotyping`` section, for tables with positivity flags
    layout : the table's layout when known (e.g. from the whole header while ``raw`` holds some
        of its columns: :meth:`Layout.structural_only`); None: from ``raw``'s header
    sample, file : for messages

    Returns
    -------
    :class:`TableCells`
    """
    raw = select_rows(raw, rows, sample=sample, file=file)
    names = renamed(raw.columns, settings["columns"])
    if names != list(raw.columns):
        raw = pd.DataFrame(raw, copy=False)  # a new frame on the same columns' data
        raw.columns = names
    out = layout or table_layout(
        list(raw.columns), fmt, fluor_map=fluor_map, sample=sample, file=file
    )
    cells = cells_frame(raw, out, pixel_size_um=pixel_size_um, sample=sample, file=file)
    phenotypes = phenotypes_frame(
        raw,
        out,
        cells,
        phenotype_map=settings["phenotype_map"],
        phenotyping=phenotyping,
        sample=sample,
        file=file,
    )
    log.info(
        "sample %s: %d cells from a %s table (phenotypes: %s), %d intensity column(s)",
        sample,
        len(cells),
        out.format,
        {FROM_TABLE: "the table's", FROM_FLAGS: "tree over flags", FROM_GATING: "gating"}[
            out.phenotypes
        ],
        len(out.intensities),
    )
    return TableCells(cells=cells, phenotypes=phenotypes, layout=out)
