"""What runs inside the Ray cluster for one job, and how a job's files travel there and back.

No shared filesystem is assumed. :func:`pack_inputs` puts a job folder's inputs (config.json and
data/) into one tar that travels with the task. :func:`run_task`, the Ray task, unpacks it into a
temporary job folder on its worker and runs the very same
:func:`~playground.finetune.jobs.worker.run_job` the local worker runs; a thread beside it sends
the new metrics.jsonl lines and the latest progress to a :class:`Relay` actor every
:data:`PUSH_SECONDS`, and the answer says whether the job was cancelled (it then stops at the
next batch, like a local worker seeing its cancel flag, and keeps its best epoch the same way).
The model folder and results.json come back as the task's result (a cancelled task's too, when
it kept one); :func:`unpack_outputs` puts them into the real job folder.
No ray or torch at import time.
"""
from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
import threading
import traceback
from pathlib import Path
from typing import Any

from playground._fileio import write_json_atomic
from playground.errors import PlaygroundError
from playground.finetune.jobs.outcome import RAY_TASK_LOST_MESSAGE, describe_error, done_message
from playground.finetune.jobs.store import Job, JobStore, read_json

__all__ = ["Relay", "run_task", "pack_inputs", "unpack_outputs", "CPUS_PER_JOB", "PUSH_SECONDS", "RPC_SECONDS"]

CPUS_PER_JOB = 1  # Ray's default for a task; the task trains with that many torch threads
PUSH_SECONDS = 0.25  # how often a task sends its new progress (and hears of a cancel)
RPC_SECONDS = 30.0  # a relay call slower than this means the cluster (or the server) is lost
_INPUTS = ("config.json", "data")  # what a job folder's task needs
_RESULTS = "results.json"
_ARTIFACTS = "artifacts"


# --------------------------------------------------------------------------- packing


def _tar(root: Path, names: tuple[str, ...]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:  # images are compressed already
        for name in names:
            if (root / name).exists():
                tar.add(root / name, arcname=name)
    return buf.getvalue()


def _untar(data: bytes, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")  # no absolute paths, no '..', no devices or odd links


def pack_inputs(job: Job) -> bytes:
    """A job folder's inputs (config.json and the data/ folder) as one uncompressed tar."""
    return _tar(job.dir, _INPUTS)


def unpack_outputs(job: Job, outputs: bytes) -> None:
    """The task's model folder and results.json into the job's folder; the model folder
    appears whole (written under a scratch name, then renamed), as the local worker does it."""
    scratch = job.dir / ".ray-outputs.tmp"
    shutil.rmtree(scratch, ignore_errors=True)
    _untar(outputs, scratch)
    shutil.rmtree(job.artifacts_scratch, ignore_errors=True)
    os.replace(scratch / _ARTIFACTS, job.artifacts_scratch)
    os.replace(job.artifacts_scratch, job.artifacts)
    write_json_atomic(job.results_file, read_json(scratch / _RESULTS))
    shutil.rmtree(scratch, ignore_errors=True)


# --------------------------------------------------------------------------- inside the cluster


class Relay:
    """The actor between the tasks and the driver: progress goes in, cancels come out."""

    def __init__(self) -> None:
        self._inbox: dict[str, dict[str, Any]] = {}
        self._cancelled: set[str] = set()

    def push(self, job_id: str, lines: list[str], state: dict[str, Any] | None,
             hello: dict[str, Any] | None = None) -> bool:
        """A task's news; the answer: whether the job was cancelled."""
        box = self._inbox.setdefault(job_id, {"lines": []})
        box["lines"].extend(lines)
        if state is not None:
            box["state"] = state
        if hello is not None:
            box["hello"] = hello
        return job_id in self._cancelled

    def drain(self) -> dict[str, dict[str, Any]]:
        """Everything pushed since the last drain, by job."""
        inbox, self._inbox = self._inbox, {}
        return inbox

    def cancel(self, job_id: str) -> None:
        self._cancelled.add(job_id)

    def forget(self, job_id: str) -> None:
        self._cancelled.discard(job_id)
        self._inbox.pop(job_id, None)


class _Streamer(threading.Thread):
    """In the task: every PUSH_SECONDS, new metrics lines and progress of the scratch job go to the relay."""

    def __init__(self, relay: Any, job: Job) -> None:
        super().__init__(name="playground-relay", daemon=True)
        self.relay, self.job = relay, job
        self.stop = threading.Event()  # the job should stop (cancelled, or the relay is gone)
        self.cancelled = self.lost = False
        self._offset = 0
        self._done = threading.Event()

    def send(self, hello: dict[str, Any] | None = None) -> None:
        import ray

        lines: list[str] = []
        try:
            with open(self.job.metrics_file, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
            end = chunk.rfind(b"\n") + 1  # whole lines only; a line being written waits for the next push
            lines = chunk[:end].decode().splitlines()
            self._offset += end
        except FileNotFoundError:
            pass
        state = read_json(self.job.state_file)
        try:
            cancelled = ray.get(self.relay.push.remote(self.job.id, lines, state, hello), timeout=RPC_SECONDS)
        except Exception:  # the relay (and with it, the driver) is gone: nobody would see the result
            self.lost = True
            self.stop.set()
            return
        if cancelled:
            self.cancelled = True
            self.stop.set()

    def run(self) -> None:
        while not self._done.wait(PUSH_SECONDS):
            self.send()

    def finish(self) -> None:
        """Stop the thread and send what is left."""
        self._done.set()
        self.join()
        self.send()


def run_task(job_id: str, inputs: bytes, relay: Any) -> dict[str, Any]:
    """The Ray task of one job: unpack its inputs, run it, return how it ended (and the model)."""
    import ray

    from playground.finetune.jobs.worker import run_job

    ctx = ray.get_runtime_context()
    threads = max(1, int(ctx.get_assigned_resources().get("CPU", CPUS_PER_JOB)))
    with tempfile.TemporaryDirectory(prefix="playground-ray-") as tmp:
        store = JobStore(tmp)
        job = store.folder(job_id)
        _untar(inputs, job.dir)
        store.update(job_id, state="running")
        streamer = _Streamer(relay, job)
        gpus = ctx.get_accelerator_ids().get("GPU", [])
        streamer.send(hello={"pid": os.getpid(), "node": ray.util.get_node_ip_address(), "gpus": gpus,
                             "threads": threads})
        log = f"Ray task on node {ray.util.get_node_ip_address()}, pid {os.getpid()}, GPUs {gpus or 'none'}, " \
              f"{threads} CPU thread(s)\n"
        import torch

        from playground.finetune.device import gpu_memory_fraction, limit_gpu_memory
        from playground.finetune.loop import Stopped

        torch.set_num_threads(threads)
        # A head job gets a share of a GPU (HEAD_GPU_FRACTION): it may allocate that share of its memory
        # and no more, so one job cannot take the memory the others sharing the GPU count on.
        share = gpu_memory_fraction(float(ctx.get_assigned_resources().get("GPU", 0)))
        if limit_gpu_memory(share):  # Ray made the assigned GPU this process's only one: index 0
            log += f"GPU memory capped at {share:.0%} (the job's share of the GPU)\n"
        streamer.start()
        outcome: dict[str, Any]
        try:
            metrics = run_job(job.dir, should_stop=streamer.stop.is_set, keep_on_stop=lambda: streamer.cancelled)
        except Stopped:
            if streamer.cancelled:
                log += "stopped at a batch boundary: the cancel request was relayed to this task\n"
                outcome = {"status": "cancelled"}
                if job.artifacts.is_dir():  # the best epoch so far, kept as the job's model
                    outcome["outputs"] = _tar(job.dir, (_ARTIFACTS, _RESULTS))
            else:
                outcome = {"status": "interrupted", "message": RAY_TASK_LOST_MESSAGE}
        except PlaygroundError as exc:
            outcome = {"status": "failed", "message": str(exc)}
        except Exception as exc:
            log += traceback.format_exc()
            outcome = {"status": "failed", "message": describe_error(exc)}
        else:
            outcome = {"status": "done", "message": done_message(metrics),
                       "outputs": _tar(job.dir, (_ARTIFACTS, _RESULTS))}
        finally:
            streamer.finish()
        return dict(outcome, log=log)
