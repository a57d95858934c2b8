"""The config schema as the one source of every default.

``workflow/schemas/config.schema.yaml`` describes every key with its default. The workflow
fills a run's config from it when it starts (Snakemake's ``validate``); library functions that
take a config section read its keys directly (``section["key"]``) and never restate a default.
Python callers (tests, notebooks, benchmarks) get the same defaults from here::

    from frontline import config
    front_settings = config.section("front")                     # every key, schema defaults
    spatial_settings = config.section("spatial", envelope="none")  # with overrides
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import yaml

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"


@cache
def schema() -> dict:
    """The config schema (parsed YAML)."""
    return yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))


def _defaulting_validator():
    import jsonschema

    base = jsonschema.validators.validator_for(schema())
    validate_properties = base.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, subschema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub:
                    instance.setdefault(key, copy.deepcopy(sub["default"]))
        yield from validate_properties(validator, properties, instance, subschema)

    return jsonschema.validators.extend(base, {"properties": set_defaults})


def fill_defaults(config: dict) -> dict:
    """A deep copy of ``config`` with every absent key set to its schema default.

    Nested sections are filled too (every section has ``default: {}``), as Snakemake's
    ``validate`` fills them. The config is not checked here (``frontline.preflight`` does).
    """
    filled = copy.deepcopy(config)
    for _ in _defaulting_validator()(schema()).iter_errors(filled):
        pass  # filling happens while validating; problems are preflight's to report
    return filled


def defaults() -> dict:
    """The whole default config (the keys the schema gives a default)."""
    return fill_defaults({})


def section(name: str, **overrides: Any) -> dict:
    """One section of the default config (e.g. ``"front"``), keys in ``overrides`` replaced.

    Parameters
    ----------
    name : a top-level key of the schema
    overrides : keys of that section to set (each replaces the default as a whole)

    Returns
    -------
    dict, a fresh copy
    """
    values = defaults().get(name)
    if not isinstance(values, dict):
        raise KeyError(f"the config schema has no section '{name}' with defaults")
    unknown = sorted(set(overrides) - set(schema()["properties"][name].get("properties", {})))
    if unknown:
        raise KeyError(f"config section '{name}' has no key(s) {unknown}")
    values.update(copy.deepcopy(overrides))
    return values
