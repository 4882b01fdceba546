"""Pure Plotly figures of the Concepts page (arrays in, figure out) and the cache every session shares.

The lessons' arrays and figures are pure functions of their inputs (photo, kernel, sizes), so they
are computed once for every session: on a rerun that changed nothing (or another student's first
view of the same photo) no convolution runs and no plotly figure is built. Bounded, least recently
used first out.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from playground import concepts as C
from playground.design.rfview import draw_receptive_field
from playground.models.serving import ImageView, ResultCache, encode_image, image_digest
from playground.ui.plot_axes import set_integer_x

__all__ = ["image_map", "dense_matrix", "gradient_lines", "gray_photo", "apply_conv", "apply_maxpool",
           "conv_as_dense", "memo_image_map", "memo_dense_matrix", "memo_gradient_lines", "rf_picture"]


def image_map(values: np.ndarray, title: str, signed: bool = False, height: int = 320,
              extent: int | None = None) -> go.Figure:
    """A 2-D map at its true pixel grid: grey for an image, red/blue around 0 for a signed feature map.

    With ``extent`` the axes span an ``extent``×``extent`` input and the map sits centred on it, one cell
    per input pixel: maps of different sizes drawn this way keep their true relative size (a 30×30 valid
    output is visibly smaller than its 32×32 input, its missing border is empty)."""
    h, w = values.shape
    place: dict[str, float] = {}
    if extent is not None:
        place = {"x0": (extent - w) / 2, "y0": (extent - h) / 2}
    if signed:
        bound = float(np.abs(values).max()) or 1.0
        heat = go.Heatmap(z=values, colorscale="RdBu_r", zmin=-bound, zmax=bound, zmid=0.0,
                          colorbar=dict(thickness=10), **place)
    else:
        heat = go.Heatmap(z=values, colorscale="gray", showscale=False, **place)
    fig = go.Figure(heat)
    if extent is None:
        fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain", showticklabels=False)
        fig.update_xaxes(constrain="domain", showticklabels=False)
    else:  # a fixed frame, the input's: the plot area is the same for every map of the lesson
        span = [-0.5, extent - 0.5]
        fig.update_yaxes(range=span[::-1], scaleanchor="x", constrain="domain", showticklabels=False,
                         showgrid=False, zeroline=False, showline=True, linecolor="#bbb", mirror=True)
        fig.update_xaxes(range=span, constrain="domain", showticklabels=False, showgrid=False, zeroline=False,
                         showline=True, linecolor="#bbb", mirror=True)
    # A framed map keeps a few pixels of margin: its frame line sits on the plot's edge, and a zero
    # margin cut the bottom (and side) line in half
    edge = 4 if extent is not None else 0
    fig.update_layout(title=dict(text=f"{title} — {h}×{w}", font=dict(size=14)), height=height,
                      margin=dict(l=edge, r=edge, t=36, b=edge))
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
    set_integer_x(fig, range(1, max((len(v) for _, v in series), default=1) + 1),
                  title="layer (1 = next to the input)")
    fig.update_layout(height=380, margin=dict(l=10, r=10, t=20, b=10), legend=dict(orientation="h", y=-0.25),
                      hovermode="x unified")
    return fig


_MEMO_ENTRIES = 256
_MEMO = ResultCache(max_entries=_MEMO_ENTRIES)


def _memo_key(value: Any) -> Any:
    """A hashable stand-in for an argument: arrays and images by content."""
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        return ("array", data.shape, data.dtype.str, hashlib.blake2b(data.tobytes(), digest_size=16).hexdigest())
    if isinstance(value, Image.Image):
        return ("image", image_digest(value))
    if isinstance(value, (list, tuple)):
        return tuple(_memo_key(v) for v in value)
    return value


def _memo(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with its results shared by every session (arguments compared by content)."""
    def cached(*args: Any, **kwargs: Any) -> Any:
        key = (fn.__qualname__, _memo_key(args), tuple(sorted((k, _memo_key(v)) for k, v in kwargs.items())))

        def compute() -> Any:
            return fn(*args, **kwargs)  # callers treat results as read-only: other sessions share them

        return _MEMO.get_or_compute(key, compute)

    return cached


gray_photo, apply_conv, apply_maxpool = _memo(C.gray_photo), _memo(C.apply_conv), _memo(C.apply_maxpool)
conv_as_dense, memo_image_map, memo_dense_matrix = _memo(C.conv_as_dense), _memo(image_map), _memo(dense_matrix)
memo_gradient_lines = _memo(gradient_lines)


@_memo
def rf_picture(photo: Image.Image, **kwargs: Any) -> tuple[ImageView, tuple[int, int], int]:
    """The receptive-field drawing, encoded once (st.image would encode a PIL image on every run), the
    field's size and the step of the drawn unit centres (every n-th unit)."""
    view = draw_receptive_field(photo, **kwargs)
    return encode_image(view.image), (view.field.size[0], view.field.size[1]), view.grid_step
