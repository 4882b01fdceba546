"""A server process's start: queued jobs start before any page is opened, one server per data folder (a lock
file), and the open-file limit raised to the hard limit."""
from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from playground import serverstart
from playground.finetune.jobs import manager as jobs_manager
from playground.finetune.jobs.datalock import LOCK_FILE, hold_data_folder
from playground.finetune.jobs.store import JobError, JobStore
from tests.conftest import REPO
from tests.support.job_support import FakeRunner, job_settings


def test_queued_jobs_start_with_the_server_not_at_the_first_page_view(
        monkeypatch: pytest.MonkeyPatch, _playground_home: Path) -> None:
    queued = JobStore(_playground_home).create(job_settings())  # left queued by the server before a restart
    runner = FakeRunner()
    monkeypatch.setattr(jobs_manager, "make_runner", lambda name=None: runner)
    monkeypatch.setattr(serverstart, "_STARTED", [])
    try:
        assert serverstart.start_server(class_mode=False) is None  # what `python -m playground serve` runs first
        deadline = time.monotonic() + 60  # the manager's own thread starts it (every POLL_SECONDS)
        while not runner.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert runner.started == [(queued.id, None)]
        assert serverstart.start_server() is None  # once per process: app.py's call changes nothing
    finally:
        manager = jobs_manager._MANAGERS.pop(_playground_home.resolve(), None)
        if manager is not None:
            manager.shutdown()


def test_a_second_server_on_the_same_data_folder_is_refused(tmp_path: Path) -> None:
    other = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pathlib import Path; "
         "from playground.finetune.jobs.datalock import hold_data_folder; "
         "hold_data_folder(Path(sys.argv[1])); print('held', flush=True); sys.stdin.read()", str(tmp_path)],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "held"
        with pytest.raises(JobError, match=rf"another CNN Playground server \(pid {other.pid}\) already uses the "
                                           r"data folder .*: two servers would run the same jobs twice"):
            hold_data_folder(tmp_path)
    finally:
        assert other.stdin is not None
        other.stdin.close()  # the other server stops: the kernel releases its lock
        other.wait(timeout=60)
    hold_data_folder(tmp_path)  # now this process may serve it
    hold_data_folder(tmp_path)  # again: a no-op, never a conflict with itself
    assert (tmp_path / LOCK_FILE).read_text().strip() == str(__import__("os").getpid())


def test_the_open_file_limit_is_raised_to_the_hard_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = min(soft, 256)
    resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
    try:
        before, after = serverstart.raise_open_file_limit() or (0, 0)
        expected = serverstart.OPEN_FILES_CEILING if hard == resource.RLIM_INFINITY else hard
        assert (before, after) == (low, expected)
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == expected
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
