"""Small named cases shared by the tests of frontline.spatial (imported by the test modules)."""

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon, Point, box

from frontline import front
from frontline.geometry import as_multipolygon
from frontline.regions import Regions

EDGE_TOLERANCE_UM = 20.0
# The simulator's panel: the spatial keys that name phenotypes (they have no schema default).
PANEL = {"immune_types": ("CD8_T", "T_helper", "B_cell", "macrophage", "neutrophil")}
PANEL_CALL = {"phenotype": "CD8_T"}


def regions_of(tumor, extent=(1000.0, 1000.0), tolerance=EDGE_TOLERANCE_UM):
    """Regions of a field that is tissue everywhere, with ``tumor`` (µm) in it."""
    tissue = MultiPolygon([box(0, 0, *extent)])
    tumor = as_multipolygon(tumor)
    return Regions(
        tumor=tumor,
        tissue=tissue,
        front=front.invasive_front(tumor, tissue, tolerance),
        extent_um=extent,
    )


def uniform(rng, n, extent=(1000.0, 1000.0)):
    return rng.uniform((0, 0), extent, size=(n, 2))


def small_sample(rng):
    """1 x 1 mm: a tumor disc of radius 300 µm, immune cells piling up outside its edge."""
    extent = (1000.0, 1000.0)
    tumor_poly = Point(500, 500).buffer(300, quad_segs=64)
    xy = uniform(rng, 4000, extent)
    inside = shapely.contains_xy(tumor_poly, xy[:, 0], xy[:, 1])
    d = shapely.distance(tumor_poly.boundary, shapely.points(xy))
    phen = np.where(inside, "tumor", "stromal").astype(object)
    immune = (~inside) & (rng.random(len(xy)) < np.exp(-d / 60.0))
    phen[immune] = rng.choice(["CD8_T", "macrophage"], immune.sum())
    cells = pd.DataFrame(
        {
            "cell_id": np.arange(1, len(xy) + 1),
            "x_um": xy[:, 0],
            "y_um": xy[:, 1],
            "phenotype": phen.astype(str),
        }
    )
    return cells, regions_of(tumor_poly, extent)
