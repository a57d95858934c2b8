"""A run killed in the middle of segmentation resumes and gives the same results.

The ``resumed_run`` fixture (conftest.py) starts the demo's odd twin with ``--cores 1``, waits
for the first finished segmentation job tile, then SIGKILLs the whole Snakemake process group
(as a crashed node or an OOM kill would) while the next tile job runs. ``snakemake --unlock``
and a rerun with ``--rerun-incomplete`` must then finish with results identical to the
uninterrupted ``demo_run``, leave the inputs untouched, and no half-written file may ever be
visible under a result's name.

The same two runs also show that one core or two give identical tables, and that odd but
valid inputs (a non-ASCII sample name, spaces in the path, an upper-case .OME.TIF) give the
demo's results. They live in this one file so that the two runs are made once per test
worker (pytest-xdist gives each worker whole files). Hashes are of table contents (columns,
dtypes, values) and of label pixels, not of file bytes, so metadata such as creation times in
Parquet or TIFF headers can neither hide nor fake a difference.
"""

import signal

import pytest
from runs import DEMO_SAMPLE, ODD_SAMPLE, result_fingerprint

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def test_killed_during_segmentation(resumed_run):
    log = resumed_run["first_log"].read_text(errors="replace")
    assert resumed_run["returncode_at_kill"] in (-signal.SIGKILL, 137), log[-3000:]
    assert not resumed_run["segmented_at_kill"], "killed too late: segmentation had finished"
    assert any(f.endswith(".npz") for f in resumed_run["killed_files"]), resumed_run["killed_files"]


def test_nothing_half_written_is_visible_after_the_kill(resumed_run):
    assert resumed_run["broken_at_kill"] == []


def test_resumed_run_gives_the_uninterrupted_results(resumed_run, demo_run):
    resumed = result_fingerprint(resumed_run["dir"], ODD_SAMPLE)
    assert resumed == result_fingerprint(demo_run["dir"], DEMO_SAMPLE)
    leftovers = [
        p for p in (resumed_run["dir"] / "results").rglob("*") if p.name.endswith(".partial")
    ]
    assert leftovers == []


def test_inputs_are_never_modified(resumed_run):
    assert resumed_run["inputs_after"] == resumed_run["inputs_before"]


def test_one_core_and_two_cores_give_identical_results(demo_run, resumed_run):
    print(
        f"\n--cores 2: {demo_run['seconds']:.0f} s; --cores 1 (with a restart): "
        f"{resumed_run['seconds']:.0f} s"
    )
    two = result_fingerprint(demo_run["dir"], DEMO_SAMPLE)
    one = result_fingerprint(resumed_run["dir"], ODD_SAMPLE)
    for name in two:
        assert one[name] == two[name], name


def test_odd_but_valid_inputs_work(resumed_run, demo_run):
    """Non-ASCII sample name, spaces in the path, upper-case .OME.TIF: the demo's results."""
    odd = resumed_run["dir"] / "results" / ODD_SAMPLE
    assert (odd / "summary.json").is_file() and (odd / "cells.parquet").is_file()
    assert result_fingerprint(resumed_run["dir"], ODD_SAMPLE) == result_fingerprint(
        demo_run["dir"], DEMO_SAMPLE
    )
