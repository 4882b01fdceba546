"""Browser test of an assignment in a class: the teacher adds a ready-made one and opens it, two students
submit from its page (each seeing only their own submissions and no hidden target), and the teacher's
progress CSV lists both."""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from playground.classroom import PASSCODE_ENV
from tests.e2e.conftest import serve_app
from tests.e2e.helpers import settle

PASSCODE = "e2e assignment passcode"
TITLE = "Field of view on a budget"  # the first ready-made assignment (its hidden target: params at most 50,000)


@pytest.fixture(scope="module")
def class_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve_app(tmp_path_factory, "e2e-assignments", **{PASSCODE_ENV: PASSCODE})


def _context(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    ctx.set_default_timeout(60_000)
    return ctx


def _submit_as(page, link: str, name: str) -> None:
    page.goto(link)
    settle(page)
    page.get_by_text("Criteria:").first.wait_for()
    box = page.get_by_label("Your name", exact=True).and_(page.get_by_test_id("stTextInputField"))
    box.fill(name)
    box.press("Enter")
    settle(page)
    page.get_by_role("button", name="Submit this design").click()
    settle(page)
    page.get_by_text(re.compile(r"^Submitted: \d of 3 criteria met")).wait_for()


def test_teacher_sets_an_assignment_two_students_submit_the_teacher_sees_both(browser, class_url: str) -> None:
    teacher, ada, ben = _context(browser), _context(browser), _context(browser)
    try:
        t = teacher.new_page()
        t.goto(f"{class_url}/teacher")
        settle(t)
        t.get_by_test_id("stMain").get_by_label("Class passcode", exact=True).and_(
            t.get_by_test_id("stTextInputField")).fill(PASSCODE)
        t.get_by_test_id("stMain").get_by_role("button", name="Unlock teacher mode").click()
        settle(t)
        t.get_by_role("button", name="Add it").click()
        settle(t)
        t.get_by_text(f"{TITLE} — closed").click()
        t.get_by_test_id("stBaseButton-secondary").filter(has_text=re.compile(r"Open$")).click()
        settle(t)
        t.get_by_text(f"{TITLE} — open").wait_for()  # the expander stays open under its new label
        link = re.search(r"http\S+/assignment\?id=[0-9a-f]+", t.get_by_test_id("stMain").inner_text())
        assert link, "the student link is shown"

        a, b = ada.new_page(), ben.new_page()
        _submit_as(a, link.group(0), "Ada")
        _submit_as(b, link.group(0), "Ben")
        for pg in (a, b):
            text = pg.get_by_test_id("stMain").inner_text()
            assert "50,000" not in text and "50000" not in text  # the hidden target
            assert "Your submissions (1;" in text  # their own one only
            assert pg.locator('[data-testid="stException"]').count() == 0

        t.reload()
        settle(t)
        with t.expect_download() as download:
            t.get_by_role("button", name="Download CSV").click()
        csv_text = Path(download.value.path()).read_text(encoding="utf-8")
        assert "Ada," in csv_text and "Ben," in csv_text and TITLE in csv_text
        assert t.locator('[data-testid="stException"]').count() == 0
    finally:
        for ctx in (teacher, ada, ben):
            ctx.close()
