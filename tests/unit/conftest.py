"""Fixtures shared by the unit tests of a package's modules (segment, export)."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def nuclei_model():
    """The nuclei model through the normal config path (shipped model, offline).

    The model is the one the config names (``segmentation.model`` in
    ``segmentation.model_basedir``, the shipped ``frontline_nuclei``).
    ``FRONTLINE_TEST_NUCLEI_MODEL=<model folder>`` runs the same tests with another StarDist
    model (e.g. a candidate before it is shipped).
    """
    from frontline import segment

    seg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["segmentation"]
    override = os.environ.get("FRONTLINE_TEST_NUCLEI_MODEL")
    if override:
        return segment.load_model(override, precision="float32")
    folder = ROOT / seg["model_basedir"] / seg["model"]
    if not folder.is_dir():
        pytest.fail(
            f"the shipped nuclei model {folder} is missing: train it (`snakemake train`) "
            "and copy it to resources/models/",
            pytrace=False,
        )
    return segment.load_model(seg["model"], ROOT / seg["model_basedir"], precision="float32")


@pytest.fixture
def cell_table():
    """Three cells with marker means, a phenotype, a region and a distance (one NaN ring)."""
    return pd.DataFrame(
        {
            "cell_id": np.array([1, 2, 3], np.int64),
            "x_um": [1.5, 6.0, 3.0],
            "y_um": [1.0, 2.0, 4.0],
            "CD8_nucleus_mean": [1.0, 2.0, 3.0],
            "CD8_cell_mean": [4.0, 5.0, 6.0],
            "CD8_ring_mean": [7.0, np.nan, 9.0],
            "DAPI_nucleus_mean": [10.0, 11.0, 12.0],
            "DAPI_cell_mean": [13.0, 14.0, 15.0],
            "DAPI_ring_mean": [16.0, 17.0, 18.0],
            "phenotype": ["CD8_T", "tumor", "CD8_T"],
            "region": pd.Categorical(["outer_margin", "tumor_core", "stroma"]),
            "dist_front_um": [12.5, -150.0, 130.0],
        }
    )
