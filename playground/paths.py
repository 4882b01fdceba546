"""Where the playground keeps its data on disk (the one data folder, `PLAYGROUND_HOME`)."""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["home_dir"]


_MADE: set[Path] = set()  # data folders already created by this process


def home_dir() -> Path:
    """The data directory (jobs, uploads, exported models), created on first use.

    ``PLAYGROUND_HOME`` wins; otherwise ``$XDG_DATA_HOME/cnn-playground``
    (``~/.local/share/cnn-playground``), the usual place for per-user app data.
    """
    env = os.environ.get("PLAYGROUND_HOME")
    if env:
        path = Path(env).expanduser()
    else:
        base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
        path = Path(base) / "cnn-playground"
    if path not in _MADE:  # a mkdir is a system call on every page run otherwise (a class server's hot path)
        path.mkdir(parents=True, exist_ok=True)
        _MADE.add(path)
    return path
