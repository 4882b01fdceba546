"""`python -m playground assignment ...` as a teacher runs it: import, list, export round trip, one-line errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from playground.assignments import db
from playground.assignments.model import load_assignment
from playground.assignments.presets import PRESETS, preset
from tests.conftest import REPO


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "playground", "assignment", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=180, input=stdin, env=os.environ.copy())


def test_import_list_export_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text(preset("Field of view on a budget").to_json())
    made = cli("import", str(path), "--open")
    assert made.returncode == 0 and made.stderr == "", made.stderr
    new_id = made.stdout.strip()
    assert db.get_assignment(new_id).is_open  # the same data folder (PLAYGROUND_HOME) as this test
    listed = cli("list", "--json")
    assert json.loads(listed.stdout) == [{"id": new_id, "title": "Field of view on a budget", "open": True,
                                          "submissions": 0}]
    assert new_id in cli("list").stdout
    exported = cli("export", new_id)
    assert exported.returncode == 0
    assert load_assignment(exported.stdout) == preset("Field of view on a budget")  # hidden targets included
    again = cli("import", "-", stdin=exported.stdout)
    assert again.returncode == 0 and db.get_assignment(again.stdout.strip()).assignment == load_assignment(
        exported.stdout)


def test_every_preset_survives_export_and_import() -> None:
    for title in PRESETS:
        aid = db.create_assignment(preset(title))
        text = db.get_assignment(aid).assignment.to_json()
        assert db.get_assignment(db.create_assignment(load_assignment(text))).assignment == preset(title)


@pytest.mark.parametrize(("args", "stdin", "words"), [
    (("export", "nope"), None, "no such assignment"),
    (("import", "/no/such/file.json"), None, "cannot read"),
    (("import", "-"), '{"title": "x", "input": [3, 3]}', "input must be [C, H, W]"),
    (("import", "-"), '{"title": "x", "input": [3, 3, 3], "criteria": [{"metric": "params"}]}', "criteria[0]"),
    (("import", "-"), "not json", "not valid JSON"),
    (("frobnicate",), None, "invalid choice"),
])
def test_bad_input_is_one_line_on_stderr_and_exit_2(args: tuple[str, ...], stdin: str | None, words: str) -> None:
    result = cli(*args, stdin=stdin)
    assert result.returncode == 2 and result.stdout == ""
    assert words in result.stderr and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_grade_with_nothing_waiting_says_so() -> None:
    result = cli("grade")
    assert result.returncode == 0 and "no submission is waiting" in result.stdout


HOSTILE = "Red \x1b[31mALERT\x1b[0m\x9b2J \u202eevil\u202c\u2028line \U000e0041 \\x1b done"


def test_titles_and_names_with_control_characters_never_reach_the_terminal_raw() -> None:
    from playground._format import visible

    task = load_assignment(json.dumps({"title": HOSTILE, "input": [3, 8, 8], "criteria": [
        {"metric": "conv_layers", "at_least": 1}]}))
    aid = db.create_assignment(task, is_open=True)
    db.submit(aid, "c" * 64, "Eve\x1b]0;pwned\x07", {"input": [3, 8, 8], "layers": []})
    for args in (("list",), ("export", aid), ("grade",)):
        result = cli(*args)
        assert result.returncode == 0, result.stderr
        raw = [ch for ch in result.stdout if ch in "\x1b\x9b\x07\u202e\u202c\u2028\U000e0041"]
        assert raw == [], (args, raw)
    listed = cli("list").stdout
    assert visible(HOSTILE) in listed and "\\x1b[31mALERT" in listed
    exported = cli("export", aid).stdout
    assert "\\u001b[31mALERT" in exported and "\\u202eevil" in exported and "\\udb40\\udc41" in exported
    assert load_assignment(exported).title == HOSTILE  # still the same JSON: the title round-trips exactly
    again = cli("import", "-", stdin=exported)
    assert db.get_assignment(again.stdout.strip()).title == HOSTILE
