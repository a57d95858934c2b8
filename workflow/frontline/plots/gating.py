"""Gating QC figures: for one marker, the histogram of per-cell intensities on the arcsinh scale
used for auto gating, with the gate, next to an image crop with the positive cells outlined, so
a person can judge a gate at a glance and copy a better number into ``phenotyping: gates:``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure
from numpy.typing import ArrayLike
from skimage.segmentation import find_boundaries

from .common import nice_length

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


def crop_window(
    x_um: ArrayLike,
    y_um: ArrayLike,
    positive: ArrayLike,
    pixel_size_um: float,
    shape: Sequence[int],
    size_px: int = 400,
) -> tuple[int, int, int, int]:
    """A square window showing many positive cells among others.

    Parameters
    ----------
    x_um, y_um : (N,) float arrays, cell centroids in µm
    positive : (N,) bool array
    pixel_size_um : float, µm per pixel
    shape : (Y, X) image size in pixels
    size_px : int, window edge in pixels (clipped to the image)

    Returns
    -------
    (y0, y1, x0, x1) in pixels: the window, on a grid of half-windows, with the most
    positive cells (the most cells when none is positive). Linear in the number of cells.
    """
    height, width = (int(s) for s in shape)
    size_y, size_x = min(int(size_px), height), min(int(size_px), width)
    step_y, step_x = max(size_y // 2, 1), max(size_x // 2, 1)
    col = np.asarray(x_um, float) / pixel_size_um
    row = np.asarray(y_um, float) / pixel_size_um
    weight = np.asarray(positive, bool)
    if not weight.any():
        weight = np.ones(col.shape, bool)
    n_y, n_x = -(-height // step_y), -(-width // step_x)
    counts = np.zeros((n_y + 1, n_x + 1))
    by = np.clip((row[weight] // step_y).astype(int), 0, n_y - 1)
    bx = np.clip((col[weight] // step_x).astype(int), 0, n_x - 1)
    np.add.at(counts, (by, bx), 1)
    # a window starting at bin (i, j) covers bins i..i+1, j..j+1
    windows = counts[:-1, :-1] + counts[1:, :-1] + counts[:-1, 1:] + counts[1:, 1:]
    i, j = np.unravel_index(int(np.argmax(windows)), windows.shape)
    y0 = min(i * step_y, height - size_y)
    x0 = min(j * step_x, width - size_x)
    return (int(y0), int(y0 + size_y), int(x0), int(x0 + size_x))


def gating_figure(
    values: ArrayLike,
    gate: float,
    *,
    marker: str,
    compartment: str,
    method: str,
    confidence: float,
    cofactor: float,
    crop: np.ndarray | None = None,
    cell_labels: np.ndarray | None = None,
    positive_ids: Iterable[int] = (),
    pixel_size_um: float | None = None,
) -> Figure:
    """Histogram with the gate, and a crop with the positive cells outlined.

    Parameters
    ----------
    values : (N,) float array, per-cell mean intensity in the gated compartment
    gate : float, the gate in the same units (NaN: undefined, no line drawn)
    marker, compartment, method : str, for the titles
    confidence : float 0..1
    cofactor : float, the arcsinh cofactor (x axis is arcsinh(value / cofactor))
    crop : (h, w) array of the marker channel, or None for the histogram alone
    cell_labels : (h, w) int array of cell labels on the same window
    positive_ids : iterable of int, labels of the positive cells
    pixel_size_um : float, µm per pixel, for the scale bar

    Returns
    -------
    matplotlib.figure.Figure
    """
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    scale = cofactor if np.isfinite(cofactor) and cofactor > 0 else 1.0
    fig = Figure(figsize=(10, 4.5) if crop is not None else (5.5, 4.5), dpi=110)
    ax = fig.add_subplot(1, 2 if crop is not None else 1, 1)
    z = np.arcsinh(values / scale)
    if z.size:
        ax.hist(z, bins=min(120, max(10, z.size // 20)), color="0.45")
    positive_n = int(np.sum(values > gate)) if np.isfinite(gate) else 0
    if np.isfinite(gate):
        ax.axvline(
            np.arcsinh(gate / scale),
            color="crimson",
            lw=1.5,
            label=f"gate {gate:.4g} ({positive_n}/{values.size} positive)",
        )
        ax.legend(loc="upper right", fontsize=8, frameon=False)
    ax.set_yscale("symlog", linthresh=10)
    ax.set_xlabel(f"arcsinh({marker} {compartment} mean / {scale:.3g})")
    ax.set_ylabel("cells")
    state = (
        "gate undefined (constant marker)"
        if method == "undefined"
        else f"{method}, confidence {confidence:.2f}"
    )
    ax.set_title(f"{marker}: {state}", fontsize=10)
    if crop is not None:
        _crop_panel(
            fig.add_subplot(1, 2, 2), crop, cell_labels, positive_ids, pixel_size_um, marker
        )
    fig.tight_layout()
    return fig


def gating_figures(
    cells: pd.DataFrame,
    phenotypes: pd.DataFrame,
    gates: pd.DataFrame,
    image: Any,
    labels: Any,
    cell_expansion_um: float,
    crop_um: float = 150.0,
) -> Iterator[tuple[str, Figure]]:
    """The :func:`gating_figure` of every gated marker, with a crop of the image around many
    positive cells.

    Parameters
    ----------
    cells : DataFrame from :func:`frontline.measure.measure_cells` (µm)
    phenotypes, gates : from :func:`frontline.phenotype.phenotype_cells`
    image : open image reader (:func:`frontline.io.open_image`): ``read(channel, window)``,
        ``shape``, ``pixel_size_um``; None (a cell-table sample): histograms alone
    labels : open nuclei label reader (:func:`frontline.io.open_labels`): ``read(window)``;
        None with ``image``
    cell_expansion_um : µm the nuclei are grown by to make the cells (config
        ``measure: cell_expansion_um``)
    crop_um : edge of the crop, µm

    Yields
    ------
    (marker, matplotlib.figure.Figure), one per row of ``gates``
    """
    from ..gating import compartment_values

    for row in gates.itertuples():
        positive = phenotypes[f"{row.marker}_positive"].to_numpy(bool)
        crop = {}
        if image is not None:
            crop = _crop(cells, positive, row.marker, image, labels, cell_expansion_um, crop_um)
        yield (
            row.marker,
            gating_figure(
                compartment_values(cells, row.marker, row.compartment),
                row.gate,
                marker=row.marker,
                compartment=row.compartment,
                method=row.method,
                confidence=row.confidence,
                cofactor=row.cofactor,
                **crop,
            ),
        )


def _crop(cells, positive, marker, image, labels, cell_expansion_um, crop_um):
    """The crop keywords of :func:`gating_figure`: the marker around many positive cells."""
    from ..measure import expand_nuclei, expansion_px

    size_px = int(round(crop_um / image.pixel_size_um))
    grow = expansion_px(cell_expansion_um, image.pixel_size_um)
    window = crop_window(
        cells["x_um"], cells["y_um"], positive, image.pixel_size_um, image.shape, size_px
    )
    return {
        "crop": image.read(marker, window),
        "cell_labels": expand_nuclei(labels.read(window), grow),
        "positive_ids": cells["cell_id"].to_numpy()[positive].astype(np.int64),
        "pixel_size_um": image.pixel_size_um,
    }


def _crop_panel(ax, crop, cell_labels, positive_ids, pixel_size_um, marker):
    crop = np.asarray(crop, float)
    lo, hi = np.percentile(crop, [1, 99.5]) if crop.size else (0, 1)
    shown = np.clip((crop - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
    rgb = np.stack([shown] * 3, axis=-1)
    if cell_labels is not None:
        cell_labels = np.asarray(cell_labels)
        edges = find_boundaries(cell_labels, mode="inner")
        is_pos = np.isin(cell_labels, np.asarray(list(positive_ids), dtype=cell_labels.dtype))
        rgb[edges & ~is_pos] = 0.6 * rgb[edges & ~is_pos] + 0.4 * np.array([0.3, 0.5, 1.0])
        rgb[edges & is_pos] = (1.0, 0.15, 0.15)
    ax.imshow(rgb, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{marker}: positive cells red, others blue", fontsize=10)
    if pixel_size_um:
        bar_um = nice_length(0.25 * crop.shape[1] * pixel_size_um)
        bar_px = bar_um / pixel_size_um
        y, x = crop.shape[0] * 0.95, crop.shape[1] * 0.05
        ax.plot([x, x + bar_px], [y, y], color="white", lw=3)
        ax.text(
            x, y - crop.shape[0] * 0.03, f"{bar_um:g} µm", color="white", fontsize=8, va="bottom"
        )
