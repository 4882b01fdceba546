"""playground.ui.text in a real browser: Streamlit's own markdown renderer shows md_text(...) literally.

AppTest only sees the markdown source; this runs a tiny Streamlit script in Chromium and reads the DOM,
so the escaping is checked against the renderer that students' browsers run (links, bare URLs, e-mail,
emphasis, HTML, maths, colour directives, Material icons, emoji shortcodes, lists, code blocks).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, REPO, _free_port
from tests.e2e.helpers import settle

EVIL = ("[Answers here](https:evil.example) **x** <b>y</b> :red[z] $x$ `c` _i_ ~~s~~ https://evil.example "
        "www.evil.example a@evil.example :material/warning: :smile: # | &lt; \\* <a href='https://e.example'>l</a>")
LINES = ["# heading", "- item", "1. item", "> quote"]
_SCRIPT = f"""
import sys
sys.path.insert(0, {str(REPO)!r})
import streamlit as st
from playground.ui.text import md_text, show_error
st.markdown(md_text({EVIL!r}))
show_error("Cannot read " + {EVIL!r})
st.caption(md_text({EVIL!r}))
for line in {LINES!r}:
    st.markdown(md_text(line))
"""
_BLOCKS = '[data-testid="stMarkdownContainer"], [data-testid="stCaptionContainer"]'  # markdown, alerts, captions
# What rendered markdown would contain if anything had been interpreted
_INTERPRETED = ("<a ", "<strong", "<b>", "<code", "<em>", "<del", "<h1", "<ul", "<ol", "<li", "<blockquote",
                "<pre", "katex", "stMarkdownColoredText", 'role="img"', "<img", "<span")  # icons are <span role=img>


@pytest.fixture(scope="module")
def text_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not os.path.exists(CHROMIUM) and not os.environ.get("CI"):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium (bash .ci/run does it)")
    folder = tmp_path_factory.mktemp("text-app")
    (folder / "page.py").write_text(_SCRIPT)
    port = _free_port()
    log = open(folder / "streamlit.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(folder / "page.py"), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"], cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("streamlit did not start:\n" + Path(folder / "streamlit.log").read_text())
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_user_strings_render_as_their_own_characters(text_url: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(text_url)
            settle(page)
            expected = 3 + len(LINES)
            page.wait_for_function(  # every element of the script has rendered
                f"() => document.querySelectorAll('{_BLOCKS}').length >= {expected}")
            blocks = page.query_selector_all(_BLOCKS)
            shown = [b.inner_text().replace("\u2060", "").replace("\u00a0", " ").strip() for b in blocks]
            html = [b.inner_html() for b in blocks]
        finally:
            browser.close()
    assert shown == [EVIL, "Cannot read " + EVIL, EVIL, *LINES]
    for fragment in html:
        assert not [tag for tag in _INTERPRETED if tag in fragment], fragment
