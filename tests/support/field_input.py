"""The input a receptive-field check against the gradient needs: large enough for two whole fields."""
from __future__ import annotations

import math
from typing import Any

from playground.design.analysis import LayerReport

__all__ = ["enlarged"]


def enlarged(spec: dict[str, Any], last: LayerReport) -> tuple[dict[str, Any], tuple[int, int]]:
    """``spec`` with its input grown (shapes only grow, so the stack stays valid) until two diagonal
    neighbours of ``last``'s map have fields wholly inside it: then their gradient support is exactly
    [centre − (r−1)/2, centre + (r−1)/2]. Returns (that spec, the first unit (row, column) whose field fits)."""
    assert last.receptive_field is not None and last.jump is not None and last.start is not None
    (r_h, r_w), (j_h, j_w), (s_h, s_w) = last.receptive_field, last.jump, last.start
    units = [max(0, math.ceil(((r - 1) / 2 - s) / j)) for r, s, j in ((r_h, s_h, j_h), (r_w, s_w, j_w))]
    side = [int(s + (u + 1) * j + (r - 1) / 2) + 1 for r, s, j, u in ((r_h, s_h, j_h, units[0]),
                                                                       (r_w, s_w, j_w, units[1]))]
    shape = (spec["input"][0], max(spec["input"][1], side[0]), max(spec["input"][2], side[1]))
    return {"input": list(shape), "layers": spec["layers"]}, (units[0], units[1])
