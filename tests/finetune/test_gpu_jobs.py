"""How jobs are placed on GPUs and CPU cores, checked without a GPU: the local runner gives each worker
its GPU slot and its share of the cores, the manager tells it how many share them, and a worker turns
its slot into the physical GPU of the server's CUDA_VISIBLE_DEVICES."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from playground.finetune.config import TrainConfig
from playground.finetune.data import Dataset, link_dataset
from playground.finetune.device import worker_threads
from playground.finetune.jobs import runner as runners
from playground.finetune.jobs.manager import JobManager
from playground.finetune.jobs.store import JobStore
from playground.finetune.jobs.submit import job_config
from tests.conftest import REPO
from tests.support.finetune_data import TINY, tiny_digits

pytestmark = pytest.mark.slow  # real worker processes


@pytest.fixture()
def tiny(tmp_path: Path) -> Dataset:
    return tiny_digits(tmp_path / "tiny", classes=2, per_class=4)


def _job(tiny: Dataset) -> Any:
    store = JobStore()
    return store, store.create(job_config(TrainConfig(**TINY), tiny.name, tiny.classes, len(tiny.items)),
                               lambda created: link_dataset(tiny, created.data_dir))


def test_the_local_runner_gives_each_worker_its_slot_and_its_share_of_the_cores(
        tiny: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[list[str]] = []

    class Proc:
        pid = os.getpid()

        def poll(self) -> int:
            return 0

    monkeypatch.setattr(runners.subprocess, "Popen", lambda cmd, **kw: started.append(cmd) or Proc())
    monkeypatch.setattr(runners.os, "cpu_count", lambda: 16)
    runner = runners.LocalRunner()
    runner.share_cpu(4)  # four GPUs, four workers at once
    _, job = _job(tiny)
    runner.start(job.dir, 1)
    cmd = started[0]
    assert cmd[cmd.index("--threads") + 1] == str(worker_threads(16, 4)) == "3"
    assert cmd[cmd.index("--device") + 1] == "1"
    runner.start(job.dir, None)  # a CPU job names no device
    assert "--device" not in started[1]


def test_the_manager_shares_the_cores_among_its_slots() -> None:
    class Runner:
        shared: int | None = None

        def share_cpu(self, workers: int) -> None:
            self.shared = workers

        def poll(self) -> dict:
            return {}

    runner = Runner()
    manager = JobManager(runner=runner, max_concurrent=3, background=False)  # type: ignore[arg-type]
    assert runner.shared == manager.max_concurrent == 3


def test_a_worker_runs_on_the_physical_gpu_of_its_slot_with_its_threads(tiny: Dataset) -> None:
    """The server was started with CUDA_VISIBLE_DEVICES=5,7: its slot 1 is physical GPU 7. (Here no
    GPU exists, so the worker trains on the CPU; the log says what it was given.)"""
    store, job = _job(tiny)
    store.update(job.id, state="running")
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="5,7", PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", runners.WORKER_MODULE, str(job.dir), "--parent", "1",
                           "--device", "1", "--threads", "1"], cwd=REPO, env=env, timeout=120,
                          capture_output=True, text=True)  # parent 1 is not ours: it stops at once
    assert proc.returncode == 0, proc.stderr
    assert "CPU threads: 1; no GPU (CUDA_VISIBLE_DEVICES=7)" in proc.stdout
    assert store.get(job.id).state["state"] == "interrupted"
