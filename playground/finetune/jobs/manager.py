"""The job manager: queues fine-tuning jobs, runs them through a runner, watches the workers.

Job folders live in :class:`~playground.finetune.jobs.store.JobStore`; a
:class:`~playground.finetune.jobs.runner.Runner` executes them (local worker processes by
default; :mod:`~playground.finetune.jobs.runners` picks one). :class:`JobManager` enforces the
concurrency limit, the per-owner limit (a class setting) and a bound on the whole queue, starts jobs
fairly across owners (:mod:`~playground.finetune.jobs.schedule`), lets only a
job's owner or the teacher cancel, delete or download it (a
:class:`~playground.classroom.Viewer` says who asks), notices dead workers, and
is rebuilt from disk after a server restart. This module never imports torch at import time, so the app stays light.
"""
from __future__ import annotations

import builtins  # JobManager.list shadows the builtin in the class body's annotations
import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playground.classroom import Viewer, load_settings
from playground.finetune.jobs.outcome import (
    CANCELLED_QUEUED_MESSAGE,
    INTERRUPTED_MESSAGE,
    cancel_message,
    exit_reason,
    start_failure,
)
from playground.finetune.jobs.runner import Runner, alive, process_identity
from playground.finetune.jobs.runners import make_runner
from playground.finetune.jobs.schedule import Queued, fair_order
from playground.finetune.jobs.store import Job, JobError, JobStore
from playground.paths import home_dir

__all__ = [
    "JobManager",
    "get_manager",
    "default_concurrency",
    "CANCEL_GRACE_SECONDS",
    "POLL_SECONDS",
    "PER_SESSION_LIMIT",
    "QUEUE_LIMIT",
]

# A worker that ignores its cancel flag this long (stuck outside the batch loop) is terminated.
CANCEL_GRACE_SECONDS = 30.0
POLL_SECONDS = 0.5  # how often the background thread schedules and watches
PER_SESSION_LIMIT = 2  # jobs queued or running per owner when no class setting says otherwise
QUEUE_LIMIT = 30  # jobs waiting on the whole server (a class of ~30: one each)
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
        per_owner: int | None = None,
        per_session: int | None = None,
        queue_limit: int = QUEUE_LIMIT,
        background: bool = True,
    ) -> None:
        self.store = JobStore(home)
        self.runner: Runner = runner or make_runner()
        # A cluster runner says how many jobs its cluster has room for; local workers follow the GPUs.
        runner_slots = getattr(self.runner, "slots", None)
        count, devices = runner_slots() if runner_slots is not None else default_concurrency()
        if max_concurrent is not None:
            count = max(1, max_concurrent)
            devices = [devices[i % len(devices)] for i in range(count)]
        self._slots = [_Slot(d) for d in devices[:count]]
        share_cpu = getattr(self.runner, "share_cpu", None)  # local workers split the cores among the slots
        if share_cpu is not None:
            share_cpu(len(self._slots))
        # A fixed per-owner limit, or None: the class setting on disk (read at each submit).
        self.per_owner = per_owner if per_owner is not None else per_session  # per_session: the older name
        self.queue_limit = queue_limit
        self.identity = process_identity(os.getpid()) or f"pid:{os.getpid()}"
        self._lock = threading.RLock()
        self._queue: dict[str, Queued] = {}  # job id -> what the scheduler needs to know
        self._last_started: dict[str | None, float] = {}  # owner -> when a job of theirs last started
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
            started = job.state.get("started")
            if isinstance(started, int | float):
                self._last_started[job.owner] = max(self._last_started.get(job.owner, started), started)
            if job.status == "queued":
                self._enqueue(job)
            elif job.status == "running":
                owner = job.state.get("manager")
                if owner and owner != self.identity and alive(owner):
                    continue  # another live server process runs it; leave it alone
                # Its worker, if still alive, sees its parent is gone and stops within a batch.
                self.store.finish(job.id, "interrupted", INTERRUPTED_MESSAGE)

    # -- public API

    def _enqueue(self, job: Job) -> None:
        created = job.state.get("created")
        self._queue[job.id] = Queued(job.id, job.owner, float(created) if isinstance(created, int | float) else 0.0)

    def owner_limit(self) -> int:
        """Jobs one owner may have queued or running: fixed for this manager, else the class setting."""
        return self.per_owner if self.per_owner is not None else load_settings(self.store.home).job_limit

    def submit(self, config: dict[str, Any], *, owner: str | None = None, owner_name: str | None = None,
               session: str | None = None, prepare: Callable[[Job], object] | None = None) -> Job:
        """Queue a job (``config`` as :func:`playground.finetune.jobs.submit.job_config` makes it).

        ``owner`` is the starter's owner id (:func:`playground.classroom.owner_id`; ``session`` is its
        older name), ``owner_name`` the name they chose for the teacher's list. ``prepare(job)`` runs
        before the job is queued (it puts the data in place). Raises JobError when the owner already
        has their limit of jobs queued or running, or the server's queue is full.
        """
        owner = owner if owner is not None else session
        with self._lock:
            if owner is not None:
                limit = self.owner_limit()
                mine = [j for j in self.store.list(owner) if j.active]
                if len(mine) >= limit:
                    raise JobError(
                        f"this browser already has {len(mine)} job(s) queued or running (limit {limit}); "
                        "wait for one to finish or cancel it"
                    )
            if len(self._queue) >= self.queue_limit:
                raise JobError(
                    f"the queue is full: {len(self._queue)} jobs are waiting on this server (at most "
                    f"{self.queue_limit}); try again in a few minutes, when some have finished"
                )
            extra = {"owner": owner} if owner_name is None else {"owner": owner, "owner_name": owner_name}
            job = self.store.create(dict(config, **extra), prepare)
            self._enqueue(job)
        self.tick()
        return self.store.get(job.id)

    def _authorize(self, job: Job, by: Viewer | None, action: str) -> None:
        """Raise JobError unless ``by`` may ``action`` the job (None: a trusted local caller, e.g. the CLI)."""
        if by is not None and not by.can_control(job.config):
            raise JobError(f"job {job.id} was started by someone else: only they or the teacher can {action} it")

    def cancel(self, job_id: str, *, by: Viewer | None = None) -> Job:
        """Cancel a queued job at once, or ask a running one to stop (it does within one batch).

        ``by`` is who asks; JobError when they are neither the job's owner nor the teacher.
        """
        with self._lock:
            job = self.store.get(job_id)
            self._authorize(job, by, "cancel")
            if job.status == "queued":
                self._queue.pop(job_id, None)
                self.store.finish(job_id, "cancelled", CANCELLED_QUEUED_MESSAGE)
            elif job.status == "running":
                self.store.request_cancel(job_id)
                for slot in self._slots:
                    if slot.job_id == job_id and slot.cancel_at is None:
                        slot.cancel_at = time.time()
        return self.store.get(job_id)

    def delete(self, job_id: str, *, by: Viewer | None = None) -> None:
        """Remove a finished job's folder (its model too); JobError for an active job or someone else's."""
        with self._lock:
            job = self.store.get(job_id)
            self._authorize(job, by, "delete")
            if job.active:
                raise JobError(f"job {job_id} is {job.status}: cancel it first, then delete it")
            self.store.delete(job_id)

    def model_folder(self, job_id: str, *, by: Viewer | None = None) -> Path:
        """The fine-tuned model folder of a done job (what the download zips); JobError when ``by`` may
        not have it or there is none."""
        job = self.store.get(job_id)
        self._authorize(job, by, "download the model of")
        # A cancelled job may have kept its best epoch as a model.
        if job.status not in ("done", "cancelled") or not job.artifacts.is_dir():
            raise JobError(f"job {job_id} has no model to download (it is {job.status})")
        return job.artifacts

    def get(self, job_id: str) -> Job:
        """One job as on disk now; JobError when unknown."""
        return self.store.get(job_id)

    def list(self, owner: str | None = None) -> list[Job]:
        """Every job (newest first), or only ``owner``'s."""
        return self.store.list(owner)

    def queue_order(self) -> builtins.list[str]:
        """Queued job ids in the order they will start (round-robin over owners)."""
        with self._lock:
            return fair_order(self._queue.values(), self._last_started)

    def queue_position(self, job_id: str) -> int | None:
        """1 for the next job to start, None when not queued."""
        order = self.queue_order()
        return order.index(job_id) + 1 if job_id in order else None

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
                if self.store.cancel_requested(job_id):  # ended without recording it: say where it stopped
                    self.store.finish(job_id, "cancelled", self._cancelled(job_id))
                else:
                    self.store.finish(job_id, "failed", exit_reason(code))
                self._remember_timing(job_id)
            for slot in self._slots:
                if slot.job_id and slot.cancel_at and time.time() - slot.cancel_at > CANCEL_GRACE_SECONDS:
                    self.runner.terminate(slot.job_id)
            for slot in self._slots:
                if slot.job_id is None:
                    self._start_next(slot)

    def _cancelled(self, job_id: str) -> str:
        """The message of a cancelled job whose worker ended without recording it (e.g. terminated)."""
        try:
            progress = self.store.get(job_id).progress
        except JobError:
            progress = {}
        return cancel_message(progress, self.store.results(job_id),
                              model_kept=self.store.folder(job_id).artifacts.is_dir())

    def _remember_timing(self, job_id: str) -> None:
        """What an ended job measured, into this machine's calibration: the per-image costs of its
        settings, and its fixed seconds (wall time from start to finish, less the counted work)."""
        from playground.finetune import calibration
        from playground.finetune.eta import Costs

        try:
            job = self.store.get(job_id)
        except JobError:
            return
        timing = (self.store.results(job_id) or {}).get("timing")
        if job.status not in ("done", "cancelled") or not isinstance(timing, dict):
            return
        costs = Costs.from_dict(timing.get("costs"))
        key, work = timing.get("key"), timing.get("work_seconds")
        if costs is None or not isinstance(key, str):
            return
        started, finished = job.state.get("started"), job.state.get("finished")
        overhead = None
        if job.status == "done" and all(isinstance(v, int | float) for v in (started, finished, work)):
            overhead = finished - started - work  # type: ignore[operator]  # numbers: checked just above
        calibration.record_run(key, costs, overhead, self.store.home)

    def _start_next(self, slot: _Slot) -> None:
        while self._queue:
            job_id = self.queue_order()[0]
            queued = self._queue.pop(job_id)
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
                self.store.finish(job_id, "failed", start_failure(exc))
                continue
            self.store.update(job_id, worker=worker)
            slot.job_id = job_id
            self._last_started[queued.owner] = time.time()
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
