"""The effective receptive field on the designer: a measured heat map beside the theoretical square.

Measuring runs the network (a small CPU pass and one backward per sample), so it happens only when
the user turns it on, in a limited child process stopped if the session goes
(:func:`playground.design.erf.effective_receptive_field`), and results are cached by spec and layer
for every session in a cache bounded in bytes.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import streamlit as st

from playground.bounded_cache import BoundedCache
from playground.design.erf import TOO_COSTLY, ERFResult, effective_receptive_field
from playground.errors import PlaygroundError
from playground.sandbox import SandboxError
from playground.ui.alive import session_alive

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["ERF_TOGGLE", "PLOT_TOGGLE", "cached_erf", "erf_figure", "render_erf", "erf_for_layers"]

ERF_TOGGLE = "dz.rf.erf"
PLOT_TOGGLE = "dz.plot.erf"
_MAX_PLOT_LAYERS = 24  # the growth line measures each layer: a long stack is capped


# A result's map is at most MAX_MAP_SIDE² floats (~0.4 MB pickled): 32 MB keeps ~80 of the biggest.
_CACHE: BoundedCache[ERFResult | str] = BoundedCache(max_bytes=32 * 2**20, max_entry_bytes=2 * 2**20)


def _erf(spec_json: str, layer: int) -> ERFResult | str:
    """The measurement, or the one-line reason it cannot be made."""
    try:
        with st.spinner("Measuring the effective receptive field..."):
            return effective_receptive_field(json.loads(spec_json), layer, alive=session_alive())
    except SandboxError as exc:
        raise _NotCached(str(exc)) from None  # a stopped run says nothing about the design: not cached
    except PlaygroundError as exc:
        return str(exc)


class _NotCached(Exception):
    """A reason that belongs to this run only (a limit hit, a session gone)."""


def cached_erf(spec: dict[str, Any], layer: int) -> ERFResult | str:
    """:func:`effective_receptive_field` for the designer, cached across sessions by spec and layer."""
    key = (json.dumps(spec, sort_keys=True), layer)
    try:
        return _CACHE.get_or_compute(key, lambda: _erf(*key))
    except _NotCached as exc:
        return str(exc)


def erf_figure(result: ERFResult) -> go.Figure:
    """The |gradient| heat map with the theoretical field (dashed) and the 95%-mass square (solid)."""
    import plotly.graph_objects as go

    k = result.map_scale  # input pixels per map cell: the axes are in input pixels either way
    fig = go.Figure(go.Heatmap(z=[list(r) for r in result.grad], colorscale="Viridis", showscale=False,
                               x0=(k - 1) / 2, dx=k, y0=(k - 1) / 2, dy=k,
                               hovertemplate="row %{y}, column %{x}<br>share %{z:.4f}<extra></extra>"))
    cy, cx = ((c + 0.5) * k - 0.5 for c in result.centre)
    for (h, w), dash, name in ((result.theoretical, "dash", "theoretical"), (result.effective, "solid", "effective")):
        fig.add_shape(type="rect", x0=cx - w / 2, x1=cx + w / 2, y0=cy - h / 2, y1=cy + h / 2,
                      line=dict(color="white" if name == "effective" else "orange", dash=dash, width=2), name=name)
    fig.update_yaxes(autorange="reversed", scaleanchor="x", title_text="input row")
    fig.update_xaxes(title_text="input column")
    fig.update_layout(title=f"Effective receptive field of layer {result.layer}", height=360,
                      margin=dict(t=50, b=40, l=50, r=20))
    return fig


def render_erf(spec: dict[str, Any], layer: int) -> None:
    """A toggle; when on, the measured field of ``layer``'s centre unit beside its theoretical one."""
    if not st.toggle("Measure the effective receptive field", key=ERF_TOGGLE,
                     help="The gradient of the centre unit with respect to the input, averaged over 4 random "
                          "initialisations (Luo et al., 2016): which pixels the unit actually uses."):
        return
    result = cached_erf(spec, layer)
    if isinstance(result, str):
        st.info(result, icon=":material/info:")
        return
    st.plotly_chart(erf_figure(result), width="stretch", key="dz.rf.erf.chart")
    (th, tw), (eh, ew) = result.theoretical, result.effective
    st.caption(f"Orange dashes: the theoretical field, {th}×{tw} px. White: the centred square holding "
               f"{result.mass:.0%} of the gradient, {eh}×{ew} px (1-σ radius {result.sigma[0]:.1f} px). "
               "The gradient concentrates in the middle: deeper stacks grow the theoretical field linearly "
               "but the effective one roughly with the square root of the depth.")


def erf_for_layers(spec: dict[str, Any], layers: list[int]) -> dict[int, int]:
    """Effective field height per layer, for at most the first 24 layers; layers that cannot be measured are
    left out, and the line stops at the first one too costly to measure."""
    out: dict[int, int] = {}
    for index in layers[:_MAX_PLOT_LAYERS]:
        result = cached_erf(spec, index)
        if isinstance(result, ERFResult):
            out[index] = result.effective[0]
        elif TOO_COSTLY in result:
            break  # too costly to measure: every later layer costs at least as much
    return out
