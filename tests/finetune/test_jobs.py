"""Jobs: the on-disk store, the queue and its limits, real spawned workers (done, cancel,
killed, orphaned) and recovery after a restart."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from playground.finetune.config import TrainConfig
from playground.finetune.data import Dataset
from playground.finetune.jobs import manager as jobs
from playground.finetune.jobs import runner as runners
from playground.finetune.jobs.manager import JobManager
from playground.finetune.jobs.store import Job, JobError, JobStore
from playground.finetune.jobs.worker import submit_finetune
from tests.conftest import REPO
from tests.finetune_data import tiny_digits

TINY = TrainConfig(image_size=32, batch_size=4, epochs=2)
SLOW = TrainConfig(image_size=32, batch_size=2, epochs=200, strategy="full")  # runs until stopped


@pytest.fixture()
def tiny(tmp_path: Path) -> Dataset:
    return tiny_digits(tmp_path / "tiny", classes=2, per_class=6)


def _wait(manager: JobManager, job_id: str, until, timeout: float = 120.0) -> Job:
    deadline = time.monotonic() + timeout
    while True:
        job = manager.get(job_id)
        if until(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} stuck: {job.state}\n{job.log_file.read_text() if job.log_file.exists() else ''}")
        time.sleep(0.1)


def _training(job: Job) -> bool:
    return job.progress.get("global_step", 0) >= 1 or not job.active


# --------------------------------------------------------------------------- scheduling, with a fake runner


class FakeRunner:
    """Records starts; a test ends a worker by setting its exit code."""

    def __init__(self) -> None:
        self.started: list[tuple[str, int | None]] = []
        self.exits: dict[str, int | None] = {}
        self.terminated: list[str] = []

    def start(self, job_dir: Path, device: int | None) -> str:
        self.started.append((job_dir.name, device))
        return "fake"

    def poll(self) -> dict[str, int | None]:
        ended, self.exits = self.exits, {}
        return ended

    def terminate(self, job_id: str) -> None:
        self.terminated.append(job_id)

    def shutdown(self) -> None:
        pass


def _manager(**kw) -> tuple[JobManager, FakeRunner]:
    runner = FakeRunner()
    return JobManager(runner=runner, background=False, **kw), runner


def test_queue_runs_one_job_at_a_time_in_order() -> None:
    manager, runner = _manager(max_concurrent=1)
    a = manager.submit({"n": 1})
    b = manager.submit({"n": 2})
    assert (manager.get(a.id).status, manager.get(b.id).status) == ("running", "queued")
    assert manager.queue_position(b.id) == 1 and [s[0] for s in runner.started] == [a.id]
    manager.store.finish(a.id, "done", "ok")  # the worker records its result, then exits
    runner.exits[a.id] = 0
    manager.tick()
    assert manager.get(a.id).status == "done" and manager.get(b.id).status == "running"
    assert [s[0] for s in runner.started] == [a.id, b.id]


def test_per_session_limit() -> None:
    manager, _ = _manager(max_concurrent=1, per_session=2)
    manager.submit({}, session="s1")
    manager.submit({}, session="s1")
    with pytest.raises(JobError, match=r"already has 2 job\(s\) queued or running \(limit 2\)"):
        manager.submit({}, session="s1")
    manager.submit({}, session="s2")  # other sessions are not affected
    assert len(manager.list("s1")) == 2 and len(manager.list()) == 3


def test_a_worker_that_dies_fails_its_job_with_the_reason() -> None:
    manager, runner = _manager()
    job = manager.submit({})
    runner.exits[job.id] = -signal.SIGKILL
    manager.tick()
    state = manager.get(job.id).state
    assert state["state"] == "failed"
    assert state["message"].startswith("the worker process was killed by SIGKILL (often: the machine ran out of memory")
    job = manager.submit({})
    runner.exits[job.id] = 3
    manager.tick()
    assert "exited with status 3" in manager.get(job.id).state["message"]


def test_cancel_queued_at_once_running_by_flag_then_terminate(monkeypatch: pytest.MonkeyPatch) -> None:
    manager, runner = _manager(max_concurrent=1)
    a, b = manager.submit({}), manager.submit({})
    assert manager.cancel(b.id).status == "cancelled"
    assert manager.cancel(a.id).status == "running" and manager.store.cancel_requested(a.id)
    manager.tick()
    assert runner.terminated == []  # the worker gets its grace period to stop at a batch boundary
    monkeypatch.setattr(jobs, "CANCEL_GRACE_SECONDS", -1.0)
    manager.tick()
    assert runner.terminated == [a.id]
    runner.exits[a.id] = -signal.SIGTERM
    manager.tick()
    assert manager.get(a.id).status == "cancelled"
    assert manager.get(a.id).state["message"] == "stopped at your request; no model was saved"


def test_restart_requeues_queued_jobs_and_interrupts_running_ones() -> None:
    first, _ = _manager(max_concurrent=1)
    running, queued = first.submit({}), first.submit({})
    second, runner = _manager(max_concurrent=1)  # a new server process reading the same folder
    assert second.get(running.id).status == "interrupted"
    assert "server stopped" in second.get(running.id).state["message"]
    assert second.get(queued.id).status == "running" or second.queue_position(queued.id) == 1
    second.tick()
    assert [s[0] for s in runner.started] == [queued.id]


def test_restart_leaves_jobs_of_another_live_server_alone() -> None:
    manager, _ = _manager()
    job = manager.submit({})
    parent = runners.process_identity(os.getppid())  # a live process other than us
    manager.store.update(job.id, manager=parent)
    second, _ = _manager()
    assert second.get(job.id).status == "running"


def test_job_ids_from_urls_are_validated() -> None:
    store = JobStore()
    for bad in ("../etc", "20250101-120000-a1b2c3/../x", "", "x" * 30):
        with pytest.raises(JobError, match="is not a job id"):
            store.get(bad)
    with pytest.raises(JobError, match="no job 20250101-120000-a1b2c3"):
        store.get("20250101-120000-a1b2c3")


def test_process_identity() -> None:
    me = runners.process_identity(os.getpid())
    assert me and runners.alive(me)
    proc = subprocess.Popen(["true"])
    proc.wait()  # reaped: the pid names no process now
    assert runners.process_identity(proc.pid) is None
    assert not runners.alive(me.replace(me.rsplit(":", 1)[1], "1"))  # same pid, other start time


# --------------------------------------------------------------------------- real spawned workers


def test_spawned_job_runs_to_done_with_progress_and_artifacts(tiny: Dataset) -> None:
    manager = JobManager()
    try:
        job = submit_finetune(manager, tiny, TINY, session="s")
        assert json.loads(job.config_file.read_text())["dataset"]["classes"] == ["0", "1"]
        job = _wait(manager, job.id, lambda j: not j.active)
    finally:
        manager.shutdown()
    assert job.status == "done", job.state
    assert job.state["message"].startswith("validation accuracy")
    assert job.state["pid"] != os.getpid() and job.state["worker"]
    lines = manager.store.metrics(job.id)
    batches = [m for m in lines if m["event"] == "batch"]
    assert len(batches) == 2 * 3 and {"epoch", "step", "loss", "accuracy", "images_per_sec"} <= set(batches[0])
    assert [m["epoch"] for m in lines if m["event"] == "epoch"] == [1, 2]
    assert {p.name for p in job.artifacts.iterdir()} == {"model.safetensors", "meta.json", "README.md", "load_example.py"}
    results = manager.store.results(job.id)
    assert len(results["confusion"]) == 2 and results["val_images"] == 2
    from playground.models.registry import load_model

    assert load_model(f"job:{job.id}").categories == ["0", "1"]


def test_cancel_stops_a_running_job_within_a_batch(tiny: Dataset) -> None:
    manager = JobManager()
    try:
        job = submit_finetune(manager, tiny, SLOW)
        _wait(manager, job.id, _training)
        asked = time.time()
        manager.cancel(job.id)
        job = _wait(manager, job.id, lambda j: not j.active)
    finally:
        manager.shutdown()
    assert job.status == "cancelled"
    # The message says where it stopped (not just "cancelled" again): a training step of some epoch.
    assert re.fullmatch(r"stopped at your request in epoch \d+ of \d+, step \d+ of \d+; no model was saved",
                        job.state["message"]), job.state["message"]
    late = [m for m in manager.store.metrics(job.id) if m["event"] == "batch" and m["time"] > asked]
    assert len(late) <= 1  # at most the batch that was in flight
    assert not job.artifacts.exists()


def test_killed_worker_fails_its_job_and_a_restart_still_finds_it(tiny: Dataset) -> None:
    manager = JobManager()
    try:
        job = submit_finetune(manager, tiny, SLOW)
        pid = _wait(manager, job.id, _training).state["pid"]
        os.kill(pid, signal.SIGKILL)  # the worker dies mid-job
        job = _wait(manager, job.id, lambda j: not j.active)
    finally:
        manager.shutdown()
    assert job.status == "failed" and "killed by SIGKILL" in job.state["message"]
    restarted = JobManager(background=False)  # the server restarts
    again = restarted.get(job.id)
    assert again.status == "failed" and again.progress.get("global_step", 0) >= 1
    assert [j.id for j in restarted.list()] == [job.id]


def test_orphaned_worker_stops_itself(tiny: Dataset) -> None:
    """A worker whose parent (the server) is gone stops at its next check and says so."""
    store = JobStore()
    from playground.finetune.data import link_dataset
    from playground.finetune.jobs.worker import job_config

    job = store.create(job_config(SLOW, tiny.name, tiny.classes, len(tiny.items)),
                       lambda created: link_dataset(tiny, created.data_dir))
    store.update(job.id, state="running")
    # The same command LocalRunner uses, with a parent pid that is not the real parent.
    proc = subprocess.run([sys.executable, "-m", "playground.finetune.jobs.worker", str(job.dir), "--parent", "1"],
                          cwd=REPO, timeout=120, capture_output=True, text=True)
    state = store.get(job.id).state
    assert proc.returncode == 0 and state["state"] == "interrupted", (state, proc.stdout, proc.stderr)
