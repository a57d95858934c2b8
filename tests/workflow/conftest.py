"""Fixtures of the workflow tests (helpers live in runs.py): the demo input, work folders."""

import pytest

from runs import DEMO_PRESET, DEMO_SAMPLE, DEMO_SEED, make_workdir, snakemake, write_sheet


@pytest.fixture(scope="session")
def demo_input(tmp_path_factory):
    """One simulated 1024 x 1024 px sample, made once: {'image', 'truth', 'dir'} (read-only use)."""
    work = tmp_path_factory.mktemp("demo_input")
    make_workdir(work, rows=[], overrides={
        "simulate": {"outdir": "simulated",
                     "samples": {DEMO_SAMPLE: {"preset": DEMO_PRESET, "seed": DEMO_SEED}}}})
    # The sheet must name a sample; the simulated image is made by the `simulate` rule.
    write_sheet(work / "config" / "samples.tsv",
                [{"sample": DEMO_SAMPLE, "image": f"simulated/{DEMO_SAMPLE}.ome.tif",
                  "truth": f"simulated/{DEMO_SAMPLE}"}])
    target = f"simulated/{DEMO_SAMPLE}.ome.tif"
    snakemake(work, target, timeout_s=300, check=True)
    image = work / target
    return {"dir": work, "image": image, "truth": work / "simulated" / DEMO_SAMPLE}


@pytest.fixture()
def workdir(tmp_path):
    """An empty working folder for one test."""
    return tmp_path / "work"
