"""Training data (frontline.train): image/mask pairs and simulated tiles, a seeded split.

(Training itself takes an hour: the `train` target; tests/unit/test_model.py checks the model
it made.)"""

import numpy as np
import tifffile

from frontline import train


def pairs(folder, n):
    """n 32 x 32 image/mask pairs, one square nucleus each."""
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        mask = np.zeros((32, 32), np.uint16)
        mask[8:16, 8 + i % 8 : 16 + i % 8] = 1
        image = rng.normal(100, 5, (32, 32)) + 400 * mask
        tifffile.imwrite(folder / "images" / f"img{i:02d}.tif", image.astype(np.float32))
        tifffile.imwrite(folder / "masks" / f"img{i:02d}.tif", mask)
    tifffile.imwrite(folder / "images" / "unpaired.tif", np.zeros((32, 32), np.uint16))


def settings(folder, n_simulated):
    return {
        "datasets": [{"name": "toy", "images": folder / "images", "masks": folder / "masks"}],
        "simulated": {
            "n_samples": n_simulated,
            "shape_px": [256, 256],
            "pixel_size_um": 0.5,
            "seed": 5,
            "tile_px": 128,
        },
        "validation_fraction": 0.25,
        "norm_percentiles": [1.0, 99.8],
        "seed": 42,
    }


def test_training_data_holds_out_a_seeded_split_of_every_source(tmp_path):
    pairs(tmp_path, 8)
    train_x, train_y, val_sets, split = train.training_data(settings(tmp_path, 1))
    assert len(split["toy"]) == 2 and set(split["toy"]) < {f"img{i:02d}" for i in range(8)}
    assert [len(val_sets["toy"][0]), len(val_sets["simulated"][0])] == [2, 1]
    assert len(train_x) == len(train_y) == 6 + 3  # 4 simulated tiles, one held out
    assert all(x.dtype == np.float32 for x in train_x)
    assert train_x[0].max() > 0.9 and train_x[0].min() < 0.1  # normalised to about [0, 1]
    assert all(y.max() >= 1 for y in train_y)
    again = train.training_data(settings(tmp_path, 0))
    assert again[3] == split and "simulated" not in again[2]  # the same split, seeded
