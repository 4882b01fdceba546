"""The one receptive-field step: how a sliding window changes a unit's field, jump and start.

Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural Networks" (Distill,
2019), per axis, with ``k_eff = d·(k − 1) + 1``::

    r_out     = r_in + (k_eff − 1)·j_in
    j_out     = j_in·s
    start_out = start_in + ((k_eff − 1)/2 − p_left)·j_in

``start`` is the centre of the top-left output unit's field in input-pixel coordinates (input
pixel i sits at i). The designer's analysis (:mod:`playground.design.analysis`) steps through this
function; the real-architecture graph walk (:mod:`playground.arch.grid`) applies the same recurrences
to whole-pixel spans (and goes on exactly through upsampling), so the two agree to the last bit.
Pure Python (no torch).
"""
from __future__ import annotations

from playground.spec.window import Window

__all__ = ["RFState", "INPUT_RF_STATE", "window_field"]

RFState = tuple[tuple[float, float], tuple[float, float], tuple[float, float]]
"""(receptive field, jump, start), each as (height, width)."""

INPUT_RF_STATE: RFState = ((1, 1), (1, 1), (0.0, 0.0))
"""The input itself: each pixel sees one pixel, neighbours are one apart, the first sits at 0."""


def window_field(state: RFState, w: Window) -> RFState:
    """``state`` after the sliding window ``w``: the Distill recurrences applied per axis."""
    (r_h, r_w), (j_h, j_w), (st_h, st_w) = state
    (kh, kw), (dh, dw) = w.kernel, w.dilation
    eh, ew = dh * (kh - 1), dw * (kw - 1)  # k_eff − 1
    return ((r_h + eh * j_h, r_w + ew * j_w), (j_h * w.stride[0], j_w * w.stride[1]),
            (st_h + (eh / 2 - w.pad_l[0]) * j_h, st_w + (ew / 2 - w.pad_l[1]) * j_w))
