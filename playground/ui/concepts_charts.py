"""Plotly figures for the Concepts page (pure: arrays in, figure out)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

__all__ = ["image_map", "dense_matrix", "gradient_lines"]


def image_map(values: np.ndarray, title: str, signed: bool = False, height: int = 320) -> go.Figure:
    """A 2-D map at its true pixel grid: grey for an image, red/blue around 0 for a signed feature map."""
    h, w = values.shape
    if signed:
        bound = float(np.abs(values).max()) or 1.0
        heat = go.Heatmap(z=values, colorscale="RdBu_r", zmin=-bound, zmax=bound, zmid=0.0,
                          colorbar=dict(thickness=10))
    else:
        heat = go.Heatmap(z=values, colorscale="gray", showscale=False)
    fig = go.Figure(heat)
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain", showticklabels=False)
    fig.update_xaxes(constrain="domain", showticklabels=False)
    fig.update_layout(title=dict(text=f"{title} — {h}×{w}", font=dict(size=14)), height=height,
                      margin=dict(l=0, r=0, t=36, b=0))
    return fig


def dense_matrix(matrix: np.ndarray, title: str) -> go.Figure:
    """The fully connected weight matrix equivalent to a conv: mostly zeros, the same k² weights per row."""
    bound = float(np.abs(matrix).max()) or 1.0
    fig = go.Figure(go.Heatmap(z=matrix, colorscale="RdBu_r", zmin=-bound, zmax=bound, zmid=0.0,
                               colorbar=dict(thickness=10),
                               hovertemplate="output %{y}, input %{x}: %{z:.3f}<extra></extra>"))
    cols = matrix.shape[1]
    fig.update_yaxes(autorange="reversed", title="output pixel", scaleanchor="x", constrain="domain")
    fig.update_xaxes(title="input pixel", range=[-0.5, cols - 0.5], constrain="domain")
    fig.update_layout(title=dict(text=title, font=dict(size=14)), height=360, margin=dict(l=0, r=0, t=36, b=0))
    return fig


_LINE_COLOURS = ("#d62728", "#1f6feb", "#2ca02c")


def gradient_lines(series: Sequence[tuple[str, Sequence[float]]], y_title: str) -> go.Figure:
    """Per-layer values (log scale), layer 1 = next to the input."""
    fig = go.Figure()
    for (name, values), colour in zip(series, _LINE_COLOURS):
        fig.add_trace(go.Scatter(x=list(range(1, len(values) + 1)), y=list(values), name=name,
                                 mode="lines+markers", line=dict(color=colour)))
    fig.update_yaxes(type="log", title=y_title, exponentformat="power")
    fig.update_xaxes(title="layer (1 = next to the input)")
    fig.update_layout(height=380, margin=dict(l=10, r=10, t=20, b=10), legend=dict(orientation="h", y=-0.25),
                      hovermode="x unified")
    return fig
