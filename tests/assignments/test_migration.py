"""Schema v1 -> v2: a database file written by the first schema (no training jobs per submission) opens with
today's code, keeps every assignment and submission, gains the empty ``jobs`` column, and says version 2;
a migration that fails leaves the file as it was."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from playground.assignments import db
from playground.assignments.check import check
from playground.assignments.model import AssignmentError, parse_assignment

TASK = parse_assignment({"title": "Old one", "input": [3, 16, 16], "criteria": [
    {"metric": "conv_layers", "at_least": 1},
    {"metric": "val_accuracy", "at_least": 0.5, "dataset": "digits", "epochs": 1}]})
DESIGN = {"input": [3, 16, 16], "layers": [{"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}]}


def write_v1(path: Path) -> int:
    """A database exactly as the v1 code left it (its shipped statements), with one assignment and one
    submission in it; returns the submission's id."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for statement in db._MIGRATIONS[1]:
        conn.execute(statement)
    conn.execute("INSERT INTO schema_version (version) VALUES (1)")
    conn.execute("INSERT INTO assignments VALUES ('old1', ?, 1, 0, 1.0, 1.0)", (TASK.to_json(),))
    result = check(TASK, DESIGN).public()
    cursor = conn.execute(
        "INSERT INTO submissions (assignment_id, owner, name, design, results, passed, total, created)"
        " VALUES ('old1', ?, 'Ann', ?, ?, ?, ?, 2.0)",
        ("a" * 64, json.dumps(DESIGN), json.dumps(result), result["passed"], result["total"]))
    sub_id = int(cursor.lastrowid or 0)
    conn.close()
    return sub_id


def columns(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[1] for row in conn.execute("PRAGMA table_info(submissions)")]


def version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT version FROM schema_version").fetchone()[0])


def test_a_v1_database_migrates_to_v2_and_keeps_everything() -> None:
    assert db.SCHEMA_VERSION == 2
    path = db.db_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    sub_id = write_v1(path)
    assert "jobs" not in columns(path) and version(path) == 1
    stored = db.get_assignment("old1")  # the first use migrates
    assert stored.assignment == TASK and stored.is_open
    assert version(path) == 2 and "jobs" in columns(path)
    (sub,) = db.submissions("old1")
    assert (sub.id, sub.name, sub.design, sub.training) == (sub_id, "Ann", DESIGN, {})
    assert sub.result == check(TASK, DESIGN).public()
    db.attach_job(sub_id, 1, "job123")  # the new column works on a migrated row
    assert db.get_submission(sub_id).training == {"1": {"job": "job123"}}
    new = db.submit("old1", "b" * 64, "Bo", DESIGN)
    assert new.training == {} and len(db.submissions("old1")) == 2


def test_a_failing_migration_rolls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    path = db.db_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_v1(path)
    real = db._MIGRATIONS
    broken = dict(real)
    broken[2] = (*real[2], "THIS IS NOT SQL")
    monkeypatch.setattr(db, "_MIGRATIONS", broken)
    with pytest.raises(sqlite3.OperationalError):
        db.get_assignment("old1")
    assert version(path) == 1 and "jobs" not in columns(path)  # the ALTER before it was rolled back too
    monkeypatch.setattr(db, "_MIGRATIONS", real)  # the real migrations: the next use migrates
    assert db.get_assignment("old1").title == "Old one" and version(path) == 2


def test_a_newer_database_is_refused_with_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    path = db.db_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_v1(path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(AssignmentError, match="newer version"):
        db.list_assignments()
