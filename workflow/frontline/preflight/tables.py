"""The sheet's cell tables (column ``cells``): read and normalised at startup as their jobs will.

Two passes, because the config's phenotype checks depend on the tables: :func:`table_samples`
runs before :func:`~frontline.preflight.check_config` and reads the tables that carry
phenotype names (their names join the phenotype table's as names a config key may use), and
says which samples need a phenotype tree (images, and tables of flags or intensities);
:func:`check_table_samples` runs with the sheet's other checks, once the tree is known to be
sound, and phenotypes the tables of positivity flags over it. Each pass reads only the columns
its checks need (positions, ids, phenotypes, flags, the rows column, ``tissue_class``); the
jobs read the intensities.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import FrontlineInputError
from .samples import check_sample_files, produced_by_workflow

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class TableSamples:
    """What the sheet's cell tables tell the config checks.

    phenotypes : the phenotype names the tables carry (after ``cell_tables.phenotype_map``)
    needs_tree : the samples that need ``phenotyping.phenotypes``: every image sample, and the
        tables with positivity flags or intensities but no phenotype names
    files : the tables read, for messages
    """

    phenotypes: frozenset[str]
    needs_tree: tuple[str, ...]
    files: tuple[str, ...]


def table_samples(
    samples: pd.DataFrame, config: Mapping, sheet_path: str | os.PathLike
) -> TableSamples | None:
    """Read every table that carries phenotype names; None when the sheet has no table.

    Checks on the way what the jobs would fail on: the table's header fits its
    ``cells_format``, positions in pixels have a pixel size, ``cells_rows`` picks rows, no cell
    lacks a position, cell ids are unique, a table sample has no simulator ``truth``. The
    sheet's files are checked first (:func:`check_sample_files`), so a missing table is named as
    such. ``config`` has its defaults filled in.
    """
    from .. import celltables, sheet

    tables = [s for s in samples.index if sheet.is_cell_table(samples, s)]
    if not tables:
        return None
    check_sample_files(samples, config, sheet_path)
    plans = _plans(samples, tables, config, sheet_path)
    named = {s: plan for s, plan in plans.items() if plan[3].phenotypes == celltables.FROM_TABLE}
    found = set()
    for result in _normalised(named, config, phenotyping=None):
        found |= set(result.phenotypes["phenotype"])
    images = [s for s in samples.index if s not in tables]
    return TableSamples(
        phenotypes=frozenset(str(p) for p in found),
        needs_tree=tuple(images + [s for s in plans if s not in named]),
        files=tuple(dict.fromkeys(plan[0] for plan in plans.values())),
    )


def check_table_samples(
    samples: pd.DataFrame, config: Mapping, sheet_path: str | os.PathLike
) -> None:
    """The tables whose phenotypes come from the phenotype tree (positivity flags, or
    intensities for gating): read and normalised as their jobs will, with the tree. Run after
    :func:`table_samples` and the config checks (the tree is sound by then)."""
    from .. import celltables, sheet

    tables = [s for s in samples.index if sheet.is_cell_table(samples, s)]
    plans = _plans(samples, tables, config, sheet_path)
    unnamed = {s: plan for s, plan in plans.items() if plan[3].phenotypes != celltables.FROM_TABLE}
    for _ in _normalised(unnamed, config, phenotyping=config["phenotyping"]):
        pass


def _plans(samples, tables, config, sheet_path) -> dict:
    """sample -> (path, format, rows, layout, columns to read, pixel size, fluor map) for every
    table sample whose table exists now (a rule's output is checked by the rule)."""
    from .. import celltables, sheet
    from ..io.celltables import read_table_header

    renames_all = config["cell_tables"]["columns"]
    plans = {}
    for sample in tables:
        path = str(samples.loc[sample, "cells"])
        if produced_by_workflow(path, config):
            continue
        if sheet.optional(samples.loc[sample, "truth"]) is not None:
            raise FrontlineInputError(
                "a cell-table sample has a `truth` column (simulator truth is for simulated "
                "images)",
                sample=sample,
                file=sheet_path,
                fix="leave `truth` empty for cell-table samples",
            )
        fmt = sheet.cells_format(samples, sample)
        header = read_table_header(path, sample=sample)
        renames = {k: v for k, v in renames_all.items() if k in header}
        fluor_map = _sheet_fluor_map(samples, sample, config, sheet_path)
        layout = celltables.table_layout(
            celltables.renamed(header, renames), fmt, fluor_map=fluor_map, sample=sample, file=path
        )
        rows = celltables.parse_rows(samples.loc[sample, "cells_rows"], sample)
        back = {v: k for k, v in renames.items()}
        wanted = [back.get(c, c) for c in layout.structural()] + ([rows[0]] if rows else [])
        size = sheet.optional(samples.loc[sample, "pixel_size_um"])
        size = float(size) if size is not None else config["pixel_size_um"]
        columns = [c for c in wanted if c in header]
        plans[sample] = (path, fmt, rows, layout.structural_only(), columns, size, fluor_map)
    return plans


def _normalised(plans: Mapping, config: Mapping, phenotyping: Mapping | None):
    """Each planned table normalised (a file of many samples read once, with the columns all
    its samples need)."""
    from .. import celltables
    from ..io.celltables import read_cell_table

    columns_of: dict[str, set] = {}
    for path, _, _, _, columns, _, _ in plans.values():
        columns_of.setdefault(path, set()).update(columns)
    raw = {p: read_cell_table(p, columns=sorted(c)) for p, c in columns_of.items()}
    for sample, (path, fmt, rows, layout, _, size, fluor_map) in plans.items():
        yield celltables.normalise_cell_table(
            raw[path],
            fmt,
            config["cell_tables"],
            pixel_size_um=size,
            rows=rows,
            fluor_map=fluor_map,
            phenotyping=phenotyping,
            layout=layout,
            sample=sample,
            file=path,
        )


def _sheet_fluor_map(samples, sample, config, sheet_path) -> Mapping | None:
    key = str(samples.loc[sample].get("fluor_map", "") or "").strip()
    if not key:
        return None
    if key not in config["fluor_maps"]:
        raise FrontlineInputError(
            f"fluor_map '{key}' is not a key of config `fluor_maps` {list(config['fluor_maps'])}",
            sample=sample,
            file=sheet_path,
            fix="add the map under `fluor_maps:` or fix the sheet",
        )
    return config["fluor_maps"][key]
