"""The presets: immune patterns as density tables, and the density model cells are drawn from.

A preset is a named immune pattern (``PRESETS``); ``DENSITY_TABLE`` gives, per preset and
phenotype, the density inside the tumor, outside it and the extra pile at the front. A new
pattern is a new row here.

Density model (cells per mm² against signed distance ``d`` to the front, µm, negative
inside the tumor), the same for every slide size; see :func:`expected_density_per_mm2`::

    s(d)    = 1 / (1 + exp(-d / 8 µm))                      # 0 inside -> 1 in stroma
    band(d) = exp(-0.5 * ((d - 25 µm) / 30 µm)**2)          # a pile just outside the front
    lambda(d) = inside + (outside - inside) * s(d) + peak * s(d) * band(d)
    tumor:  lambda(d) = 2600 if d < 0 else 0               # a hard edge

with (inside, outside, peak) in cells/mm² (see ``DENSITY_TABLE``):

=========== =============== =============== ===============
phenotype   inflamed        excluded        desert
=========== =============== =============== ===============
CD8_T       320, 180, 120   15, 120, 700    6, 12, 0
T_helper    200, 200, 80    10, 120, 450    6, 14, 0
B_cell      30, 80, 20      2, 60, 120      1, 4, 0
macrophage  180, 120, 60    25, 100, 300    12, 20, 0
neutrophil  60, 40, 20      5, 30, 60       3, 6, 0
stromal     120, 1100, 0    120, 1100, 0    120, 1100, 0
tumor       2600 inside     2600 inside     2600 inside
=========== =============== =============== ===============
"""

from __future__ import annotations

import numpy as np

# the panel of every simulated image
CHANNELS = ("DAPI", "PanCK", "CD45", "CD3", "CD8", "CD68", "CD20", "MPO")
PHENOTYPES = ("tumor", "CD8_T", "T_helper", "B_cell", "macrophage", "neutrophil", "stromal")
IMMUNE = ("CD8_T", "T_helper", "B_cell", "macrophage", "neutrophil")
PRESETS = ("inflamed", "excluded", "desert")
PHENOTYPE_CODES = {p: i for i, p in enumerate(PHENOTYPES)}  # phenotype -> cell "code"

# preset -> phenotype -> (inside, outside, peak at the front), cells/mm²
DENSITY_TABLE = {
    "inflamed": {
        "CD8_T": (320, 180, 120),
        "T_helper": (200, 200, 80),
        "B_cell": (30, 80, 20),
        "macrophage": (180, 120, 60),
        "neutrophil": (60, 40, 20),
    },
    "excluded": {
        "CD8_T": (15, 120, 700),
        "T_helper": (10, 120, 450),
        "B_cell": (2, 60, 120),
        "macrophage": (25, 100, 300),
        "neutrophil": (5, 30, 60),
    },
    "desert": {
        "CD8_T": (6, 12, 0),
        "T_helper": (6, 14, 0),
        "B_cell": (1, 4, 0),
        "macrophage": (12, 20, 0),
        "neutrophil": (3, 6, 0),
    },
}
for _table in DENSITY_TABLE.values():
    _table["stromal"] = (120, 1100, 0)
    _table["tumor"] = (2600, 0, 0)

TRANSITION_UM = 8.0  # width of the inside -> outside step (logistic scale)
BAND_CENTER_UM = 25.0  # the pile at the front sits this far out in the stroma
BAND_SIGMA_UM = 30.0
DIST_CLIP_UM = 250.0  # beyond this distance every density is flat


def expected_density_per_mm2(
    preset: str, phenotype: str, dist_um: float | np.ndarray
) -> np.ndarray:
    """The density model the simulator draws cells from.

    Parameters
    ----------
    preset : "inflamed" | "excluded" | "desert"
    phenotype : one of ``PHENOTYPES``
    dist_um : float or (N,) array, signed distance to the front, µm (negative inside)

    Returns
    -------
    density : float array shaped like ``dist_um``, cells per mm²
    """
    if preset not in DENSITY_TABLE:
        raise ValueError(f"unknown preset {preset!r}; choose one of {PRESETS}")
    if phenotype not in PHENOTYPE_CODES:
        raise ValueError(f"unknown phenotype {phenotype!r}; choose one of {PHENOTYPES}")
    d = np.asarray(dist_um, dtype=float)
    inside, outside, peak = DENSITY_TABLE[preset][phenotype]
    if phenotype == "tumor":
        return np.where(d < 0, float(inside), float(outside))
    s = 0.5 * (1.0 + np.tanh(d / (2.0 * TRANSITION_UM)))  # the logistic, overflow-free
    band = np.exp(-0.5 * ((d - BAND_CENTER_UM) / BAND_SIGMA_UM) ** 2)
    return inside + (outside - inside) * s + peak * s * band
