"""The job manager: queues fine-tuning jobs, runs them through a runner, watches the workers.

Job folders live in :class:`~playground.finetune.jobs.store.JobStore`; a
:class:`~playground.finetune.jobs.runner.Runner` executes them (local worker processes by
default; :mod:`~playground.finetune.jobs.runners` picks one). :class:`JobManager` enforces the
concurrency limit, the per-owner and per-computer limits and disk quotas
(:mod:`~playground.finetune.jobs.limits`), a bound on the whole queue, the class's minutes per job
and the teacher's pause; starts jobs fairly across owners (:mod:`~playground.finetune.jobs.schedule`),
lets only a job's owner or the teacher cancel, delete or download it (a
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

from playground.classroom import ClassSettings, Viewer, class_mode, load_settings
from playground.finetune.jobs.datalock import hold_data_folder
from playground.finetune.jobs.limits import check_submit, over_time, queue_paused
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
from playground.finetune.jobs.timing import remember_timing
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
SETTINGS_SECONDS = 5.0  # how often the loop rereads the class settings (the time limit) from disk
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
        self._settings: tuple[float, ClassSettings] | None = None  # (when read, what) for the time limit
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

    def settings(self) -> ClassSettings:
        """The class settings in force (reread from disk at most every SETTINGS_SECONDS)."""
        now = time.monotonic()
        if self._settings is None or now - self._settings[0] > SETTINGS_SECONDS:
            self._settings = (now, load_settings(self.store.home))
        return self._settings[1]

    def submit(self, config: dict[str, Any], *, owner: str | None = None, owner_name: str | None = None,
               session: str | None = None, client: str | None = None,
               prepare: Callable[[Job], object] | None = None) -> Job:
        """Queue a job (``config`` as :func:`playground.finetune.jobs.submit.job_config` makes it).

        ``owner`` is the starter's owner id (:func:`playground.classroom.owner_id`; ``session`` is its
        older name), ``owner_name`` the name they chose for the teacher's list, ``client`` the address
        of their computer (:mod:`~playground.finetune.jobs.limits`: a new cookie does not reset it).
        ``prepare(job)`` runs before the job is queued (it puts the data in place). Raises JobError when
        the owner or the address already has its limit of jobs or of disk, or the server's queue is full.
        """
        owner = owner if owner is not None else session
        with self._lock:
            check_submit(self.store, load_settings(self.store.home), owner=owner, client=client,
                         owner_limit=self.per_owner)
            if len(self._queue) >= self.queue_limit:
                raise JobError(
                    f"the queue is full: {len(self._queue)} jobs are waiting on this server (at most "
                    f"{self.queue_limit}); try again in a few minutes, when some have finished"
                )
            extra: dict[str, Any] = {"owner": owner}
            if owner_name is not None:
                extra["owner_name"] = owner_name
            if client is not None:
                extra["client"] = client  # the teacher sees it; the per-computer limit counts it
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
            who = "" if by is None else ("owner" if by.owns(job.config) or not by.classroom else "teacher")
            self._stop_job(job, who)
        return self.store.get(job_id)

    def _stop_job(self, job: Job, by: str) -> None:
        """Cancel a queued job, or flag a running one (``by``: who asked, for its final message)."""
        if job.status == "queued":
            self._queue.pop(job.id, None)
            self.store.finish(job.id, "cancelled", CANCELLED_QUEUED_MESSAGE)
        elif job.status == "running":
            self.store.request_cancel(job.id, by)
            slot = next((s for s in self._slots if s.job_id == job.id), None)
            if slot is None and not self._worker_elsewhere(job):
                # No worker of ours and no live server running it (e.g. its state write failed on a
                # full disk): nothing will ever record the end, so record it now.
                self.store.finish(job.id, "cancelled", self._cancelled(job.id))
            elif slot is not None and slot.cancel_at is None:
                slot.cancel_at = time.time()

    def _worker_elsewhere(self, job: Job) -> bool:
        """Whether another live server process runs ``job`` (so its end is that process's to record)."""
        owner = job.state.get("manager")
        try:
            return isinstance(owner, str) and owner != self.identity and alive(owner)
        except (ValueError, IndexError):  # not an identity this code wrote: nobody we can find runs it
            return False

    def cancel_all(self, *, owner: str | None = None, client: str | None = None, by: Viewer | None = None) -> int:
        """Cancel every queued or running job of ``owner`` or from ``client`` (the teacher's "cancel
        everything from this student"); returns how many. JobError unless ``by`` is the teacher."""
        if by is not None and by.classroom and not by.teacher:
            raise JobError("only the teacher can cancel another student's jobs")
        count = 0
        with self._lock:
            for job in self.store.list():
                mine = (owner is not None and job.owner == owner) or \
                       (client is not None and job.config.get("client") == client)
                if job.active and mine:
                    self._stop_job(job, "teacher" if by is not None else "")
                    count += 1
        return count

    def force_fail(self, job_id: str, *, by: Viewer | None = None) -> Job:
        """Mark a stuck job failed now (its worker, if any, is terminated): for a job left "running"
        that nothing will end. JobError unless ``by`` is the teacher (or a trusted local caller)."""
        if by is not None and by.classroom and not by.teacher:
            raise JobError("only the teacher can mark a job failed")
        with self._lock:
            self.store.get(job_id)  # JobError for an unknown id
            for slot in self._slots:
                if slot.job_id == job_id:
                    self.runner.terminate(job_id)
                    slot.job_id, slot.cancel_at = None, None
            self._queue.pop(job_id, None)
            self.store.finish(job_id, "failed", "marked failed by the teacher (it was stuck)")
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
                remember_timing(self.store, job_id)
            self._enforce_time_limit()
            for slot in self._slots:
                if slot.job_id and slot.cancel_at and time.time() - slot.cancel_at > CANCEL_GRACE_SECONDS:
                    self.runner.terminate(slot.job_id)
            if queue_paused(self.store.home):  # the teacher paused it: running jobs go on, none start
                return
            for slot in self._slots:
                if slot.job_id is None:
                    self._start_next(slot)

    def _enforce_time_limit(self) -> None:
        """Stop a running job past the class's minutes per job (it keeps its best epoch, as on Cancel)."""
        busy = [s for s in self._slots if s.job_id and s.cancel_at is None]
        if not busy or not class_mode():  # one's own machine: a run may take as long as it takes
            return
        settings = self.settings()
        for slot in busy:
            try:
                job = self.store.get(slot.job_id or "")
            except JobError:
                continue
            if over_time(job, settings):
                self.store.request_cancel(job.id, f"time limit {settings.max_job_minutes}")
                slot.cancel_at = time.time()

    def _cancelled(self, job_id: str) -> str:
        """The message of a cancelled job whose worker ended without recording it (e.g. terminated)."""
        try:
            progress = self.store.get(job_id).progress
        except JobError:
            progress = {}
        return cancel_message(progress, self.store.results(job_id),
                              model_kept=self.store.folder(job_id).artifacts.is_dir(), by=self.store.cancel_by(job_id))

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
    returns the same manager, so running workers are never orphaned by it. The first call takes the
    data folder's server lock (:mod:`~playground.finetune.jobs.datalock`): JobError when another
    server process already serves that folder.
    """
    key = Path(home or home_dir()).resolve()
    with _MANAGERS_LOCK:
        manager = _MANAGERS.get(key)
        if manager is None:
            hold_data_folder(key)  # JobError when another server process uses this data folder
            manager = _MANAGERS[key] = JobManager(key)
        return manager
