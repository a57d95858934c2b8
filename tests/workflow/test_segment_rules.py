"""Segmentation rules: one job, or job tiles (a `{tile}` wildcard a cluster runs in parallel)
and a merge that keeps every nucleus once with consecutive ids."""

import os
import re

import numpy as np
import pytest
from runs import DEMO_SAMPLE, demo_rows, make_workdir, planned_jobs, snakemake
from stardist.matching import matching

from frontline import io

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

TARGET = f"results/{DEMO_SAMPLE}/nuclei.ome.tif"


def model_overrides():
    """The shipped model (demo config), or the one FRONTLINE_TEST_NUCLEI_MODEL names."""
    override = os.environ.get("FRONTLINE_TEST_NUCLEI_MODEL")
    return {"model": override} if override else {}


def workdir_for(path, demo_input, **segmentation):
    seg = dict(model_overrides(), **segmentation)
    return make_workdir(path, rows=demo_rows(demo_input), overrides={"segmentation": seg})


def test_tile_list_comes_from_the_image_header(tmp_path, demo_input):
    work = workdir_for(tmp_path / "dry", demo_input, tile_jobs=True, job_tile_px=384)
    jobs = planned_jobs(snakemake(work, "-n", TARGET, check=True).output)
    # 1024 px demo, 384 px job tiles: 3 x 3 jobs, one normalisation, one merge, no single job
    assert jobs == {"segment_normalisation": 1, "segment_tile": 9, "merge_tiles": 1}
    # big images are split without asking
    work = workdir_for(
        tmp_path / "auto", demo_input, tile_jobs=False, tile_jobs_min_px=1000, job_tile_px=512
    )
    assert planned_jobs(snakemake(work, "-n", TARGET, check=True).output)["segment_tile"] == 4
    work = workdir_for(tmp_path / "one", demo_input, tile_jobs=False)
    assert planned_jobs(snakemake(work, "-n", TARGET, check=True).output) == {"segment": 1}


def test_tile_jobs_give_the_single_job_labels(tmp_path, demo_input):
    one = workdir_for(tmp_path / "one", demo_input, tile_jobs=False, tile_px=512)
    snakemake(one, TARGET, check=True, cores=2)
    # 2 x 2 job tiles: seams along both axes and where four tiles meet (a tile with neighbours
    # on all four sides is merged in tests/unit/test_segment_jobs.py, on a 4 x 4 grid)
    tiled = workdir_for(
        tmp_path / "tiled",
        demo_input,
        tile_jobs=True,
        job_tile_px=512,
        job_halo_px=128,
        tile_px=512,
    )
    snakemake(tiled, TARGET, check=True, cores=2)

    single, size_single = io.read_labels(one / TARGET)
    merged, size_merged = io.read_labels(tiled / TARGET)
    assert single.shape == merged.shape == (1024, 1024)
    assert size_single == size_merged == pytest.approx(0.5)
    assert single.max() > 300
    m = matching(single, merged, thresh=0.5)
    assert m.f1 >= 0.99, m
    ids = np.unique(merged)[1:]
    assert ids[-1] == merged.max() and len(ids) >= 0.99 * merged.max()  # consecutive ids

    # progress per prediction tile in the logs; one log per job tile
    log = (one / "logs" / "segment" / f"{DEMO_SAMPLE}.log").read_text()
    assert len(re.findall(r"tile \d+/4 ", log)) == 4 and "nuclei" in log
    tile_logs = sorted((tiled / "logs" / "segment_tile" / DEMO_SAMPLE).glob("r*c*.log"))
    assert len(tile_logs) == 4
    assert (tiled / "benchmarks" / "merge_tiles" / f"{DEMO_SAMPLE}.tsv").is_file()
