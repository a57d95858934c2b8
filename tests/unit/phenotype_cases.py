"""Small named cases shared by the tests of frontline.gating and frontline.phenotype."""

import numpy as np
import pandas as pd

from frontline import config

CHANNELS = ["DAPI", "PanCK", "CD45", "CD3", "CD8", "CD20", "CD68", "MPO"]
TREE = {
    "tumor": {"positive": ["PanCK"]},
    "immune": {"positive": ["CD45"]},
    "T_cell": {"parent": "immune", "positive": ["CD3"]},
    "CD8_T": {"parent": "T_cell", "positive": ["CD8"]},
    "T_helper": {"parent": "T_cell", "negative": ["CD8"]},
    "B_cell": {"parent": "immune", "positive": ["CD20"]},
    "macrophage": {"parent": "immune", "positive": ["CD68"]},
    "neutrophil": {"parent": "immune", "positive": ["MPO"]},
}
EXCLUSIVE = [["tumor", "immune"]]
# the auto gate's settings, as the config schema sets them
GATING = {k: config.section("phenotyping")[k] for k in ("min_confidence", "tail_mads", "seed")}


def phenotyping(**keys):
    """The config's ``phenotyping`` section for TREE: schema defaults, ``keys`` replaced."""
    base = {"phenotypes": TREE, "exclusive": EXCLUSIVE, "gates": {}, "compartments": {}}
    return config.section("phenotyping", **{**base, **keys})


def nest_cells(seed=3):
    """Tumour cells, stromal cells and T cells, a third of the T cells inside tumour nests.

    Keratin is cytoplasmic: a tumour cell's whole cell is bright, its nucleus (wrapped in its
    own keratin) about half as bright. A T cell in a nest has mostly the tumour neighbours'
    cytoplasm in its grown cell region (keratin-positive there) but its own, dim nucleus.
    """
    rng = np.random.default_rng(seed)
    n_tumor, n_stroma, n_t = 1500, 1000, 600
    kind = np.array(["tumor"] * n_tumor + ["stromal"] * n_stroma + ["CD8_T"] * n_t)
    in_nest = np.zeros(kind.size, bool)
    in_nest[n_tumor + n_stroma :][: n_t // 3] = True
    n = kind.size
    lognormal = lambda level, sd=0.3: rng.lognormal(np.log(level), sd, n)  # noqa: E731
    is_tumor, is_t = kind == "tumor", kind == "CD8_T"
    cells = {"cell_id": np.arange(1, n + 1)}
    panck_cell = np.where(
        is_tumor, lognormal(2000), np.where(in_nest, lognormal(1800), lognormal(150))
    )
    panck_nucleus = np.where(
        is_tumor, lognormal(1000), np.where(in_nest, lognormal(180), lognormal(120))
    )
    for m in CHANNELS:
        on = is_t if m in ("CD45", "CD3", "CD8") else np.zeros(n, bool)
        level = np.where(on, lognormal(1200), lognormal(150, 0.4))
        for comp in ("nucleus", "cell", "ring"):
            cells[f"{m}_{comp}_mean"] = level
    cells["PanCK_cell_mean"] = cells["PanCK_ring_mean"] = panck_cell
    cells["PanCK_nucleus_mean"] = panck_nucleus
    return pd.DataFrame(cells), kind, in_nest
