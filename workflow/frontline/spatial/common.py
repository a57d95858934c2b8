"""Names every spatial statistic shares: the four regions, the pooled groups, "not computable"."""

from __future__ import annotations

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
