"""The SQLite store: every write kept under a class's burst of submissions, closed assignments refuse,
each student's history is their own, the schema carries its version; the progress table, CSV and leaderboard."""
from __future__ import annotations

import csv
import io
import sqlite3
import threading
from typing import Any

import pytest

from playground.assignments import db
from playground.assignments.model import AssignmentError, parse_assignment
from playground.assignments.presets import preset
from playground.assignments.progress import leaderboard, progress, progress_csv
from playground.spec.share import decode_share

SIZE = [3, 32, 32]
TASK = parse_assignment({"title": "Same size", "input": SIZE, "criteria": [
    {"metric": "output_shape", "equals": [32, 32]}, {"metric": "conv_layers", "at_least": 2}]})


def design(padding: int, n: int = 2) -> dict[str, Any]:
    return {"input": SIZE, "layers": [{"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": padding}] * n}


def owner(i: int) -> str:
    return f"{i:064x}"


def test_thirty_students_submitting_at_once_lose_nothing() -> None:
    aid = db.create_assignment(TASK, is_open=True)
    start, errors = threading.Barrier(30), []

    def student(i: int) -> None:
        start.wait()
        try:
            for attempt in range(3):
                db.submit(aid, owner(i), f"student {i}", design(padding=1 if attempt == 2 else 0))
        except Exception as exc:  # any lost write fails the test below with its reason
            errors.append(exc)

    threads = [threading.Thread(target=student, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = db.submissions(aid)
    assert len(rows) == 90 and len({r.id for r in rows}) == 90
    assert {r.owner for r in rows} == {owner(i) for i in range(30)}
    best = db.best_per_owner(rows)
    assert len(best) == 30 and all(b.passed == 2 for b in best.values())  # each one's third try met both


def test_the_server_checks_the_stored_design_itself() -> None:
    aid = db.create_assignment(TASK, is_open=True)
    sub = db.submit(aid, owner(1), "Ann", design(padding=1))
    assert (sub.passed, sub.total) == (2, 2) and sub.result["results"][0]["status"] == "pass"
    stored = db.history(aid, owner(1))[0]
    assert stored.design == design(padding=1) and stored.passed == 2
    assert db.submit(aid, owner(1), "Ann", design(padding=0)).passed == 1


def test_a_closed_assignment_refuses_submissions_and_stores_nothing() -> None:
    aid = db.create_assignment(TASK)  # new ones start closed
    with pytest.raises(AssignmentError, match="closed"):
        db.submit(aid, owner(1), "Ann", design(1))
    db.set_open(aid, True)
    db.submit(aid, owner(1), "Ann", design(1))
    db.set_open(aid, False)
    with pytest.raises(AssignmentError, match="closed"):
        db.submit(aid, owner(1), "Ann", design(1))
    assert len(db.submissions(aid)) == 1


@pytest.mark.parametrize(("who", "what", "why"), [
    ("", design(1), "owner id"), (owner(1), {"x": float("nan")}, "plain JSON"),
    (owner(1), {"input": SIZE, "layers": ["x" * 1_000_001]}, "bytes")])
def test_a_submission_without_an_owner_or_with_a_hostile_design_is_refused(who: str, what: Any, why: str) -> None:
    aid = db.create_assignment(TASK, is_open=True)
    with pytest.raises(AssignmentError, match=why):
        db.submit(aid, who, "Ann", what)
    assert db.submissions(aid) == []


def test_each_student_sees_only_their_own_history() -> None:
    aid = db.create_assignment(TASK, is_open=True)
    db.submit(aid, owner(1), "Ann", design(0))
    db.submit(aid, owner(2), "Bob", design(1))
    assert [s.name for s in db.history(aid, owner(1))] == ["Ann"]
    assert [s.name for s in db.history(aid, owner(2))] == ["Bob"]
    assert db.history(aid, owner(3)) == []


def test_edit_copy_open_leaderboard_delete() -> None:
    aid = db.create_assignment(TASK)
    db.update_assignment(aid, preset("Keep it 32 x 32"))
    assert db.get_assignment(aid).title == "Keep it 32 x 32"
    db.set_open(aid, True)
    db.set_leaderboard(aid, True)
    db.submit(aid, owner(1), "Ann", design(1, 3))
    copy = db.copy_assignment(aid)
    got = db.get_assignment(copy)
    assert got.title == "Keep it 32 x 32 (copy)" and not got.is_open and db.submissions(copy) == []
    assert [a.id for a in db.list_assignments(open_only=True)] == [aid]
    db.delete_assignment(aid)
    assert db.submissions() == [] and [a.id for a in db.list_assignments()] == [copy]
    for action in (lambda: db.set_open(aid, True), lambda: db.delete_assignment(aid), lambda: db.get_assignment(aid)):
        with pytest.raises(AssignmentError, match="no"):
            action()


def test_the_database_is_wal_and_carries_its_schema_version() -> None:
    db.list_assignments()
    conn = sqlite3.connect(db.db_path())
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(db.SCHEMA_VERSION,)]
    conn.execute("UPDATE schema_version SET version = 99")
    conn.commit()
    conn.close()
    db._MIGRATED.clear()
    with pytest.raises(AssignmentError, match="newer version"):
        db.list_assignments()


def test_progress_csv_and_leaderboard() -> None:
    aid = db.create_assignment(TASK, is_open=True)
    db.submit(aid, owner(1), "=HYPERLINK(\"x\")", design(0))
    db.submit(aid, owner(2), "Bob", design(1))
    db.submit(aid, owner(2), "Bob", design(0))          # a worse later try: the best still counts
    rows = progress()
    assert [(r.name, r.best.passed, r.count, r.criteria) for r in rows] == [
        ("=HYPERLINK(\"x\")", 1, 1, "✗✓"), ("Bob", 2, 2, "✓✓")]
    table = list(csv.reader(io.StringIO(progress_csv(rows))))
    assert table[0][:4] == ["student", "assignment", "passed", "total"]
    assert table[1][0].startswith("'=")  # a spreadsheet shows it as text, never runs it
    link = table[2][-1]
    assert link.startswith("/design?") and "lock=1" in link
    token = link.split("spec=")[1].split("&")[0]
    assert decode_share(token) == design(1)
    assert leaderboard(aid) == [("Bob", 2, 2), ("=HYPERLINK(\"x\")", 1, 2)]


def test_a_student_cannot_flood_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "MAX_SUBMISSIONS", 3)
    aid = db.create_assignment(TASK, is_open=True)
    for _ in range(3):
        db.submit(aid, owner(1), "Ann", design(1))
    with pytest.raises(AssignmentError, match="the most it keeps"):
        db.submit(aid, owner(1), "Ann", design(1))
    db.submit(aid, owner(2), "Bob", design(1))  # the others are not held back
    assert len(db.submissions(aid)) == 4


def test_the_matrix_has_a_row_per_student_and_a_column_per_assignment() -> None:
    from playground.assignments.progress import progress_matrix

    first, second = db.create_assignment(TASK, is_open=True), db.create_assignment(preset("Keep it 32 x 32"),
                                                                                   is_open=True)
    db.submit(first, owner(1), "Ann", design(1))
    db.submit(second, owner(1), "Annie", design(1, 3))  # her latest name is the one shown
    db.submit(first, owner(2), "Ann", design(0))        # another student with the same name: another row
    matrix = progress_matrix(progress())
    assert matrix == [
        {"student": "Ann", "Same size": "1 / 2 ✗✓", "Keep it 32 x 32": ""},
        {"student": "Annie", "Same size": "2 / 2 ✓✓", "Keep it 32 x 32": "4 / 4 ✓✓✓✓"}]
