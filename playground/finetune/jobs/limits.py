"""What one student may take of a class server: jobs at once, disk, minutes per job; and the teacher's queue pause.

A limit tied only to the owner cookie resets when a student drops the cookie (16 cookie-less sessions
once had 31 jobs accepted in 10 s). So every limit is checked twice, per owner (the browser's
secret) and per client address (the computer, which a new cookie does not change), and the address
limit is the floor that holds whatever cookies arrive. The numbers are class settings
(:class:`playground.classroom.ClassSettings`). Reads job folders through the store; no processes.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path

from playground._fileio import write_json_atomic
from playground._format import human_bytes
from playground.classroom import ClassSettings
from playground.finetune.jobs.store import Job, JobError, JobStore

__all__ = ["PAUSE_FILE", "check_submit", "folder_bytes", "over_time", "queue_paused", "set_queue_paused"]

PAUSE_FILE = "queue.paused"  # under the data directory: present while the teacher has paused the queue
_MB = 1_000_000


def folder_bytes(path: Path) -> int:
    """Disk a folder uses; a hard-linked file (a job's copy of its upload) counts 1/links of its size."""
    total = 0
    for dirpath, _dirs, files in os.walk(path, followlinks=False):
        for name in files:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue  # deleted meanwhile
            total += st.st_size // max(st.st_nlink, 1)
    return total


def _mine(jobs: Iterable[Job], owner: str | None, client: str | None) -> tuple[list[Job], list[Job]]:
    jobs = list(jobs)
    by_owner = [j for j in jobs if owner is not None and j.owner == owner]
    by_client = [j for j in jobs if client is not None and j.config.get("client") == client]
    return by_owner, by_client


def check_submit(store: JobStore, settings: ClassSettings, *, owner: str | None, client: str | None,
                 owner_limit: int | None = None) -> None:
    """Raise JobError, saying which limit and what to do, when ``owner`` (a browser) or ``client``
    (its address) may not queue one more job: jobs queued or running, or disk held by their jobs.
    ``owner_limit`` overrides the class setting (a manager made with a fixed limit)."""
    if owner is None and client is None:
        return  # a trusted local caller (the CLI, Python)
    jobs = store.list()
    active = [j for j in jobs if j.active]
    own_active, client_active = _mine(active, owner, client)
    limit = owner_limit if owner_limit is not None else settings.job_limit
    if owner is not None and len(own_active) >= limit:
        raise JobError(f"this browser already has {len(own_active)} job(s) queued or running (limit {limit}); "
                       "wait for one to finish or cancel it")
    if client is not None and len(client_active) >= settings.address_limit:
        raise JobError(f"this computer already has {len(client_active)} jobs queued or running (limit "
                       f"{settings.address_limit} per computer, whichever browser started them); wait for one "
                       "to finish or cancel it")
    quota = settings.disk_quota_mb * _MB
    own, by_client = _mine(jobs, owner, client)
    for held, who in ((own, "your jobs"), (by_client, "the jobs from this computer")):
        used = sum(folder_bytes(j.dir) for j in held)
        if used >= quota:
            raise JobError(f"{who} already hold {human_bytes(used)} on the server (limit {human_bytes(quota)} "
                           "per student); delete some finished jobs first")


def over_time(job: Job, settings: ClassSettings, now: float | None = None) -> bool:
    """Whether a running job has run longer than the class's minutes per job."""
    started = job.state.get("started")
    if job.status != "running" or not isinstance(started, int | float):
        return False
    now = time.time() if now is None else now
    return now - started > settings.max_job_minutes * 60


def queue_paused(home: Path) -> bool:
    """Whether the teacher paused the queue (running jobs go on; queued ones wait)."""
    return (home / PAUSE_FILE).exists()


def set_queue_paused(home: Path, paused: bool) -> None:
    """Pause the queue (a flag file in the data folder, so a restart keeps it) or resume it."""
    path = home / PAUSE_FILE
    if paused:
        write_json_atomic(path, {"paused_at": time.time()})
    else:
        path.unlink(missing_ok=True)
