"""The regions of a sample (tissue, tumor, invasive front): the dataclass and its file forms.

:class:`Regions` holds the geometry the front step finds and the spatial step reads, in µm.

From an annotation
------------------
A GeoJSON from QuPath (a FeatureCollection, a list of features, one feature or one geometry) of
Polygon/MultiPolygon features (:func:`annotation_to_tumor`). When any feature carries a
classification, the features classified ``Tumor``/``Tumour`` (any case) are used, otherwise all
polygons. Coordinates are pixels (QuPath's export) unless the sample sheet says
``annotation_units = um``. The annotation replaces the detected tumor; the tissue is still
detected from the nuclei.

Files (written by the ``front`` rule)
-------------------------------------
- ``tumor.geojson``: for QuPath (File > Import objects): PIXEL coordinates, origin at the image's
  top-left corner (µm / pixel size). Annotations classified ``Tissue``, ``Tumor`` (one per
  polygon) and ``Invasive front`` (one polyline per front piece): the rows of
  :func:`regions_layer`.
- ``tumor_um.geojson``: the same features in µm, which the spatial step and GIS tools read.

Both carry a top-level ``frontline`` member with ``units``, ``pixel_size_um``, the image
extent in µm, the source of the tumor region (``cells`` or ``annotation``), areas and the front
length (:func:`regions_to_geojson`; read back with :func:`regions_from_geojson`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import MultiLineString, MultiPolygon, box, mapping, shape

from .colours import FRONT_CLASS, REGION_COLOURS, TISSUE_CLASS, TUMOR_CLASS
from .errors import FrontlineInputError
from .geometry import as_multilinestring, as_multipolygon, polygon_parts, scale

_TUMOR_NAMES = {"tumor", "tumour"}
ANNOTATION_UNITS = ("", "px", "um")  # as the sample sheet's annotation_units ("": px)
_POLYGONAL = ("Polygon", "MultiPolygon", "GeometryCollection")


@dataclass(frozen=True)
class Regions:
    """The geometry of one sample, µm, origin at the image's top-left corner.

    tumor : MultiPolygon (possibly empty)
    tissue : MultiPolygon
    front : MultiLineString (empty when there is no front)
    extent_um : (width_um, height_um) of the image
    source : ``"cells"`` or ``"annotation"`` (where the tumor region came from)
    outline_scale : how the front step traced the tumor (JSON-ready dict: the tumor-cell
        spacing and the closing radius it chose, :meth:`frontline.front.Scale.as_dict`), or
        empty
    """

    tumor: MultiPolygon
    tissue: MultiPolygon
    front: MultiLineString
    extent_um: tuple
    source: str = "cells"
    outline_scale: dict = field(default_factory=dict, compare=False)

    @property
    def has_front(self) -> bool:
        return not self.front.is_empty and self.front.length > 0

    @property
    def tumor_fills_tissue(self) -> bool:
        """No front because the tumor fills the tissue (there is a tumor region)."""
        return not self.has_front and not self.tumor.is_empty

    @property
    def no_front_reason(self) -> str:
        """Why there is no invasive front ("" when there is one)."""
        if self.has_front:
            return ""
        if self.tumor.is_empty:
            return "no invasive front: no tumor region"
        return "no invasive front: the tumor fills the tissue (no stroma with cells)"


# --------------------------------------------------------------------------- nests

NEST_COLUMNS = ["nest", "area_um2", "perimeter_um", "front_length_um", "n_holes"]


def nest_table(regions: Regions, tolerance_um: float = 0.01) -> gpd.GeoDataFrame:
    """One row per nest (tumor part): its area and the invasive front along it.

    Parameters
    ----------
    regions : :class:`Regions` (µm)
    tolerance_um : a front piece belongs to the nest whose outline lies this close

    Returns
    -------
    GeoDataFrame with ``nest`` (1.., as ``Tumor 1``.. in the GeoJSON), ``area_um2``,
    ``perimeter_um`` (outline, holes included), ``front_length_um`` (the part of the outline
    that is invasive front: not cut by the image border or the tissue edge), ``n_holes`` and
    the nest polygon as ``geometry`` (µm), in the order of the ``Tumor`` features of
    :func:`regions_layer`.
    """
    parts = polygon_parts(regions.tumor)
    pieces = np.array(as_multilinestring(regions.front).geoms, dtype=object)
    lengths = np.zeros(len(parts))
    if len(parts) and len(pieces):
        # a front piece (a stretch of the tumor's outline) that meets one nest only lies on
        # that nest's outline and counts whole; a piece meeting several nests (nests touching
        # at a vertex) or none (rounding) is cut by the outline of each nest near it
        tree = shapely.STRtree(parts)
        piece_idx, part_idx = tree.query(pieces, predicate="intersects")
        meets = np.bincount(piece_idx, minlength=len(pieces))
        alone = meets[piece_idx] == 1
        np.add.at(lengths, part_idx[alone], shapely.length(pieces[piece_idx[alone]]))
        unsure = np.flatnonzero(meets != 1)
        for i, j in zip(*tree.query(pieces[unsure], predicate="dwithin", distance=tolerance_um)):
            near = parts[j].boundary.buffer(tolerance_um, quad_segs=2)
            lengths[j] += float(pieces[unsure[i]].intersection(near).length)
    lengths = lengths.tolist()
    return gpd.GeoDataFrame(
        {
            "nest": list(range(1, len(parts) + 1)),
            "area_um2": [float(p.area) for p in parts],
            "perimeter_um": [float(p.length) for p in parts],
            "front_length_um": lengths,
            "n_holes": [len(p.interiors) for p in parts],
        },
        geometry=parts,
        crs=None,
    )


# --------------------------------------------------------------------------- layers


def regions_layer(regions: Regions) -> gpd.GeoDataFrame:
    """The regions as one layer: a row per tissue polygon, tumor polygon and front piece.

    Parameters
    ----------
    regions : :class:`Regions` (µm)

    Returns
    -------
    GeoDataFrame with columns ``classification`` (``Tissue``, ``Tumor``, ``Invasive front``),
    ``name`` (``Tumor 1``, ...) and ``geometry`` (µm), in that order of classes.
    """
    rows = []
    for cls, parts in (
        (TISSUE_CLASS, polygon_parts(regions.tissue)),
        (TUMOR_CLASS, polygon_parts(regions.tumor)),
        (FRONT_CLASS, list(regions.front.geoms)),
    ):
        rows.extend((cls, f"{cls} {i + 1}", geom) for i, geom in enumerate(parts))
    return gpd.GeoDataFrame(
        {"classification": [r[0] for r in rows], "name": [r[1] for r in rows]},
        geometry=[r[2] for r in rows],
    )


def _on_grid(geom):
    """A polygon snapped to the 0.001 grid its coordinates are written on, valid there (a
    ring that nearly touches itself could cross itself once rounded); lines as they are."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return shapely.set_precision(geom, 0.001)
    return geom


def _read_polygon(geom):
    """A polygon as read, repaired when it is not valid (files of other tools, or rounded)."""
    return geom if geom.is_valid else shapely.make_valid(geom)


def _feature(geom, cls, name):
    return {
        "type": "Feature",
        "geometry": mapping(geom),
        "properties": {
            "objectType": "annotation",
            "name": name,
            "isLocked": False,
            "classification": {"name": cls, "color": list(REGION_COLOURS[cls])},
        },
    }


def regions_to_geojson(
    regions: Regions, *, units: str = "px", pixel_size_um: float | None = None
) -> dict:
    """The regions as a GeoJSON FeatureCollection (a dict) that QuPath imports.

    Parameters
    ----------
    regions : :class:`Regions` (µm)
    units : ``"px"`` (coordinates / pixel size, for QuPath) or ``"um"``
    pixel_size_um : float, µm per pixel (needed for ``"px"``; recorded in both)

    Returns
    -------
    dict: one feature per row of :func:`regions_layer` (``Tissue`` and ``Tumor`` polygons,
    ``Invasive front`` LineStrings) with QuPath properties (``objectType``,
    ``classification``); a top-level ``frontline`` member records units, pixel size, image
    extent (µm), tumor source, areas (µm²) and front length (µm).
    """
    if units not in ("px", "um"):
        raise ValueError(f"units must be 'px' or 'um', not {units!r}")
    factor = 1.0
    if units == "px":
        if not pixel_size_um:
            raise ValueError("pixel_size_um is needed for pixel coordinates")
        factor = 1.0 / float(pixel_size_um)
    layer = regions_layer(regions)
    features = [
        _feature(_on_grid(scale(geom, factor)), cls, name)
        for cls, name, geom in zip(layer["classification"], layer["name"], layer.geometry)
    ]
    return {
        "type": "FeatureCollection",
        "features": features,
        "frontline": {
            "units": units,
            "pixel_size_um": None if pixel_size_um is None else float(pixel_size_um),
            "image_width_um": float(regions.extent_um[0]),
            "image_height_um": float(regions.extent_um[1]),
            "tumor_source": regions.source,
            "tumor_area_um2": float(regions.tumor.area),
            "tissue_area_um2": float(regions.tissue.area),
            "front_length_um": float(regions.front.length),
            "outline_scale": dict(regions.outline_scale),
        },
    }


def regions_from_geojson(
    obj: Any, *, file: str | None = None, sample: str | None = None
) -> Regions:
    """Read back :func:`regions_to_geojson`'s output (either units) as :class:`Regions` in µm.

    Raises
    ------
    FrontlineInputError
        when the file was not written by the ``front`` step.
    """
    meta = obj.get("frontline") if isinstance(obj, dict) else None
    if not meta or "units" not in meta:
        raise FrontlineInputError(
            "the regions file lacks its 'frontline' metadata",
            sample=sample,
            file=file,
            fix="rerun the front step that writes it",
        )
    factor = 1.0 if meta["units"] == "um" else float(meta["pixel_size_um"])
    features = obj.get("features", [])
    layer = gpd.GeoDataFrame(
        {"classification": [_class_name(f) for f in features]},
        geometry=[shape(f["geometry"]) for f in features],
    )

    def parts(cls):
        return [scale(g, factor) for g in layer.geometry[layer["classification"] == cls]]

    tumor = [_read_polygon(g) for g in parts(TUMOR_CLASS)]
    tissue = [_read_polygon(g) for g in parts(TISSUE_CLASS)]
    front = MultiLineString([ls for g in parts(FRONT_CLASS) for ls in as_multilinestring(g).geoms])
    return Regions(
        tumor=as_multipolygon(shapely.union_all(tumor)) if tumor else MultiPolygon(),
        tissue=as_multipolygon(shapely.union_all(tissue)) if tissue else MultiPolygon(),
        front=front,
        extent_um=(float(meta["image_width_um"]), float(meta["image_height_um"])),
        source=meta.get("tumor_source", "cells"),
        outline_scale=dict(meta.get("outline_scale") or {}),
    )


def polygons_from_geojson(obj: dict) -> MultiPolygon:
    """The union of the polygons of a GeoJSON FeatureCollection, in its own coordinates.

    For files in µm such as the simulator's ``truth_tumor.geojson``; features without a
    geometry are skipped.
    """
    layer = gpd.GeoDataFrame.from_features(obj.get("features", []))
    parts = [g for g in layer.geometry if g is not None]
    return as_multipolygon(shapely.union_all(parts)) if parts else MultiPolygon()


def dumps(obj: dict) -> str:
    """GeoJSON text with coordinates rounded to 0.001 (px or µm): smaller files, no float noise."""
    return json.dumps(_round(obj), indent=None, separators=(",", ":"), ensure_ascii=False)


def _round(obj, in_coords=False):
    if isinstance(obj, float) and in_coords:
        return round(obj, 3)
    if isinstance(obj, dict):
        return {k: _round(v, k == "coordinates") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_round(v, in_coords) for v in obj]
    return obj


# --------------------------------------------------------------------------- annotations


def _features(obj):
    if isinstance(obj, list):
        return [f for item in obj for f in _features(item)]
    if not isinstance(obj, dict):
        return []
    kind = obj.get("type")
    if kind == "FeatureCollection":
        return _features(obj.get("features", []))
    if kind == "Feature":
        return [obj]
    if kind in _POLYGONAL:
        return [{"type": "Feature", "geometry": obj, "properties": {}}]
    return []


def _class_name(feature):
    props = feature.get("properties") or {}
    cls = props.get("classification")
    if isinstance(cls, dict):
        return cls.get("name")
    if isinstance(cls, str):
        return cls
    return None


def annotation_layer(
    obj: Any, *, sample: str | None = None, file: str | None = None
) -> gpd.GeoDataFrame:
    """The polygon features of an annotation GeoJSON (QuPath export) as a layer.

    Parameters
    ----------
    obj : parsed GeoJSON: FeatureCollection, list of features, a feature or a geometry
    sample, file : for error messages

    Returns
    -------
    GeoDataFrame with ``classification`` (str or None) and ``geometry`` (the file's
    coordinates), one row per Polygon, MultiPolygon or GeometryCollection feature in file order.

    Raises
    ------
    FrontlineInputError
        a feature's coordinates cannot be read.
    """
    features = [f for f in _features(obj) if (f.get("geometry") or {}).get("type") in _POLYGONAL]
    geometries = []
    for i, feature in enumerate(features):
        try:
            geometries.append(shape(feature["geometry"]))
        except Exception as err:  # shapely raises several types for malformed coordinates
            raise FrontlineInputError(
                f"feature {i} has malformed coordinates ({err})",
                sample=sample,
                file=file,
                fix="export the annotation again from QuPath",
            ) from None
    return gpd.GeoDataFrame(
        {"classification": [_class_name(f) for f in features]}, geometry=geometries
    )


def annotation_to_tumor(
    obj: Any,
    *,
    pixel_size_um: float,
    units: str = "px",
    extent_um: tuple[float, float] | None = None,
    sample: str | None = None,
    file: str | None = None,
) -> MultiPolygon:
    """The tumor region of an annotation GeoJSON (QuPath export), in µm.

    Parameters
    ----------
    obj : parsed GeoJSON: FeatureCollection, list of features, a feature or a geometry
    pixel_size_um : float, µm per pixel (used when ``units`` is pixels)
    units : as the sample sheet's ``annotation_units``: ``"px"`` (QuPath's export, default),
        ``""`` (the same) or ``"um"``
    extent_um : (width_um, height_um) of the image, to check the annotation lies on it
    sample, file : for error messages

    Returns
    -------
    MultiPolygon in µm.

    Raises
    ------
    FrontlineInputError
        units other than the sheet's, no polygon, no ``Tumor`` class among classified
        features, malformed or invalid geometry, or an annotation outside the image.
    """
    if units not in ANNOTATION_UNITS:
        raise FrontlineInputError(
            f"annotation_units is {units!r}, not 'px' or 'um' (or empty for px)",
            sample=sample,
            file=file,
            fix="set annotation_units to px (QuPath's export) or um",
        )
    units = units or "px"
    features = [f for f in _features(obj) if (f.get("geometry") or {}).get("type") in _POLYGONAL]
    if not features:
        raise FrontlineInputError(
            "the annotation has no Polygon or MultiPolygon feature",
            sample=sample,
            file=file,
            fix="export the tumor annotation(s) from QuPath as GeoJSON "
            "(File > Export objects as GeoJSON)",
        )
    names = [_class_name(f) for f in features]
    if any(n is not None for n in names):
        chosen = [
            f
            for f, n in zip(features, names)
            if n is not None and n.strip().lower() in _TUMOR_NAMES
        ]
        if not chosen:
            found = sorted({n for n in names if n is not None})
            raise FrontlineInputError(
                f"no annotation is classified 'Tumor' (classes found: {found})",
                sample=sample,
                file=file,
                fix="classify the tumor annotation(s) as 'Tumor' in QuPath, or remove "
                "the classifications so that every polygon counts as tumor",
            )
        features = chosen
    layer = annotation_layer(features, sample=sample, file=file)
    valid = layer.geometry.is_valid.to_numpy()
    if not valid.all():
        i = int((~valid).argmax())
        raise FrontlineInputError(
            f"feature {i} is not a valid polygon "
            f"({shapely.is_valid_reason(layer.geometry.iloc[i])})",
            sample=sample,
            file=file,
            fix="redraw the annotation so that its outline does not cross itself",
        )
    parts = [p for geom in layer.geometry for p in polygon_parts(geom)]
    if not parts:
        raise FrontlineInputError(
            "the annotation's polygons are empty",
            sample=sample,
            file=file,
            fix="export non-empty tumor annotation(s)",
        )
    region = as_multipolygon(
        scale(shapely.union_all(parts), pixel_size_um if units == "px" else 1.0)
    )
    if extent_um is not None:
        region = _on_image(region, extent_um, units, sample, file)
    return region


def _on_image(region, extent_um, units, sample, file):
    """``region`` clipped to the image; FrontlineInputError when much of it lies outside."""
    image = box(0, 0, *extent_um)
    inside = region.intersection(image).area
    where = (
        f"(annotation bounds {_fmt_bounds(region.bounds)} µm, "
        f"image 0-{extent_um[0]:.0f} x 0-{extent_um[1]:.0f} µm, annotation read in {units})"
    )
    fix = (
        "check the sample sheet's annotation_units (px for QuPath exports, um for µm) "
        "and the pixel size, and that the annotation belongs to this image"
    )
    if inside <= 0:
        raise FrontlineInputError(
            f"the annotation lies outside the image {where}", sample=sample, file=file, fix=fix
        )
    if region.area - inside > 0.01 * region.area:
        raise FrontlineInputError(
            f"{100 * (1 - inside / region.area):.0f}% of the annotation lies outside the image "
            f"{where}",
            sample=sample,
            file=file,
            fix=fix,
        )
    return as_multipolygon(region.intersection(image))


def _fmt_bounds(bounds):
    x0, y0, x1, y1 = bounds
    return f"x {x0:.0f}-{x1:.0f}, y {y0:.0f}-{y1:.0f}"
