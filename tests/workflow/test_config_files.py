"""Which config a run reads (dry runs): the demo's config/config.yaml when no --configfile is
given; the user's file as the whole config when one is (every key it leaves out takes the
schema's default, never the demo's); --config on top of either."""

import re
import shutil

import numpy as np
import pytest
from runs import code_root, planned_jobs, snakemake

pytestmark = pytest.mark.timeout(300)

PANEL = """\
samples: my/samples.tsv
segmentation: {nuclear_channel: DAPI}
phenotyping:
  exclusive: [[tumor, CD8_T]]
  phenotypes:
    tumor: {positive: [CK_EPCAM]}
    CD8_T: {positive: [CD8a]}
spatial:
  immune_types: [CD8_T]
  call: {phenotype: CD8_T}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The repository's config/ (the demo's config and sheet) plus a three-channel panel."""
    from frontline import io

    work = tmp_path_factory.mktemp("config_files") / "project"
    shutil.copytree(code_root() / "config", work / "config")
    (work / "my").mkdir()
    planes = np.random.default_rng(0).integers(0, 1000, (3, 256, 256), dtype=np.uint16)
    io.write_image(work / "my" / "field.ome.tif", planes, ["DAPI", "CK_EPCAM", "CD8a"], 0.5)
    (work / "my" / "config.yaml").write_text(PANEL, encoding="utf-8")
    for name, sample in (("samples.tsv", "mine"), ("other.tsv", "other")):
        (work / "my" / name).write_text(f"sample\timage\n{sample}\tmy/field.ome.tif\n", "utf-8")
    return work


def _gating_plots(output):
    return sorted(set(re.findall(r"plots/gating/([^,\s]+)\.png", output)))


def test_without_configfile_the_demo_config_runs(project):
    proc = snakemake(project, "-n", timeout_s=240, check=True)
    jobs = planned_jobs(proc.output)
    assert jobs.get("simulate") == 3 and jobs.get("phenotype") == 3, jobs
    assert "PanCK" in _gating_plots(proc.output)


def test_a_configfile_is_the_whole_config(project):
    proc = snakemake(project, "-n", "--configfile", "my/config.yaml", timeout_s=240, check=True)
    jobs = planned_jobs(proc.output)
    assert "simulate" not in jobs and jobs.get("phenotype") == 1, jobs  # no demo sample
    assert "wildcards: sample=mine" in proc.output
    assert _gating_plots(proc.output) == ["CD8a", "CK_EPCAM"]  # no demo marker leaks in
    # (the demo's exclusive_compartments, PanCK: nucleus, would have stopped the run had it
    # leaked in: PanCK is gated by no phenotype of this panel)


def test_config_on_the_command_line_applies_on_top_of_the_file(project):
    proc = snakemake(
        project,
        "-n",
        "--configfile",
        "my/config.yaml",
        "--config",
        "samples=my/other.tsv",
        timeout_s=240,
        check=True,
    )
    assert "wildcards: sample=other" in proc.output and "sample=mine" not in proc.output
    assert _gating_plots(proc.output) == ["CD8a", "CK_EPCAM"]


def test_a_setting_the_file_leaves_out_is_the_schema_default_and_said_so(project):
    """The file sets no tumor phenotype: the default `tumor` is in its table, so it runs; with
    the tumour phenotype renamed, the startup message names the default and where to set it."""
    text = PANEL.replace("tumor", "carcinoma")
    (project / "my" / "renamed.yaml").write_text(text, encoding="utf-8")
    proc = snakemake(project, "-n", "--configfile", "my/renamed.yaml", timeout_s=240)
    assert proc.returncode != 0
    message = " ".join(proc.output.split())
    assert (
        "file 'my/renamed.yaml': `front.tumor_phenotype` (the schema default: my/renamed.yaml "
        "does not set it) names the phenotype 'tumor'" in message
    ), proc.output[-2000:]
    assert (
        "Fix: add `front: {tumor_phenotype: NAME}` to my/renamed.yaml, to one of the phenotypes "
        "['carcinoma', 'CD8_T'] (the phenotype of your tumour cells)" in message
    ), proc.output[-2000:]
