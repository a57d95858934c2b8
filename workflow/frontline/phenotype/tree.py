"""The phenotype tree: the config's phenotype table checked and ordered, lineages, ancestors."""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import FrontlineInputError

AMBIGUOUS = "ambiguous"
OTHER = "other"


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


def ancestors(tree: dict, name: str) -> list[str]:
    """``name`` and its ancestors in ``tree`` (:func:`parse_phenotypes`), nearest first."""
    chain = [name]
    while tree[chain[-1]]["parent"] is not None:
        chain.append(tree[chain[-1]]["parent"])
    return chain
