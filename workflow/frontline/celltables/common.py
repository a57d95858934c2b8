"""What every cell-table format shares: how a format describes a table, header names, flags."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..errors import FrontlineInputError

# What a table gives the phenotypes from (:attr:`Layout.phenotypes`).
FROM_TABLE = "table"  # a column of phenotype names (inForm Phenotype, QuPath Class, generic)
FROM_FLAGS = "flags"  # per-marker positivity flags, phenotyped by the config's phenotype tree
FROM_GATING = "gating"  # intensities only: frontline's gates and phenotype tree run on them


@dataclass
class Layout:
    """Which columns of one table hold what (found from its header alone).

    Coordinates are read from ``x``/``y`` (or, for HALO, the centre of the bounding box
    columns in ``bbox``) in ``units`` ("um" or "px"); pixel coordinates become µm as
    ``(px + pixel_origin) * pixel size``: ``pixel_origin`` is 0.5 where the table counts pixels
    by index (pixel i is centred at i, as inForm, HALO, MCMICRO and scikit-image do) and 0 where
    it measures in continuous pixel units (pixel i spans i to i + 1, as QuPath does), so that
    frontline's convention (pixel centres at (i + 0.5) × pixel size) holds. ``flags`` maps a
    marker to its positivity column, ``intensities`` a frontline column
    (``{marker}_{compartment}_mean``) to the table's column, ``measures`` the other frontline
    columns (areas, shape, ``tissue_class``) to theirs.
    """

    format: str
    x: str | None = None
    y: str | None = None
    units: str = "um"
    pixel_origin: float = 0.5
    bbox: tuple[str, str, str, str] | None = None  # XMin, XMax, YMin, YMax
    cell_id: str | None = None
    phenotype: str | None = None
    flags: dict[str, str] = field(default_factory=dict)
    intensities: dict[str, str] = field(default_factory=dict)
    measures: dict[str, str] = field(default_factory=dict)
    area_units: str = "um2"  # of the area columns in ``measures``: "um2" or "px2"
    states: list[str] = field(default_factory=list)  # boolean columns kept as they are

    @property
    def phenotypes(self) -> str:
        """Where the phenotypes come from: FROM_TABLE, FROM_FLAGS or FROM_GATING."""
        if self.phenotype is not None:
            return FROM_TABLE
        if self.flags:
            return FROM_FLAGS
        return FROM_GATING

    def structural(self) -> list[str]:
        """The columns the checks before a run read: all but intensities, measures and states."""
        cols = [self.x, self.y, self.cell_id, self.phenotype, *(self.bbox or ())]
        cols += list(self.flags.values())
        if "tissue_class" in self.measures:
            cols.append(self.measures["tissue_class"])
        return [c for c in dict.fromkeys(cols) if c is not None]

    def structural_only(self) -> Layout:
        """This layout without the columns :meth:`structural` leaves out (for checks that read
        only those)."""
        keep = {k: v for k, v in self.measures.items() if k == "tissue_class"}
        return replace(self, intensities={}, measures=keep, states=[])


def canonical(name: str) -> str:
    """A header name reduced to lower-case words: ``Cell X Position (pixels)`` -> ``cell x
    position pixels``; ``CD3..Opal.570..Positive`` and ``CD3 (Opal 570) Positive`` -> ``cd3 opal
    570 positive``; µ (either code point) becomes ``u``."""
    text = unicodedata.normalize("NFKC", str(name)).replace("µ", "u").replace("μ", "u")
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def find(columns: Sequence[str], *names: str) -> str | None:
    """The first column whose canonical name is one of ``names`` (canonical forms)."""
    table = {canonical(c): c for c in reversed(list(columns))}
    for name in names:
        if name in table:
            return table[name]
    return None


def marker_name(text: str) -> str:
    """A marker name made of letters, digits and ``_`` only (``PD-L1``, ``PD.L1`` -> ``PDL1``),
    so a header in HALO's own form and in R's mangled form give the same marker."""
    return re.sub(r"[^0-9A-Za-z_]", "", str(text))


_TRUE = {"1", "true", "t", "yes", "y", "pos", "positive"}
_FALSE = {"0", "false", "f", "no", "n", "neg", "negative", "", "nan", "other"}


def as_flags(values: pd.Series, *, column: str, sample: str | None, file: str | None) -> np.ndarray:
    """Positivity flags as booleans.

    Accepted: booleans, 0/1, ``true``/``false``, ``yes``/``no``, ``pos``/``neg``, and names
    ending in ``+`` or ``-`` (inForm's ``CD8+`` / ``CD8-``, ``CK+``); missing values and
    ``other`` are negative.

    Returns
    -------
    (N,) bool array
    """
    if pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(values):
        numbers = values.to_numpy(dtype=float)
        bad = ~np.isin(numbers, (0.0, 1.0)) & ~np.isnan(numbers)
        if bad.any():
            raise FrontlineInputError(
                f"the flag column '{column}' holds {sorted(set(numbers[bad].tolist()))[:5]}, not "
                "0/1",
                sample=sample,
                file=file,
                fix="flags are 0/1, true/false or names ending in + / -",
            )
        return numbers == 1.0
    codes, names = pd.factorize(values)  # a few distinct names: decide each once
    decided, unknown = np.zeros(len(names) + 1, bool), []
    for k, name in enumerate(names):
        text = str(name).strip()
        decided[k] = text.lower() in _TRUE or text.endswith("+")
        if not (decided[k] or text.lower() in _FALSE or text.endswith("-")):
            unknown.append(text)
    if unknown:
        raise FrontlineInputError(
            f"the flag column '{column}' holds values that are no flags: {sorted(unknown)[:5]}",
            sample=sample,
            file=file,
            fix="flags are 0/1, true/false or names ending in + / - (e.g. CD8+)",
        )
    return decided[codes]  # code -1 (missing) reads the last entry: negative


def is_state(values: pd.Series) -> bool:
    """Whether a column holds booleans (kept in ``cells.parquet`` as a state column)."""
    if pd.api.types.is_bool_dtype(values):
        return True
    if values.dtype == object:
        lower = values.dropna().astype(str).str.strip().str.lower()
        return len(lower) > 0 and bool(lower.isin(("true", "false")).all())
    return False
