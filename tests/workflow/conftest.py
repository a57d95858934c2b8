"""Fixtures of the workflow tests (helpers live in runs.py): the demo input, work folders."""

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from runs import (
    DEMO_OVERRIDES,
    DEMO_PRESET,
    DEMO_SAMPLE,
    DEMO_SEED,
    ODD_SAMPLE,
    code_env,
    demo_rows,
    make_workdir,
    odd_rows,
    readable,
    run_demo,
    snakefile,
    snakemake,
    tree_hashes,
    write_sheet,
)


@contextlib.contextmanager
def once_per_session(tmp_path_factory, name):
    """A record of something the session makes once: ``(path, record)``, where ``record`` is
    the dict stored by the first worker that made it, or None for the caller to make it (then
    ``path.write_text(json.dumps(record))``). The xdist workers of one session share it (under
    their common temporary folder, one worker at a time), so a fixture several test files use
    is not made again on each worker."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    path = root / f"{name}.json"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield path, json.loads(path.read_text()) if path.is_file() else None


@pytest.fixture(scope="session")
def demo_input(tmp_path_factory):
    """One simulated 1024 x 1024 px sample, made once: {'image', 'truth', 'dir'} (read-only use)."""
    with once_per_session(tmp_path_factory, "demo_input") as (record_path, record):
        if record is None:
            record = {k: str(v) for k, v in _make_demo_input(tmp_path_factory).items()}
            record_path.write_text(json.dumps(record))
    return {k: Path(v) for k, v in record.items()}


def _make_demo_input(tmp_path_factory):
    work = tmp_path_factory.mktemp("demo_input")
    make_workdir(
        work,
        rows=[],
        overrides={
            "simulate": {
                "outdir": "simulated",
                "samples": {DEMO_SAMPLE: {"preset": DEMO_PRESET, "seed": DEMO_SEED}},
            }
        },
    )
    # The sheet must name a sample; the simulated image is made by the `simulate` rule.
    write_sheet(
        work / "config" / "samples.tsv",
        [
            {
                "sample": DEMO_SAMPLE,
                "image": f"simulated/{DEMO_SAMPLE}.ome.tif",
                "truth": f"simulated/{DEMO_SAMPLE}",
            }
        ],
    )
    target = f"simulated/{DEMO_SAMPLE}.ome.tif"
    snakemake(work, target, timeout_s=300, check=True)
    image = work / target
    return {"dir": work, "image": image, "truth": work / "simulated" / DEMO_SAMPLE}


@pytest.fixture()
def workdir(tmp_path):
    """An empty working folder for one test."""
    return tmp_path / "work"


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory, demo_input):
    """The demo, run whole with ``--cores 2``: {'dir', 'seconds'} (do not modify its folder)."""
    with once_per_session(tmp_path_factory, "demo_run") as (record_path, record):
        if record is None:
            work = tmp_path_factory.mktemp("demo_run_cores2")
            seconds = run_demo(work, demo_rows(demo_input), cores=2)
            print(f"\ndemo run (--cores 2): {seconds:.0f} s")
            record = {"dir": str(work), "seconds": seconds}
            record_path.write_text(json.dumps(record))
    return {"dir": Path(record["dir"]), "seconds": record["seconds"]}


@pytest.fixture(scope="session")
def resumed_run(tmp_path_factory, demo_input):
    """The demo's odd twin run with ``--cores 1``, SIGKILLed during segmentation, resumed.

    One run serves three tests (it is the slowest thing in the suite): the interruption test,
    the determinism test (a --cores 1 run against the --cores 2 ``demo_run``) and the odd-input
    test (non-ASCII name, spaces, upper-case extension). Returns what those tests check:
    {'dir', 'inputs_before', 'inputs_after', 'killed_files', 'broken_at_kill',
    'segmented_at_kill', 'returncode_at_kill', 'first_log', 'seconds'}.
    """
    work = tmp_path_factory.mktemp("resumed_run_cores1")
    make_workdir(work, rows=odd_rows(demo_input, work), overrides=DEMO_OVERRIDES)
    inputs = [demo_input["dir"] / "simulated", work / "images with spaces", work / "config"]
    inputs_before = {str(p): tree_hashes(p) for p in inputs}
    nuclei = work / "results" / ODD_SAMPLE / "nuclei.ome.tif"
    tiles = work / "results" / ODD_SAMPLE / "tiles"

    cmd = [
        "timeout",
        "-s",
        "KILL",
        "600",
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(snakefile()),
        "--directory",
        str(work),
        "--cores",
        "1",
    ]
    first_log = work.parent / f"{work.name}.first_run.log"
    t0 = time.monotonic()
    with open(first_log, "wb") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=work,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=code_env(),
        )
        try:
            deadline = time.monotonic() + 500
            # Wait for the first finished job tile: the next tile job is then running.
            while not (tiles.is_dir() and any(tiles.glob("r*c*.npz"))):
                if proc.poll() is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            time.sleep(2.0)  # well into the next tile job
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)  # snakemake and its running job
            proc.wait(timeout=60)
    killed_files = sorted(
        str(p.relative_to(work)) for p in (work / "results").rglob("*") if p.is_file()
    )
    segmented_at_kill = nuclei.exists()
    broken_at_kill = [
        f for f in killed_files if not Path(f).name.startswith(".") and not readable(work / f)
    ]

    snakemake(work, "--unlock", timeout_s=120, check=True)
    snakemake(work, "--rerun-incomplete", cores=1, timeout_s=900, check=True)
    seconds = time.monotonic() - t0
    print(f"\ninterrupted and resumed run (--cores 1): {seconds:.0f} s")
    return {
        "dir": work,
        "inputs_before": inputs_before,
        "inputs_after": {str(p): tree_hashes(p) for p in inputs},
        "killed_files": killed_files,
        "segmented_at_kill": segmented_at_kill,
        "broken_at_kill": broken_at_kill,
        "returncode_at_kill": proc.returncode,
        "first_log": first_log,
        "seconds": seconds,
    }
