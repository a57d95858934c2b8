"""The DCIS MIBI example config: its sheet, channel names and phenotypes fit the public images."""

from runs import ROOT, planned_jobs, snakemake


def test_dcis_mibi_example_plans_the_whole_workflow(shared_data):
    assert (shared_data / "dcis_mibi").is_dir()
    # a dry run opens every image (metadata only) and checks the config's channel names
    proc = snakemake(
        ROOT,
        "-n",
        "--forceall",
        "--nolock",
        "--configfile",
        "config/examples/mibi_dcis.yaml",
        timeout_s=300,
    )
    assert proc.returncode == 0, proc.output[-3000:]
    jobs = planned_jobs(proc.output)
    assert jobs.get("measure") == 3 and jobs.get("phenotype") == 3
    assert "evaluate" not in jobs  # real data: no truth
