"""Cells per mm² of tissue in signed-distance bands and in the four regions.

Areas are measured, not approximated: tissue and tumor are rasterised at ``raster_um`` (2 µm),
the front is drawn into the raster and a Euclidean distance transform gives every tissue pixel
the distance from its centre to the front (mean error 0.1 µm; sign from the tumor raster;
:class:`frontline.spatial.distances.DistanceMap`); a band's area is the pixel area times the
number of tissue pixels in it, each pixel spread over [d - raster/2, d + raster/2] so that
bands do not alias with the pixel grid. Cells count when they are in the tissue; their band
comes from their exact distance. Bands are ``band_width_um`` (25 µm) wide from
``band_range_um`` [-500, 500]. Tables: ``densities.tsv`` (``phenotype, band_start_um,
band_end_um, n_cells, area_mm2, density_per_mm2``) and ``region_densities.tsv``
(``phenotype, region, n_cells, area_mm2, density_per_mm2``), for every phenotype present plus
``all_immune`` (the immune lineage) and ``all_cells``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..errors import FrontlineInputError
from .common import ALL_CELLS, ALL_IMMUNE, REGIONS
from .distances import DistanceMap


def band_edges(band_range_um: tuple[float, float], band_width_um: float) -> np.ndarray:
    """Edges of the signed-distance bands, µm, (B + 1,) float array."""
    lo, hi = band_range_um
    n = int(round((hi - lo) / band_width_um)) if band_width_um > 0 else 0
    if n < 1:  # the startup check refuses such settings; a Python caller gets the reason
        raise FrontlineInputError(
            f"the band range {[lo, hi]} µm with bands of {band_width_um:g} µm holds no band",
            fix="give spatial.band_range_um as [first, last] edge with first < last, and a "
            "spatial.band_width_um no wider than the range",
        )
    return lo + band_width_um * np.arange(n + 1)


def phenotype_groups(phenotype: np.ndarray, immune_lineage: Iterable[str]) -> dict[str, np.ndarray]:
    """Phenotype -> boolean mask, for every phenotype present plus all_immune and all_cells."""
    phenotype = np.asarray(phenotype).astype(str)
    names = list(pd.unique(phenotype))
    groups = {name: phenotype == name for name in names}
    groups[ALL_IMMUNE] = np.isin(phenotype, list(immune_lineage))
    groups[ALL_CELLS] = np.ones(len(phenotype), dtype=bool)
    return groups


def band_densities(
    dist_um: np.ndarray,
    phenotype: np.ndarray,
    in_tissue: np.ndarray,
    dmap: DistanceMap,
    edges: np.ndarray,
    immune_lineage: Iterable[str] = (),
) -> pd.DataFrame:
    """Cells per mm² of tissue in signed-distance bands, per phenotype.

    Parameters
    ----------
    dist_um : (N,) float, signed distance of each cell, µm
    phenotype : (N,) str
    in_tissue : (N,) bool
    dmap : :class:`DistanceMap`
    edges : (B + 1,) band edges, µm; band i is [edges[i], edges[i + 1])
    immune_lineage : phenotypes counted in ``all_immune``

    Returns
    -------
    DataFrame: ``phenotype, band_start_um, band_end_um, n_cells, area_mm2, density_per_mm2``
    (density NaN where the band has no tissue). Empty without a front.
    """
    cols = ["phenotype", "band_start_um", "band_end_um", "n_cells", "area_mm2", "density_per_mm2"]
    dist_um = np.asarray(dist_um, dtype=float)
    if np.isnan(dist_um).all():
        return pd.DataFrame(columns=cols)
    area_mm2 = band_areas_mm2(dmap, edges)
    rows = []
    ok = np.asarray(in_tissue, dtype=bool) & ~np.isnan(dist_um)
    for name, mask in phenotype_groups(phenotype, immune_lineage).items():
        n, _ = np.histogram(dist_um[ok & mask], bins=edges)
        with np.errstate(invalid="ignore", divide="ignore"):
            dens = np.where(area_mm2 > 0, n / np.where(area_mm2 > 0, area_mm2, 1), np.nan)
        rows.append(
            pd.DataFrame(
                {
                    "phenotype": name,
                    "band_start_um": edges[:-1],
                    "band_end_um": edges[1:],
                    "n_cells": n,
                    "area_mm2": area_mm2,
                    "density_per_mm2": dens,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)[cols]


def band_areas_mm2(dmap: DistanceMap, edges: np.ndarray) -> np.ndarray:
    """Tissue area of each signed-distance band [edges[i], edges[i + 1]), mm², (B,) float."""
    return np.diff(dmap.pixels_below(edges)) * dmap.pixel_area_mm2


def region_areas_mm2(dmap: DistanceMap, margin_um: float) -> np.ndarray:
    """Tissue area of the four regions, mm², (4,) float in the order of :data:`REGIONS`.

    Without a front: the tumor is ``tumor_core`` and the rest of the tissue ``stroma``.
    """
    total = float(np.count_nonzero(dmap.tissue))
    if not dmap.has_front:
        tumor = float(np.count_nonzero(dmap.tumor & dmap.tissue))
        counts = np.array([tumor, 0.0, 0.0, total - tumor])
    else:
        below = dmap.pixels_below([-margin_um, 0.0, margin_um])
        counts = np.diff(np.r_[0.0, below, total])
    return counts * dmap.pixel_area_mm2


def region_densities(
    region: pd.Categorical,
    phenotype: np.ndarray,
    in_tissue: np.ndarray,
    dmap: DistanceMap,
    margin_um: float,
    immune_lineage: Iterable[str] = (),
) -> pd.DataFrame:
    """Cells per mm² of tissue in the four regions, per phenotype.

    Parameters
    ----------
    region : (N,) Categorical of :data:`REGIONS`
    phenotype : (N,) str
    in_tissue : (N,) bool
    dmap : :class:`DistanceMap`
    margin_um : float, µm

    Returns
    -------
    DataFrame: ``phenotype, region, n_cells, area_mm2, density_per_mm2`` (density NaN for a
    region without tissue).
    """
    area_mm2 = region_areas_mm2(dmap, margin_um)
    rcodes = pd.Categorical(region, categories=list(REGIONS)).codes
    ok = np.asarray(in_tissue, dtype=bool) & (rcodes >= 0)
    rows = []
    for name, mask in phenotype_groups(phenotype, immune_lineage).items():
        n = np.bincount(rcodes[ok & mask], minlength=4)
        with np.errstate(invalid="ignore", divide="ignore"):
            dens = np.where(area_mm2 > 0, n / np.where(area_mm2 > 0, area_mm2, 1), np.nan)
        rows.append(
            pd.DataFrame(
                {
                    "phenotype": name,
                    "region": list(REGIONS),
                    "n_cells": n,
                    "area_mm2": area_mm2,
                    "density_per_mm2": dens,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)
