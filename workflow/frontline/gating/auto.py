"""The auto gate of one marker: a threshold from the intensities alone, whichever side the
majority is on (the method is documented in :mod:`frontline.gating`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

METHODS = ("gmm", "valley", "reference", "floor", "negative_tail", "undefined")
FALLBACK_METHODS = ("floor", "negative_tail")  # no second population was seen

_FLOOR_FRACTION = 0.1  # at least this share of cells at the minimum: a point mass
_CLEAR_CONFIDENCE = 0.5  # a mixture dip this deep is trusted wherever the gate falls
_TAIL_SPREADS = 0.5  # else the mixture's gate must be this many robust SDs above the median
_MIN_FIT = 20

_SCALE_QUANTILE = 0.2  # the log-like scale's cofactor: this quantile of the intensities
_BANDWIDTH = 0.3  # density bandwidth, robust SDs of the log-like intensities
_GRID = 1024  # points of the density grid
_MIN_DEPTH = 0.2  # a valley at least this deep (1 - valley / lower peak)
_MIN_SIDE_CELLS = 10  # cells beyond a valley, at least (and _MIN_SIDE_FRACTION of all)
_MIN_SIDE_FRACTION = 0.002
_MIN_PEAK_CELLS = 20  # cells under a second peak's kernel: fewer is noise, not a population
_MIXTURE_AGREES = 0.25  # the mixture's gate stands if it moves at most this share of cells
_MIN_REFERENCE = 10  # reference (exclusive-lineage) cells needed to decide the majority
_REFERENCE_SPREADS = 2.0  # reference median this many SDs of the bulk below its mode
_PLATEAU_SHARE = 0.5  # a peak below a bright bump this high (share of it): not a plateau


def arcsinh_cofactor(values: np.ndarray) -> float:
    """The arcsinh cofactor for a marker's gate margins: its typical (median) intensity.

    The median of the non-zero values is used when most values are zero or below, so
    sparse ion-count images get a usable scale. Returns a positive float.
    """
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    cofactor = float(np.median(values)) if values.size else 0.0
    if cofactor <= 0:
        above = values[values > 0]
        cofactor = float(np.median(above)) if above.size else 0.0
    if cofactor <= 0:
        cofactor = float(np.median(np.abs(values))) if values.size else 0.0
    return cofactor if cofactor > 0 else 1.0


def log_scale_cofactor(values: np.ndarray) -> float:
    """The cofactor of the log-like scale the density gate works on: a low (20th
    percentile) intensity, so that ``arcsinh(x / c)`` is about ``log(2 x / c)`` for most
    cells and a negative population's spread is a fold change on both of its sides.

    Returns a positive float (the median of the positive values when the quantile is not).
    """
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    if not values.size:
        return 1.0
    cofactor = float(np.quantile(values, _SCALE_QUANTILE))
    if cofactor <= 0:
        above = values[values > 0]
        cofactor = float(np.quantile(above, _SCALE_QUANTILE)) if above.size else 0.0
    return cofactor if cofactor > 0 else arcsinh_cofactor(values)


def auto_gate(
    values: np.ndarray,
    *,
    min_confidence: float,
    tail_mads: float,
    seed: int,
    max_cells: int = 50_000,
    reference: np.ndarray | None = None,
) -> dict:
    """Find a positivity gate for one marker (see :mod:`frontline.gating` for the method).

    Parameters
    ----------
    values : (N,) float array, per-cell mean intensity in the marker's compartment
    min_confidence : float in [0, 1], least mixture confidence to use the mixture's gate
        (one below the upper tail of the bulk needs at least 0.5)
    tail_mads : float, robust standard deviations above the median for the fallback gate
    seed : int, seeds the subsample and the mixture fit
    max_cells : int, the mixture is fitted to at most this many randomly chosen cells
    reference : (M,) float array or None, the marker's intensity in cells known to be
        negative for it (cells of a lineage it excludes): when there is one population
        and these cells lie clearly below it, the population is the positive one

    Returns
    -------
    dict with ``gate`` (same units as ``values``; NaN when undefined), ``method`` (one of
    ``METHODS``), ``confidence`` (0..1) and ``cofactor`` (of the gate margins).
    """
    x = np.asarray(values, np.float64)
    x = x[np.isfinite(x)]
    if x.size < 3 or np.ptp(x) <= 1e-9 * max(1.0, float(np.max(np.abs(x)))):
        return {"gate": math.nan, "method": "undefined", "confidence": 0.0, "cofactor": math.nan}
    cofactor = arcsinh_cofactor(x)
    floor = float(x.min())
    point_mass = np.mean(x == floor) >= _FLOOR_FRACTION
    fit = x[x > floor] if point_mass else x

    confidence, mixture = _mixture(fit, cofactor, min_confidence, seed, max_cells)
    scale = log_scale_cofactor(fit)
    z = np.arcsinh(fit / scale)
    density = _Density.of(z) if z.size >= _MIN_FIT and np.ptp(z) > 0 else None
    valley = density.valley_gate() if density is not None else None

    def result(gate, method, conf):
        return {
            "gate": float(gate),
            "method": method,
            "confidence": float(conf),
            "cofactor": cofactor,
        }

    if mixture is not None and (valley is None or _agree(fit, mixture, valley, scale)):
        return result(mixture, "gmm", confidence)
    if valley is not None:
        return result(scale * np.sinh(valley.gate), "valley", valley.depth)
    if reference is not None and density is not None:
        ref = np.asarray(reference, np.float64)
        ref = ref[np.isfinite(ref)]
        below = density.reference_gate(np.arcsinh(ref / scale))
        if below is not None:
            return result(scale * np.sinh(below.gate), "reference", below.depth)
    if point_mass:
        # the point mass is the negative population, the rest one positive one (ion counts)
        return result(floor, "floor", confidence)
    median = float(np.median(z))
    spread = 1.4826 * float(np.median(np.abs(z - median)))
    return result(scale * np.sinh(median + tail_mads * spread), "negative_tail", confidence)


# --------------------------------------------------------------------------- the mixture


def _mixture(fit, cofactor, min_confidence, seed, max_cells):
    """(confidence, gate or None): the two-Gaussian mixture's gate when it is trusted."""
    z = np.arcsinh(fit / cofactor)
    if z.size > max_cells:
        z = np.random.default_rng(seed).choice(z, max_cells, replace=False)
    if z.size < _MIN_FIT or np.ptp(z) <= 0:
        return 0.0, None
    confidence, gate_z = _mixture_gate(z, seed)
    # A weak dip counts only with the gate in the upper tail of the bulk: a mixture fitted to
    # one skewed or heterogeneous population splits it near its middle.
    centre = float(np.median(z))
    spread = 1.4826 * float(np.median(np.abs(z - centre)))
    in_tail = np.isfinite(gate_z) and gate_z >= centre + _TAIL_SPREADS * spread
    trusted = (
        np.isfinite(gate_z)
        and confidence >= min_confidence
        and (in_tail or confidence >= max(_CLEAR_CONFIDENCE, min_confidence))
    )
    return confidence, (float(cofactor * np.sinh(gate_z)) if trusted else None)


def _mixture_gate(z, seed):
    """Fit two Gaussians to ``z``; return (valley-depth confidence, gate at the valley)."""
    from sklearn.mixture import GaussianMixture  # here: the workflow's startup needs no sklearn

    gmm = GaussianMixture(
        2,
        covariance_type="full",
        random_state=seed,
        n_init=2,
        reg_covar=1e-6 * max(float(np.var(z)), 1e-12),
    )
    gmm.fit(z.reshape(-1, 1))
    means = gmm.means_.ravel()
    sds = np.sqrt(gmm.covariances_.ravel())
    weights = gmm.weights_
    lo, hi = np.argsort(means)
    if means[hi] - means[lo] <= 0:
        return 0.0, math.nan
    grid = np.linspace(means[lo], means[hi], 2001)

    def weighted(k):
        return (
            weights[k]
            / (sds[k] * np.sqrt(2 * np.pi))
            * np.exp(-0.5 * ((grid - means[k]) / sds[k]) ** 2)
        )

    mixture = weighted(lo) + weighted(hi)
    valley = int(np.argmin(mixture))
    left_peak = mixture[: valley + 1].max()
    right_peak = mixture[valley:].max()
    if valley in (0, grid.size - 1):
        confidence = 0.0  # no dip between the means: a single peak
    else:
        confidence = float(1 - mixture[valley] / min(left_peak, right_peak))
    # The gate sits in the valley, as a person gating by eye would put it: with a broad,
    # skewed positive population the equal-posterior point lies too far into the negatives.
    gate = grid[valley] if confidence > 0 else math.nan
    return confidence, float(gate)


def _agree(fit, mixture, valley, scale):
    """Whether the mixture's gate stands beside the density's: the cells between the two
    are at most a small share of the density's smaller population. A mixture fitted to a
    heavy-tailed negative population splits its tail off as 'positive'; then many cells lie
    between its gate and the foot of the real bright population."""
    other = scale * np.sinh(valley.gate)
    between = np.sum((fit > min(mixture, other)) & (fit <= max(mixture, other)))
    return between <= _MIXTURE_AGREES * max(valley.n_minor, 1)


# --------------------------------------------------------------------------- the density


@dataclass(frozen=True)
class _Split:
    gate: float  # on the log-like scale
    depth: float  # 0..1
    n_minor: int  # cells of the smaller population


@dataclass(frozen=True)
class _Density:
    """A kernel density of log-like intensities on a grid, with the cells it came from."""

    z: np.ndarray
    grid: np.ndarray
    f: np.ndarray
    bandwidth: float

    @classmethod
    def of(cls, z):
        spread = 1.4826 * float(np.median(np.abs(z - np.median(z))))
        if not spread > 0:
            spread = float(np.std(z))
        bandwidth = _BANDWIDTH * spread
        edges = np.linspace(z.min() - 4 * bandwidth, z.max() + 4 * bandwidth, _GRID + 1)
        counts, _ = np.histogram(z, edges)
        step = edges[1] - edges[0]
        f = gaussian_filter1d(counts.astype(float), bandwidth / step, mode="constant")
        return cls(z, 0.5 * (edges[1:] + edges[:-1]), f / (z.size * step), bandwidth)

    def peaks(self):
        slope = np.sign(np.diff(self.f))
        for i in range(1, slope.size):  # flat stretches take the slope before them
            if slope[i] == 0:
                slope[i] = slope[i - 1]
        return [i + 1 for i in range(slope.size - 1) if slope[i] > 0 and slope[i + 1] < 0]

    def valley_gate(self):
        """The deepest valley between the main peak and a real second peak, gated where the
        brighter population becomes the more likely one (:meth:`_bright_gate`); None
        without one."""
        peaks, n, f = self.peaks(), self.z.size, self.f
        if len(peaks) < 2:
            return None
        main = max(peaks, key=lambda i: f[i])
        best = None
        for k in peaks:
            if k == main:
                continue
            lo, hi = sorted((main, k))
            v = lo + int(np.argmin(f[lo : hi + 1]))
            depth = 1.0 - f[v] / min(f[main], f[k])
            minor = int(
                np.sum(self.z > self.grid[v]) if k > main else np.sum(self.z < self.grid[v])
            )
            peak_cells = f[k] * n * 2.5 * self.bandwidth
            if (
                depth < _MIN_DEPTH
                or minor < max(_MIN_SIDE_CELLS, _MIN_SIDE_FRACTION * n)
                or peak_cells < _MIN_PEAK_CELLS
            ):
                continue
            if best is None or depth > best[0]:
                best = (depth, v, k, minor)
        if best is None:
            return None
        depth, v, k, minor = best
        gate = self._bright_gate(max(main, k), v)
        # A plateau below the bright bump has no peak of its own; a peak between the valley
        # and the bump's foot at least half as high as the bump is the bright population's
        # (a broad or lumpy population of few cells), which the gate must not cut: the valley
        # is the gate
        cut = int(np.searchsorted(self.grid, gate))
        below = [p for p in peaks if min(v, cut) < p < max(v, cut)]
        if any(f[p] >= _PLATEAU_SHARE * f[max(main, k)] for p in below):
            gate = float(self.grid[v])
        return _Split(gate, float(depth), minor)

    def reference_gate(self, reference):
        """With one population: the gate below it when the reference cells (known
        negatives) lie clearly below its peak, else None."""
        if reference.size < _MIN_REFERENCE:
            return None
        peaks = self.peaks()
        if not peaks:
            return None
        main = max(peaks, key=lambda i: self.f[i])
        mode = self.grid[main]
        upper = self._upper_spread(mode)
        if not np.median(reference) < mode - _REFERENCE_SPREADS * upper:
            return None
        gate = self._negative_gate(reference, main)
        # confidence: the share of the known negatives that the gate calls negative
        return _Split(gate, float(np.mean(reference <= gate)), int(np.sum(self.z < gate)))

    def _negative_gate(self, reference, main):
        """Going up from the known negatives' median, the first point where the negatives
        (a Gaussian with the reference cells' median and robust SD, as many as the known
        negatives or the cells below their median, whichever is more) are less than half of
        the density."""
        centre = float(np.median(reference))
        spread = 1.4826 * float(np.median(np.abs(reference - centre)))
        spread = max(spread, self.bandwidth)
        # at least the known negatives, and at least the cells below their median
        n_neg = min(max(reference.size, int(np.sum(self.z < centre))), self.z.size)
        model = (
            n_neg
            / self.z.size
            * np.exp(-0.5 * ((self.grid - centre) / spread) ** 2)
            / (spread * np.sqrt(2 * np.pi))
        )
        start = int(np.searchsorted(self.grid, centre))
        segment = np.arange(min(start, main), main + 1)
        unlikely = segment[model[segment] < self.f[segment] - model[segment]]
        return float(self.grid[unlikely[0] if unlikely.size else main])

    def _upper_spread(self, mode):
        above = np.sort(self.z[self.z >= mode] - mode)
        return above[int(0.6827 * (above.size - 1))] if above.size >= 5 else self.bandwidth

    def _settled_mode(self, peak, low):
        """The brighter population's mode, settled by mean shift from the density's peak
        over the cells above ``low`` (kernel: the population's upper spread): a sparse
        population's highest density point wanders with the noise of a few cells."""
        side = self.z[self.z > low]
        mode = peak
        for _ in range(50):
            width = 0.5 * self._upper_spread(mode)
            weights = np.exp(-0.5 * ((side - mode) / width) ** 2)
            if not (width > 0 and np.sum(weights) > 0):
                return mode
            moved = float(np.sum(weights * side) / np.sum(weights))
            if abs(moved - mode) < 1e-4 * width:
                break
            mode = moved
        return mode

    def _bright_gate(self, bright, start):
        """The gate between grid point ``start`` and the brighter population's peak
        ``bright``: the first point, going up, where that population (a Gaussian from its
        upper flank, which the dimmer cells do not reach) holds at least half of the density.
        Cells in a plateau below a bright bump count as negative, as in a person's gate at
        the foot of the bump."""
        mode = self._settled_mode(self.grid[bright], self.grid[start])
        spread = max(self._upper_spread(mode), 1e-9)
        n_bright = min(2 * int(np.sum(self.z >= mode)), self.z.size)
        model = (
            n_bright
            / self.z.size
            * np.exp(-0.5 * ((self.grid - mode) / spread) ** 2)
            / (spread * np.sqrt(2 * np.pi))
        )
        segment = np.arange(start, bright + 1)
        likely = segment[model[segment] >= self.f[segment] - model[segment]]
        return float(self.grid[likely[0] if likely.size else start])
