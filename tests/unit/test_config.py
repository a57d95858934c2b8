"""The config schema as the one source of defaults: config/README.md documents exactly its keys,
frontline.config gives its defaults, config/config.yaml passes it, and a typo'd key in any
section is named, with the closest allowed key, by the startup check."""

import copy
import re
from pathlib import Path

import pytest
import yaml

from frontline import config, preflight
from frontline.errors import FrontlineInputError

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
README = ROOT / "config" / "README.md"
CONFIG = ROOT / "config" / "config.yaml"


def _resolve(node):
    ref = node.get("$ref")
    if ref is None:
        return node
    target = config.schema()
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return target


def _leaf_schemas(node, path=""):
    """{key path: schema} of every property below ``path``: ``a.b`` for properties, ``a.*.b``
    under a map (a schema for ``additionalProperties``), ``a[].b`` in the objects of a list."""
    node = _resolve(node)
    out = {}
    for name, sub in (node.get("properties") or {}).items():
        key = f"{path}.{name}" if path else name
        out[key] = _resolve(sub)
        out.update(_leaf_schemas(sub, key))
    if isinstance(node.get("additionalProperties"), dict):
        out.update(_leaf_schemas(node["additionalProperties"], f"{path}.*"))
    if isinstance(node.get("items"), dict):
        out.update(_leaf_schemas(node["items"], f"{path}[]"))
    return out


def schema_keys():
    """Every key path of the config schema (see :func:`_leaf_schemas`)."""
    return set(_leaf_schemas(config.schema()))


def readme_rows():
    """[(key path, default cell)] of every key table in config/README.md.

    The README has one ``## `section:` `` heading per config section, which documents the
    section's key (``## Top level`` for the top-level keys); a key table (header
    ``| key | ...``) lists in its first column the keys, each in backticks, relative to its
    section: ``call.phenotype`` for a nested key, ``samples.NAME.seed`` (a placeholder in
    capitals) for a key of every entry of a map, ``datasets[].name`` for a key of every object
    in a list. Tables with another first column (the sample sheet's columns) document no
    config keys. Cells are split at unescaped ``|``.
    """
    rows, prefix, header, in_key_table = [], None, None, False
    for number, line in enumerate(README.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("## "):
            section = re.match(r"## `(\w+):`", line)
            prefix = section.group(1) if section else ("" if line == "## Top level" else None)
            if section:
                rows.append((prefix, None))  # the heading documents the section's own key
        if not line.startswith("|"):
            header, in_key_table = None, False
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        if header is None:
            header = [c.lower() for c in cells]
            in_key_table = header[0] == "key"
            assert not in_key_table or prefix is not None, f"line {number}: keys outside a section"
            continue
        if not in_key_table or set(line) <= set("|-: "):
            continue
        names = re.findall(r"`([^`]+)`", cells[0])
        assert names, f"config/README.md line {number}: no `key` in the first column"
        default = cells[header.index("default")] if "default" in header else None
        for name in names:
            name = ".".join(
                "*" if re.fullmatch(r"[A-Z][A-Z0-9_]*", p) else p for p in name.split(".")
            )
            rows.append(
                (f"{prefix}.{name}" if prefix else name, default if len(names) == 1 else None)
            )
    return rows


def test_readme_documents_exactly_the_schema_keys():
    documented = [key for key, _ in readme_rows()]
    assert len(documented) == len(set(documented)), "a key documented twice"
    keys = schema_keys()
    nested = {"training.simulated.seed", "training.datasets[].masks", "spatial.call.phenotype"}
    assert nested | {"download.folders.*.files.*.sha256"} <= keys
    assert sorted(keys - set(documented)) == [], "schema keys config/README.md does not document"
    assert sorted(set(documented) - keys) == [], "config/README.md documents keys the schema lacks"


def test_readme_defaults_are_the_schema_defaults():
    """Where the README's default is one literal (`2048`, `null`, `[1.0, 99.8]`), it is the
    schema's default."""
    schemas = _leaf_schemas(config.schema())
    compared = 0
    for key, cell in readme_rows():
        literal = re.fullmatch(r"`([^`]*)`", cell or "")
        if literal is None:
            continue
        assert "default" in schemas[key], (
            f"config/README.md gives `{key}` a default; the schema none"
        )
        assert yaml.safe_load(literal.group(1)) == schemas[key]["default"], key
        compared += 1
    assert compared > 80


def test_defaults_are_the_schema_defaults():
    """frontline.config.defaults() has every schema default at its key, and nothing else."""
    defaults = config.defaults()
    schemas = _leaf_schemas(config.schema())
    with_default = {k: s["default"] for k, s in schemas.items() if "default" in s and "*" not in k}
    with_default = {k: v for k, v in with_default.items() if "[]" not in k}
    for key, default in with_default.items():
        node = defaults
        for part in key.split("."):
            node = node[part]
        if isinstance(default, dict) and default == {}:
            assert isinstance(node, dict), key  # filled with the keys below it
        else:
            assert node == default, key

    def filled(node, path=""):  # the key paths defaults() sets, down to the non-{} defaults
        keys = {path} if path else set()
        if isinstance(node, dict) and with_default.get(path, {}) == {}:
            keys |= {k for n, v in node.items() for k in filled(v, f"{path}.{n}".strip("."))}
        return keys

    assert filled(defaults) == set(with_default)
    assert defaults["segmentation"]["tile_px"] == 1024 and defaults["training"]["seed"] == 42
    assert defaults["download"] == {"files": {}, "folders": {}}
    assert "phenotypes" not in defaults["phenotyping"]  # names phenotypes: no default
    assert "exclusive" not in defaults["phenotyping"]


def test_default_config_validates_with_the_schemas_draft():
    import jsonschema

    # Snakemake's validate() checks with the 2020-12 validator; the startup check uses the
    # validator of the schema's own draft: they are the same.
    assert jsonschema.validators.validator_for(config.schema()) is jsonschema.Draft202012Validator
    preflight.check_schema(yaml.safe_load(CONFIG.read_text(encoding="utf-8")), SCHEMA)


# Keys config/config.yaml sets to its own values: the demo's data (sheet, simulated samples,
# training data) and marker panel. Every other key it sets has the schema's default.
DEMO_DATA = {
    "samples",
    "simulate.samples",
    "training.datasets",
    "phenotyping.compartments",
    "phenotyping.exclusive",
    "phenotyping.exclusive_compartments",
    "phenotyping.phenotypes",
    "spatial.immune_types",
    "spatial.call.phenotype",
}


def test_default_config_restates_the_schema_defaults_bar_the_demo_data():
    def differing(values, defaults, node, path=""):
        keys = set()
        for name, value in values.items():
            key = f"{path}.{name}".strip(".")
            sub = node["properties"][name]
            if isinstance(value, dict) and "properties" in sub:
                keys |= differing(value, defaults[name], sub, key)
            elif defaults.get(name, "<no default>") != value:
                keys.add(key)
        return keys

    values = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    assert differing(values, config.defaults(), config.schema()) == DEMO_DATA


def test_every_object_of_the_schema_is_closed():
    """A key the schema does not name is an error everywhere (a typo is never ignored)."""
    open_objects = []

    def walk(node, path):
        node = _resolve(node)
        types = node.get("type") if isinstance(node.get("type"), list) else [node.get("type")]
        if "object" in types and "additionalProperties" not in node:
            open_objects.append(path or "(top level)")
        for name, sub in (node.get("properties") or {}).items():
            walk(sub, f"{path}.{name}".strip("."))
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{path}.*")
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}[]")

    walk(config.schema(), "")
    assert open_objects == []


# (path of the typo'd key, the key it should be); one per section and nested object
TYPOS = [
    (["smaples"], "samples"),
    (["simulate", "shape"], "simulate.shape_px"),
    (["simulate", "samples", "demo_inflamed", "sed"], "simulate.samples.demo_inflamed.seed"),
    (["segmentation", "tile_pxx"], "segmentation.tile_px"),
    (["training", "epoch"], "training.epochs"),
    (["training", "simulated", "n_sample"], "training.simulated.n_samples"),
    (["training", "datasets", 0, "mask"], "training.datasets.0.masks"),
    (["measure", "cell_expansion"], "measure.cell_expansion_um"),
    (["phenotyping", "exclusive_margn"], "phenotyping.exclusive_margin"),
    (["phenotyping", "phenotypes", "tumor", "postive"], "phenotyping.phenotypes.tumor.positive"),
    (["front", "closing"], "front.closing_um"),
    (["spatial", "margin"], "spatial.margin_um"),
    (["spatial", "call", "phenotpye"], "spatial.call.phenotype"),
    (["evaluation", "match_radius"], "evaluation.match_radius_um"),
    (["report", "dpii"], "report.dpi"),
    (["download", "file"], "download.files"),
]


@pytest.mark.parametrize("path, meant", TYPOS, ids=[".".join(map(str, p)) for p, _ in TYPOS])
def test_a_typo_is_named_with_the_key_meant(path, meant, tmp_path):
    cfg = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    node = cfg
    for part in path[:-1]:
        node = node[part] if isinstance(node, list) else node.setdefault(part, {})
    node[path[-1]] = copy.deepcopy(node.get(meant.split(".")[-1], 1))
    mine = tmp_path / "my.yaml"
    mine.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    with pytest.raises(FrontlineInputError) as err:
        preflight.check_schema(cfg, SCHEMA, [str(mine), str(CONFIG)])
    typo = ".".join(map(str, path))
    text = err.value.message()
    assert f"config key `{typo}` is not a key of" in text, text
    assert f"(did you mean `{meant}`?)" in text, text
    assert f"file '{mine}'" in text, text  # only the file that holds the typo
    assert f"Fix: rename `{typo}` to `{meant}`" in text, text


def test_an_unknown_key_without_a_close_match_lists_the_allowed_keys():
    cfg = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    cfg["report"]["zzz"] = 1
    with pytest.raises(FrontlineInputError) as err:
        preflight.check_schema(cfg, SCHEMA)
    text = err.value.message()
    assert "config key `report.zzz` is not a key of `report`." in text
    assert "Fix: remove `report.zzz` (the keys of `report` are ['dpi', " in text
