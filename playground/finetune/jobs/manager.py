"""Fine-tuning jobs: a folder on disk each, run by worker processes started with ``spawn``.

A job folder (``<home>/jobs/<job_id>/``) holds everything about one job:

- ``config.json``   what to run (training settings, dataset name, session); never changes
- ``state.json``    queued | running | done | failed | cancelled | interrupted, latest progress
                    (rewritten atomically: temporary file + os.replace)
- ``metrics.jsonl`` one line per training batch and per epoch
- ``results.json``  validation results when done (confusion matrix, misclassified images...)
- ``worker.log``    the worker's output, tracebacks included
- ``data/``         the job's own copy of its dataset (hard links to the upload)
- ``artifacts/``    the fine-tuned model folder (model.safetensors, meta.json, ...)
- ``cancel``        present once a cancel was requested; the worker checks it every batch

A job is a pure function of its folder (:func:`playground.finetune.jobs.worker.run_job`), so
the :class:`Runner` that executes it is replaceable: :class:`SpawnRunner` runs
local worker processes (fresh interpreters, never forks of the server); a cluster runner (e.g. Ray) would implement the same three
methods. :class:`JobManager` queues jobs, enforces the concurrency and
per-session limits, notices dead workers, and is rebuilt from disk after a
server restart. This module never imports torch, so the app stays light.
"""
from __future__ import annotations

import atexit
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Protocol

from playground.config import home_dir
from playground.errors import PlaygroundError
from playground._fileio import write_json_atomic

__all__ = [
    "STATES",
    "ACTIVE_STATES",
    "FINAL_STATES",
    "JobError",
    "Job",
    "JobStore",
    "Runner",
    "SpawnRunner",
    "JobManager",
    "get_manager",
    "process_identity",
    "default_concurrency",
]

STATES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
ACTIVE_STATES = frozenset({"queued", "running"})
FINAL_STATES = frozenset(STATES) - ACTIVE_STATES
_JOB_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")
# A worker that ignores its cancel flag this long (stuck outside the batch loop) is terminated.
CANCEL_GRACE_SECONDS = 30.0
_POLL_SECONDS = 0.5


class JobError(PlaygroundError):
    """A job request that cannot be honoured (unknown id, limit reached...)."""


def _now() -> float:
    return time.time()


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds") if ts else None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------- process identity


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
    # Field 22 (start time in clock ticks since boot) follows the parenthesised command name.
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # a zombie has finished; only its exit status is left
        return None
    return f"{boot}:{pid}:{fields[19]}"


def _alive(identity: str | None) -> bool:
    if not identity:
        return False
    if identity.startswith("pid:"):
        return process_identity(int(identity[4:])) is not None
    pid = int(identity.split(":")[1])
    return process_identity(pid) == identity


# --------------------------------------------------------------------------- the store


@dataclass
class Job:
    """A job as read from disk: its config and its latest state."""

    id: str
    dir: Path
    config: dict[str, Any]
    state: dict[str, Any]

    @property
    def status(self) -> str:
        return self.state.get("state", "failed")

    @property
    def progress(self) -> dict[str, Any]:
        return self.state.get("progress") or {}

    @property
    def artifacts(self) -> Path:
        return self.dir / "artifacts"

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATES

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "dir": str(self.dir), "config": self.config, "state": self.state}


class JobStore:
    """Reads and writes job folders under ``<home>/jobs``; no processes involved."""

    def __init__(self, home: str | Path | None = None) -> None:
        self.root = Path(home or home_dir()) / "jobs"
        self.root.mkdir(parents=True, exist_ok=True)

    def job_dir(self, job_id: str) -> Path:
        """The folder of ``job_id``; raises JobError for a malformed id (it may come from a URL)."""
        if not isinstance(job_id, str) or not _JOB_ID.match(job_id):
            raise JobError(f"{job_id!r} is not a job id (expected e.g. 20250101-120000-a1b2c3)")
        return self.root / job_id

    def new_id(self) -> str:
        return datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)

    def create(self, config: dict[str, Any], prepare: Callable[[Path], None] | None = None) -> Job:
        """Make a new job folder with ``config``, run ``prepare(folder)`` (e.g. copy the data in),
        then mark it ``queued``. If ``prepare`` raises, the folder is removed and the error re-raised."""
        while True:
            job_id = self.new_id()
            path = self.root / job_id
            try:
                path.mkdir()
                break
            except FileExistsError:
                continue
        config = dict(config, job_id=job_id, created=_iso(_now()))
        write_json_atomic(path / "config.json", config)
        if prepare is not None:
            try:
                prepare(path)
            except BaseException:
                shutil.rmtree(path, ignore_errors=True)
                raise
        state = {"state": "queued", "message": "waiting for a free worker", "created": _now(), "updated": _now()}
        write_json_atomic(path / "state.json", state)
        return Job(job_id, path, config, state)

    def get(self, job_id: str) -> Job:
        """Read one job; JobError when it does not exist."""
        path = self.job_dir(job_id)
        config = _read_json(path / "config.json")
        if config is None:
            raise JobError(f"no job {job_id} in {self.root}; it may have been deleted")
        state = _read_json(path / "state.json") or {
            "state": "failed", "message": "the job folder is incomplete (no readable state.json)"}
        return Job(job_id, path, config, state)

    def list(self, session: str | None = None) -> list[Job]:
        """Every job (newest first), or only those started by ``session``."""
        jobs = []
        for path in sorted(self.root.iterdir(), reverse=True):
            if not _JOB_ID.match(path.name):
                continue
            try:
                job = self.get(path.name)
            except JobError:
                continue
            if session is None or job.config.get("session") == session:
                jobs.append(job)
        return jobs

    def update(self, job_id: str, **changes: Any) -> dict[str, Any]:
        """Merge ``changes`` into state.json (atomically) and return the new state."""
        path = self.job_dir(job_id) / "state.json"
        state = _read_json(path) or {}
        state.update(changes, updated=_now())
        write_json_atomic(path, state)
        return state

    def finish(self, job_id: str, status: str, message: str, *, only_from: frozenset[str] = ACTIVE_STATES) -> bool:
        """Move a job to a final state unless it already left ``only_from``; True if it moved."""
        state = _read_json(self.job_dir(job_id) / "state.json") or {}
        if state.get("state") not in only_from:
            return False
        self.update(job_id, state=status, message=message, finished=_now())
        return True

    def request_cancel(self, job_id: str) -> None:
        (self.job_dir(job_id) / "cancel").touch()

    def cancel_requested(self, job_id: str) -> bool:
        return (self.job_dir(job_id) / "cancel").exists()

    def metrics(self, job_id: str) -> list[dict[str, Any]]:
        """Every line of metrics.jsonl (a torn last line, mid-append, is ignored)."""
        lines = []
        try:
            text = (self.job_dir(job_id) / "metrics.jsonl").read_text()
        except OSError:
            return []
        for line in text.splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
        return lines

    def results(self, job_id: str) -> dict[str, Any] | None:
        return _read_json(self.job_dir(job_id) / "results.json")


# --------------------------------------------------------------------------- runners


class Runner(Protocol):
    """Runs job folders somewhere. The local default is :class:`SpawnRunner`."""

    def start(self, job_dir: Path, device: int | None) -> str:
        """Start running the job in ``job_dir`` (on GPU ``device``, if any); return a worker identity."""

    def poll(self) -> dict[str, int | None]:
        """Jobs whose worker has ended since the last poll: job id -> exit code (None: unknown)."""

    def terminate(self, job_id: str) -> None:
        """Stop a job's worker now (used only when it ignores its cancel flag)."""


class SpawnRunner:
    """One freshly spawned interpreter per job (``python -m playground.finetune.jobs.worker``), never a fork.

    Not ``multiprocessing``'s spawn: that re-imports the parent's ``__main__``,
    which inside Streamlit is the app script itself. A plain child process
    shares nothing with the server; it gets its own session so a Ctrl+C in the
    server's terminal reaches the server, which then stops its workers.
    """

    def __init__(self) -> None:
        self._procs: dict[str, subprocess.Popen] = {}
        atexit.register(self.shutdown)

    def start(self, job_dir: Path, device: int | None) -> str:
        package_root = str(Path(__file__).resolve().parents[3])  # the folder holding playground/
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        cmd = [sys.executable, "-m", "playground.finetune.jobs.worker", str(job_dir), "--parent", str(os.getpid())]
        if device is not None:
            cmd += ["--device", str(device)]
        with open(job_dir / "worker.log", "ab") as log:
            proc = subprocess.Popen(cmd, cwd=job_dir, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self._procs[job_dir.name] = proc
        return process_identity(proc.pid) or f"pid:{proc.pid}"

    def poll(self) -> dict[str, int | None]:
        ended = {}
        for job_id, proc in list(self._procs.items()):
            code = proc.poll()  # also reaps the child, so no zombie is left behind
            if code is not None:
                ended[job_id] = code
                del self._procs[job_id]
        return ended

    def terminate(self, job_id: str) -> None:
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
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def default_concurrency() -> tuple[int, list[int | None]]:
    """(jobs at once, device per slot): one job per CUDA GPU, else one job on the CPU."""
    try:
        import torch  # already imported by the app's other pages; cheap to ask

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:
        gpus = 0
    if gpus:
        return gpus, list(range(gpus))
    return 1, [None]


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "the worker process ended without reporting a result"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (often: the machine ran out of memory; try a smaller batch or image size)" if -code == signal.SIGKILL else ""
        return f"the worker process was killed by {name}{hint}"
    return f"the worker process exited with status {code} without reporting a result; see worker.log"


# --------------------------------------------------------------------------- the manager


@dataclass
class _Slot:
    device: int | None
    job_id: str | None = None
    cancel_at: float | None = None


class JobManager:
    """Queues jobs, runs them through a :class:`Runner`, watches the workers.

    Everything it knows is on disk, so a new manager (after a server restart)
    finds every job again: queued jobs stay queued and will run, jobs that were
    running under a manager process that is gone become ``interrupted``.
    A background thread schedules and watches; :meth:`tick` does one round of
    that work and can be called directly (tests, no thread).
    """

    def __init__(
        self,
        home: str | Path | None = None,
        *,
        runner: Runner | None = None,
        max_concurrent: int | None = None,
        per_session: int = 2,
        background: bool = True,
    ) -> None:
        self.store = JobStore(home)
        self.runner: Runner = runner or SpawnRunner()
        count, devices = default_concurrency()
        if max_concurrent is not None:
            count = max(1, max_concurrent)
            devices = [devices[i % len(devices)] for i in range(count)]
        self._slots = [_Slot(d) for d in devices[:count]]
        self.per_session = per_session
        self.identity = process_identity(os.getpid()) or f"pid:{os.getpid()}"
        self._lock = threading.RLock()
        self._queue: list[str] = []
        self._stop = threading.Event()
        self._recover()
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._loop, name="playground-jobs", daemon=True)
            self._thread.start()

    @property
    def max_concurrent(self) -> int:
        return len(self._slots)

    # -- restart recovery

    def _recover(self) -> None:
        """Re-queue queued jobs; mark jobs whose manager is gone as interrupted."""
        for job in sorted(self.store.list(), key=lambda j: j.state.get("created", 0)):
            if job.status == "queued":
                self._queue.append(job.id)
            elif job.status == "running":
                owner = job.state.get("manager")
                if owner and owner != self.identity and _alive(owner):
                    continue  # another live server process runs it; leave it alone
                # Its worker, if still alive, sees its parent is gone and stops within a batch.
                self.store.finish(job.id, "interrupted",
                                  "the server stopped while this job was running; start it again")

    # -- public API

    def submit(self, config: dict[str, Any], *, session: str | None = None,
               prepare: Callable[[Path], None] | None = None) -> Job:
        """Queue a job (``config`` as :func:`playground.finetune.jobs.worker.run_job` reads it).

        ``prepare(job_dir)`` runs before the job is queued (it puts the data in
        place). Raises JobError when ``session`` already has ``per_session``
        jobs queued or running.
        """
        with self._lock:
            if session is not None:
                mine = [j for j in self.store.list(session) if j.active]
                if len(mine) >= self.per_session:
                    raise JobError(
                        f"this session already has {len(mine)} job(s) queued or running (limit {self.per_session}); "
                        "wait for one to finish or cancel it"
                    )
            job = self.store.create(dict(config, session=session), prepare)
            self._queue.append(job.id)
        self.tick()
        return self.store.get(job.id)

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued job at once, or ask a running one to stop (it does within one batch)."""
        with self._lock:
            job = self.store.get(job_id)
            if job.status == "queued":
                if job_id in self._queue:
                    self._queue.remove(job_id)
                self.store.finish(job_id, "cancelled", "cancelled before it started")
            elif job.status == "running":
                self.store.request_cancel(job_id)
                for slot in self._slots:
                    if slot.job_id == job_id and slot.cancel_at is None:
                        slot.cancel_at = _now()
        return self.store.get(job_id)

    def get(self, job_id: str) -> Job:
        return self.store.get(job_id)

    def list(self, session: str | None = None) -> list[Job]:
        return self.store.list(session)

    def queue_position(self, job_id: str) -> int | None:
        """1 for the next job to start, None when not queued."""
        with self._lock:
            return self._queue.index(job_id) + 1 if job_id in self._queue else None

    def shutdown(self, *, terminate: bool = False) -> None:
        """Stop the background thread (and, if asked, the workers)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if terminate and hasattr(self.runner, "shutdown"):
            self.runner.shutdown()  # type: ignore[attr-defined]

    # -- scheduling

    def tick(self) -> None:
        """One round: reap ended workers, enforce cancel deadlines, start queued jobs."""
        with self._lock:
            for job_id, code in self.runner.poll().items():
                for slot in self._slots:
                    if slot.job_id == job_id:
                        slot.job_id, slot.cancel_at = None, None
                if self.store.cancel_requested(job_id):
                    self.store.finish(job_id, "cancelled", "stopped at your request; no model was saved")
                else:
                    self.store.finish(job_id, "failed", _exit_reason(code))
            for slot in self._slots:
                if slot.job_id and slot.cancel_at and _now() - slot.cancel_at > CANCEL_GRACE_SECONDS:
                    self.runner.terminate(slot.job_id)
            for slot in self._slots:
                if slot.job_id is None:
                    self._start_next(slot)

    def _start_next(self, slot: _Slot) -> None:
        while self._queue:
            job_id = self._queue.pop(0)
            try:
                job = self.store.get(job_id)
            except JobError:
                continue
            if job.status != "queued":
                continue
            self.store.update(job_id, state="running", message="starting a worker process", started=_now(),
                              manager=self.identity, device=slot.device, progress={"phase": "starting"})
            try:
                worker = self.runner.start(job.dir, slot.device)
            except Exception as exc:  # e.g. out of processes or memory
                self.store.finish(job_id, "failed", f"could not start a worker process: {exc}")
                continue
            self.store.update(job_id, worker=worker)
            slot.job_id = job_id
            return

    def _loop(self) -> None:
        while not self._stop.wait(_POLL_SECONDS):
            try:
                self.tick()
            except Exception:  # never let one bad folder kill the scheduler
                import traceback

                traceback.print_exc()


_MANAGERS: dict[Path, JobManager] = {}
_MANAGERS_LOCK = threading.Lock()


def get_manager(home: str | Path | None = None) -> JobManager:
    """The process-wide manager for a data directory (created on first use).

    The app's ``st.cache_resource`` only holds this handle: clearing that cache
    returns the same manager, so running workers are never orphaned by it.
    """
    key = Path(home or home_dir()).resolve()
    with _MANAGERS_LOCK:
        manager = _MANAGERS.get(key)
        if manager is None:
            manager = _MANAGERS[key] = JobManager(key)
        return manager
