"""The sample's immune phenotype call and its one-line-per-key summary (``summary.json``).

Immune phenotype call
---------------------
From the density of the ``call.phenotype`` cells (default CD8_T; densities over the regions):

- ``no_front``: there is no invasive front (no tumor, or tumor everywhere);
- ``inflamed``: density inside the tumor (tumor core, or the inner margin when the core has less
  than 0.01 mm²) >= ``call.inflamed_min_per_mm2``;
- ``excluded``: otherwise, density in the outer margin >= ``call.excluded_min_per_mm2``;
- ``desert``: otherwise;
- ``not_computable``: an inflamed or excluded call that fewer than ``spatial.min_cells``
  cells of the phenotype (in the tissue) would make (``common.too_few_cells``); a desert is
  a desert because it has few cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .common import ALL_IMMUNE, REGIONS, not_computable, too_few_cells

if TYPE_CHECKING:
    from ..regions import Regions
    from .params import Params


def phenotype_call(
    region_table: pd.DataFrame, has_front: bool, call: dict, min_cells: int = 0
) -> tuple[str, str]:
    """Immune phenotype of the sample: inflamed, excluded, desert, no_front or not_computable.

    Parameters
    ----------
    region_table : output of :func:`frontline.spatial.densities.region_densities`
    has_front : bool
    call : dict with ``phenotype``, ``inflamed_min_per_mm2``, ``excluded_min_per_mm2``
    min_cells : an inflamed or excluded call from fewer cells of the phenotype (in the
        tissue) is ``not_computable``

    Returns
    -------
    (call, reason) : str, str
    """
    decided, reason = _call(region_table, has_front, call)
    if decided in ("inflamed", "excluded"):
        tab = region_table[region_table["phenotype"] == call["phenotype"]]
        few = too_few_cells(call["phenotype"], int(tab["n_cells"].sum()), min_cells)
        if few:
            return "not_computable", f"{few}; by density it would be {decided} ({reason})"
    return decided, reason


def _call(region_table, has_front, call):
    if not has_front:
        return "no_front", "no invasive front (no tumor region, or tumor everywhere)"
    name = call["phenotype"]
    tab = region_table[region_table["phenotype"] == name].set_index("region")
    if tab.empty:
        return "desert", f"no {name} cells"
    inner = "tumor_core" if tab.loc["tumor_core", "area_mm2"] >= 0.01 else "inner_margin"
    d_in = float(np.nan_to_num(tab.loc[inner, "density_per_mm2"]))
    d_out = float(np.nan_to_num(tab.loc["outer_margin", "density_per_mm2"]))
    if d_in >= call["inflamed_min_per_mm2"]:
        return "inflamed", (
            f"{name} density in {inner} {d_in:.0f}/mm² >= {call['inflamed_min_per_mm2']:g}"
        )
    if d_out >= call["excluded_min_per_mm2"]:
        return "excluded", (
            f"{name} density in {inner} {d_in:.0f}/mm² < "
            f"{call['inflamed_min_per_mm2']:g}, in outer_margin {d_out:.0f}/mm² >= "
            f"{call['excluded_min_per_mm2']:g}"
        )
    return "desert", (
        f"{name} density in {inner} {d_in:.0f}/mm² < {call['inflamed_min_per_mm2']:g}, "
        f"in outer_margin {d_out:.0f}/mm² < {call['excluded_min_per_mm2']:g}"
    )


def _num(value):
    value = float(value)
    return None if not np.isfinite(value) else value


def summarize(
    cells: pd.DataFrame,
    regions: Regions,
    region_table: pd.DataFrame,
    nearest: pd.DataFrame,
    mixing: pd.DataFrame,
    params: Params,
    immune_lineage: Sequence[str],
    sample: str | None = None,
) -> dict:
    """One flat dict per sample (keys carry units), for ``summary.json`` and the cohort table.

    Keys: ``sample``, ``phenotype_call``, ``phenotype_call_reason``, ``has_front``,
    ``tumor_source``, ``front_length_um``, ``tissue_area_mm2``, ``tumor_area_mm2``,
    ``area_mm2_{region}``, ``n_cells``, ``n_cells_{type}``, ``density_per_mm2_{region}_{type}``,
    ``ratio_intratumoral_stromal_{type}`` (density inside the tumor / outside it, both within
    the tissue), ``fraction_near_front_{type}`` (share of the type's cells in tissue with
    |distance| <= ``near_front_um``), ``median_dist_front_um_{type}``,
    ``median_dist_nearest_tumor_um_{type}``, ``mixing_score``, ``mixing_score_{type}``;
    ``not_computable`` maps each null key to its reason. Types: the immune types,
    ``all_immune`` and the tumor phenotype. NaN is written as None (JSON null).
    """
    p = params
    phen = cells["phenotype"].astype(str).to_numpy()
    dist = cells["dist_front_um"].to_numpy(dtype=float)
    in_tissue = cells["in_tissue"].to_numpy(dtype=bool)
    has_front = regions.has_front
    call, reason = phenotype_call(region_table, has_front, p.call, p.min_cells)
    out = {
        "sample": sample,
        "phenotype_call": call,
        "phenotype_call_reason": reason,
        "has_front": bool(has_front),
        "tumor_source": regions.source,
        "front_length_um": float(regions.front.length),
        "tissue_area_mm2": float(regions.tissue.area / 1e6),
        "tumor_area_mm2": float(regions.tumor.area / 1e6),
    }
    areas = region_table.drop_duplicates("region").set_index("region")["area_mm2"]
    for reg in REGIONS:
        out[f"area_mm2_{reg}"] = _num(areas.get(reg, np.nan))
    out["n_cells"] = int(len(cells))
    types = list(p.immune_types) + [ALL_IMMUNE, p.tumor_phenotype]
    masks = {
        t: np.isin(phen, list(immune_lineage)) if t == ALL_IMMUNE else phen == t for t in types
    }
    for t in types:
        out[f"n_cells_{t}"] = int(masks[t].sum())
    counts = region_table.pivot(index="phenotype", columns="region", values="n_cells")
    for t in types:
        for reg in REGIONS:
            n = counts.at[t, reg] if t in counts.index else 0
            out[f"density_per_mm2_{reg}_{t}"] = (
                _num(n / areas[reg]) if areas.get(reg, 0) > 0 else None
            )
    skipped = {}

    def put(key, value, why):
        out[key] = None if why else _num(value)
        if why or out[key] is None:
            skipped[key] = why or "undefined (division by zero)"

    for t in types:
        n = int(masks[t].sum())
        few = not_computable(t, n, p.min_cells) if n < p.min_cells else ""
        why = few or ("" if has_front else "no invasive front")
        n_in = sum(counts.at[t, r] for r in REGIONS[:2]) if t in counts.index else 0
        n_out = sum(counts.at[t, r] for r in REGIONS[2:]) if t in counts.index else 0
        a_in, a_out = areas[list(REGIONS[:2])].sum(), areas[list(REGIONS[2:])].sum()
        ratio = (
            (n_in / a_in) / (n_out / a_out) if (a_in > 0 and a_out > 0 and n_out > 0) else np.nan
        )
        put(
            f"ratio_intratumoral_stromal_{t}",
            ratio,
            why or ("" if n_out > 0 else f"no {t} cells outside the tumor"),
        )
        d = dist[masks[t] & in_tissue & ~np.isnan(dist)]
        near = float(np.mean(np.abs(d) <= p.near_front_um)) if len(d) else np.nan
        put(f"fraction_near_front_{t}", near, why)
        put(f"median_dist_front_um_{t}", np.median(d) if len(d) else np.nan, why)
    for _, row in nearest.iterrows():
        put(f"median_dist_nearest_tumor_um_{row['phenotype']}", row["median_um"], row["reason"])
    for _, row in mixing.iterrows():
        key = (
            "mixing_score" if row["phenotype"] == ALL_IMMUNE else f"mixing_score_{row['phenotype']}"
        )
        put(key, row["mixing_score"], row["reason"])
    out["not_computable"] = skipped
    return out
