"""The phenotypes of a cell table: its own names (mapped to the config's), or the config's
phenotype tree over its positivity flags, where a tree "marker" written ``COLUMN=VALUE`` tests
a text column of the table (``tissue_class=Tumor``)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import FrontlineInputError
from ..phenotype import OTHER, assign_phenotypes, parse_phenotypes
from .common import FROM_FLAGS, FROM_GATING, Layout, as_flags

_TERM = "="  # a phenotype-tree "marker" COLUMN=VALUE tests a text column of the cell table


def _tree_terms(spec: Mapping) -> list[str]:
    terms = []
    for entry in (spec or {}).values():
        for key in ("positive", "negative"):
            value = (entry or {}).get(key) or []
            for marker in [value] if isinstance(value, str) else value:
                if _TERM in str(marker) and str(marker) not in terms:
                    terms.append(str(marker))
    return terms


def _tree_markers(spec: Mapping) -> list[str]:
    markers = []
    for entry in (spec or {}).values():
        for key in ("positive", "negative"):
            value = (entry or {}).get(key) or []
            for marker in [value] if isinstance(value, str) else value:
                if _TERM not in str(marker) and str(marker) not in markers:
                    markers.append(str(marker))
    return markers


def _term_values(cells: pd.DataFrame, term: str, sample, file) -> np.ndarray:
    column, _, value = term.partition(_TERM)
    column, value = column.strip(), value.strip()
    if column not in cells.columns:
        text = [c for c in cells.columns if c == "tissue_class" or cells[c].dtype == bool]
        raise FrontlineInputError(
            f"the phenotype tree tests '{term}', but the cell table has no column '{column}'; "
            f"the columns such a test can read are {text}",
            sample=sample,
            file=file,
            fix="test a column the table has (e.g. tissue_class=Tumor, from HALO's Classifier "
            "Label or inForm's Tissue Category)",
        )
    values = cells[column]
    if values.dtype == bool:
        return values.to_numpy() == (value.lower() in ("true", "1", "yes"))
    return values.astype(str).str.strip().to_numpy() == value


def phenotypes_from_flags(
    cells: pd.DataFrame,
    flags: Mapping[str, np.ndarray],
    phenotyping: Mapping,
    *,
    sample: str | None = None,
    file: str | None = None,
) -> pd.DataFrame:
    """Phenotypes from the table's positivity flags and the config's phenotype tree.

    The tree is the config's ``phenotyping.phenotypes`` (same syntax as for images); a
    "marker" written ``COLUMN=VALUE`` tests a text or boolean column of the cell table, e.g.
    ``tumor: {positive: [tissue_class=Tumor], negative: [CD3]}`` for HALO cores whose tumor
    cells are those its tissue classifier labels Tumor.

    Parameters
    ----------
    cells : from :func:`cells_frame` (for ``cell_id`` and the columns the tests read)
    flags : marker -> (N,) bool
    phenotyping : the config's ``phenotyping`` section (``phenotypes``, ``exclusive``)

    Returns
    -------
    DataFrame ``cell_id, phenotype, {marker}_positive...``
    """
    spec = phenotyping.get("phenotypes") or {}
    if not spec:
        raise FrontlineInputError(
            f"the cell table gives positivity flags ({sorted(flags)}) and no phenotypes, and the "
            "config defines no phenotype tree to name the cells by",
            sample=sample,
            file=file,
            fix="add `phenotyping: phenotypes:` over the flags' markers, e.g. CD8_T: {positive: "
            f"[{sorted(flags)[0] if flags else 'CD8'}]}}",
        )
    unknown = [m for m in _tree_markers(spec) if m not in flags]
    if unknown:
        raise FrontlineInputError(
            f"the phenotype tree uses marker(s) {unknown} for which the cell table has no "
            f"positivity flag; its flags are for {sorted(flags)}",
            sample=sample,
            file=file,
            fix="name the markers in `phenotyping: phenotypes:` as the table's flags name them "
            "(or rename them with the sheet's fluor map)",
        )
    terms = _tree_terms(spec)
    positive = pd.DataFrame({f"{m}_positive": np.asarray(v, bool) for m, v in flags.items()})
    for term in terms:
        positive[f"{term}_positive"] = _term_values(cells, term, sample, file)
    exclusive = phenotyping.get("exclusive") or ()
    tree = parse_phenotypes(spec, list(flags) + terms, exclusive, sample=sample, file=file)
    names = assign_phenotypes(positive, tree, exclusive)
    out = pd.DataFrame({"cell_id": cells["cell_id"].to_numpy(), "phenotype": names})
    for marker in flags:
        out[f"{marker}_positive"] = positive[f"{marker}_positive"].to_numpy()
    return out


def phenotypes_frame(
    raw: pd.DataFrame,
    out: Layout,
    cells: pd.DataFrame,
    *,
    phenotype_map: Mapping[str, str] | None,
    phenotyping: Mapping | None,
    sample: str | None = None,
    file: str | None = None,
) -> pd.DataFrame | None:
    """The ``phenotypes.parquet`` form of one sample's rows, or None (intensities only: the
    phenotype rule gates them).

    A phenotype column's names are mapped by ``phenotype_map`` (names not in it are kept; an
    empty name is ``other``); without one, :func:`phenotypes_from_flags`.
    """
    flags = {m: as_flags(raw[c], column=c, sample=sample, file=file) for m, c in out.flags.items()}
    source = out.phenotypes
    if source == FROM_GATING:
        return None
    if source == FROM_FLAGS:
        return phenotypes_from_flags(cells, flags, phenotyping or {}, sample=sample, file=file)
    names = raw[out.phenotype].astype("string").str.strip().fillna("")
    if len(names) and (names == "").all():
        raise FrontlineInputError(
            f"the phenotype column '{out.phenotype}' is empty in every row",
            sample=sample,
            file=file,
            fix="fill it (e.g. classify the cells in QuPath), or rename it away with config "
            f"`cell_tables.columns` ({{{out.phenotype}: unused}}) to gate the table's intensities",
        )
    names = names.replace("", OTHER)
    mapping = {str(k): str(v) for k, v in (phenotype_map or {}).items()}
    result = pd.DataFrame(
        {
            "cell_id": cells["cell_id"].to_numpy(),
            "phenotype": names.replace(mapping).astype(str).to_numpy(),
        }
    )
    for marker, values in flags.items():
        result[f"{marker}_positive"] = values
    return result
