"""The job manager: queues fine-tuning jobs, runs them through a runner, watches the workers.

Job folders live in :class:`~playground.finetune.jobs.store.JobStore`; a
:class:`~playground.finetune.jobs.runner.Runner` executes them (local worker
processes by default). :class:`JobManager` enforces the concurrency and
per-session limits, notices dead workers, and is rebuilt from disk after a
server restart. This module never imports torch at import time, so the app stays light.
"""
from __future__ import annotations

import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playground.config import home_dir
from playground.finetune.jobs.runner import LocalRunner, Runner, alive, process_identity
from playground.finetune.jobs.store import INTERRUPTED_MESSAGE, Job, JobError, JobStore

__all__ = [
    "JobManager",
    "get_manager",
    "default_concurrency",
    "CANCEL_GRACE_SECONDS",
    "POLL_SECONDS",
    "PER_SESSION_LIMIT",
]

# A worker that ignores its cancel flag this long (stuck outside the batch loop) is terminated.
CANCEL_GRACE_SECONDS = 30.0
POLL_SECONDS = 0.5  # how often the background thread schedules and watches
PER_SESSION_LIMIT = 2  # jobs queued or running per browser session
_THREAD_JOIN_SECONDS = 5.0  # how long shutdown waits for the background thread


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
        oom = -code == signal.SIGKILL  # what the kernel sends when memory runs out
        hint = " (often: the machine ran out of memory; try a smaller batch or image size)" if oom else ""
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
        per_session: int = PER_SESSION_LIMIT,
        background: bool = True,
    ) -> None:
        self.store = JobStore(home)
        self.runner: Runner = runner or LocalRunner()
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
        """Jobs that run at once (one slot each)."""
        return len(self._slots)

    # -- restart recovery

    def _recover(self) -> None:
        """Re-queue queued jobs; mark jobs whose manager is gone as interrupted."""
        for job in sorted(self.store.list(), key=lambda j: j.state.get("created", 0)):
            if job.status == "queued":
                self._queue.append(job.id)
            elif job.status == "running":
                owner = job.state.get("manager")
                if owner and owner != self.identity and alive(owner):
                    continue  # another live server process runs it; leave it alone
                # Its worker, if still alive, sees its parent is gone and stops within a batch.
                self.store.finish(job.id, "interrupted", INTERRUPTED_MESSAGE)

    # -- public API

    def submit(self, config: dict[str, Any], *, session: str | None = None,
               prepare: Callable[[Job], None] | None = None) -> Job:
        """Queue a job (``config`` as :func:`playground.finetune.jobs.worker.run_job` reads it).

        ``prepare(job)`` runs before the job is queued (it puts the data in
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
                        slot.cancel_at = time.time()
        return self.store.get(job_id)

    def get(self, job_id: str) -> Job:
        """One job as on disk now; JobError when unknown."""
        return self.store.get(job_id)

    def list(self, session: str | None = None) -> list[Job]:
        """Every job (newest first), or only ``session``'s."""
        return self.store.list(session)

    def queue_position(self, job_id: str) -> int | None:
        """1 for the next job to start, None when not queued."""
        with self._lock:
            return self._queue.index(job_id) + 1 if job_id in self._queue else None

    def shutdown(self, *, terminate: bool = False) -> None:
        """Stop the background thread (and, if asked, the workers)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=_THREAD_JOIN_SECONDS)
        if terminate:
            self.runner.shutdown()

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
                if slot.job_id and slot.cancel_at and time.time() - slot.cancel_at > CANCEL_GRACE_SECONDS:
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
            self.store.update(job_id, state="running", message="starting a worker process", started=time.time(),
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
        while not self._stop.wait(POLL_SECONDS):
            try:
                self.tick()
            except Exception:  # never let one bad folder kill the scheduler
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
