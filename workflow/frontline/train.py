"""Training the nuclei model: StarDist2D on real fluorescence nuclei plus simulated tissue.

The shipped model (``resources/models/frontline_nuclei``) is made by the ``train`` target with
these functions. Data: folders of image/mask pairs (same file names) and tiles of the
simulator's DAPI channel with its truth nuclei. A fixed, seeded validation split is held out
from every source; thresholds are optimised on it.

Augmentation (per patch): rot90/flips, zoom (log-uniform, so the model tolerates pixel sizes
from about 0.3 to 0.8 µm), Gaussian blur, intensity scale/offset, Gaussian and Poisson-like noise.
"""

import json
import logging
from pathlib import Path

import numpy as np
import tifffile
from scipy import ndimage as ndi

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".tif", ".tiff", ".png")


def load_pairs(image_dir, mask_dir):
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


def _read_2d(path):
    if path.suffix.lower() == ".png":
        from skimage.io import imread

        array = imread(path)
    else:
        array = tifffile.imread(path)
    if array.ndim == 3:  # RGB(A) stored nuclei images: use the mean of the colour channels
        array = array[..., :3].mean(axis=-1) if array.shape[-1] in (3, 4) else array[0]
    return array


def validation_split(ids, fraction, seed):
    """Seeded split of ids: a fixed permutation of the sorted ids, the first ``fraction`` held out.

    Returns
    -------
    is_val : (N,) bool array aligned with ``ids``
    """
    sorted_ids = sorted(ids)
    order = np.random.default_rng(seed).permutation(len(sorted_ids))
    held_out = {sorted_ids[i] for i in order[: int(np.ceil(fraction * len(ids)))]}
    return np.array([i in held_out for i in ids], bool)


def simulated_tiles(n_samples, shape_px, pixel_size_um, seed, tile_px):
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


def normalize(image, low=1.0, high=99.8):
    """StarDist's standard per-image percentile normalisation to about [0, 1]."""
    from csbdeep.utils import normalize as _normalize

    return _normalize(image, low, high, axis=(0, 1)).astype(np.float32)


def make_augmenter(seed, zoom_range=(0.6, 1.6)):
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


def _zoom_to_shape(x, y, factor, rng):
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
    patch_px=128,
    batch_size=8,
    n_rays=32,
    grid=2,
    epochs=100,
    steps_per_epoch=100,
    learning_rate=3e-4,
):
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


def set_seeds(seed):
    import keras
    import tensorflow as tf

    np.random.seed(seed)
    tf.random.set_seed(seed)
    keras.utils.set_random_seed(seed)


def matching_scores(masks_true, masks_pred, thresh=0.5):
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


def predict_all(model, images):
    """Labels for a list of normalised images (thresholds of the model)."""
    return [model.predict_instances(x)[0] for x in images]


def write_model_metadata(model_dir, pixel_size_um, extra):
    """``frontline.json`` beside the weights: the pixel size the model expects, and provenance."""
    meta = {"pixel_size_um": float(pixel_size_um), **extra}
    Path(model_dir, "frontline.json").write_text(json.dumps(meta, indent=2) + "\n")


def report_figures(history, examples, predictions, loss_png, examples_png):
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
