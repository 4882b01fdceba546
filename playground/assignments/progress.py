"""The class's progress, from the stored submissions: one row per student and assignment, the CSV the teacher
downloads, and the leaderboard students may see (display names and scores only)."""
from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass
from urllib.parse import urlencode

from playground.assignments.db import StoredAssignment, Submission, best_per_owner, list_assignments, submissions
from playground.assignments.grade import training_status
from playground.spec.parse import SpecError
from playground.spec.share import encode_share

__all__ = ["ProgressRow", "progress", "progress_matrix", "progress_csv", "leaderboard", "design_link", "CSV_COLUMNS"]

CSV_COLUMNS = ("student", "assignment", "passed", "total", "criteria", "accuracy", "submissions", "last_submission",
               "design_link")


@dataclass(frozen=True)
class ProgressRow:
    """One student on one assignment: their best submission, how many they made, when the last was."""

    name: str           # the display name of their latest submission
    owner: str
    assignment_id: str
    title: str
    best: Submission
    count: int
    last: float

    @property
    def criteria(self) -> str:
        """The best submission's criteria, in order: ✓ pass, ✗ not yet, … waiting for training."""
        marks = {"pass": "✓", "fail": "✗"}
        return "".join(marks.get(r.get("status"), "…") for r in self.best.result.get("results", []))

    @property
    def accuracy(self) -> str:
        """The best submission's accuracy criteria: "criterion 1: accuracy 93.1% (pass)", "training… (queued)"...
        ("; " between several; empty when the assignment has none)."""
        indices = [r["index"] for r in self.best.result.get("results", []) if r.get("metric") == "val_accuracy"]
        return "; ".join(f"criterion {i + 1}: {training_status(self.best, i)}" for i in indices)


def design_link(design: dict, *, base: str = "/design") -> str | None:
    """A read-only Designer link (``lock=1``) to a submitted design; None when it is too large for a link."""
    try:
        token = encode_share(design)
    except SpecError:
        return None
    return f"{base}?{urlencode({'spec': token, 'lock': '1'})}"


def progress(assignments: list[StoredAssignment] | None = None) -> list[ProgressRow]:
    """Every student × assignment pair with a submission, by assignment then by name."""
    stored = {a.id: a for a in (assignments if assignments is not None else list_assignments())}
    rows = [s for s in submissions() if s.assignment_id in stored]
    best = best_per_owner(rows)
    counts: dict[tuple[str, str], int] = {}
    last: dict[tuple[str, str], Submission] = {}
    for sub in rows:  # oldest first: the last one seen is the latest
        key = (sub.assignment_id, sub.owner)
        counts[key] = counts.get(key, 0) + 1
        last[key] = sub
    order = list(stored)
    out = [ProgressRow(last[key].name, key[1], key[0], stored[key[0]].title, sub, counts[key], last[key].created)
           for key, sub in best.items()]
    return sorted(out, key=lambda r: (order.index(r.assignment_id), r.name.casefold(), r.owner))


def progress_matrix(rows: list[ProgressRow]) -> list[dict[str, str]]:
    """Students × assignments: one row per student (by owner; named by their latest name), one column per
    assignment title holding the best result ("2 / 3 ✓✓✗"), empty where they have not submitted."""
    titles = list(dict.fromkeys(r.title for r in rows))
    students: dict[str, dict[str, str]] = {}
    for r in sorted(rows, key=lambda r: r.last):  # the latest name a student gave wins
        cells = students.setdefault(r.owner, {"student": r.name, **{t: "" for t in titles}})
        cells["student"] = r.name
        cells[r.title] = f"{r.best.passed} / {r.best.total} {r.criteria}"
    return sorted(students.values(), key=lambda c: c["student"].casefold())


def progress_csv(rows: list[ProgressRow], *, base: str = "/design") -> str:
    """The progress table as CSV text (a spreadsheet cell that starts with = + - @ is quoted as text)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.last))
        cells = [r.name, r.title, r.best.passed, r.best.total, r.criteria, r.accuracy, r.count, when,
                 design_link(r.best.design, base=base) or ""]
        writer.writerow([_safe_cell(c) for c in cells])
    return out.getvalue()


def _safe_cell(value: object) -> object:
    """Names are typed by students: a leading = + - @ would make a spreadsheet run it as a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def leaderboard(assignment_id: str) -> list[tuple[str, int, int]]:
    """(display name, criteria passed, total) per student, best first (earliest first among equals)."""
    best = best_per_owner(submissions(assignment_id))
    ranked = sorted(best.values(), key=lambda s: (-s.passed, s.created))
    return [(s.name, s.passed, s.total) for s in ranked]
