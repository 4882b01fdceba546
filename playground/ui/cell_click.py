"""Clickable cells on a Plotly picture: one near-transparent marker per unit of a feature map.

``st.plotly_chart(on_select="rerun")`` reports nothing for a click on an image or heatmap trace (an
open Streamlit issue), but it does report the point of a scatter trace. So a picture becomes
clickable by laying one almost invisible square marker on each unit: the clicked point's index is
the unit, row by row. The Designer's receptive-field photo and Predict's feature maps both use this.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

__all__ = ["MAX_CLICK_CELLS", "add_cell_markers", "clicked_cell", "apply_click"]

# One invisible marker per output unit makes a picture clickable; past this many the sliders alone pick.
MAX_CLICK_CELLS = 4096


def add_cell_markers(fig: Any, out_hw: tuple[int, int], y_of_row: Callable[[Any], Any],
                     x_of_col: Callable[[Any], Any], size: float) -> bool:
    """Add the marker trace (unit (row, column) at display ``(x_of_col(col), y_of_row(row))``) to ``fig``.

    ``y_of_row`` / ``x_of_col`` map numpy arrays of indices to display coordinates. Returns False (and
    adds nothing) when the map has more than :data:`MAX_CLICK_CELLS` units. The trace must be the
    figure's second (``curve_number`` 1, after the picture) for :func:`clicked_cell` to read it.
    """
    import numpy as np
    import plotly.graph_objects as go

    out_h, out_w = out_hw
    if out_h * out_w > MAX_CLICK_CELLS:
        return False
    rows, cols = np.meshgrid(np.arange(out_h), np.arange(out_w), indexing="ij")
    fig.add_trace(go.Scatter(
        x=x_of_col(cols.ravel()), y=y_of_row(rows.ravel()), mode="markers",
        customdata=np.stack([rows.ravel(), cols.ravel()], axis=1),
        marker=dict(size=max(6.0, min(40.0, size)), symbol="square", color="rgba(255,255,255,0.01)"),
        showlegend=False, hovertemplate="unit (%{customdata[0]}, %{customdata[1]}): click to inspect<extra></extra>"))
    return True


def clicked_cell(event: Any, out_hw: tuple[int, int]) -> tuple[int, int] | None:
    """The (row, column) of the unit a chart's selection event points at, or None."""
    selection: Any = event.get("selection") if hasattr(event, "get") else None
    points: list[Any] = list(selection.get("points", [])) if hasattr(selection, "get") else []
    # Markers go row by row, so a point's index is the unit (customdata's shape varies with the frontend).
    picked = next((int(p["point_index"]) for p in points
                   if hasattr(p, "get") and p.get("curve_number") == 1 and "point_index" in p), None)
    if picked is None or not 0 <= picked < out_hw[0] * out_hw[1]:
        return None
    row, col = divmod(picked, out_hw[1])
    return row, col


def apply_click(chart_key: str, out_hw: tuple[int, int], row_key: str, col_key: str, applied_key: str) -> None:
    """Copy a new click on the chart ``chart_key`` into the unit sliders ``row_key`` / ``col_key``.

    Call it before the sliders are drawn. ``applied_key`` remembers the last click copied, so a
    slider moved afterwards is not pulled back by the same (still selected) click on the next run.
    A slider for an axis of size 1 is never drawn, so it is left alone.
    """
    event: Any = st.session_state.get(chart_key)
    cell = clicked_cell(event, out_hw)
    if cell is None or st.session_state.get(applied_key) == (chart_key, cell):
        return
    st.session_state[applied_key] = (chart_key, cell)
    if out_hw[0] > 1:
        st.session_state[row_key] = cell[0]
    if out_hw[1] > 1:
        st.session_state[col_key] = cell[1]
