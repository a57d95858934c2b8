"""The immune phenotype call (inflamed, excluded, desert) and the evidence it rests on.

Definitions (Chen & Mellman 2017, Nature 541:321; Hegde et al. 2016, Clin Cancer Res 22:1865):
an *inflamed* tumor has CD8 T cells in contact with tumor cells, in the tumor epithelium; an
*excluded* tumor has them at the invasive margin or in the stroma but not in the epithelium; an
*immune desert* has few anywhere. Keren et al. 2018 (Cell 174:1373) classify TNBC on the same
axis from all immune cells: *mixed* (immune cells mingled with tumor cells) and
*compartmentalized* (immune and tumor cells in separate compartments).

The cells of ``call.phenotype`` (``all_immune``: the immune lineage) in the tissue count:

- a cell *infiltrates* when it lies inside the tumor region or within ``call.contact_um``
  (10 µm, centroid to centroid: nuclei touching) of a tumor cell;
- ``no_front``: there is no tumor region;
- when the tumor fills the tissue (no stroma with cells in the field, no front), only
  ``inflamed`` can be seen: every cell of the phenotype lies in the tumor, so the sample is
  inflamed when their density there reaches ``call.desert_max_per_mm2`` (and there are at least
  ``spatial.min_cells``); otherwise it is ``not_computable``, since without stroma an excluded
  tumor cannot be told from a desert;
- ``desert``: the density inside the tumor and the density in the outer margin (0 to
  ``margin_um`` outside the front) are both below ``call.desert_max_per_mm2``; but
  ``not_computable`` when the tumor and its outer margin are too small to tell (at
  ``call.desert_max_per_mm2`` they would hold fewer than ``spatial.min_cells`` cells);
- ``not_computable`` also when the sample is not a desert and has fewer than
  ``spatial.min_cells`` cells of the phenotype (100/mm²; an
  HNSCC study, J Immunother Cancer 2024, doi 10.1136/jitc-2024-009550, used 100 CD8/mm² in
  the tumor centre and 200/mm² at the invasive margin; there is no consensus threshold,
  Tiwari et al. 2023, Front Immunol, doi 10.3389/fimmu.2023.1084887);
- ``inflamed``: otherwise, when the infiltrating share reaches ``call.inflamed_min_fraction``
  (0.3: on the 17 TNBC fields of Keren et al., all immune cells, mixed tumors have 0.31-1.0,
  compartmentalized ones 0.09-0.25);
- ``excluded``: otherwise.

The call is *confident* when the 95 % interval of the number it rests on lies on one side of
its threshold (Wilson interval of the share; exact Poisson intervals of the densities).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .common import ALL_IMMUNE

CALLS = ("inflamed", "excluded", "desert", "no_front", "not_computable")
Z95 = 1.959963984540054  # two-sided 95 %


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion k / n (NaN, NaN for n = 0)."""
    if n <= 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def poisson_interval(k: int, alpha: float = 0.05) -> tuple[float, float]:
    """Exact (Garwood) interval of a Poisson count k."""
    lo = 0.0 if k == 0 else stats.chi2.ppf(alpha / 2, 2 * k) / 2
    hi = stats.chi2.ppf(1 - alpha / 2, 2 * k + 2) / 2
    return float(lo), float(hi)


def call_evidence(
    cells: pd.DataFrame,
    region_table: pd.DataFrame,
    call: dict,
    immune_lineage: Sequence[str],
) -> dict:
    """The numbers the call rests on, for the cells of ``call["phenotype"]`` in the tissue.

    Parameters
    ----------
    cells : DataFrame with ``phenotype``, ``in_tissue``, ``in_tumor``, ``region`` and
        ``dist_nearest_tumor_um`` (the spatial step's per-cell columns)
    region_table : :func:`frontline.spatial.densities.region_densities` (its areas are used)
    call : the config's ``spatial: call`` section
    immune_lineage : phenotypes counted as ``all_immune``

    Returns
    -------
    dict: ``phenotype``, ``n_cells`` (in the tissue), ``n_in_tumor``, ``n_outer_margin``,
    ``area_mm2_tumor``, ``area_mm2_outer_margin``, ``area_mm2_stroma`` (all tissue outside the
    tumor), ``density_per_mm2_tumor``, ``density_per_mm2_outer_margin``,
    ``density_per_mm2_stroma``, ``ratio_intratumoral_stromal``, ``fraction_in_tumor``,
    ``fraction_contact``, ``fraction_infiltrating`` with ``_ci_low`` / ``_ci_high`` (Wilson
    95 %); NaN where undefined.
    """
    name = call["phenotype"]
    phen = cells["phenotype"].astype(str).to_numpy()
    mask = np.isin(phen, list(immune_lineage)) if name == ALL_IMMUNE else phen == name
    sel = mask & cells["in_tissue"].to_numpy(dtype=bool)
    in_tumor = cells["in_tumor"].to_numpy(dtype=bool) & sel
    outer = (cells["region"].astype(str).to_numpy() == "outer_margin") & sel
    contact = (cells["dist_nearest_tumor_um"].to_numpy(dtype=float) <= call["contact_um"]) & sel
    infiltrating = in_tumor | contact
    areas = region_table.drop_duplicates("region").set_index("region")["area_mm2"]
    a_tumor = float(areas.get("tumor_core", 0.0) + areas.get("inner_margin", 0.0))
    a_outer = float(areas.get("outer_margin", 0.0))
    a_out = float(a_outer + areas.get("stroma", 0.0))
    n, n_in, n_outer = int(sel.sum()), int(in_tumor.sum()), int(outer.sum())

    def per(count, area):
        return count / area if area > 0 else float("nan")

    d_tumor, d_outer, d_out = per(n_in, a_tumor), per(n_outer, a_outer), per(n - n_in, a_out)
    k_inf = int(infiltrating.sum())
    lo, hi = wilson_interval(k_inf, n)
    return {
        "phenotype": name,
        "n_cells": n,
        "n_in_tumor": n_in,
        "n_outer_margin": n_outer,
        "area_mm2_tumor": a_tumor,
        "area_mm2_outer_margin": a_outer,
        "area_mm2_stroma": a_out,
        "density_per_mm2_tumor": d_tumor,
        "density_per_mm2_outer_margin": d_outer,
        "density_per_mm2_stroma": d_out,
        "ratio_intratumoral_stromal": d_tumor / d_out if d_out > 0 else float("nan"),
        "fraction_in_tumor": n_in / n if n else float("nan"),
        "fraction_contact": int(contact.sum()) / n if n else float("nan"),
        "fraction_infiltrating": k_inf / n if n else float("nan"),
        "fraction_infiltrating_ci_low": lo,
        "fraction_infiltrating_ci_high": hi,
    }


def immune_call(
    evidence: dict,
    call: dict,
    min_cells: int,
    no_front_reason: str = "",
    tumor_fills_tissue: bool = False,
) -> tuple[str, str, str | None]:
    """The call from its evidence (:func:`call_evidence`), with its reason and confidence.

    Parameters
    ----------
    evidence : :func:`call_evidence`
    call : the config's ``spatial: call`` section
    min_cells : the spatial step's ``min_cells``
    no_front_reason : why there is no invasive front ("" when there is one)
    tumor_fills_tissue : there is no front because the tumor fills the tissue

    Returns
    -------
    (call, reason, confidence): call in :data:`CALLS`; confidence ``high`` (the 95 % interval
    of the deciding number lies on one side of its threshold), ``low``, or None when there is
    no call
    """
    e, name = evidence, evidence["phenotype"]
    desert_max = call["desert_max_per_mm2"]
    if no_front_reason and tumor_fills_tissue:
        return _without_stroma(e, desert_max, min_cells, no_front_reason)
    if no_front_reason:
        return "no_front", no_front_reason, None
    area = e["area_mm2_tumor"] + e["area_mm2_outer_margin"]
    d_in, d_out = e["density_per_mm2_tumor"], np.nan_to_num(e["density_per_mm2_outer_margin"])
    densities = (
        f"{name} {d_in:.0f}/mm² in the tumor, {d_out:.0f}/mm² in the outer margin "
        f"(n = {e['n_cells']})"
    )
    if d_in < desert_max and d_out < desert_max:
        if desert_max * area < min_cells:
            return (
                "not_computable",
                f"{densities}, both < {desert_max:g}/mm², but the tumor and its outer margin "
                f"cover only {area:.3f} mm²: at {desert_max:g}/mm² they would hold "
                f"{desert_max * area:.1f} cells, fewer than min_cells ({min_cells})",
                None,
            )
        upper = [
            poisson_interval(e["n_in_tumor"])[1] / e["area_mm2_tumor"],
            poisson_interval(e["n_outer_margin"])[1] / e["area_mm2_outer_margin"]
            if e["area_mm2_outer_margin"] > 0
            else 0.0,
        ]
        confidence = "high" if max(upper) < desert_max else "low"
        return "desert", f"{densities}, both < {desert_max:g}/mm²", confidence
    if e["n_cells"] < min_cells:
        return (
            "not_computable",
            f"{e['n_cells']} {name} cells in the tissue, fewer than min_cells ({min_cells})",
            None,
        )
    share, threshold = e["fraction_infiltrating"], call["inflamed_min_fraction"]
    low, high = e["fraction_infiltrating_ci_low"], e["fraction_infiltrating_ci_high"]
    infiltrating = (
        f"{share:.0%} of {name} cells in the tumor or within {call['contact_um']:g} µm of a "
        f"tumor cell (95 % interval {low:.0%}-{high:.0%})"
    )
    if share >= threshold:
        confidence = "high" if low >= threshold else "low"
        return "inflamed", f"{infiltrating} >= {threshold:.0%}; {densities}", confidence
    confidence = "high" if high < threshold else "low"
    return "excluded", f"{infiltrating} < {threshold:.0%}; {densities}", confidence


def _without_stroma(e: dict, desert_max: float, min_cells: int, why: str):
    """The call of a field the tumor fills: inflamed from enough cells, else unknown."""
    name, n, area = e["phenotype"], e["n_in_tumor"], e["area_mm2_tumor"]
    density = n / area if area > 0 else 0.0
    stated = f"{why}; {name} {density:.0f}/mm² in the tumor (n = {n})"
    if n < min_cells or density < desert_max:
        return (
            "not_computable",
            f"{stated}: below {desert_max:g}/mm² or fewer than min_cells ({min_cells}), and "
            "without stroma an excluded tumor cannot be told from a desert",
            None,
        )
    confidence = "high" if poisson_interval(n)[0] / area >= desert_max else "low"
    return "inflamed", f"{stated} >= {desert_max:g}/mm², all of them among tumor cells", confidence


def call_summary(evidence: dict, decision: tuple[str, str, str | None], call: dict) -> dict:
    """The call and its evidence as ``summary.json`` keys (``phenotype_call*``, ``call_*``).

    Keys: ``phenotype_call``, ``phenotype_call_reason``, ``phenotype_call_confidence``,
    ``call_phenotype``, ``call_n_cells``, ``call_density_per_mm2_{tumor,outer_margin,stroma}``,
    ``call_ratio_intratumoral_stromal``, ``call_fraction_{in_tumor,contact,infiltrating}``,
    ``call_fraction_infiltrating_ci_{low,high}``, ``call_margin_fraction`` (infiltrating share
    minus ``inflamed_min_fraction``), ``call_margin_density_per_mm2`` (the larger of the tumor
    and outer-margin densities minus ``desert_max_per_mm2``: negative in a desert) and the
    thresholds ``call_inflamed_min_fraction``, ``call_desert_max_per_mm2``, ``call_contact_um``.
    Numbers may be NaN (written as null by the caller).
    """
    e = evidence
    label, reason, confidence = decision
    peak = np.nanmax([e["density_per_mm2_tumor"], e["density_per_mm2_outer_margin"], -np.inf])
    out = {
        "phenotype_call": label,
        "phenotype_call_reason": reason,
        "phenotype_call_confidence": confidence,
        "call_phenotype": e["phenotype"],
        "call_n_cells": e["n_cells"],
    }
    for key in (
        "density_per_mm2_tumor",
        "density_per_mm2_outer_margin",
        "density_per_mm2_stroma",
        "ratio_intratumoral_stromal",
        "fraction_in_tumor",
        "fraction_contact",
        "fraction_infiltrating",
        "fraction_infiltrating_ci_low",
        "fraction_infiltrating_ci_high",
    ):
        out[f"call_{key}"] = e[key]
    out["call_margin_fraction"] = e["fraction_infiltrating"] - call["inflamed_min_fraction"]
    out["call_margin_density_per_mm2"] = (
        peak - call["desert_max_per_mm2"] if np.isfinite(peak) else float("nan")
    )
    out["call_inflamed_min_fraction"] = call["inflamed_min_fraction"]
    out["call_desert_max_per_mm2"] = call["desert_max_per_mm2"]
    out["call_contact_um"] = call["contact_um"]
    return out
