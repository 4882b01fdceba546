"""The worker process of one job: read the job folder, train, write results, record how it ended.

:func:`run_job` is the whole job as a function of its folder (config in;
progress, metrics and artifacts out), so any runner can execute it.
:func:`worker_main` (``python -m playground.finetune.jobs.worker``, what the local
runner starts in a fresh interpreter) turns every outcome into a final state (worded by
:mod:`~playground.finetune.jobs.outcome`), and stops within one batch when the job is cancelled,
the worker is terminated, or the server that started it is gone. torch is imported only after
the GPU is chosen. Submitting a job is :mod:`~playground.finetune.jobs.submit`'s.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from playground._fileio import write_json_atomic
from playground.errors import PlaygroundError
from playground.finetune.jobs.outcome import INTERRUPTED_MESSAGE, cancel_message, describe_error, done_message
from playground.finetune.jobs.store import Job, JobStore

if TYPE_CHECKING:
    from playground.finetune.result import TrainResult

__all__ = ["run_job", "worker_main", "main", "STATE_INTERVAL_SECONDS"]

# state.json is rewritten at most this often during training (metrics.jsonl gets every batch).
STATE_INTERVAL_SECONDS = 0.2


class _Progress:
    """Turns training events into metrics.jsonl lines and (throttled) state.json progress."""

    def __init__(self, store: JobStore, job: Job) -> None:
        self.store, self.job_id = store, job.id
        self.metrics = open(job.metrics_file, "a", buffering=1)  # noqa: SIM115 (closed by close())
        self.progress: dict[str, Any] = {}
        self.last_write = 0.0

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind in ("batch", "epoch"):
            self.metrics.write(json.dumps(dict(event, time=time.time())) + "\n")
        if kind == "phase":
            self.progress.update(phase=event["phase"], phase_done=event["done"], phase_total=event["total"],
                                 eta_seconds=event.get("eta_seconds"))
        elif kind == "batch":
            self.progress.update({k: v for k, v in event.items() if k != "event"}, phase="training")
        elif kind == "epoch":
            self.progress.update(val_accuracy=event["val_accuracy"], val_loss=event["val_loss"],
                                 eta_seconds=event.get("eta_seconds"), epochs_done=event["epoch"])
        now = time.monotonic()
        last_step = kind == "batch" and event["step"] == event["steps_per_epoch"]
        if kind != "batch" or last_step or now - self.last_write >= STATE_INTERVAL_SECONDS:
            self.last_write = now
            self.store.update(self.job_id, progress=self.progress,
                              message=self.progress.get("phase", "running"))

    def close(self) -> None:
        self.metrics.close()


def run_job(job_dir: str | Path, *, should_stop: Callable[[], bool] | None = None,
            keep_on_stop: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Run the fine-tuning (or from-scratch design) job in ``job_dir``; write artifacts/ and results.json;
    return the metrics.

    Raises training.Stopped when ``should_stop()`` turns True; if ``keep_on_stop()`` then says
    the stop is the user's cancel (not a shutdown), the best epoch so far is saved first, as
    the job's model, with results.json saying which epoch it is (``kept_epoch``). Raises
    PlaygroundError for anything the user can fix.
    """
    from playground.finetune.data import load_dataset
    from playground.finetune.design_config import DesignConfig
    from playground.finetune.eta import Costs
    from playground.finetune.loop import Stopped, train
    from playground.finetune.scratch import train_design

    store, job_id = JobStore.of(job_dir)
    job = store.get(job_id)
    cfg = job.train_config()  # settings that cannot be used fail the job, saying why
    dataset = load_dataset(job.data_dir)
    progress = _Progress(store, job)
    prior = Costs.from_dict(job.config.get("prior_costs"))
    try:
        if isinstance(cfg, DesignConfig):  # a Designer design trained from scratch (job kind "design")
            result = train_design(cfg, dataset, on_event=progress, should_stop=should_stop, prior=prior)
        else:
            result = train(cfg, dataset, on_event=progress, should_stop=should_stop, prior=prior)
    except Stopped as stop:
        if stop.result is not None and keep_on_stop is not None and keep_on_stop():
            _save(job, stop.result)
        raise
    finally:
        progress.close()
    return _save(job, result)


def _save(job: Job, result: TrainResult) -> dict[str, Any]:
    """The model folder into artifacts/ and the metrics into results.json; returns the metrics."""
    from playground.jobref import job_ref
    from playground.models.finetuned import save_finetuned

    # Write the model folder under a temporary name first: the Predict page lists
    # artifacts/ folders and must never see half of one. Its README names job:<id> only
    # where that reference leads: in this playground's own store (not a scratch one).
    shutil.rmtree(job.artifacts_scratch, ignore_errors=True)
    here = JobStore().folder(job.id).dir.resolve() == job.dir.resolve()
    save_finetuned(result, job.artifacts_scratch, job_ref=job_ref(job.id) if here else None)
    os.replace(job.artifacts_scratch, job.artifacts)
    metrics = result.metrics()
    write_json_atomic(job.results_file, metrics)
    return metrics


def worker_main(job_dir: str, device: int | None, parent_pid: int, threads: int | None = None) -> None:
    """Run the job in ``job_dir`` and record how it ended in state.json (output goes to stdout,
    which :class:`~playground.finetune.jobs.runner.LocalRunner` points at worker.log).

    ``device``: the GPU slot (the server's index of the GPU: the physical GPU is the slot's entry of
    the ``CUDA_VISIBLE_DEVICES`` inherited from the server, when it has one); ``threads``: PyTorch's
    CPU threads, this worker's share of the cores (default: all cores but one on 4+ cores).
    """
    from playground.finetune.device import VISIBLE_DEVICES_ENV, physical_gpu

    if device is not None:  # before torch is imported
        os.environ[VISIBLE_DEVICES_ENV] = physical_gpu(device, os.environ.get(VISIBLE_DEVICES_ENV))
    store, job_id = JobStore.of(job_dir)
    terminated = []
    signal.signal(signal.SIGTERM, lambda *_: terminated.append(True))
    store.update(job_id, pid=os.getpid(), message="loading")

    def should_stop() -> bool:
        # The server that started us is gone when our parent changed (we were re-parented).
        return bool(terminated) or store.cancel_requested(job_id) or os.getppid() != parent_pid

    import torch

    from playground.finetune.loop import Stopped
    from playground.finetune.runtime import configure_cpu_threads

    if threads is not None:
        torch.set_num_threads(threads)
    else:
        threads = configure_cpu_threads()
    visible = f"{VISIBLE_DEVICES_ENV}={os.environ.get(VISIBLE_DEVICES_ENV, '(unset)')}"
    gpu = f"GPU: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "no GPU"
    print(f"CPU threads: {threads}; {gpu} ({visible})")
    running = frozenset({"running"})
    try:
        metrics = run_job(job_dir, should_stop=should_stop, keep_on_stop=lambda: store.cancel_requested(job_id))
    except Stopped:
        if store.cancel_requested(job_id):
            store.finish(job_id, "cancelled", cancel_message(store.get(job_id).progress, store.results(job_id),
                                                             by=store.cancel_by(job_id)), only_from=running)
        else:
            store.finish(job_id, "interrupted", INTERRUPTED_MESSAGE, only_from=running)
    except PlaygroundError as exc:
        print(f"failed: {exc}")
        store.finish(job_id, "failed", str(exc), only_from=running)
    except Exception as exc:
        traceback.print_exc()
        store.finish(job_id, "failed", describe_error(exc), only_from=running)
        raise SystemExit(1) from None
    else:
        # only_from: a restarted server may have marked the job interrupted meanwhile; that stands.
        store.finish(job_id, "done", done_message(metrics), only_from=running)
    finally:
        sys.stdout.flush()


def main(argv: list[str] | None = None) -> None:
    """``python -m playground.finetune.jobs.worker JOB_DIR --parent PID [--device N] [--threads N]``: what
    LocalRunner starts."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m playground.finetune.jobs.worker", description=main.__doc__)
    parser.add_argument("job_dir")
    parser.add_argument("--parent", type=int, required=True, help="pid of the server that started this worker")
    parser.add_argument("--device", type=int, default=None,
                        help="GPU slot of this job: the server's CUDA device index (mapped to the physical GPU)")
    parser.add_argument("--threads", type=int, default=None, help="PyTorch CPU threads (this worker's share)")
    args = parser.parse_args(argv)
    worker_main(args.job_dir, args.device, args.parent, args.threads)


if __name__ == "__main__":
    main()
