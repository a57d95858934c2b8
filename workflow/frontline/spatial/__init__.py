"""Where are the immune cells relative to the invasive front: distances, densities, neighbours.

Everything is in µm (distances), µm² or mm² (areas) and cells per mm² (densities). The step
(:func:`analyze`, in :mod:`.step`, with :class:`Params` from :mod:`.params`) runs these
stages on one sample, each a module:

- :mod:`.distances`: signed distance of every cell to the invasive front (negative inside the
  tumor), its region (``tumor_core``, ``inner_margin``, ``outer_margin``, ``stroma``) and the
  distance raster of the tissue (:class:`DistanceMap`);
- :mod:`.densities`: cells per mm² of tissue in signed-distance bands and in the regions;
- :mod:`.neighbours`: nearest tumor cell, neighbour counts, kNN compositions and cellular
  neighbourhoods, mixing score;
- :mod:`.pairs`: one pass over every pair of cells within the largest radius, counting what
  the neighbour counts, mixing score, enrichment and L-function need;
- :mod:`.lfunction`: cross L-function of each immune type around tumor cells and its
  random-labelling envelope (closed form, or permutations);
- :mod:`.enrichment`: neighbourhood enrichment z-scores in closed form;
- :mod:`.call`: the immune phenotype call (inflamed, excluded, desert) and its evidence;
- :mod:`.summary`: the flat ``summary.json`` dict.

Per cell the step adds ``dist_front_um`` (NaN without a front), ``region``, ``in_tumor``,
``in_tissue``, ``dist_nearest_tumor_um`` (distance to the nearest other tumor cell) and
``neighbourhood`` (1..n; 0 when not computed).

A statistic of a type with fewer than ``min_cells`` cells is not computable: NaN, with
``computable = False`` and a ``reason`` in the tables. Cells are processed in a spatial order
(row strips of 64 µm) for memory locality; the output keeps the input's row order.
"""

import lazy_loader

# the names below are imported from their modules when first used, so that importing one
# module of the package (e.g. :mod:`.common` at the workflow's startup) does not load them all
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "call": [
            "CALLS",
            "call_evidence",
            "call_summary",
            "immune_call",
            "poisson_interval",
            "wilson_interval",
        ],
        "common": ["ALL_CELLS", "ALL_IMMUNE", "REGIONS", "not_computable"],
        "densities": [
            "band_areas_mm2",
            "band_densities",
            "band_edges",
            "phenotype_groups",
            "region_areas_mm2",
            "region_densities",
        ],
        "distances": [
            "FRONT_WINDOW",
            "DistanceMap",
            "assign_regions",
            "distance_map",
            "locate_cells",
            "padded_front_points",
            "refine_front_distance",
            "signed_distance",
            "spatial_order",
        ],
        "enrichment": ["enrichment_moments", "nhood_enrichment", "radius_graph_counts"],
        "lfunction": [
            "ENVELOPES",
            "add_envelopes",
            "closed_form_band",
            "closed_form_envelope",
            "cross_l_function",
            "l_function_envelope",
            "lfunction_table",
            "relabelled_l_functions",
            "relabelling_moments",
            "window_edge_distance",
        ],
        "neighbours": [
            "cellular_neighbourhoods",
            "knn_composition",
            "mixing_scores",
            "nearest_distance",
            "nearest_tumor_distances",
            "nearest_tumor_table",
            "neighbour_counts",
            "neighbourhood_table",
        ],
        "pairs": ["MOMENTS", "PairCounts", "pair_counts"],
        "params": ["Params"],
        "step": ["TABLES", "SpatialResult", "Timings", "analyze"],
        "summary": ["summarize"],
    },
)
