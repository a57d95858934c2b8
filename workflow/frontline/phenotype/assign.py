"""Each cell's most specific phenotype, and one sample gated and phenotyped as configured."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..gating import exclusive_margins, gate_markers, measured_channels, positivity
from ..states import parse_states, state_columns
from .markers import gated_markers, reference_markers
from .tree import AMBIGUOUS, OTHER, ancestors, parse_phenotypes

log = logging.getLogger(__name__)


def assign_phenotypes(
    positive: pd.DataFrame,
    tree: dict,
    exclusive: Iterable[Iterable[str]] | None = (),
    margins: pd.DataFrame | None = None,
    exclusive_margin: float | None = None,
) -> np.ndarray:
    """The most specific matching phenotype of every cell.

    A cell matches a phenotype when it matches its parent (if any), is positive for all of
    its ``positive`` and negative for all of its ``negative`` markers. Among its matches the
    cell gets the deepest one. When several matches are not on one chain of parents (e.g.
    CD20+ CD68+ matches B_cell and macrophage) the cell gets their most specific common
    ancestor (here ``immune``); when they share none, the cell is ``ambiguous``. A cell
    matching nothing is ``other``.

    A cell matching two phenotypes listed together in ``exclusive`` (e.g. tumor and immune:
    a T cell among tumor cells picks up their keratin) is ``ambiguous``, unless
    ``exclusive_margin`` is set: then it keeps the one whose positive markers (its own and
    its ancestors', the weakest of them counts) clear their gates by at least that much more
    (``margins``, arcsinh units), and drops the other's branch.

    Parameters
    ----------
    positive : DataFrame with a bool ``{marker}_positive`` column per marker of the tree
    tree : from :func:`parse_phenotypes`
    exclusive : list of lists of phenotype names
    margins : DataFrame from :func:`frontline.gating.gate_margins` or
        :func:`frontline.gating.exclusive_margins`, needed with
        ``exclusive_margin``
    exclusive_margin : float or None, least lead of the winning lineage; None: ambiguous

    Returns
    -------
    (N,) object array of phenotype names
    """
    names = list(tree)
    n = len(positive)
    matches = np.zeros((n, len(names)), bool)
    for j, name in enumerate(names):
        node = tree[name]
        ok = np.ones(n, bool) if node["parent"] is None else matches[:, names.index(node["parent"])]
        for marker in node["positive"]:
            ok = ok & positive[f"{marker}_positive"].to_numpy(bool)
        for marker in node["negative"]:
            ok = ok & ~positive[f"{marker}_positive"].to_numpy(bool)
        matches[:, j] = ok
    if exclusive_margin is not None and margins is not None:
        for group in exclusive or ():
            _settle_conflicts(matches, names, tree, group, margins, float(exclusive_margin))
    result = np.full(n, OTHER, dtype=object)
    if n == 0:
        return result
    patterns, inverse = np.unique(matches, axis=0, return_inverse=True)
    for k, pattern in enumerate(patterns):
        matched = [names[j] for j in np.flatnonzero(pattern)]
        result[inverse.ravel() == k] = _resolve(matched, tree, exclusive)
    return result


def _settle_conflicts(matches, names, tree, group, margins, lead):
    """In place: drop the weaker branches of cells matching several of ``group``."""
    members = [g for g in group if g in names]
    if len(members) < 2:
        return
    strength = np.full((matches.shape[0], len(members)), -np.inf)
    for k, member in enumerate(members):
        markers = [m for a in ancestors(tree, member) for m in tree[a]["positive"]]
        if not markers:
            continue  # no marker to weigh: such a conflict stays ambiguous
        weakest = np.min(np.stack([margins[m].to_numpy(float) for m in markers]), axis=0)
        hit = matches[:, names.index(member)]
        strength[hit, k] = weakest[hit]
    n_hit = np.sum(np.isfinite(strength), axis=1)
    ordered = np.sort(strength, axis=1)
    with np.errstate(invalid="ignore"):
        decisive = (n_hit >= 2) & (ordered[:, -1] - ordered[:, -2] >= lead)
    winner = np.argmax(strength, axis=1)
    for k, member in enumerate(members):
        lose = decisive & (winner != k)
        for j, name in enumerate(names):
            if member in ancestors(tree, name):
                matches[lose, j] = False


def _resolve(matched, tree, exclusive):
    """One phenotype for a set of matched phenotypes (see :func:`assign_phenotypes`)."""
    if not matched:
        return OTHER
    for group in exclusive or ():
        if sum(1 for g in group if g in matched) > 1:
            return AMBIGUOUS
    parents = {tree[m]["parent"] for m in matched}
    deepest = [m for m in matched if m not in parents]
    if len(deepest) == 1:
        return deepest[0]
    common = set(ancestors(tree, deepest[0]))
    for name in deepest[1:]:
        common &= set(ancestors(tree, name))
    if not common:
        return AMBIGUOUS
    return max(common, key=lambda name: tree[name]["depth"])


def phenotype_cells(
    cells: pd.DataFrame,
    phenotyping: dict,
    sample: str | None = None,
    file: str | None = None,
    *,
    states: dict | None = None,
    batch_gates: pd.DataFrame | None = None,
    batch: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Gate every marker and assign phenotypes (and states), as configured in ``phenotyping``.

    Parameters
    ----------
    cells : DataFrame from :func:`frontline.measure.measure_cells`
    phenotyping : the config's ``phenotyping`` section with every key (the workflow passes it
        filled from the schema; from Python: ``frontline.config.section("phenotyping", ...)``
        with ``phenotypes``, ``exclusive``, ``gates`` and ``compartments`` set)
    sample, file : for error messages
    states : the config's ``states`` section (:mod:`frontline.states`); their markers are
        gated too and each state becomes a bool column
    batch_gates : this sample's rows of its batch's gates
        (:func:`frontline.phenotype.gates.batch_gates_of`), used for the auto-gated markers;
        None: every auto gate from this sample's cells
    batch : the batch's name (gates.tsv's ``batch`` column)

    Returns
    -------
    phenotypes : DataFrame ``cell_id, phenotype, {marker}_positive..., {state}...``
    gates : DataFrame from :func:`frontline.gating.gate_markers`
    """
    ph = phenotyping
    settings = {k: ph[k] for k in ("min_confidence", "tail_mads", "seed")}
    channels = measured_channels(cells)
    tree = parse_phenotypes(ph["phenotypes"], channels, ph["exclusive"], sample=sample, file=file)
    parsed = parse_states(states, tree, channels, sample=sample, file=file)
    if batch_gates is not None and "sample" in batch_gates.columns and sample is not None:
        batch_gates = batch_gates[batch_gates["sample"].astype(str) == str(sample)]
    gates = gate_markers(
        cells,
        gated_markers(ph, states),
        ph["compartments"],
        ph["default_compartment"],
        ph["gates"],
        **settings,
        references=reference_markers(ph),
        batch_gates=batch_gates,
        batch=batch,
        sample=sample,
        file=file,
    )
    positive = positivity(cells, gates)
    margins, _ = exclusive_margins(
        cells, gates, ph["exclusive_compartments"], **settings, sample=sample, file=file
    )
    names = assign_phenotypes(positive, tree, ph["exclusive"], margins, ph["exclusive_margin"])
    phenotypes = pd.concat(
        [
            positive[["cell_id"]],
            pd.DataFrame({"phenotype": names}, index=positive.index),
            positive.drop(columns="cell_id"),
            state_columns(names, positive, parsed, tree),
        ],
        axis=1,
    )
    counts = pd.Series(names).value_counts()
    log.info("phenotypes: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))
    return phenotypes, gates
