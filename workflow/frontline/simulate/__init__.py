"""Synthetic multiplex immunofluorescence (mIF) tissue with known truth.

A simulated sample is a tumor (irregular nests, an invasive front, stroma around it) whose
cells are drawn from a known density model, painted as realistic fluorescence nuclei with
membrane/cytoplasm marker signal, blurred, with background and camera noise. Everything is
in µm and deterministic from a seed (``numpy.random.Generator`` streams keyed by the seed).

Channels: DAPI, PanCK, CD45, CD3, CD8, CD68, CD20, MPO.

Phenotypes and markers
----------------------
=========== ======================= ===========================================
phenotype   markers                 nucleus
=========== ======================= ===========================================
tumor       PanCK (cytoplasm+membr.) 10-16 µm, irregular, dim textured, crowded
CD8_T       CD45, CD3, CD8 (membr.)  6-7 µm round, bright
T_helper    CD45, CD3 (membr.)       6-7 µm round, bright
B_cell      CD45, CD20 (membr.)      6-7 µm round, bright
macrophage  CD45, CD68 (cytoplasm)   9-12.5 µm, oval/bean, large cytoplasm
neutrophil  CD45 (dim), MPO (cyto.)  3-4 connected lobes, ~8-9 µm overall
stromal     none (fibroblast)        elongated, 12-18 x 3.5-5 µm
=========== ======================= ===========================================

Cells are drawn from the density model of a preset (``presets``: one table of fields, each a
tissue layout, an immune pattern as a density table and the call it shows: the demo's
``inflamed``, ``excluded``, ``desert`` masses and fields like real breast carcinoma, ``nests``,
``septa``, ``tma_core``, ``compartmentalized``, ``mixed``), placed so that nuclei do not overlap
(``cells``) around a tumor made from a field (``world``: smooth random waves, or nests of a
Voronoi tessellation), and painted (``render``).
Truth labels are non-overlapping, an earlier painted nucleus keeping a shared pixel. Any window
of a slide can be generated on its own and tiles join seamlessly (:func:`write_large_slide`).

Per-cell marker expression is log-normal (sigma 0.45), with a small non-specific level in
negative cells (~5 % of positive) and 2 % keratin-low tumor cells. Automatic gating of cell
means (3 µm around the nucleus) separates tumor from immune cells at ~97-99 %: markers are
gateable, not trivially separable.

Modules, bottom to top (each imports only those above it):

- ``presets``: the panel, phenotypes, presets and density tables, the density model
- ``world``: the slide's extent, the tumor field and polygon, signed distances to the front
- ``cells``: cells drawn from the densities and placed block by block without overlaps
- ``render``: the cells painted as a fluorescence image, with optics and camera noise
- ``sample``: :func:`simulate_tissue` (image + truth) and :func:`truth_cells` (truth only)
- ``writers``: the sample's file names, its files, big slides written tile by tile
"""

from .cells import BLOCK_UM, MAX_PER_BLOCK, REACH_UM, generate_cells
from .presets import (
    CHANNELS,
    DENSITY_TABLE,
    IMMUNE,
    LAYOUTS,
    PHENOTYPES,
    PRESET_TABLE,
    PRESETS,
    Preset,
    expected_density_per_mm2,
    preset_of,
)
from .render import HALO_UM, render
from .sample import Simulation, simulate_tissue, truth_cells
from .world import (
    MIN_TUMOR_CELLS,
    World,
    make_world,
    observable_tumor,
    signed_distance_um,
    truth_regions,
    tumor_field,
    tumor_polygon,
)
from .writers import (
    TRUTH_SUFFIXES,
    sample_files,
    truth_files,
    tumor_feature_collection,
    write_large_slide,
    write_simulation,
)

__all__ = [
    "BLOCK_UM",
    "CHANNELS",
    "DENSITY_TABLE",
    "HALO_UM",
    "IMMUNE",
    "LAYOUTS",
    "MAX_PER_BLOCK",
    "MIN_TUMOR_CELLS",
    "PHENOTYPES",
    "PRESETS",
    "PRESET_TABLE",
    "Preset",
    "REACH_UM",
    "TRUTH_SUFFIXES",
    "Simulation",
    "World",
    "expected_density_per_mm2",
    "generate_cells",
    "make_world",
    "observable_tumor",
    "preset_of",
    "render",
    "sample_files",
    "signed_distance_um",
    "simulate_tissue",
    "truth_cells",
    "truth_files",
    "tumor_feature_collection",
    "tumor_field",
    "tumor_polygon",
    "truth_regions",
    "write_large_slide",
    "write_simulation",
]
