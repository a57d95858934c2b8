"""Which markers the config gates, where they are read, and the known negatives of each."""

from __future__ import annotations


def gated_markers(phenotyping: dict, states: dict | None = None) -> list[str]:
    """Markers that get a gate: those of the phenotype table, then extra ones in ``gates``,
    then those of the states.

    Parameters
    ----------
    phenotyping : the config's ``phenotyping`` dict (not validated here)
    states : the config's ``states`` section, or None

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
    for entry in (states or {}).values():
        for key in ("positive", "negative"):
            value = (entry or {}).get(key) or []
            for marker in [value] if isinstance(value, str) else value:
                if str(marker) not in markers:
                    markers.append(str(marker))
    return markers


def reference_markers(phenotyping: dict) -> dict[str, list[str]]:
    """For each marker, the markers of the lineages its own lineages exclude: cells positive
    for those are known negatives for it (:func:`frontline.gating.auto_gate`, ``reference``).

    A phenotype excludes the phenotypes it shares an ``exclusive`` group with (itself or
    through an ancestor: tumor excludes every descendant of immune) and its siblings in the
    tree (a cell matching two siblings is neither). Their markers are their own positive
    markers, or, for a phenotype without any, those of its children.

    Parameters
    ----------
    phenotyping : the config's ``phenotyping`` section (``phenotypes``, ``exclusive``)

    Returns
    -------
    dict marker -> sorted list of markers (markers without reference cells left out)
    """
    spec = {str(k): v or {} for k, v in (phenotyping.get("phenotypes") or {}).items()}

    def positives(name):
        value = spec[name].get("positive") or []
        return [str(m) for m in ([value] if isinstance(value, str) else value)]

    def parent(name):
        value = spec.get(name, {}).get("parent")
        return None if value is None else str(value)

    def ancestors(name):
        chain, seen = [], set()
        while name is not None and name in spec and name not in seen:
            chain.append(name)
            seen.add(name)
            name = parent(name)
        return chain

    def markers_of(name, depth=0):
        own = positives(name)
        if own or depth > len(spec):
            return own
        return [m for child in spec if parent(child) == name for m in markers_of(child, depth + 1)]

    out: dict[str, set] = {}
    for name in spec:
        excluded = set()
        for group in phenotyping.get("exclusive") or ():
            group = [str(g) for g in group]
            if any(a in group for a in ancestors(name)):
                excluded |= {g for g in group if g in spec and g not in ancestors(name)}
        excluded |= {o for o in spec if o != name and parent(o) == parent(name)}
        known = {m for other in excluded for m in markers_of(other)}
        for marker in positives(name):
            out.setdefault(marker, set()).update(known - {marker})
    return {m: sorted(v) for m, v in out.items() if v}


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
