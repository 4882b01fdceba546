"""Integer axes for Plotly charts of counts (layers, steps, depth): ticks on whole numbers only.

Plotly picks tick steps for the range it draws; over a short range (a few layers, six steps) it picks
0.5 and labels "1.5", "2.5", which are no count at all. A step of 1 is fixed there; over a longer range
Plotly's own steps (2, 5, 10, ...) are whole already.
"""
from __future__ import annotations

from collections.abc import Iterable

import plotly.graph_objects as go

__all__ = ["integer_ticks", "set_integer_x", "INTEGER_DTICK_UP_TO"]

INTEGER_DTICK_UP_TO = 12  # widest range (in units) drawn with a tick on every whole number


def integer_ticks(values: Iterable[float]) -> dict[str, object]:
    """Axis settings for an axis of whole-number ``values``: every number when they span a short range,
    else Plotly's own steps, never below 1."""
    shown = list(values)
    span = (max(shown) - min(shown)) if shown else 0
    if span <= INTEGER_DTICK_UP_TO:
        return {"tick0": 0, "dtick": 1}
    return {"tickformat": ",d"}


def set_integer_x(fig: go.Figure, values: Iterable[float], **kwargs: object) -> go.Figure:
    """Give ``fig``'s x axes (all subplots) whole-number ticks for ``values``; returns ``fig``."""
    fig.update_xaxes(**integer_ticks(values), **kwargs)
    return fig
