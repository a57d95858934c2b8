"""The public-dataset example (config/examples/risom2022_mibi_dcis.yaml): it plans the whole
workflow from the download on, and its checksums verify the files it names.

No test may reach the internet, so the download is checked against an HTTP server on
127.0.0.1 serving the same fields from the public data folder beside the checkout (skipped,
with the reason, when that folder is absent).
"""

import shutil

import pytest
import yaml
from runs import code_root, planned_jobs, snakemake

pytestmark = pytest.mark.timeout(300)

EXAMPLE = "config/examples/risom2022_mibi_dcis.yaml"


def example_workdir(path):
    """A working folder holding the repository's config/ (the example's sheet path is relative)."""
    shutil.copytree(code_root() / "config", path / "config")
    return path


def test_example_plans_download_then_the_whole_workflow(tmp_path):
    work = example_workdir(tmp_path / "work")
    proc = snakemake(work, "-n", "--configfile", EXAMPLE, timeout_s=120)
    assert proc.returncode == 0, proc.output[-3000:]
    jobs = planned_jobs(proc.output)
    assert jobs.get("download_folder") == 3, jobs
    for rule in ("measure", "phenotype", "front", "spatial"):
        assert jobs.get(rule) == 3, (rule, jobs)
    assert "evaluate" not in jobs  # real data: no truth


def test_example_checksums_verify_the_fields(shared_data, http_server, tmp_path):
    local = http_server(shared_data / "dcis_mibi")
    work = example_workdir(tmp_path / "work")
    config = yaml.safe_load((work / EXAMPLE).read_text(encoding="utf-8"))
    for entry in config["download"]["folders"].values():
        entry["url"] = f"{local}/{entry['url'].rsplit('/', 1)[1]}"  # same field, local host
    (work / "local.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    proc = snakemake(work, "download", "--configfile", "local.yaml", timeout_s=240)
    assert proc.returncode == 0, proc.output[-3000:]
    for folder, entry in config["download"]["folders"].items():
        got = sorted(p.name for p in (work / folder).iterdir() if not p.name.startswith("."))
        assert got == sorted(entry["files"]), folder
        assert len(got) == 13
