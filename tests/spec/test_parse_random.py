"""Validity against PyTorch: a random conv/pool layer parses exactly when PyTorch can run it, with the
same output shape."""
from __future__ import annotations

import warnings
from typing import Any

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from playground.spec.parse import SpecError, parse_spec
from tests.support.strategies import layer_dicts, one_torch_thread  # noqa: F401 (autouse fixture)

# --- validity oracle: our verdict == PyTorch's -------------------------------------------------------

def _torch_module(layer: dict[str, Any], c_in: int) -> nn.Module:
    """The PyTorch module for a raw layer dict, built without our validation (may raise)."""
    args = {k: (tuple(v) if isinstance(v, list) else v) for k, v in layer.items() if k != "type"}
    if layer["type"] == "conv2d":
        return nn.Conv2d(c_in, **args)
    if layer["type"] == "maxpool2d":
        return nn.MaxPool2d(**args)
    if layer["type"] == "avgpool2d":
        return nn.AvgPool2d(**args)
    from playground.design.build import DWSep

    return DWSep(c_in, **args)


@settings(max_examples=300, deadline=None)
@given(layer=st.one_of(layer_dicts(max_channels=6, max_kernel=7, blocks=False),
                       layer_dicts(max_channels=6, max_kernel=7)).filter(
                           lambda d: d["type"] in ("conv2d", "maxpool2d", "avgpool2d", "dwsep")),
       c_in=st.integers(1, 4), h=st.integers(1, 10), w=st.integers(1, 10), raw_padding=st.booleans())
def test_verdict_and_shape_match_pytorch(layer: dict[str, Any], c_in: int, h: int, w: int,
                                         raw_padding: bool) -> None:
    if raw_padding and layer["type"] == "conv2d":
        layer = {**layer, "stride": 2 if layer["padding"] == "same" else layer["stride"]}  # also the "same" rule
    if raw_padding and layer["type"] in ("maxpool2d", "avgpool2d"):
        layer = {**layer, "padding": 3}  # often over half the kernel
    try:
        ours = parse_spec({"input": [c_in, h, w], "layers": [layer]}).output_shape
    except SpecError as exc:
        ours = None
        assert exc.layer_index == 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = tuple(_torch_module(layer, c_in).eval()(torch.zeros(1, c_in, h, w)).shape[1:])
    except (RuntimeError, ValueError):
        theirs = None
    assert ours == theirs, (layer, (c_in, h, w))
