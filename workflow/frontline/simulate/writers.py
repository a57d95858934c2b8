"""The files of a simulated sample: their names, the image and truth files, big slides.

A sample named ``{name}`` in folder ``{outdir}`` is four files (:func:`sample_files`), the
truth ones (:func:`truth_files`) sharing the prefix ``{outdir}/{name}`` that a sample sheet's
``truth`` column gives. The rules and the Python API take the names from here.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import numpy as np
import shapely
import zarr

from .. import io
from ..colours import REGION_COLOURS, TUMOR_CLASS
from ..files import atomic_output
from .cells import BLOCK_UM, MAX_PER_BLOCK, REACH_UM, generate_cells
from .presets import preset_of
from .render import HALO_UM, render
from .sample import Simulation
from .world import make_world

log = logging.getLogger(__name__)

IMAGE_SUFFIX = ".ome.tif"
TRUTH_SUFFIXES = {
    "nuclei": ".truth_nuclei.ome.tif",  # uint32 labels, label == cell_id
    "cells": ".truth_cells.parquet",  # cell_id, x_um, y_um, phenotype, dist_front_um
    "tumor": ".truth_tumor.geojson",  # the truth tumor, µm
}


def truth_files(prefix: str) -> dict[str, str]:
    """The truth files of a simulated sample: ``nuclei``, ``cells``, ``tumor`` -> path.

    Parameters
    ----------
    prefix : the sample's path without suffix, e.g. ``results/simulated/demo_inflamed``
        (the sample sheet's ``truth`` column)
    """
    return {key: f"{prefix}{suffix}" for key, suffix in TRUTH_SUFFIXES.items()}


def sample_files(prefix: str | Path) -> dict[str, str]:
    """All four files of a simulated sample: ``image`` and the :func:`truth_files`."""
    return {"image": f"{prefix}{IMAGE_SUFFIX}", **truth_files(str(prefix))}


def tumor_feature_collection(tumor: shapely.Geometry, pixel_size_um: float) -> dict:
    """The truth tumor as a GeoJSON FeatureCollection (dict), coordinates in µm.

    One QuPath-style annotation feature (classification "Tumor"); the properties state the
    unit, since QuPath itself reads coordinates as pixels (divide by ``pixel_size_um``).
    """
    geometry = shapely.geometry.mapping(tumor) if not tumor.is_empty else None
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": geometry,
                "properties": {
                    "objectType": "annotation",
                    "name": "Tumor",
                    "classification": {
                        "name": TUMOR_CLASS,
                        "color": list(REGION_COLOURS[TUMOR_CLASS]),
                    },
                    "coordinate_unit": "µm",
                    "pixel_size_um": float(pixel_size_um),
                },
            }
        ],
    }


def write_simulation(sim: Simulation, paths: dict[str, str | Path]) -> None:
    """Write a Simulation: image and truth (``paths`` as from :func:`sample_files`)."""
    io.write_image(paths["image"], sim.image, sim.channels, sim.pixel_size_um)
    io.write_labels(paths["nuclei"], sim.labels, sim.pixel_size_um)
    with atomic_output(paths["cells"]) as tmp:
        sim.cells.to_parquet(tmp, index=False)
    with atomic_output(paths["tumor"]) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(
                tumor_feature_collection(sim.tumor, sim.pixel_size_um), fh, ensure_ascii=False
            )


def _downsample(image: np.ndarray, factor: int) -> np.ndarray:
    """Block mean of a (C, h, w) array by ``factor`` (edges replicated), same dtype."""
    c, h, w = image.shape
    ph, pw = -h % factor, -w % factor
    if ph or pw:
        image = np.pad(image, ((0, 0), (0, ph), (0, pw)), mode="edge")
    out = np.empty((c, image.shape[1] // factor, image.shape[2] // factor), image.dtype)
    for i in range(c):  # one channel at a time keeps the float copy small
        blocks = image[i].reshape(out.shape[1], factor, out.shape[2], factor)
        out[i] = np.rint(blocks.mean(axis=(1, 3), dtype=np.float32))
    return out


def write_large_slide(
    path: str | Path,
    shape_px: tuple[int, int] = (16384, 16384),
    seed: int = 0,
    preset: str = "inflamed",
    pixel_size_um: float = 0.5,
    tile_px: int = 2048,
    labels_path: str | Path | None = None,
    store_tile_px: int = 512,
    min_level_px: int = 1024,
) -> dict:
    """Write a big simulated slide as a pyramidal OME-TIFF, tile by tile, in bounded memory.

    Each tile (plus a halo) is generated on its own from the slide's seeded placement blocks,
    so tiles join seamlessly and peak memory depends on ``tile_px``, not on the slide size.
    Tiles go to a compressed zarr scratch store beside ``path`` (OME-TIFF stores channel
    after channel), then are streamed into the TIFF. Tumor nests cover ~40 % of the slide.

    Parameters
    ----------
    path : output ``.ome.tif``
    shape_px : (Y, X) slide size in pixels
    seed : int
    preset : "inflamed" | "excluded" | "desert"
    pixel_size_um : float, µm per pixel
    tile_px : generated tile edge, pixels (a multiple of ``store_tile_px``)
    labels_path : optional ``.ome.tif`` for the uint32 truth nuclei (slide-wide cell ids,
        not consecutive)
    store_tile_px : TIFF tile edge, pixels
    min_level_px : sub-resolution levels (x2 each) are added until the longer side is at
        most this many pixels

    Returns
    -------
    dict with ``n_cells`` (nuclei centred in the slide) and ``levels`` (list of (Y, X))
    """
    if tile_px % store_tile_px:
        raise ValueError(
            f"tile_px ({tile_px}) must be a multiple of store_tile_px ({store_tile_px})"
        )
    shape_px = (int(shape_px[0]), int(shape_px[1]))
    world = make_world(preset, shape_px, pixel_size_um, seed, central_mass=False)
    n_blocks = np.ceil(world.height_um / BLOCK_UM) * np.ceil(world.width_um / BLOCK_UM)
    if labels_path is not None and n_blocks * MAX_PER_BLOCK >= 2**32:
        raise ValueError("slide too large for uint32 truth labels")
    factors = [1]
    while (
        max(shape_px) / factors[-1] > min_level_px
        and tile_px % (2 * factors[-1]) == 0
        and store_tile_px <= max(shape_px) // (2 * factors[-1])
    ):
        factors.append(2 * factors[-1])
    halo_um = HALO_UM + REACH_UM
    ps = float(pixel_size_um)
    n_cells = 0
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=Path(path).parent, prefix=".simulate-") as scratch:

        def store(name, channels, dtype, factor):
            shape = (channels, -(-shape_px[0] // factor), -(-shape_px[1] // factor))
            return zarr.create_array(
                store=f"{scratch}/{name}_{factor}.zarr",
                shape=shape,
                chunks=(1, store_tile_px, store_tile_px),
                dtype=dtype,
                fill_value=0,
            )

        panel = preset_of(world.preset)
        dtype = np.uint8 if panel.bit_depth == 8 else np.uint16
        levels = [store("image", len(panel.channels), dtype, f) for f in factors]
        label_store = store("labels", 1, np.uint32, 1) if labels_path is not None else None
        for y0 in range(0, shape_px[0], tile_px):
            for x0 in range(0, shape_px[1], tile_px):
                h, w = min(tile_px, shape_px[0] - y0), min(tile_px, shape_px[1] - x0)
                cells = generate_cells(
                    world,
                    y0 * ps - halo_um,
                    (y0 + h) * ps + halo_um,
                    x0 * ps - halo_um,
                    (x0 + w) * ps + halo_um,
                )
                inside = (
                    (cells["y"] >= y0 * ps)
                    & (cells["y"] < (y0 + h) * ps)
                    & (cells["x"] >= x0 * ps)
                    & (cells["x"] < (x0 + w) * ps)
                )
                n_cells += int(inside.sum())
                image, ids = render(world, cells, y0, x0, h, w)
                for factor, level in zip(factors, levels):
                    y, x = y0 // factor, x0 // factor
                    small = image if factor == 1 else _downsample(image, factor)
                    level[:, y : y + small.shape[1], x : x + small.shape[2]] = small
                if label_store is not None:
                    label_store[0, y0 : y0 + h, x0 : x0 + w] = ids.astype(np.uint32)
                del image, ids, cells
                log.info("slide tile y=%d x=%d done (%d cells so far)", y0, x0, n_cells)
        io.write_pyramid(path, levels, list(panel.channels), ps, store_tile_px)
        if label_store is not None:
            io.write_pyramid(labels_path, [label_store], ["labels"], ps, store_tile_px)
    return {"n_cells": n_cells, "levels": [tuple(lv.shape[1:]) for lv in levels]}
