"""What runs inside a job's worker process: read the job folder, train, write results.

:func:`run_job` is the whole job as a function of its folder (config in;
progress, metrics and artifacts out), so any runner can execute it.
:func:`worker_main` (``python -m playground.finetune.jobs.worker``, what the local
runner starts in a fresh interpreter) turns every outcome into a final state, and
stops within one batch when the job is cancelled, the worker is terminated, or
the server that started it is gone. torch is imported only after the GPU is chosen.
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
from playground.finetune.jobs.store import INTERRUPTED_MESSAGE, Job, JobStore

if TYPE_CHECKING:
    from playground.finetune.config import TrainConfig
    from playground.finetune.data import Dataset
    from playground.finetune.jobs.manager import JobManager
    from playground.finetune.result import TrainResult

__all__ = ["run_job", "worker_main", "submit_finetune", "job_config", "cancel_message", "STATE_INTERVAL_SECONDS"]

# state.json is rewritten at most this often during training (metrics.jsonl gets every batch).
STATE_INTERVAL_SECONDS = 0.2


def job_config(train: TrainConfig, dataset_name: str, classes: list[str], images: int) -> dict[str, Any]:
    """The config.json of a fine-tuning job (the job folder adds id, owner and creation time)."""
    return {"kind": "finetune", "train": train.to_dict(),
            "dataset": {"name": dataset_name, "classes": list(classes), "images": images}}


def submit_finetune(manager: JobManager, dataset: Dataset, train: TrainConfig, *, owner: str | None = None,
                    owner_name: str | None = None, session: str | None = None) -> Job:
    """Queue a fine-tuning job: its config plus its own copy of ``dataset`` in the job's data folder.

    ``owner`` / ``owner_name``: see :meth:`JobManager.submit`. Raises ClassroomError when the settings
    exceed the class caps the teacher set (maximum epochs, image size).
    """
    from playground.classroom import check_caps, load_settings
    from playground.finetune.data import link_dataset

    dataset.check_trainable()
    check_caps(train.to_dict(), load_settings(manager.store.home))
    config = job_config(train, dataset.name, dataset.classes, len(dataset.items))
    prior = _prior_costs(train, manager.store.home)
    if prior is not None:
        config["prior_costs"] = prior  # travels with the job (to a Ray worker too): the first time left
    return manager.submit(config, owner=owner if owner is not None else session, owner_name=owner_name,
                          prepare=lambda job: link_dataset(dataset, job.data_dir))


def _prior_costs(train: TrainConfig, home: Path) -> dict[str, Any] | None:
    """The per-image costs remembered for these settings on this machine (never a new probe), or None."""
    from playground.finetune.calibration import calibration_key, costs_for
    from playground.finetune.runtime import resolve_device

    known = costs_for(calibration_key(train, resolve_device(train).type), home)
    return known[0].to_dict() if known else None


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
    """Run the fine-tuning job in ``job_dir``; write artifacts/ and results.json; return the metrics.

    Raises training.Stopped when ``should_stop()`` turns True; if ``keep_on_stop()`` then says
    the stop is the user's cancel (not a shutdown), the best epoch so far is saved first, as
    the job's model, with results.json saying which epoch it is (``kept_epoch``). Raises
    PlaygroundError for anything the user can fix.
    """
    from playground.finetune.config import TrainConfig
    from playground.finetune.data import load_dataset
    from playground.finetune.eta import Costs
    from playground.finetune.loop import Stopped, train

    store, job_id = JobStore.of(job_dir)
    job = store.get(job_id)
    cfg = TrainConfig.from_dict(job.config["train"])
    dataset = load_dataset(job.data_dir)
    progress = _Progress(store, job)
    try:
        result = train(cfg, dataset, on_event=progress, should_stop=should_stop,
                       prior=Costs.from_dict(job.config.get("prior_costs")))
    except Stopped as stop:
        if stop.result is not None and keep_on_stop is not None and keep_on_stop():
            _save(job, stop.result)
        raise
    finally:
        progress.close()
    return _save(job, result)


def _save(job: Job, result: TrainResult) -> dict[str, Any]:
    """The model folder into artifacts/ and the metrics into results.json; returns the metrics."""
    from playground.models.finetuned import save_finetuned

    # Write the model folder under a temporary name first: the Predict page lists
    # artifacts/ folders and must never see half of one.
    shutil.rmtree(job.artifacts_scratch, ignore_errors=True)
    save_finetuned(result, job.artifacts_scratch)
    os.replace(job.artifacts_scratch, job.artifacts)
    metrics = result.metrics()
    write_json_atomic(job.results_file, metrics)
    return metrics


def cancel_message(progress: dict[str, Any], results: dict[str, Any] | None = None) -> str:
    """Where a cancelled job stopped and what it kept, for the page and the job list.

    ``progress``: the job's progress when it stopped; ``results``: its results.json (a kept
    model's epoch and accuracy), None when no model was saved.
    """
    if progress.get("phase") == "training" and progress.get("epoch"):
        where = (f"in epoch {progress['epoch']} of {progress.get('epochs', '?')}, "
                 f"step {progress.get('step', '?')} of {progress.get('steps_per_epoch', '?')}")
    else:
        where = f"while {progress.get('phase') or 'starting'}"
    kept = results.get("kept_epoch") if results else None
    if results and kept:
        return (f"stopped at your request {where}; kept the model of epoch {kept} (the best so far: "
                f"validation accuracy {results.get('val_accuracy', 0):.1%})")
    if progress.get("epochs_done"):  # epochs had finished, but the worker was gone before it saved one
        return f"stopped at your request {where}; no model was saved"
    return f"stopped at your request {where}; no epoch had finished, so no model was saved"


def _one_line(exc: Exception) -> str:
    """An unexpected error as one line: its type and the first line of its message."""
    line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


def worker_main(job_dir: str, device: int | None, parent_pid: int) -> None:
    """Run the job in ``job_dir`` and record how it ended in state.json (output goes to stdout,
    which :class:`~playground.finetune.jobs.runner.LocalRunner` points at worker.log)."""
    if device is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(device)  # before torch is imported
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

    if not torch.cuda.is_available():
        print(f"CPU threads: {configure_cpu_threads()}")
    running = frozenset({"running"})
    try:
        metrics = run_job(job_dir, should_stop=should_stop, keep_on_stop=lambda: store.cancel_requested(job_id))
    except Stopped:
        if store.cancel_requested(job_id):
            store.finish(job_id, "cancelled", cancel_message(store.get(job_id).progress, store.results(job_id)),
                         only_from=running)
        else:
            store.finish(job_id, "interrupted", INTERRUPTED_MESSAGE, only_from=running)
    except PlaygroundError as exc:
        print(f"failed: {exc}")
        store.finish(job_id, "failed", str(exc), only_from=running)
    except Exception as exc:
        traceback.print_exc()
        store.finish(job_id, "failed", _one_line(exc), only_from=running)
        raise SystemExit(1) from None
    else:
        # only_from: a restarted server may have marked the job interrupted meanwhile; that stands.
        store.finish(job_id, "done", f"validation accuracy {metrics['val_accuracy']:.1%}", only_from=running)
    finally:
        sys.stdout.flush()


def main(argv: list[str] | None = None) -> None:
    """``python -m playground.finetune.jobs.worker JOB_DIR --parent PID [--device N]``: what LocalRunner starts."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m playground.finetune.jobs.worker", description=main.__doc__)
    parser.add_argument("job_dir")
    parser.add_argument("--parent", type=int, required=True, help="pid of the server that started this worker")
    parser.add_argument("--device", type=int, default=None, help="CUDA device index for this job")
    args = parser.parse_args(argv)
    worker_main(args.job_dir, args.device, args.parent)


if __name__ == "__main__":
    main()
