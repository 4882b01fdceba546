"""``python -m playground finetune DATA [--model NAME] [--strategy S] [--epochs N] [--out DIR] [--runner R] [--json]``.

With ``--runner local`` (the default) it trains in this process (the command line is its own
process; only the app keeps training out of its server); with ``--runner ray`` (or
``PLAYGROUND_RUNNER=ray``) the job runs as a Ray task on ``RAY_ADDRESS`` or on a local cluster
this process starts and stops. Progress goes to stderr; with ``--json`` stdout holds only the result.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from playground.cli._io import bounded, print_json
from playground.finetune.config import DEFAULTS, DEVICES, LIMITS, STRATEGIES
from playground.finetune.jobs.runners import RUNNER_ENV, RUNNERS

if TYPE_CHECKING:
    from playground.finetune.config import TrainConfig
    from playground.finetune.data import Dataset

__all__ = ["HELP", "add_arguments", "run"]

HELP = "Fine-tune a pretrained model on a zip or folder of class sub-folders, or a bundled dataset."
# Option -> (TrainConfig field, metavar, help before the default). Bounds and defaults come from the config.
_NUMBERS = {
    "--epochs": ("epochs", "N", ""),
    "--batch-size": ("batch_size", "B", ""),
    "--lr": ("lr_head", "LR", "learning rate of the new head"),
    "--lr-backbone": ("lr_backbone", "LR", "learning rate of unfrozen pretrained layers"),
    "--val-split": ("val_fraction", "F", "fraction of each class held out for validation"),
    "--seed": ("seed", "S", "seed for the split, the head and shuffling"),
}
_RAY_POLL_SECONDS = 0.2  # how often progress from a Ray task is picked up


def _in_limits(setting: str) -> Callable[[str], Any]:
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The finetune command's arguments, generated from playground.finetune.config."""
    from playground.finetune.data import BUNDLED

    parser.add_argument("data", metavar="DATA",
                        help="a .zip or folder of class sub-folders (cats/1.jpg, dogs/2.jpg...), or a bundled "
                             f"dataset name: {', '.join(BUNDLED)}")
    parser.add_argument("--model", default=DEFAULTS["model"], metavar="NAME",
                        help=f"zoo model to start from (see `models`; default: {DEFAULTS['model']})")
    parser.add_argument("--strategy", default=DEFAULTS["strategy"], choices=list(STRATEGIES),
                        help="; ".join(f"{name}: {text}" for name, text in STRATEGIES.items())
                             + f" (default: {DEFAULTS['strategy']})")
    for option, (setting, metavar, text) in _NUMBERS.items():
        default = f"default: {DEFAULTS[setting]:g}"
        parser.add_argument(option, dest=setting, type=_in_limits(setting), default=DEFAULTS[setting],
                            metavar=metavar, help=f"{text} ({default})" if text else default)
    parser.add_argument("--image-size", type=_in_limits("image_size"), default=None, metavar="PX",
                        help="square input size in pixels (default: the model's own, e.g. "
                             f"{DEFAULTS['image_size']}; smaller for bundled sets of small images)")
    parser.add_argument("--augment", action="store_true", help="random crops and horizontal flips while training")
    parser.add_argument("--device", default=DEFAULTS["device"], choices=list(DEVICES),
                        help=f"default: {DEFAULTS['device']}")
    parser.add_argument("--out", metavar="DIR",
                        help="where to write the model folder for `predict --model DIR` "
                             "(default: <data dir>/models/<time>-<data>)")
    parser.add_argument("--runner", choices=list(RUNNERS), default=None,
                        help="local: train in this process; ray: as a Ray task on RAY_ADDRESS, or on a local "
                             f"Ray cluster started for this run (default: {RUNNER_ENV}, else local)")
    parser.add_argument("--json", action="store_true",
                        help='print {"val_accuracy", "classes", "epochs", "train_seconds", "out", "runner", ...}')


class _Reporter:
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


def run(args: argparse.Namespace) -> int:
    """Prepare the data, train, write the model folder, report."""
    from playground.finetune.archive import open_dataset
    from playground.finetune.config import TrainConfig
    from playground.finetune.jobs.runners import runner_name
    from playground.finetune.runtime import suggested_image_size
    from playground.paths import home_dir

    runner = runner_name(args.runner)
    size = args.image_size if args.image_size is not None else suggested_image_size(args.data, args.model)
    # Built (and so checked) before the data is unpacked: bad settings fail first.
    cfg = TrainConfig(model=args.model, strategy=args.strategy, image_size=size, augment=args.augment,
                      device=args.device, **{setting: getattr(args, setting) for setting, _, _ in _NUMBERS.values()})
    sys.stderr.write(f"checking {args.data}...\n")
    dataset, cleanup = open_dataset(args.data)
    try:
        sys.stderr.write(str(dataset) + "\n")
        started = time.monotonic()
        name = Path(str(args.data).rstrip("/")).stem or "data"
        out = Path(args.out) if args.out else home_dir() / "models" / f"{datetime.now():%Y%m%d-%H%M%S}-{name}"
        metrics = (_train_on_ray if runner == "ray" else _train_here)(cfg, dataset, out)
    finally:
        cleanup()
    summary = {
        "val_accuracy": metrics["val_accuracy"],
        "classes": list(dataset.classes),
        "epochs": cfg.epochs,
        "train_seconds": metrics["train_seconds"],
        "total_seconds": time.monotonic() - started,
        "out": str(out.resolve()),
        "model": cfg.model,
        "strategy": cfg.strategy,
        "train_images": metrics["train_images"],
        "val_images": metrics["val_images"],
        "per_class_accuracy": metrics["per_class_accuracy"],
        "history": [{k: v for k, v in h.items() if k != "event"} for h in metrics["history"]],
        "trainable_params": metrics["trainable_params"],
        "images_per_sec": metrics["images_per_sec"],
        "device": metrics["device"],
        "precision": metrics["precision"],
        "bad_images": [{"path": p, "reason": r} for p, r in dataset.bad],
        "skipped": dataset.skipped,
        "runner": runner,
    }
    if args.json:
        print_json(summary)
    else:
        print(f"validation accuracy {summary['val_accuracy']:.1%} after {cfg.epochs} epoch(s) "
              f"({summary['train_seconds']:.1f} s training)")
        print(f"model written to {summary['out']}")
        print(f"use it: python -m playground predict IMAGE --model {summary['out']}")
        print(f"or without the playground: python {Path(summary['out']) / 'load_example.py'} IMAGE")
    return 0


def _train_here(cfg: TrainConfig, dataset: Dataset, out: Path) -> dict[str, Any]:
    """Train in this process and write the model folder to ``out``; the run's metrics."""
    from playground.finetune.loop import train
    from playground.finetune.runtime import configure_cpu_threads
    from playground.models.finetuned import save_finetuned

    configure_cpu_threads()
    result = train(cfg, dataset, on_event=_Reporter())
    save_finetuned(result, out)
    return result.metrics()


def _train_on_ray(cfg: TrainConfig, dataset: Dataset, out: Path) -> dict[str, Any]:
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
    reporter = _Reporter()
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
