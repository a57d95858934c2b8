"""The sample's one-line-per-key summary (``summary.json``), with the immune phenotype call.

The call and its evidence come from :mod:`frontline.spatial.call` (its own keys, so that QC
flags and other evidence can be added beside them); the nests (tumor parts) from
:func:`frontline.regions.nest_table`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..regions import nest_table
from .call import call_evidence, call_summary, immune_call
from .common import ALL_IMMUNE, REGIONS, not_computable

if TYPE_CHECKING:
    from ..regions import Regions
    from .params import Params


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
    nests: pd.DataFrame | None = None,
) -> dict:
    """One flat dict per sample (keys carry units), for ``summary.json`` and the cohort table.

    Keys: ``sample``, the call and its evidence (:func:`frontline.spatial.call.call_summary`:
    ``phenotype_call``, ``phenotype_call_reason``, ``phenotype_call_confidence``, ``call_*``),
    ``has_front``, ``no_front_reason``, ``tumor_source``, ``front_length_um``,
    ``tissue_area_mm2``, ``tumor_area_mm2``, the outline's scale (``tumor_cell_spacing_um``,
    ``front_closing_um``), the nests (``n_nests``, ``nest_area_um2_median``,
    ``nest_area_um2_largest``, ``nest_front_length_um_median``: tumor parts and the front along
    each), ``area_mm2_{region}``, ``n_cells``, ``n_cells_{type}``,
    ``density_per_mm2_{region}_{type}``,
    ``ratio_intratumoral_stromal_{type}`` (density inside the tumor / outside it, both within
    the tissue), ``fraction_near_front_{type}`` (share of the type's cells in tissue with
    |distance| <= ``near_front_um``), ``median_dist_front_um_{type}``,
    ``median_dist_nearest_tumor_um_{type}``, ``mixing_score``, ``mixing_score_{type}``;
    ``not_computable`` maps each null key to its reason (without a front: every distance-based
    key, with ``no_front_reason``). Types: the immune types, ``all_immune`` and the tumor
    phenotype. NaN is written as None (JSON null). ``nests``: the nests table
    (:func:`frontline.regions.nest_table`; None: made from ``regions``).
    """
    p = params
    phen = cells["phenotype"].astype(str).to_numpy()
    dist = cells["dist_front_um"].to_numpy(dtype=float)
    in_tissue = cells["in_tissue"].to_numpy(dtype=bool)
    has_front = regions.has_front
    no_front = regions.no_front_reason
    out, skipped = {"sample": sample}, {}

    def put(key, value, why=""):
        out[key] = None if why else _num(value)
        if why or out[key] is None:
            skipped[key] = why or "undefined (division by zero)"

    evidence = call_evidence(cells, region_table, p.call, immune_lineage)
    decision = immune_call(evidence, p.call, p.min_cells, no_front, regions.tumor_fills_tissue)
    for key, value in call_summary(evidence, decision, p.call).items():
        if isinstance(value, str) or value is None or key == "call_n_cells":
            out[key] = value
        else:
            margin = key == "call_density_per_mm2_outer_margin"
            put(key, value, no_front if margin else "")
    out.update(
        {
            "has_front": bool(has_front),
            "no_front_reason": no_front or None,
            "tumor_source": regions.source,
            "front_length_um": float(regions.front.length),
            "tissue_area_mm2": float(regions.tissue.area / 1e6),
            "tumor_area_mm2": float(regions.tumor.area / 1e6),
        }
    )
    scale = regions.outline_scale
    untraced = "no tumor region" if regions.tumor.is_empty else "the tumor was not traced"
    put(
        "tumor_cell_spacing_um",
        scale.get("tumor_cell_spacing_um", np.nan),
        "" if scale else untraced,
    )
    put("front_closing_um", scale.get("closing_um", np.nan), "" if scale else untraced)
    nests = nest_table(regions) if nests is None else nests
    out["n_nests"] = int(len(nests))
    none = "" if len(nests) else "no tumor region"
    put("nest_area_um2_median", nests["area_um2"].median() if none == "" else np.nan, none)
    put("nest_area_um2_largest", nests["area_um2"].max() if none == "" else np.nan, none)
    front_length = nests["front_length_um"].median() if none == "" else np.nan
    put("nest_front_length_um_median", front_length, none or no_front)
    areas = region_table.drop_duplicates("region").set_index("region")["area_mm2"]
    margins = set(REGIONS[1:3])
    for reg in REGIONS:
        put(f"area_mm2_{reg}", areas.get(reg, np.nan), no_front if reg in margins else "")
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
            area = areas.get(reg, 0)
            why = (no_front if reg in margins else "") or ("" if area > 0 else f"no {reg}")
            put(f"density_per_mm2_{reg}_{t}", n / area if area > 0 else np.nan, why)

    for t in types:
        n = int(masks[t].sum())
        few = not_computable(t, n, p.min_cells) if n < p.min_cells else ""
        why = few or no_front
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
