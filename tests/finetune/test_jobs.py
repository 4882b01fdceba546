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
from playground.finetune.jobs.submit import submit_finetune
from tests.conftest import REPO
from tests.support.finetune_data import tiny_digits
from tests.support.job_support import FakeRunner

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
            log = job.log_file.read_text() if job.log_file.exists() else ""
            raise AssertionError(f"job {job_id} stuck: {job.state}\n{log}")
        time.sleep(0.1)


def _training(job: Job) -> bool:
    return job.progress.get("global_step", 0) >= 1 or not job.active


# --------------------------------------------------------------------------- scheduling, with a fake runner


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
    assert manager.get(a.id).state["message"] == ("stopped at your request while starting; no epoch had finished, "
                                                  "so no model was saved")


def test_a_worker_killed_after_keeping_a_model_is_cancelled_with_it() -> None:
    """A cancelled worker that saved its best epoch and was then killed: the model stays the job's."""
    manager, runner = _manager(max_concurrent=1)
    job = manager.submit({})
    manager.cancel(job.id)
    job.artifacts.mkdir()  # what the worker wrote before it was terminated
    runner.exits[job.id] = -signal.SIGTERM
    manager.tick()
    assert manager.get(job.id).state["message"] == ("stopped at your request while starting; the best epoch so "
                                                    "far was kept")
    assert manager.model_folder(job.id) == job.artifacts


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


def test_a_job_folder_is_read_into_typed_fields() -> None:
    """config.json stays as written; its training settings and dataset are read into a TrainConfig and a
    JobDataset. Settings that no longer parse (a model since removed) leave ``train`` None, and running
    the job says why; a damaged dataset gives empty fields."""
    from playground.finetune.config import TrainingError
    from playground.finetune.jobs.store import JobDataset
    from playground.finetune.jobs.submit import job_config

    store = JobStore()
    written = job_config(TINY, "digits", ["0", "1"], 12)
    job = store.get(store.create(dict(written, owner=A, owner_name="Ada")).id)
    assert job.train == TINY and job.dataset == JobDataset("digits", ("0", "1"), 12)
    assert (job.owner, job.owner_name) == (A, "Ada") and job.created is not None
    assert json.loads(job.config_file.read_text())["dataset"] == written["dataset"]  # the on-disk format
    old = store.get(store.create({"train": dict(TINY.to_dict(), model="gone"), "dataset": "?"}).id)
    assert old.train is None and old.dataset == JobDataset()
    with pytest.raises(TrainingError, match="unknown model 'gone'"):
        old.train_config()
    with pytest.raises(TrainingError, match="this job has no training settings"):
        store.get(store.create({}).id).train_config()


def test_process_identity() -> None:
    me = runners.process_identity(os.getpid())
    assert me and runners.alive(me)
    proc = subprocess.Popen(["true"])
    proc.wait()  # reaped: the pid names no process now
    assert runners.process_identity(proc.pid) is None
    assert not runners.alive(me.replace(me.rsplit(":", 1)[1], "1"))  # same pid, other start time


# --------------------------------------------------------------------------- real spawned workers


@pytest.mark.slow  # a real worker process training
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
    assert {p.name for p in job.artifacts.iterdir()} == {"model.safetensors", "meta.json", "README.md",
                                                         "load_example.py", "model.py"}
    readme = (job.artifacts / "README.md").read_text()  # written in the scratch folder, true after the rename
    assert f"--model job:{job.id}`" in readme and ".artifacts.tmp" not in readme
    results = manager.store.results(job.id)
    assert len(results["confusion"]) == 2 and results["val_images"] == 2
    from playground.catalog import load_model

    assert load_model(f"job:{job.id}").categories == ["0", "1"]
    # What it measured is remembered for the next estimate of these settings, with its fixed seconds.
    from playground.finetune import calibration

    key = results["timing"]["key"]
    assert key == "efficientnet_lite0|head|32px|b4|cpu|auto|features"
    deadline = time.monotonic() + 60  # the manager records it once it has reaped the worker
    while calibration.costs_for(key) is None:
        assert time.monotonic() < deadline, "the job's timing was never recorded"
        manager.tick()
        time.sleep(0.1)
    assert calibration.costs_for(key)[1] == "run"
    overhead, measured = calibration.overhead_seconds()
    wall = job.state["finished"] - job.state["started"]
    assert measured and 0 < overhead < wall


@pytest.mark.slow  # a real worker process training
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
    assert re.fullmatch(r"stopped at your request in epoch 1 of \d+, step \d+ of \d+; no epoch had finished, "
                        r"so no model was saved", job.state["message"]), job.state["message"]
    late = [m for m in manager.store.metrics(job.id) if m["event"] == "batch" and m["time"] > asked]
    assert len(late) <= 1  # at most the batch that was in flight
    assert not job.artifacts.exists()


@pytest.mark.slow  # a real worker process training
def test_a_cancelled_job_keeps_its_best_epoch_as_a_usable_model(tiny: Dataset) -> None:
    manager = JobManager()
    try:
        job = submit_finetune(manager, tiny, SLOW)
        _wait(manager, job.id, lambda j: j.progress.get("epochs_done", 0) >= 2 or not j.active)
        manager.cancel(job.id)
        job = _wait(manager, job.id, lambda j: not j.active)
    finally:
        manager.shutdown()
    assert job.status == "cancelled", job.state
    results = manager.store.results(job.id)
    epochs = [m for m in manager.store.metrics(job.id) if m["event"] == "epoch"]
    best = max(epochs, key=lambda e: (e["val_accuracy"], -e["val_loss"]))
    assert results["kept_epoch"] == best["epoch"] and results["val_accuracy"] == pytest.approx(best["val_accuracy"])
    assert results["epochs"] == best["epoch"] and results["stopped"]["epoch"] >= len(epochs)
    assert job.state["message"] == (f"stopped at your request in epoch {job.progress['epoch']} of 200, step "
                                    f"{job.progress['step']} of {job.progress['steps_per_epoch']}; kept the model of "
                                    f"epoch {best['epoch']} (the best so far: validation accuracy "
                                    f"{best['val_accuracy']:.1%})")
    from playground.catalog import load_model

    assert load_model(f"job:{job.id}").categories == ["0", "1"]  # what the Predict page loads
    assert manager.model_folder(job.id) == job.artifacts  # and what the download zips


@pytest.mark.slow  # a real worker process training
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


@pytest.mark.slow  # a real worker process training
def test_orphaned_worker_stops_itself(tiny: Dataset) -> None:
    """A worker whose parent (the server) is gone stops at its next check and says so."""
    store = JobStore()
    from playground.finetune.data import link_dataset
    from playground.finetune.jobs.submit import job_config

    job = store.create(job_config(SLOW, tiny.name, tiny.classes, len(tiny.items)),
                       lambda created: link_dataset(tiny, created.data_dir))
    store.update(job.id, state="running")
    # The same command LocalRunner uses, with a parent pid that is not the real parent.
    proc = subprocess.run([sys.executable, "-m", "playground.finetune.jobs.worker", str(job.dir), "--parent", "1"],
                          cwd=REPO, timeout=120, capture_output=True, text=True)
    state = store.get(job.id).state
    assert proc.returncode == 0 and state["state"] == "interrupted", (state, proc.stdout, proc.stderr)


# --------------------------------------------------------------------------- owners, fairness, limits


A, B, C = "a" * 64, "b" * 64, "c" * 64  # owner ids (sha256 hex of each browser's secret)


def test_fair_order_round_robins_over_three_owners() -> None:
    from playground.finetune.jobs.schedule import Queued, fair_order

    # A queued three jobs first, then B two, then C one: A cannot make the others wait behind all of hers.
    queued = [Queued("a1", A, 1.0), Queued("a2", A, 2.0), Queued("a3", A, 3.0),
              Queued("b1", B, 4.0), Queued("b2", B, 5.0), Queued("c1", C, 6.0)]
    assert fair_order(queued) == ["a1", "b1", "c1", "a2", "b2", "a3"]
    # A job of A's just started (she was served last): her next ones wait for B's and C's first,
    # then the turns go on; B, served before A, comes before her in the second round.
    assert fair_order(queued[1:], {A: 100.0, B: 50.0}) == ["c1", "b1", "a2", "b2", "a3"]
    assert fair_order(queued[1:], {A: 100.0}) == ["b1", "c1", "a2", "b2", "a3"]


def test_the_manager_starts_jobs_round_robin_over_owners() -> None:
    manager, runner = _manager(max_concurrent=1, per_owner=5)
    first = manager.submit({}, owner=A)  # runs at once
    a2, a3 = manager.submit({}, owner=A), manager.submit({}, owner=A)
    b1, c1 = manager.submit({}, owner=B), manager.submit({}, owner=C)
    assert manager.queue_order() == [b1.id, c1.id, a2.id, a3.id]
    assert manager.queue_position(c1.id) == 2 and manager.queue_position(first.id) is None
    started = []
    for _ in range(4):
        running = runner.started[-1][0]
        manager.store.finish(running, "done", "ok")
        runner.exits[running] = 0
        manager.tick()
        started.append(runner.started[-1][0])
    assert started == [b1.id, c1.id, a2.id, a3.id]


def test_per_owner_limit_comes_from_the_class_settings(_playground_home: Path) -> None:
    from playground.classroom import ClassSettings, save_settings

    manager, _ = _manager(max_concurrent=1)
    manager.submit({}, owner=A)
    manager.submit({}, owner=A)
    with pytest.raises(JobError, match=r"^this browser already has 2 job\(s\) queued or running \(limit 2\); "
                                       "wait for one to finish or cancel it$"):
        manager.submit({}, owner=A)
    save_settings(ClassSettings(job_limit=3), _playground_home)  # the teacher raises it: no restart needed
    manager.submit({}, owner=A)
    with pytest.raises(JobError, match=r"limit 3"):
        manager.submit({}, owner=A)
    # The limit follows the owner id, so a reload (a new session with the same cookie) changes nothing,
    # and a new manager (a server restart) still counts her jobs from disk: the running one was
    # interrupted by the restart, the two queued ones still count.
    again, _ = _manager(max_concurrent=1)
    assert sorted(j.status for j in again.list(A)) == ["interrupted", "queued", "queued"]
    again.submit({}, owner=A)
    with pytest.raises(JobError, match=r"already has 3 job\(s\)"):
        again.submit({}, owner=A)
    assert len(again.list(A)) == 4 and again.list(B) == []


def test_the_whole_queue_is_bounded() -> None:
    manager, _ = _manager(max_concurrent=1, per_owner=10, queue_limit=3)
    for owner in (A, A, B, C):  # the first runs; three wait
        manager.submit({}, owner=owner)
    with pytest.raises(JobError, match=r"^the queue is full: 3 jobs are waiting on this server \(at most 3\); "
                                       "try again in a few minutes, when some have finished$"):
        manager.submit({}, owner="d" * 64)


def test_only_the_owner_or_the_teacher_can_cancel_delete_or_download(tmp_path: Path) -> None:
    from playground.classroom import Viewer

    manager, _ = _manager(max_concurrent=1)
    running = manager.submit({}, owner=A, owner_name="Ada")
    queued = manager.submit({}, owner=A)
    assert manager.get(running.id).config["owner_name"] == "Ada"
    student_b = Viewer(owner=B, classroom=True)
    for call, action in ((manager.cancel, "cancel"), (manager.delete, "delete"),
                         (manager.model_folder, "download the model of")):
        with pytest.raises(JobError, match=f"job {running.id} was started by someone else: only they or the "
                                           f"teacher can {action} it"):
            call(running.id, by=student_b)
    assert manager.get(running.id).status == "running" and not manager.store.cancel_requested(running.id)
    assert manager.cancel(queued.id, by=Viewer(owner=A, classroom=True)).status == "cancelled"  # her own
    assert manager.cancel(running.id, by=Viewer(owner=C, teacher=True, classroom=True)).status == "running"
    assert manager.store.cancel_requested(running.id)  # the teacher's cancel reached the worker's flag
    with pytest.raises(JobError, match="has no model to download"):
        manager.model_folder(queued.id, by=Viewer(owner=A, classroom=True))
    manager.delete(queued.id, by=Viewer(owner=A, classroom=True))
    assert not queued.dir.exists() and [j.id for j in manager.list()] == [running.id]
    with pytest.raises(JobError, match="is running: cancel it first"):
        manager.delete(running.id)


def test_a_restarted_server_runs_a_queued_job_without_anyone_asking() -> None:
    """What app.py relies on: the manager it creates at start-up picks queued jobs up on its own thread."""
    first, _ = _manager(max_concurrent=1)
    first.submit({}, owner=A)
    waiting = first.submit({}, owner=B)
    assert first.get(waiting.id).status == "queued"
    runner = FakeRunner()
    second = JobManager(runner=runner, max_concurrent=1)  # background thread on, nobody calls submit or tick
    try:
        _wait(second, waiting.id, lambda j: j.status == "running", timeout=30)
    finally:
        second.shutdown()
    assert [s[0] for s in runner.started] == [waiting.id]
