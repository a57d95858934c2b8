"""Marker gates: one positivity threshold per marker, and how far each cell clears it.

1. :func:`gate_markers` finds a gate per marker of a panel: ``auto`` (:func:`auto_gate`) or a
   number from the config (:func:`parse_gate`); :func:`gate_marker` decides one marker, the
   seam where another gating method plugs in.
2. :func:`positivity` turns gates into ``{marker}_positive`` columns.
3. :func:`gate_margins` and :func:`exclusive_margins` measure how far each cell is above each
   gate, to settle cells positive for two exclusive lineages (:mod:`frontline.phenotype`).

Auto gate (:func:`auto_gate`), per marker and sample, on the mean intensity in the marker's
compartment:

- intensities are arcsinh-transformed, ``z = arcsinh(x / cofactor)`` with the cofactor set by
  the data scale (the median intensity, or the median of the non-zero intensities when most
  are zero), so the gate does not depend on the intensity units;
- a two-component Gaussian mixture is fitted to ``z`` (values sitting exactly at the
  minimum, e.g. the zeros of a background-subtracted or ion-count image, are a point mass a
  Gaussian cannot model: when they are at least 10 % of the cells they are the negative
  population and the mixture is fitted to the rest, to find a dim and a bright group in it);
- ``confidence`` is the depth of the dip between the two peaks of the fitted mixture:
  ``1 - density at the valley / density at the lower peak`` (0 when the mixture has a
  single peak, near 1 for two well separated populations);
- the mixture's gate is at the bottom of that dip, the least dense point of the fitted
  mixture between the two means (method ``gmm``). It is used when
  ``confidence >= min_confidence`` (config ``phenotyping: min_confidence``) and the gate lies
  in the upper tail of the fitted cells (at least half a robust SD, 0.5 x 1.4826 x MAD, above
  their median); a gate lower than that, e.g. one calling most cells positive, needs a clear dip
  (``confidence >= 0.5``), because a mixture fitted to one skewed or heterogeneous negative
  population splits it near its middle with a shallow dip;
- otherwise, with a point mass at the minimum, the rest is one population above it and every
  cell above the minimum is positive (method ``floor``: ion-count images such as MIBI, where a
  cell without the marker has no counts at all);
- otherwise there is no second population to separate and the gate is
  ``median + tail_mads * MAD`` of ``z`` over all cells (method ``negative_tail``: the bulk is
  taken as negative and only clear outliers above it count as positive);
- the reported confidence of ``floor`` and ``negative_tail`` gates is the low mixture
  confidence, so they stand out in ``gates.tsv`` and in the log;
- a marker with (nearly) constant intensity has no gate: method ``undefined``, every cell
  negative, and a warning in the log.

A cell positive for two lineages listed together in ``exclusive`` is settled by
:func:`gate_margins` (see :func:`frontline.phenotype.assign_phenotypes`). A marker may be
weighed for that decision in another compartment than the one it is gated in
(``exclusive_compartments``, see :func:`exclusive_margins`): a cytoplasmic lineage marker such
as keratin is best read from the nucleus there, because a small immune cell's grown cell
region inside a tumour nest is mostly its neighbours' cytoplasm, while its nucleus is its own.

Besides the three means, a marker may be gated on its median over the ring (compartment
``ring_median``; measured by the measure rule for the markers configured so). For a
cytoplasmic marker such as keratin this resists lateral spill-over: a stromal or immune cell
touching tumour cells on one side has a bright ring *mean* but a dark ring median.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .errors import FrontlineInputError
from .measure import READOUTS, intensity_column

log = logging.getLogger(__name__)

COMPARTMENTS = READOUTS  # nucleus, cell, ring (means) and ring_median
GATE_COLUMNS = [
    "marker",
    "compartment",
    "gate",
    "method",
    "confidence",
    "n_positive",
    "fraction_positive",
    "cofactor",
]
_FLOOR_FRACTION = 0.1
_CLEAR_CONFIDENCE = 0.5  # a dip this deep is trusted wherever the gate falls
_TAIL_SPREADS = 0.5  # else the gate must be this many robust SDs above the median
_MIN_FIT = 20


# --------------------------------------------------------------------------- one marker


def measured_channels(cells: pd.DataFrame) -> list[str]:
    """Markers measured in a cells table (those with a ``{marker}_cell_mean`` column)."""
    return [c[: -len("_cell_mean")] for c in cells.columns if c.endswith("_cell_mean")]


def compartment_values(
    cells: pd.DataFrame,
    marker: str,
    compartment: str,
    sample: str | None = None,
    file: str | None = None,
) -> np.ndarray:
    """Per-cell intensity of ``marker`` in ``compartment`` (one of ``COMPARTMENTS``).

    A cell without ring pixels (NaN ring mean or median) is read from the whole cell instead,
    so a tightly packed cell is still gated.

    Returns
    -------
    (N,) float array
    """
    column = intensity_column(marker, compartment)
    if column not in cells.columns:
        raise FrontlineInputError(
            f"marker '{marker}' is read from its {compartment} but the cell table has no "
            f"column {column}",
            sample=sample,
            file=file,
            fix="rerun the measure rule (it measures ring medians for the markers that "
            "`phenotyping: compartments` reads there), e.g. snakemake --forcerun measure",
        )
    values = cells[column].to_numpy(np.float64)
    if compartment in ("ring", "ring_median"):
        whole = cells[f"{marker}_cell_mean"].to_numpy(np.float64)
        values = np.where(np.isnan(values), whole, values)
    return values


def arcsinh_cofactor(values: np.ndarray) -> float:
    """The arcsinh cofactor for a marker: its typical (median) intensity.

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


def auto_gate(
    values: np.ndarray,
    *,
    min_confidence: float,
    tail_mads: float,
    seed: int,
    max_cells: int = 50_000,
) -> dict:
    """Find a positivity gate for one marker (see the module docstring for the method).

    Parameters
    ----------
    values : (N,) float array, per-cell mean intensity in the marker's compartment
    min_confidence : float in [0, 1], least mixture confidence to use the mixture's gate
        (one below the upper tail of the bulk needs at least 0.5)
    tail_mads : float, robust standard deviations above the median for the fallback gate
    seed : int, seeds the subsample and the mixture fit
    max_cells : int, the mixture is fitted to at most this many randomly chosen cells

    Returns
    -------
    dict with ``gate`` (same units as ``values``; NaN when undefined), ``method`` (``gmm``,
    ``floor``, ``negative_tail`` or ``undefined``), ``confidence`` (0..1) and ``cofactor``.
    """
    x = np.asarray(values, np.float64)
    x = x[np.isfinite(x)]
    if x.size < 3 or np.ptp(x) <= 1e-9 * max(1.0, float(np.max(np.abs(x)))):
        return {"gate": math.nan, "method": "undefined", "confidence": 0.0, "cofactor": math.nan}
    cofactor = arcsinh_cofactor(x)
    z = np.arcsinh(x / cofactor)
    floor = z.min()
    point_mass = np.mean(z == floor) >= _FLOOR_FRACTION
    fit = z[z > floor] if point_mass else z
    rng = np.random.default_rng(seed)
    if fit.size > max_cells:
        fit = rng.choice(fit, max_cells, replace=False)
    confidence, gate_z = 0.0, math.nan
    if fit.size >= _MIN_FIT and np.ptp(fit) > 0:
        confidence, gate_z = _mixture_gate(fit, seed)
    # A weak dip counts only with the gate in the upper tail of the bulk: a mixture fitted to
    # one skewed or heterogeneous population splits it near its middle.
    centre = float(np.median(fit)) if fit.size else math.nan
    spread = 1.4826 * float(np.median(np.abs(fit - centre))) if fit.size else math.nan
    in_tail = np.isfinite(gate_z) and gate_z >= centre + _TAIL_SPREADS * spread
    if (
        np.isfinite(gate_z)
        and confidence >= min_confidence
        and (in_tail or confidence >= max(_CLEAR_CONFIDENCE, min_confidence))
    ):
        method = "gmm"
    elif point_mass:
        method = "floor"  # the point mass is the negative population, the rest one positive one
        gate_z = floor
    else:
        method = "negative_tail"
        median = float(np.median(z))
        mad = 1.4826 * float(np.median(np.abs(z - median)))
        gate_z = median + tail_mads * mad
    return {
        "gate": float(cofactor * np.sinh(gate_z)),
        "method": method,
        "confidence": float(confidence),
        "cofactor": cofactor,
    }


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


def parse_gate(
    value: Any, marker: str, sample: str | None = None, file: str | None = None
) -> str | float:
    """A config gate as ``"auto"`` or a finite float; FrontlineInputError otherwise."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return "auto"
    if isinstance(value, bool):
        number = math.nan
    else:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
    if not math.isfinite(number):
        raise FrontlineInputError(
            f"the gate for marker '{marker}' is {value!r}, neither 'auto' nor a number",
            sample=sample,
            file=file,
            fix=f"set `phenotyping: gates: {marker}:` to auto or to a number in the marker's "
            "mean intensity units (see gates.tsv of an auto run)",
        )
    return number


def gate_marker(
    values: np.ndarray, setting: str | float, *, min_confidence: float, tail_mads: float, seed: int
) -> dict:
    """The gate of one marker from its config setting: a manual number, or the auto gate.

    Parameters
    ----------
    values : (N,) float, per-cell intensity in the marker's compartment
    setting : ``"auto"`` or a number (from :func:`parse_gate`)
    min_confidence, tail_mads, seed : see :func:`auto_gate`

    Returns
    -------
    dict with ``gate``, ``method`` (``manual`` or the auto gate's), ``confidence``, ``cofactor``
    """
    if setting == "auto":
        return auto_gate(values, min_confidence=min_confidence, tail_mads=tail_mads, seed=seed)
    return {
        "gate": setting,
        "method": "manual",
        "confidence": 1.0,
        "cofactor": arcsinh_cofactor(values),
    }


# --------------------------------------------------------------------------- a panel


def gate_markers(
    cells: pd.DataFrame,
    markers: Sequence[str],
    compartments: dict | None,
    default_compartment: str,
    gates: dict | None = None,
    *,
    min_confidence: float,
    tail_mads: float,
    seed: int,
    sample: str | None = None,
    file: str | None = None,
) -> pd.DataFrame:
    """One gate per marker.

    Parameters
    ----------
    cells : DataFrame from :func:`frontline.measure.measure_cells`
    markers : list of str
    compartments : dict marker -> ``nucleus`` | ``cell`` | ``ring`` | ``ring_median``
        (others, or None: ``default_compartment``)
    default_compartment : str
    gates : dict marker -> ``auto`` | number (others, or None: auto)
    min_confidence, tail_mads, seed : see :func:`auto_gate`
    sample, file : for error messages

    Returns
    -------
    DataFrame with columns ``marker, compartment, gate, method, confidence, n_positive,
    fraction_positive, cofactor`` (gate in the compartment's mean intensity units;
    method ``manual``, ``gmm``, ``floor``, ``negative_tail`` or ``undefined``).
    """
    compartments = compartments or {}
    gates = gates or {}
    channels = measured_channels(cells)
    rows = []
    for marker in markers:
        if marker not in channels:
            raise FrontlineInputError(
                f"marker '{marker}' was not measured; the measured channels are {channels}",
                sample=sample,
                file=file,
                fix="use channel names exactly as the image names them in `phenotyping:`",
            )
        compartment = compartments.get(marker, default_compartment)
        if compartment not in COMPARTMENTS:
            raise FrontlineInputError(
                f"compartment '{compartment}' for marker '{marker}' is not one of "
                f"{list(COMPARTMENTS)}",
                sample=sample,
                file=file,
                fix="set `phenotyping: compartments:` to nucleus, cell, ring or ring_median",
            )
        values = compartment_values(cells, marker, compartment, sample, file)
        setting = parse_gate(gates.get(marker, "auto"), marker, sample, file)
        result = gate_marker(
            values, setting, min_confidence=min_confidence, tail_mads=tail_mads, seed=seed
        )
        _explain(marker, compartment, result)
        positive = _is_positive(values, result["gate"])
        rows.append(
            {
                "marker": marker,
                "compartment": compartment,
                **result,
                "n_positive": int(positive.sum()),
                "fraction_positive": float(positive.mean()) if positive.size else 0.0,
            }
        )
        log.info(
            "gate %s (%s): %.4g by %s, confidence %.2f, %d/%d positive",
            marker,
            compartment,
            result["gate"],
            result["method"],
            result["confidence"],
            positive.sum(),
            positive.size,
        )
    return pd.DataFrame(rows, columns=GATE_COLUMNS)


def _explain(marker, compartment, result):
    """Log what a fallback gate means for the marker."""
    if result["method"] == "undefined":
        log.warning(
            "marker %s (%s mean) has the same intensity in every cell, so no gate "
            "can be found: every cell counts as %s-negative. Check the channel, or "
            "set a number in `phenotyping: gates: %s:`",
            marker,
            compartment,
            marker,
            marker,
        )
    elif result["method"] == "floor":
        log.info(
            "marker %s: the cells at the lowest intensity (%.4g) are negative and, with "
            "no second population above them, all others positive",
            marker,
            result["gate"],
        )
    elif result["method"] == "negative_tail":
        log.warning(
            "marker %s: no second population (confidence %.2f); gate %.4g from the "
            "upper tail of the bulk. Check plots/gating/%s.png and set a number in "
            "`phenotyping: gates:` if it is wrong",
            marker,
            result["confidence"],
            result["gate"],
            marker,
        )


def _is_positive(values, gate):
    if not np.isfinite(gate):
        return np.zeros(values.shape, bool)
    with np.errstate(invalid="ignore"):
        return values > gate


def positivity(cells: pd.DataFrame, gates: pd.DataFrame) -> pd.DataFrame:
    """``{marker}_positive`` booleans for every cell.

    Parameters
    ----------
    cells : DataFrame with the intensity columns
    gates : DataFrame from :func:`gate_markers`

    Returns
    -------
    DataFrame with ``cell_id`` and one bool column per marker; an undefined gate (NaN) or a
    missing intensity is negative.
    """
    out = {"cell_id": cells["cell_id"].to_numpy()}
    for row in gates.itertuples():
        values = compartment_values(cells, row.marker, row.compartment)
        out[f"{row.marker}_positive"] = _is_positive(values, row.gate)
    return pd.DataFrame(out)


# --------------------------------------------------------------------------- margins


def gate_margins(cells: pd.DataFrame, gates: pd.DataFrame) -> pd.DataFrame:
    """How far each cell is above each gate, on the marker's arcsinh scale.

    ``arcsinh(x / cofactor) - arcsinh(gate / cofactor)``: positive above the gate, about the
    natural log of the fold change for intensities well above the cofactor, so margins of
    different markers can be compared.

    Parameters
    ----------
    cells : DataFrame with the intensity columns
    gates : DataFrame from :func:`gate_markers`

    Returns
    -------
    DataFrame with one float column per marker (-inf where the gate is undefined or the
    intensity missing)
    """
    out = {}
    for row in gates.itertuples():
        values = compartment_values(cells, row.marker, row.compartment)
        scale = row.cofactor if np.isfinite(row.cofactor) and row.cofactor > 0 else 1.0
        with np.errstate(invalid="ignore"):
            margin = np.arcsinh(values / scale) - np.arcsinh(row.gate / scale)
        out[row.marker] = np.where(np.isfinite(margin), margin, -np.inf)
    return pd.DataFrame(out, index=cells.index)


def exclusive_margins(
    cells: pd.DataFrame,
    gates: pd.DataFrame,
    compartments: dict | None,
    *,
    min_confidence: float,
    tail_mads: float,
    seed: int,
    sample: str | None = None,
    file: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Gate margins for settling exclusive-lineage conflicts, some read in other compartments.

    The margins of :func:`gate_margins`, except for each marker in ``compartments`` whose
    compartment differs from its gating compartment: that marker is auto-gated again in the
    given compartment and its margin measured against that gate, so the lead of one lineage
    over the other is still a ratio to a gate of the same compartment. A marker whose gate
    there is ``undefined`` keeps its margin from the gating compartment.

    Why: positivity wants the compartment that holds most of a marker's signal (keratin:
    the whole cell), but the choice between two lineages wants the compartment least mixed
    with the neighbours'. A lymphocyte in a tumour nest is small, so most of its grown cell
    region lies in the keratin-filled cytoplasm of the tumour cells around it and it reads
    keratin-positive; its nucleus is its own and stays keratin-dim, whereas a tumour cell's
    nucleus is wrapped in its own keratin and reads well above a lymphocyte's.

    Parameters
    ----------
    cells : DataFrame with the intensity columns
    gates : DataFrame from :func:`gate_markers`
    compartments : dict marker -> one of ``COMPARTMENTS``; markers must be gated
    min_confidence, tail_mads, seed : see :func:`auto_gate`
    sample, file : for error messages

    Returns
    -------
    (margins, decision_gates): margins as from :func:`gate_margins`, and the gates
    (:func:`gate_markers` rows) of the markers read in another compartment (may be empty)
    """
    margins = gate_margins(cells, gates)
    current = dict(zip(gates["marker"], gates["compartment"]))
    moved = {}
    for marker, compartment in (compartments or {}).items():
        marker = str(marker)
        if marker not in current:
            # an ungated marker has nothing to settle and is left out (the workflow's startup
            # check refuses such a config; a Python caller gets this warning)
            log.warning(
                "`phenotyping: exclusive_compartments` names marker '%s', which is not "
                "gated (gated: %s); it is ignored",
                marker,
                list(current),
            )
            continue
        if compartment != current[marker]:
            moved[marker] = compartment
    if not moved:
        return margins, gates.iloc[:0]
    decision = gate_markers(
        cells,
        list(moved),
        moved,
        "cell",  # every marker here has its compartment in ``moved``
        min_confidence=min_confidence,
        tail_mads=tail_mads,
        seed=seed,
        sample=sample,
        file=file,
    )
    usable = decision[decision["method"] != "undefined"]
    if len(usable):
        extra = gate_margins(cells, usable)
        for marker in usable["marker"]:
            margins[marker] = extra[marker]
            log.info(
                "exclusive lineages: %s weighed in the %s (gate %.4g there)",
                marker,
                moved[marker],
                usable.set_index("marker").loc[marker, "gate"],
            )
    return margins, usable.reset_index(drop=True)
