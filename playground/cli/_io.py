"""Small helpers shared by the CLI commands."""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["print_json", "bounded"]


def print_json(data: Any) -> None:
    """Write ``data`` as JSON to stdout: the only thing ``--json`` prints there."""
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")


def bounded(kind: type, lo: float, hi: float | None = None) -> Callable[[str], Any]:
    """An argparse ``type=``: ``kind(text)`` from ``lo`` to ``hi`` (no upper limit when None)."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole ' if kind is int else ''}number") from None
        if not (lo <= value and (hi is None or value <= hi)):  # written so that NaN fails too
            bounds = f"must be from {lo:g} to {hi:g}" if hi is not None else f"must be {lo:g} or more"
            raise argparse.ArgumentTypeError(bounds)
        return value

    return parse
