"""Runs on a real SLURM cluster: a single node on localhost, started and stopped by the test.

The cluster (tests/workflow/slurm.py) is started once for this module and stopped by its
PIDs in a finalizer. The tests submit through ``--profile profiles/slurm`` exactly as a user
would, with two overrides that only make waiting shorter (first status poll after 1 s,
successful job logs kept so the test can read them).
"""

import subprocess
import sys
import time

import pytest
from runs import (
    DEMO_OVERRIDES,
    code_root,
    demo_rows,
    make_workdir,
    result_fingerprint,
    snakemake,
)
from slurm import SlurmCluster, ensure_installed

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(900)]

# The profile exactly as users run it, plus: first status poll after 1 s, keep all job logs.
FAST = [
    "--slurm-init-seconds-before-status-checks",
    "1",
    "--slurm-keep-successful-logs",
    "--retries",
    "0",
]


def profile():
    return ["--profile", str(code_root() / "profiles" / "slurm"), *FAST]


TOY_SNAKEFILE = """\
rule all:
    input: "c.txt"

rule a:
    output: "a.txt"
    threads: 1
    resources: mem_mb=100, runtime=2
    shell: "echo $SLURM_JOB_ID > {output}"

rule b:
    output: "b.txt"
    threads: 1
    resources: mem_mb=lambda wc, attempt: 100 * attempt, runtime=2
    shell: "echo $SLURM_JOB_ID > {output}"

rule c:
    input: "a.txt", "b.txt"
    output: "c.txt"
    threads: 1
    resources: mem_mb=100, runtime=2
    shell: "cat {input} > {output}; echo $SLURM_JOB_ID >> {output}"
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, request):
    why = ensure_installed()
    if why:
        pytest.skip(why)
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    request.addfinalizer(cluster.stop)
    t0 = time.monotonic()
    cluster.start(timeout_s=60)
    print(f"SLURM cluster up in {time.monotonic() - t0:.1f} s, daemons {cluster.pids}")
    return cluster


def _snakemake_toy(workdir, env, *args, timeout_s=240):
    cmd = ["timeout", "-s", "KILL", str(timeout_s), sys.executable, "-m", "snakemake", *args]
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    proc.output = proc.stdout + proc.stderr
    return proc


def test_three_job_workflow_goes_through_sbatch(cluster, tmp_path):
    """Given two jobs and one that needs both, when run with the SLURM profile, then each job
    ran as its own SLURM job (the cluster works, whatever the pipeline does)."""
    (tmp_path / "Snakefile").write_text(TOY_SNAKEFILE)
    t0 = time.monotonic()
    proc = _snakemake_toy(tmp_path, cluster.env(), *profile())
    took = time.monotonic() - t0
    assert proc.returncode == 0, proc.output[-4000:] + "\n" + cluster.daemon_logs()
    print(f"toy workflow through SLURM: {took:.1f} s")

    job_ids = (tmp_path / "c.txt").read_text().split()
    assert len(job_ids) == 3 and len(set(job_ids)) == 3, job_ids  # three distinct SLURM jobs
    done = {j["JobId"]: j for j in cluster.completed_jobs()}
    for job_id in job_ids:
        assert done[job_id]["JobState"] == "COMPLETED"
        assert done[job_id]["ExitCode"] == "0:0"
    logs = sorted((tmp_path / ".snakemake" / "slurm_logs").rglob("*.log"))
    assert {p.parent.name for p in logs} == {"rule_a", "rule_b", "rule_c"}
    assert {p.stem for p in logs} == set(job_ids)


@pytest.mark.slow
def test_demo_on_slurm_matches_the_local_run(cluster, demo_run, demo_input, tmp_path):
    """Given the demo with segmentation tile jobs, when run with --profile profiles/slurm,
    then every job ran through sbatch and the results equal the local run's."""
    work = tmp_path / "work"
    make_workdir(work, rows=demo_rows(demo_input), overrides=DEMO_OVERRIDES)
    t0 = time.monotonic()
    proc = snakemake(work, *profile(), cores=None, env=cluster.env(), timeout_s=900)
    took = time.monotonic() - t0
    assert proc.returncode == 0, proc.output[-6000:] + "\n" + cluster.daemon_logs()
    print(f"\ndemo through SLURM: {took:.0f} s (local --cores 2: {demo_run['seconds']:.0f} s)")

    slurm_logs = work / ".snakemake" / "slurm_logs"
    jobs = {}  # rule or group -> SLURM job ids, from the executor's per-job logs
    for log in slurm_logs.rglob("*.log"):
        name = log.relative_to(slurm_logs).parts[0]  # rule_<rule> or group_<group>_<rules>
        name = "group_sample_analysis" if name.startswith("group_sample_analysis") else name
        jobs.setdefault(name, []).append(log)
    print(f"SLURM jobs: { {r: len(i) for r, i in sorted(jobs.items())} }")
    assert len(jobs.get("rule_segment_tile", [])) == 4, jobs  # 1024 px image, 512 px job tiles
    for name in (
        "rule_segment_normalisation",
        "rule_merge_tiles",
        "rule_cohort",
        "group_sample_analysis",
    ):
        assert len(jobs.get(name, [])) == 1, (name, jobs)
    group_log = jobs["group_sample_analysis"][0].read_text(errors="replace")
    for rule in ("measure", "phenotype", "front", "spatial", "evaluate"):
        assert f"rule {rule}:" in group_log, rule  # ran inside the per-sample group job
    done = {j["JobId"]: j for j in cluster.completed_jobs()}
    for name, logs in jobs.items():  # each finished as a SLURM job with exit code 0
        for log in logs:
            assert done[log.stem]["JobState"] == "COMPLETED", (name, done[log.stem])
            assert done[log.stem]["ExitCode"] == "0:0", (name, done[log.stem])

    assert result_fingerprint(work) == result_fingerprint(demo_run["dir"])
