"""Names every spatial statistic shares: the four regions, the pooled groups, "not computable"."""

from __future__ import annotations

REGIONS = ("tumor_core", "inner_margin", "outer_margin", "stroma")
ALL_IMMUNE = "all_immune"  # every cell of the immune lineage, pooled
ALL_CELLS = "all_cells"


def not_computable(name: str, n: int, min_cells: int) -> str:
    """The reason a statistic of ``name`` (``n`` cells, fewer than ``min_cells``) is not given."""
    return f"only {n} {name} cells (< min_cells {min_cells})"
