"""The runner interface, and the local runner: each job in a freshly spawned worker process.

A job is a pure function of its folder (:func:`playground.finetune.jobs.worker.run_job`),
so the runner that executes it is replaceable: :class:`LocalRunner` runs local
worker processes (fresh interpreters, never forks of the server); a cluster
runner (:class:`~playground.finetune.jobs.ray_runner.RayRunner`) implements the same
:class:`Runner` methods, and :mod:`~playground.finetune.jobs.runners` picks one.
:func:`process_identity` names a process for its whole life (the manager uses it too). No torch here.
"""
from __future__ import annotations

import atexit
import os
import subprocess
import sys
from pathlib import Path
from typing import Protocol

from playground.finetune.device import worker_threads
from playground.finetune.jobs.store import JobStore

__all__ = ["Runner", "LocalRunner", "WORKER_MODULE", "SHUTDOWN_WAIT_SECONDS", "process_identity", "alive"]

WORKER_MODULE = "playground.finetune.jobs.worker"  # run as ``python -m``
# On shutdown, how long a terminated worker gets to record "interrupted" before it is killed.
SHUTDOWN_WAIT_SECONDS = 10.0
_PACKAGE_ROOT = Path(__file__).resolve().parents[3]  # the folder holding playground/
_START_TIME_FIELD = 19  # /proc/<pid>/stat field 22 (start time), counted after the command name


class Runner(Protocol):
    """Runs job folders somewhere; :class:`~playground.finetune.jobs.manager.JobManager` drives it."""

    def start(self, job_dir: Path, device: int | None) -> str:
        """Start running the job in ``job_dir`` (on GPU ``device``, if any); return a worker identity."""

    def poll(self) -> dict[str, int | None]:
        """Jobs whose worker has ended since the last poll: job id -> exit code (None: unknown)."""

    def terminate(self, job_id: str) -> None:
        """Stop a job's worker now (used only when it ignores its cancel flag)."""

    def shutdown(self) -> None:
        """Stop every worker this runner started (they record "interrupted")."""


def process_identity(pid: int | None) -> str | None:
    """A string that names one process for its whole life: boot id + pid + start time.

    Unlike a bare pid it cannot be mistaken for a later process that reuses the
    number (common in containers, where pids restart low). None when the
    process does not exist. Without /proc (not Linux) it falls back to the pid.
    """
    if not pid:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None  # Linux, and the process is gone
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return f"pid:{pid}"
    except OSError:
        return None
    # The fields after the parenthesised command name (which may itself hold spaces).
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # a zombie has finished; only its exit status is left
        return None
    return f"{boot}:{pid}:{fields[_START_TIME_FIELD]}"


def alive(identity: str | None) -> bool:
    """Whether the process a :func:`process_identity` string names is still running."""
    if not identity:
        return False
    if identity.startswith("pid:"):
        return process_identity(int(identity[4:])) is not None
    pid = int(identity.split(":")[1])
    return process_identity(pid) == identity


class LocalRunner:
    """One freshly spawned interpreter per job (``python -m playground.finetune.jobs.worker``), never a fork.

    Not ``multiprocessing``'s spawn: that re-imports the parent's ``__main__``,
    which inside Streamlit is the app script itself. A plain child process
    shares nothing with the server; it gets its own session so a Ctrl+C in the
    server's terminal reaches the server, which then stops its workers.
    """

    def __init__(self) -> None:
        self._procs: dict[str, subprocess.Popen] = {}
        self.concurrent = 1  # workers running at once (the manager's slots): they share the CPU cores
        atexit.register(self.shutdown)

    def share_cpu(self, workers: int) -> None:
        """``workers`` jobs run at once: each worker gets its share of the cores as PyTorch threads
        (N GPU workers each starting a thread per core would oversubscribe the CPU that feeds them)."""
        self.concurrent = max(1, workers)

    def start(self, job_dir: Path, device: int | None) -> str:
        """Spawn the worker for ``job_dir``, its output appended to the job's log."""
        store, job_id = JobStore.of(job_dir)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PACKAGE_ROOT), env.get("PYTHONPATH")) if p)
        threads = worker_threads(os.cpu_count() or 1, self.concurrent)
        cmd = [sys.executable, "-m", WORKER_MODULE, str(job_dir), "--parent", str(os.getpid()),
               "--threads", str(threads)]
        if device is not None:
            cmd += ["--device", str(device)]
        with open(store.folder(job_id).log_file, "ab") as log:
            proc = subprocess.Popen(cmd, cwd=job_dir, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self._procs[job_id] = proc
        return process_identity(proc.pid) or f"pid:{proc.pid}"

    def poll(self) -> dict[str, int | None]:
        """Reap ended workers: job id -> exit code."""
        ended: dict[str, int | None] = {}
        for job_id, proc in list(self._procs.items()):
            code = proc.poll()  # also reaps the child, so no zombie is left behind
            if code is not None:
                ended[job_id] = code
                del self._procs[job_id]
        return ended

    def terminate(self, job_id: str) -> None:
        """SIGTERM the job's worker (it stops at its next batch and records why)."""
        proc = self._procs.get(job_id)
        if proc is not None and proc.poll() is None:
            proc.terminate()

    def shutdown(self) -> None:
        """Ask every worker to stop (they record "interrupted") and wait briefly for them."""
        procs = [p for p in self._procs.values() if p.poll() is None]
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=SHUTDOWN_WAIT_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
