"""Activation and functional states: a cell keeps its lineage phenotype and may be in states.

The config's ``states`` section names each state with the markers it is positive (and,
optionally, negative) for and the phenotypes it applies to::

    states:
      PD1_pos: {positive: [PD1], of: [CD8_T, T_helper]}
      GZMB_pos: {positive: [GZMB], of: [CD8_T]}
      M2_like: {positive: [CD163], of: [macrophage]}

A state's markers are gated like any marker (:mod:`frontline.gating`). A cell is in the
state when its phenotype is one of ``of`` or descends from one of them in the phenotype tree
and it is positive for every ``positive`` and negative for every ``negative`` marker; other
cells are not (False). ``phenotypes.parquet`` carries one bool column per state, named as
the state.

Each (phenotype, state) pair of ``of`` is a *state group*, labelled ``{phenotype}+{state}``
(``CD8_T+PD1_pos``: the PD-1-positive CD8 T cells): the spatial step reports its densities
in distance bands and regions, its distances to the front and its share of the phenotype
(:func:`state_groups`; keys in :func:`frontline.spatial.states.state_summary`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import numpy as np
import pandas as pd

from .errors import FrontlineInputError

SEPARATOR = "+"  # state group label: {phenotype}+{state}


def group_label(phenotype: str, state: str) -> str:
    """The label of a state group, e.g. ``CD8_T+PD1_pos``."""
    return f"{phenotype}{SEPARATOR}{state}"


def _names(value) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(str(v) for v in ([value] if isinstance(value, str) else value))


def parse_states(
    states: dict | None,
    tree: dict,
    channels: Iterable[str],
    sample: str | None = None,
    file: str | None = None,
) -> dict:
    """Check the ``states`` section against the phenotype tree and the measured markers.

    Parameters
    ----------
    states : the config's ``states`` section (name -> {positive, negative, of}), or None
    tree : from :func:`frontline.phenotype.parse_phenotypes`
    channels : the measured markers
    sample, file : for messages

    Returns
    -------
    dict name -> {"positive": tuple, "negative": tuple, "of": tuple}, in config order
    """
    channels = list(channels)
    out = {}
    for name, entry in (states or {}).items():
        name, entry = str(name), entry or {}
        where = f"`states: {name}:`"
        if name in tree or name.endswith("_positive") or SEPARATOR in name:
            raise FrontlineInputError(
                f"the state name '{name}' is a phenotype's name, ends in '_positive' or holds "
                f"'{SEPARATOR}'",
                sample=sample,
                file=file,
                fix="rename the state (e.g. PD1_pos); phenotypes.parquet has a column per state",
            )
        positive, negative, of = (_names(entry.get(k)) for k in ("positive", "negative", "of"))
        if not positive:
            raise FrontlineInputError(
                f"{where} lists no positive marker",
                sample=sample,
                file=file,
                fix=f"give the state its markers, e.g. {name}: {{positive: [PD1], of: [CD8_T]}}",
            )
        unknown = [m for m in positive + negative if m not in channels]
        if unknown:
            raise FrontlineInputError(
                f"{where} names marker(s) {unknown} that are not among the measured "
                f"channels {channels}" + _closest(unknown[0], channels),
                sample=sample,
                file=file,
                fix="use channel names exactly as the image names them",
            )
        if not of:
            raise FrontlineInputError(
                f"{where} applies to no phenotype (`of:` is empty)",
                sample=sample,
                file=file,
                fix=f"name the phenotypes it applies to, e.g. of: [{next(iter(tree), 'CD8_T')}]",
            )
        missing = [p for p in of if p not in tree]
        if missing:
            raise FrontlineInputError(
                f"{where} applies to {missing}, which are not phenotypes; the phenotypes are "
                f"{list(tree)}" + _closest(missing[0], list(tree)),
                sample=sample,
                file=file,
                fix="name phenotypes of `phenotyping: phenotypes:` in the state's `of:`",
            )
        out[name] = {"positive": positive, "negative": negative, "of": of}
    return out


def _closest(word, choices):
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def descendants(tree: dict, name: str) -> set[str]:
    """``name`` and every phenotype below it in the tree."""
    out = {name}
    grew = True
    while grew:
        grew = False
        for child, node in tree.items():
            if node["parent"] in out and child not in out:
                out.add(child)
                grew = True
    return out


def state_columns(
    phenotype: np.ndarray, positive: pd.DataFrame, states: dict, tree: dict
) -> pd.DataFrame:
    """One bool column per state: the cell's phenotype is (below) one of ``of`` and it is
    positive for the state's positive and negative for its negative markers.

    Parameters
    ----------
    phenotype : (N,) phenotype names
    positive : DataFrame with the ``{marker}_positive`` columns (same rows)
    states : from :func:`parse_states`
    tree : from :func:`frontline.phenotype.parse_phenotypes`

    Returns
    -------
    DataFrame, one bool column per state, index of ``positive``
    """
    phenotype = np.asarray(phenotype, dtype=object)
    out = {}
    for name, state in states.items():
        members = set().union(*(descendants(tree, p) for p in state["of"]))
        on = np.isin(phenotype, list(members))
        for marker in state["positive"]:
            on &= positive[f"{marker}_positive"].to_numpy(bool)
        for marker in state["negative"]:
            on &= ~positive[f"{marker}_positive"].to_numpy(bool)
        out[name] = on
    return pd.DataFrame(out, index=positive.index)


def state_groups(cells: pd.DataFrame, states: dict | None, phenotypes: dict | None) -> dict:
    """The state groups of a sample's cells: label -> (phenotype, state, mask).

    Parameters
    ----------
    cells : DataFrame with ``phenotype`` and one bool column per state (phenotypes.parquet)
    states : the config's ``states`` section (name -> {positive, negative, of}), or None
    phenotypes : the config's ``phenotyping.phenotypes`` (for the tree below ``of``)

    Returns
    -------
    dict ``{phenotype}+{state}`` -> (phenotype, state, (N,) bool mask of the group, (N,) bool
    mask of the phenotype's cells), in config order
    """
    spec = phenotypes or {}
    tree = {
        str(k): {"parent": None if (v or {}).get("parent") is None else str(v["parent"])}
        for k, v in spec.items()
    }
    names = cells["phenotype"].astype(str).to_numpy()
    out = {}
    for state, entry in (states or {}).items():
        state = str(state)
        if state not in cells.columns:
            raise FrontlineInputError(
                f"the cell table has no column for state '{state}'",
                fix="rerun the phenotype rule (snakemake --forcerun phenotype) after adding "
                "states to the config",
            )
        flag = cells[state].to_numpy(bool)
        for of in _names((entry or {}).get("of")):
            members = descendants(tree, of) if of in tree else {of}
            of_mask = np.isin(names, list(members))
            out[group_label(of, state)] = (of, state, flag & of_mask, of_mask)
    return out
