"""A simulated sample: the image and its truth (nuclei, cells, tumor), or the truth alone."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from .cells import generate_cells
from .presets import CHANNELS, PHENOTYPES
from .render import render
from .world import make_world, truth_regions

log = logging.getLogger(__name__)


@dataclass
class Simulation:
    """A simulated sample with its truth (see :func:`simulate_tissue`)."""

    image: np.ndarray  # (C, Y, X) uint16
    channels: list  # C marker names
    labels: np.ndarray  # (Y, X) uint32, label == cell_id
    cells: pd.DataFrame  # cell_id, x_um, y_um, phenotype, dist_front_um
    tumor: shapely.Geometry  # (Multi)Polygon, µm
    pixel_size_um: float
    preset: str
    seed: int


def simulate_tissue(
    preset: str = "inflamed",
    shape_px: tuple[int, int] = (2048, 2048),
    pixel_size_um: float = 0.5,
    seed: int = 0,
) -> Simulation:
    """Simulate one mIF image of a tumor with its invasive front, and its truth.

    Parameters
    ----------
    preset : a name of ``PRESETS`` (layout and immune pattern, see ``presets``)
    shape_px : (Y, X) image size in pixels
    pixel_size_um : float, µm per pixel
    seed : int; the same arguments give the same sample

    Returns
    -------
    Simulation with ``image`` (C, Y, X) uint16, ``channels`` (list of C names),
    ``labels`` (Y, X) uint32 truth nuclei (label == cell_id, ids 1..N in painting order),
    ``cells`` DataFrame ``cell_id, x_um, y_um, phenotype, dist_front_um`` (centroid of the
    visible nucleus, µm; distance negative inside the tumor), ``tumor`` (Multi)Polygon in µm
    """
    shape_px = (int(shape_px[0]), int(shape_px[1]))
    world = make_world(preset, shape_px, pixel_size_um, seed, central_mass=True)
    cells = generate_cells(world, 0.0, world.height_um, 0.0, world.width_um)
    image, ids = render(world, cells, 0, 0, shape_px[0], shape_px[1], halo_px=0)

    # compact ids 1..N for visible nuclei, kept in painting order
    index = np.searchsorted(cells["id"], ids)  # ids are sorted; 0 maps to index 0
    counts = np.bincount(index.ravel(), weights=(ids > 0).ravel(), minlength=len(cells["id"]))
    visible = counts > 0
    new_id = np.zeros(len(cells["id"]) + 1, np.uint32)
    new_id[np.flatnonzero(visible)] = np.arange(1, visible.sum() + 1, dtype=np.uint32)
    labels = np.where(ids > 0, new_id[index], 0).astype(np.uint32)
    n = int(visible.sum())
    flat = labels.ravel()
    area = np.bincount(flat, minlength=n + 1)[1:]
    rows, cols = np.indices(labels.shape, dtype=np.float64)
    y_mean = np.bincount(flat, weights=rows.ravel(), minlength=n + 1)[1:] / area
    x_mean = np.bincount(flat, weights=cols.ravel(), minlength=n + 1)[1:] / area
    del rows, cols
    x = (x_mean + 0.5) * pixel_size_um
    y = (y_mean + 0.5) * pixel_size_um
    phenotype = np.array(PHENOTYPES)[cells["code"][visible]]
    tumor, dist = truth_regions(world, x, y, phenotype == "tumor")
    table = pd.DataFrame(
        {
            "cell_id": np.arange(1, n + 1, dtype=np.int64),
            "x_um": x,
            "y_um": y,
            "phenotype": pd.Categorical(phenotype, categories=PHENOTYPES).astype(str),
            "dist_front_um": dist,
        }
    )
    log.info(
        "simulated %s seed %d: %d x %d px, %d cells, tumor %.0f%% of the area",
        preset,
        seed,
        shape_px[0],
        shape_px[1],
        n,
        100 * tumor.area / (world.height_um * world.width_um),
    )
    return Simulation(
        image, list(CHANNELS), labels, table, tumor, float(pixel_size_um), preset, int(seed)
    )


def truth_cells(
    preset: str = "inflamed",
    shape_px: tuple[int, int] = (2048, 2048),
    pixel_size_um: float = 0.5,
    seed: int = 0,
) -> tuple[pd.DataFrame, shapely.MultiPolygon, tuple[float, float]]:
    """The truth of :func:`simulate_tissue` without the image: cells and tumor, in seconds.

    The same world and cells (cell centres instead of the centroids of the visible nuclei;
    cells hidden under others are kept), for tests and benchmarks of the front and spatial
    steps on truth.

    Returns
    -------
    cells : DataFrame ``cell_id, x_um, y_um, phenotype, dist_front_um`` (µm)
    tumor : MultiPolygon, µm (:func:`observable_tumor`)
    extent_um : (width_um, height_um)
    """
    world = make_world(
        preset, (int(shape_px[0]), int(shape_px[1])), pixel_size_um, seed, central_mass=True
    )
    raw = generate_cells(world, 0.0, world.height_um, 0.0, world.width_um)
    cells = pd.DataFrame(
        {
            "cell_id": raw["id"],
            "x_um": raw["x"],
            "y_um": raw["y"],
            "phenotype": np.array(PHENOTYPES)[raw["code"]],
        }
    )
    keep = (
        (cells["x_um"] >= 0)
        & (cells["x_um"] < world.width_um)
        & (cells["y_um"] >= 0)
        & (cells["y_um"] < world.height_um)
    )
    cells = cells[keep].reset_index(drop=True)
    x, y = cells["x_um"].to_numpy(), cells["y_um"].to_numpy()
    tumor, cells["dist_front_um"] = truth_regions(
        world, x, y, (cells["phenotype"] == "tumor").to_numpy()
    )
    return cells, tumor, (world.width_um, world.height_um)
