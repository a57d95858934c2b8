"""The per-cell tables: checking that they fit together and joining them."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from .errors import FrontlineInputError


def require_columns(
    table: pd.DataFrame,
    columns: Iterable[str],
    *,
    sample: str | None = None,
    file: str | None = None,
) -> None:
    """FrontlineInputError unless ``table`` has every one of ``columns``."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise FrontlineInputError(
            f"the table lacks the column(s) {missing}",
            sample=sample,
            file=file,
            fix="rerun the step that writes it",
        )


def join_phenotypes(
    cells: pd.DataFrame,
    phenotypes: pd.DataFrame,
    *,
    sample: str | None = None,
    files: tuple = (None, None),
) -> pd.DataFrame:
    """Cells with their phenotype: ``cells`` joined with ``phenotypes`` on ``cell_id``.

    Parameters
    ----------
    cells : DataFrame with ``cell_id, x_um, y_um`` (µm) and any measurement columns
    phenotypes : DataFrame with ``cell_id, phenotype`` (and ``{marker}_positive`` columns)
    sample, files : for error messages (cells file, phenotypes file)

    Returns
    -------
    DataFrame, one row per cell of ``cells`` in its order, with the phenotype columns added.

    Raises
    ------
    FrontlineInputError
        a column is missing, or the two tables do not describe the same cells.
    """
    require_columns(cells, ("cell_id", "x_um", "y_um"), sample=sample, file=files[0])
    require_columns(phenotypes, ("cell_id", "phenotype"), sample=sample, file=files[1])
    extra = [c for c in phenotypes.columns if c == "cell_id" or c not in cells.columns]
    joined = cells.merge(phenotypes[extra], on="cell_id", how="left", validate="one_to_one")
    unmatched = int(joined["phenotype"].isna().sum())
    if unmatched or len(phenotypes) != len(cells):
        raise FrontlineInputError(
            f"{unmatched} of {len(cells)} cells have no phenotype and the phenotype table has "
            f"{len(phenotypes)} rows: the two tables describe different cells",
            sample=sample,
            file=files[1],
            fix="rerun the phenotype step on the current cells.parquet",
        )
    joined["phenotype"] = joined["phenotype"].astype(str)
    return joined
