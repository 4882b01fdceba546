"""Shared support for tests that check which processes are left running."""
from __future__ import annotations

from pathlib import Path

__all__ = ["processes_marked"]


def processes_marked(marker: str) -> list[str]:
    """Live processes whose environment holds ``marker`` (what a process and its children inherit)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker.encode() in (proc / "environ").read_bytes():
                command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                found.append(f"{proc.name} {command[:200]}")
        except OSError:
            continue
    return found
