"""Tabs whose closed panels cost nothing on a rerun, without forgetting what was set in them.

``st.tabs(..., on_change="rerun")`` tells the script which tab is open, so a page can draw only
that one: on a class server the Concepts page ran all seven lessons on every run, six of them
unseen. But Streamlit forgets the state of any widget that was not drawn in a run, so a lesson's
sliders would reset each time its tab closed: :func:`lazy_tabs` keeps them with
:mod:`playground.ui.widget_state`'s :func:`~playground.ui.widget_state.remember` and
:func:`~playground.ui.widget_state.keep`. Every tabbed page uses it.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import streamlit as st
from streamlit.elements.lib.mutable_tab_container import TabContainer

from playground.ui.widget_state import keep, remember

__all__ = ["lazy_tabs"]


def lazy_tabs(labels: Sequence[str], key: str,
              kept: Sequence[Mapping[str, object]] = ()) -> Sequence[TabContainer]:
    """``st.tabs`` that reruns on a tab change; ``kept[i]`` maps the keys of the widgets drawn in tab
    ``i`` to their defaults, kept while that tab is closed. Draw a tab's content only when ``tab.open``."""
    tabs = st.tabs(list(labels), key=key, on_change="rerun")
    for tab, defaults in zip(tabs, kept):
        keep(defaults)  # the values of the last run (a tab that just closed drops them at the end of this one)
        if tab.open:
            remember(defaults)
    return tabs
