"""What the ``finetune`` and ``train`` commands share: progress on stderr, training here or on Ray, the report.

Both commands run one job of the job system's kind (a pretrained model fine-tuned, or a design trained
from scratch): here in this process, or as a Ray task in a scratch job folder whose model is copied out.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from playground.cli._io import bounded, print_json
from playground.finetune.config import LIMITS

if TYPE_CHECKING:
    from playground.finetune.config import TrainConfig
    from playground.finetune.data import Dataset

__all__ = ["Reporter", "in_limits", "train_here", "train_on_ray", "report"]

_RAY_POLL_SECONDS = 0.2  # how often progress from a Ray task is picked up


def in_limits(setting: str) -> Callable[[str], Any]:
    """An argparse ``type=`` for a TrainConfig setting, checked against its LIMITS."""
    allowed = LIMITS[setting]
    if allowed.whole:
        return bounded(int, allowed.lo, allowed.hi)

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value not in allowed:
            raise argparse.ArgumentTypeError(f"must be {allowed.describe()}")
        return value

    return parse


class Reporter:
    """Progress lines on stderr: phase changes and one line per epoch."""

    def __init__(self) -> None:
        self.phase: str | None = None

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "phase" and event["phase"] != self.phase:
            self.phase = event["phase"]
            sys.stderr.write(f"{self.phase}...\n")
        elif kind == "epoch":
            self.phase = None
            sys.stderr.write(
                f"epoch {event['epoch']}/{event['epochs']}: train loss {event['train_loss']:.3f} "
                f"acc {event['train_accuracy']:.1%}, val loss {event['val_loss']:.3f} "
                f"acc {event['val_accuracy']:.1%} ({event['seconds']:.1f} s)\n"
            )


def train_here(cfg: TrainConfig, dataset: Dataset, out: Path) -> dict[str, Any]:
    """Train in this process (a design from scratch when ``cfg`` is a DesignConfig, else a fine-tune) and
    write the model folder to ``out``; the run's metrics."""
    from playground.finetune.design_config import DesignConfig
    from playground.finetune.runtime import configure_cpu_threads
    from playground.models.finetuned import save_finetuned

    configure_cpu_threads()
    if isinstance(cfg, DesignConfig):
        from playground.finetune.scratch import train_design

        result = train_design(cfg, dataset, on_event=Reporter())
    else:
        from playground.finetune.loop import train

        result = train(cfg, dataset, on_event=Reporter())
    save_finetuned(result, out)
    return result.metrics()


def train_on_ray(cfg: TrainConfig, dataset: Dataset, out: Path) -> dict[str, Any]:
    """Run the job as a Ray task (a job folder in a scratch directory, progress on stderr as it
    arrives) and copy its model folder to ``out``; the run's metrics. The Ray cluster this
    process started, if any, is stopped on the way out (also on Ctrl+C or SIGTERM)."""
    from playground.errors import PlaygroundError
    from playground.finetune.data import link_dataset
    from playground.finetune.jobs.ray_runner import RayRunner
    from playground.finetune.jobs.store import JobStore
    from playground.finetune.jobs.submit import job_config
    from playground.models.finetuned import write_readme

    dataset.check_trainable()
    reporter = Reporter()
    scratch = Path(tempfile.mkdtemp(prefix="playground-ray-cli-"))
    ray_runner = RayRunner(on_event=lambda _job_id, event: reporter(event))
    try:
        store = JobStore(scratch)
        job = store.create(job_config(cfg, dataset.name, dataset.classes, len(dataset.items)),
                           lambda job: link_dataset(dataset, job.data_dir))
        store.update(job.id, state="running")
        sys.stderr.write(f"running on {ray_runner.describe()}\n")
        ray_runner.start(job.dir, None)
        while not ray_runner.poll():
            time.sleep(_RAY_POLL_SECONDS)
        job = store.get(job.id)
        if job.status != "done":
            raise PlaygroundError(f"the Ray job ended {job.status}: {job.state.get('message')}")
        shutil.copytree(job.artifacts, out, dirs_exist_ok=True)
        write_readme(out)  # written for the copy: nothing in it may lead to the scratch job deleted below
        return store.results(job.id) or {}
    finally:
        ray_runner.shutdown()
        shutil.rmtree(scratch, ignore_errors=True)


def report(summary: dict[str, Any], epochs: int, as_json: bool) -> None:
    """The run's result on stdout: the summary as JSON, or four lines saying where the model is and how to use it."""
    if as_json:
        print_json(summary)
        return
    print(f"validation accuracy {summary['val_accuracy']:.1%} after {epochs} epoch(s) "
          f"({summary['train_seconds']:.1f} s training)")
    print(f"model written to {summary['out']}")
    print(f"use it: python -m playground predict IMAGE --model {summary['out']}")
    print(f"or without the playground: python {Path(summary['out']) / 'load_example.py'} IMAGE")
