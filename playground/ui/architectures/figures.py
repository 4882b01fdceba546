"""The Architectures page's Plotly figures: pure functions, data in, figure out."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

__all__ = ["error_bubbles", "resolution_curve", "per_pixel_curve", "label_positions", "label_box", "to_pixels",
           "PLOT_PX"]

_SYMBOLS = {True: "diamond", False: "circle"}  # ensemble vs single model
_CNN, _VIT = "#1f6feb", "#d62728"


def error_bubbles(rows: Sequence[dict[str, Any]], x: str, x_title: str, error_key: str, error_title: str) -> go.Figure:
    """Error (y) against ``x`` (log scale) for every row that has that error; bubbles coloured by year.

    Rows need ``title``, ``year``, ``x``, ``error_key`` and, for the marker, ``ensemble`` (bool).
    """
    shown = [r for r in rows if r.get(error_key) is not None]
    logs = [math.log10(r[x]) for r in shown] or [0.0]
    x_range = (min(logs) - 0.3, max(logs) + 0.3)  # room for the labels
    top = max((r[error_key] for r in shown), default=1.0)
    position = label_positions([(math.log10(r[x]), r[error_key], r["title"]) for r in shown],
                               x_range, (0.0, 1.15 * top))
    index = {id(r): i for i, r in enumerate(shown)}
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
            textposition=[position[index[id(r)]] for r in group], textfont=dict(size=LABEL_FONT),
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
    fig.update_xaxes(type="log", title=x_title, range=list(x_range))
    fig.update_yaxes(title=error_title + " (%)", range=[0, 1.15 * top])  # room for the labels above
    fig.update_layout(height=540, margin=dict(l=10, r=10, t=30, b=10), font=dict(size=11),
                      legend=dict(orientation="h", y=-0.2))
    return fig


# The plot area the labels are placed for (pixels) and a label's size at LABEL_FONT: an estimate of what the
# browser draws in its half-page column at a 1400 px window, enough to keep neighbours' labels apart
PLOT_PX = (330.0, 420.0)
LABEL_FONT = 10  # px: the labels, a little smaller than the axes' text
CHAR_PX, LABEL_PX_HIGH, MARKER_PX = 6.0, 13.0, 9.0
_SIDE_SLACK = 40.0
_POSITIONS = ("top center", "bottom center", "middle right", "middle left", "top right", "top left",
              "bottom right", "bottom left")


def label_box(px: float, py: float, text: str, position: str) -> tuple[float, float, float, float]:
    """The box (x0, y0, x1, y1; y down, pixels) of a label at ``position`` beside a marker at (px, py)."""
    w, h = CHAR_PX * len(text), LABEL_PX_HIGH
    vertical, horizontal = position.split()
    cx = {"center": px, "right": px + MARKER_PX + w / 2, "left": px - MARKER_PX - w / 2}[horizontal]
    cy = {"top": py - MARKER_PX - h / 2, "bottom": py + MARKER_PX + h / 2, "middle": py}[vertical]
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def to_pixels(points: Sequence[tuple[float, float, str]], x_range: tuple[float, float],
              y_range: tuple[float, float]) -> list[tuple[float, float]]:
    """Each (x, y) point's place on the :data:`PLOT_PX` plot area (y down)."""
    (x0, x1), (y0, y1) = x_range, y_range
    return [((x - x0) / ((x1 - x0) or 1) * PLOT_PX[0], (1 - (y - y0) / ((y1 - y0) or 1)) * PLOT_PX[1])
            for x, y, _ in points]


def label_positions(points: Sequence[tuple[float, float, str]], x_range: tuple[float, float],
                    y_range: tuple[float, float]) -> list[str]:
    """A Plotly ``textposition`` per (x, y, label) point such that labels overlap no other label nor marker
    where any free place exists (placed greedily, most crowded point first); x is already on the axis's
    scale (log10 for a log axis)."""
    px = to_pixels(points, x_range, y_range)
    markers = [(x - MARKER_PX, y - MARKER_PX, x + MARKER_PX, y + MARKER_PX) for x, y in px]
    crowd = [sum(1 for other in px if abs(other[0] - p[0]) < 120 and abs(other[1] - p[1]) < 40) for p in px]
    placed: dict[int, tuple[float, float, float, float]] = {}
    chosen: dict[int, str] = {}

    def cost(i: int, position: str) -> float:
        box = label_box(*px[i], points[i][2], position)
        # Past the plot's sides a label still shows over the axis margins (about _SIDE_SLACK px)
        outside = (max(0.0, -_SIDE_SLACK - box[0]) + max(0.0, box[2] - PLOT_PX[0] - _SIDE_SLACK)
                   + max(0.0, -box[1]) + max(0.0, box[3] - PLOT_PX[1])) * LABEL_PX_HIGH
        return (sum(_overlap(box, other) for k, other in placed.items() if k != i) + outside
                + sum(_overlap(box, m) for k, m in enumerate(markers) if k != i)
                + _POSITIONS.index(position))  # among free places: above or below first, corners last

    order = sorted(range(len(points)), key=lambda k: -crowd[k])
    for _ in range(8):  # greedy first, then a few passes that move each label to its best place given the rest
        for i in order:
            best = min(_POSITIONS, key=lambda pos: cost(i, pos))
            chosen[i], placed[i] = best, label_box(*px[i], points[i][2], best)
    return [chosen[i] for i in range(len(points))]


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
