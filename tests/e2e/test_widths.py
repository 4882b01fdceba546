"""Browser test at the default 1400 px window: controls and metrics show their whole text, no "C…" or "13.9…".

A walk of the app found the Teacher page's Cancel/Delete buttons cut to "C…" and "D…" and the Fine-tune
memory metrics cut to "13.9…" and "Saved activ…". An element cut with an ellipsis is one whose text is
wider than its box: ``scrollWidth > clientWidth``.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from playground.classroom import PASSCODE_ENV
from tests.e2e.conftest import require_chromium, streamlit_server
from tests.e2e.helpers import settle
from tests.support.job_support import A_ID, done_job

PASSCODE = "e2e widths passcode"

# Every element inside ``root`` (itself too) cut with an ellipsis: text-overflow ellipsis and content wider
# than its box, as "text (content width > box width)"
CUT = """(root) => [root, ...root.querySelectorAll('*')]
  .filter(e => getComputedStyle(e).textOverflow === 'ellipsis' && e.scrollWidth > e.clientWidth + 1)
  .map(e => `${(e.innerText || '').trim()} (${e.scrollWidth} > ${e.clientWidth})`)"""


@pytest.fixture(scope="module")
def class_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    require_chromium()
    home = tmp_path_factory.mktemp("e2e-widths")
    env = dict(os.environ, PLAYGROUND_HOME=str(home), **{PASSCODE_ENV: PASSCODE})
    with streamlit_server("app.py", home, env) as (url, _):
        yield url, home


def test_the_teachers_job_buttons_show_their_names(page, class_server: tuple[str, Path]) -> None:
    url, home = class_server
    job_id = done_job(home, A_ID)  # a finished job: its row has a Delete button
    page.goto(f"{url}/teacher")
    settle(page)
    main = page.get_by_test_id("stMain")
    main.get_by_label("Class passcode", exact=True).and_(page.get_by_test_id("stTextInputField")).fill(PASSCODE)
    main.get_by_role("button", name="Unlock teacher mode").click()
    settle(page)
    button = page.locator(f".st-key-teacher_delete_{job_id} button")
    button.wait_for()
    assert "Delete" in button.inner_text()
    assert button.evaluate(CUT) == []


def test_the_finetune_memory_metrics_show_their_labels_and_values(page, class_server: tuple[str, Path]) -> None:
    url, _ = class_server
    page.goto(f"{url}/finetune")
    settle(page)
    metric = page.get_by_test_id("stMetric").filter(has_text="Saved activations")
    metric.first.wait_for(timeout=120_000)
    metrics = page.get_by_test_id("stMetric")
    cut = [text for i in range(metrics.count()) for text in metrics.nth(i).evaluate(CUT)]
    assert cut == []
