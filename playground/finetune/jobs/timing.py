"""What an ended job measured goes into this machine's calibration, so the next estimate of the same settings is closer.

Called by the manager when it reaps a worker. Reads the job's results.json; no torch at import time.
"""
from __future__ import annotations

from playground.finetune.jobs.store import JobError, JobStore

__all__ = ["remember_timing"]


def remember_timing(store: JobStore, job_id: str) -> None:
    """What an ended job measured, into this machine's calibration: the per-image costs of its
    settings, and its fixed seconds (wall time from start to finish, less the counted work)."""
    from playground.finetune import calibration
    from playground.finetune.eta import Costs

    try:
        job = store.get(job_id)
    except JobError:
        return
    timing = (store.results(job_id) or {}).get("timing")
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
    calibration.record_run(key, costs, overhead, store.home)
