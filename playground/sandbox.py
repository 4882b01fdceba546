"""Run one function in a separate, limited process: the server's guard for PyTorch work a student triggers.

A student's design or settings can ask for any amount of work. The cost models refuse what they
can see is too big before anything runs; this is the second line for what they cannot see. The
function runs in a child process with

- an address-space limit (``RLIMIT_AS``: the child's size when it starts plus ``memory_bytes``),
  so a runaway allocation fails in the child (``MemoryError`` / "can't allocate") instead of
  growing the server;
- a CPU-time limit (``RLIMIT_CPU``): the kernel stops the child when it has used that many
  seconds of CPU, whatever its threads did; PyTorch starts on one thread, so it takes one core
  unless the function asks for more (the fine-tune probe times at a job's thread count);
- a wall-clock limit and an ``alive`` callback polled ten times a second: when either says stop
  (the timeout passed, or the browser session that asked has gone), the child is killed at once.

Children are forked from a ``forkserver`` process that has already imported PyTorch, so a call
costs a fork (milliseconds), not an interpreter start (seconds), and never forks the
multi-threaded server itself. Nothing the child allocated survives it.
"""
from __future__ import annotations

import contextlib
import io
import multiprocessing as mp
import os
import resource
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing import context, forkserver, popen_forkserver, reduction, spawn, util
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from playground._format import human_bytes
from playground.errors import PlaygroundError

__all__ = ["SandboxError", "run_limited", "PRELOAD"]

T = TypeVar("T")
# Imported once by the fork server, so each child starts with them loaded.
PRELOAD = ["torch", "torchvision", "playground.design.build", "playground.design.erf"]
_POLL_S = 0.1
_context_lock = threading.Lock()
_context: Any = None


class SandboxError(PlaygroundError):
    """The limited process went over one of its limits (the message says which) or died."""


def _ctx() -> Any:
    """The forkserver context, created once (it starts its server on first use)."""
    global _context
    with _context_lock:
        if _context is None:
            ctx = mp.get_context("forkserver")
            ctx.set_forkserver_preload(PRELOAD)
            _context = ctx
        return _context


class _Popen(popen_forkserver.Popen):
    """The forkserver's launch, less the main module: a Streamlit server runs each page as ``__main__``,
    and a child told to re-import it would run the whole page again (and the estimate in it)."""

    def _launch(self, process_obj: Any) -> None:
        prep_data = spawn.get_preparation_data(process_obj._name)
        prep_data.pop("init_main_from_path", None)
        prep_data.pop("init_main_from_name", None)
        buf = io.BytesIO()
        context.set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buf)
            reduction.dump(process_obj, buf)
        finally:
            context.set_spawning_popen(None)
        self.sentinel, w = forkserver.connect_to_new_process(self._fds)  # type: ignore[attr-defined]
        _parent_w = os.dup(w)  # the child sees the parent go when this closes
        self.finalizer = util.Finalize(self, util.close_fds,  # type: ignore[attr-defined]
                                       (_parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class _Process(context.ForkServerProcess):
    _start_method = "forkserver"

    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        return _Popen(process_obj)


def _vm_size() -> int:
    """This process's address-space size in bytes (Linux), 0 if unknown."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _child(conn: Connection, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
           memory_bytes: int | None, cpu_seconds: int) -> None:
    """In the child: set the limits, run, send ``("ok", value)`` or ``("error", exception)``."""
    try:
        import torch

        torch.set_num_threads(1)  # one core per request; set before the limit so thread stacks fit
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
        if memory_bytes is not None:
            limit = _vm_size() + memory_bytes
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        conn.send(("ok", fn(*args, **kwargs)))
    except MemoryError:
        conn.send(("memory", None))
    except PlaygroundError as exc:
        conn.send(("error", exc))
    except RuntimeError as exc:  # PyTorch reports a failed allocation as RuntimeError
        text = str(exc)
        conn.send(("memory", None) if "alloc" in text.lower() else ("failed", text.splitlines()[0][:200]))
    except Exception as exc:  # noqa: BLE001 - anything else comes back as one line, never a traceback
        conn.send(("failed", f"{type(exc).__name__}: {str(exc)[:200]}"))
    finally:
        conn.close()


def run_limited(fn: Callable[..., T], *args: Any, memory_bytes: int, cpu_seconds: int, wall_seconds: float,
                alive: Callable[[], bool] | None = None, what: str = "this computation",
                limit_address_space: bool = True, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in a limited child process (see the module docstring); its value, or the
    :class:`PlaygroundError` it raised, or :class:`SandboxError` naming the limit it went over.
    ``fn``, its arguments and its value must pickle (a module-level function). ``limit_address_space``
    False leaves out ``RLIMIT_AS`` (for CUDA work: a CUDA context reserves tens of GB of addresses; its
    memory is the GPU's, and PyTorch's out-of-memory error bounds it)."""
    ctx = _ctx()
    parent, child = ctx.Pipe(duplex=False)
    proc = _Process(target=_child, args=(child, fn, args, kwargs, memory_bytes if limit_address_space else None,
                                         cpu_seconds), daemon=True)
    proc.start()
    child.close()
    deadline = time.monotonic() + wall_seconds
    try:
        while True:
            if parent.poll(_POLL_S):
                try:
                    status, value = parent.recv()
                except EOFError:  # the child died without answering (killed by a limit)
                    break
                return _outcome(status, value, memory_bytes, what)
            if not proc.is_alive():
                break
            if time.monotonic() > deadline:
                raise SandboxError(f"{what} took longer than {wall_seconds:.0f} s and was stopped")
            if alive is not None and not alive():
                raise SandboxError(f"{what} was stopped: the session that asked for it has gone")
    finally:
        _stop(proc)
        parent.close()
    code = proc.exitcode
    if code == -signal.SIGXCPU:
        raise SandboxError(f"{what} used more than its {cpu_seconds} s of CPU time and was stopped")
    if code == -signal.SIGKILL:  # the CPU time's hard limit, or the system out of memory
        raise SandboxError(f"{what} was killed: it went over its {cpu_seconds} s of CPU time or the memory left")
    raise SandboxError(f"{what} ended without a result (exit status {code}); it may have run out of its "
                       f"{human_bytes(memory_bytes)} memory limit")


def _outcome(status: str, value: Any, memory_bytes: int, what: str) -> Any:
    if status == "ok":
        return value
    if status == "error":
        raise value
    if status == "memory":
        raise SandboxError(f"{what} needed more than its {human_bytes(memory_bytes)} memory limit and was stopped")
    raise SandboxError(f"{what} failed: {value}")


def _stop(proc: Any) -> None:
    """Kill the child if it still runs, and reap it (no zombie is left behind)."""
    if proc.is_alive():
        with contextlib.suppress(ProcessLookupError):  # it ended between the check and the kill
            os.kill(proc.pid, signal.SIGKILL)
    proc.join(timeout=5)
