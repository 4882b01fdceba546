"""The floors a page's server cost is compared with, both measured in the same benchmark run.

- The blank app: one line of text. It is the least a Streamlit run costs at all (the protocol,
  the script thread, one element), about 2 ms of server CPU on the 2-core machine.
- A page's static twin: the same script asked for as many elements as that page sends per run
  (``?n=K``), each a line of text, with no computation. It is the least Streamlit itself spends
  sending that page's output; what a page costs above its twin is the page's own Python (its
  analysis, its widgets' bookkeeping). A blank app cannot be the floor of a page that draws 60
  elements: Streamlit's cost grows with the element count (a 40-line page costs about three
  blank runs before any app code runs), so "x twin" is the ratio that says how lean a page is.
"""
from __future__ import annotations

import statistics
from typing import Any

__all__ = ["FLOOR_SCRIPT", "BLANK_PAGE", "twin_elements", "twin_query", "twin_name"]

FLOOR_SCRIPT = '''import streamlit as st

# No query: the blank app (one line). ?n=K: K lines, the static twin of a page that sends K elements.
n = st.query_params.get("n", "1")
for i in range(int(n) if n.isdigit() else 1):
    st.write(f"line {i}")
'''
BLANK_PAGE = "blank app"


def twin_elements(page_row: dict[str, Any], blank_row: dict[str, Any]) -> int:
    """Elements a page sends per rerun: its messages per rerun less the blank app's bookkeeping
    messages (the blank app's own messages minus its one element)."""
    overhead = blank_row["messages_per_rerun"] - 1
    return max(1, round(page_row["messages_per_rerun"] - overhead))


def twin_query(elements: int) -> str:
    """The floor app's query string for a twin of ``elements`` elements."""
    return f"n={elements}"


def twin_name(page: str) -> str:
    """How a twin's row is named in the results."""
    return f"{page} twin"


def median_messages(results: list[Any]) -> float:
    """Median messages per finished run (0 when none finished)."""
    counts = [r.messages for r in results if r.finished]
    return float(statistics.median(counts)) if counts else 0.0
