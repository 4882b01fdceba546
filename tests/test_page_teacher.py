"""The Teacher page under AppTest: the passcode, every job with its owner's name (as text), cancel and
delete any job, class settings saved to disk and applied to the Fine-tune form, disk use, locking;
and the script that writes the owner cookies."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from playground import classroom as cr
from playground import teacher_access as ta
from playground._format import human_bytes
from playground.finetune.jobs.manager import JobManager
from playground.ui.finetune import EPOCHS, FORM, IMAGE_SIZE
from playground.ui.owner import cookie_script
from playground.ui.teacher import (
    LOCK_BUTTON,
    PASSCODE_INPUT,
    SAVE_SETTINGS,
    UNLOCK_BUTTON,
    teacher_cancel_key,
    teacher_delete_key,
)
from playground.ui.text import md_text
from playground.ui.widget_state import widget_key
from tests.support.apptest_pages import PAGES, run_page, teacher_session
from tests.support.job_support import A_ID, LINK_NAME, PASSCODE, done_job, job_settings

B_ID = cr.owner_id(cr.new_owner_secret())


@pytest.fixture()
def classroom(monkeypatch: pytest.MonkeyPatch, fake_jobs: JobManager) -> JobManager:
    """A class (passcode set) whose jobs never really train (see ``fake_jobs``)."""
    monkeypatch.setenv(cr.PASSCODE_ENV, PASSCODE)
    monkeypatch.setattr(ta, "_BACKOFF", ta._Backoff())  # wrong passcodes of other tests do not count here
    return fake_jobs


def teacher() -> AppTest:
    """A teacher's session: the page, then the passcode."""
    return teacher_session(PASSCODE)


def shown(at: AppTest) -> str:
    return "\n".join(e.value for kind in ("markdown", "caption", "subheader", "error", "success", "info")
                     for e in at.get(kind))


def test_without_a_passcode_the_page_says_how_to_set_one() -> None:
    at = run_page("teacher")
    assert not at.exception and "No class passcode is set" in at.info[0].value
    assert not at.text_input  # nothing to unlock


def test_a_wrong_passcode_is_refused(classroom: JobManager) -> None:
    at = AppTest.from_file(str(PAGES / "teacher.py"), default_timeout=120)
    at.run()
    at.text_input(key=PASSCODE_INPUT).input("guess")
    at.button(key=UNLOCK_BUTTON).click().run()
    assert [e.value for e in at.error] == ["That is not the class passcode."]
    assert "Class settings" not in shown(at)


def test_the_teacher_sees_every_job_by_name_and_controls_them(classroom: JobManager, _playground_home: Path) -> None:
    running = classroom.submit(job_settings(), owner=A_ID, owner_name=LINK_NAME)
    queued = classroom.submit(job_settings(), owner=B_ID, owner_name="Bo")
    finished = done_job(_playground_home, A_ID)
    at = teacher()
    assert not at.exception and not at.error
    text = shown(at)
    assert "Jobs (2 queued or running, 3 in all)" in text
    assert md_text(f"{LINK_NAME} ({A_ID[:6]})") in text  # the name as text: no live link
    assert "](https://evil.example)" not in text and md_text(f"Bo ({B_ID[:6]})") in text
    assert "position 1 in the queue" in text

    at.button(key=teacher_cancel_key(queued.id)).click().run()
    assert classroom.get(queued.id).status == "cancelled"
    at.button(key=teacher_cancel_key(running.id)).click().run()
    assert classroom.store.cancel_requested(running.id)  # the worker stops within a batch
    at.button(key=teacher_delete_key(finished)).click().run()
    assert not (_playground_home / "jobs" / finished).exists() and not at.exception


def test_class_settings_are_saved_and_cap_the_fine_tune_form(classroom: JobManager, _playground_home: Path) -> None:
    done_job(_playground_home, A_ID)  # something in the data folder
    at = teacher()
    jobs_bytes = sum(p.stat().st_size for p in (_playground_home / "jobs").rglob("*") if p.is_file())
    disk = next(f.value for f in at.dataframe if list(f.value.columns) == ["folder", "size"])
    sizes = dict(zip(disk["folder"], disk["size"], strict=True))  # also the teacher sessions' database...
    assert sizes["jobs"] == human_bytes(jobs_bytes)
    at.number_input(key="teacher_set_job_limit").set_value(1)
    at.number_input(key="teacher_set_max_epochs").set_value(3)
    at.number_input(key="teacher_set_max_image_size").set_value(56)
    at.toggle(key="teacher_set_students_see_others").set_value(False)
    at.button(key=SAVE_SETTINGS).click().run()
    assert not at.exception and "Saved" in at.success[0].value
    saved = json.loads((_playground_home / cr.SETTINGS_FILE).read_text())
    assert saved == {"job_limit": 1, "max_epochs": 3, "max_image_size": 56, "students_see_others": False,
                     "retention_days": 14, "address_limit": 4, "max_job_minutes": 45, "disk_quota_mb": 2000}
    assert classroom.owner_limit() == 1

    form = run_page("finetune")  # a student's form now offers at most the caps
    assert not form.exception
    epochs, size = form.number_input(key=widget_key(FORM, EPOCHS)), form.number_input(key=widget_key(FORM, IMAGE_SIZE))
    assert (epochs.max, size.max) == (3, 56)
    assert size.value == 56  # the digits' suggested 64 px, brought within the cap


def test_locking_leaves_teacher_mode(classroom: JobManager) -> None:
    at = teacher()
    assert "Class settings" in shown(at)
    at.button(key=LOCK_BUTTON).click().run()
    assert not at.exception and "Class settings" not in shown(at) and at.text_input(key=PASSCODE_INPUT)


def test_the_cookie_script_keeps_values_inside_it() -> None:
    script = cookie_script({"playground_name": "</script><script>alert(1)</script>", "gone": None}, max_age=60)
    assert script.count("</script>") == 1 and script.endswith("</script>")  # only its own end tag
    assert "\\u003c/script>" in script and "SameSite=Strict" in script and "Path=/" in script
    assert "(v === null ? 0 : 60)" in script  # None deletes the cookie (Max-Age=0)
