"""The shipped nuclei model: loads the plain StarDist way and meets its accuracy targets."""

import json

import numpy as np
import pytest

from frontline import train

MODEL = "frontline_nuclei"


@pytest.fixture(scope="module")
def model(repo_root):
    from stardist.models import StarDist2D

    return StarDist2D(None, name=MODEL, basedir=str(repo_root / "resources" / "models"))


def test_model_folder_is_complete(repo_root):
    folder = repo_root / "resources" / "models" / MODEL
    for name in (
        "config.json",
        "thresholds.json",
        "weights_best.h5",
        "frontline.json",
        "README.md",
    ):
        assert (folder / name).is_file(), name
    meta = json.loads((folder / "frontline.json").read_text())
    assert meta["pixel_size_um"] == 0.5


def test_stardist_test_image(model):
    """Given the 512² DSB image inside the stardist wheel, F1 at IoU 0.5 is at least 0.85."""
    from stardist.data import test_image_nuclei_2d

    image, truth = test_image_nuclei_2d(return_mask=True)
    scores = train.matching_scores([truth], train.predict_all(model, [train.normalize(image)]))
    assert scores["f1"] >= 0.85, scores


def test_simulated_tissue(model):
    """Given a simulated sample the model never saw (seed 77), F1 against truth is at least 0.95."""
    from frontline.simulate import simulate_tissue

    sim = simulate_tissue("inflamed", shape_px=(768, 768), pixel_size_um=0.5, seed=77)
    dapi = sim.image[sim.channels.index("DAPI")]
    scores = train.matching_scores([sim.labels], train.predict_all(model, [train.normalize(dapi)]))
    assert scores["f1"] >= 0.95, scores


def test_dsb_validation_split(model, repo_root, shared_data):
    """Given the fixed DSB 2018 validation split (73 images), F1 at IoU 0.5 is at least 0.88."""
    split = json.loads(
        (repo_root / "resources" / "models" / MODEL / "validation_split.json").read_text()
    )
    ids, images, masks = train.load_pairs(
        shared_data / "dsb2018_fluo" / "images", shared_data / "dsb2018_fluo" / "masks"
    )
    is_val = train.validation_split(ids, 0.15, 42)
    assert sorted(np.array(ids)[is_val]) == split["dsb2018"]  # the split is reproducible
    val = [(train.normalize(x), y) for x, y, v in zip(images, masks, is_val) if v]
    scores = train.matching_scores(
        [y for _, y in val], train.predict_all(model, [x for x, _ in val])
    )
    assert len(val) == 73
    assert scores["f1"] >= 0.88, scores
