"""What a server process does once, at start: open-file limit, data-folder lock, job manager, housekeeping.

``python -m playground serve`` calls :func:`start_server` before Streamlit opens its port, so queued
jobs run again as soon as the server is up. ``streamlit run app.py`` gives no hook before the first
session connects, so app.py also calls it (once per process: later calls return the first answer).
No streamlit here.
"""
from __future__ import annotations

import logging
import threading

from playground.errors import PlaygroundError

__all__ = ["raise_open_file_limit", "start_server", "OPEN_FILES_CEILING"]

# When the hard limit is "unlimited", raise the soft one this far: far above a class's connections,
# and a value every kernel accepts.
OPEN_FILES_CEILING = 1 << 16

log = logging.getLogger(__name__)
_STARTED: list[str | None] = []  # this process's start: [None] when it went well, [message] when not
_GUARD = threading.Lock()


def raise_open_file_limit() -> tuple[int, int] | None:
    """Raise the soft RLIMIT_NOFILE to the hard limit (each websocket is a file descriptor: at the
    usual 1,024, about 1,100 slow connections made health checks time out). Returns (before, after),
    None where the platform has no such limit."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = OPEN_FILES_CEILING if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %d to %d: %s", soft, target, exc)
            return soft, soft
        log.warning("open-file limit raised from %d to %d (the hard limit)", soft, target)
        return soft, target
    return soft, soft


def start_server(*, class_mode: bool | None = None) -> str | None:
    """Start this process's server side once: the open-file limit, the data folder's lock and the job
    manager (queued jobs start now), a housekeeping sweep, and in a class the teacher reset code in
    the log. Returns None, or why this server cannot serve its data folder (another server holds it)."""
    with _GUARD:
        if _STARTED:
            return _STARTED[0]
        from playground.classroom import class_mode as env_class_mode
        from playground.finetune.jobs.manager import get_manager
        from playground.housekeeping import run_housekeeping
        from playground.teacher_access import reset_code

        raise_open_file_limit()
        try:
            get_manager()
        except PlaygroundError as exc:
            log.error("%s", exc)
            _STARTED.append(str(exc))
            return _STARTED[0]
        run_housekeeping()
        if class_mode if class_mode is not None else env_class_mode():
            reset_code()  # logged now, so the teacher can find it before anyone needs it
        _STARTED.append(None)
        return None
