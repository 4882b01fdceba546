"""One server per data folder: an exclusive lock (``fcntl.flock``) on ``<home>/server.lock`` for the process's life.

Two servers on one data folder would each start the same queued jobs, and each would mark the
other's running jobs interrupted after a restart. The lock is taken when a process makes its job
manager (:func:`playground.finetune.jobs.manager.get_manager`); the kernel releases it when the
process ends, however it ends, so a crashed server never leaves a stale lock behind.
"""
from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import IO

from playground.finetune.jobs.store import JobError

__all__ = ["LOCK_FILE", "hold_data_folder"]

LOCK_FILE = "server.lock"  # under the data directory
_HELD: dict[Path, IO[str]] = {}  # data folder -> the open lock file (kept open: closing it would unlock)
_GUARD = threading.Lock()


def hold_data_folder(home: Path) -> None:
    """Take the data folder's server lock for this process (again: a no-op). Raises JobError, naming
    the other server's pid, when another process holds it."""
    import fcntl

    home = home.resolve()
    with _GUARD:
        if home in _HELD:
            return
        f = open(home / LOCK_FILE, "a+")  # noqa: SIM115  # kept open for the process's life, on purpose
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            other = f.read().strip() or "unknown"
            f.close()
            raise JobError(f"another CNN Playground server (pid {other}) already uses the data folder {home}: two "
                           "servers would run the same jobs twice. Stop that one, or give this one its own folder "
                           "with PLAYGROUND_HOME") from None
        with contextlib.suppress(OSError):  # the pid is only for the message above
            f.seek(0)
            f.truncate()
            f.write(str(os.getpid()))
            f.flush()
        _HELD[home] = f
