"""Tabs whose closed panels cost nothing on a rerun, without forgetting what was set in them.

``st.tabs(..., on_change="rerun")`` tells the script which tab is open, so a page can draw only
that one: on a class server the Concepts page ran all seven lessons on every run, six of them
unseen. But Streamlit forgets the state of any widget that was not drawn in a run, so a lesson's
sliders would reset each time its tab closed. Re-assigning a widget's key from Python turns its
value into ordinary session state that survives until the widget is drawn again.
"""
from __future__ import annotations

from collections.abc import Sequence

import streamlit as st
from streamlit.elements.lib.mutable_tab_container import TabContainer

__all__ = ["lazy_tabs", "keep_widget_values"]


def keep_widget_values(keys: Sequence[str]) -> None:
    """Keep the values of these widgets through a run that does not draw them (call before drawing)."""
    for name in keys:
        if name in st.session_state:
            st.session_state[name] = st.session_state[name]


def lazy_tabs(labels: Sequence[str], key: str, keep: Sequence[Sequence[str]] = ()) -> Sequence[TabContainer]:
    """``st.tabs`` that reruns on a tab change; ``keep[i]`` are the widget keys drawn in tab ``i``,
    kept while that tab is closed. Draw a tab's content only when ``tab.open``."""
    tabs = st.tabs(list(labels), key=key, on_change="rerun")
    for tab, keys in zip(tabs, keep):
        if not tab.open:  # an open tab's widgets are drawn this run: assigning their keys would clash
            keep_widget_values(keys)
    return tabs
