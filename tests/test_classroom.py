"""The classroom library: owner ids, display names, the passcode and teacher token, class settings on disk,
the class caps on the fine-tune bounds, disk use, and who may see or control a job."""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from playground import classroom as cr
from playground import teacher_access as ta
from playground.classroom import ClassroomError, ClassSettings, Viewer
from playground.finetune.config import LIMITS, TrainConfig


def test_owner_secret_and_id() -> None:
    a, b = cr.new_owner_secret(), cr.new_owner_secret()
    assert a != b and cr.valid_secret(a) and cr.valid_secret(b)
    assert cr.owner_id(a) == hashlib.sha256(a.encode()).hexdigest() and cr.owner_id(a) != a
    for bad in (None, "", "short", "x" * 200, "a" * 40 + ";", "a" * 40 + " b", 42):
        assert not cr.valid_secret(bad), bad


def test_display_names_are_one_tidy_line() -> None:
    assert cr.clean_display_name("  Ada \n\t Lovelace ") == "Ada Lovelace"
    assert cr.clean_display_name("[x](https://evil.example)") == "[x](https://evil.example)"  # escaped when shown
    assert len(cr.clean_display_name("n" * 100)) == cr.DISPLAY_NAME_MAX
    assert cr.clean_display_name("a\u202eb\x00c") == "a b c"  # no bidi overrides or control characters
    with pytest.raises(ClassroomError, match="type a name"):
        cr.clean_display_name(" \n ")


def test_passcode_sources_and_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cr.PASSCODE_ENV, raising=False)
    assert cr.class_passcode(None) is None
    monkeypatch.setenv(cr.PASSCODE_ENV, " from-env ")
    assert cr.class_passcode(None) == "from-env"
    assert cr.class_passcode("from-secrets") == "from-secrets"  # st.secrets wins over the environment
    monkeypatch.setattr(ta, "_BACKOFF", ta._Backoff())
    assert ta.check_passcode("from-env", "from-env") and not ta.check_passcode("nope", "from-env")
    with pytest.raises(ClassroomError, match="no class passcode is set"):
        ta.check_passcode("x", None)


def test_wrong_passcodes_slow_down_only_whoever_types_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """A flood of wrong passcodes (one browser, or many from one address) never locks the teacher out."""
    monkeypatch.setattr(ta, "_BACKOFF", ta._Backoff())
    student = ta.Client("s1", "10.0.0.7")
    for _ in range(ta.FREE_TRIES):
        assert not ta.check_passcode("guess", "secret", student)
    with pytest.raises(ClassroomError, match=r"too many wrong passcodes from this browser; try again in \d+ s"):
        ta.check_passcode("secret", "secret", student)  # even the right one, while this client waits
    with pytest.raises(ClassroomError, match="too many wrong passcodes"):  # a new session, same address
        ta.check_passcode("secret", "secret", ta.Client("s2", "10.0.0.7"))
    assert ta.check_passcode("secret", "secret", ta.Client("teacher", "10.0.0.9"))  # another computer gets in
    for i in range(50):  # many sessions from the server's own machine: never an address lock there
        assert not ta.check_passcode("guess", "secret", ta.Client(f"local{i}", None))
    assert ta.check_passcode("secret", "secret", ta.Client("teacher-local", None))


def test_the_reset_code_gets_in_once_whatever_the_backoff(monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(ta, "_BACKOFF", ta._Backoff())
    monkeypatch.setattr(ta, "_RESET", [])
    teacher = ta.Client("t", "10.0.0.7")
    for _ in range(ta.FREE_TRIES):
        ta.check_passcode("guess", "secret", teacher)
    with caplog.at_level("WARNING", logger="playground.teacher_access"):
        code = ta.reset_code()
    assert code in caplog.text  # the server's log shows it
    assert ta.check_passcode(code, "secret", teacher)
    assert ta.reset_code() != code  # used once: a new one is made (and logged)
    with pytest.raises(ClassroomError, match="too many wrong passcodes"):
        ta.check_passcode(code, "secret", teacher)


def test_teacher_sessions_are_server_side_revocable_and_expire(tmp_path: Path) -> None:
    a, b = ta.new_teacher_session("pw", tmp_path), ta.new_teacher_session("pw", tmp_path)
    assert a != b and "pw" not in (a, b)  # random per browser, not the passcode (a random token may hold "pw")
    assert ta.check_teacher_session(a, "pw", tmp_path) and ta.check_teacher_session(b, "pw", tmp_path)
    ta.end_teacher_session(a, tmp_path)  # Lock
    assert not ta.check_teacher_session(a, "pw", tmp_path) and ta.check_teacher_session(b, "pw", tmp_path)
    assert not ta.check_teacher_session(b, "new passcode", tmp_path)  # a new passcode voids every session
    later = time.time() + ta.SESSION_SECONDS + 1
    assert not ta.check_teacher_session(b, "pw", tmp_path, now=later)
    assert not ta.check_teacher_session(None, "pw", tmp_path) and not ta.check_teacher_session(b, None, tmp_path)
    assert not ta.check_teacher_session(cr.new_owner_secret(), "pw", tmp_path)  # a made-up cookie


def test_settings_round_trip_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cr.PASSCODE_ENV, raising=False)
    assert cr.load_settings(tmp_path) == cr.SINGLE_USER  # no file, no class: LIMITS, no time limit
    monkeypatch.setenv(cr.PASSCODE_ENV, "pw")
    assert cr.load_settings(tmp_path) == ClassSettings()  # no file in a class: the conservative defaults
    assert (ClassSettings().max_epochs, ClassSettings().max_image_size, ClassSettings().max_job_minutes) == (30, 320, 45)
    chosen = ClassSettings(job_limit=1, max_epochs=3, max_image_size=96, students_see_others=False, retention_days=7)
    cr.save_settings(chosen, tmp_path)
    assert cr.load_settings(tmp_path) == chosen
    assert json.loads((tmp_path / cr.SETTINGS_FILE).read_text())["max_epochs"] == 3
    assert [p.name for p in tmp_path.iterdir()] == [cr.SETTINGS_FILE]  # no temporary file left behind


def test_bad_settings_are_refused_and_a_bad_file_falls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cr.PASSCODE_ENV, "pw")
    with pytest.raises(ClassroomError, match=r"jobs per student must be a whole number from 1 to 10 \(got 0\)"):
        ClassSettings(job_limit=0)
    with pytest.raises(ClassroomError, match="maximum epochs must be"):
        ClassSettings(max_epochs=10_000)
    (tmp_path / cr.SETTINGS_FILE).write_text(json.dumps({"job_limit": "lots", "max_epochs": 4, "extra": 1}))
    assert cr.load_settings(tmp_path) == ClassSettings(max_epochs=4)  # the readable field is kept
    (tmp_path / cr.SETTINGS_FILE).write_text("{not json")
    assert cr.load_settings(tmp_path) == ClassSettings()


def test_class_caps_narrow_the_fine_tune_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cr.PASSCODE_ENV, raising=False)
    assert cr.effective_limits() == LIMITS  # no caps: exactly playground.finetune.config's ranges
    caps = ClassSettings(max_epochs=3, max_image_size=96)
    limits = cr.effective_limits(caps)
    assert (limits["epochs"].lo, limits["epochs"].hi) == (1, 3) and limits["image_size"].hi == 96
    assert limits["batch_size"] == LIMITS["batch_size"] and LIMITS["epochs"].hi == 500  # defaults untouched
    cr.check_caps(TrainConfig(epochs=3, image_size=96), caps)
    with pytest.raises(ClassroomError, match=r"epochs 4 is over this class's limit: the teacher allows a whole "
                                             r"number from 1 to 3"):
        cr.check_caps(TrainConfig(epochs=4, image_size=64), caps)
    with pytest.raises(ClassroomError, match="image size 224 is over this class's limit"):
        cr.check_caps(TrainConfig(epochs=1), caps)


def test_disk_usage_counts_hard_links_once(tmp_path: Path) -> None:
    (tmp_path / "uploads" / "a").mkdir(parents=True)
    (tmp_path / "jobs" / "j1" / "data").mkdir(parents=True)
    (tmp_path / "uploads" / "a" / "x.png").write_bytes(b"1" * 5000)
    os.link(tmp_path / "uploads" / "a" / "x.png", tmp_path / "jobs" / "j1" / "data" / "x.png")
    (tmp_path / "jobs" / "j1" / "state.json").write_bytes(b"2" * 300)
    (tmp_path / cr.SETTINGS_FILE).write_bytes(b"3" * 10)
    usage = cr.disk_usage(tmp_path)
    assert sum(usage.values()) == 5000 + 300 + 10
    assert usage[cr.SETTINGS_FILE] == 10 and list(usage)[0] in ("jobs", "uploads")  # largest first


def test_who_may_see_and_control_a_job() -> None:
    mine, theirs = {"owner": "a" * 64}, {"owner": "b" * 64}
    student = Viewer(owner="a" * 64, classroom=True)
    assert student.owns(mine) and student.can_control(mine) and not student.can_control(theirs)
    assert student.can_view(theirs, ClassSettings()) and not student.can_view(theirs, ClassSettings(
        students_see_others=False))
    teacher = Viewer(owner="c" * 64, teacher=True, classroom=True)
    assert teacher.can_control(theirs) and not teacher.owns(theirs)
    assert Viewer(owner="z" * 64).can_control(theirs)  # single-user install: everything allowed, as before
    assert not Viewer(owner=None, classroom=True).can_control({"owner": None})  # no owner id owns nothing
