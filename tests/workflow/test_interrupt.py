"""A run killed in the middle of segmentation resumes and gives the same results.

The ``resumed_run`` fixture (conftest.py) starts the demo's odd twin with ``--cores 1``, waits
for the first finished segmentation job tile, then SIGKILLs the whole Snakemake process group
(as a crashed node or an OOM kill would) while the next tile job runs. ``snakemake --unlock``
and a rerun with ``--rerun-incomplete`` must then finish with results identical to the
uninterrupted ``demo_run``, leave the inputs untouched, and no half-written file may ever be
visible under a result's name.
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
