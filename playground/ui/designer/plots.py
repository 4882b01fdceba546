"""The designer's plots: spatial size and channels per layer; receptive-field growth vs the input size.

The figure builders are pure functions of the report (plotly is imported only when the
plots panel is open); the page draws them with ``st.plotly_chart``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from playground.design.analysis import Report
from playground.ui.designer.erf import PLOT_TOGGLE, erf_for_layers

if TYPE_CHECKING:  # plotly is imported lazily: it is only needed while the panel is open
    import plotly.graph_objects as go

__all__ = ["shape_figure", "field_figure", "render_plots"]


def _spatial_rows(report: Report) -> list[tuple[str, tuple[int, ...]]]:
    """(x label, shape) for the input and every layer that still has a (C, H, W) output."""
    rows = [("in", tuple(report.input_shape or ()))]
    for x in report.layers:
        if len(x.output_shape) != 3:
            break
        rows.append((str(x.index), tuple(x.output_shape)))
    return rows


def shape_figure(report: Report) -> go.Figure:
    """Height/width (lines, left axis) and channels (bars, right axis) after each layer."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    rows = _spatial_rows(report)
    xs = [label for label, _ in rows]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=xs, y=[s[0] for _, s in rows], name="channels",
                         marker_color="rgba(31,111,235,0.35)"), secondary_y=True)
    fig.add_trace(go.Scatter(x=xs, y=[s[1] for _, s in rows], name="height", mode="lines+markers"),
                  secondary_y=False)
    if any(s[1] != s[2] for _, s in rows):
        fig.add_trace(go.Scatter(x=xs, y=[s[2] for _, s in rows], name="width", mode="lines+markers"),
                      secondary_y=False)
    fig.update_layout(title="Spatial size and channels per layer", height=340, margin=dict(t=50, b=40, l=50, r=50),
                      legend=dict(orientation="h", y=-0.2), xaxis_title="layer")
    fig.update_yaxes(title_text="pixels (H, W)", secondary_y=False, rangemode="tozero")
    # Streamlit's theme syncs the right axis's ticks to the left one's gridlines, which gives
    # channel counts like 39.2; whole numbers on their own ticks read better.
    fig.update_yaxes(title_text="channels", secondary_y=True, rangemode="tozero", showgrid=False,
                     tickmode="auto", tickformat=",d")
    fig.update_xaxes(type="category")
    return fig


def field_figure(report: Report, effective: dict[int, int] | None = None) -> go.Figure:
    """Receptive field after each layer, with the input height (and width) marked; ``effective``
    (layer index -> measured effective field height) adds the effective field as a second line."""
    import plotly.graph_objects as go

    fields = [(x.index, x.receptive_field) for x in report.layers if x.receptive_field is not None]
    xs = ["in", *(str(i) for i, _ in fields)]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=xs, y=[1, *(f[0] for _, f in fields)], name="field (height)",
                             mode="lines+markers"))
    if any(f[0] != f[1] for _, f in fields):
        fig.add_trace(go.Scatter(x=xs, y=[1, *(f[1] for _, f in fields)], name="field (width)",
                                 mode="lines+markers"))
    if effective:
        fig.add_trace(go.Scatter(x=["in", *(str(i) for i in effective)], y=[1, *effective.values()],
                                 name="effective field (95% of the gradient)", mode="lines+markers",
                                 line=dict(dash="dot")))
    _, h, w = report.input_shape or (0, 0, 0)
    fig.add_hline(y=h, line_dash="dash", line_color="firebrick", annotation_text=f"input height {h}",
                  annotation_position="top left")
    if w != h:
        fig.add_hline(y=w, line_dash="dot", line_color="darkorange", annotation_text=f"input width {w}",
                      annotation_position="bottom left")
    fig.update_layout(title="Receptive field per layer", height=340, margin=dict(t=50, b=40, l=50, r=20),
                      legend=dict(orientation="h", y=-0.2), xaxis_title="layer", yaxis_title="input pixels")
    fig.update_xaxes(type="category")
    fig.update_yaxes(rangemode="tozero")
    return fig


def render_plots(report: Report | None, spec: dict | None = None) -> None:
    """Both figures; with ``spec`` (the valid design), a toggle adds the measured effective field."""
    if report is None or not report.layers:
        st.info("Add a layer to see the plots.")
        return
    st.plotly_chart(shape_figure(report), width="stretch", key="dz.plot.shape")
    effective = None
    if spec is not None and st.toggle("Add the measured effective receptive field", key=PLOT_TOGGLE,
                                      help="Measures each layer's centre unit (Luo et al., 2016); cached."):
        spatial = [x.index for x in report.layers if x.receptive_field is not None and len(x.output_shape) == 3]
        effective = erf_for_layers(spec, spatial)
    st.plotly_chart(field_figure(report, effective), width="stretch", key="dz.plot.field")
    st.caption("A unit's field grows by (kernel − 1) × jump at each layer, and the jump multiplies by the "
               "stride: strides and pooling early make later fields grow fast. Once the curve passes the dashed "
               "line, one unit can see the whole input.")
