"""The presets: simulated fields, each a tissue layout with an immune pattern, in one table.

A preset (a row of ``PRESET_TABLE``) names the layout of its tissue and tumor (see
:mod:`frontline.simulate.world`), its immune pattern as a density table, whether its stromal
immune cells gather in aggregates, and the immune call a reader of the field would make. A new
field is a new row here.

Layouts: ``mass`` (one irregular tumor mass in stroma: the demo's), ``nests`` (tumor nests
separated by thin stroma, 15-60 µm), ``septa`` (a tumor-rich field cut by stromal septa of
25-50 µm and stromal pockets, tumor up to the image border), ``core`` (a tissue-microarray core
of 0.6 mm with glass around it) and ``compartments`` (tumor and stroma in large interlocking
compartments).

The demo's presets (``inflamed``, ``excluded``, ``desert``) draw 2,600 tumor cells/mm² with
nuclei of 10-16 µm (spacing 13 µm) and 1,100 stromal cells/mm²; the other fields are made like
the real breast carcinomas of the TNBC MIBI cohort (``REAL_LIKE``): 4,500 tumor cells/mm² with
nuclei of 7.6-12 µm (spacing 9.5-10 µm; the real fields have 7.5-9.6 µm) and 2,000 stromal
cells/mm².

Density model (cells per mm² against signed distance ``d`` to the front, µm, negative
inside the tumor), the same for every slide size; see :func:`expected_density_per_mm2`::

    s(d)    = 1 / (1 + exp(-d / 8 µm))                      # 0 inside -> 1 in stroma
    band(d) = exp(-0.5 * ((d - 25 µm) / 30 µm)**2)          # a pile just outside the front
    lambda(d) = inside + (outside - inside) * s(d) + peak * s(d) * band(d)
    tumor:  lambda(d) = 2600 if d < 0 else 0               # a hard edge

with (inside, outside, peak) in cells/mm². Immune patterns:

=========== =============== =============== =============== ================= ===============
phenotype   inflamed        excluded        desert          compartmentalized mixed
=========== =============== =============== =============== ================= ===============
CD8_T       320, 180, 120   15, 120, 700    6, 12, 0        10, 150, 1100     300, 220, 0
T_helper    200, 200, 80    10, 120, 450    6, 14, 0        10, 150, 1100     250, 220, 0
B_cell      30, 80, 20      2, 60, 120      1, 4, 0         2, 60, 500        40, 60, 0
macrophage  180, 120, 60    25, 100, 300    12, 20, 0       30, 120, 300      200, 150, 0
neutrophil  60, 40, 20      5, 30, 60       3, 6, 0         5, 30, 60         40, 40, 0
stromal     120, 1100, 0    (every pattern)
tumor       2600 inside     (every pattern)
=========== =============== =============== =============== ================= ===============

In the ``compartmentalized`` pattern the stromal immune cells gather in aggregates
(``aggregates``: their density is modulated by a clustered field of 30-120 µm patches,
:func:`frontline.simulate.world.aggregate_field`), dense ones touching the tumor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# the panel of every simulated image
CHANNELS = ("DAPI", "PanCK", "CD45", "CD3", "CD8", "CD68", "CD20", "MPO")
PHENOTYPES = ("tumor", "CD8_T", "T_helper", "B_cell", "macrophage", "neutrophil", "stromal")
IMMUNE = ("CD8_T", "T_helper", "B_cell", "macrophage", "neutrophil")
PHENOTYPE_CODES = {p: i for i, p in enumerate(PHENOTYPES)}  # phenotype -> cell "code"
LAYOUTS = ("mass", "nests", "septa", "core", "compartments")

# immune pattern -> phenotype -> (inside, outside, peak at the front), cells/mm²
PATTERNS = {
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
    "compartmentalized": {
        "CD8_T": (10, 150, 1100),
        "T_helper": (10, 150, 1100),
        "B_cell": (2, 60, 500),
        "macrophage": (30, 120, 300),
        "neutrophil": (5, 30, 60),
    },
    "mixed": {
        "CD8_T": (300, 220, 0),
        "T_helper": (250, 220, 0),
        "B_cell": (40, 60, 0),
        "macrophage": (200, 150, 0),
        "neutrophil": (40, 40, 0),
    },
}
for _table in PATTERNS.values():
    _table["stromal"] = (120, 1100, 0)
    _table["tumor"] = (2600, 0, 0)

# the fields made to look like real breast carcinoma (median spacing of tumor cells 8-10 µm
# in the TNBC MIBI fields, cell-rich stroma): denser, smaller tumor nuclei, denser stroma
REAL_LIKE = {"tumor_per_mm2": 4500.0, "stromal_per_mm2": 2000.0, "tumor_radius_um": (3.8, 6.0)}


@dataclass(frozen=True)
class Preset:
    """A simulated field: tissue layout, immune pattern and the call a reader would make."""

    layout: str  # one of LAYOUTS
    pattern: str  # a key of PATTERNS
    call: str  # inflamed | excluded | desert
    aggregates: bool = False  # stromal immune cells gather in aggregates
    tumor_per_mm2: float = 2600.0  # tumor cells inside the tumor
    stromal_per_mm2: float = 1100.0  # stromal cells (fibroblasts) in the stroma
    tumor_radius_um: tuple = (5.0, 8.0)  # tumor nucleus radius range (before the aspect)
    description: str = ""

    @property
    def densities(self) -> dict:
        """phenotype -> (inside, outside, peak), cells/mm²."""
        table = dict(PATTERNS[self.pattern])
        table["tumor"] = (self.tumor_per_mm2, 0, 0)
        table["stromal"] = (table["stromal"][0], self.stromal_per_mm2, 0)
        return table


PRESET_TABLE = {
    "inflamed": Preset("mass", "inflamed", "inflamed", description="one mass, T cells inside"),
    "excluded": Preset("mass", "excluded", "excluded", description="one mass, T cells around"),
    "desert": Preset("mass", "desert", "desert", description="one mass, few immune cells"),
    "nests": Preset(
        "nests", "excluded", "excluded", **REAL_LIKE, description="nests in thin stroma"
    ),
    "septa": Preset(
        "septa", "desert", "desert", **REAL_LIKE, description="tumor-rich, septa and pockets"
    ),
    "tma_core": Preset(
        "core", "excluded", "excluded", **REAL_LIKE, description="a 0.6 mm TMA core in glass"
    ),
    "compartmentalized": Preset(
        "compartments",
        "compartmentalized",
        "excluded",
        aggregates=True,
        **REAL_LIKE,
        description="tumor and immune aggregates in separate compartments",
    ),
    "mixed": Preset(
        "septa", "mixed", "inflamed", **REAL_LIKE, description="tumor-rich, immune among tumor"
    ),
}
PRESETS = tuple(PRESET_TABLE)
DENSITY_TABLE = {name: preset.densities for name, preset in PRESET_TABLE.items()}

TRANSITION_UM = 8.0  # width of the inside -> outside step (logistic scale)
BAND_CENTER_UM = 25.0  # the pile at the front sits this far out in the stroma
BAND_SIGMA_UM = 30.0
DIST_CLIP_UM = 250.0  # beyond this distance every density is flat


def preset_of(name: str) -> Preset:
    """The row of ``PRESET_TABLE`` named ``name`` (ValueError naming the choices)."""
    if name not in PRESET_TABLE:
        raise ValueError(f"unknown preset {name!r}; choose one of {PRESETS}")
    return PRESET_TABLE[name]


def expected_density_per_mm2(
    preset: str, phenotype: str, dist_um: float | np.ndarray
) -> np.ndarray:
    """The density model the simulator draws cells from (before aggregates and tissue).

    Parameters
    ----------
    preset : a name of ``PRESETS``
    phenotype : one of ``PHENOTYPES``
    dist_um : float or (N,) array, signed distance to the front, µm (negative inside)

    Returns
    -------
    density : float array shaped like ``dist_um``, cells per mm²
    """
    table = preset_of(preset).densities
    if phenotype not in PHENOTYPE_CODES:
        raise ValueError(f"unknown phenotype {phenotype!r}; choose one of {PHENOTYPES}")
    d = np.asarray(dist_um, dtype=float)
    inside, outside, peak = table[phenotype]
    if phenotype == "tumor":
        return np.where(d < 0, float(inside), float(outside))
    s = 0.5 * (1.0 + np.tanh(d / (2.0 * TRANSITION_UM)))  # the logistic, overflow-free
    band = np.exp(-0.5 * ((d - BAND_CENTER_UM) / BAND_SIGMA_UM) ** 2)
    return inside + (outside - inside) * s + peak * s * band
