"""Figures. Each function builds and returns a matplotlib Figure; the caller saves it.

Gating QC (:func:`gating_figure`): for one marker, the histogram of per-cell intensities on
the arcsinh scale used for auto gating, with the gate, next to an image crop with the
positive cells outlined, so a person can judge a gate at a glance and copy a better number
into ``phenotyping: gates:``.
"""

import logging

import numpy as np
from matplotlib.figure import Figure
from skimage.segmentation import find_boundaries

log = logging.getLogger(__name__)


def crop_window(x_um, y_um, positive, pixel_size_um, shape, size_px=400):
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
    positive cells (the most cells when none is positive).
    """
    height, width = (int(s) for s in shape)
    size_y, size_x = min(size_px, height), min(size_px, width)
    col = np.asarray(x_um, float) / pixel_size_um
    row = np.asarray(y_um, float) / pixel_size_um
    weight = np.asarray(positive, bool)
    if not weight.any():
        weight = np.ones(col.shape, bool)
    best, window = -1, (0, size_y, 0, size_x)
    for y0 in _starts(height, size_y):
        for x0 in _starts(width, size_x):
            inside = (row >= y0) & (row < y0 + size_y) & (col >= x0) & (col < x0 + size_x)
            count = int((inside & weight).sum())
            if count > best:
                best, window = count, (y0, y0 + size_y, x0, x0 + size_x)
    return window


def _starts(length, size):
    step = max(size // 2, 1)
    starts = list(range(0, max(length - size, 0) + 1, step))
    if starts[-1] != length - size:
        starts.append(max(length - size, 0))
    return starts


def gating_figure(values, gate, *, marker, compartment, method, confidence, cofactor,
                  crop=None, cell_labels=None, positive_ids=(), pixel_size_um=None):
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
        ax.axvline(np.arcsinh(gate / scale), color="crimson", lw=1.5,
                   label=f"gate {gate:.4g} ({positive_n}/{values.size} positive)")
        ax.legend(loc="upper right", fontsize=8, frameon=False)
    ax.set_yscale("symlog", linthresh=10)
    ax.set_xlabel(f"arcsinh({marker} {compartment} mean / {scale:.3g})")
    ax.set_ylabel("cells")
    state = "gate undefined (constant marker)" if method == "undefined" else \
        f"{method}, confidence {confidence:.2f}"
    ax.set_title(f"{marker}: {state}", fontsize=10)
    if crop is not None:
        _crop_panel(fig.add_subplot(1, 2, 2), crop, cell_labels, positive_ids, pixel_size_um,
                    marker)
    fig.tight_layout()
    return fig


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
        bar_um = _nice_length(0.25 * crop.shape[1] * pixel_size_um)
        bar_px = bar_um / pixel_size_um
        y, x = crop.shape[0] * 0.95, crop.shape[1] * 0.05
        ax.plot([x, x + bar_px], [y, y], color="white", lw=3)
        ax.text(x, y - crop.shape[0] * 0.02, f"{bar_um:g} µm", color="white", fontsize=8)


def _nice_length(length):
    """The largest of 1, 2, 5 x 10^k not above ``length``."""
    if length <= 0:
        return 1.0
    power = 10 ** np.floor(np.log10(length))
    for step in (5, 2, 1):
        if step * power <= length:
            return float(step * power)
    return float(power)
