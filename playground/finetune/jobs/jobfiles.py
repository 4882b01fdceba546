"""What a job folder's config.json and state.json must look like to be read, and setting aside one that does not.

A job folder is written by the server and its workers, but it is only a folder of JSON files: a
hand edit, a bad restore or a full disk can leave ``state.json`` holding ``[1, 2]`` or a config
whose ``created`` is ``"yesterday"``. Every page lists jobs, so one such folder must never reach
them: :func:`problem` says what is wrong (None when the files are usable), and
:func:`set_aside` moves the folder to ``<home>/set-aside/`` (named on the Teacher page and in the
server's log) so the rest of the class carries on. No torch, no streamlit.
"""
from __future__ import annotations

import contextlib
import logging
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["SET_ASIDE_FOLDER", "config_problem", "state_problem", "set_aside", "set_aside_folders"]

SET_ASIDE_FOLDER = "set-aside"  # under the data directory, beside jobs/
_STATES = ("queued", "running", "done", "failed", "cancelled", "interrupted")  # store.STATES (no import cycle)
_TIMES = ("created", "updated", "started", "finished")  # state.json: seconds since the epoch
_TEXTS = ("owner", "owner_name", "client", "job_id", "kind")  # config.json: text or absent

log = logging.getLogger(__name__)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def config_problem(config: Any) -> str | None:
    """What makes a config.json's content unusable, or None when it can be read."""
    if not isinstance(config, dict):
        return f"config.json holds {type(config).__name__}, not an object"
    for key in _TEXTS:
        if config.get(key) is not None and not isinstance(config[key], str):
            return f"config.json: {key!r} is not text"
    created = config.get("created")
    if created is not None:
        try:
            datetime.fromisoformat(created)
        except (TypeError, ValueError):
            return f"config.json: 'created' is not a date and time ({str(created)[:40]!r})"
    return None  # a damaged train or dataset is read as empty fields (Job), not a reason to set aside


def state_problem(state: Any) -> str | None:
    """What makes a state.json's content unusable, or None when it can be read."""
    if not isinstance(state, dict):
        return f"state.json holds {type(state).__name__}, not an object"
    if state.get("state") not in _STATES:
        return f"state.json: 'state' is {str(state.get('state'))[:40]!r}, not one of {', '.join(_STATES)}"
    for key in _TIMES:
        if state.get(key) is not None and not _number(state[key]):
            return f"state.json: {key!r} is not a time in seconds"
    if state.get("message") is not None and not isinstance(state["message"], str):
        return "state.json: 'message' is not text"
    if state.get("progress") is not None and not isinstance(state["progress"], dict):
        return "state.json: 'progress' is not an object"
    return None


def set_aside(job_dir: Path, reason: str) -> Path | None:
    """Move a malformed job folder out of ``jobs/`` (so no page lists it) and log why; returns where
    it went, or None when it could not be moved (it is then skipped where it is, every time)."""
    home = job_dir.parent.parent
    target = home / SET_ASIDE_FOLDER / f"{job_dir.name}-{int(time.time())}"
    try:
        target.parent.mkdir(exist_ok=True)
        os.replace(job_dir, target)
    except OSError as exc:
        log.warning("job %s is malformed (%s) and could not be set aside: %s", job_dir.name, reason, exc)
        return None
    with contextlib.suppress(OSError):  # the log line below still says why
        (target / "SET_ASIDE.txt").write_text(f"set aside: {reason}\n")
    log.warning("job %s is malformed (%s): set aside in %s", job_dir.name, reason, target)
    return target


def set_aside_folders(home: Path) -> list[tuple[str, str]]:
    """(folder name, reason) of every folder set aside under ``home``, newest first (the Teacher page's list)."""
    root = home / SET_ASIDE_FOLDER
    try:
        folders = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.name, reverse=True)
    except OSError:
        return []
    found = []
    for path in folders:
        try:
            reason = (path / "SET_ASIDE.txt").read_text().strip().removeprefix("set aside: ")
        except OSError:
            reason = "malformed"
        found.append((path.name, reason))
    return found
