"""Names every spatial statistic shares: the four regions, the pooled groups, "not computable"."""

from __future__ import annotations

import numpy as np
import pandas as pd

REGIONS = ("tumor_core", "inner_margin", "outer_margin", "stroma")
ALL_IMMUNE = "all_immune"  # every cell of the immune lineage, pooled
ALL_CELLS = "all_cells"


def too_few_cells(name: str, n: int, min_cells: int) -> str:
    """Why a statistic of ``n`` cells of ``name`` is not given (fewer than ``min_cells``), or
    "" when there are enough: the one min-cells rule of the spatial statistics and the call."""
    return not_computable(name, n, min_cells) if n < min_cells else ""


def not_computable(name: str, n: int, min_cells: int) -> str:
    """The reason a statistic of ``name`` (``n`` cells, fewer than ``min_cells``) is not given."""
    return f"only {n} {name} cells (< min_cells {min_cells})"


def type_codes(phenotype: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct phenotypes and each cell's index into them.

    ``np.unique(phenotype, return_inverse=True)``'s answer, found by hashing instead of
    sorting a million strings (10x faster).

    Returns
    -------
    names : (T,) sorted phenotypes; codes : (N,) int64 in [0, T)
    """
    codes, names = pd.factorize(np.asarray(phenotype), sort=True)
    return np.asarray(names), codes.astype(np.int64, copy=False)
