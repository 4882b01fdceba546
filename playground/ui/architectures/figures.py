"""The Architectures page's Plotly figures: pure functions, data in, figure out."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

__all__ = ["error_bubbles", "resolution_curve", "per_pixel_curve"]

_SYMBOLS = {True: "diamond", False: "circle"}  # ensemble vs single model
_CNN, _VIT = "#1f6feb", "#d62728"


def error_bubbles(rows: Sequence[dict[str, Any]], x: str, x_title: str, error_key: str, error_title: str) -> go.Figure:
    """Error (y) against ``x`` (log scale) for every row that has that error; bubbles coloured by year.

    Rows need ``title``, ``year``, ``x``, ``error_key`` and, for the marker, ``ensemble`` (bool).
    """
    shown = [r for r in rows if r.get(error_key) is not None]
    # alternate labels above/below along x so neighbours (VGG-16/19, GoogLeNet/EfficientNet-B0) stay legible
    order = sorted(shown, key=lambda r: r[x])
    position = {r["title"]: ("top center" if i % 2 == 0 else "bottom center") for i, r in enumerate(order)}
    fig = go.Figure()
    for ensemble in (False, True):
        group = [r for r in shown if bool(r.get("ensemble")) == ensemble]
        if not group:
            continue
        fig.add_trace(go.Scatter(
            x=[r[x] for r in group],
            y=[r[error_key] for r in group],
            text=[r["title"] for r in group],
            customdata=[[r["year"], r.get("protocol", "")] for r in group],
            mode="markers+text",
            textposition=[position[r["title"]] for r in group],
            name="ensemble" if ensemble else "single model",
            marker=dict(
                size=18, symbol=_SYMBOLS[ensemble], color=[r["year"] for r in group],
                colorscale="Viridis", cmin=2012, cmax=2022, line=dict(width=1, color="#333"),
                colorbar=dict(title="Year", thickness=12) if not ensemble else None,
                showscale=not ensemble,
            ),
            hovertemplate="<b>%{text}</b> (%{customdata[0]})<br>" + x_title + ": %{x:.3s}<br>"
                          + error_title + ": %{y:.2f}%<br>%{customdata[1]}<extra></extra>",
        ))
    logs = [math.log10(r[x]) for r in shown] or [0.0]
    fig.update_xaxes(type="log", title=x_title, range=[min(logs) - 0.3, max(logs) + 0.3])  # room for labels
    top = max((r[error_key] for r in shown), default=1.0)
    fig.update_yaxes(title=error_title + " (%)", range=[0, 1.15 * top])  # room for the labels above
    fig.update_layout(height=460, margin=dict(l=10, r=10, t=30, b=10), font=dict(size=11),
                      legend=dict(orientation="h", y=-0.2))
    return fig


def resolution_curve(cnn: Sequence[dict[str, int]], vit: Sequence[dict[str, int]],
                     cnn_name: str, vit_name: str) -> go.Figure:
    """Total GMACs against input pixels for a CNN and a ViT, with the ViT's attention part."""
    fig = go.Figure()
    mp = lambda rows: [r["pixels"] / 1e6 for r in rows]  # noqa: E731 - megapixels on the x axis
    fig.add_trace(go.Scatter(x=mp(cnn), y=[r["total_macs"] / 1e9 for r in cnn], name=cnn_name,
                             mode="lines+markers", line=dict(color=_CNN)))
    fig.add_trace(go.Scatter(x=mp(vit), y=[r["total_macs"] / 1e9 for r in vit], name=vit_name,
                             mode="lines+markers", line=dict(color=_VIT)))
    fig.add_trace(go.Scatter(x=mp(vit), y=[r["attention_macs"] / 1e9 for r in vit],
                             name=f"{vit_name}: attention QKᵀ and AV only", mode="lines",
                             line=dict(dash="dot", color=_VIT)))
    fig.update_xaxes(title="Input size (megapixels)")
    fig.update_yaxes(title="GMACs per image")
    fig.update_layout(height=420, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=-0.2),
                      hovermode="x unified")
    return fig


def per_pixel_curve(cnn: Sequence[dict[str, int]], vit: Sequence[dict[str, int]],
                    cnn_name: str, vit_name: str) -> go.Figure:
    """MACs per input pixel: flat for the CNN (linear cost), rising for the ViT (quadratic term)."""
    fig = go.Figure()
    for rows, name, colour in ((cnn, cnn_name, _CNN), (vit, vit_name, _VIT)):
        fig.add_trace(go.Scatter(x=[r["side"] for r in rows], y=[r["total_macs"] / r["pixels"] for r in rows],
                                 name=name, mode="lines+markers", line=dict(color=colour)))
    fig.update_xaxes(title="Input side (pixels, square)")
    fig.update_yaxes(title="MACs per input pixel", rangemode="tozero")
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=-0.25),
                      hovermode="x unified")
    return fig
