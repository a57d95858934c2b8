"""Training the nuclei model: StarDist2D on real fluorescence nuclei plus simulated tissue.

The shipped model (``resources/models/frontline_nuclei``) is made by the ``train`` target with
these functions. Data: folders of image/mask pairs (same file names) and tiles of the
simulator's DAPI channel with its truth nuclei. A fixed, seeded validation split is held out
from every source; thresholds are optimised on it.

Augmentation (per patch): rot90/flips, zoom (log-uniform, so the model tolerates pixel sizes
from about 0.3 to 0.8 µm), Gaussian blur, intensity scale/offset, Gaussian and Poisson-like noise.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from scipy import ndimage as ndi

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".tif", ".tiff", ".png")


def load_pairs(
    image_dir: str | Path, mask_dir: str | Path
) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """Read image/mask pairs that share a file name.

    Returns
    -------
    ids : list of str (file stems, sorted)
    images : list of (Y, X) float32 arrays (raw intensities)
    masks : list of (Y, X) int32 instance labels
    """
    image_dir, mask_dir = Path(image_dir), Path(mask_dir)
    ids, images, masks = [], [], []
    for path in sorted(p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        mask_path = mask_dir / path.name
        if not mask_path.exists():
            continue
        image = _read_2d(path)
        mask = _read_2d(mask_path).astype(np.int32)
        if image.shape != mask.shape:
            raise ValueError(f"{path.name}: image {image.shape} and mask {mask.shape} differ")
        ids.append(path.stem)
        images.append(image.astype(np.float32))
        masks.append(mask)
    return ids, images, masks


def _read_2d(path: Path) -> np.ndarray:
    if path.suffix.lower() == ".png":
        from skimage.io import imread

        array = imread(path)
    else:
        array = tifffile.imread(path)
    if array.ndim == 3:  # RGB(A) stored nuclei images: use the mean of the colour channels
        array = array[..., :3].mean(axis=-1) if array.shape[-1] in (3, 4) else array[0]
    return array


def validation_split(ids: Sequence[str], fraction: float, seed: int) -> np.ndarray:
    """Seeded split of ids: a fixed permutation of the sorted ids, the first ``fraction`` held out.

    Returns
    -------
    is_val : (N,) bool array aligned with ``ids``
    """
    sorted_ids = sorted(ids)
    order = np.random.default_rng(seed).permutation(len(sorted_ids))
    held_out = {sorted_ids[i] for i in order[: int(np.ceil(fraction * len(ids)))]}
    return np.array([i in held_out for i in ids], bool)


def simulated_tiles(
    n_samples: int, shape_px: Sequence[int], pixel_size_um: float, seed: int, tile_px: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Non-overlapping DAPI tiles and truth nuclei from simulated tissue.

    Returns
    -------
    images : list of (tile_px, tile_px) float32 arrays
    masks : list of (tile_px, tile_px) int32 arrays
    """
    from skimage.segmentation import relabel_sequential

    from .simulate import simulate_tissue

    presets = ("inflamed", "excluded", "desert")
    images, masks = [], []
    for i in range(n_samples):
        sample = simulate_tissue(
            presets[i % 3], shape_px=tuple(shape_px), pixel_size_um=pixel_size_um, seed=seed + i
        )
        dapi = np.asarray(sample.image[sample.channels.index("DAPI")], np.float32)
        labels = np.asarray(sample.labels)
        for y in range(0, shape_px[0] - tile_px + 1, tile_px):
            for x in range(0, shape_px[1] - tile_px + 1, tile_px):
                images.append(dapi[y : y + tile_px, x : x + tile_px].copy())
                masks.append(
                    relabel_sequential(labels[y : y + tile_px, x : x + tile_px].astype(np.int32))[0]
                )
    return images, masks


def normalize(image: np.ndarray, low: float = 1.0, high: float = 99.8) -> np.ndarray:
    """StarDist's standard per-image percentile normalisation to about [0, 1]."""
    from csbdeep.utils import normalize as _normalize

    return _normalize(image, low, high, axis=(0, 1)).astype(np.float32)


def make_augmenter(
    seed: int, zoom_range: tuple[float, float] = (0.6, 1.6)
) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """An ``augmenter(x, y)`` for StarDist's data generator, seeded.

    x : (h, w) float32 normalised image patch, y : (h, w) int labels; returns both, same shape.
    """
    rng = np.random.default_rng(seed)

    def augment(x, y):
        k = rng.integers(4)
        x, y = np.rot90(x, k), np.rot90(y, k)
        if rng.random() < 0.5:
            x, y = x[:, ::-1], y[:, ::-1]
        if rng.random() < 0.5:
            factor = float(np.exp(rng.uniform(*np.log(zoom_range))))
            x, y = _zoom_to_shape(x, y, factor, rng)
        if rng.random() < 0.3:
            x = ndi.gaussian_filter(x, rng.uniform(0.3, 1.5))
        x = x * rng.uniform(0.6, 1.4) + rng.uniform(-0.1, 0.1)
        if rng.random() < 0.5:
            x = x + rng.normal(0, rng.uniform(0.0, 0.06), x.shape)
        if rng.random() < 0.3:  # shot noise at a random photon count
            scale = rng.uniform(20, 200)
            x = rng.poisson(np.clip(x, 0, None) * scale) / scale
        return np.ascontiguousarray(x, np.float32), np.ascontiguousarray(y)

    return augment


def _zoom_to_shape(
    x: np.ndarray, y: np.ndarray, factor: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    shape = x.shape
    xz = ndi.zoom(x, factor, order=1)
    yz = ndi.zoom(y, factor, order=0)
    if factor >= 1:
        oy = rng.integers(0, xz.shape[0] - shape[0] + 1)
        ox = rng.integers(0, xz.shape[1] - shape[1] + 1)
        return xz[oy : oy + shape[0], ox : ox + shape[1]], yz[
            oy : oy + shape[0], ox : ox + shape[1]
        ]
    pad = [(0, s - z) for s, z in zip(shape, xz.shape)]
    fill = float(np.percentile(xz, 5))
    return (np.pad(xz, pad, constant_values=fill), np.pad(yz, pad, constant_values=0))


def build_config(
    patch_px: int = 128,
    batch_size: int = 8,
    n_rays: int = 32,
    grid: int = 2,
    epochs: int = 100,
    steps_per_epoch: int = 100,
    learning_rate: float = 3e-4,
) -> Any:
    """StarDist's published 2D architecture (32-filter U-Net of depth 3) with training settings."""
    from stardist.models import Config2D

    return Config2D(
        n_rays=n_rays,
        grid=(grid, grid),
        n_channel_in=1,
        train_patch_size=(patch_px, patch_px),
        train_batch_size=batch_size,
        train_epochs=epochs,
        train_steps_per_epoch=steps_per_epoch,
        train_learning_rate=learning_rate,
        train_tensorboard=False,
        unet_n_depth=3,
        unet_n_filter_base=32,
        train_reduce_lr={"factor": 0.5, "patience": 10, "min_delta": 0},
    )


def set_seeds(seed: int) -> None:
    """Seed NumPy, TensorFlow and Keras (a training run is repeatable up to GPU kernels)."""
    import keras
    import tensorflow as tf

    np.random.seed(seed)
    tf.random.set_seed(seed)
    keras.utils.set_random_seed(seed)


def matching_scores(
    masks_true: Sequence[np.ndarray], masks_pred: Sequence[np.ndarray], thresh: float = 0.5
) -> dict:
    """Precision, recall and F1 at IoU ``thresh`` pooled over a dataset."""
    from stardist.matching import matching_dataset

    stats = matching_dataset(masks_true, masks_pred, thresh=thresh, show_progress=False)
    return {
        "precision": float(stats.precision),
        "recall": float(stats.recall),
        "f1": float(stats.f1),
        "n_true": int(stats.n_true),
        "n_pred": int(stats.n_pred),
    }


def predict_all(model: Any, images: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Labels for a list of normalised images (thresholds of the model)."""
    return [model.predict_instances(x)[0] for x in images]


def _split(
    images: list[np.ndarray], masks: list[np.ndarray], is_val: np.ndarray
) -> tuple[list, list, list, list]:
    """(train images, train masks, validation images, validation masks)."""
    return (
        [x for x, v in zip(images, is_val) if not v],
        [y for y, v in zip(masks, is_val) if not v],
        [x for x, v in zip(images, is_val) if v],
        [y for y, v in zip(masks, is_val) if v],
    )


def training_data(settings: Mapping[str, Any]) -> tuple[list, list, dict, dict]:
    """The normalised training patches and the held-out validation sets of every source.

    Parameters
    ----------
    settings : the ``training`` config section: ``datasets`` (name, images, masks folders),
        ``simulated`` (``n_samples``, ``shape_px``, ``pixel_size_um``, ``seed``, ``tile_px``),
        ``validation_fraction``, ``norm_percentiles``, ``seed``

    Returns
    -------
    train_x, train_y : lists of (h, w) normalised images and their int labels
    val_sets : dict source -> (images, labels) held out (the datasets' names, "simulated")
    split : dict dataset -> sorted ids of its held-out images
    """
    p = settings
    train_x, train_y, val_sets, split = [], [], {}, {}
    for ds in p["datasets"]:
        ids, images, masks = load_pairs(ds["images"], ds["masks"])
        is_val = validation_split(ids, p["validation_fraction"], p["seed"])
        images = [normalize(x, *p["norm_percentiles"]) for x in images]
        split[ds["name"]] = sorted(i for i, v in zip(ids, is_val) if v)
        trn_x, trn_y, val_x, val_y = _split(images, masks, is_val)
        val_sets[ds["name"]] = (val_x, val_y)
        train_x += trn_x
        train_y += trn_y
    sim = p["simulated"]
    if sim["n_samples"] > 0:
        images, masks = simulated_tiles(
            sim["n_samples"], sim["shape_px"], sim["pixel_size_um"], sim["seed"], sim["tile_px"]
        )
        images = [normalize(x, *p["norm_percentiles"]) for x in images]
        is_val = validation_split(
            [f"sim{i:04d}" for i in range(len(images))], p["validation_fraction"], p["seed"]
        )
        trn_x, trn_y, val_x, val_y = _split(images, masks, is_val)
        val_sets["simulated"] = (val_x, val_y)
        train_x += trn_x
        train_y += trn_y
    return train_x, train_y, val_sets, split


@dataclass
class TrainingResult:
    """What a training run gives besides the model folder StarDist writes.

    Attributes
    ----------
    metrics : dict for ``metrics.json``: sizes, time, thresholds, scores, history
    split : dict dataset -> held-out ids (``validation_split.json``)
    provenance : dict for the model's ``frontline.json`` (beside the pixel size)
    history : dict of per-epoch losses (keras history)
    examples : list of (source, image, truth) validation examples
    predictions : list of label images predicted for ``examples``
    """

    metrics: dict
    split: dict
    provenance: dict
    history: dict
    examples: list
    predictions: list


def train_model(settings: Mapping[str, Any], model_dir: str | Path) -> TrainingResult:
    """Train StarDist2D on the configured data; thresholds optimised on the validation sets.

    StarDist writes the model (config.json, weights, thresholds.json) into ``model_dir``
    while it trains; everything else is returned for the caller to write.

    Parameters
    ----------
    settings : the ``training`` config section (see :func:`training_data`, plus
        ``patch_px``, ``batch_size``, ``n_rays``, ``grid``, ``epochs``, ``steps_per_epoch``,
        ``learning_rate``)
    model_dir : the model folder to create (its name is the model's name)

    Returns
    -------
    TrainingResult
    """
    from stardist.data import test_image_nuclei_2d
    from stardist.models import StarDist2D

    p = settings
    model_dir = Path(model_dir)
    set_seeds(p["seed"])
    train_x, train_y, val_sets, split = training_data(p)
    val_x = [x for xs, _ in val_sets.values() for x in xs]
    val_y = [y for _, ys in val_sets.values() for y in ys]
    config = build_config(
        patch_px=p["patch_px"],
        batch_size=p["batch_size"],
        n_rays=p["n_rays"],
        grid=p["grid"],
        epochs=p["epochs"],
        steps_per_epoch=p["steps_per_epoch"],
        learning_rate=p["learning_rate"],
    )
    model = StarDist2D(config, name=model_dir.name, basedir=str(model_dir.parent))
    start = time.time()
    history = model.train(
        train_x,
        train_y,
        validation_data=(val_x, val_y),
        augmenter=make_augmenter(p["seed"]),
        seed=p["seed"],
    )
    train_s = time.time() - start
    model.optimize_thresholds(val_x, val_y)

    scores = {
        name: matching_scores(ys, predict_all(model, xs)) for name, (xs, ys) in val_sets.items()
    }
    x, y = test_image_nuclei_2d(return_mask=True)
    scores["stardist_test_image"] = matching_scores([y], predict_all(model, [normalize(x)]))
    hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    examples = [
        (name, xs[i], ys[i]) for name, (xs, ys) in val_sets.items() for i in range(min(3, len(xs)))
    ]
    log.info("trained on %d patches in %.0f s; validation F1 %s", len(train_x), train_s, scores)
    return TrainingResult(
        metrics={
            "n_train": len(train_x),
            "n_val": len(val_x),
            "train_seconds": round(train_s, 1),
            "thresholds": {
                "prob": float(model.thresholds.prob),
                "nms": float(model.thresholds.nms),
            },
            "scores_iou0.5": scores,
            "history": hist,
        },
        split=split,
        provenance={
            "trained_with": "frontline train target",
            "steps": p["epochs"] * p["steps_per_epoch"],
            "validation_f1_iou0.5": {k: v["f1"] for k, v in scores.items()},
        },
        history=hist,
        examples=examples,
        predictions=predict_all(model, [e[1] for e in examples]),
    )


def write_model_metadata(model_dir: str | Path, pixel_size_um: float, extra: Mapping) -> None:
    """``frontline.json`` beside the weights: the pixel size the model expects, and provenance."""
    meta = {"pixel_size_um": float(pixel_size_um), **extra}
    Path(model_dir, "frontline.json").write_text(json.dumps(meta, indent=2) + "\n")


def report_figures(
    history: Mapping[str, Sequence[float]],
    examples: Sequence[tuple[str, np.ndarray, np.ndarray]],
    predictions: Sequence[np.ndarray],
    loss_png: str | Path,
    examples_png: str | Path,
) -> None:
    """Loss curves and a grid of validation predictions (image, truth, prediction outlines).

    history : dict of per-epoch lists (keras history); examples : list of (source, image, truth).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from skimage.segmentation import find_boundaries

    fig, ax = plt.subplots(figsize=(6, 4))
    for key in ("loss", "val_loss", "prob_loss", "val_prob_loss", "dist_loss", "val_dist_loss"):
        if key in history:
            ax.plot(
                np.arange(1, len(history[key]) + 1),
                history[key],
                label=key,
                ls="--" if key.startswith("val") else "-",
            )
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    ax.set_title("StarDist training")
    fig.tight_layout()
    fig.savefig(loss_png, dpi=120)
    plt.close(fig)

    n = len(examples)
    fig, axes = plt.subplots(n, 2, figsize=(6, 3 * n), squeeze=False)
    for row, ((source, image, truth), pred) in enumerate(zip(examples, predictions)):
        for col, (labels, title) in enumerate(((truth, "truth"), (pred, "prediction"))):
            ax = axes[row, col]
            ax.imshow(image, cmap="gray")
            edges = np.ma.masked_where(~find_boundaries(labels), labels > 0)
            ax.imshow(edges, cmap="autumn" if col else "winter", interpolation="nearest")
            ax.set_title(f"{source}: {title} ({len(np.unique(labels)) - 1} nuclei)", fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(examples_png, dpi=100)
    plt.close(fig)
