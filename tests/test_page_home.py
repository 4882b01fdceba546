"""Home (run through the router, as a visitor sees it): one card per page, each a working page link."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from playground.paths import home_dir
from playground.ui.text import md_text

APP = Path(__file__).resolve().parent.parent / "app.py"


def test_home_links_every_page_and_the_sidebar_says_where_data_lives() -> None:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    links = {link.proto.label: link.proto.page for link in at.get("page_link")}
    assert links == {"**Concepts**": "concepts", "**Designer**": "design", "**Architectures**": "architectures",
                     "**Predict**": "predict", "**Fine-tune**": "finetune"}  # the router's url paths
    sidebar = " ".join(c.value for c in at.sidebar.caption)
    assert md_text(home_dir()) in sidebar and ("GPU" in sidebar or "CPU" in sidebar)  # single-user: the path
