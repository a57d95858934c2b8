"""Summary keys of the state groups: PD-1+ CD8 T cells per mm² in the inner margin, and so on.

A state group is the cells of one phenotype (or below it in the tree) in one activation state
(:mod:`frontline.states`), labelled ``{phenotype}+{state}``. Its keys in ``summary.json``
(``{label}`` e.g. ``CD8_T+PD1_pos``; null with a reason in ``not_computable`` like the
phenotypes' keys):

- ``n_cells_{label}``: cells of the group;
- ``fraction_of_phenotype_{label}``: their share of the phenotype's cells (null without any);
- ``density_per_mm2_{region}_{label}``: per mm² of tissue in each region (``tumor_core``,
  ``inner_margin``, ``outer_margin``, ``stroma``; null for a region without tissue);
- ``median_dist_front_um_{label}``, ``fraction_near_front_{label}``: signed distance to the
  invasive front (negative inside the tumor) and the share within ``near_front_um`` (null
  without a front or with fewer than ``min_cells`` cells).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .common import REGIONS, too_few_cells

if TYPE_CHECKING:
    from .params import Params


def state_summary(
    cells: pd.DataFrame,
    groups: Mapping[str, tuple],
    region_table: pd.DataFrame,
    no_front_reason: str,
    params: Params,
) -> tuple[dict, dict]:
    """The summary keys of every state group (see the module docstring).

    Parameters
    ----------
    cells : the spatial step's cells (``dist_front_um``, ``in_tissue``), rows as the masks
    groups : label -> (phenotype, state, (N,) bool mask of the group, (N,) bool mask of the
        phenotype's cells) (:func:`frontline.states.state_groups`)
    region_table : the region densities, with the groups' rows
    no_front_reason : why the sample has no invasive front ("" when it has one:
        :attr:`frontline.regions.Regions.no_front_reason`)
    params : the spatial step's :class:`~frontline.spatial.params.Params`

    Returns
    -------
    (keys, not_computable): the keys, and the reason of each null key
    """
    out, skipped = {}, {}
    dist = cells["dist_front_um"].to_numpy(dtype=float)
    in_tissue = cells["in_tissue"].to_numpy(dtype=bool)
    table = region_table.set_index(["phenotype", "region"])
    for label, (_phenotype, _state, mask, of_mask) in groups.items():
        n, n_of = int(mask.sum()), int(of_mask.sum())
        out[f"n_cells_{label}"] = n
        out[f"fraction_of_phenotype_{label}"] = n / n_of if n_of else None
        if not n_of:
            skipped[f"fraction_of_phenotype_{label}"] = f"no {_phenotype} cells"
        for region in REGIONS:
            key = f"density_per_mm2_{region}_{label}"
            value = table["density_per_mm2"].get((label, region), np.nan)
            out[key] = float(value) if np.isfinite(value) else None
            if out[key] is None:
                skipped[key] = f"no tissue in the {region}"
        why = too_few_cells(label, n, params.min_cells) or no_front_reason
        d = dist[mask & in_tissue & ~np.isnan(dist)]
        values = {
            f"median_dist_front_um_{label}": float(np.median(d)) if d.size else None,
            f"fraction_near_front_{label}": (
                float(np.mean(np.abs(d) <= params.near_front_um)) if d.size else None
            ),
        }
        for key, value in values.items():
            out[key] = None if why else value
            if why or value is None:
                skipped[key] = why or f"no {label} cells in the tissue"
    return out, skipped
