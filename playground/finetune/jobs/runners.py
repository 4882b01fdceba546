"""Which runner executes jobs: chosen by name or ``PLAYGROUND_RUNNER``, made, and described in one line.

The runners themselves are :class:`~playground.finetune.jobs.runner.LocalRunner` (the default,
no extra service) and :class:`~playground.finetune.jobs.ray_runner.RayRunner`; the job manager
asks this module for one. Importing it loads neither ray nor torch.
"""
from __future__ import annotations

import os

from playground.errors import PlaygroundError
from playground.finetune.jobs.ray_runner import RayRunner
from playground.finetune.jobs.runner import LocalRunner, Runner

__all__ = ["RUNNERS", "RUNNER_ENV", "LOCAL_DESCRIPTION", "runner_name", "make_runner", "describe_runner"]

RUNNER_ENV = "PLAYGROUND_RUNNER"  # local (default) or ray; RAY_ADDRESS then names the cluster
RUNNERS = ("local", "ray")
LOCAL_DESCRIPTION = "local worker processes on this machine"


def runner_name(name: str | None = None) -> str:
    """The runner asked for: ``name``, else ``PLAYGROUND_RUNNER``, else "local"; PlaygroundError if unknown."""
    chosen = (name or os.environ.get(RUNNER_ENV) or "local").strip().lower()
    if chosen not in RUNNERS:
        raise PlaygroundError(f"{RUNNER_ENV}={chosen!r} is not a runner; use one of: {', '.join(RUNNERS)}")
    return chosen


def make_runner(name: str | None = None) -> Runner:
    """A new runner: local worker processes, or Ray tasks (see :func:`runner_name`)."""
    if runner_name(name) == "ray":
        return RayRunner()
    return LocalRunner()


def describe_runner(runner: Runner) -> str:
    """One line saying where jobs run (a Ray runner adds its cluster's CPUs and GPUs)."""
    describe = getattr(runner, "describe", None)
    return describe() if describe is not None else LOCAL_DESCRIPTION
