"""Figures. Each function builds and returns a matplotlib Figure; the caller saves it.

- ``gating``: the gating QC figure of each marker (:func:`gating_figure`, :func:`gating_figures`)
- ``overview``: the sample at a glance (:func:`overview_figure`, its channels
  :func:`overview_channels` and title :func:`call_title`)
- ``spatial``: distance profile, neighbourhoods, L-function (:func:`spatial_figures`)
- ``cohort``: immune densities per region across samples (:func:`cohort_figure`)
- ``outcomes``: group effect sizes, hazard ratios, Kaplan-Meier curves (:func:`outcome_figures`)
- ``common``: composites, regions on axes, scale bars
"""

from .cohort import cohort_figure
from .common import composite
from .gating import crop_window, gating_figure, gating_figures
from .outcomes import group_effects_figure, hazard_ratio_figure, km_figure, outcome_figures
from .overview import call_title, overview_channels, overview_figure
from .spatial import (
    distance_profile_figure,
    lfunction_figure,
    neighbourhoods_figure,
    spatial_figures,
)

__all__ = [
    "call_title",
    "cohort_figure",
    "composite",
    "crop_window",
    "distance_profile_figure",
    "gating_figure",
    "gating_figures",
    "group_effects_figure",
    "hazard_ratio_figure",
    "km_figure",
    "lfunction_figure",
    "neighbourhoods_figure",
    "outcome_figures",
    "overview_channels",
    "overview_figure",
    "spatial_figures",
]
