"""Where assignments and submissions live: one SQLite file under the data directory (standard library only).

WAL mode, so readers (every student's page) never wait for a writer; ``busy_timeout`` so 30 students
submitting in the same second queue for the write lock instead of failing; every write in one
``BEGIN IMMEDIATE`` transaction. The schema carries a version and migrates forward on open.

A submission stores the design's JSON as sent and the result of checking *that stored text* on the
server (:func:`submit`), with the owner id the caller took from the browser's cookie, never from the page.
"""
from __future__ import annotations

import contextlib
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playground.assignments.check import check
from playground.assignments.model import Assignment, AssignmentError, parse_assignment
from playground.paths import home_dir
from playground.spec.parse import MAX_SPEC_BYTES

__all__ = ["DB_FILE", "SCHEMA_VERSION", "StoredAssignment", "Submission", "db_path", "create_assignment",
           "update_assignment", "set_open", "set_leaderboard", "delete_assignment", "copy_assignment",
           "get_assignment", "list_assignments", "submit", "submissions", "history", "best_per_owner",
           "submission_counts", "record_result", "record_training", "attach_job", "get_submission"]

DB_FILE = "assignments.sqlite3"
BUSY_TIMEOUT_MS = 30_000  # a class's burst of writes queues behind the lock; each write takes about a millisecond
MAX_NAME = 80
MAX_SUBMISSIONS = 200  # per student and assignment: a class's worth of honest tries, not a flood of rows

# version -> the statements that bring the previous version to it (never edit one that has shipped)
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: ("""CREATE TABLE assignments (
               id TEXT PRIMARY KEY, body TEXT NOT NULL, is_open INTEGER NOT NULL DEFAULT 0,
               leaderboard INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL, updated REAL NOT NULL)""",
        """CREATE TABLE submissions (
               id INTEGER PRIMARY KEY AUTOINCREMENT,
               assignment_id TEXT NOT NULL REFERENCES assignments(id) ON DELETE CASCADE,
               owner TEXT NOT NULL, name TEXT NOT NULL, design TEXT NOT NULL, results TEXT NOT NULL,
               passed INTEGER NOT NULL, total INTEGER NOT NULL, created REAL NOT NULL)""",
        "CREATE INDEX submissions_by_owner ON submissions (assignment_id, owner, created)"),
    # accuracy criterion index -> {"job": its training job's id, "accuracy": measured on the hidden split, or
    # text: why it could not train}, a JSON object (Submission.training)
    2: ("ALTER TABLE submissions ADD COLUMN jobs TEXT NOT NULL DEFAULT '{}'",),
}
SCHEMA_VERSION = max(_MIGRATIONS)
_MIGRATED: set[Path] = set()  # database files this process has brought up to date
_MIGRATE_LOCK = threading.Lock()


@dataclass(frozen=True)
class StoredAssignment:
    """An assignment as the server keeps it: its id, whether students can submit, whether they see a leaderboard."""

    id: str
    assignment: Assignment
    is_open: bool
    leaderboard: bool
    created: float
    updated: float

    @property
    def title(self) -> str:
        """The assignment's title."""
        return self.assignment.title


@dataclass(frozen=True)
class Submission:
    """One submitted design: who (owner id and the name they gave), what (the design), its checked result."""

    id: int
    assignment_id: str
    owner: str
    name: str
    design: dict[str, Any]
    result: dict[str, Any]  # CheckResult.public(): statuses and the design's own values, no hidden targets
    passed: int
    total: int
    created: float
    # accuracy criterion index (text) -> {"job": id} once queued, plus "accuracy" (hidden split) once measured
    training: dict[str, dict[str, Any]] = field(default_factory=dict)


def db_path() -> Path:
    """The database file under the data directory (PLAYGROUND_HOME)."""
    return home_dir() / DB_FILE


def _migrate(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        version = row[0] if row else 0
        if version > SCHEMA_VERSION:
            raise AssignmentError(f"{db_path().name} was written by a newer version of the playground "
                                  f"(schema {version}); update the playground")
        for step in range(version + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[step]:
                conn.execute(statement)
        if row is None:
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
        elif version != SCHEMA_VERSION:
            conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


@contextlib.contextmanager
def _connect() -> Iterator[sqlite3.Connection]:
    """A connection to this data directory's database (migrated on first use by this process)."""
    path = db_path()
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)  # we BEGIN ourselves
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        if path not in _MIGRATED:
            with _MIGRATE_LOCK:
                conn.execute("PRAGMA journal_mode = WAL")  # kept in the file: once is enough
                _migrate(conn)
                _MIGRATED.add(path)
        yield conn
    finally:
        conn.close()


@contextlib.contextmanager
def _write() -> Iterator[sqlite3.Connection]:
    """A connection inside one write transaction: committed at the end, rolled back on any error."""
    with _connect() as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def _stored(row: tuple) -> StoredAssignment:
    return StoredAssignment(row[0], parse_assignment(json.loads(row[1])), bool(row[2]), bool(row[3]), row[4], row[5])


_COLUMNS = "id, body, is_open, leaderboard, created, updated"


def create_assignment(assignment: Assignment, *, is_open: bool = False, leaderboard: bool = False) -> str:
    """Store a new assignment (closed unless ``is_open``); returns its id (short, random, URL-safe)."""
    new_id = secrets.token_hex(4)
    now = time.time()
    with _write() as conn:
        conn.execute(f"INSERT INTO assignments ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                     (new_id, assignment.to_json(), int(is_open), int(leaderboard), now, now))
    return new_id


def _changed(assignment_id: str, cursor: sqlite3.Cursor) -> None:
    if cursor.rowcount == 0:
        raise AssignmentError(f"there is no assignment {assignment_id!r} (it may have been deleted)")


def update_assignment(assignment_id: str, assignment: Assignment) -> None:
    """Replace an assignment's text and criteria (earlier submissions keep the results they were given)."""
    with _write() as conn:
        _changed(assignment_id, conn.execute("UPDATE assignments SET body = ?, updated = ? WHERE id = ?",
                                                   (assignment.to_json(), time.time(), assignment_id)))


def set_open(assignment_id: str, is_open: bool) -> None:
    """Open an assignment to submissions, or close it."""
    with _write() as conn:
        _changed(assignment_id, conn.execute("UPDATE assignments SET is_open = ?, updated = ? WHERE id = ?",
                                                   (int(is_open), time.time(), assignment_id)))


def set_leaderboard(assignment_id: str, shown: bool) -> None:
    """Whether students see the assignment's leaderboard (display names and scores only)."""
    with _write() as conn:
        _changed(assignment_id, conn.execute("UPDATE assignments SET leaderboard = ? WHERE id = ?",
                                                   (int(shown), assignment_id)))


def delete_assignment(assignment_id: str) -> None:
    """Delete an assignment and every submission to it."""
    with _write() as conn:
        _changed(assignment_id, conn.execute("DELETE FROM assignments WHERE id = ?", (assignment_id,)))


def copy_assignment(assignment_id: str) -> str:
    """A closed copy of an assignment, titled "... (copy)", without its submissions; returns the new id."""
    a = get_assignment(assignment_id).assignment
    title = f"{a.title} (copy)"[: 120]
    return create_assignment(Assignment(title, a.instructions, a.input, a.criteria, a.start))


def get_assignment(assignment_id: str) -> StoredAssignment:
    """The assignment with this id; AssignmentError when there is none."""
    if not isinstance(assignment_id, str) or not 1 <= len(assignment_id) <= 64:
        raise AssignmentError("this assignment link is incomplete: ask your teacher for it again")
    with _connect() as conn:
        row = conn.execute(f"SELECT {_COLUMNS} FROM assignments WHERE id = ?", (assignment_id,)).fetchone()
    if row is None:
        raise AssignmentError("there is no such assignment (it may have been deleted): ask your teacher for the link")
    return _stored(row)


def list_assignments(*, open_only: bool = False) -> list[StoredAssignment]:
    """Every assignment (or only the open ones), oldest first."""
    where = "WHERE is_open = 1" if open_only else ""
    with _connect() as conn:
        rows = conn.execute(f"SELECT {_COLUMNS} FROM assignments {where} ORDER BY created, id").fetchall()
    return [_stored(row) for row in rows]


def _design_text(design: Any) -> str:
    try:
        text = json.dumps(design, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        raise AssignmentError("this design is not plain JSON; save it from the Designer and try again") from None
    if len(text.encode("utf-8")) > MAX_SPEC_BYTES:
        raise AssignmentError(f"this design is over {MAX_SPEC_BYTES:,} bytes; a design is a small JSON document")
    return text


def submit(assignment_id: str, owner: str, name: str, design: Any) -> Submission:
    """Record ``design`` as ``owner``'s submission and check it on the server; returns the stored submission.

    The design is stored as JSON text and checked from that text (the page's own check is never trusted).
    ``owner`` must come from the browser's owner cookie (:func:`playground.ui.owner.current_owner`).
    Raises AssignmentError when the assignment is closed or gone, or the design is too large.
    """
    if not isinstance(owner, str) or not owner:
        raise AssignmentError("this browser has no owner id yet: reload the page and submit again")
    name = " ".join(str(name or "").split())[:MAX_NAME] or "anonymous"
    text = _design_text(design)
    stored = get_assignment(assignment_id)
    if not stored.is_open:
        raise AssignmentError("this assignment is closed: submissions are not accepted any more")
    result = check(stored.assignment, json.loads(text))
    now = time.time()
    with _write() as conn:  # the teacher may have closed it while the check ran
        row = conn.execute("SELECT is_open FROM assignments WHERE id = ?", (assignment_id,)).fetchone()
        if row is None or not row[0]:
            raise AssignmentError("this assignment is closed: submissions are not accepted any more")
        made = conn.execute("SELECT COUNT(*) FROM submissions WHERE assignment_id = ? AND owner = ?",
                            (assignment_id, owner)).fetchone()[0]
        if made >= MAX_SUBMISSIONS:
            raise AssignmentError(f"you have submitted {made} designs to this assignment, the most it keeps; "
                                  "your best one counts")
        cursor = conn.execute(
            "INSERT INTO submissions (assignment_id, owner, name, design, results, passed, total, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (assignment_id, owner, name, text, json.dumps(result.public()), result.passed, result.total, now))
        new_id = int(cursor.lastrowid or 0)
    return Submission(new_id, assignment_id, owner, name, json.loads(text), result.public(), result.passed,
                      result.total, now)


_SUB_COLUMNS = "id, assignment_id, owner, name, design, results, passed, total, created, jobs"


def _submission(row: tuple) -> Submission:
    return Submission(row[0], row[1], row[2], row[3], json.loads(row[4]), json.loads(row[5]), row[6], row[7], row[8],
                      json.loads(row[9]))


def history(assignment_id: str, owner: str) -> list[Submission]:
    """One owner's submissions to one assignment, newest first (what a student sees of their own)."""
    with _connect() as conn:
        rows = conn.execute(f"SELECT {_SUB_COLUMNS} FROM submissions WHERE assignment_id = ? AND owner = ?"
                            " ORDER BY created DESC, id DESC", (assignment_id, owner)).fetchall()
    return [_submission(row) for row in rows]


def submissions(assignment_id: str | None = None) -> list[Submission]:
    """Every submission (to one assignment, or all), oldest first: the teacher's view."""
    query = f"SELECT {_SUB_COLUMNS} FROM submissions"
    args: tuple[Any, ...] = ()
    if assignment_id is not None:
        query, args = query + " WHERE assignment_id = ?", (assignment_id,)
    with _connect() as conn:
        rows = conn.execute(query + " ORDER BY created, id", args).fetchall()
    return [_submission(row) for row in rows]


def record_result(submission_id: int, result: dict[str, Any]) -> None:
    """Replace a submission's checked result (``CheckResult.public()``, e.g. after the teacher edited criteria)."""
    with _write() as conn:
        conn.execute("UPDATE submissions SET results = ?, passed = ?, total = ? WHERE id = ?",
                     (json.dumps(result), result["passed"], result["total"], submission_id))


def record_training(submission_id: int, accuracies: dict[int, float | str], result: dict[str, Any], *,
                    replaces: dict[str, Any]) -> bool:
    """Store measured accuracies (criterion index -> accuracy on the hidden split, or text: why it could not
    train) and the result checked with them, in one transaction, and only while the stored result is still
    ``replaces`` (the one the caller read): two pages recording the same finished job write once.
    Returns whether it was written."""
    with _write() as conn:
        row = conn.execute("SELECT results, jobs FROM submissions WHERE id = ?", (submission_id,)).fetchone()
        if row is None or json.loads(row[0]) != replaces:
            return False
        training = json.loads(row[1])
        for index, value in accuracies.items():
            training[str(index)] = dict(training.get(str(index), {}), accuracy=value)
        conn.execute("UPDATE submissions SET results = ?, passed = ?, total = ?, jobs = ? WHERE id = ?",
                     (json.dumps(result), result["passed"], result["total"], json.dumps(training), submission_id))
        return True


def attach_job(submission_id: int, criterion: int, job_id: str) -> None:
    """Remember the training job queued for a submission's accuracy criterion ``criterion`` (its index)."""
    with _write() as conn:
        row = conn.execute("SELECT jobs FROM submissions WHERE id = ?", (submission_id,)).fetchone()
        if row is None:
            raise AssignmentError(f"there is no submission {submission_id} (its assignment may have been deleted)")
        training = json.loads(row[0])
        training[str(criterion)] = {"job": job_id}
        conn.execute("UPDATE submissions SET jobs = ? WHERE id = ?", (json.dumps(training), submission_id))


def get_submission(submission_id: int) -> Submission:
    """One submission by id; AssignmentError when there is none."""
    with _connect() as conn:
        row = conn.execute(f"SELECT {_SUB_COLUMNS} FROM submissions WHERE id = ?", (submission_id,)).fetchone()
    if row is None:
        raise AssignmentError(f"there is no submission {submission_id} (its assignment may have been deleted)")
    return _submission(row)


def submission_counts() -> dict[str, int]:
    """Assignment id -> how many submissions it has."""
    with _connect() as conn:
        return dict(conn.execute("SELECT assignment_id, COUNT(*) FROM submissions GROUP BY assignment_id").fetchall())


def best_per_owner(rows: list[Submission]) -> dict[tuple[str, str], Submission]:
    """(assignment id, owner) -> that owner's best submission: most criteria passed, the earliest among equals."""
    best: dict[tuple[str, str], Submission] = {}
    for sub in rows:
        key = (sub.assignment_id, sub.owner)
        held = best.get(key)
        if held is None or (sub.passed, -sub.created) > (held.passed, -held.created):
            best[key] = sub
    return best
