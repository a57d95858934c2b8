"""Helpers of the workflow tests: running Snakemake with hard timeouts, a small demo config.

Every Snakemake run here goes through :func:`snakemake`, which wraps the command in
``timeout -s KILL`` so a hung run can never stall CI. Workflow runs happen in temporary
working folders (``--directory``) that hold only a config and a sample sheet.

The code they run is a snapshot of the checkout (Snakefile, workflow/, config/, profiles/,
resources/models/), copied once per test session, with the snapshot's ``workflow/`` first on
PYTHONPATH: runs that a test compares (one core and two, local and SLURM) then run the same
code even when files of the checkout change while the session runs. Set
``FRONTLINE_TEST_LIVE_CODE=1`` to run the checkout itself.

The demo (the ``demo_input`` fixture in conftest.py) is one simulated 1024 x 1024 px sample,
made once per test session by the workflow's own ``simulate`` rule and then used as a
read-only input by every test that needs an image.
"""

import atexit
import copy
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT_PARTS = (
    "Snakefile",
    "workflow",
    "config",
    "profiles",
    "envs",
    "constraints.txt",
    "resources/models",
)

# The demo: small enough for 2 cores, big enough to have a tumour, a front and every cell type.
DEMO_SAMPLE = "demo"
DEMO_SHAPE_PX = [1024, 1024]
DEMO_PRESET = "inflamed"
DEMO_SEED = 7

_snapshot = None


def code_root():
    """The folder whose Snakefile and library the tests run (see the module docstring)."""
    global _snapshot
    if os.environ.get("FRONTLINE_TEST_LIVE_CODE") == "1":
        return ROOT
    if _snapshot is None:
        folder = Path(tempfile.mkdtemp(prefix="frontline-code-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".*")
        for part in SNAPSHOT_PARTS:
            src = ROOT / part
            if src.is_dir():
                shutil.copytree(src, folder / part, ignore=ignore)
            elif src.is_file():
                (folder / part).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, folder / part)
        _snapshot = folder
    return _snapshot


def snakefile():
    return code_root() / "Snakefile"


def code_env(base=None):
    """Environment for a Snakemake run: the code's library first on PYTHONPATH, quiet TF."""
    env = dict(os.environ if base is None else base)
    library = str(code_root() / "workflow")
    env["PYTHONPATH"] = os.pathsep.join([library] + [p for p in [env.get("PYTHONPATH")] if p])
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def snakemake(workdir, *args, timeout_s=600, env=None, check=False, cores=1):
    """Run Snakemake on the code snapshot's Snakefile in ``workdir``, killed after ``timeout_s``.

    Parameters
    ----------
    workdir : Path
        Working folder (config/, results/, logs/ and .snakemake/ live there).
    *args : str
        More command-line arguments (targets, ``-n``, ``--config ...``).
    env : dict, optional
        Base environment (default: this process's).
    cores : int or None
        ``--cores`` value; None leaves it out (e.g. with ``--profile``).

    Returns
    -------
    CompletedProcess with ``stdout``/``stderr`` text and ``output`` (both together).
    """
    cmd = [
        "timeout",
        "-s",
        "KILL",
        str(int(timeout_s)),
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(snakefile()),
        "--directory",
        str(workdir),
    ]
    if cores is not None:
        cmd += ["--cores", str(cores)]
    cmd += [str(a) for a in args]
    proc = subprocess.run(
        cmd, cwd=workdir, env=code_env(env), capture_output=True, text=True, errors="replace"
    )
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
    return yaml.safe_load((code_root() / "config" / "config.yaml").read_text(encoding="utf-8"))


def write_sheet(path, rows, columns=("sample", "image", "pixel_size_um", "annotation", "truth")):
    """Write a tab-separated sample sheet from a list of dicts."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(columns)]
    for row in rows:
        lines.append("\t".join(str(row.get(c, "")) for c in columns))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_workdir(path, rows=None, overrides=None, sheet_text=None, columns=None):
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
    columns : sequence of str, optional
        The sheet's columns (default: those of :func:`write_sheet`).
    """
    path = Path(path)
    (path / "config").mkdir(parents=True, exist_ok=True)
    sheet = path / "config" / "samples.tsv"
    if sheet_text is not None:
        data = sheet_text.encode("utf-8") if isinstance(sheet_text, str) else sheet_text
        sheet.write_bytes(data)
    else:
        write_sheet(sheet, rows or [], **({"columns": columns} if columns else {}))
    config = demo_config(overrides or {})
    config["samples"] = "config/samples.tsv"
    (path / "config" / "config.yaml").write_text(
        yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    return path


def demo_config(overrides=None):
    """The default config made small: no simulated samples of its own, the shipped model."""
    config = deep_update(
        default_config(),
        {
            "simulate": {"shape_px": DEMO_SHAPE_PX, "samples": {}},
            "segmentation": {"model_basedir": str(code_root() / "resources" / "models")},
        },
    )
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


def json_hash(path, sample=None):
    """Hash of a JSON file's parsed content (key order and whitespace ignored).

    String values equal to ``sample`` count as the same value, so a sample's results can be
    compared with another sample's made from the same image.
    """
    import json

    def norm(value):
        if isinstance(value, dict):
            return {k: norm(v) for k, v in value.items()}
        if isinstance(value, list):
            return [norm(v) for v in value]
        return "<sample>" if sample is not None and value == sample else value

    content = norm(json.loads(Path(path).read_text(encoding="utf-8")))
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def labels_hash(path):
    """Hash of a label image's pixels (not its TIFF bytes)."""
    import tifffile

    labels = tifffile.imread(path)
    return hashlib.sha256(labels.tobytes() + repr(labels.shape).encode()).hexdigest()


def result_fingerprint(workdir, sample=DEMO_SAMPLE):
    """Content hashes of a run's key outputs: labels, cells, phenotypes, spatial tables, summary."""
    res = Path(workdir) / "results" / sample
    return {
        "nuclei.ome.tif": labels_hash(res / "nuclei.ome.tif"),
        "cells.parquet": table_hash(res / "cells.parquet"),
        "phenotypes.parquet": table_hash(res / "phenotypes.parquet"),
        "cells_spatial.parquet": table_hash(res / "cells_spatial.parquet"),
        "summary.json": json_hash(res / "summary.json", sample=sample),
    }


def readable(path):
    """Whether a result file opens and parses completely (a half-written one does not)."""
    import json

    name = Path(path).name.lower()
    try:
        if name.endswith((".tif", ".tiff")):
            import tifffile

            tifffile.imread(path)
        elif name.endswith(".parquet"):
            import pandas as pd

            pd.read_parquet(path)
        elif name.endswith(".json") or name.endswith(".geojson"):
            json.loads(Path(path).read_text(encoding="utf-8"))
        elif name.endswith(".npz"):
            import numpy as np

            with np.load(path) as data:
                [data[k] for k in data.files]
        else:
            Path(path).read_bytes()
    except Exception:
        return False
    return True


def demo_rows(demo_input, sample=DEMO_SAMPLE, image=None):
    """Sample sheet rows for the demo sample (absolute paths)."""
    return [
        {
            "sample": sample,
            "image": str(image or demo_input["image"]),
            "truth": str(demo_input["truth"]),
        }
    ]


def planned_jobs(output):
    """{rule: job count} from the first 'Job stats' table of a (dry-)run's output; {} if none."""
    lines = output.splitlines()
    try:
        start = lines.index("Job stats:")
    except ValueError:
        return {}
    jobs = {}
    for line in lines[start + 3 :]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        if parts[0] != "total":
            jobs[parts[0]] = int(parts[1])
    return jobs


def triggered_by(output, reason="params have changed since last execution"):
    """Rules that Snakemake's 'Reasons' summary lists under ``reason`` (e.g. changed params)."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == reason + ":" and i + 1 < len(lines):
            return {r.strip() for r in lines[i + 1].split(",") if r.strip()}
    return set()


def rule_graph(workdir, *args, timeout_s=120):
    """{rule: set of rules it takes input from}, from ``snakemake --rulegraph``."""
    import re

    proc = snakemake(workdir, "--rulegraph", *args, timeout_s=timeout_s, check=True)
    names, edges = {}, {}
    for m in re.finditer(r'^\s*(\d+)\[label = "([^"]+)"', proc.stdout, re.M):
        names[m.group(1)] = m.group(2)
    for name in names.values():
        edges.setdefault(name, set())
    for m in re.finditer(r"^\s*(\d+) -> (\d+)", proc.stdout, re.M):
        edges[names[m.group(2)]].add(names[m.group(1)])
    return edges


def downstream(graph, rules):
    """The rules that (transitively) consume the outputs of ``rules``, and ``rules`` themselves."""
    found = set(rules)
    changed = True
    while changed:
        changed = False
        for rule, sources in graph.items():
            if rule not in found and sources & found:
                found.add(rule)
                changed = True
    return found


# The demo runs shared by the determinism, rerun, interruption, odd-input and SLURM tests.
# Segmentation is split into 512 px job tiles, as a cluster runs a big slide.
DEMO_OVERRIDES = {"segmentation": {"tile_jobs": True, "job_tile_px": 512, "job_halo_px": 128}}
# The demo image again under an odd but valid name, path and extension: non-ASCII sample name,
# spaces in the path, upper-case .OME.TIF. It must give the demo's results.
ODD_SAMPLE = "échantillon_1"
ODD_IMAGE = Path("images with spaces") / "Échantillon 1.OME.TIF"


def odd_rows(demo_input, workdir):
    """Sheet rows for the odd twin; copies the demo image to ``workdir/ODD_IMAGE``."""
    odd = Path(workdir) / ODD_IMAGE
    odd.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(demo_input["image"], odd)
    return demo_rows(demo_input, sample=ODD_SAMPLE, image=ODD_IMAGE)


def run_demo(workdir, rows, cores, timeout_s=900):
    """Set up ``workdir`` with the demo config and run the whole workflow; returns seconds."""
    make_workdir(workdir, rows=rows, overrides=DEMO_OVERRIDES)
    t0 = time.monotonic()
    snakemake(workdir, cores=cores, timeout_s=timeout_s, check=True)
    return time.monotonic() - t0
