"""What one student may take of a class server: limits that a new cookie does not reset, disk quotas,
the time limit per job, the teacher's pause and "cancel everything", who stopped a job, and a job
whose files cannot be written (a full disk) or read (malformed) never hangs or breaks anything."""
from __future__ import annotations

import errno
import json
import signal
import time
from pathlib import Path

import pytest

from playground import classroom as cr
from playground.classroom import ClassSettings, Viewer
from playground.finetune.jobs import store as store_module
from playground.finetune.jobs.limits import set_queue_paused
from playground.finetune.jobs.manager import JobManager
from playground.finetune.jobs.store import JobError, JobStore
from tests.support.job_support import FakeRunner, job_settings

ADDRESS = "10.0.0.7"


@pytest.fixture()
def classroom(monkeypatch: pytest.MonkeyPatch, _playground_home: Path) -> Path:
    """A class server (a passcode set) with the default class settings."""
    monkeypatch.setenv(cr.PASSCODE_ENV, "pw")
    return _playground_home


def _manager(**kw) -> tuple[JobManager, FakeRunner]:
    runner = FakeRunner()
    return JobManager(runner=runner, background=False, max_concurrent=1, **kw), runner


def test_sixteen_cookieless_sessions_cannot_exceed_the_per_computer_limit(classroom: Path) -> None:
    """Each session without a cookie is a new owner; the address they share is the floor that holds."""
    manager, _ = _manager()
    accepted, refusals = 0, []
    for _ in range(16):
        owner = cr.owner_id(cr.new_owner_secret())  # a dropped cookie: a fresh secret every time
        try:
            manager.submit(job_settings(), owner=owner, owner_name="x", client=ADDRESS)
            accepted += 1
        except JobError as exc:
            refusals.append(str(exc))
    limit = ClassSettings().address_limit
    assert accepted == limit and len(refusals) == 16 - limit
    assert refusals[0] == (f"this computer already has {limit} jobs queued or running (limit {limit} per computer, "
                           "whichever browser started them); wait for one to finish or cancel it")
    assert json.loads(manager.list()[0].config_file.read_text())["client"] == ADDRESS  # the teacher sees it
    # Another computer is not held up by it.
    manager.submit(job_settings(), owner=cr.owner_id(cr.new_owner_secret()), client="10.0.0.8")


def test_a_students_jobs_have_a_disk_quota(classroom: Path) -> None:
    cr.save_settings(ClassSettings(disk_quota_mb=10), classroom)
    manager, runner = _manager()
    job = manager.submit(job_settings(), owner="a" * 64, client=ADDRESS)
    (job.dir / "big.bin").write_bytes(bytes(11_000_000))
    manager.cancel(job.id)
    runner.exits[job.id] = -signal.SIGTERM
    manager.tick()  # not active any more: only its disk counts now
    with pytest.raises(JobError, match=r"your jobs already hold 11 MB on the server \(limit 10 MB per "
                                       r"student\); delete some finished jobs first"):
        manager.submit(job_settings(), owner="a" * 64, client="10.0.0.9")
    with pytest.raises(JobError, match="the jobs from this computer already hold"):
        manager.submit(job_settings(), owner="b" * 64, client=ADDRESS)
    manager.delete(job.id)
    manager.submit(job_settings(), owner="a" * 64, client=ADDRESS)


def test_a_job_past_the_time_limit_is_stopped_and_says_why(classroom: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    cr.save_settings(ClassSettings(max_job_minutes=5), classroom)
    manager, runner = _manager()
    job = manager.submit(job_settings(), owner="a" * 64, client=ADDRESS)
    assert manager.get(job.id).status == "running"
    manager.tick()
    assert not manager.store.cancel_requested(job.id)  # within its 5 minutes
    manager.store.update(job.id, started=time.time() - 5 * 60 - 1)
    manager.tick()
    assert manager.store.cancel_by(job.id) == "time limit 5"
    runner.exits[job.id] = -signal.SIGTERM  # the worker stopped at its next batch (here: was terminated)
    manager.tick()
    done = manager.get(job.id)
    assert done.status == "cancelled"
    assert done.state["message"].startswith("stopped by the server: it ran longer than the class's limit of 5 min "
                                            "per job while starting")


def test_a_single_user_install_has_no_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cr.PASSCODE_ENV, raising=False)
    manager, _ = _manager()
    job = manager.submit(job_settings())
    manager.store.update(job.id, started=time.time() - 30 * 86400)  # a long run on one's own machine
    manager.tick()
    assert not manager.store.cancel_requested(job.id)


def test_cancel_messages_say_who_stopped_the_job(classroom: Path) -> None:
    manager, runner = _manager()
    owner = "a" * 64
    by_owner = manager.submit(job_settings(), owner=owner, client=ADDRESS)
    manager.cancel(by_owner.id, by=Viewer(owner=owner, classroom=True))
    runner.exits[by_owner.id] = -signal.SIGTERM
    manager.tick()
    assert manager.get(by_owner.id).state["message"].startswith("stopped by its owner while starting")
    by_teacher = manager.submit(job_settings(), owner=owner)
    manager.tick()
    manager.cancel(by_teacher.id, by=Viewer(owner="t" * 64, teacher=True, classroom=True))
    runner.exits[by_teacher.id] = -signal.SIGTERM
    manager.tick()
    message = manager.get(by_teacher.id).state["message"]
    assert message.startswith("stopped by the teacher") and "your request" not in message


def test_the_teacher_pauses_the_queue_and_cancels_everything_from_a_student(classroom: Path) -> None:
    manager, runner = _manager()
    teacher, student = Viewer(owner="t" * 64, teacher=True, classroom=True), Viewer(owner="s" * 64, classroom=True)
    set_queue_paused(classroom, True)
    first = manager.submit(job_settings(), owner="s" * 64, client=ADDRESS)
    assert manager.get(first.id).status == "queued" and runner.started == []  # paused: nothing starts
    set_queue_paused(classroom, False)
    manager.tick()
    assert manager.get(first.id).status == "running"
    second = manager.submit(job_settings(), owner="s" * 64, client=ADDRESS)
    other = manager.submit(job_settings(), owner="o" * 64, client="10.0.0.8")
    with pytest.raises(JobError, match="only the teacher can cancel another student's jobs"):
        manager.cancel_all(owner="o" * 64, by=student)
    assert manager.cancel_all(owner="s" * 64, by=teacher) == 2
    assert manager.get(second.id).status == "cancelled" and manager.store.cancel_by(first.id) == "teacher"
    assert manager.get(other.id).status == "queued"  # another student's job is untouched
    assert manager.cancel_all(client="10.0.0.8", by=teacher) == 1 and manager.get(other.id).status == "cancelled"


def test_a_full_disk_still_ends_the_job_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    """A write failing with ENOSPC: the final state is still recorded (over the old file's bytes), so the
    job is not "running" forever; no temporary file is left behind."""
    manager, runner = _manager()
    job = manager.submit(job_settings())
    assert manager.get(job.id).status == "running"

    def full(path: Path, data: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module, "write_json_atomic", full)
    with pytest.raises(OSError):  # progress updates fail loudly (the worker then fails the job)...
        manager.store.update(job.id, progress={"phase": "training"})
    runner.exits[job.id] = 1  # ...and its worker exits
    manager.tick()
    ended = manager.get(job.id)
    assert ended.status == "failed" and "exited with status 1" in ended.state["message"]
    monkeypatch.undo()
    from playground._fileio import write_json_atomic

    target = job.dir / "x.json"

    def no_space(self: Path, text: str) -> int:
        self.touch()  # the file exists, its content never arrives: what a full disk does
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", no_space)
    with pytest.raises(OSError):
        write_json_atomic(target, {"a": 1})
    assert not [p.name for p in job.dir.iterdir() if p.name.endswith(".tmp")]


def test_the_worker_names_a_full_disk() -> None:
    from playground.finetune.jobs.outcome import describe_error

    assert describe_error(OSError(errno.ENOSPC, "No space left on device")).startswith("the server's disk is full")


def test_a_stuck_running_job_can_be_cancelled_or_marked_failed(classroom: Path) -> None:
    """A job left "running" by a process that is gone (e.g. its state write failed): Cancel ends it at
    once, and the teacher can mark one failed; then it can be deleted and no longer counts."""
    manager, _ = _manager()
    store = manager.store
    stuck = store.create(dict(job_settings(), owner="s" * 64))
    store.update(stuck.id, state="running", started=time.time(), manager="old-boot:999999999:0")  # nobody runs it
    assert manager.cancel(stuck.id).status == "cancelled"
    other = store.create(dict(job_settings(), owner="s" * 64))
    store.update(other.id, state="running", started=time.time(), manager="old-boot:999999999:0")
    with pytest.raises(JobError, match="only the teacher can mark a job failed"):
        manager.force_fail(other.id, by=Viewer(owner="s" * 64, classroom=True))
    failed = manager.force_fail(other.id, by=Viewer(teacher=True, classroom=True))
    assert failed.status == "failed" and failed.state["message"] == "marked failed by the teacher (it was stuck)"
    manager.delete(other.id)


@pytest.mark.parametrize(("name", "content"), [
    ("state.json", [1, 2]), ("config.json", "x"), ("state.json", {"state": "running", "created": "yesterday"}),
    ("config.json", {"created": "yesterday"}), ("state.json", {"state": "exploded"}),
])
def test_a_malformed_job_folder_is_set_aside(_playground_home: Path, name: str, content: object) -> None:
    store = JobStore()
    good = store.create(job_settings())
    bad = store.create(job_settings())
    (bad.dir / name).write_text(json.dumps(content))
    manager = JobManager(runner=FakeRunner(), background=False)  # a restart reads every folder: no error
    assert [j.id for j in store.list()] == [good.id] == [j.id for j in manager.list()]  # listed without it
    assert not bad.dir.exists()
    aside = list((_playground_home / "set-aside").iterdir())
    assert len(aside) == 1 and aside[0].name.startswith(bad.id)
    assert (aside[0] / "SET_ASIDE.txt").read_text().startswith(f"set aside: {name}")
