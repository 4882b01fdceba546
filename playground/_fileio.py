"""Small file helpers shared by the on-disk stores (datasets, jobs, workers)."""
from __future__ import annotations

import errno
import json
import os
import threading
from pathlib import Path
from typing import Any

__all__ = ["write_json_atomic", "overwrite_json_in_place", "disk_full"]


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that readers see the old file or the new one, never half of either.

    The temporary name carries the process and thread, so concurrent writers of the same
    file never share one; ``os.replace`` is atomic on POSIX and Windows.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, path)
    except BaseException:
        # A full disk fails the write after the file was created: never leave a 0-byte .tmp behind.
        tmp.unlink(missing_ok=True)
        raise


def overwrite_json_in_place(path: Path, data: Any) -> None:
    """Rewrite an existing file's bytes with compact JSON, reusing its blocks (not atomic).

    The last resort when :func:`write_json_atomic` fails on a full disk: a job's final state must
    still be recorded, and a shorter text written over the old one needs no new space. Raises
    OSError when the file is missing or the text would not fit in what the file holds now.
    """
    text = json.dumps(data, separators=(",", ":")).encode()
    with open(path, "r+b") as f:
        size = os.fstat(f.fileno()).st_size
        if len(text) > size:
            raise OSError(errno.ENOSPC, f"{path.name}: the final state does not fit in the old file")
        f.write(text)
        f.truncate()


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk (or the user's quota) is full."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
