"""QuPath objects: cells as detections, regions as annotations, in full-resolution pixels.

QuPath's coordinates are **pixels of the full-resolution image**, origin at the top-left
corner of the image, x to the right, y down (see ``outlines``). µm = px * pixel size; the cell
tables' centres at ``(i + 0.5) * pixel size`` are the centres of these pixels.

Each detection carries ``objectType: "detection"``, a classification (the phenotype, with
its colour), ``measurements`` (every numeric column of the cell table: ``dist_front_um``,
``x_um``, areas, marker means, ...; NaN values are left out, QuPath shows them as NaN),
and ``metadata`` with the text fields QuPath cannot keep as measurements (``region``,
``cell_id``). QuPath 0.4 or later reads all of them (File > Import objects from file, or
drag the file onto the image). :func:`qupath_features` makes both for a sample; they are
written by :func:`frontline.io.write_feature_collection`.

A cell-table sample has no label image: :func:`qupath_table_features` draws each cell as a
small disc (:class:`CellDiscs`: the nucleus's equivalent circle when the table gives its area,
else ``DISC_RADIUS_UM``) at its centroid, in pixels when the pixel size is known and in µm
otherwise (the file's ``frontline.units`` says which; QuPath reads µm coordinates as pixels,
so such a file overlays an image of 1 µm per pixel only).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..colours import phenotype_colours, region_colour
from ..io import ArrayLabels, LabelReader, require_pixel_size
from ..measure import expansion_px
from .outlines import cell_outlines

log = logging.getLogger(__name__)

_UUID_NAMESPACE = uuid.UUID("6f1c1e4e-3a51-4d7e-9d59-0f2f0c6b8a10")
DISC_RADIUS_UM = 4.0  # a table cell without a nucleus area: about a lymphocyte's nucleus
DISC_VERTICES = 12


def round_significant(values: Any, digits: int = 6) -> np.ndarray:
    """``values`` rounded to ``digits`` significant digits (short JSON, float32 precision).

    Parameters
    ----------
    values : float array of any shape; NaN and inf stay as they are
    """
    values = np.asarray(values, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        magnitude = np.floor(np.log10(np.abs(values)))
    magnitude = np.where(np.isfinite(magnitude), magnitude, 0)
    scale = 10.0 ** (digits - 1 - magnitude)
    return np.where(np.isfinite(values), np.round(values * scale) / scale, values)


def _rgb(colour):
    return [int(c) for c in colour]


def qupath_cells(
    cells: pd.DataFrame,
    ids: np.ndarray,
    rings: Sequence[list[np.ndarray]],
    measurement_columns: Sequence[str] | None = None,
    text_columns: Sequence[str] = ("region",),
    colours: Mapping[str, tuple[int, int, int]] | None = None,
    sample: str | None = None,
) -> Iterator[dict]:
    """QuPath detections, one per cell with an outline, generated one at a time (a big slide's
    detections are written as they come, never held in memory together).

    Parameters
    ----------
    cells : DataFrame with ``cell_id`` and ``phenotype``; numeric columns become measurements
    ids, rings : outlines from :func:`cell_outlines` (px), or a table's :class:`CellDiscs`
    measurement_columns : list of str, numeric columns to export (default: every numeric
        column except ``cell_id``)
    text_columns : columns kept as QuPath object metadata (text)
    colours : dict phenotype -> (r, g, b) 0-255
        (default :func:`frontline.colours.phenotype_colours`)
    sample : str, used for stable object ids

    Yields
    ------
    GeoJSON Feature dicts (coordinates in px), in cell id order
    """
    table = cells.set_index("cell_id", drop=False)
    if measurement_columns is None:
        measurement_columns = [
            c for c in table.columns if c != "cell_id" and pd.api.types.is_numeric_dtype(table[c])
        ]
    text_columns = [c for c in text_columns if c in table.columns]
    phenotypes = table["phenotype"].astype(str) if "phenotype" in table else None
    if colours is None and phenotypes is not None:
        colours = phenotype_colours(phenotypes.unique())
    position = pd.Series(np.arange(len(ids)), index=ids)
    common = table.index.intersection(position.index)
    missing_outline = len(table) - len(common)
    if missing_outline:
        log.warning("%d cells have no outline in the label image and are left out", missing_outline)
    values = round_significant(table.loc[common, measurement_columns].to_numpy(dtype=float))
    for row, cell_id in enumerate(common):
        geometry = {
            "type": "Polygon",
            "coordinates": [ring.tolist() for ring in rings[position[cell_id]]],
        }
        measurements = {
            name: float(v) for name, v in zip(measurement_columns, values[row]) if np.isfinite(v)
        }
        properties = {
            "objectType": "detection",
            "measurements": measurements,
            "metadata": {
                "cell_id": str(int(cell_id)),
                **{c: str(table.at[cell_id, c]) for c in text_columns},
            },
        }
        if phenotypes is not None:
            name = phenotypes.at[cell_id]
            properties["classification"] = {"name": name, "color": _rgb(colours[name])}
        yield {
            "type": "Feature",
            "id": str(uuid.uuid5(_UUID_NAMESPACE, f"{sample}/cell/{int(cell_id)}")),
            "geometry": geometry,
            "properties": properties,
        }


def qupath_annotations(
    features: Sequence[dict],
    pixel_size_um: float,
    coordinate_units: str = "um",
    colours: Mapping[str, tuple[int, int, int]] | None = None,
    sample: str | None = None,
) -> list[dict]:
    """Region features (tumour, tissue, invasive front) as QuPath annotations in px.

    Parameters
    ----------
    features : list of GeoJSON Feature dicts; the class is ``properties.classification.name``,
        else ``properties.name``, else ``properties.kind``
    pixel_size_um : float, µm per px
    coordinate_units : "um" or "px", the units of ``features``
    colours : dict class -> (r, g, b) 0-255, optional

    Returns
    -------
    list of GeoJSON Feature dicts, ``objectType: "annotation"``, coordinates in px
    """
    import shapely
    from shapely.geometry import mapping, shape

    scale = 1.0 / float(pixel_size_um) if coordinate_units == "um" else 1.0
    colours = dict(colours or {})
    out = []
    for i, feature in enumerate(features):
        if not feature.get("geometry"):
            continue
        geom = shapely.transform(shape(feature["geometry"]), lambda xy: np.round(xy * scale, 3))
        props = feature.get("properties") or {}
        classification = props.get("classification")
        name = (
            (classification.get("name") if isinstance(classification, dict) else classification)
            or props.get("name")
            or props.get("kind")
            or "Region"
        )
        colour = colours.get(name, region_colour(name))
        properties = {
            "objectType": "annotation",
            "name": str(name),
            "classification": {"name": str(name), "color": _rgb(colour)},
            "isLocked": True,
        }
        measurements = {
            k: float(v)
            for k, v in props.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)
        }
        if measurements:
            properties["measurements"] = measurements
        out.append(
            {
                "type": "Feature",
                "id": str(uuid.uuid5(_UUID_NAMESPACE, f"{sample}/region/{i}/{name}")),
                "geometry": mapping(geom),
                "properties": properties,
            }
        )
    return out


def qupath_features(
    labels: LabelReader | ArrayLabels,
    cells: pd.DataFrame,
    regions: Mapping[str, Any],
    *,
    outline: str,
    cell_expansion_um: float,
    tile_px: int,
    sample: str | None = None,
) -> tuple[list[dict], Iterator[dict]]:
    """A sample's regions and cells as QuPath objects, in pixels of the full-resolution image.

    Parameters
    ----------
    labels : the nuclei label image (a reader, ``frontline.io.open_labels``) with its pixel size
    cells : the cell table (``cells_spatial.parquet``): ``cell_id``, ``phenotype``, ...
    regions : the regions GeoJSON FeatureCollection (``tumor.geojson``); its
        ``frontline.units`` ("px" when absent) says what unit its coordinates are in
    outline : "cell" (the nucleus grown by ``cell_expansion_um``, as measured) or "nucleus"
    cell_expansion_um : nucleus-to-cell growth, µm
    tile_px : edge of a tracing tile, px
    sample : sample name, for messages and stable object ids

    Returns
    -------
    annotations : list of GeoJSON features (:func:`qupath_annotations`)
    detections : iterator of GeoJSON features, one per cell (:func:`qupath_cells`); the
        outlines are traced here, the features made as they are consumed
    """
    pixel_size_um = require_pixel_size(labels, sample)
    grow = expansion_px(cell_expansion_um, pixel_size_um) if outline == "cell" else 0.0
    log.info("tracing %s outlines (%.2f px growth) in tiles of %d px", outline, grow, tile_px)
    ids, rings = cell_outlines(labels, grow, tile_px, progress=_log_progress)
    units = (regions.get("frontline") or {}).get("units", "px")
    annotations = qupath_annotations(
        regions.get("features", []), pixel_size_um, units, sample=sample
    )
    log.info(
        "%d annotations, %d cells (pixel coordinates, %.4g µm/px)",
        len(annotations),
        len(ids),
        pixel_size_um,
    )
    return annotations, qupath_cells(cells, ids, rings, sample=sample)


class CellDiscs:
    """Each cell as a closed polygon ring around its centroid, made when it is asked for.

    ``discs[i]`` is ``[ring]``, ring a (DISC_VERTICES + 1, 2) float array in px (µm / pixel
    size) or µm (pixel size None), the shape :func:`qupath_cells` takes as an outline.

    Parameters
    ----------
    cells : DataFrame with ``x_um``, ``y_um`` (µm) and optionally ``nucleus_area_um2``
    pixel_size_um : float or None
    """

    def __init__(self, cells: pd.DataFrame, pixel_size_um: float | None) -> None:
        scale = 1.0 / float(pixel_size_um) if pixel_size_um else 1.0
        self.xy = cells[["x_um", "y_um"]].to_numpy(dtype=float) * scale
        radius = np.full(len(cells), DISC_RADIUS_UM)
        if "nucleus_area_um2" in cells:
            with np.errstate(invalid="ignore"):
                area = np.sqrt(cells["nucleus_area_um2"].to_numpy(dtype=float) / np.pi)
            radius = np.where(np.isfinite(area) & (area > 0), area, radius)
        self.radius = radius * scale
        angles = np.linspace(0.0, 2 * np.pi, DISC_VERTICES + 1)
        angles[-1] = 0.0  # closed exactly
        self.unit = np.column_stack([np.cos(angles), np.sin(angles)])

    def __len__(self) -> int:
        return len(self.xy)

    def __getitem__(self, i: int) -> list[np.ndarray]:
        return [np.round(self.xy[i] + self.radius[i] * self.unit, 3)]


def qupath_table_features(
    cells: pd.DataFrame,
    regions: Mapping[str, Any],
    pixel_size_um: float | None,
    sample: str | None = None,
) -> tuple[list[dict], Iterator[dict]]:
    """A cell-table sample's regions and cells as QuPath objects (cells as discs).

    Parameters
    ----------
    cells : the cell table (``cells_spatial.parquet``): ``cell_id``, ``x_um``, ``y_um``,
        ``phenotype``, ...
    regions : the regions GeoJSON FeatureCollection (``tumor.geojson``, px or µm as its
        ``frontline.units`` says)
    pixel_size_um : µm per pixel, or None (coordinates stay in µm)
    sample : sample name, for stable object ids

    Returns
    -------
    annotations : list of GeoJSON features
    detections : iterator of GeoJSON features, one per cell
    """
    units = (regions.get("frontline") or {}).get("units", "px")
    annotations = qupath_annotations(
        regions.get("features", []),
        pixel_size_um if pixel_size_um else 1.0,  # no pixel size: µm stay µm
        units,
        sample=sample,
    )
    log.info(
        "%d annotations, %d cells as discs (%s coordinates)",
        len(annotations),
        len(cells),
        f"pixel, {pixel_size_um:.4g} µm/px" if pixel_size_um else "µm",
    )
    discs = CellDiscs(cells, pixel_size_um)
    ids = cells["cell_id"].to_numpy()
    return annotations, qupath_cells(cells, ids, discs, sample=sample)


def _log_progress(done: int, total: int) -> None:
    log.info("outlines: tile %d of %d", done, total)
