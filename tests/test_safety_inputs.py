"""Classroom safety: no hostile upload, file name or link shown to one student can hurt another.

- every user string reaches Streamlit's markdown through playground.ui.text.md_text, so it renders as
  its own characters (no link, bold, HTML, colour, icon, maths);
- long thin images are refused with a clear message on every page that takes a photo, never a
  traceback, and the command line gives one line per such file;
- a class server does not show the server's paths.
"""
from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from playground.finetune import archive
from playground.ui.finetune import DATA, DATA_SOURCE, DATA_UPLOAD
from playground.ui.photo_input import PHOTO_SOURCE, PHOTO_UPLOAD
from playground.ui.text import WORD_JOINER, md_text, plotly_text, redact_paths
from playground.ui.widget_state import widget_key
from tests.conftest import REPO
from tests.support.apptest_pages import run_page
from tests.support.finetune_data import make_zip, png_bytes

EVIL = "[Answers here](https:evil.example) **x** <b>y</b> :red[z] $x$ `c` _i_ ~~s~~ https://evil.example " \
       "www.evil.example a@evil.example :material/warning: :smile: # | &lt; \\*"
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")  # CommonMark: a backslash before ASCII punctuation


def reparse(markdown: str) -> str:
    """What a CommonMark reader shows for text made of plain characters and backslash escapes.

    Fails when ``markdown`` holds any markdown-significant character that is *not* escaped: such a
    character could start a link, emphasis, code, HTML, maths or a directive."""
    unescaped = _ESCAPE.sub("", markdown)
    assert not re.search(r"[!-/:-@\[-`{-~]", unescaped.replace("'", "").replace(",", "")), unescaped
    return _ESCAPE.sub(r"\1", markdown).replace(WORD_JOINER, "").replace("\u00a0", " ")


def test_md_text_leaves_only_literal_characters() -> None:
    shown = md_text(EVIL)
    assert reparse(shown) == EVIL
    # no pattern Streamlit rewrites after parsing survives: bare URLs, www., e-mail, :emoji:, :material/
    plain = _ESCAPE.sub(r"\1", shown)
    for pattern in (r"https?://", r"www\.", r"\w@\w", r":[\w/-]+:", r":material/"):
        assert not re.search(pattern, plain), pattern


@pytest.mark.parametrize("text", ["# heading", "- item", "1. item", "> quote", "    code", "a\n# b", "a\r\n\tb",
                                  "|a|b|", "\\", ""])
def test_md_text_line_starts_and_whitespace(text: str) -> None:
    shown = md_text(text)
    assert "\n" not in shown and not shown.startswith(("#", "-", "1.", ">", " "))
    assert reparse(shown) == re.sub(r"[\r\n\t]", " ", text)


def test_plotly_labels_are_not_html() -> None:
    assert plotly_text('<a href="https://evil.example">x</a> & <b>') == \
        '&lt;a href="https://evil.example"&gt;x&lt;/a&gt; &amp; &lt;b&gt;'


def test_redact_paths_keeps_only_the_last_part() -> None:
    assert redact_paths("cannot read /root/.cache/torch/hub/x.pth (EOFError)") == "cannot read x.pth (EOFError)"
    assert redact_paths("no job 1 in /srv/data/jobs; 1/2 a/b.png") == "no job 1 in jobs; 1/2 a/b.png"


_SCRIPT = """
import streamlit as st
from playground.ui.text import md_text, show_error
user = st.session_state.get("user", "")
st.markdown(f"**Upload**: {md_text(user)}")
st.caption(md_text(user))
show_error(f"Cannot read {user}")
"""


def test_rendered_elements_hold_the_escaped_text() -> None:
    """Through a real Streamlit run: the element values are the escaped text, and read back literally."""
    at = AppTest.from_string(_SCRIPT)
    at.session_state["user"] = EVIL
    at.run()
    assert not at.exception
    markdown, caption, error = at.markdown[0].value, at.caption[0].value, at.error[0].value
    assert markdown == f"**Upload**: {md_text(EVIL)}" and reparse(markdown.removeprefix("**Upload**: ")) == EVIL
    assert reparse(caption) == EVIL and reparse(error) == f"Cannot read {EVIL}"


# --------------------------------------------------------------------------- long thin photos


def thin_png(width: int = 100_000, height: int = 1) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (width, height), 128).save(buf, "PNG", optimize=True)
    return buf.getvalue()


def test_concepts_page_refuses_a_thin_photo_with_a_message() -> None:
    at = AppTest.from_file(str(REPO / "app_pages" / "concepts.py"), default_timeout=180)
    at.session_state[widget_key("concepts", PHOTO_SOURCE)] = "upload"  # (skips computing every lesson first)
    at.run()
    at.file_uploader(key=widget_key("concepts", PHOTO_UPLOAD)).set_value(
        ("strip [x](https:evil.example).png", thin_png(), "image/png")).run()
    assert not at.exception, [e.message for e in at.exception]
    [error] = [e.value for e in at.error]
    assert reparse(error) == ("strip [x](https:evil.example).png: 100000x1 is too long and thin (100,000:1; "
                              "the limit is 20:1); crop it closer to square and try again")
    assert "Choose a photo above" in at.info[0].value  # the lessons wait for a usable photo


def _finetune_upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.segmented_control(key=widget_key(DATA, DATA_SOURCE)).set_value("upload").run()
    at.file_uploader(key=widget_key(DATA, DATA_UPLOAD)).set_value((name, data, "application/zip")).run()
    return at


def _texts(at: AppTest) -> list[str]:
    return [e.value for kind in ("markdown", "caption", "error", "warning", "info") for e in at.get(kind)]


def test_finetune_lists_thin_images_as_unusable_and_names_are_text() -> None:
    evil_class = "[Answers here](https:evil.example)"
    data = make_zip({f"{evil_class}/1.png": png_bytes(1), f"{evil_class}/2.png": png_bytes(2),
                     "dogs/3.png": png_bytes(3), "dogs/4.png": png_bytes(4), "dogs/strip.png": thin_png(4000)})
    at = _finetune_upload(run_page("finetune"), "**class** <b>zip</b>.zip", data)
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    captions = [c for image in at.get("image") for c in image.captions]
    shown = "\n".join([*_texts(at), *captions])
    assert f"**{md_text('**class** <b>zip</b>.zip')}**: 4 images in 2 classes" in shown
    assert f"**{md_text(evil_class)}**" in captions  # the class's strip in the sample grid
    assert "](https" not in shown and "<b>" not in shown  # no live link or tag anywhere
    [bad] = [df.value for df in at.dataframe]  # the unusable images, as literal cells
    assert list(bad["File"]) == ["dogs/strip.png"]
    assert "4000x1 is too long and thin" in bad["Why"][0]
    [grid] = at.get("image")  # and the sample grid drew the usable ones: one strip per class, one element
    assert len(grid.proto.imgs) == 2


def test_a_sample_that_became_thin_is_a_caption_not_a_traceback() -> None:
    """The grid decodes each thumbnail through the same loader: a file changed on disk since it was
    checked is shown as its message, in its cell."""
    data = make_zip({"a/1.png": png_bytes(11), "a/2.png": png_bytes(12), "b/3.png": png_bytes(13),
                     "b/4.png": png_bytes(14)})
    ds = archive.stage_upload(data, "ab.zip")
    (ds.root / "a" / "1.png").write_bytes(thin_png(4000))  # after the check, before the grid
    at = _finetune_upload(run_page("finetune"), "ab.zip", data)
    assert not at.exception, [e.message for e in at.exception]
    assert any("a/1.png: 4000x1 is too long and thin" in reparse(c.value.split(": ", 1)[1])
               for c in at.caption if "broken_image" in c.value)


def test_a_class_server_shows_no_server_paths(monkeypatch, _playground_home: Path) -> None:
    app = str(REPO / "app.py")
    at = AppTest.from_file(app, default_timeout=60)
    at.run()
    assert md_text(_playground_home) in " ".join(c.value for c in at.sidebar.caption)  # single-user: shown
    monkeypatch.setenv("PLAYGROUND_CLASS_PASSCODE", "letmein")
    at = AppTest.from_file(app, default_timeout=60)
    at.run()
    assert not at.exception
    shown = " ".join(c.value for c in at.sidebar.caption)
    assert _playground_home.name not in shown and ":material/folder:" not in shown


# --------------------------------------------------------------------------- the command line


def test_cli_predict_gives_one_line_for_a_thin_image(tmp_path: Path, capsys) -> None:
    from playground.cli import main

    thin = tmp_path / "thin.png"
    thin.write_bytes(thin_png())
    Image.new("RGB", (64, 48), (200, 30, 30)).save(tmp_path / "ok.png")
    code = main(["predict", str(thin), str(tmp_path / "ok.png"), "--json", "--top", "1"])
    out, err = capsys.readouterr()
    assert code == 2 and err == ""
    bad, ok = json.loads(out)  # the other file is still predicted
    assert bad == {"image": str(thin), "error": f"{thin}: 100000x1 is too long and thin (100,000:1; the limit is "
                   "20:1); crop it closer to square and try again"}
    assert len(ok["predictions"]) == 1
    # a real process: one line on stderr, exit status 2, no traceback
    proc = subprocess.run([sys.executable, "-m", "playground", "predict", str(thin)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr[-2000:]
    assert proc.stderr == f"error: {bad['error']}\n"
