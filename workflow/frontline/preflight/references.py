"""Config keys that name what another table defines: phenotypes, markers (image channels).

:data:`REFERENCES` lists every such key once: what it names (a ``kind``) and how its value
holds the names. A check takes the names a kind has (the phenotype table's, an image's
channels) and reports each name that is not among them, with the key and where its value came
from (:class:`~frontline.preflight.origin.Origin`). A new section that names phenotypes or
markers, or a new kind (e.g. activation states, defined by their own table), adds a line here
and, for a new kind, the set of names it has.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import FrontlineInputError
from ..spatial.common import ALL_IMMUNE
from .origin import Origin

if TYPE_CHECKING:
    from .tables import TableSamples

log = logging.getLogger(__name__)

PHENOTYPE, MARKER = "phenotype", "marker"
RESERVED = ("other", "ambiguous")  # phenotypes the workflow itself gives
POOLED = (ALL_IMMUNE,)  # the spatial step's pool of the immune lineage


@dataclass(frozen=True)
class Reference:
    """A config key whose value names things of one kind.

    key : dotted path; ``*`` stands for every entry of a map (``phenotyping.phenotypes.*.parent``)
    kind : what the names are (:data:`PHENOTYPE`, :data:`MARKER`, ...)
    form : how the value holds them: ``value`` (one name), ``items`` (a list), ``groups``
        (a list of lists) or ``keys`` (the keys of a map)
    also : further names allowed here (e.g. the reserved phenotypes)
    what : what the key is for, for the fix (e.g. "the phenotype of your tumour cells")
    """

    key: str
    kind: str
    form: str
    also: tuple[str, ...] = ()
    what: str = ""


REFERENCES = (
    Reference("phenotyping.phenotypes.*.parent", PHENOTYPE, "value"),
    Reference("phenotyping.exclusive", PHENOTYPE, "groups"),
    Reference(
        "front.tumor_phenotype", PHENOTYPE, "value", what="the phenotype of your tumour cells"
    ),
    Reference("spatial.immune_types", PHENOTYPE, "items", also=POOLED),
    Reference("spatial.call.phenotype", PHENOTYPE, "value", also=POOLED),
    Reference("evaluation.phenotype_map", PHENOTYPE, "keys", also=RESERVED),
    Reference("segmentation.nuclear_channel", MARKER, "value", what="the image's nuclear channel"),
    Reference("phenotyping.phenotypes.*.positive", MARKER, "items"),
    Reference("phenotyping.phenotypes.*.negative", MARKER, "items"),
    Reference("phenotyping.gates", MARKER, "keys"),
    Reference("phenotyping.compartments", MARKER, "keys"),
    Reference("phenotyping.exclusive_compartments", MARKER, "keys"),
    Reference("report.overview_channels", MARKER, "items", what="a channel of the overview"),
    Reference("states.*.of", PHENOTYPE, "items", what="the phenotypes the state applies to"),
    Reference("states.*.positive", MARKER, "items"),
    Reference("states.*.negative", MARKER, "items"),
)


def _expand(node: Any, parts: list[str], done: list[str]) -> Iterable[tuple[str, Any]]:
    """(concrete key, value) for a key path with ``*`` (every entry of a map)."""
    if not parts:
        yield ".".join(done), node
        return
    head, rest = parts[0], parts[1:]
    if not isinstance(node, Mapping):
        return
    keys = list(node) if head == "*" else [head] if head in node else []
    for key in keys:
        yield from _expand(node[key], rest, done + [str(key)])


def _names(value: Any, form: str) -> list[str]:
    if value is None:
        return []
    if form == "value":
        return [str(value)]
    if form == "keys":
        return [str(k) for k in value] if isinstance(value, Mapping) else []
    if isinstance(value, str):
        value = [value]
    if form == "items":
        return [str(v) for v in value]
    return [str(v) for group in value for v in (group or [])]  # groups


def named(config: Mapping, kind: str) -> list[tuple[str, str, Reference]]:
    """Every name of ``kind`` the config's keys give: [(name, concrete key, reference)]."""
    out = []
    for ref in REFERENCES:
        if ref.kind != kind:
            continue
        for key, value in _expand(config, ref.key.split("."), []):
            out += [(name, key, ref) for name in _names(value, ref.form)]
    return out


def phenotype_names(config: Mapping) -> list[str]:
    """The phenotypes the config's phenotype table defines."""
    table = (config.get("phenotyping") or {}).get("phenotypes") or {}
    return [str(name) for name in table]


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if not close:
        lower = {k.lower(): k for k in known}
        close = [lower[name.lower()]] if name.lower() in lower else []
    return close[0] if close else ""


def check_phenotype_references(
    config: Mapping,
    config_files: Origin | list | None = None,
    tables: TableSamples | None = None,
) -> None:
    """Every phenotype a config key names is in the phenotype table, or in a cell table that
    carries phenotype names (parents excepted: the tree check reports those, with the tree).

    ``tables``: what the sheet's cell tables carry (:func:`~frontline.preflight.tables.
    table_samples`); None: a run of images only.
    """
    origin = Origin.of(config_files)
    known = phenotype_names(config)
    carried = sorted(set(tables.phenotypes) - set(known)) if tables else []
    everything = known + carried
    for name, key, ref in named(config, PHENOTYPE):
        if name in everything or name in ref.also or key.endswith(".parent"):
            continue
        close = _suggest(name, everything)
        if tables and not known and key == "front.tumor_phenotype":
            # Only tables name the phenotypes, and none has tumor cells: a field without tumor
            # (no tumor region, no front; the spatial step says so), not a misspelt name.
            log.warning(
                "%s names the phenotype '%s', which no cell table has (their phenotypes: %s%s): "
                "those samples have no tumor region and no front",
                origin.describe(key),
                name,
                carried,
                f"; did you mean '{close}'?" if close else "",
            )
            continue
        if tables:
            shown = ", ".join(tables.files[:3]) + (" ..." if len(tables.files) > 3 else "")
            problem = (
                f"{origin.describe(key)} names the phenotype '{name}', which neither the "
                f"phenotype table (`phenotyping.phenotypes`: {known}) nor the cell tables "
                f"({shown}: {carried}) have"
            )
        else:
            problem = (
                f"{origin.describe(key)} names the phenotype '{name}', which the phenotype "
                f"table (`phenotyping.phenotypes`) does not define; its phenotypes are {known}"
            )
        if close:
            problem += f" (did you mean '{close}'?)"
        what = f" ({ref.what})" if ref.what else ""
        if ref.form == "value":
            fix = origin.where_to_set(key, close or "NAME")
            fix += f", to one of the phenotypes {everything}{what}"
        else:
            source = "the tables" if tables else "the table"
            fix = f"{origin.where_to_set(key)}: list only phenotypes of {source} {everything}"
        if tables:
            fix += (
                ", or map the tables' names to yours with `cell_tables.phenotype_map` "
                "(e.g. {CD8T: CD8_T, Tumor: tumor})"
            )
        raise FrontlineInputError(problem, file=origin.file(key), fix=fix)


def check_markers(
    config: Mapping,
    channels: list[str],
    config_files: Origin | list | None = None,
    *,
    sample: str | None = None,
    file: str | None = None,
) -> None:
    """Every marker a config key names is a channel of the image.

    Parameters
    ----------
    config : the config, defaults filled in
    channels : the image's channel names
    config_files : an :class:`Origin`, or the config files
    sample, file : the sample and its image, for the message
    """
    origin = Origin.of(config_files)
    missing = [(n, key, ref) for n, key, ref in named(config, MARKER) if n not in channels]
    if not missing:
        return
    names = sorted({n for n, _, _ in missing})
    details = "; ".join(f"'{n}' in {origin.describe(key)}" for n, key, _ in missing)
    fixes = []
    for name, key, ref in missing:
        close = _suggest(name, channels)
        if origin.is_default(key):
            what = f" ({ref.what})" if ref.what else ""
            fixes.append(f"{origin.where_to_set(key, close or 'NAME')}{what}")
        elif close:
            fixes.append(f"'{name}' -> '{close}' in {origin.file(key)}")
    fix = "; ".join(dict.fromkeys(fixes)) + "; " if fixes else ""
    fix += (
        "use the channel names exactly as the image has them (case matters), or rename the "
        "image's channels with a fluor map (config `fluor_maps`, sheet column `fluor_map`) or "
        "`channel_names`"
    )
    raise FrontlineInputError(
        f"the config asks for channel(s) {names}, which the image does not have ({details}); "
        f"its channels are {channels}",
        sample=sample,
        file=file,
        fix=fix,
    )


def check_phenotyping(phenotyping: Mapping, config_files: Origin | list | None = None) -> None:
    """The phenotype tree (parents, cycles, exclusive groups) and the manual gates.

    Marker names are checked against each image's channels (:func:`check_markers`).
    """
    from ..gating import parse_gate
    from ..phenotype import parse_phenotypes

    origin = Origin.of(config_files)
    spec = phenotyping.get("phenotypes") or {}
    markers = {n for n, _, _ in named({"phenotyping": phenotyping}, MARKER)}
    parse_phenotypes(
        spec,
        sorted(markers),
        phenotyping.get("exclusive") or (),
        file=origin.file("phenotyping.phenotypes"),
    )
    for marker, value in (phenotyping.get("gates") or {}).items():
        parse_gate(value, marker, file=origin.file(["phenotyping", "gates", marker]))


def check_exclusive_compartments(
    phenotyping: Mapping, config_files: Origin | list | None = None
) -> None:
    """``exclusive_compartments`` names only gated markers (another one settles nothing: a
    leftover of another panel, or a typo). Run after the images' channels are checked, so a
    misspelt phenotype marker is reported as such first."""
    from ..phenotype import gated_markers

    origin = Origin.of(config_files)
    gated = gated_markers(phenotyping)
    for marker in phenotyping.get("exclusive_compartments") or {}:
        if str(marker) not in gated:
            key = "phenotyping.exclusive_compartments"
            raise FrontlineInputError(
                f"{origin.describe(key)} names the marker '{marker}', which no phenotype and no "
                f"gate uses, so it settles nothing; the gated markers are {gated}",
                file=origin.file(key),
                fix=f"{origin.where_to_set(key)}: list markers of the phenotype table (a "
                "tumour marker weighed in the nucleus, e.g. {PanCK: nucleus}), or {} for none",
            )


def check_states(config: Mapping, config_files: Origin | list | None = None) -> None:
    """State names that cannot be columns next to the phenotypes' (a phenotype's name, a
    ``_positive`` suffix, a ``+``); their markers and phenotypes are checked with every
    other reference (:func:`check_markers`, :func:`check_phenotype_references`)."""
    from ..states import SEPARATOR

    origin = Origin.of(config_files)
    known = phenotype_names(config)
    for name in config.get("states") or {}:
        name = str(name)
        if name in known or name.endswith("_positive") or SEPARATOR in name:
            raise FrontlineInputError(
                f"{origin.describe(['states', name])} is named like a phenotype or a marker "
                f"column (a phenotype's name, '_positive' at its end, or '{SEPARATOR}')",
                file=origin.file(["states", name]),
                fix=f"rename the state, e.g. {name.replace(SEPARATOR, '_')}_state; "
                "phenotypes.parquet gets a column named as each state",
            )
