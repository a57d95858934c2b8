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


def clustered_field(rng, n=20_000, size_um=1500.0, nests=25):
    """Cells in a square field: tumor cells in Gaussian nests (sigma 60 µm, 45 %), CD8_T cells
    half uniform and half within ~25 µm of tumor cells (15 %), stromal cells uniform.

    Returns
    -------
    xy : (M, 2) float, µm (cells falling off the field are dropped); phenotype : (M,) str
    """
    centres = rng.uniform(0, size_um, (nests, 2))
    n_tumor, n_immune = int(n * 0.45), int(n * 0.15)
    tumor = centres[rng.integers(0, nests, n_tumor)] + rng.normal(0, 60, (n_tumor, 2))
    near = n_immune - n_immune // 2
    immune = np.r_[
        rng.uniform(0, size_um, (n_immune // 2, 2)),
        tumor[rng.integers(0, n_tumor, near)] + rng.normal(0, 25, (near, 2)),
    ]
    xy = np.r_[tumor, immune, rng.uniform(0, size_um, (n - n_tumor - n_immune, 2))]
    phen = np.array(
        ["tumor"] * n_tumor + ["CD8_T"] * n_immune + ["stromal"] * (n - n_tumor - n_immune)
    )
    keep = ((xy >= 0) & (xy <= size_um)).all(axis=1)
    return xy[keep], phen[keep]
