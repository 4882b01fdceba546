"""Small file helpers shared by the on-disk stores (datasets, jobs, workers)."""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

__all__ = ["write_json_atomic"]


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that readers see the old file or the new one, never half of either.

    The temporary name carries the process and thread, so concurrent writers of the same
    file never share one; ``os.replace`` is atomic on POSIX and Windows.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)
