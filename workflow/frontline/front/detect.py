"""The front step of one sample: tissue, tumor (from cells or an annotation), invasive front."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiLineString, MultiPolygon

from ..errors import FrontlineInputError
from ..geometry import as_multilinestring, as_multipolygon, inside
from ..regions import Regions, annotation_to_tumor
from .tissue import tissue_region
from .tumor import tumor_cells, tumor_region

log = logging.getLogger(__name__)

# the config's length keys (µm) and area keys (µm²), and whether 0 is a sensible value
LENGTH_KEYS = {
    "grid_um": False,
    "smoothing_um": False,
    "closing_um": False,
    "edge_offset_um": True,
    "raster_um": False,
    "outline_smoothing_um": True,
    "tissue_closing_um": False,
    "edge_tolerance_um": True,
}
AREA_KEYS = ("min_region_area_um2", "tissue_min_region_area_um2")
ANNOTATION_MIN_AGREEMENT = 0.5  # below this share of tumor cells inside an annotation: warn


def invasive_front(
    tumor: MultiPolygon, tissue: MultiPolygon, edge_tolerance_um: float
) -> MultiLineString:
    """The tumor boundary inside the tissue, µm.

    Parameters
    ----------
    tumor, tissue : MultiPolygon, µm
    edge_tolerance_um : float; boundary within this distance of the tissue outline (which
        includes the image border) is not front

    Returns
    -------
    MultiLineString (empty when there is no tumor or the tumor fills the tissue).
    """
    if tumor.is_empty or tissue.is_empty:
        return MultiLineString()
    boundary = tumor.boundary
    edge = tissue.boundary.buffer(edge_tolerance_um, quad_segs=4)
    front = shapely.line_merge(as_multilinestring(boundary.difference(edge)))
    parts = [ls for ls in as_multilinestring(front).geoms if ls.length >= edge_tolerance_um / 2]
    return MultiLineString(parts)


def check_scales(
    settings: dict,
    extent_um: tuple[float, float],
    sample: str | None = None,
    file: str | None = None,
) -> None:
    """Refuse scale keys of the ``front:`` section that cannot describe this image.

    Lengths must be positive (``edge_offset_um``, ``outline_smoothing_um`` and
    ``edge_tolerance_um`` may be 0) and no longer than the image's longer side; the smallest
    tumor and tissue parts no larger than the image; the ladder positive and increasing.

    Raises
    ------
    FrontlineInputError
        naming the key, its value and the image size
    """
    width, height = (float(v) for v in extent_um)
    longest, area = max(width, height), width * height
    size = f"the image is {width:.0f} x {height:.0f} µm"

    def refuse(key, value, why, fix):
        raise FrontlineInputError(
            f"front: {key} = {value!r} {why} ({size})", sample=sample, file=file, fix=fix
        )

    for key, zero_ok in LENGTH_KEYS.items():
        value = settings.get(key)
        if value is None:
            continue
        if value < 0 or (value == 0 and not zero_ok):
            refuse(key, value, "must be positive", f"set front: {key} to a length in µm > 0")
        if value > longest:
            refuse(
                key,
                value,
                "is longer than the image",
                f"set front: {key} in µm (not pixels or mm); the default is in config/README.md",
            )
    for key in AREA_KEYS:
        value = settings.get(key)
        if value is not None and value > area:
            refuse(
                key,
                value,
                "is larger than the image's area",
                f"set front: {key} in µm² (not pixels); the default is in config/README.md",
            )
    ladder = settings.get("scale_ladder")
    if ladder is not None:
        steps = np.asarray(ladder, dtype=float)
        if len(steps) == 0 or (steps <= 0).any() or (np.diff(steps) <= 0).any():
            refuse(
                "scale_ladder",
                list(ladder),
                "must be positive and increasing",
                "give closing radii in tumor-cell spacings, e.g. [2.0, 2.5, 3.0, 3.5]",
            )


def annotation_agreement(
    annotation: MultiPolygon, detected: MultiPolygon, xy_tumor_um: np.ndarray
) -> dict:
    """How well an annotated tumor and the tumor cells agree.

    Returns
    -------
    dict: ``tumor_cells_inside`` (share of the tumor cells inside the annotation),
    ``overlap`` (area of annotation ∩ cell-derived tumor / area of their union), ``n_tumor_cells``
    """
    xy = np.asarray(xy_tumor_um, dtype=float).reshape(-1, 2)
    share = float(inside(xy, annotation).mean()) if len(xy) else float("nan")
    union = annotation.union(detected).area
    overlap = float(annotation.intersection(detected).area / union) if union > 0 else float("nan")
    return {"tumor_cells_inside": share, "overlap": overlap, "n_tumor_cells": int(len(xy))}


def detect_regions(
    xy_um: np.ndarray,
    is_tumor: np.ndarray,
    extent_um: tuple[float, float],
    *,
    grid_um: float,
    smoothing_um: float,
    threshold: float,
    closing_um: float | None,
    scale_ladder: list | tuple,
    scale_tolerance: float,
    channel_scale: float | None,
    edge_offset_um: float | None,
    raster_um: float,
    outline_smoothing_um: float,
    min_region_area_um2: float | None,
    min_hole_area_um2: float,
    min_stroma_cells: int,
    min_pocket_cells: int,
    tissue_closing_um: float,
    tissue_min_region_area_um2: float,
    tissue_min_hole_area_um2: float,
    edge_tolerance_um: float,
    annotation: MultiPolygon | None = None,
    sample: str | None = None,
    workers: int = 1,
) -> Regions:
    """Tissue, tumor and invasive front of one sample, from cells or from an annotation.

    Parameters
    ----------
    xy_um : (N, 2) float array, cell positions in µm
    is_tumor : (N,) bool
    extent_um : (width_um, height_um) of the image
    annotation : MultiPolygon in µm (from :func:`annotation_to_tumor`) or None to detect the
        tumor from the cells; when given and tumor cells exist, a warning names the share of
        tumor cells inside it if that is under one half
    sample : for messages
    workers : threads of the raster passes (the rule's threads)
    other parameters : see :mod:`frontline.front` (µm, µm², fractions, counts)

    Returns
    -------
    :class:`Regions`
    """
    extent_um = (float(extent_um[0]), float(extent_um[1]))
    xy_um = np.asarray(xy_um, dtype=float).reshape(-1, 2)
    is_tumor = np.asarray(is_tumor, dtype=bool)
    # the tumor cells' distance raster needs no tissue: it is made while the tissue is traced
    with ThreadPoolExecutor(1) as background:
        prepared = (
            background.submit(
                tumor_cells,
                xy_um[is_tumor],
                extent_um,
                raster_um=raster_um,
                closing_um=closing_um,
                scale_ladder=scale_ladder,
                workers=workers,
            )
            if is_tumor.sum() >= 2
            else None
        )
        tissue = tissue_region(
            xy_um,
            extent_um,
            closing_um=tissue_closing_um,
            raster_um=2 * raster_um,
            outline_smoothing_um=outline_smoothing_um,
            min_region_area_um2=tissue_min_region_area_um2,
            min_hole_area_um2=tissue_min_hole_area_um2,
            edge_tolerance_um=edge_tolerance_um,
            workers=workers,
        )
        prepared = prepared.result() if prepared is not None else None
    detected, scale = tumor_region(
        xy_um,
        is_tumor,
        tissue,
        extent_um,
        grid_um=grid_um,
        smoothing_um=smoothing_um,
        threshold=threshold,
        closing_um=closing_um,
        scale_ladder=scale_ladder,
        scale_tolerance=scale_tolerance,
        channel_scale=channel_scale,
        edge_offset_um=edge_offset_um,
        raster_um=raster_um,
        outline_smoothing_um=outline_smoothing_um,
        min_region_area_um2=min_region_area_um2,
        min_hole_area_um2=min_hole_area_um2,
        min_stroma_cells=min_stroma_cells,
        min_pocket_cells=min_pocket_cells,
        edge_tolerance_um=edge_tolerance_um,
        workers=workers,
        prepared=prepared,
    )
    outline_scale = scale.as_dict() if scale is not None else {}
    if annotation is not None:
        tumor = as_multipolygon(annotation.intersection(tissue))
        source = "annotation"
        if is_tumor.sum() >= min_pocket_cells:
            agree = annotation_agreement(tumor, detected, xy_um[is_tumor])
            outline_scale = {**outline_scale, "annotation_agreement": agree}
            if agree["tumor_cells_inside"] < ANNOTATION_MIN_AGREEMENT:
                log.warning(
                    "%sthe tumor annotation disagrees with the tumor cells: %.0f%% of the %d "
                    "tumor cells lie inside it, and it overlaps the tumor traced from the cells "
                    "by %.0f%% (intersection / union); check that the annotation belongs to this "
                    "image and is in the sheet's annotation_units",
                    f"sample {sample}: " if sample else "",
                    100 * agree["tumor_cells_inside"],
                    agree["n_tumor_cells"],
                    100 * agree["overlap"],
                )
    else:
        tumor, source = detected, "cells"
    front = invasive_front(tumor, tissue, edge_tolerance_um)
    regions = Regions(
        tumor=tumor,
        tissue=tissue,
        front=front,
        extent_um=extent_um,
        source=source,
        outline_scale=outline_scale,
    )
    if not regions.has_front:
        log.warning("%s%s", f"sample {sample}: " if sample else "", regions.no_front_reason)
    return regions


def find_regions(
    cells: pd.DataFrame,
    extent_um: tuple[float, float],
    settings: dict,
    *,
    annotation: Any = None,
    annotation_units: str = "px",
    pixel_size_um: float | None = None,
    sample: str | None = None,
    annotation_file: str | None = None,
    workers: int = 1,
) -> Regions:
    """The front step of one sample: regions from its cells, or its tumor annotation.

    Parameters
    ----------
    cells : DataFrame ``x_um, y_um, phenotype`` (µm)
    extent_um : (width_um, height_um) of the image
    settings : the config's ``front:`` section (``tumor_phenotype`` and the keywords of
        :func:`detect_regions`); its scale keys are checked against the image
        (:func:`check_scales`)
    annotation : parsed annotation GeoJSON (QuPath export) or None to detect the tumor
    annotation_units, pixel_size_um : how to read the annotation
        (:func:`frontline.regions.annotation_to_tumor`)
    sample, annotation_file : for messages
    workers : threads of the raster passes

    Returns
    -------
    :class:`frontline.regions.Regions`
    """
    settings = dict(settings)
    check_scales(settings, extent_um, sample=sample)
    tumor_phenotype = settings.pop("tumor_phenotype")
    is_tumor = (cells["phenotype"] == tumor_phenotype).to_numpy()
    if not is_tumor.any() and annotation is None:
        log.warning(
            "sample %s: no cell has the phenotype '%s' (front: tumor_phenotype); "
            "phenotypes found: %s",
            sample,
            tumor_phenotype,
            sorted(cells["phenotype"].unique()),
        )
    if annotation is not None:
        annotation = annotation_to_tumor(
            annotation,
            pixel_size_um=pixel_size_um,
            units=annotation_units,
            extent_um=extent_um,
            sample=sample,
            file=annotation_file,
        )
    regions = detect_regions(
        cells[["x_um", "y_um"]].to_numpy(),
        is_tumor,
        extent_um,
        annotation=annotation,
        sample=sample,
        workers=workers,
        **settings,
    )
    log.info(
        "sample %s: tumor %.3f mm² (%s), tissue %.3f mm², invasive front %.0f µm",
        sample,
        regions.tumor.area / 1e6,
        regions.source,
        regions.tissue.area / 1e6,
        regions.front.length,
    )
    return regions
