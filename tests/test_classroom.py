"""The classroom library: owner ids, display names, the passcode and teacher token, class settings on disk,
the class caps on the fine-tune bounds, disk use, and who may see or control a job."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from playground import classroom as cr
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
    monkeypatch.setattr(cr, "_ATTEMPTS", cr._Attempts())
    assert cr.check_passcode("from-env", "from-env") and not cr.check_passcode("nope", "from-env")
    with pytest.raises(ClassroomError, match="no class passcode is set"):
        cr.check_passcode("x", None)


def test_wrong_passcodes_lock_the_form(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cr, "_ATTEMPTS", cr._Attempts())
    for _ in range(cr.MAX_FAILED_ATTEMPTS):
        assert not cr.check_passcode("guess", "secret")
    with pytest.raises(ClassroomError, match=r"too many wrong passcodes; try again in \d+ s"):
        cr.check_passcode("secret", "secret")  # even the right one, until the window passes


def test_teacher_token_follows_the_passcode() -> None:
    token = cr.teacher_token("pw")
    assert "pw" not in token and cr.check_teacher_token(token, "pw")
    assert not cr.check_teacher_token(token, "new passcode")  # changing the passcode logs teachers out
    assert not cr.check_teacher_token(None, "pw") and not cr.check_teacher_token(token, None)


def test_settings_round_trip_atomically(tmp_path: Path) -> None:
    assert cr.load_settings(tmp_path) == ClassSettings()  # no file: a single-user install's defaults
    chosen = ClassSettings(job_limit=1, max_epochs=3, max_image_size=96, students_see_others=False, retention_days=7)
    cr.save_settings(chosen, tmp_path)
    assert cr.load_settings(tmp_path) == chosen
    assert json.loads((tmp_path / cr.SETTINGS_FILE).read_text())["max_epochs"] == 3
    assert [p.name for p in tmp_path.iterdir()] == [cr.SETTINGS_FILE]  # no temporary file left behind


def test_bad_settings_are_refused_and_a_bad_file_falls_back(tmp_path: Path) -> None:
    with pytest.raises(ClassroomError, match=r"jobs per student must be a whole number from 1 to 10 \(got 0\)"):
        ClassSettings(job_limit=0)
    with pytest.raises(ClassroomError, match="maximum epochs must be"):
        ClassSettings(max_epochs=10_000)
    (tmp_path / cr.SETTINGS_FILE).write_text(json.dumps({"job_limit": "lots", "max_epochs": 4, "extra": 1}))
    assert cr.load_settings(tmp_path) == ClassSettings(max_epochs=4)  # the readable field is kept
    (tmp_path / cr.SETTINGS_FILE).write_text("{not json")
    assert cr.load_settings(tmp_path) == ClassSettings()


def test_class_caps_narrow_the_fine_tune_bounds() -> None:
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
