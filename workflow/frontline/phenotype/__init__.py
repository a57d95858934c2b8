"""Phenotypes from marker gates and a hierarchical phenotype table.

Modules: ``tree`` (the phenotype table checked, lineages), ``markers`` (which markers are
gated, where, and their known negatives), ``gates`` (a sample's gates table, a batch's
gates), ``assign`` (each cell's phenotype; one sample phenotyped as configured).

Three steps, each a pure function on the ``cells.parquet`` table:

1. :func:`parse_phenotypes` checks the config's phenotype tree (parents, markers, cycles).
2. :mod:`frontline.gating` finds a gate per marker (``auto`` or a number from the config) and
   turns gates into ``{marker}_positive`` columns.
3. :func:`assign_phenotypes` gives each cell its most specific matching phenotype; a cell
   positive for two lineages listed together in ``exclusive`` is settled by how far its
   markers clear their gates (:func:`frontline.gating.exclusive_margins`).

:func:`phenotype_cells` runs the three on one sample as the config's ``phenotyping:`` section
says. The tree also answers which phenotypes are immune (:func:`immune_lineage`) and which
lineage a phenotype belongs to (:func:`lineage_of`).
"""

import lazy_loader

# the names below are imported from their modules when first used: the workflow's startup
# needs only the tree and the markers, not the gating behind ``assign``
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "assign": ["assign_phenotypes", "phenotype_cells"],
        "gates": ["batch_gates_of", "sample_gates", "with_sample_gates"],
        "markers": ["gated_markers", "reference_markers", "ring_median_markers"],
        "tree": [
            "AMBIGUOUS",
            "OTHER",
            "ancestors",
            "immune_lineage",
            "lineage_of",
            "parse_phenotypes",
        ],
    },
)
