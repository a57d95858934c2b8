"""Tumor region, tissue region and invasive front, in µm.

Detected from cells (default)
-----------------------------
Tissue, from all nuclei: the morphological closing of the nuclei with a disc of
``tissue_closing_um`` (50 µm; empty space wider than 100 µm is not tissue), computed on a
raster of 2 × ``raster_um`` (4 µm) with two Euclidean distance transforms, its outline smoothed
(``outline_smoothing_um``, 6 µm) and traced with marching squares
(:func:`frontline.geometry.iso_region`, sub-pixel), grown by 0.4 × the mean cell spacing
beyond the outermost nuclei (see the tumor), clipped to the image and extended to the image
border where it stops within ``edge_tolerance_um`` of it (the gap closed with a disc of half
that, :func:`snap_to_frame`); parts smaller than
``tissue_min_region_area_um2`` (10,000 µm²) are dropped and holes smaller than
``tissue_min_hole_area_um2`` (40,000 µm²) filled (:mod:`.tissue`).

Tumor, from the cells of phenotype ``tumor_phenotype`` (:mod:`.tumor`):

1. coarse region (robust against scattered misclassified cells): tumor cells are counted on a
   grid of ``grid_um`` (10 µm), smoothed with a Gaussian of ``smoothing_um`` (20 µm) and
   divided by the equally smoothed tissue mask (normalised convolution: no fall-off at the
   tissue edge); the region is where this density reaches ``threshold`` (0.3) × the sample's
   reference tumor-cell density (the median where tumor cells are the majority of the cells),
   grown by ``smoothing_um``;
2. outline, at the scale of the data (:mod:`.scale`): the closing of the tumor cells with a
   disc of k × their spacing (median nearest-neighbour distance), k chosen from the ladder
   ``scale_ladder`` (2, 2.5, 3, 3.5) as the largest before the count of non-tumor cells it
   encloses grows by more than ``scale_tolerance`` (10 %) in one step; channels between nests
   and enclosed stromal pockets that this closing filled are opened again at
   ``channel_scale`` (1.5) spacings. ``closing_um`` set to a number replaces the ladder by a
   fixed radius. Computed on a ``raster_um`` (2 µm) raster with Euclidean distance
   transforms, smoothed with a Gaussian of ``outline_smoothing_um`` (6 µm), traced with
   marching squares and grown by ``edge_offset_um`` (null: 0.4 × the mean spacing of tumor
   cells at the reference density, 1 / sqrt(density): the true edge lies a little beyond the
   outermost cells);
3. tumor = outline ∩ coarse region ∩ tissue, extended to the tissue outline where it stops
   within ``edge_tolerance_um`` of it (the gap closed, as for the tissue); parts smaller than
   ``min_region_area_um2`` (null: three tumor-cell areas) are dropped and holes smaller than
   ``min_hole_area_um2`` (0) filled;
   parts of the tissue outside the tumor that hold fewer than ``min_stroma_cells`` (5)
   non-tumor cells (a lumen, a tear, a notch at the tissue edge) are added to it: a gap in the
   cells is not stroma.

So nests stay separate when the gap between their outermost tumor cells is wider than about
three spacings (about 16 µm of tissue at the 8 µm spacing of breast carcinoma) and holds
non-tumor cells, and "the tumor fills the tissue" is said only when no part of the tissue
outside the tumor holds ``min_stroma_cells`` non-tumor cells. Accuracy against real references
(HALO's per-cell Tumor/Stroma classes) and the simulator's truth: README.md and
bench/README.md.

The invasive front is the tumor boundary inside the tissue: the parts of the tumor outline that
run within ``edge_tolerance_um`` of the tissue outline (which includes the image border) are
not front, because there the tumor is cut by the slide or the field of view, not bordered by
stroma. The front is a (Multi)LineString; it is empty when there is no tumor or no stroma
(tumor everywhere), and the spatial step then reports every distance-based statistic as not
computable with :attr:`frontline.regions.Regions.no_front_reason`.

An annotation (:func:`frontline.regions.annotation_to_tumor`) replaces the detected tumor; the
tissue is still detected from the nuclei, and when fewer than half of the tumor cells lie
inside the annotation a warning gives the share and the overlap with the cell-derived tumor.
Scale keys that cannot describe the image (0, negative, longer than the image) stop the step
(:func:`check_scales`). The result is a :class:`frontline.regions.Regions` (its
``outline_scale`` records the spacing and the chosen closing), written and read by
:mod:`frontline.regions`.
"""

from .detect import (
    annotation_agreement,
    check_scales,
    detect_regions,
    find_regions,
    invasive_front,
)
from .fields import (
    EDGE_OFFSET_SPACING,
    closing_depth,
    closing_field,
    point_distance,
    smoothed_density,
    spacing_offset_um,
)
from .scale import (
    Scale,
    choose_scale,
    outline_field,
    region_mask,
    stroma_openings,
    tumor_cell_spacing_um,
)
from .tissue import snap_to_frame, tissue_region
from .tumor import absorb_empty_gaps, coarse_region, tumor_region

__all__ = [
    "EDGE_OFFSET_SPACING",
    "Scale",
    "absorb_empty_gaps",
    "annotation_agreement",
    "check_scales",
    "choose_scale",
    "closing_depth",
    "closing_field",
    "coarse_region",
    "detect_regions",
    "find_regions",
    "invasive_front",
    "outline_field",
    "point_distance",
    "region_mask",
    "smoothed_density",
    "snap_to_frame",
    "spacing_offset_um",
    "stroma_openings",
    "tissue_region",
    "tumor_cell_spacing_um",
    "tumor_region",
]
