"""The Ray runner: real tiny digits jobs through a local Ray cluster (one per module): the same
result as the local runner, cancel, a killed Ray worker, the CLI leaving no Ray process behind,
and the manager's slots coming from the cluster's resources."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from playground.cli import main
from playground.errors import PlaygroundError
from playground.finetune.config import TrainConfig
from playground.finetune.data import Dataset
from playground.finetune.jobs import runners
from playground.finetune.jobs.manager import JobManager
from playground.finetune.jobs.runner import LocalRunner
from playground.finetune.jobs.store import Job
from playground.finetune.jobs.submit import submit_finetune
from tests.conftest import REPO
from tests.support.finetune_data import TINY
from tests.support.process_support import processes_marked

ray = pytest.importorskip("ray")

from playground.finetune.jobs import ray_runner  # noqa: E402  (needs ray)
from playground.finetune.jobs.ray_runner import RayRunner  # noqa: E402

pytestmark = pytest.mark.slow  # a real Ray cluster and real training

HEAD = TrainConfig(strategy="head", **dict(TINY, epochs=1))
SLOW = TrainConfig(image_size=32, batch_size=2, epochs=200, strategy="full")  # runs until stopped


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    """A local 2-CPU Ray cluster for the module (about 6 s and 0.7 GB)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env=ray_runner.runtime_env(),
             object_store_memory=ray_runner.LOCAL_OBJECT_STORE_BYTES)
    yield
    ray.shutdown()


@pytest.fixture()
def manager(cluster: None) -> Iterator[JobManager]:
    """A manager running its jobs on the module's cluster."""
    mgr = JobManager(runner=RayRunner())
    yield mgr
    mgr.shutdown(terminate=True)


def _wait(manager: JobManager, job_id: str, until: Callable[[Job], bool]) -> Job:
    deadline = time.monotonic() + 240  # a safety net against a hung test, not a speed check
    while True:
        job = manager.get(job_id)
        if until(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} stuck: {job.state}\n{job.log_file.read_text()}")
        time.sleep(0.1)


def _training(job: Job) -> bool:
    return job.progress.get("global_step", 0) >= 1 or not job.active


def test_a_ray_job_gives_the_local_runners_result(manager: JobManager, tiny: Dataset, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    on_ray = submit_finetune(manager, tiny, HEAD, owner="s")
    # Its own data directory: a second manager of one folder in one process would take the
    # first one's running jobs for those of a stopped server.
    local = JobManager(tmp_path / "local-home", runner=LocalRunner())
    try:
        here = submit_finetune(local, tiny, HEAD, owner="s")
        here = _wait(local, here.id, lambda j: not j.active)
    finally:
        local.shutdown()
    on_ray = _wait(manager, on_ray.id, lambda j: not j.active)
    assert on_ray.status == "done" and here.status == "done", (on_ray.state, here.state)
    assert on_ray.state["message"] == here.state["message"]  # "validation accuracy 66.7%"
    assert on_ray.state["pid"] != here.state["pid"] and on_ray.state["worker"].startswith("ray-task:")
    ray_results, local_results = manager.store.results(on_ray.id), local.store.results(here.id)
    assert ray_results["val_accuracy"] == local_results["val_accuracy"]
    assert ray_results["confusion"] == local_results["confusion"]
    assert ray_results["val_loss"] == pytest.approx(local_results["val_loss"], rel=1e-4)
    # The live curves: every batch and epoch line came back into the job's own folder.
    kinds = [(m["event"], m.get("step")) for m in manager.store.metrics(on_ray.id)]
    assert kinds == [(m["event"], m.get("step")) for m in local.store.metrics(here.id)]
    assert {p.name for p in on_ray.artifacts.iterdir()} == {p.name for p in here.artifacts.iterdir()}
    assert "Ray task on node" in on_ray.log_file.read_text()

    # The Predict page's model, and `predict --model` on the Ray job's output.
    from playground.catalog import load_model

    assert load_model(f"job:{on_ray.id}").categories == ["0", "1", "2"]
    image = tiny.path(tiny.items[0])
    assert main(["predict", str(image), "--model", str(on_ray.artifacts), "--json", "--top", "3"]) == 0
    (prediction,) = json.loads(capsys.readouterr().out)
    assert sorted(p["label"] for p in prediction["predictions"]) == ["0", "1", "2"]


def test_cancel_is_relayed_to_the_task(manager: JobManager, tiny: Dataset) -> None:
    job = submit_finetune(manager, tiny, SLOW)
    _wait(manager, job.id, _training)
    manager.cancel(job.id)  # the same cancel path as local jobs: the job's cancel flag
    job = _wait(manager, job.id, lambda j: not j.active)
    assert job.status == "cancelled", job.state
    # An epoch of this tiny set takes well under a second, so on a fast machine one may finish between
    # "training" being seen and the cancel reaching the task; then its model is kept (the next test).
    kept = re.fullmatch(r"stopped at your request in epoch (\d+) of 200, step \d+ of \d+; kept the model of epoch "
                        r"\d+ \(the best so far: validation accuracy [\d.]+%\)", job.state["message"])
    if kept is None:
        assert re.fullmatch(r"stopped at your request in epoch 1 of 200, step \d+ of \d+; no epoch had finished, "
                            r"so no model was saved", job.state["message"]), job.state["message"]
    # The task stopped itself at a batch boundary (no ray.cancel(force=True) was needed).
    assert "the cancel request was relayed to this task" in job.log_file.read_text()
    assert job.artifacts.exists() == (kept is not None)
    assert (manager.store.results(job.id) is None) == (kept is None)


def test_a_cancelled_ray_job_keeps_its_best_epoch(manager: JobManager, tiny: Dataset) -> None:
    """As with a local worker: the best epoch so far comes back as the job's model."""
    job = submit_finetune(manager, tiny, SLOW)
    _wait(manager, job.id, lambda j: j.progress.get("epochs_done", 0) >= 1 or not j.active)
    manager.cancel(job.id)
    job = _wait(manager, job.id, lambda j: not j.active)
    assert job.status == "cancelled", job.state
    results = manager.store.results(job.id)
    assert results["kept_epoch"] >= 1 and f"kept the model of epoch {results['kept_epoch']}" in job.state["message"]
    from playground.catalog import load_model

    assert load_model(f"job:{job.id}").categories == ["0", "1", "2"]


def test_a_killed_ray_worker_fails_its_job(manager: JobManager, tiny: Dataset) -> None:
    job = submit_finetune(manager, tiny, SLOW)
    pid = _wait(manager, job.id, _training).state["pid"]
    os.kill(pid, signal.SIGKILL)  # the task's worker process dies mid-job
    job = _wait(manager, job.id, lambda j: not j.active)
    assert job.status == "failed", job.state
    assert job.state["message"].startswith("the Ray worker process running this job died"), job.state["message"]
    assert "WorkerCrashedError" in job.log_file.read_text()
    assert not job.artifacts.exists()


def test_slots_come_from_the_cluster(cluster: None, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = RayRunner()
    assert runner.slots() == (2, [None, None])  # this cluster: 2 CPUs, one CPU per job
    assert "2 CPUs, 0 GPUs" in runners.describe_runner(runner)
    monkeypatch.setattr(runner, "resources", lambda: {"CPU": 32.0, "GPU": 4.0})
    assert JobManager(runner=runner, background=False).max_concurrent == 16  # four head jobs per GPU
    monkeypatch.setattr(runner, "resources", lambda: {"CPU": 6.0, "GPU": 4.0})
    assert runner.slots()[0] == 6  # each job also needs a CPU


def test_gpu_requests() -> None:
    def ask(strategy: str, device: str = "auto", gpus: float = 4.0) -> float:
        return ray_runner.job_resources(TrainConfig(strategy=strategy, device=device), gpus)["num_gpus"]

    assert ask("head") == ray_runner.HEAD_GPU_FRACTION == 0.25
    assert ask("last-block") == ask("full") == 1.0
    assert ask("full", device="cpu") == 0.0
    assert ask("full", gpus=0.0) == 0.0  # a CPU-only cluster: the task must still be schedulable


def test_the_runner_is_chosen_by_name_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLAYGROUND_RUNNER", raising=False)
    assert runners.runner_name() == "local"
    monkeypatch.setenv("PLAYGROUND_RUNNER", "Ray")
    assert runners.runner_name() == "ray" and runners.runner_name("local") == "local"
    monkeypatch.setenv("PLAYGROUND_RUNNER", "slurm")
    with pytest.raises(PlaygroundError, match=r"PLAYGROUND_RUNNER='slurm' is not a runner; use one of: local, ray"):
        runners.runner_name()
    assert runners.describe_runner(LocalRunner()) == runners.LOCAL_DESCRIPTION


def test_the_cli_runs_on_ray_and_leaves_no_ray_process(tmp_path: Path, tiny: Dataset,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    marker = f"PLAYGROUND_TEST_MARK={uuid.uuid4().hex}"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # its own cluster, not the module's
    env.update(PLAYGROUND_RUNNER="ray", PLAYGROUND_TEST_MARK=marker.split("=")[1])
    out = tmp_path / "model"
    proc = subprocess.run(
        [sys.executable, "-m", "playground", "finetune", "digits", "--epochs", "1", "--image-size", "48",
         "--strategy", "head", "--out", str(out), "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)  # stdout is exactly one JSON document
    assert result["runner"] == "ray" and result["classes"] == [str(d) for d in range(10)]
    assert result["val_accuracy"] > 0.8, result["val_accuracy"]  # digits, head only, 1 epoch at 48 px: 0.86
    assert result["train_images"] + result["val_images"] == 1797
    assert "running on Ray, a local cluster started by this process" in proc.stderr
    assert "epoch 1/1: train loss" in proc.stderr
    assert processes_marked(marker) == []  # no raylet, gcs_server, agent or worker of it survives
    assert main(["predict", str(tiny.path(tiny.items[0])), "--model", str(out), "--json"]) == 0
    (prediction,) = json.loads(capsys.readouterr().out)
    assert {p["label"] for p in prediction["predictions"]} <= {str(d) for d in range(10)}
    assert sum(p["probability"] for p in prediction["predictions"]) <= 1.0 + 1e-6
