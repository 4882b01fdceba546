"""A server restarted over a data folder with a malformed job file: every page still opens in a browser.

Before the job files were checked when read, ``state.json = [1, 2]`` left in a job folder broke every page
after a restart, Home included. Now the folder is set aside and named; the class carries on.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from playwright.sync_api import Page

from playground.finetune.jobs.store import JobStore
from tests.e2e.conftest import require_chromium, streamlit_server
from tests.e2e.helpers import settle
from tests.support.job_support import job_settings

PAGES = ["", "design", "predict", "finetune", "architectures", "concepts", "teacher"]


@pytest.fixture(scope="module")
def restarted_url(tmp_path_factory: pytest.TempPathFactory) -> object:
    require_chromium()
    home: Path = tmp_path_factory.mktemp("malformed-home")
    store = JobStore(home)
    good = store.create(job_settings())
    bad = store.create(job_settings())
    (bad.dir / "state.json").write_text(json.dumps([1, 2]))
    store.update(good.id, state="done")
    env = dict(os.environ, PLAYGROUND_HOME=str(home))
    with streamlit_server("app.py", home, env) as (url, _):
        yield url


@pytest.mark.parametrize("path", PAGES)
def test_every_page_opens_over_a_malformed_job_file(page: Page, restarted_url: str, path: str) -> None:
    page.goto(f"{restarted_url}/{path}")
    settle(page, timeout_ms=120_000)
    page.locator("h1").first.wait_for(timeout=60_000)  # the page drew its title
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "This app has encountered an error" not in page.content()
