"""Page parts drawn once per server and replayed on every later run.

A Streamlit rerun rebuilds every element: a Plotly figure is deep-copied, validated and
JSON-encoded again, a table goes list -> pandas -> Arrow again, an image is PNG-encoded again,
although none of their inputs changed. With 30 students on one 2-core server that repetition
was most of each page's CPU (bench/bench_classroom.py). Streamlit's caches record the element
messages a function emits and, on a hit, re-send the recorded protobufs (images included,
through the media file manager) without running the function: that is what :func:`replayed`
is for. It uses ``st.cache_resource``, not ``st.cache_data``: cache_data unpickles its entry on
every hit, and unpickling a few dozen protobufs cost more than drawing them; cache_resource
keeps the messages as they are (each is copied into a new ForwardMsg when sent, so sessions and
threads share them safely). Return values are shared too: callers must not mutate them.
Only element-drawing functions of plain, hashable arguments belong here, and never widgets
(Streamlit refuses to replay them): callers keep their widgets outside and pass their values in.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import pyarrow as pa
import streamlit as st

__all__ = ["replayed", "arrow_table"]

F = TypeVar("F", bound=Callable[..., Any])

# Each entry holds one run's messages of one page part (a table, two charts): a few hundred KB
# at most, so a bound of 256 keeps the whole cache in tens of MB whatever students type.
MAX_ENTRIES = 256


def replayed(fn: F) -> F:
    """``fn`` drawn once per distinct argument tuple, replayed from then on (see the module docstring)."""
    return st.cache_resource(show_spinner=False, max_entries=MAX_ENTRIES)(fn)  # type: ignore[return-value]


def arrow_table(records: Sequence[dict[str, Any]]) -> pa.Table:
    """Rows as an Arrow table: ``st.dataframe`` sends one as it is, where a list of dicts costs a
    pandas DataFrame and a pandas -> Arrow conversion on every run (a mixed column stays a string)."""
    if not records:
        return pa.table({})
    columns = {name: [r.get(name) for r in records] for name in records[0]}
    arrays = {}
    for name, values in columns.items():
        try:
            arrays[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types: shown as text, as pandas would
            arrays[name] = pa.array([None if v is None else str(v) for v in values])
    return pa.table(arrays)
