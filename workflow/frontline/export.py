"""Exports other tools open: QuPath GeoJSON and AnnData (scverse).

QuPath
------
:func:`cell_outlines` turns a label image into one polygon per label by tracing the pixel
edges between labels, all labels at once with array operations (no per-cell contour search),
tile by tile for big slides. :func:`qupath_cells` writes them as QuPath detections.

QuPath's coordinates are **pixels of the full-resolution image**, origin at the top-left
corner of the image, x to the right, y down, pixel ``(row, col)`` covering
``[col, col + 1) x [row, row + 1)``. Outlines run along pixel edges, so their vertices are
integers and a polygon covers exactly the pixels of its label. (µm = px * pixel size; the
cell tables' centres at ``(i + 0.5) * pixel size`` are the centres of these pixels.)

Each detection carries ``objectType: "detection"``, a classification (the phenotype, with
its colour), ``measurements`` (every numeric column of the cell table: ``dist_front_um``,
``x_um``, areas, marker means, ...; NaN values are left out, QuPath shows them as NaN),
and ``metadata`` with the text fields QuPath cannot keep as measurements (``region``,
``cell_id``). QuPath 0.4 or later reads all of them (File > Import objects from file, or
drag the file onto the image).

AnnData
-------
:func:`to_anndata`: one observation per cell, ``X`` = marker means (each marker in its
phenotyping compartment), layers ``nucleus``, ``cell``, ``ring``; ``obsm['spatial']`` in µm.
"""

import logging
import uuid

import numpy as np
import pandas as pd

from .colours import phenotype_colours, region_colour
from .measure import COMPARTMENTS, READOUTS, expand_nuclei, intensity_column

log = logging.getLogger(__name__)

# Edge directions in (x, y) pixel coordinates, y down: east, south, west, north.
_DX = np.array([1, 0, -1, 0])
_DY = np.array([0, 1, 0, -1])
_UUID_NAMESPACE = uuid.UUID("6f1c1e4e-3a51-4d7e-9d59-0f2f0c6b8a10")


# --------------------------------------------------------------------------- outlines


def _trace(labels):
    """Trace every label's boundary along pixel edges.

    Every edge between two different labels is given to each non-zero label beside it,
    directed so that the label lies on its right (y down). Chaining each edge to the one
    that starts where it ends gives closed rings: clockwise on screen (positive area) around
    a region, anticlockwise around a hole. Where a label touches itself only at a corner,
    the ring turns right, so diagonal neighbours are separate rings (4-connectivity).

    Returns
    -------
    dict of arrays: ``x``, ``y`` (V,) int64 vertices ring after ring (corners only);
    ``start`` (R,) index of each ring's first vertex; ``label`` (R,) the ring's label;
    ``area`` (R,) signed area in px² (> 0 outer ring, < 0 hole).
    """
    labels = np.asarray(labels)
    height, width = labels.shape
    ids, compact = np.unique(labels, return_inverse=True)
    compact = compact.reshape(height, width).astype(np.int64)
    if ids.size == 0 or (ids.size == 1 and ids[0] == 0):
        empty = np.zeros(0, np.int64)
        return {"x": empty, "y": empty, "start": empty, "label": empty, "area": np.zeros(0, float)}
    if ids[0] != 0:
        ids = np.concatenate([[0], ids])
        compact += 1
    padded = np.pad(compact, 1)

    parts = []
    # horizontal pixel edges on the line y = r, from x = c to c + 1
    above, below = padded[:-1, 1:-1], padded[1:, 1:-1]
    r, c = np.nonzero(above != below)
    lab = below[r, c]
    parts.append((lab, c, r, np.zeros_like(r)))  # top of `below`: east
    lab = above[r, c]
    parts.append((lab, c + 1, r, np.full_like(r, 2)))  # bottom of `above`: west
    # vertical pixel edges on the line x = c, from y = r to r + 1
    left, right = padded[1:-1, :-1], padded[1:-1, 1:]
    r, c = np.nonzero(left != right)
    lab = right[r, c]
    parts.append((lab, c, r + 1, np.full_like(r, 3)))  # left side of `right`: north
    lab = left[r, c]
    parts.append((lab, c, r, np.ones_like(r)))  # right side of `left`: south

    lab = np.concatenate([p[0] for p in parts])
    x0 = np.concatenate([p[1] for p in parts]).astype(np.int64)
    y0 = np.concatenate([p[2] for p in parts]).astype(np.int64)
    direction = np.concatenate([p[3] for p in parts]).astype(np.int64)
    keep = lab != 0
    lab, x0, y0, direction = lab[keep], x0[keep], y0[keep], direction[keep]

    n_vertices = (height + 1) * (width + 1)
    key = lab * n_vertices + y0 * (width + 1) + x0
    order = np.lexsort((direction, key))
    lab, x0, y0, direction, key = (a[order] for a in (lab, x0, y0, direction, key))
    end_key = lab * n_vertices + (y0 + _DY[direction]) * (width + 1) + (x0 + _DX[direction])
    lo = np.searchsorted(key, end_key, side="left")
    count = np.searchsorted(key, end_key, side="right") - lo
    if not np.all((count == 1) | (count == 2)):
        raise RuntimeError("boundary tracing found an open outline")  # cannot happen
    # at a corner where a label meets itself, take the right turn
    right_turn = (direction + 1) % 4
    second = np.minimum(lo + 1, key.size - 1)
    nxt = np.where((count == 2) & (direction[lo] != right_turn), second, lo)

    n = key.size
    idx = np.arange(n)
    # ring id = smallest edge index on the ring (pointer doubling: log2(ring length) steps)
    head, jump = idx.copy(), nxt.copy()
    while True:
        new = np.minimum(head, head[jump])
        if np.array_equal(new, head):
            break
        head, jump = new, jump[jump]
    # position on the ring: steps to the ring's last edge, the ring cut open before its head
    succ = np.where(nxt == head, idx, nxt)
    dist = (succ != idx).astype(np.int64)
    while True:
        nxt_succ = succ[succ]
        if np.array_equal(nxt_succ, succ):
            break
        dist = dist + dist[succ]
        succ = nxt_succ
    prev = np.empty_like(nxt)
    prev[nxt] = idx
    corner = direction[prev] != direction  # drop vertices in the middle of straight runs
    ring_order = np.lexsort((-dist, head))
    ring_order = ring_order[corner[ring_order]]

    x, y, ring = x0[ring_order], y0[ring_order], head[ring_order]
    start = np.flatnonzero(np.r_[True, ring[1:] != ring[:-1]])
    ring_index = np.cumsum(np.r_[False, ring[1:] != ring[:-1]])
    stop = np.r_[start[1:], x.size]
    following = np.arange(x.size) + 1
    following[stop - 1] = start  # the vertex after a ring's last is its first
    cross = x * y[following] - x[following] * y
    area = np.bincount(ring_index, weights=cross, minlength=start.size) / 2.0
    return {
        "x": x,
        "y": y,
        "start": start,
        "label": ids[lab[ring_order][start]].astype(np.int64),
        "area": area,
    }


def _assemble(traced, select=None, origin_px=(0, 0)):
    """Group traced rings into one polygon per label: its largest outer ring and its holes.

    Returns ``(ids, rings)`` as in :func:`label_outlines`, for labels in ``select`` (all
    labels when None).
    """
    x, y, start, label, area = (traced[k] for k in ("x", "y", "start", "label", "area"))
    stop = np.r_[start[1:], x.size]
    keep = np.ones(start.size, bool) if select is None else np.isin(label, select)
    rows = np.flatnonzero(keep)
    # per label: outer rings, largest first, then holes
    order = rows[np.lexsort((-np.abs(area[rows]), area[rows] < 0, label[rows]))]
    ox, oy = origin_px
    ids, rings = [], []
    current, shells = None, 0
    for i in order:
        coords = np.column_stack([x[start[i] : stop[i]] + ox, y[start[i] : stop[i]] + oy])
        coords = np.vstack([coords, coords[:1]])
        if label[i] != current:
            current, shells = label[i], 0
            ids.append(int(label[i]))
            rings.append([])
        if area[i] > 0:
            shells += 1
            if shells == 1:
                rings[-1].append(coords)
        elif shells == 1 or _inside(coords[0], rings[-1][0]):
            rings[-1].append(coords)
    return np.asarray(ids, np.int64), rings


def _inside(point, ring):
    from matplotlib.path import Path  # only for labels split into several pieces (rare)

    return bool(Path(ring).contains_point(point))


def label_outlines(labels, origin_px=(0, 0)):
    """One polygon per label of a label image, along the pixel edges.

    Parameters
    ----------
    labels : (Y, X) int array, 0 = background
    origin_px : (x, y) added to every vertex (the window's top-left corner in the slide)

    Returns
    -------
    ids : (N,) int64, the labels, ascending
    rings : list of N lists of (k, 2) int64 arrays of (x, y) px vertices, closed (first =
        last); the first is the outline (clockwise on screen), the others its holes. A label
        in several pieces keeps its largest piece.
    """
    return _assemble(_trace(labels), origin_px=origin_px)


class _ArrayLabels:
    def __init__(self, labels):
        self.array = np.asarray(labels)
        self.shape = self.array.shape

    def read(self, window=None):
        y0, y1, x0, x1 = window
        return self.array[y0:y1, x0:x1]


def cell_outlines(labels, expansion_px=0.0, tile_px=2048, progress=None):
    """Outlines of every cell (nucleus grown as in ``measure``) of a slide, tile by tile.

    A label belongs to the tile holding the top-left corner of its bounding box and is
    traced from a window around that tile; the window's margin doubles for a tile whose
    cells reach its edge, so the result equals tracing the whole image at once.

    Parameters
    ----------
    labels : (Y, X) int array of nuclei, or a reader with ``.shape`` and ``.read(window)``
        (``frontline.io.open_labels``), window = (y0, y1, x0, x1) px
    expansion_px : float, nucleus-to-cell growth in px (0: nucleus outlines)
    tile_px : int, edge of a tile in px (memory grows with its square)
    progress : callable(done, total) or None, called after every tile

    Returns
    -------
    ids, rings : as :func:`label_outlines`, in full-image px coordinates, ids ascending
    """
    if isinstance(labels, np.ndarray):
        labels = _ArrayLabels(labels)
    height, width = (int(s) for s in labels.shape)
    margin = int(np.ceil(2 * expansion_px)) + 2
    halo = margin + 64
    tile_px = int(tile_px)
    tiles = [(y0, x0) for y0 in range(0, height, tile_px) for x0 in range(0, width, tile_px)]
    all_ids, all_rings = [], []
    for done, (ty, tx) in enumerate(tiles, 1):
        core = (ty, min(ty + tile_px, height), tx, min(tx + tile_px, width))
        while True:
            win = (
                max(0, core[0] - halo),
                min(height, core[1] + halo),
                max(0, core[2] - halo),
                min(width, core[3] + halo),
            )
            cells = expand_nuclei(np.asarray(labels.read(win)), expansion_px)
            traced = _trace(cells)
            owned, complete = _owned(traced, core, win, (height, width), margin)
            if complete or win == (0, height, 0, width):
                break
            halo *= 2
            log.info(
                "cells reach the edge of the window around tile %s; margin now %d px", core, halo
            )
        ids, rings = _assemble(traced, owned, origin_px=(win[2], win[0]))
        all_ids.append(ids)
        all_rings.extend(rings)
        if progress is not None:
            progress(done, len(tiles))
    ids = np.concatenate(all_ids) if all_ids else np.zeros(0, np.int64)
    order = np.argsort(ids, kind="stable")
    return ids[order], [all_rings[i] for i in order]


def _owned(traced, core, win, shape, margin):
    """Labels whose bounding box starts in ``core``; whether all of them lie well inside."""
    if traced["label"].size == 0:
        return np.zeros(0, np.int64), True
    x, y, start, label = traced["x"], traced["y"], traced["start"], traced["label"]
    table = pd.DataFrame(
        {
            "label": label,
            "x0": np.minimum.reduceat(x, start),
            "x1": np.maximum.reduceat(x, start),
            "y0": np.minimum.reduceat(y, start),
            "y1": np.maximum.reduceat(y, start),
        }
    )
    box = table.groupby("label").agg(
        x0=("x0", "min"), x1=("x1", "max"), y0=("y0", "min"), y1=("y1", "max")
    )
    # window-local -> image px
    bx0, bx1 = box["x0"].to_numpy() + win[2], box["x1"].to_numpy() + win[2]
    by0, by1 = box["y0"].to_numpy() + win[0], box["y1"].to_numpy() + win[0]
    own = (by0 >= core[0]) & (by0 < core[1]) & (bx0 >= core[2]) & (bx0 < core[3])
    height, width = shape
    ok_bottom = (by1 + margin <= win[1]) | (win[1] == height)
    ok_right = (bx1 + margin <= win[3]) | (win[3] == width)
    ok_top = (by0 - margin >= win[0]) | (win[0] == 0)
    ok_left = (bx0 - margin >= win[2]) | (win[2] == 0)
    complete = bool(np.all((ok_bottom & ok_right & ok_top & ok_left)[own]))
    return box.index.to_numpy()[own], complete


# --------------------------------------------------------------------------- QuPath


def round_significant(values, digits=6):
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


def _number(value):
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return None
    if isinstance(value, (bool, np.bool_)):
        return float(value)
    return float(value)


def qupath_cells(
    cells, ids, rings, measurement_columns=None, text_columns=("region",), colours=None, sample=None
):
    """QuPath detections, one per cell with an outline, generated one at a time (a big slide's
    detections are written as they come, never held in memory together).

    Parameters
    ----------
    cells : DataFrame with ``cell_id`` and ``phenotype``; numeric columns become measurements
    ids, rings : outlines from :func:`cell_outlines` (px)
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


def qupath_annotations(features, pixel_size_um, coordinate_units="um", colours=None, sample=None):
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


def feature_collection(features):
    """A GeoJSON FeatureCollection dict of ``features``."""
    return {"type": "FeatureCollection", "features": list(features)}


# --------------------------------------------------------------------------- AnnData


def marker_compartments(columns, compartments=None, default_compartment="cell"):
    """Markers found in a cell table and the compartment each one is read from.

    Parameters
    ----------
    columns : the table's column names (``{marker}_{compartment}_mean``,
        ``{marker}_ring_median``)
    compartments : dict marker -> "nucleus" | "cell" | "ring" | "ring_median" (phenotyping
        config; a readout the table lacks falls back to the first mean it has)
    default_compartment : for markers not in ``compartments``

    Returns
    -------
    dict marker -> compartment, markers in table order
    """
    compartments = compartments or {}
    markers = []
    for column in columns:
        for comp in COMPARTMENTS:
            suffix = f"_{comp}_mean"
            if column.endswith(suffix):
                marker = column[: -len(suffix)]
                if marker not in markers:
                    markers.append(marker)
    out = {}
    for marker in markers:
        comp = compartments.get(marker, default_compartment)
        if intensity_column(marker, comp) not in columns:
            comp = next(c for c in COMPARTMENTS if f"{marker}_{c}_mean" in columns)
        out[marker] = comp
    return out


def to_anndata(cells, pixel_size_um, sample, compartments=None, default_compartment="cell"):
    """An AnnData of a cell table: cells x markers.

    Parameters
    ----------
    cells : DataFrame, one row per cell: ``cell_id``, ``x_um``, ``y_um``,
        ``{marker}_{compartment}_mean``, and optionally ``phenotype``, ``region``,
        ``dist_front_um`` and other per-cell columns
    pixel_size_um : float, µm per px of the image
    sample : str
    compartments, default_compartment : which mean goes into ``X`` per marker

    Returns
    -------
    anndata.AnnData with
      - ``X`` (n_cells, n_markers) float32: each marker's mean (or ring median) in its
        compartment;
      - ``layers['nucleus' | 'cell' | 'ring']``: the means in every compartment (NaN where a
        compartment is empty, e.g. a cell without ring pixels);
      - ``obs`` indexed by the cell id as text: ``cell_id``, ``phenotype`` and ``region``
        (categorical), ``dist_front_um``, ``x_um``, ``y_um`` and the other non-marker columns;
      - ``var`` indexed by marker with ``compartment``;
      - ``obsm['spatial']`` (n_cells, 2) float: (x, y) in µm;
      - ``uns``: ``sample``, ``pixel_size_um``, ``spatial_unit`` ("um"),
        ``phenotype_colors`` (hex, aligned with the categories, as scanpy expects).
    """
    import anndata as ad

    comps = marker_compartments(list(cells.columns), compartments, default_compartment)
    markers = list(comps)
    marker_columns = [
        intensity_column(m, c)
        for m in markers
        for c in READOUTS
        if intensity_column(m, c) in cells.columns
    ]
    X = (
        np.column_stack(
            [cells[intensity_column(m, comps[m])].to_numpy(np.float32) for m in markers]
        )
        if markers
        else np.zeros((len(cells), 0), np.float32)
    )
    layers = {}
    for comp in COMPARTMENTS:
        if all(f"{m}_{comp}_mean" in cells.columns for m in markers) and markers:
            layers[comp] = np.column_stack(
                [cells[f"{m}_{comp}_mean"].to_numpy(np.float32) for m in markers]
            )
    obs = cells.drop(columns=marker_columns).copy()
    obs.index = obs["cell_id"].astype("int64").astype(str).to_numpy()
    for name in ("phenotype", "region"):
        if name in obs:
            obs[name] = obs[name].astype(str).astype("category")
    for column in obs.columns:  # h5ad keeps text columns as categoricals
        if obs[column].dtype == object:
            obs[column] = obs[column].astype(str).astype("category")
    var = pd.DataFrame({"compartment": pd.Categorical([comps[m] for m in markers])}, index=markers)
    uns = {"sample": str(sample), "pixel_size_um": float(pixel_size_um), "spatial_unit": "um"}
    if "phenotype" in obs:
        palette = phenotype_colours(obs["phenotype"].cat.categories)
        uns["phenotype_colors"] = [
            "#{:02x}{:02x}{:02x}".format(*palette[c]) for c in obs["phenotype"].cat.categories
        ]
    adata = ad.AnnData(
        X=X,
        obs=obs,
        var=var,
        layers=layers,
        uns=uns,
        obsm={"spatial": cells[["x_um", "y_um"]].to_numpy(np.float64)},
    )
    return adata
