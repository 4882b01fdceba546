"""Browser tests of assignments: in a class, the teacher adds a ready-made one and opens it, two students
submit from its page (each seeing only their own submissions and no hidden target), and the teacher's
progress CSV lists both; an accuracy criterion's Submit really trains the design in a job (the server's own
runner) and the student's page shows its accuracy on the hidden test split; the Designer keeps its own design."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from playground.classroom import PASSCODE_ENV
from tests.conftest import REPO
from tests.e2e.conftest import serve_app, streamlit_server
from tests.e2e.helpers import new_context, settle

PASSCODE = "e2e assignment passcode"
TITLE = "Field of view on a budget"  # the first ready-made assignment (its hidden target: params at most 50,000)


@pytest.fixture(scope="module")
def class_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve_app(tmp_path_factory, "e2e-assignments", **{PASSCODE_ENV: PASSCODE})


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
    teacher, ada, ben = new_context(browser), new_context(browser), new_context(browser)
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
        # The label is drawn before the rest of the run: wait for the link itself before reading the page's text
        t.get_by_test_id("stMain").get_by_text(re.compile(r"/assignment\?id=[0-9a-f]+")).first.wait_for()
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


ACCURACY_TASK = {"title": "Digits, tiny", "instructions": "Train it.", "input": [3, 16, 16],
                 "start": {"input": [3, 16, 16], "layers": [
                     {"type": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1}, {"type": "relu"},
                     {"type": "global_avgpool"}, {"type": "flatten"}, {"type": "linear", "out_features": 10}]},
                 "criteria": [{"metric": "val_accuracy", "at_least": 0.0, "dataset": "digits", "epochs": 1},
                              {"metric": "conv_layers", "at_least": 1}]}


@pytest.mark.slow  # a real training job, run by the server's own job runner
def test_an_accuracy_criterion_trains_in_a_job_and_the_page_shows_the_hidden_split_accuracy(
        browser, tmp_path_factory: pytest.TempPathFactory) -> None:
    home = tmp_path_factory.mktemp("e2e-assignment-accuracy")
    env = dict(os.environ, PLAYGROUND_HOME=str(home))
    made = subprocess.run([sys.executable, "-m", "playground", "assignment", "import", "-", "--open"],
                          input=json.dumps(ACCURACY_TASK), env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=True)
    link_id = made.stdout.strip()
    with streamlit_server("app.py", home, env) as (url, _):
        ctx = new_context(browser)
        try:
            pg = ctx.new_page()
            pg.goto(f"{url}/assignment?id={link_id}")
            settle(pg)
            pg.get_by_role("button", name="Submit this design").click()
            settle(pg)
            pg.get_by_text(re.compile(r"^Training your design for criterion 1 \(job ")).wait_for(timeout=180_000)
            shown = ""
            deadline = time.monotonic() + 400
            while time.monotonic() < deadline:  # the job trains in its worker; each visit checks it
                pg.reload()
                settle(pg)
                shown = pg.get_by_test_id("stMain").inner_text()
                if "Latest submission, criterion 1: accuracy" in shown:
                    break
                time.sleep(3)
            assert re.search(r"Latest submission, criterion 1: accuracy \d+\.\d% \(pass\)", shown), shown[-800:]
            assert "the best counts: 2 of 2" in shown
            assert pg.locator('[data-testid="stException"]').count() == 0

            # the same session's Designer (its sidebar link: a page switch, not a new session) has its own design
            pg.get_by_test_id("stSidebarNav").get_by_text("Designer", exact=True).click()
            pg.get_by_role("heading", name=re.compile("Designer")).first.wait_for()
            settle(pg)
            height = pg.get_by_label("Height", exact=True).and_(pg.get_by_test_id("stTextInputField")).first
            assert height.input_value() == "32"  # the Designer's default; the assignment's 16 x 16 stays there
            assert pg.locator('[data-testid="stException"]').count() == 0
        finally:
            ctx.close()
