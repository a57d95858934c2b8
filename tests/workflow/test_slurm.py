"""Runs on a real SLURM cluster: a single node on localhost, started and stopped by the test.

The cluster (tests/workflow/slurm.py) is started once for this module and stopped by its
PIDs in a finalizer. The tests submit through ``--profile profiles/slurm`` exactly as a user
would, with two overrides that only make waiting shorter (first status poll after 1 s,
successful job logs kept so the test can read them).
"""

import subprocess
import time

import pytest

from runs import (DEMO_SAMPLE, ROOT, demo_rows, make_workdir, result_fingerprint,
                  snakemake)
from slurm import SlurmCluster, ensure_installed

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(900)]

PROFILE = ROOT / "profiles" / "slurm"
FAST = ["--profile", str(PROFILE), "--slurm-init-seconds-before-status-checks", "1",
        "--slurm-keep-successful-logs", "--retries", "0"]

TOY_SNAKEFILE = """\
rule all:
    input: "c.txt"

rule a:
    output: "a.txt"
    threads: 1
    resources: mem_mb=100, runtime=2
    shell: "echo $SLURM_JOB_ID > {output}"

rule b:
    input: "a.txt"
    output: "b.txt"
    threads: 1
    resources: mem_mb=lambda wc, attempt: 100 * attempt, runtime=2
    shell: "cat {input} > {output}; echo $SLURM_JOB_ID >> {output}"

rule c:
    input: "b.txt"
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
    cmd = ["timeout", "-s", "KILL", str(timeout_s), "python", "-m", "snakemake", *args]
    import sys
    cmd[4] = sys.executable
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    proc.output = proc.stdout + proc.stderr
    return proc


def test_three_job_workflow_goes_through_sbatch(cluster, tmp_path):
    """Given a 3-job chain, when run with the SLURM profile, then each job ran as a SLURM job."""
    (tmp_path / "Snakefile").write_text(TOY_SNAKEFILE)
    t0 = time.monotonic()
    proc = _snakemake_toy(tmp_path, cluster.env(), *FAST)
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
