"""Helpers of the workflow tests: running Snakemake with hard timeouts, a small demo config.

Every Snakemake run here goes through :func:`snakemake`, which wraps the command in
``timeout -s KILL`` so a hung run can never stall CI. Workflow runs happen in temporary
working folders (``--directory``) that hold only a config and a sample sheet; the
Snakefile, scripts and shipped model are used from the checkout.

The demo (the ``demo_input`` fixture in conftest.py) is one simulated 1024 x 1024 px sample, made once per test
session by the workflow's own ``simulate`` rule and then used as a read-only input by every
test that needs an image.
"""

import copy
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SNAKEFILE = ROOT / "Snakefile"
DEFAULT_CONFIG = ROOT / "config" / "config.yaml"

# The demo: small enough for 2 cores, big enough to have a tumour, a front and every cell type.
DEMO_SAMPLE = "demo"
DEMO_SHAPE_PX = [1024, 1024]
DEMO_PRESET = "inflamed"
DEMO_SEED = 7


def snakemake(workdir, *args, timeout_s=600, env=None, check=False, cores=1):
    """Run Snakemake on the checkout's Snakefile in ``workdir``, killed after ``timeout_s``.

    Parameters
    ----------
    workdir : Path
        Working folder (config/, results/, logs/ and .snakemake/ live there).
    *args : str
        More command-line arguments (targets, ``-n``, ``--config ...``).
    cores : int or None
        ``--cores`` value; None leaves it out (e.g. with ``--profile``).

    Returns
    -------
    CompletedProcess with ``stdout``/``stderr`` text and ``output`` (both together).
    """
    cmd = ["timeout", "-s", "KILL", str(int(timeout_s)), sys.executable, "-m", "snakemake",
           "--snakefile", str(SNAKEFILE), "--directory", str(workdir)]
    if cores is not None:
        cmd += ["--cores", str(cores)]
    cmd += [str(a) for a in args]
    run_env = dict(os.environ if env is None else env)
    run_env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    proc = subprocess.run(cmd, cwd=workdir, env=run_env, capture_output=True, text=True,
                          errors="replace")
    proc.output = proc.stdout + proc.stderr
    if proc.returncode in (124, 137, -9):
        raise AssertionError(f"snakemake was killed after {timeout_s} s:\n{proc.output[-4000:]}")
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.output[-6000:]}")
    return proc


def deep_update(base, overrides):
    """A copy of ``base`` with ``overrides`` merged in (dicts merge, everything else replaces)."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_update(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def default_config():
    return yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))


def write_sheet(path, rows, columns=("sample", "image", "pixel_size_um", "annotation", "truth")):
    """Write a tab-separated sample sheet from a list of dicts."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(columns)]
    for row in rows:
        lines.append("\t".join(str(row.get(c, "")) for c in columns))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_workdir(path, rows=None, overrides=None, sheet_text=None):
    """A working folder with ``config/config.yaml`` (the demo config) and a sample sheet.

    Parameters
    ----------
    path : Path
        Folder to create.
    rows : list of dict, optional
        Sample sheet rows (default: none; pass ``sheet_text`` for a hand-written sheet).
    overrides : dict, optional
        Merged into the demo config (see :func:`demo_config`).
    sheet_text : str or bytes, optional
        Exact sample sheet content, for malformed sheets.
    """
    path = Path(path)
    (path / "config").mkdir(parents=True, exist_ok=True)
    sheet = path / "config" / "samples.tsv"
    if sheet_text is not None:
        data = sheet_text.encode("utf-8") if isinstance(sheet_text, str) else sheet_text
        sheet.write_bytes(data)
    else:
        write_sheet(sheet, rows or [])
    config = demo_config(overrides or {})
    config["samples"] = "config/samples.tsv"
    (path / "config" / "config.yaml").write_text(
        yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def demo_config(overrides=None):
    """The default config made small: no simulated samples of its own, the shipped model."""
    config = deep_update(default_config(), {
        "simulate": {"shape_px": DEMO_SHAPE_PX, "samples": {}},
        "segmentation": {"model_basedir": str(ROOT / "resources" / "models")},
        "spatial": {"permutations": 9},
    })
    return deep_update(config, overrides or {})


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tree_hashes(folder):
    """{relative path: sha256} of every file under ``folder``."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def table_hash(path):
    """Hash of a Parquet table's contents (columns, dtypes, values), not of its bytes."""
    import pandas as pd

    frame = pd.read_parquet(path)
    h = hashlib.sha256()
    h.update(repr(list(zip(frame.columns, map(str, frame.dtypes)))).encode())
    h.update(pd.util.hash_pandas_object(frame, index=True).values.tobytes())
    return h.hexdigest()


def json_hash(path):
    """Hash of a JSON file's parsed content (key order and whitespace ignored)."""
    import json

    return hashlib.sha256(json.dumps(json.loads(Path(path).read_text()), sort_keys=True)
                          .encode()).hexdigest()


def labels_hash(path):
    """Hash of a label image's pixels (not its TIFF bytes)."""
    import tifffile

    labels = tifffile.imread(path)
    return hashlib.sha256(labels.tobytes() + repr(labels.shape).encode()).hexdigest()


def result_fingerprint(workdir, sample=DEMO_SAMPLE):
    """Content hashes of a run's key outputs: labels, cells, phenotypes, summary."""
    res = Path(workdir) / "results" / sample
    return {
        "nuclei.ome.tif": labels_hash(res / "nuclei.ome.tif"),
        "cells.parquet": table_hash(res / "cells.parquet"),
        "phenotypes.parquet": table_hash(res / "phenotypes.parquet"),
        "summary.json": json_hash(res / "summary.json"),
    }


def demo_rows(demo_input, sample=DEMO_SAMPLE, image=None):
    """Sample sheet rows for the demo sample (absolute paths)."""
    return [{"sample": sample, "image": str(image or demo_input["image"]),
             "truth": str(demo_input["truth"])}]
