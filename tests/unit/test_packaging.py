"""The pinned install: pyproject.toml, envs/frontline.yaml and constraints.txt pin the same
versions, and the package version is stated in one place."""

import re
import tomllib
from pathlib import Path

import yaml

import frontline

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _pins(requirements):
    """{canonical name: version} of ``name==version`` lines (PEP 503 names)."""
    pins = {}
    for line in requirements:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^\s;#]+).*", line)
        if match:
            pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(3)
    return pins


def test_conda_environment_pins_the_package_dependencies():
    env = yaml.safe_load((ROOT / "envs" / "frontline.yaml").read_text(encoding="utf-8"))
    (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    assert _pins(pip) == _pins(PYPROJECT["project"]["dependencies"])


def test_every_pin_is_the_constraints_version():
    constraints = _pins((ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines())
    pinned = _pins(PYPROJECT["project"]["dependencies"])
    pinned |= _pins(PYPROJECT["project"]["optional-dependencies"]["test"])
    assert len(pinned) > 20
    assert {n: v for n, v in pinned.items() if constraints.get(n) != v} == {}


def test_the_version_is_stated_once():
    assert "version" not in PYPROJECT["project"]
    assert PYPROJECT["project"]["dynamic"] == ["version"]
    attr = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "frontline.__version__"
    assert re.fullmatch(r"\d+\.\d+\.\d+", frontline.__version__)
