"""Simulator truth for the spatial tests: cells with their true distances."""

import numpy as np
import pandas as pd

from frontline import front, simulate


def simulated_truth(preset, seed, shape_px=(4096, 4096), pixel_size_um=0.5):
    """The simulator's truth cells and tumor polygon, without rendering the image.

    The same world and the same cells as ``simulate.simulate_tissue`` (cell centres instead
    of the centroids of the visible nuclei), in a few seconds instead of minutes.

    Returns
    -------
    cells : DataFrame ``cell_id, x_um, y_um, phenotype, dist_front_um`` (µm)
    tumor : MultiPolygon, µm
    extent_um : (width_um, height_um)
    """
    world = simulate.make_world(preset, shape_px, pixel_size_um, seed)
    raw = simulate.generate_cells(world, 0.0, world.height_um, 0.0, world.width_um)
    cells = pd.DataFrame({"cell_id": raw["id"], "x_um": raw["x"], "y_um": raw["y"],
                          "phenotype": np.array(simulate.PHENOTYPES)[raw["code"]]})
    keep = ((cells["x_um"] >= 0) & (cells["x_um"] < world.width_um)
            & (cells["y_um"] >= 0) & (cells["y_um"] < world.height_um))
    cells = cells[keep].reset_index(drop=True)
    tumor = front.as_multipolygon(simulate.observable_tumor(
        simulate.tumor_polygon(world), cells["x_um"], cells["y_um"], cells["phenotype"] == "tumor"))
    cells["dist_front_um"] = simulate.signed_distance_um(tumor, cells["x_um"].to_numpy(),
                                                         cells["y_um"].to_numpy())
    return cells, tumor, (world.width_um, world.height_um)

