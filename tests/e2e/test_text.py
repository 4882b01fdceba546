"""playground.ui.text in a real browser: Streamlit's own markdown renderer shows md_text(...) literally.

AppTest only sees the markdown source; this runs a tiny Streamlit script in Chromium and reads the DOM,
so the escaping is checked against the renderer that students' browsers run (links, bare URLs, e-mail,
emphasis, HTML, maths, colour directives, Material icons, emoji shortcodes, lists, code blocks).
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import REPO, require_chromium, streamlit_server
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
    require_chromium()
    folder = tmp_path_factory.mktemp("text-app")
    (folder / "page.py").write_text(_SCRIPT)
    with streamlit_server(folder / "page.py", folder) as (url, _):
        yield url


def test_user_strings_render_as_their_own_characters(text_url: str, browser) -> None:
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        page.goto(text_url)
        settle(page)
        expected = 3 + len(LINES)
        page.wait_for_function(  # every element of the script has rendered
            f"() => document.querySelectorAll('{_BLOCKS}').length >= {expected}")
        blocks = page.query_selector_all(_BLOCKS)
        shown = [b.inner_text().replace("\u2060", "").replace("\u00a0", " ").strip() for b in blocks]
        html = [b.inner_html() for b in blocks]
    finally:
        ctx.close()
    assert shown == [EVIL, "Cannot read " + EVIL, EVIL, *LINES]
    for fragment in html:
        assert not [tag for tag in _INTERPRETED if tag in fragment], fragment
