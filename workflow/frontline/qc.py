"""Quality control that is loud: every gate and lineage of a sample checked, flagged, explained.

Per sample, ``qc.tsv`` (:func:`sample_qc`, written by the phenotype step) has one row per
gated marker (``level`` ``marker``: gate, method, confidence, positive fraction) and one per
lineage of the phenotype tree (``level`` ``lineage``: its cells), each with its ``flags``
(comma-separated, empty when fine), a ``severity`` (``ok``, ``warning``, or ``error`` when a
marker or lineage the tumor region or the immune call rests on failed: no or all cells
positive, no gate, too few cells; and when the call is not computable) and the
``action`` that would fix it. The spatial step adds the call's flag and carries every flag in
``summary.json`` (:func:`summary_flags`: ``qc_flags``, ``qc_status``); the cohort table
``results/cohort/qc.tsv`` stacks the samples' rows (:func:`cohort_qc`), and the end of a run
prints every flagged sample and what to do (:func:`qc_report_lines`).

Flags:

=================== ======== ============================================================
flag                level    when
=================== ======== ============================================================
``no_positive``     marker   0 % of the cells are positive
``all_positive``    marker   at least 98 % of the cells are positive
``fallback_gate``   marker   the auto gate found no second population (``floor`` or
                             ``negative_tail``) and its confidence is below
                             ``phenotyping.min_confidence``
``undefined_gate``  marker   the marker is constant: no gate, every cell negative
``few_cells``       lineage  fewer than ``spatial.min_cells`` cells of the lineage
``call_not_computable`` call the immune call is ``not_computable`` (e.g. from fewer
                             than ``spatial.min_cells`` cells of its phenotype); an error
``low_call_confidence`` call the 95 % interval of the number the call rests on straddles
                             its threshold (``phenotype_call_confidence`` ``low``)
=================== ======== ============================================================
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .gating import FALLBACK_METHODS

QC_COLUMNS = [
    "sample",
    "level",
    "name",
    "compartment",
    "gate",
    "method",
    "confidence",
    "n_cells",
    "fraction_positive",
    "flags",
    "severity",
    "action",
]
ALL_POSITIVE_FRACTION = 0.98
SEVERITIES = ("ok", "warning", "error")


def _actions(flag: str, name: str) -> str:
    return {
        "no_positive": (
            f"no cell is {name}-positive: look at plots/gating/{name}.png; if {name} is "
            "stained, set its gate in the sample's gates table (sheet column gates) or gate "
            "the sample in a batch with others (sheet column batch)"
        ),
        "all_positive": (
            f"almost every cell is {name}-positive: a field filled by one lineage has no "
            f"negatives of its own; check plots/gating/{name}.png, gate it in a batch with "
            "fields that have negatives (sheet column batch) or set the gate by hand"
        ),
        "fallback_gate": (
            f"no second {name} population was found (a fallback gate): check "
            f"plots/gating/{name}.png and set the gate by hand or gate the sample in a batch"
        ),
        "undefined_gate": (
            f"{name} has the same intensity in every cell: check the channel (name, fluor "
            "map) or drop it from the config"
        ),
        "few_cells": (
            f"the {name} lineage has too few cells for its statistics: check the gates of "
            "its markers (plots/gating/) before reading its densities"
        ),
        "call_not_computable": (
            f"the immune call could not be made from the {name} cells: check the gates of "
            "their markers (plots/gating/) and the tumor region (plots/overview.png)"
        ),
        "low_call_confidence": (
            f"the call's 95 % interval (of the {name} share or densities) straddles its "
            "threshold: read it with its numbers (summary.json call_*), not as a class"
        ),
    }[flag]


def marker_flags(
    method: str, confidence: float, fraction_positive: float, min_confidence: float
) -> list[str]:
    """The flags of one gate (see the module docstring)."""
    flags = []
    if method == "undefined":
        return ["undefined_gate"]
    if fraction_positive <= 0:
        flags.append("no_positive")
    elif fraction_positive >= ALL_POSITIVE_FRACTION:
        flags.append("all_positive")
    if method in FALLBACK_METHODS and confidence < min_confidence:
        flags.append("fallback_gate")
    return flags


def _tree(spec: Mapping) -> dict:
    """name -> {parent, positive, root} from the config's phenotype table."""
    tree = {}
    for name, entry in (spec or {}).items():
        entry = entry or {}
        value = entry.get("positive") or []
        parent = entry.get("parent")
        tree[str(name)] = {
            "parent": None if parent is None else str(parent),
            "positive": [str(m) for m in ([value] if isinstance(value, str) else value)],
        }
    for name, node in tree.items():
        root, seen = name, set()
        while tree.get(root, {}).get("parent") in tree and root not in seen:
            seen.add(root)
            root = tree[root]["parent"]
        node["root"] = root
    return tree


def key_markers(tree: Mapping, key_phenotypes: Iterable[str]) -> set[str]:
    """The positive markers of the phenotypes a sample's statistics rest on (the tumor
    phenotype, the call phenotype) and of their ancestors."""
    out = set()
    for name in key_phenotypes:
        seen = set()
        while name is not None and name in tree and name not in seen:
            seen.add(name)
            out |= set(tree[name]["positive"])
            name = tree[name]["parent"]
    return out


def sample_qc(
    gates: pd.DataFrame,
    phenotype: Sequence[str],
    phenotypes: Mapping,
    *,
    min_confidence: float,
    min_cells: int,
    key_phenotypes: Iterable[str] = (),
    sample: str | None = None,
) -> pd.DataFrame:
    """The QC table of one sample: its gates and its lineages, flagged.

    Parameters
    ----------
    gates : the phenotype step's gates (:func:`frontline.gating.gate_markers`)
    phenotype : (N,) the cells' phenotypes
    phenotypes : the config's phenotype table (``phenotyping.phenotypes``)
    min_confidence : ``phenotyping.min_confidence``
    min_cells : ``spatial.min_cells``
    key_phenotypes : phenotypes the tumor region and the immune call rest on: a flag on
        them, their ancestors or their markers is an ``error``
    sample : the sample's name (the ``sample`` column)

    Returns
    -------
    DataFrame with ``QC_COLUMNS``: marker rows, then lineage rows
    """
    tree = _tree(phenotypes)
    key_phenotypes = [p for p in key_phenotypes if p in tree]
    critical = key_markers(tree, key_phenotypes)
    key_roots = {tree[p]["root"] for p in key_phenotypes}
    rows = []
    for g in gates.itertuples():
        flags = marker_flags(g.method, g.confidence, g.fraction_positive, min_confidence)
        rows.append(
            {
                "level": "marker",
                "name": g.marker,
                "compartment": g.compartment,
                "gate": g.gate,
                "method": g.method + (f" (batch {g.batch})" if getattr(g, "batch", "") else ""),
                "confidence": g.confidence,
                "n_cells": int(g.n_positive),
                "fraction_positive": g.fraction_positive,
                "flags": flags,
                "severity": _severity(flags, g.marker in critical),
            }
        )
    names = np.asarray(phenotype, dtype=object)
    roots = np.array([tree[n]["root"] if n in tree else "" for n in names], dtype=object)
    for lineage in dict.fromkeys(node["root"] for node in tree.values()):
        n = int(np.sum(roots == lineage))
        flags = ["few_cells"] if n < min_cells else []
        rows.append(
            {
                "level": "lineage",
                "name": lineage,
                "n_cells": n,
                "fraction_positive": n / len(names) if len(names) else 0.0,
                "flags": flags,
                "severity": _severity(flags, lineage in key_roots),
            }
        )
    return _table(rows, sample)


FAILED = ("no_positive", "all_positive", "undefined_gate", "few_cells")  # errors on key items


def _severity(flags, critical):
    """``error`` for a failed gate or count the tumor region or the call rests on; else
    ``warning`` (a fallback gate is what a rare marker gets: worth a look, not a failure)."""
    if not flags:
        return "ok"
    return "error" if critical and set(flags) & set(FAILED) else "warning"


def _table(rows, sample):
    for row in rows:
        row["action"] = " ".join(_actions(f, row["name"]) for f in row["flags"])
        row["flags"] = ",".join(row["flags"])
        row["sample"] = sample or ""
    return pd.DataFrame(rows, columns=QC_COLUMNS)


def call_qc(summary: Mapping) -> pd.DataFrame:
    """The QC row of the immune call (level ``call``), from a sample's summary.

    Read from the call's own keys (:func:`frontline.spatial.call.call_summary`): name
    ``call_phenotype``, method the call and its confidence, ``n_cells`` ``call_n_cells`` (its
    cells in the tissue). ``not_computable`` (too few cells of the phenotype, too small a
    field, a tumor filling the tissue with too few of them) is an error whose action gives the
    call's reason; a call whose deciding number's 95 % interval straddles its threshold
    (confidence ``low``) a warning.
    """
    call = summary.get("phenotype_call")
    confidence = summary.get("phenotype_call_confidence")
    flags = []
    if call == "not_computable":
        flags.append("call_not_computable")
    elif confidence == "low":
        flags.append("low_call_confidence")
    row = {
        "level": "call",
        "name": summary.get("call_phenotype") or "",
        "method": call if confidence is None else f"{call} ({confidence} confidence)",
        "n_cells": summary.get("call_n_cells"),
        "flags": flags,
        "severity": "error" if flags == ["call_not_computable"] else _severity(flags, False),
    }
    table = _table([row], summary.get("sample"))
    reason = summary.get("phenotype_call_reason") or ""
    if flags and reason:
        table["action"] = f"{table['action'].iloc[0]} (the call's reason: {reason})"
    return table


def summary_flags(qc: pd.DataFrame) -> dict:
    """The keys ``summary.json`` carries: ``qc_status`` (the worst severity: ok, warning or
    error) and ``qc_flags`` (``"{level} {name}: {flag}"`` for every flag)."""
    flagged = qc[qc["flags"].astype(str) != ""]
    flags = [
        f"{r.level} {r.name}: {f}" for r in flagged.itertuples() for f in str(r.flags).split(",")
    ]
    worst = max((SEVERITIES.index(s) for s in qc["severity"]), default=0)
    return {"qc_status": SEVERITIES[worst], "qc_flags": flags}


def empty_qc() -> pd.DataFrame:
    """A QC table without rows (a sample without gates or a phenotype tree)."""
    return pd.DataFrame(columns=QC_COLUMNS)


def cohort_qc(tables: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Every sample's QC rows in one table (``results/cohort/qc.tsv``), flagged rows first."""
    parts = [t for t in tables if len(t)]
    if not parts:
        return pd.DataFrame(columns=QC_COLUMNS)
    table = pd.concat(parts, ignore_index=True)[QC_COLUMNS]
    order = table["severity"].map({s: -i for i, s in enumerate(SEVERITIES)}).fillna(0)
    return table.assign(_o=order).sort_values(["_o", "sample"], kind="stable").drop(columns="_o")


def qc_report_lines(table: pd.DataFrame) -> list[str]:
    """The end-of-run lines: a first line that says whether QC failed (``frontline finished,
    but QC FAILED`` where a flag is an error, ``with QC warnings`` else, a clean line where
    nothing is flagged), then every flagged sample and item with what to do."""
    flagged = table[table["flags"].fillna("").astype(str) != ""]
    if flagged.empty:
        return ["frontline finished; every gate and lineage passed QC (results/cohort/qc.tsv)."]
    errors = flagged[flagged["severity"] == "error"]
    lines = [
        "frontline finished, but QC FAILED: read the flags before the results."
        if len(errors)
        else "frontline finished with QC warnings: read them before the results.",
        f"QC: {flagged['sample'].nunique()} sample(s) flagged"
        + (
            f", {errors['sample'].nunique()} with errors in a gate or count the results rest "
            "on: their tumor region, densities or call are not to be trusted as they are"
            if len(errors)
            else ""
        )
        + " (results/cohort/qc.tsv):",
    ]
    for sample, rows in flagged.groupby("sample", sort=False):
        lines.append(f"  {sample}:")
        for r in rows.itertuples():
            lines.append(f"    [{r.severity}] {r.level} {r.name}: {r.flags}. {r.action}")
    return lines


def with_flags(summary: Mapping, qc: pd.DataFrame) -> dict:
    """``summary`` with the sample's QC (its ``qc.tsv`` and the call's row) in
    ``qc_status`` and ``qc_flags`` (:func:`summary_flags`)."""
    rows = pd.concat([qc, call_qc(summary)], ignore_index=True)
    return {**summary, **summary_flags(rows)}
