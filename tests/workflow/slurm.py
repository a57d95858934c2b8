"""A throwaway single-node SLURM cluster on localhost, for tests.

One ``slurmctld`` and one ``slurmd`` run in the foreground mode, detached with ``setsid``,
with every state, spool, log and PID file inside a temporary folder. Authentication is
``auth/none`` (no munge daemon). There is no accounting database: job status comes from
``squeue`` (``MinJobAge`` keeps finished jobs visible for 5 minutes), and every finished job
is appended to a plain-text job-completion log (``jobcomp/filetxt``) that tests read to
prove a job really went through ``sbatch``.

slurm.conf lives in the temporary folder and is found through ``SLURM_CONF``. Snakemake's
SLURM job-step plugin removes ``SLURM_*`` variables (``SLURM_CONF`` too) before its nested
``srun``, which on a real cluster finds /etc/slurm/slurm.conf; here a two-line ``srun``
wrapper, first on PATH, puts ``SLURM_CONF`` back. Nothing outside the folder is touched.

Usage::

    cluster = SlurmCluster(tmp_path / "slurm")
    cluster.start()
    try:
        subprocess.run([...], env=cluster.env())
    finally:
        cluster.stop()

The daemons are stopped by the PIDs this object recorded, never by name.
"""

import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

log = logging.getLogger(__name__)

PACKAGES = ("slurmctld", "slurmd", "slurm-client")
DAEMONS = ("slurmctld", "slurmd")


def ensure_installed(timeout_s=600):
    """Make the SLURM binaries available, installing Debian's packages when possible.

    Returns
    -------
    None when ``slurmctld``, ``slurmd``, ``sbatch`` and ``squeue`` are on PATH, else a
    sentence saying why they are not (for ``pytest.skip``).
    """
    needed = ("slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo")
    if all(shutil.which(b) for b in needed):
        return None
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return "SLURM is not installed and cannot be (needs root and apt-get)"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES],
    ):
        try:
            subprocess.run(cmd, env=env, capture_output=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            return f"'{' '.join(cmd)}' timed out after {timeout_s} s"
    missing = [b for b in needed if shutil.which(b) is None]
    if missing:
        return f"installing {PACKAGES} did not provide {missing}"
    return None


def _free_ports(n):
    """n TCP ports free on 127.0.0.1 right now (so parallel test sessions do not collide)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _real_memory_mb():
    """90 % of the node memory slurmd sees (more than the real amount makes the node invalid)."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, timeout=30).stdout
    for field in out.split():
        if field.startswith("RealMemory="):
            return int(int(field.split("=", 1)[1]) * 0.9)
    raise RuntimeError(f"'slurmd -C' did not report RealMemory: {out!r}")


class SlurmCluster:
    """A single-node SLURM cluster whose files all live under ``root``.

    Parameters
    ----------
    root : Path
        Empty or new folder for slurm.conf, state, spool, logs, PIDs and the job log.
    min_job_age_s : int
        How long finished jobs stay visible to ``squeue`` (the executor polls with it).
    max_lifetime_s : int
        The daemons are killed after this long even if nobody stops them.
    """

    def __init__(self, root, min_job_age_s=300, max_lifetime_s=3600):
        self.root = Path(root).resolve()
        self.min_job_age_s = min_job_age_s
        self.max_lifetime_s = max_lifetime_s
        self.host = socket.gethostname().split(".")[0]
        self.cpus = os.cpu_count() or 1
        self.pids = {}

    # -- paths ------------------------------------------------------------------------
    @property
    def conf(self):
        return self.root / "slurm.conf"

    @property
    def jobcomp_log(self):
        return self.root / "log" / "jobcomp.txt"

    def env(self, base=None):
        """The environment for SLURM commands (and Snakemake) talking to this cluster."""
        env = dict(os.environ if base is None else base)
        env["SLURM_CONF"] = str(self.conf)
        env["PATH"] = f"{self.root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        return env

    # -- lifecycle --------------------------------------------------------------------
    def write_config(self):
        """Write slurm.conf for one node on 127.0.0.1 (see the module docstring)."""
        for sub in ("state", "spool", "log", "run", "bin"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        srun = self.root / "bin" / "srun"
        srun.write_text(f'#!/bin/sh\nSLURM_CONF="{self.conf}" exec {shutil.which("srun")} "$@"\n')
        srun.chmod(0o755)
        r = self.root
        memory = _real_memory_mb()
        ports = _free_ports(2)
        self.real_memory_mb = memory
        self.conf.write_text(f"""\
ClusterName=frontline-test
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={self.jobcomp_log}
MinJobAge={self.min_job_age_s}
ReturnToService=2
SchedulerType=sched/backfill
SlurmctldPort={ports[0]}
SlurmdPort={ports[1]}
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/run/slurmctld.pid
SlurmdPidFile={r}/run/slurmd.pid
SlurmctldLogFile={r}/log/slurmctld.log
SlurmdLogFile={r}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
DefMemPerCPU=1000
KillWait=5
NodeName={self.host} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={memory} State=UNKNOWN
PartitionName=test Nodes={self.host} Default=YES MaxTime=INFINITE State=UP
""")
        return self.conf

    def start(self, timeout_s=60):
        """Start slurmctld and slurmd, wait until the node is idle; stop them on failure."""
        self.write_config()
        try:
            # `timeout` ends the daemons even if this process dies without calling stop().
            watchdog = ["timeout", "-s", "KILL", str(int(self.max_lifetime_s))]
            self._spawn("slurmctld", watchdog + ["slurmctld", "-D", "-i", "-f", str(self.conf)])
            self._wait(
                lambda: "UP" in self._out(["scontrol", "ping"]), timeout_s, "slurmctld to answer"
            )
            self._spawn("slurmd", watchdog + ["slurmd", "-D", "-f", str(self.conf)])
            self._wait(self._node_idle, timeout_s, "the node to be idle")
        except Exception:
            self.stop()
            raise
        return self

    def stop(self, timeout_s=20):
        """Stop the daemons this object started, by their recorded PIDs (TERM, then KILL)."""
        for name in reversed(DAEMONS):
            pid = self.pids.pop(name, None)
            if pid is None:
                continue
            proc = self._procs.pop(name)
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=timeout_s)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- what ran ---------------------------------------------------------------------
    def completed_jobs(self):
        """Finished jobs from the job-completion log: list of dicts (JobId, JobState, ...)."""
        if not self.jobcomp_log.exists():
            return []
        jobs = []
        for line in self.jobcomp_log.read_text(errors="replace").splitlines():
            fields = {}
            for token in line.split():
                key, sep, value = token.partition("=")
                if sep:
                    fields[key] = value
            if fields:
                jobs.append(fields)
        return jobs

    def daemon_logs(self):
        """Both daemon logs, for a failing test's message."""
        text = []
        for name in DAEMONS:
            path = self.root / "log" / f"{name}.log"
            if path.exists():
                text.append(
                    f"--- {path} (last 40 lines)\n"
                    + "\n".join(path.read_text(errors="replace").splitlines()[-40:])
                )
        return "\n".join(text)

    # -- internals --------------------------------------------------------------------
    _procs = None

    def _spawn(self, name, cmd):
        if self._procs is None:
            self._procs = {}
        out = open(self.root / "log" / f"{name}.stdout", "wb")
        proc = subprocess.Popen(
            cmd,
            env=self.env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        out.close()
        self._procs[name] = proc
        self.pids[name] = proc.pid
        (self.root / "run" / f"{name}.started.pid").write_text(f"{proc.pid}\n")
        log.info("started %s (pid %d)", name, proc.pid)

    def _out(self, cmd):
        try:
            return subprocess.run(
                cmd, env=self.env(), capture_output=True, text=True, timeout=10
            ).stdout
        except subprocess.TimeoutExpired:
            return ""

    def _node_idle(self):
        state = self._out(["sinfo", "-h", "-N", "-o", "%T"]).strip()
        return state.startswith("idle")

    def _wait(self, ready, timeout_s, what):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for name, proc in (self._procs or {}).items():
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited with {proc.returncode}\n{self.daemon_logs()}"
                    )
            if ready():
                return
            time.sleep(0.5)
        raise TimeoutError(f"waited {timeout_s} s for {what}\n{self.daemon_logs()}")
