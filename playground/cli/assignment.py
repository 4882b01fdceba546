"""``python -m playground assignment list|export ID|import FILE|grade [ID]``: the class's assignments as files.

``export`` writes the teacher's copy (hidden targets included) to stdout; ``import`` reads a file in the
same format (or a preset's title with ``--preset``) and stores it as a new, closed assignment; ``list``
shows every assignment with its id, whether it is open and how many submissions it has; ``grade`` trains the
submitted designs whose accuracy criteria wait for training (here, never in the app server) and records the result.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from playground.cli._io import print_json

__all__ = ["HELP", "add_arguments", "run"]

HELP = "Assignments: list them, export one as JSON, import one from a JSON file, grade accuracy criteria."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Sub-commands of ``assignment``."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="every assignment: id, open or closed, submissions, title")
    listing.add_argument("--json", action="store_true", help="print JSON (only JSON on stdout)")
    export = sub.add_parser("export", help="one assignment as a JSON file (hidden targets included)")
    export.add_argument("id", help="the assignment's id (see `assignment list`)")
    imp = sub.add_parser("import", help="store a JSON file as a new assignment (closed unless --open)")
    imp.add_argument("file", metavar="FILE.json", help="the assignment file ('-' reads standard input)")
    imp.add_argument("--open", action="store_true", help="open it to submissions at once")
    grade = sub.add_parser("grade", help="train the designs waiting for an accuracy check and record their accuracy")
    grade.add_argument("id", nargs="?", help="only this assignment's submissions (default: all)")
    grade.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None, help="where to train (default auto)")


def _read(name: str) -> bytes:
    from playground.assignments.model import AssignmentError

    if name == "-":
        return sys.stdin.buffer.read(2_000_001)
    try:
        with open(Path(name), "rb") as fh:
            return fh.read(2_000_001)  # load_assignment rejects anything over its limit
    except OSError as exc:
        raise AssignmentError(f"cannot read '{name}': {exc.strerror or exc}") from None


def run(args: argparse.Namespace) -> int:
    """Carry out the action; errors (PlaygroundError) become one line and exit status 2 in the dispatcher."""
    from playground.assignments import db
    from playground.assignments.model import load_assignment

    if args.action == "grade":
        from playground.assignments.grade import grade, pending

        waiting = pending(args.id)
        if not waiting:
            print("no submission is waiting for an accuracy check")
        for sub in waiting:  # one at a time: each is a real training run
            done = grade(sub, device=args.device)
            print(f"submission {done.id} ({done.name}): {done.passed} of {done.total} criteria met", flush=True)
    elif args.action == "export":
        sys.stdout.write(db.get_assignment(args.id).assignment.to_json() + "\n")
    elif args.action == "import":
        new_id = db.create_assignment(load_assignment(_read(args.file)), is_open=args.open)
        print(new_id)
    else:
        counts = db.submission_counts()
        rows = [{"id": a.id, "title": a.title, "open": a.is_open, "submissions": counts.get(a.id, 0)}
                for a in db.list_assignments()]
        if args.json:
            print_json(rows)
        elif not rows:
            print("no assignments yet: `assignment import FILE.json` adds one")
        for r in rows if not args.json else []:
            print(f"{r['id']}  {'open  ' if r['open'] else 'closed'}  {r['submissions']:>4} submissions  {r['title']}")
    return 0
