"""A new config reruns what the change affects and nothing else (Snakemake's params trigger).

Each case copies the finished demo run, changes one config value and asks Snakemake for a
dry run: its job table says which rules would run, its "Reasons" summary which rules saw
their params change.
"""

import shutil

import pytest
import yaml
from runs import downstream, planned_jobs, rule_graph, snakemake, triggered_by

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

# Snakemake's rerun triggers except `code`: these tests are about config changes, and must not
# fail because a script was edited while the test session ran.
TRIGGERS = ["--rerun-triggers", "mtime", "params", "input", "software-env"]


@pytest.fixture(scope="module")
def finished(demo_run, tmp_path_factory):
    """A copy of the finished demo run (timestamps kept) and its rule graph."""
    work = tmp_path_factory.mktemp("rerun") / "work"
    shutil.copytree(demo_run["dir"], work, symlinks=True)
    proc = snakemake(work, "-n", *TRIGGERS, timeout_s=120, check=True)
    assert planned_jobs(proc.output) == {}, (
        "the copied run is not up to date:\n" + proc.output[-3000:]
    )
    return {"dir": work, "graph": rule_graph(work)}


def _dry_run_with(finished, section, key, value):
    path = finished["dir"] / "config" / "config.yaml"
    original = path.read_text(encoding="utf-8")
    config = yaml.safe_load(original)
    config[section][key] = value
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    try:
        proc = snakemake(finished["dir"], "-n", *TRIGGERS, timeout_s=120, check=True)
    finally:
        path.write_text(original, encoding="utf-8")
    jobs = planned_jobs(proc.output)
    print(f"\n{section}.{key} = {value!r}: would run {sorted(jobs)}")
    return jobs, triggered_by(proc.output), proc.output


def _segmentation_rules(graph):
    return {r for r in graph if r.startswith("segment")} | {"merge_tiles", "measure", "simulate"}


def test_new_gate_reruns_phenotyping_and_what_follows(finished):
    jobs, changed, out = _dry_run_with(finished, "phenotyping", "gates", {"CD8": 0.3})
    assert "phenotype" in changed, out[-3000:]
    assert not set(jobs) & _segmentation_rules(finished["graph"]), jobs
    assert set(jobs) == downstream(finished["graph"], changed), jobs


def test_new_margin_reruns_only_spatial_and_report_steps(finished):
    jobs, changed, out = _dry_run_with(finished, "spatial", "margin_um", 150.0)
    assert "spatial" in changed, out[-3000:]
    upstream = _segmentation_rules(finished["graph"]) | {"phenotype", "front"}
    assert not set(jobs) & upstream, jobs
    assert set(jobs) == downstream(finished["graph"], changed), jobs


def test_new_model_reruns_segmentation_and_everything_after(finished):
    jobs, changed, out = _dry_run_with(finished, "segmentation", "model", "2D_versatile_fluo")
    segment_rules = {r for r in finished["graph"] if r.startswith("segment")}
    assert changed & segment_rules, out[-3000:]
    assert "simulate" not in jobs
    for rule in ("measure", "phenotype", "front", "spatial"):
        assert rule in jobs, (rule, jobs)
    assert set(jobs) == downstream(finished["graph"], changed), jobs
