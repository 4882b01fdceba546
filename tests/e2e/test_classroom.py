"""Browser test of a class (server started with a passcode): student A starts digits jobs, student B opens
A's job link and gets no Cancel, the teacher unlocks the Teacher page, sees A's job by name and cancels it."""
from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from playground.classroom import OWNER_COOKIE, PASSCODE_ENV, TEACHER_COOKIE
from playground.teacher_access import SESSION_SECONDS
from playground.ui.teacher import LOCK_BUTTON
from tests.e2e.conftest import serve_app
from tests.e2e.helpers import JOB_URL, new_context, set_number, settle

PASSCODE = "e2e class passcode"


@pytest.fixture(scope="module")
def classroom_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve_app(tmp_path_factory, "e2e-classroom", **{PASSCODE_ENV: PASSCODE})


def _set_text(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True).and_(page.get_by_test_id("stTextInputField"))
    box.fill(value)
    box.press("Enter")
    settle(page)


def _start(page) -> str:
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(JOB_URL)
    settle(page)
    return JOB_URL.search(page.url).group(1)


def test_students_own_their_jobs_and_the_teacher_controls_them(browser, classroom_url: str) -> None:
    student_a, student_b, teacher = new_context(browser), new_context(browser), new_context(browser)
    try:
        a = student_a.new_page()
        a.goto(f"{classroom_url}/finetune")
        settle(a)
        a.get_by_text("1,797 images in 10 classes").wait_for()
        set_number(a, "Image size (px)", 48)
        set_number(a, "Epochs", 1)
        _set_text(a, "Your name", "Ada")
        first = _start(a)
        a.get_by_role("button", name="New job").click()
        settle(a)
        second = _start(a)  # waits behind the first (one job at a time on a CPU)
        cookie = next(c for c in student_a.cookies() if c["name"] == OWNER_COOKIE)
        assert cookie["sameSite"] == "Strict" and cookie["path"] == "/" and cookie["value"] not in a.url

        a.reload()  # a reload is a new session: the cookie keeps both jobs hers
        settle(a)
        a.get_by_role("heading", name=re.compile(rf"Job {second}")).wait_for()
        a.get_by_role("button", name="Cancel").wait_for()
        assert a.locator(f".st-key-ft_open_{first}").count() == 1  # listed under "Your jobs"

        b = student_b.new_page()
        b.goto(f"{classroom_url}/finetune?job={second}")
        settle(b)
        b.get_by_role("heading", name=re.compile(rf"Job {second}")).wait_for()
        b.get_by_text("you can watch it, not change it").wait_for()
        assert b.get_by_role("button", name="Cancel").count() == 0
        assert b.get_by_role("link", name="Teacher").count() == 0  # the page is not in a student's navigation

        t = teacher.new_page()
        t.goto(f"{classroom_url}/teacher")
        settle(t)
        t.get_by_test_id("stMain").get_by_label("Class passcode", exact=True).and_(
            t.get_by_test_id("stTextInputField")).fill(PASSCODE)
        t.get_by_test_id("stMain").get_by_role("button", name="Unlock teacher mode").click()
        settle(t)
        t.get_by_text("Class settings").wait_for()
        t.get_by_text(re.compile(r"^Ada \(")).first.wait_for()
        t.locator(f".st-key-teacher_cancel_{second} button").click()
        settle(t)

        a.goto(f"{classroom_url}/finetune?job={second}")
        a.get_by_role("heading", name=re.compile(rf"Job {second}: cancelled")).wait_for(timeout=120_000)
        # The teacher stops the running one too (it would otherwise train on while later tests run).
        t.locator(f".st-key-teacher_cancel_{first} button").click()
        settle(t)
        a.goto(f"{classroom_url}/finetune?job={first}")
        a.get_by_role("heading", name=re.compile(rf"Job {first}: (cancelled|done)")).wait_for(timeout=120_000)
        for pg in (a, b, t):
            assert pg.locator('[data-testid="stException"]').count() == 0

        # The teacher's cookie: a random server-side session with a short life, revoked by Lock.
        held = next(c for c in teacher.cookies() if c["name"] == TEACHER_COOKIE)
        assert held["sameSite"] == "Strict" and held["path"] == "/"
        assert 0 < held["expires"] - time.time() <= SESSION_SECONDS + 60
        t.locator(f".st-key-{LOCK_BUTTON} button").click()
        settle(t)
        t.get_by_test_id("stMain").get_by_label("Class passcode", exact=True).wait_for()
        copied = new_context(browser)
        try:
            copied.add_cookies([{k: held[k] for k in ("name", "value", "domain", "path")}])
            c = copied.new_page()
            c.goto(f"{classroom_url}/teacher")
            settle(c)
            c.get_by_test_id("stMain").get_by_label("Class passcode", exact=True).wait_for()  # not unlocked
            assert c.get_by_text("Class settings").count() == 0
        finally:
            copied.close()
    finally:
        for ctx in (student_a, student_b, teacher):
            ctx.close()
