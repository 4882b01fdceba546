"""A class server under a hostile student, through the pages: a malformed job file breaks no page, a flood of
wrong passcodes never locks the teacher out, Lock revokes the teacher session server-side, and the Teacher
page names what was set aside, the retention in force, and who has jobs (with "cancel all")."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from playground import classroom as cr
from playground import teacher_access as ta
from playground.finetune.jobs.limits import queue_paused
from playground.finetune.jobs.manager import JobManager
from playground.ui.owner import OWNER_SECRET_KEY, TEACHER_TOKEN_KEY
from playground.ui.teacher import LOCK_BUTTON, PASSCODE_INPUT, PAUSE_BUTTON, UNLOCK_BUTTON, cancel_student_key
from playground.ui.text import md_text
from tests.support.apptest_pages import PAGES, assert_clean, run_page
from tests.support.job_support import A_ID, PASSCODE, job_settings


@pytest.fixture()
def classroom(monkeypatch: pytest.MonkeyPatch, fake_jobs: JobManager) -> JobManager:
    monkeypatch.setenv(cr.PASSCODE_ENV, PASSCODE)
    monkeypatch.setattr(ta, "_BACKOFF", ta._Backoff())
    return fake_jobs


def _session() -> AppTest:
    at = AppTest.from_file(str(PAGES / "teacher.py"), default_timeout=120)
    at.session_state[OWNER_SECRET_KEY] = cr.new_owner_secret()
    at.run()
    return at


def _unlock(at: AppTest, passcode: str) -> AppTest:
    at.text_input(key=PASSCODE_INPUT).input(passcode)
    return at.button(key=UNLOCK_BUTTON).click().run()


@pytest.mark.parametrize("page", sorted(p.stem for p in PAGES.glob("*.py")))
def test_a_malformed_job_file_breaks_no_page(page: str, classroom: JobManager, _playground_home: Path) -> None:
    good = classroom.submit(job_settings(), owner=A_ID, owner_name="Ada")
    bad = classroom.store.create(dict(job_settings(), owner=A_ID))
    (bad.dir / "state.json").write_text(json.dumps([1, 2]))
    if page == "home":  # Home links the other pages: it runs through the router (app.py), as a visitor sees it
        at = AppTest.from_file(str(PAGES.parent / "app.py"), default_timeout=300)
        at.run()
    else:
        at = run_page(page, timeout=300, job=bad.id) if page == "finetune" else run_page(page, timeout=300)
    assert not at.exception, [e.message for e in at.exception]
    assert classroom.get(good.id).status in ("queued", "running")  # the rest of the class carries on


def test_the_teacher_gets_in_after_a_flood_of_wrong_passcodes(classroom: JobManager) -> None:
    student = _session()
    for _ in range(ta.FREE_TRIES + 5):
        _unlock(student, "guess")
    refused = _unlock(student, PASSCODE)  # this browser waits, even with the right passcode...
    assert "too many wrong passcodes from this browser" in refused.error[0].value
    teacher = _unlock(_session(), PASSCODE)  # ...but a new browser (the teacher's) gets in at once
    assert_clean(teacher)
    assert "Class settings" in "\n".join(e.value for e in teacher.subheader)


def test_lock_revokes_the_teacher_session_on_the_server(classroom: JobManager, _playground_home: Path) -> None:
    at = _unlock(_session(), PASSCODE)
    token = at.session_state[TEACHER_TOKEN_KEY]
    assert ta.check_teacher_session(token, PASSCODE, _playground_home)
    at.button(key=LOCK_BUTTON).click().run()
    assert not ta.check_teacher_session(token, PASSCODE, _playground_home)  # a copied cookie unlocks nothing now


def test_the_teacher_page_names_set_aside_folders_retention_and_students(
        classroom: JobManager, _playground_home: Path) -> None:
    cr.save_settings(cr.ClassSettings(retention_days=7), _playground_home)
    running = classroom.submit(job_settings(), owner=A_ID, owner_name="Ada", client="10.0.0.7")
    queued = classroom.submit(job_settings(), owner=A_ID, owner_name="Ada", client="10.0.0.7")
    bad = classroom.store.create(job_settings())
    (bad.dir / "config.json").write_text('"x"')
    classroom.list()  # the folder is set aside when first read
    at = _unlock(_session(), PASSCODE)
    assert_clean(at)
    captions = "\n".join(e.value for e in at.caption)
    assert "unused for 7 days (the class setting saved on this page)" in captions  # not the environment's 14
    frames = [f.value for f in at.dataframe]
    assert any(bad.id in " ".join(map(str, f.get("folder", []))) for f in frames)
    assert any(md_text("from 10.0.0.7") in e.value for e in at.markdown)  # who did it: the computer's address
    at.button(key=PAUSE_BUTTON).click().run()
    assert queue_paused(_playground_home) and "The queue is paused" in at.warning[0].value
    at.button(key=PAUSE_BUTTON).click().run()
    assert not queue_paused(_playground_home)
    at.button(key=cancel_student_key(A_ID)).click().run()
    assert classroom.get(queued.id).status == "cancelled"
    assert classroom.store.cancel_by(running.id) == "teacher"  # its worker stops within a batch
