"""Fixtures shared by the unit tests of one library package (here: segment)."""

import os
from pathlib import Path

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
