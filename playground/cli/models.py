"""``python -m playground models [--json]``: what can be used now, and why the others cannot."""
from __future__ import annotations

import argparse

__all__ = ["HELP", "add_arguments", "run"]

HELP = "List the models (zoo and fine-tuned) and whether each can be used now."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``models``."""
    parser.add_argument("--json", action="store_true",
                        help='print [{"name", "title", "available", "reason"}]')


def run(args: argparse.Namespace) -> int:
    """Print one line per model (and why an unavailable one is so), or JSON with --json."""
    from dataclasses import asdict

    from playground.cli._io import print_json
    from playground.models.registry import model_status

    rows = model_status()
    if args.json:
        print_json([asdict(r) for r in rows])
        return 0
    width = max(len(r.name) for r in rows)
    for r in rows:
        mark = "ready      " if r.available else "unavailable"
        print(f"{r.name:<{width}}  {mark}  {r.title}")
        if not r.available:
            print(f"{'':<{width}}  {'':<11}  {r.reason}")
    return 0
