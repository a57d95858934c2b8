"""Phenotypes from marker gates and a hierarchical phenotype table.

Three steps, each a pure function on the ``cells.parquet`` table:

1. :func:`parse_phenotypes` checks the config's phenotype tree (parents, markers, cycles).
2. :mod:`frontline.gating` finds a gate per marker (``auto`` or a number from the config) and
   turns gates into ``{marker}_positive`` columns.
3. :func:`assign_phenotypes` gives each cell its most specific matching phenotype; a cell
   positive for two lineages listed together in ``exclusive`` is settled by how far its
   markers clear their gates (:func:`frontline.gating.exclusive_margins`).

:func:`phenotype_cells` runs the three on one sample as the config's ``phenotyping:`` section
says. The tree also answers which phenotypes are immune (:func:`immune_lineage`) and which
lineage a phenotype belongs to (:func:`lineage_of`).
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable

import numpy as np
import pandas as pd

from .errors import FrontlineInputError
from .gating import (
    exclusive_margins,
    gate_markers,
    measured_channels,
    parse_gate,
    positivity,
)

log = logging.getLogger(__name__)

AMBIGUOUS = "ambiguous"
OTHER = "other"


# --------------------------------------------------------------------------- the tree


def parse_phenotypes(
    spec: dict,
    channels: Iterable[str],
    exclusive: Iterable[Iterable[str]] | None = (),
    sample: str | None = None,
    file: str | None = None,
) -> dict:
    """Check the phenotype table and order it parents first.

    Parameters
    ----------
    spec : dict name -> {parent: str, positive: [markers], negative: [markers]}
    channels : list of str, the markers that were measured
    exclusive : list of lists of phenotype names that a cell cannot belong to together
    sample, file : for error messages

    Returns
    -------
    dict name -> {"parent", "positive", "negative", "depth", "root"}, parents before children.
    """
    if not spec:
        raise FrontlineInputError(
            "the config defines no phenotypes",
            sample=sample,
            file=file,
            fix="add phenotypes under `phenotyping: phenotypes:`, e.g. tumor: {positive: [PanCK]}",
        )
    tree = {}
    for name, entry in spec.items():
        name = str(name)
        entry = entry or {}
        if name in (AMBIGUOUS, OTHER):
            raise FrontlineInputError(
                f"the phenotype name '{name}' is reserved",
                sample=sample,
                file=file,
                fix=f"rename it; '{AMBIGUOUS}' and '{OTHER}' are given by the workflow",
            )
        markers = {}
        for key in ("positive", "negative"):
            value = entry.get(key) or []
            if isinstance(value, str):
                value = [value]
            markers[key] = tuple(str(m) for m in value)
        unknown = [m for m in markers["positive"] + markers["negative"] if m not in channels]
        if unknown:
            raise FrontlineInputError(
                f"phenotype '{name}' uses marker(s) {unknown} that are not among the measured "
                f"channels {list(channels)}",
                sample=sample,
                file=file,
                fix="use channel names exactly as the image names them in "
                "`phenotyping: phenotypes:` (or set a fluor map)",
            )
        both = sorted(set(markers["positive"]) & set(markers["negative"]))
        if both:
            raise FrontlineInputError(
                f"phenotype '{name}' lists {both} as both positive and negative",
                sample=sample,
                file=file,
                fix="list each marker once per phenotype",
            )
        parent = entry.get("parent")
        tree[name] = {"parent": None if parent is None else str(parent), **markers}
    for name, node in tree.items():
        if node["parent"] is not None and node["parent"] not in tree:
            raise FrontlineInputError(
                f"phenotype '{name}' has the parent '{node['parent']}', which is not a "
                f"phenotype; the phenotypes are {list(tree)}",
                sample=sample,
                file=file,
                fix="name an existing phenotype as parent, or drop `parent` for a lineage root",
            )
    ordered = {}
    for name in tree:
        chain = [name]
        while tree[chain[-1]]["parent"] is not None:
            parent = tree[chain[-1]]["parent"]
            if parent in chain:
                cycle = " -> ".join(chain[chain.index(parent) :] + [parent])
                raise FrontlineInputError(
                    f"the phenotype tree has a cycle: {cycle}",
                    sample=sample,
                    file=file,
                    fix="every chain of parents must end at a phenotype without a parent",
                )
            chain.append(parent)
        for depth, member in enumerate(reversed(chain)):
            if member not in ordered:
                ordered[member] = {**tree[member], "depth": depth, "root": chain[-1]}
    for group in exclusive or ():
        unknown = [g for g in group if g not in tree]
        if unknown:
            raise FrontlineInputError(
                f"`phenotyping: exclusive` names {unknown}, which are not phenotypes; the "
                f"phenotypes are {list(tree)}",
                sample=sample,
                file=file,
                fix="list only phenotype names in the exclusive groups",
            )
    return ordered


def gated_markers(phenotyping: dict) -> list[str]:
    """Markers that get a gate: those of the phenotype table, then extra ones in ``gates``.

    Parameters
    ----------
    phenotyping : the config's ``phenotyping`` dict (not validated here)

    Returns
    -------
    list of str
    """
    markers = []
    for entry in (phenotyping.get("phenotypes") or {}).values():
        entry = entry or {}
        for key in ("positive", "negative"):
            value = entry.get(key) or []
            for marker in [value] if isinstance(value, str) else value:
                if str(marker) not in markers:
                    markers.append(str(marker))
    for marker in phenotyping.get("gates") or {}:
        if str(marker) not in markers:
            markers.append(str(marker))
    return markers


def sample_gates(
    table: pd.DataFrame,
    sample: str,
    phenotyping: dict,
    *,
    samples: Iterable[str] | None = None,
    file: str | None = None,
) -> dict[str, str | float]:
    """One sample's manual gates from a gates table (:func:`frontline.io.read_gates_table`).

    The sheet's ``gates`` column names the table; ``phenotyping.gates`` is the fallback for
    the markers it does not set (:func:`with_sample_gates`).

    Parameters
    ----------
    table : DataFrame of str with ``marker``, ``gate`` and optionally ``sample`` and
        ``compartment`` columns (a run's ``gates.tsv`` as it is)
    sample : the sample whose gates these are (with a ``sample`` column: its rows)
    phenotyping : the config's ``phenotyping`` section: a marker the config does not gate
        (:func:`gated_markers`) is an error; a row's ``compartment``, when given, must be the
        one the config gates the marker in (the gate is a number in its units)
    samples : every sample of the sheet; with a ``sample`` column, a name outside them is an
        error (None: not checked)
    file : the table's path, for messages

    Returns
    -------
    dict marker -> ``"auto"`` or a number (an empty gate is ``auto``), the markers the table
    sets for ``sample``
    """
    markers = gated_markers(phenotyping)
    compartments = phenotyping["compartments"] or {}
    default_compartment = phenotyping["default_compartment"]
    samples = None if samples is None else [str(s) for s in samples]
    rows = table
    if "sample" in table.columns:
        if samples is not None:
            unknown = sorted(set(table["sample"]) - set(samples))
            if unknown:
                raise FrontlineInputError(
                    f"the gates table names the sample(s) {unknown}, which the sample sheet "
                    f"does not have; its samples are {list(samples)}",
                    sample=sample,
                    file=file,
                    fix="use the sheet's sample names in the table's sample column",
                )
        rows = table[table["sample"] == str(sample)]
    found: dict[str, str | float] = {}
    for row in rows.to_dict("records"):
        marker = row["marker"]
        if marker not in markers:
            close = difflib.get_close_matches(marker, markers, n=1)
            raise FrontlineInputError(
                f"the gates table sets a gate for '{marker}', a marker the config does not gate"
                + (f" (did you mean '{close[0]}'?)" if close else "")
                + f"; the gated markers (phenotype table and `phenotyping.gates`) are {markers}",
                sample=sample,
                file=file,
                fix="remove the row, or use the marker's name as the config has it",
            )
        if marker in found:
            raise FrontlineInputError(
                f"the gates table sets the gate for '{marker}' twice",
                sample=sample,
                file=file,
                fix="keep one row per marker (and sample)",
            )
        gated_in = compartments.get(marker, default_compartment)
        given = row.get("compartment", "") or ""
        if given and given != gated_in:
            raise FrontlineInputError(
                f"the gate for '{marker}' is for its {given} intensity, but the config gates "
                f"{marker} in its {gated_in} intensity",
                sample=sample,
                file=file,
                fix=f"copy the gate from a gates.tsv of a run with the same compartments, or set "
                f"`phenotyping.compartments: {{{marker}: {given}}}`",
            )
        value = row["gate"]
        found[marker] = parse_gate(None if value == "" else value, marker, sample, file)
    return found


def with_sample_gates(
    phenotyping: dict, table: pd.DataFrame | None, sample: str, file: str | None = None
) -> dict:
    """The ``phenotyping`` section with one sample's gates table on top of ``gates``.

    Parameters
    ----------
    phenotyping : the config's ``phenotyping`` section
    table : the sample's gates table (:func:`frontline.io.read_gates_table`), or None
    sample, file : the sample, and the table's path for messages

    Returns
    -------
    dict, a new section (``phenotyping`` itself when there is no table)
    """
    if table is None:
        return phenotyping
    own = sample_gates(table, sample, phenotyping, file=file)
    return {**phenotyping, "gates": {**(phenotyping["gates"] or {}), **own}}


def ring_median_markers(phenotyping: dict) -> list[str]:
    """Markers read from their ring median (``compartments``, ``default_compartment`` or
    ``exclusive_compartments``): the ones the measure rule must measure it for.

    Parameters
    ----------
    phenotyping : the config's ``phenotyping`` section (every key; ``compartments`` may be
        None)

    Returns
    -------
    sorted list of str
    """
    compartments = phenotyping["compartments"] or {}
    default = phenotyping["default_compartment"]
    markers = {
        m for m in gated_markers(phenotyping) if compartments.get(m, default) == "ring_median"
    }
    markers |= {str(m) for m, c in compartments.items() if c == "ring_median"}
    markers |= {
        str(m)
        for m, c in (phenotyping["exclusive_compartments"] or {}).items()
        if c == "ring_median"
    }
    return sorted(markers)


def lineage_of(tree: dict, name: str) -> str:
    """The root phenotype (lineage) of ``name``, or ``name`` itself when not in the tree."""
    return tree[name]["root"] if name in tree else name


def immune_lineage(
    phenotypes: dict | None, root: str = "immune", extra: Iterable[str] = ()
) -> tuple[str, ...]:
    """The phenotypes that descend from ``root`` (and ``root`` itself) in the config's tree.

    Parameters
    ----------
    phenotypes : dict name -> {parent: ...} (config ``phenotyping.phenotypes``)
    root : the immune root phenotype
    extra : further names to include (e.g. the immune types analysed)

    Returns
    -------
    tuple of names
    """
    names = set(extra)
    for name in phenotypes or {}:
        seen, node = set(), name
        while node is not None and node not in seen:
            if node == root:
                names.add(name)
                break
            seen.add(node)
            node = (phenotypes.get(node) or {}).get("parent")
    return tuple(sorted(names))


# --------------------------------------------------------------------------- phenotypes


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
        markers = [m for a in _ancestors(tree, member) for m in tree[a]["positive"]]
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
            if member in _ancestors(tree, name):
                matches[lose, j] = False


def _ancestors(tree, name):
    chain = [name]
    while tree[chain[-1]]["parent"] is not None:
        chain.append(tree[chain[-1]]["parent"])
    return chain


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
    common = set(_ancestors(tree, deepest[0]))
    for name in deepest[1:]:
        common &= set(_ancestors(tree, name))
    if not common:
        return AMBIGUOUS
    return max(common, key=lambda name: tree[name]["depth"])


def phenotype_cells(
    cells: pd.DataFrame, phenotyping: dict, sample: str | None = None, file: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Gate every marker and assign phenotypes, as configured in ``phenotyping``.

    Parameters
    ----------
    cells : DataFrame from :func:`frontline.measure.measure_cells`
    phenotyping : the config's ``phenotyping`` section with every key (the workflow passes it
        filled from the schema; from Python: ``frontline.config.section("phenotyping", ...)``
        with ``phenotypes``, ``exclusive``, ``gates`` and ``compartments`` set)
    sample, file : for error messages

    Returns
    -------
    phenotypes : DataFrame ``cell_id, phenotype, {marker}_positive...``
    gates : DataFrame from :func:`frontline.gating.gate_markers`
    """
    ph = phenotyping
    settings = {k: ph[k] for k in ("min_confidence", "tail_mads", "seed")}
    tree = parse_phenotypes(
        ph["phenotypes"], measured_channels(cells), ph["exclusive"], sample=sample, file=file
    )
    gates = gate_markers(
        cells,
        gated_markers(ph),
        ph["compartments"],
        ph["default_compartment"],
        ph["gates"],
        **settings,
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
        ],
        axis=1,
    )
    counts = pd.Series(names).value_counts()
    log.info("phenotypes: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))
    return phenotypes, gates
