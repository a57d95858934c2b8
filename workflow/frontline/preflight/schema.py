"""The config against its JSON schema, and the keys a run needs that have no default.

The schema (``workflow/schemas/config.schema.yaml``) gives every key its type, bounds and
default. Keys that would name a panel's markers or phenotypes have no default (a default could
name what the user's panel lacks): :data:`REQUIRED` lists them, and a config without one stops
the run with an example to paste.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ..errors import FrontlineInputError
from .origin import Origin, flow, key_name

README = "config/README.md lists every key with its unit and default"

# Keys without a default that every run needs: (key, what it is, an example value). The
# examples use the phenotypes of the config where it has them (see :func:`check_required`).
REQUIRED = (
    (
        "phenotyping.phenotypes",
        "the phenotype table: name -> {parent, positive: [markers], negative: [markers]}",
        "{tumor: {positive: [PanCK]}, CD8_T: {positive: [CD8]}}",
    ),
    (
        "phenotyping.exclusive",
        "groups of lineages a cell cannot belong to together ([] for none)",
        "[[tumor, CD8_T]]",
    ),
    ("spatial.immune_types", "the phenotypes analysed one by one", "[CD8_T]"),
    (
        "spatial.call.phenotype",
        "the phenotype whose densities decide the immune phenotype call",
        "CD8_T",
    ),
)


def _unknown_key(error: Any, origin: Origin) -> FrontlineInputError:
    """The message for a key the schema does not know (``additionalProperties: false``)."""
    allowed = sorted((error.schema.get("properties") or {}).keys())
    unknown = sorted(str(k) for k in error.instance if k not in allowed)
    parent = list(error.absolute_path)
    path = parent + [unknown[0]]
    where = f"`{key_name(parent)}`" if parent else "the top level"
    close = difflib.get_close_matches(unknown[0], allowed, n=1)
    problem = f"config key `{key_name(path)}` is not a key of {where}"
    if close:
        problem += f" (did you mean `{key_name(parent + close)}`?)"
        fix = f"rename `{key_name(path)}` to `{key_name(parent + close)}`"
    else:
        fix = f"remove `{key_name(path)}` (the keys of {where} are {allowed})"
    if len(unknown) > 1:
        problem += f" (other unknown keys there: {unknown[1:]})"
    return FrontlineInputError(problem, file=origin.file(path), fix=f"{fix}; {README}")


def check_schema(
    config: Mapping,
    schema_path: str | os.PathLike,
    config_files: Origin | list | None = None,
) -> None:
    """Validate ``config`` against the JSON schema; raise FrontlineInputError on the first problem.

    The validator is the one for the schema's own ``$schema`` draft, as Snakemake's
    ``validate`` picks it. The message names the key, its value, what the schema allows and
    the key's description; an unknown key (a typo) is named with the closest allowed key.

    Parameters
    ----------
    config : the config as read (before defaults are filled in)
    schema_path : the config schema
    config_files : an :class:`Origin`, or the config files (later ones win)
    """
    import jsonschema

    origin = Origin.of(config_files)
    schema = yaml.safe_load(Path(schema_path).read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is None:
        return
    if error.validator == "additionalProperties" and error.validator_value is False:
        raise _unknown_key(error, origin)
    key = key_name(list(error.absolute_path))
    described = error.schema.get("description")
    if described is None:
        node = schema
        for part in error.absolute_path:
            node = (node.get("properties") or {}).get(part, node.get("additionalProperties") or {})
            if not isinstance(node, dict):
                break
        described = node.get("description") if isinstance(node, dict) else None
    fix = f"set `{key}` to an allowed value"
    if described:
        fix += f" ({described})"
    raise FrontlineInputError(
        f"config key `{key}`: {error.message}",
        file=origin.file(list(error.absolute_path)),
        fix=f"{fix}; {README}",
    )


def _get(config: Mapping, key: str) -> tuple[bool, Any]:
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def check_required(config: Mapping, config_files: Origin | list | None = None) -> None:
    """Every key of :data:`REQUIRED` is set (to something other than null).

    The example in the message uses the config's own phenotypes when it has a phenotype table.
    """
    origin = Origin.of(config_files)
    found, table = _get(config, "phenotyping.phenotypes")
    names = [str(n) for n in table] if found and isinstance(table, Mapping) else []
    for key, what, example in REQUIRED:
        found, value = _get(config, key)
        if found and value is not None:
            continue
        if names and key != "phenotyping.phenotypes":
            example = _example_from(key, names, config)
        problem = f"config key `{key}` ({what}) is not set, and it has no default"
        if key != "phenotyping.phenotypes":
            problem += " (a default could name phenotypes your panel does not have)"
        fix = f"add `{flow(key, example)}` to {origin.config_files}"
        if names:
            fix += f" (your phenotypes: {names})"
        raise FrontlineInputError(
            problem,
            file=origin.file(key),
            fix=fix + "; config/examples/small_panel.yaml is a whole config to start from",
        )


def _example_from(key: str, names: list[str], config: Mapping) -> str:
    """An example value for a required key, from the config's own phenotype names."""
    table = _get(config, "phenotyping.phenotypes")[1]
    tumor = _get(config, "front.tumor_phenotype")[1] or "tumor"
    others = [n for n in names if n != tumor] or names
    if key == "phenotyping.exclusive":
        roots = [n for n in others if not (table.get(n) or {}).get("parent")]
        return f"[[{tumor}, {roots[0]}]]" if tumor in names and roots else "[]"
    if key == "spatial.immune_types":
        return "[" + ", ".join(others) + "]"
    return next((n for n in others if "CD8" in n), others[0])
