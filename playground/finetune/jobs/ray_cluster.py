"""Joining or starting the Ray cluster, so that it lives and dies with this process.

:func:`init_ray` calls ``ray.init`` from a thread that lasts as long as the process (Ray ties a
cluster it starts to the starting *thread*); :func:`start_reaper` guards against this process
being killed outright, when Ray's per-node agents would otherwise outlive it. Linux's /proc is
used to find the processes; elsewhere the reaper is skipped.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from playground.errors import PlaygroundError
from playground.finetune.jobs.outcome import describe_error

__all__ = ["RayUnavailable", "import_ray", "init_ray", "start_reaper"]


class RayUnavailable(PlaygroundError):
    """The Ray runner was asked for but cannot be used here (not installed, cluster unreachable)."""


def import_ray() -> Any:
    """The ray module, or RayUnavailable saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RayUnavailable("PLAYGROUND_RUNNER=ray needs the ray package: pip install ray==2.60.0 "
                             "(or unset PLAYGROUND_RUNNER to use local worker processes)") from None
    return ray


def init_ray(options: dict[str, Any]) -> None:
    """``ray.init(**options)`` from a thread that lives as long as the process.

    Ray ties the processes of a cluster it starts (gcs_server, raylet) to the *thread* that started
    them (Linux's parent-death signal), and a Streamlit page runs in a short-lived script thread:
    initialised there, the cluster would be killed when the page run ends. From the main thread
    (the CLI) it is called directly, which also installs Ray's SIGTERM handler (exit, so the
    cluster is shut down). A daemon keeper thread never ends before the process does, so the
    cluster still dies with the process, also when it is killed.
    """
    ray = import_ray()
    failure: list[BaseException] = []
    if threading.current_thread() is threading.main_thread():
        try:
            ray.init(**options)
        except Exception as exc:
            failure.append(exc)
    else:
        ready = threading.Event()

        def keep() -> None:
            try:
                ray.init(**options)
            except Exception as exc:
                failure.append(exc)
            ready.set()
            if not failure:
                threading.Event().wait()  # forever: this thread's end would kill the cluster

        threading.Thread(target=keep, name="playground-ray-keeper", daemon=True).start()
        ready.wait()
    if failure:
        where = f"the Ray cluster at {options['address']}" if options.get("address") else "a local Ray cluster"
        raise RayUnavailable(f"cannot start or reach {where}: {describe_error(failure[0])}; check RAY_ADDRESS, "
                             "or unset it to start a local cluster")


# Run by a detached interpreter: wait for the server (pid:start time) to end, then SIGKILL the listed
# processes that still exist (pid:start time, so a reused pid is never hit). Plain Python, no imports
# from playground: it must work whatever state the server died in.
_REAPER = """
import os, signal, sys, time
def started(pid):
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None
parent, *procs = sys.argv[1:]
pid, start = parent.split(":")
while started(pid) == start:
    time.sleep(0.5)
for proc in procs:
    pid, start = proc.split(":")
    if started(pid) == start:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass
"""


def _descendants(root: int) -> list[str]:
    """Every process below ``root``, as "pid:start time" (Linux /proc; empty elsewhere)."""
    children: dict[int, list[tuple[int, str]]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append((int(stat.parent.name), fields[19]))
    found, todo = [], [root]
    while todo:
        for pid, start in children.get(todo.pop(), []):
            found.append(f"{pid}:{start}")
            todo.append(pid)
    return found


def start_reaper() -> subprocess.Popen | None:
    """Guard against this process being killed outright (SIGKILL, the OOM killer): Ray's own
    processes die with it, but its per-node agents would outlive it. A small detached process
    kills what is left of the cluster this process started once this process is gone; a clean
    :meth:`RayRunner.shutdown` stops the reaper instead."""
    try:
        own = f"{os.getpid()}:{Path('/proc/self/stat').read_text().rsplit(')', 1)[1].split()[19]}"
    except (OSError, IndexError):  # not Linux: no /proc to find the processes by
        return None
    cluster = _descendants(os.getpid())
    if not cluster:
        return None
    return subprocess.Popen([sys.executable, "-c", _REAPER, own, *cluster], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
