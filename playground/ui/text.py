"""The one way a user-supplied string reaches Streamlit's markdown: shown literally, never interpreted.

Everything a student types or uploads (file names, zip names, class folder names, layer names, error
messages that quote them) is shown to *other* students too, through ``st.markdown``, ``st.error``,
``st.caption``, ``st.write``, widget labels... all of which parse Streamlit's markdown. Without
escaping, ``[Answers here](https:evil.example)`` becomes a live link on a classmate's page.

:func:`md_text` makes a string render as exactly its own characters:

- every ASCII punctuation character gets a backslash (CommonMark lets a backslash escape any of
  them): links, images, emphasis, code, strikethrough, tables, headings, lists, quotes, raw HTML,
  entities, ``$math$`` and ``:color[...]`` directives all become literal text;
- Streamlit also rewrites some *parsed text* after the escapes are gone: bare URLs
  (``https://...``, ``www.``) and e-mail addresses turn into links, ``:smile:`` into emoji, and the
  raw source's ``:material/name:`` into an icon. An invisible WORD JOINER (U+2060) after every
  ``:`` and ``@`` and between ``www`` and its dot breaks those patterns without changing what the
  reader sees;
- line breaks and tabs become spaces (a message is one line: a new line could start a heading or a
  list), and leading spaces become no-break spaces (four would start a code block);
- bidirectional controls (a right-to-left override in a zip's name) are shown as ``<U+202E>``
  rather than reordering what follows them.

Plotly labels are HTML, not markdown: use :func:`plotly_text` there.

Use it on the user part of a message (``st.error(f"Cannot read {md_text(name)}: ...")``) or on a whole
plain-text message from the library (:func:`show_error`). Literal-by-construction outputs need none
of this: ``st.text``, ``st.code`` and dataframe cells never parse markdown.
"""
from __future__ import annotations

import html
import re
import string

import streamlit as st

from playground._format import BIDI_CONTROLS

__all__ = ["md_text", "plotly_text", "show_error", "show_warning", "redact_paths", "server_paths_hidden",
           "server_details_visible",
           "WORD_JOINER"]

WORD_JOINER = "\u2060"  # zero-width, no line break: invisible, but it splits a pattern in two
_PUNCTUATION = frozenset(string.punctuation)  # CommonMark: "any ASCII punctuation character may be backslash-escaped"
_BREAK_AFTER = frozenset(":@")  # URL schemes, :emoji:, :material/icon:, :color[...], e-mail addresses
_WWW_DOT = re.compile(r"(www)(?=\\\.)", re.IGNORECASE)  # "www\." after escaping: the bare-www autolink
_LINE_BREAKS = re.compile(r"[\r\n\t\v\f\x00-\x08\x0e-\x1f\x7f\u2028\u2029\x85]")
_LEADING_SPACES = re.compile(r"^ +")
# An absolute POSIX path of two or more parts (/srv/playground/uploads/ab12/cats/1.png), up to a space or
# a quote; what follows its last slash is kept. A lone "/x" (a ratio such as 1/2 never starts with "/") stays.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~])(?:/[^\s/'\"`]+)+/(?=[^\s/'\"`]+)")


def md_text(value: object) -> str:
    """``value`` as markdown that Streamlit renders as exactly its characters (see the module doc).

    >>> md_text("[x](https://e.example) **b**")  # doctest: +SKIP
    '\\[x\\]\\(https\\:\u2060\\/\\/e\\.example\\) \\*\\*b\\*\\*'
    """
    text = _LINE_BREAKS.sub(" ", str(value))
    # A right-to-left override shows "gpj.exe" as "exe.jpg": show the control itself instead.
    text = "".join(f"<U+{ord(ch):04X}>" if ch in BIDI_CONTROLS else ch for ch in text)
    text = _LEADING_SPACES.sub(lambda m: "\u00a0" * len(m.group(0)), text)
    out: list[str] = []
    for ch in text:
        out.append("\\" + ch if ch in _PUNCTUATION else ch)
        if ch in _BREAK_AFTER:
            out.append(WORD_JOINER)
    return _WWW_DOT.sub(r"\1" + WORD_JOINER, "".join(out))


def plotly_text(value: object) -> str:
    """``value`` for a Plotly label (axis categories, titles, hover text), shown literally.

    Plotly renders a subset of HTML in every label (``<b>``, ``<br>``, ``<a href=...>`` links), and
    decodes entities; escaping ``&``, ``<`` and ``>`` leaves the reader the same characters."""
    return html.escape(_LINE_BREAKS.sub(" ", str(value)), quote=False)


def server_paths_hidden() -> bool:
    """True on a class server (a class passcode is set): students must not see the server's folders.

    A single-user install (no passcode) shows them: there the reader is whoever runs the server."""
    from playground.ui.owner import classroom_mode  # owner renders through this module: import it late

    return classroom_mode()


def server_details_visible() -> bool:
    """Whether this session may see the server's own details (folders, admin commands, its CPUs and
    GPUs) and act on the server (fetch model weights): everyone on a single-user install; on a class
    server (a passcode is set) the teacher only."""
    from playground.ui.owner import classroom_mode, is_teacher  # owner renders through this module

    return not classroom_mode() or is_teacher()


def redact_paths(text: str) -> str:
    """``text`` with every absolute path cut to its last part ("/srv/data/uploads/x/cat.png" -> "cat.png")."""
    return _ABSOLUTE_PATH.sub("", text)


def _public(message: object) -> str:
    text = str(message)
    return redact_paths(text) if server_paths_hidden() else text


def show_error(message: object, *, icon: str | None = None) -> None:
    """``st.error`` of a plain-text message (one that may quote user strings), shown literally; on a
    class server, without the server's paths (:func:`redact_paths`)."""
    st.error(md_text(_public(message)), icon=icon)


def show_warning(message: object, *, icon: str | None = None) -> None:
    """``st.warning`` of a plain-text message, as :func:`show_error` shows it."""
    st.warning(md_text(_public(message)), icon=icon)
