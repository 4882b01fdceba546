"""The Ray runner: each job is one Ray task, on a cluster the server joins or starts and owns.

:class:`RayRunner` implements the same methods as
:class:`~playground.finetune.jobs.runner.LocalRunner`. It submits a job folder's inputs with
the task (:mod:`~playground.finetune.jobs.ray_task` runs it on a Ray worker, no shared
filesystem assumed), and at every poll drains the relay actor the tasks report to, writing their
metrics lines and progress into each job's own folder, so live curves, cancel, results and the
Predict page work unchanged. A cancel flag is relayed to the task within a poll or two; a task
that ignores it is killed with ``ray.cancel(force=True)``. A dead worker, node or cluster ends
the job as failed or interrupted, with the reason (worded by :mod:`~playground.finetune.jobs.outcome`).

Resources: a job asks for :data:`~playground.finetune.jobs.ray_task.CPUS_PER_JOB` CPU and, on a
cluster with GPUs, a whole GPU (last-block, full) or :data:`HEAD_GPU_FRACTION` of one (head), so
several head jobs share a GPU; the manager's slots come from the cluster's resources. The
playground code reaches the workers through ``runtime_env`` ``py_modules``; each node needs
Python, ray, torch, torchvision, pillow, numpy, safetensors and the weights package.
``ray`` is imported only when this runner is used.
"""
from __future__ import annotations

import atexit
import contextlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playground.finetune.config import TrainConfig
from playground.finetune.jobs.outcome import (
    INTERRUPTED_MESSAGE,
    cancel_message,
    describe_error,
    ray_failure,
    ray_lost,
)
from playground.finetune.jobs.ray_cluster import RayUnavailable, import_ray, init_ray, start_reaper
from playground.finetune.jobs.ray_task import CPUS_PER_JOB, RPC_SECONDS, Relay, pack_inputs, run_task, unpack_outputs
from playground.finetune.jobs.store import JobStore

__all__ = [
    "RayRunner",
    "RayUnavailable",
    "job_resources",
    "runtime_env",
    "HEAD_GPU_FRACTION",
    "RAY_CANCEL_GRACE_SECONDS",
    "LOCAL_OBJECT_STORE_BYTES",
]

HEAD_GPU_FRACTION = 0.25  # a head job trains one Linear layer: four of them share a GPU
# After the cancel is relayed, how long the task gets to stop at a batch boundary before
# ray.cancel(force=True) kills its worker (the cancel flag is seen within a batch, normally).
RAY_CANCEL_GRACE_SECONDS = 10.0
# Object store of a cluster this process starts: jobs ship their data and models through it,
# so it needs room for a few datasets, not Ray's default of 30% of the machine's memory.
LOCAL_OBJECT_STORE_BYTES = 512 * 2**20
_PACKAGE_DIR = Path(__file__).resolve().parents[2]  # playground/, shipped as a py_module
_EXCLUDES = ["__pycache__", "*.pyc", ".mypy_cache", ".ruff_cache", ".pytest_cache"]
_ALL_DONE = 0
_NOT_DONE = 1  # poll's "exit code" for a job that did not finish (its state says why)


def runtime_env() -> dict[str, Any]:
    """What ``ray.init`` needs so the cluster's workers can import playground: the package folder
    as a py_module (Ray uploads it once per connection; caches excluded). Ray accepts a local
    folder only for the whole connection, not per task, so a process that calls ``ray.init``
    itself before using :class:`RayRunner` passes this."""
    return {"py_modules": [str(_PACKAGE_DIR)], "excludes": list(_EXCLUDES)}


def job_resources(train: TrainConfig | None, cluster_gpus: float, cpus: float = CPUS_PER_JOB) -> dict[str, float]:
    """What a job with settings ``train`` asks Ray for: CPUs, and on a cluster with GPUs a GPU or (head jobs)
    a share of one. A job without usable settings (None) asks for a whole GPU; it fails on its worker."""
    gpus = 0.0
    if cluster_gpus > 0 and (train is None or train.device != "cpu"):
        gpus = HEAD_GPU_FRACTION if train is not None and train.strategy == "head" else 1.0
    return {"num_cpus": cpus, "num_gpus": gpus}

# --------------------------------------------------------------------------- the driver side


@dataclass
class _RayJob:
    dir: Path  # the job's folder (on the server's disk)
    ref: Any  # the task's ObjectRef
    cancel_sent: float | None = None
    forced: bool = False
    phase: str | None = None

    @property
    def store(self) -> JobStore:
        return JobStore.of(self.dir)[0]

    @property
    def id(self) -> str:
        return self.dir.name



class RayRunner:
    """Runs each job as one Ray task (``max_retries=0``), behind the same methods as LocalRunner.

    ``address``: a running cluster (default: ``RAY_ADDRESS``); without one, a local cluster is
    started that this process owns and stops at exit (or :meth:`shutdown`). If Ray is already
    initialised in this process, that connection is used and left running. ``on_event(job_id, event)``
    sees every metrics line and phase change as it arrives (the CLI prints them).
    """

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None,
                 cpus_per_job: float = CPUS_PER_JOB,
                 on_event: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        ray = import_ray()
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.cpus_per_job, self.on_event = cpus_per_job, on_event
        self.owns_cluster = False
        if not ray.is_initialized():
            self.owns_cluster = self.address is None
            init_ray(dict(address=self.address, num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                           runtime_env=runtime_env(),
                           object_store_memory=LOCAL_OBJECT_STORE_BYTES if self.owns_cluster else None))
        self._reaper = start_reaper() if self.owns_cluster else None
        self._jobs: dict[str, _RayJob] = {}
        self._relay: Any = None
        self._task = ray.remote(run_task)
        self._lock = threading.RLock()
        atexit.register(self.shutdown)  # after ray.init: atexit runs it before Ray's own shutdown

    # -- what the cluster offers

    def resources(self) -> dict[str, float]:
        """The cluster's total CPUs and GPUs."""
        total = import_ray().cluster_resources()
        return {"CPU": float(total.get("CPU", 0)), "GPU": float(total.get("GPU", 0))}

    def slots(self) -> tuple[int, list[int | None]]:
        """(jobs at once, device per slot) for the manager: as many jobs as the cluster has room for
        (CPUs per job; on GPUs, head jobs' shares). Ray places them, so no slot names a device."""
        res = self.resources()
        count = int(res["CPU"] // self.cpus_per_job)
        if res["GPU"]:
            count = min(count, int(res["GPU"] / HEAD_GPU_FRACTION))
        count = max(1, count)
        return count, [None] * count

    def describe(self) -> str:
        """One line: where jobs run and what the cluster has."""
        res = self.resources()
        where = "Ray, a local cluster started by this process" if self.owns_cluster else \
            f"Ray, the cluster at {self.address or 'the address this process joined'}"
        return f"{where}: {res['CPU']:g} CPUs, {res['GPU']:g} GPUs"

    # -- the Runner methods

    def start(self, job_dir: Path, device: int | None) -> str:
        """Submit the job in ``job_dir`` as a Ray task (``device`` is ignored: Ray assigns GPUs)."""
        store, job_id = JobStore.of(job_dir)
        job = store.get(job_id)
        ask = job_resources(job.train, self.resources()["GPU"], self.cpus_per_job)
        with self._lock:
            task = self._task.options(max_retries=0, name=f"playground-job-{job_id}", **ask)
            ref = task.remote(job_id, pack_inputs(job), self._relay_actor())
            self._jobs[job_id] = _RayJob(Path(job_dir), ref)
        needs = f"{ask['num_cpus']:g} CPU" + (f" and {ask['num_gpus']:g} GPU" if ask["num_gpus"] else "")
        store.update(job_id, message=f"waiting for the Ray cluster (needs {needs})")
        with open(job.log_file, "a") as log:
            log.write(f"submitted to Ray as task {ref.task_id().hex()} (needs {needs})\n")
        return f"ray-task:{ref.task_id().hex()}"

    def poll(self) -> dict[str, int | None]:
        """Write what the tasks reported into their job folders; relay cancels; return ended jobs."""
        ray = import_ray()
        with self._lock:
            if not self._jobs:
                return {}
            by_ref = {job.ref: job for job in self._jobs.values()}
            try:
                ready, _ = ray.wait(list(by_ref), num_returns=len(by_ref), timeout=0)
                # Drained after the wait: whatever a finished task pushed before returning is in here.
                news = ray.get(self._relay.drain.remote(), timeout=RPC_SECONDS)
            except Exception as exc:
                return self._lost(exc)
            for job_id, box in news.items():
                if job_id in self._jobs:
                    self._record(self._jobs[job_id], box)
            for job in self._jobs.values():
                self._relay_cancel(job)
            ended: dict[str, int | None] = {}
            for ref in ready:
                job = by_ref[ref]
                ended[job.id] = self._finish(job)
                del self._jobs[job.id]
                self._relay.forget.remote(job.id)
            return ended

    def terminate(self, job_id: str) -> None:
        """Kill the job's Ray worker now (``ray.cancel(force=True)``)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None and not job.forced:
                job.forced = True
                import_ray().cancel(job.ref, force=True)

    def shutdown(self) -> None:
        """Stop every task (their jobs become interrupted); stop the cluster if this process started it."""
        ray = import_ray()
        with self._lock:
            for job in self._jobs.values():
                job.store.finish(job.id, "interrupted", INTERRUPTED_MESSAGE)
                with contextlib.suppress(Exception):  # the cluster may be gone already
                    ray.cancel(job.ref, force=True)
            self._jobs.clear()
            self._relay = None
            if self.owns_cluster and ray.is_initialized():
                ray.shutdown()
            self.owns_cluster = False
            if self._reaper is not None:  # a clean stop: nothing left for it to do
                self._reaper.kill()
                self._reaper.wait()
                self._reaper = None

    # -- internals

    def _relay_actor(self) -> Any:
        if self._relay is None:
            actor = import_ray().remote(Relay).options(num_cpus=0, max_restarts=0)
            self._relay = actor.remote()
        return self._relay

    def _record(self, job: _RayJob, box: dict[str, Any]) -> None:
        """Append a task's new metrics lines to the job's folder and merge its progress into state.json."""
        store = job.store
        hello = box.get("hello")
        if hello:
            store.update(job.id, pid=hello["pid"], ray_node=hello["node"], gpus=hello["gpus"],
                         message=f"loading on Ray node {hello['node']}")
        lines = box.get("lines") or []
        if lines:
            with open(store.folder(job.id).metrics_file, "a") as f:
                f.write("".join(line + "\n" for line in lines))
        state = box.get("state") or {}
        if state.get("progress"):
            store.update(job.id, progress=state["progress"], message=state.get("message", "running"))
        if self.on_event is not None:
            self._tell(job, lines, state.get("progress") or {})

    def _tell(self, job: _RayJob, lines: list[str], progress: dict[str, Any]) -> None:
        assert self.on_event is not None
        phase = progress.get("phase")
        if phase and phase != job.phase:
            job.phase = phase
            self.on_event(job.id, {"event": "phase", "phase": phase, "done": progress.get("phase_done"),
                                   "total": progress.get("phase_total")})
        for line in lines:
            self.on_event(job.id, json.loads(line))

    def _relay_cancel(self, job: _RayJob) -> None:
        """The job's cancel flag goes to its task; a task that does not stop in time is killed."""
        if job.cancel_sent is None:
            if job.store.cancel_requested(job.id):
                job.cancel_sent = time.monotonic()
                self._relay.cancel.remote(job.id)
        elif not job.forced and time.monotonic() - job.cancel_sent > RAY_CANCEL_GRACE_SECONDS:
            job.forced = True
            import_ray().cancel(job.ref, force=True)

    def _finish(self, job: _RayJob) -> int:
        """Record how an ended task went: its model and results, or why it stopped."""
        ray = import_ray()
        store = job.store
        running = frozenset({"running"})
        try:
            outcome = ray.get(job.ref, timeout=RPC_SECONDS)
        except Exception as exc:
            status, reason = self._failure(job, exc)
            with open(store.folder(job.id).log_file, "a") as log:
                log.write(f"Ray: {describe_error(exc)}\n")
            store.finish(job.id, status, reason, only_from=running)
            return _NOT_DONE
        with open(store.folder(job.id).log_file, "a") as log:
            log.write(outcome.get("log", ""))
        status = outcome["status"]
        if outcome.get("outputs"):  # done, or cancelled with its best epoch kept
            unpack_outputs(store.folder(job.id), outcome["outputs"])
        if status == "cancelled":
            outcome["message"] = cancel_message(store.get(job.id).progress, store.results(job.id),
                                                by=store.cancel_by(job.id))
        store.finish(job.id, status, outcome["message"], only_from=running)
        return _ALL_DONE if status == "done" else _NOT_DONE

    def _failure(self, job: _RayJob, exc: Exception) -> tuple[str, str]:
        """(final state, reason) for a task that raised instead of returning."""
        if job.store.cancel_requested(job.id) and (job.forced or type(exc).__name__ == "TaskCancelledError"):
            return "cancelled", cancel_message(job.store.get(job.id).progress, by=job.store.cancel_by(job.id))
        return ray_failure(exc)

    def _lost(self, exc: Exception) -> dict[str, int | None]:
        """The cluster (or the relay) stopped answering: every job this runner ran is over."""
        reason = ray_lost(exc)
        ended: dict[str, int | None] = {}
        for job in self._jobs.values():
            job.store.finish(job.id, "interrupted", reason, only_from=frozenset({"running"}))
            ended[job.id] = _NOT_DONE
        self._jobs.clear()
        self._relay = None
        return ended
