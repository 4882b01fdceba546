"""Widget keys, and widget values kept through runs that do not draw the widget.

Streamlit drops a widget's value at the end of any run that does not draw it: a closed lazy tab
(:mod:`playground.ui.tabs`), a closed expander, the Fine-tune form while a job is shown, or a visit
to another page. The one way the app keeps such values: :func:`remember` before the widgets are
drawn gives each its last value (or its default), :func:`keep` saves that value in a shadow copy,
an ordinary session-state entry Streamlit never drops. A kept widget takes its default from
:func:`remember`, not from its own ``value=`` / ``index=`` / ``default=`` (Streamlit warns when a
widget has both).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import streamlit as st

__all__ = ["widget_key", "remember", "keep"]


def widget_key(namespace: str, part: str) -> str:
    """Session-state key of widget ``part`` of a picker drawn with ``namespace`` (``"predict_photo_source"``),
    so several pages, or several pickers on one page, keep separate state."""
    return f"{namespace}_{part}"


def _shadow(key: str) -> str:
    return f"{key}__kept"


def remember(defaults: Mapping[str, object]) -> None:
    """Give widgets their values from session state, surviving runs where they are not drawn (call
    before drawing them): the value :func:`keep` saved last, else the default."""
    for key, default in defaults.items():
        if key not in st.session_state:
            st.session_state[key] = st.session_state.get(_shadow(key), default)


def keep(keys: Iterable[str]) -> None:
    """Save the shadow copies :func:`remember` restores from: after drawing the widgets, or in a run
    that does not draw them (their values from the last run are still readable until it ends)."""
    for key in keys:
        if key in st.session_state:
            st.session_state[_shadow(key)] = st.session_state[key]
