"""``python -m playground assignment list|export ID|import FILE|grade [ID]``: the class's assignments as files.

``export`` writes the teacher's copy (hidden targets included) to stdout; ``import`` reads a file in the
same format (or a preset's title with ``--preset``) and stores it as a new, closed assignment; ``list``
shows every assignment with its id, whether it is open and how many submissions it has; ``grade`` records the
accuracy of the training jobs students' submissions queued that have finished, and trains here the submitted designs
whose accuracy criteria no job trains (never in the app server); either way the accuracy is measured on the hidden
test split (:mod:`playground.assignments.hidden`).
"""
from __future__ import annotations

import argparse
import sys
import unicodedata
from pathlib import Path

from playground._format import visible
from playground.cli._io import print_json

__all__ = ["HELP", "add_arguments", "run", "safe_json"]

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
    grade = sub.add_parser("grade", help="record finished training jobs' accuracy; train here the designs no job "
                                         "trains (accuracy on the hidden test split)")
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


def safe_json(text: str) -> str:
    """JSON text that is safe in a terminal and still the same JSON: every control or format character left
    inside a string (DEL, C1 controls such as CSI, bidirectional overrides, zero-width marks, line and
    paragraph separators) is written as a ``\\uXXXX`` escape. ``json.dumps`` escapes only those below U+0020;
    the raw newlines left are the indentation's."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch != "\n" and (unicodedata.category(ch) in ("Cc", "Cf") or ch in "\u2028\u2029"):
            if code > 0xFFFF:  # outside the BMP: a JSON escape is a UTF-16 surrogate pair
                code -= 0x10000
                out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
            else:
                out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def run(args: argparse.Namespace) -> int:
    """Carry out the action; errors (PlaygroundError) become one line and exit status 2 in the dispatcher.

    Every text a teacher or a student typed (titles, display names) is printed through
    :func:`playground._format.visible`, or :func:`safe_json` for the exported file: no escape sequence in a
    title reaches the terminal."""
    from playground.assignments import db
    from playground.assignments.model import load_assignment

    if args.action == "grade":
        from playground.assignments.grade import collect, grade, pending, untrained

        for sub in collect(pending(args.id)):  # training jobs the students' Submit queued and that have finished
            if sub.training:
                print(f"submission {sub.id} ({visible(sub.name)}): {sub.passed} of {sub.total} criteria met "
                      "(trained in its job)", flush=True)
        waiting = untrained(args.id)
        if not waiting:
            print("no submission is waiting for an accuracy check without a training job")
        for sub in waiting:  # one at a time: each is a real training run
            done = grade(sub, device=args.device)
            print(f"submission {done.id} ({visible(done.name)}): {done.passed} of {done.total} criteria met",
                  flush=True)
    elif args.action == "export":
        sys.stdout.write(safe_json(db.get_assignment(args.id).assignment.to_json()) + "\n")
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
            print(f"{r['id']}  {'open  ' if r['open'] else 'closed'}  {r['submissions']:>4} submissions  "
                  f"{visible(r['title'])}")
    return 0
