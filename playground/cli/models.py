"""``python -m playground models [--json] [--download NAME]``: what can be used now, where each model's
weights come from, and fetching a torchvision model's official weights when there is internet."""
from __future__ import annotations

import argparse
import sys
import time

__all__ = ["HELP", "add_arguments", "run", "ProgressBar"]

HELP = "List the models (zoo and fine-tuned), whether each can be used now and where its weights come from."
_BAR_WIDTH = 30
_REDRAW_S = 0.2  # at most five redraws a second: a fast download would otherwise flood stderr


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``models``."""
    parser.add_argument("--json", action="store_true",
                        help='print [{"name", "title", "available", "reason", "source", "licence"}]')
    parser.add_argument("--download", metavar="NAME",
                        help="fetch a torchvision model's official weights into the torch hub cache "
                             "(needs internet; progress on stderr)")


class ProgressBar:
    """A one-line progress bar on stderr, redrawn in place: ``resnet18-f37072fd.pth [=====   ] 12.3/44.7 MB``."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._last = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self._last < _REDRAW_S and done != total:
            return
        self._last = now
        mb = f"{done / 1e6:.1f}"
        if total:
            filled = min(_BAR_WIDTH, _BAR_WIDTH * done // total)
            line = f"{self.label} [{'=' * filled}{' ' * (_BAR_WIDTH - filled)}] {mb}/{total / 1e6:.1f} MB"
        else:
            line = f"{self.label} {mb} MB"
        sys.stderr.write(f"\r{line}")
        sys.stderr.flush()

    def close(self) -> None:
        """End the bar's line (only if something was drawn)."""
        if self._last:
            sys.stderr.write("\n")


def run(args: argparse.Namespace) -> int:
    """Print one line per model (and why an unavailable one is so), or JSON with --json; with
    --download, fetch that model first (offline: one line on stderr, exit 2, via the dispatcher)."""
    from dataclasses import asdict

    from playground._format import visible
    from playground.catalog import model_status
    from playground.cli._io import print_json
    from playground.models.registry import download_weights, hub_weights

    if args.download:
        hub = hub_weights(args.download)
        bar = ProgressBar(hub.filename if hub else args.download)
        try:
            status = download_weights(args.download, bar)
        finally:
            bar.close()
        sys.stderr.write(f"{visible(status.name)}: {visible(status.reason)}\n")
    rows = model_status()
    if args.json:
        print_json([asdict(r) for r in rows])
        return 0
    # Names and titles of fine-tuned models carry class folder names from uploads: escaped, so none
    # can move the cursor, retitle the terminal or reorder the line (playground._format.visible).
    names = [visible(r.name) for r in rows]
    width = max(len(n) for n in names)
    for name, r in zip(names, rows, strict=True):
        mark = "ready      " if r.available else "unavailable"
        print(f"{name:<{width}}  {mark}  {visible(r.title)}")
        detail = f"{r.source}, {r.licence}" if r.available else r.reason
        print(f"{'':<{width}}  {'':<11}  {visible(detail)}")
    print(f"\nfine-tuning jobs run on: {_runner_line()}")
    return 0


def _runner_line() -> str:
    """Where jobs run (PLAYGROUND_RUNNER): local workers, or the Ray cluster with its CPUs and GPUs
    (a local cluster is started for the look and stopped again)."""
    from playground.errors import PlaygroundError
    from playground.finetune.jobs.runners import describe_runner, make_runner

    try:
        runner = make_runner()
    except PlaygroundError as exc:
        return str(exc)
    try:
        return describe_runner(runner)
    finally:
        runner.shutdown()
