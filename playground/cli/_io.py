"""Small helpers shared by the CLI commands."""
from __future__ import annotations

import json
import sys
from typing import Any

__all__ = ["print_json"]


def print_json(data: Any) -> None:
    """Write ``data`` as JSON to stdout: the only thing ``--json`` prints there."""
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")
