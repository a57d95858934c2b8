"""Where a config value came from: a config file, ``--config``, or the schema's default.

A run's config is either the demo's ``config/config.yaml`` (no ``--configfile`` given) or the
user's own file(s), with ``--config`` values on top; every key none of them sets takes the
schema's default. A message about a setting names that source, and its fix says where to
change it: the file that sets the key, or the user's file when the value is a default.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

Key = str | Sequence[Any]  # "front.tumor_phenotype" or ["front", "tumor_phenotype"]


def key_name(key: Key) -> str:
    """A key path as written in messages: ``spatial.call.phenotype``."""
    if isinstance(key, str):
        return key
    return ".".join(str(p) for p in key) if key else "(top level)"


def _parts(key: Key) -> list:
    return key.split(".") if isinstance(key, str) else list(key)


def _shown(path: str | os.PathLike) -> str:
    """A config file as the user knows it: relative to the working folder when inside it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _get(node: Any, parts: Sequence[Any]) -> tuple[bool, Any]:
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return False, None
    return True, node


def flow(key: Key, value: str) -> str:
    """``a.b.c`` and a value as a YAML line to paste: ``a: {b: {c: value}}``."""
    parts = [str(p) for p in _parts(key)]
    text = f"{parts[-1]}: {value}"
    for part in reversed(parts[:-1]):
        text = f"{part}: {{{text}}}"
    return text


class Origin:
    """The sources of a run's config, in the order they apply (later ones win).

    Parameters
    ----------
    files : the config files Snakemake read (``workflow.configfiles``): the demo's
        ``config/config.yaml``, or the ``--configfile`` files
    command_line : the ``--config`` values (``workflow.config_settings.config``)
    """

    def __init__(
        self, files: Iterable[str | os.PathLike] | None = None, command_line: Mapping | None = None
    ) -> None:
        self.files = [_shown(f) for f in files or []]
        self._layers = []
        for name, path in zip(self.files, files or []):
            try:
                content = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, yaml.YAMLError):
                content = None
            self._layers.append((name, content if isinstance(content, dict) else {}))
        if command_line:
            self._layers.append(("--config", dict(command_line)))

    @classmethod
    def of(cls, files: Origin | Iterable[str | os.PathLike] | None) -> Origin:
        """``files`` as an Origin (a list of config files, or an Origin as it is)."""
        return files if isinstance(files, Origin) else cls(files)

    @property
    def config_files(self) -> str:
        """The config files, for a message about the config as a whole."""
        return " + ".join(self.files) if self.files else "the config"

    def source(self, key: Key) -> str | None:
        """The last source that sets ``key`` (a file name or ``--config``); None: the default.

        Without any source (a library call that names no config file) every key is said to
        come from "the config".
        """
        if not self._layers:
            return "the config"
        found = None
        for name, content in self._layers:
            if _get(content, _parts(key))[0]:
                found = name
        return found

    def is_default(self, key: Key) -> bool:
        """Whether no config file and no ``--config`` sets ``key``."""
        return self.source(key) is None

    def file(self, key: Key) -> str:
        """The file a message about ``key`` names: the one that sets it, else the config files
        (where the user would add it)."""
        source = self.source(key)
        return source if source not in (None, "--config", "the config") else self.config_files

    def describe(self, key: Key) -> str:
        """``key`` with its source: ```front.tumor_phenotype` (my.yaml)``, or with
        ``the schema default: my.yaml does not set it``."""
        source = self.source(key)
        if source is None:
            return f"`{key_name(key)}` (the schema default: {self.config_files} does not set it)"
        return f"`{key_name(key)}` ({source})"

    def where_to_set(self, key: Key, value: str = "...") -> str:
        """How to change ``key``: in the file or on the command line that sets it, or as a
        line to add to the user's file."""
        source = self.source(key)
        if source == "--config":
            return f"change `{key_name(key)}` in the --config option"
        if source is None:
            return f"add `{flow(key, value)}` to {self.config_files}"
        return f"change `{key_name(key)}` in {source}"
