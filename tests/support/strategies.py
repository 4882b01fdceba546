"""Specs shared by the spec, analysis and build tests: DESIGN.md's example, hypothesis strategies for
random specs, and the one-thread fixture the PyTorch oracle tests use.

``stacks()`` draws valid random specs (each layer kept only if the stack so far validates),
``layer_dicts()`` single spatial layers that may or may not be valid. ``graphs()`` draws valid graph
designs: nested branches of every merge (``split`` too, and squeeze-and-excitation style gates), every
layer type graph designs brought in, and the named blocks, each kept only if the design still validates. A test module that compares
with PyTorch imports ``one_torch_thread`` too, which makes the autouse fixture apply there.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch
from hypothesis import strategies as st

from playground.spec.parse import SpecError, parse_spec

__all__ = ["DESIGN_EXAMPLE", "stacks", "layer_dicts", "one_torch_thread", "ACTIVATION_TYPES", "graphs",
           "graph_layer_dicts", "GRAPH_EXAMPLE"]

# DESIGN.md's example spec: every layer family with explicit keys (spec and share-link tests).
DESIGN_EXAMPLE = {"input": [3, 224, 224], "layers": [
    {"type": "conv2d", "out_channels": 32, "kernel_size": 3, "stride": 2, "padding": 1, "dilation": 1,
     "groups": 1, "bias": False},
    {"type": "batchnorm2d"}, {"type": "relu"},
    {"type": "maxpool2d", "kernel_size": 2},
    {"type": "dwsep", "out_channels": 64, "kernel_size": 3, "stride": 1},
    {"type": "residual", "out_channels": 64, "stride": 2},
    {"type": "bottleneck", "out_channels": 256, "stride": 1},
    {"type": "global_avgpool"}, {"type": "flatten"}, {"type": "dropout", "p": 0.2},
    {"type": "linear", "out_features": 10}]}

ACTIVATION_TYPES = ["relu", "relu6", "leaky_relu", "gelu", "silu", "sigmoid", "tanh"]


def _size(low: int, high: int) -> st.SearchStrategy[Any]:
    """An int, or sometimes an [h, w] pair."""
    return st.one_of(st.integers(low, high), st.lists(st.integers(low, high), min_size=2, max_size=2))


@st.composite
def layer_dicts(draw: st.DrawFn, *, max_channels: int = 16, max_kernel: int = 5, max_stride: int = 3,
                max_dilation: int = 3, blocks: bool = True) -> dict[str, Any]:
    """One spatial layer dict with random (not necessarily valid) settings."""
    kinds = ["conv2d", "conv2d", "maxpool2d", "avgpool2d", "batchnorm2d", "activation"]
    if blocks:
        kinds += ["dwsep", "residual", "bottleneck"]
    kind = draw(st.sampled_from(kinds))
    if kind == "conv2d":
        layer = {"type": "conv2d", "out_channels": draw(st.integers(1, max_channels)),
                 "kernel_size": draw(_size(1, max_kernel)), "stride": draw(_size(1, max_stride)),
                 "padding": draw(st.one_of(_size(0, 3), st.sampled_from(["same", "valid"]))),
                 "dilation": draw(_size(1, max_dilation)), "groups": draw(st.sampled_from([1, 1, 1, 2, 4])),
                 "bias": draw(st.booleans())}
        if layer["padding"] == "same":
            layer["stride"] = 1
        return layer
    if kind == "maxpool2d":
        return {"type": "maxpool2d", "kernel_size": draw(_size(1, 4)),
                "stride": draw(st.one_of(st.none(), _size(1, max_stride))), "padding": draw(st.integers(0, 2)),
                "dilation": draw(_size(1, min(2, max_dilation))), "ceil_mode": draw(st.booleans())}
    if kind == "avgpool2d":
        return {"type": "avgpool2d", "kernel_size": draw(_size(1, 4)),
                "stride": draw(st.one_of(st.none(), _size(1, max_stride))), "padding": draw(st.integers(0, 2)),
                "ceil_mode": draw(st.booleans()), "count_include_pad": draw(st.booleans())}
    if kind == "batchnorm2d":
        return {"type": "batchnorm2d", "affine": draw(st.booleans())}
    if kind == "activation":
        type_ = draw(st.sampled_from(ACTIVATION_TYPES))
        return {"type": type_, **({"negative_slope": 0.2} if type_ == "leaky_relu" else {})}
    if kind == "dwsep":
        return {"type": "dwsep", "out_channels": draw(st.integers(1, max_channels)),
                "kernel_size": draw(_size(1, max_kernel)), "stride": draw(_size(1, min(2, max_stride)))}
    return {"type": kind, "out_channels": 4 * draw(st.integers(1, max(1, max_channels // 4))),
            "stride": draw(_size(1, min(2, max_stride)))}


@st.composite
def stacks(draw: st.DrawFn, *, max_layers: int = 8, max_side: int = 48, max_channels: int = 16,
           head: bool = True, **layer_options: Any) -> dict[str, Any]:
    """A valid random spec: random layers, each kept only if the stack so far still validates,
    optionally followed by a head (global_avgpool? flatten, dropout, activations, linear)."""
    spec: dict[str, Any] = {"input": [draw(st.integers(1, 4)), draw(st.integers(1, max_side)),
                                      draw(st.integers(1, max_side))], "layers": []}
    for _ in range(draw(st.integers(1, max_layers))):
        layer = draw(layer_dicts(max_channels=max_channels, **layer_options))
        try:
            parse_spec({"input": spec["input"], "layers": [*spec["layers"], layer]})
        except SpecError:
            continue
        spec["layers"].append(layer)
    if head and draw(st.booleans()):
        if draw(st.booleans()):
            spec["layers"].append({"type": "global_avgpool"})
        spec["layers"].append({"type": "flatten"})
        for _ in range(draw(st.integers(0, 2))):
            spec["layers"].append({"type": "linear", "out_features": draw(st.integers(1, 12)),
                                   "bias": draw(st.booleans())})
            spec["layers"].append({"type": draw(st.sampled_from([*ACTIVATION_TYPES, "dropout"]))})
        spec["layers"].append({"type": "linear", "out_features": draw(st.integers(1, 10))})
    parse_spec(spec)
    return spec


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny tensors: one thread is fastest, and far faster than a thread pool on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- graph designs --------------------------------------------------------------------------------

GRAPH_EXAMPLE = {"input": [4, 12, 10], "layers": [
    {"type": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1},
    {"type": "branch", "merge": "add", "paths": [
        [{"type": "conv2d", "out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1},
         {"type": "branch", "merge": "mul", "paths": [[], [{"type": "global_avgpool"},
                                                          {"type": "conv2d", "out_channels": 8, "kernel_size": 1},
                                                          {"type": "hardsigmoid"}]]}],
        [{"type": "conv2d", "out_channels": 8, "kernel_size": 1, "stride": 2}]]},
    {"type": "branch", "merge": "concat", "split": True, "paths": [
        [], [{"type": "layernorm2d"}, {"type": "conv2d", "out_channels": 4, "kernel_size": [1, 3],
                                       "padding": [0, 1]}]]},
    {"type": "channel_shuffle", "groups": 2},
    {"type": "inverted_residual", "out_channels": 8, "expand_ratio": 2, "se": True, "activation": "hardswish"},
    {"type": "mbconv", "out_channels": 8, "expand_ratio": 2}, {"type": "fused_mbconv", "out_channels": 16,
                                                               "stride": 2, "expand_ratio": 2},
    {"type": "inception", "ch1x1": 4, "ch3x3red": 4, "ch3x3": 4, "ch5x5red": 2, "ch5x5": 4, "pool_proj": 4},
    {"type": "convnext_block"}, {"type": "dense_layer", "growth_rate": 4, "bn_size": 2},
    {"type": "bottleneck", "out_channels": 16, "groups": 2, "width_per_group": 16},
    {"type": "groupnorm", "num_groups": 4}, {"type": "layer_scale"}, {"type": "drop_path", "p": 0.2},
    {"type": "se", "squeeze_channels": 4, "activation": "silu"}]}
"""Every merge, a nested branch, a gate, split, and each named block (the hand-picked corner the random
graphs start from)."""

_NEW_PRIMITIVES = ["layernorm2d", "groupnorm", "conv_transpose2d", "upsample", "adaptive_avgpool2d", "hardswish",
                   "hardsigmoid", "identity", "layer_scale", "drop_path", "channel_shuffle"]
_NAMED = ["inverted_residual", "mbconv", "fused_mbconv", "se", "inception", "convnext_block", "dense_layer",
          "dwsep", "residual", "bottleneck"]


@st.composite
def graph_layer_dicts(draw: st.DrawFn, *, max_channels: int = 8, upsampling: bool = True) -> dict[str, Any]:
    """One non-branch layer of a graph design: an old spatial layer, a new primitive or a named block."""
    kind = draw(st.sampled_from(["old", "new", "new", "named", "named"]))
    if kind == "old":
        return draw(layer_dicts(max_channels=max_channels, max_kernel=3, max_stride=2, max_dilation=2, blocks=False))
    c = draw(st.integers(1, max_channels))
    if kind == "new":
        options = [t for t in _NEW_PRIMITIVES if upsampling or t not in ("conv_transpose2d", "upsample")]
        type_ = draw(st.sampled_from(options))
        if type_ == "groupnorm":
            return {"type": type_, "num_groups": draw(st.sampled_from([1, 2, 4]))}
        if type_ == "conv_transpose2d":
            stride = draw(st.integers(1, 2))
            return {"type": type_, "out_channels": c, "kernel_size": draw(st.integers(1, 3)), "stride": stride,
                    "padding": draw(st.integers(0, 1)), "output_padding": draw(st.integers(0, stride - 1)),
                    "groups": draw(st.sampled_from([1, 1, 2])), "bias": draw(st.booleans())}
        if type_ == "upsample":
            mode = draw(st.sampled_from(["nearest", "bilinear"]))
            size = draw(st.one_of(st.none(), st.integers(2, 12)))
            extra = {"align_corners": draw(st.booleans())} if mode == "bilinear" and draw(st.booleans()) else {}
            return {"type": type_, "mode": mode, **({"size": size} if size else
                                                    {"scale_factor": draw(st.sampled_from([2, 1.5, [2, 1]]))}), **extra}
        if type_ == "adaptive_avgpool2d":
            return {"type": type_, "output_size": draw(_size(1, 4))}
        if type_ == "channel_shuffle":
            return {"type": type_, "groups": draw(st.sampled_from([1, 2]))}
        if type_ == "layernorm2d":
            return {"type": type_, "elementwise_affine": draw(st.booleans()), "bias": draw(st.booleans())}
        if type_ == "layer_scale":
            return {"type": type_, "init_value": 0.5}
        if type_ == "drop_path":
            return {"type": type_, "p": draw(st.sampled_from([0.0, 0.3])), "mode": draw(st.sampled_from(["row", "batch"]))}
        return {"type": type_}
    type_ = draw(st.sampled_from(_NAMED))
    stride = draw(st.sampled_from([1, 1, 2]))
    if type_ == "inverted_residual":
        layer = {"type": type_, "out_channels": c, "expand_ratio": draw(st.sampled_from([1, 2, 3])), "stride": stride,
                 "kernel_size": draw(st.sampled_from([3, 5])), "se": draw(st.booleans()),
                 "activation": draw(st.sampled_from(["relu6", "relu", "hardswish"]))}
        if draw(st.booleans()):
            layer["expanded_channels"] = draw(st.integers(1, 2 * max_channels))
        return layer
    if type_ in ("mbconv", "fused_mbconv"):
        layer = {"type": type_, "out_channels": c, "expand_ratio": draw(st.sampled_from([1, 2, 4])), "stride": stride,
                 "kernel_size": draw(st.sampled_from([3, 5])), "stochastic_depth_prob": 0.2}
        if type_ == "mbconv":
            layer["se_ratio"] = draw(st.sampled_from([0.0, 0.25, 0.5]))
        return layer
    if type_ == "se":
        return {"type": type_, "squeeze_channels": draw(st.integers(1, 4)),
                "activation": draw(st.sampled_from(["relu", "silu"])),
                "scale_activation": draw(st.sampled_from(["sigmoid", "hardsigmoid"]))}
    if type_ == "inception":
        return {"type": type_, **{k: draw(st.integers(1, 4)) for k in ("ch1x1", "ch3x3red", "ch3x3", "ch5x5red",
                                                                         "ch5x5", "pool_proj")}}
    if type_ == "convnext_block":
        return {"type": type_, "layer_scale": 0.5}
    if type_ == "dense_layer":
        return {"type": type_, "growth_rate": draw(st.integers(1, 4)), "bn_size": draw(st.integers(1, 2))}
    if type_ == "bottleneck":
        return {"type": type_, "out_channels": 4 * draw(st.integers(1, 3)), "stride": stride,
                "groups": draw(st.sampled_from([1, 2])), "width_per_group": draw(st.sampled_from([32, 64]))}
    if type_ == "residual":
        return {"type": type_, "out_channels": c, "stride": stride}
    return {"type": type_, "out_channels": c, "kernel_size": 3, "stride": stride}


def _fits(shape: list[int], layers: list[dict[str, Any]]) -> list[int] | None:
    """The output shape of ``layers`` on ``shape``, or None when they do not validate there."""
    try:
        return list(parse_spec({"input": shape, "layers": layers}).output_shape)
    except SpecError:
        return None


@st.composite
def _path(draw: st.DrawFn, shape: list[int], depth: int, max_layers: int, **options: Any) -> list[dict[str, Any]]:
    layers: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, max_layers))):
        layer = draw(_graph_layer(shape, depth, **options))
        if layer is not None and _fits(shape, [*layers, layer]) is not None:
            layers.append(layer)
    return layers


@st.composite
def _branch(draw: st.DrawFn, shape: list[int], depth: int, **options: Any) -> dict[str, Any] | None:
    """A branch that validates on ``shape``: random paths, then a merge their outputs allow (or None)."""
    if draw(st.booleans()) and shape[1] * shape[2] > 1:  # a squeeze-and-excitation style gate
        c = shape[0]
        gate = [{"type": "global_avgpool"}, {"type": "conv2d", "out_channels": c, "kernel_size": 1},
                {"type": draw(st.sampled_from(["sigmoid", "hardsigmoid"]))}]
        return {"type": "branch", "merge": "mul", "paths": [[], gate]}
    n = draw(st.integers(1, 3))
    split = n > 1 and shape[0] % n == 0 and draw(st.booleans())
    share = [shape[0] // n if split else shape[0], *shape[1:]]
    paths = [draw(_path(share, depth + 1, 3, **options)) for _ in range(n)]
    outs = [_fits(share, p) for p in paths]
    merges = [m for m in ("add", "concat", "mul")
              if _fits(shape, [{"type": "branch", "merge": m, "split": split, "paths": paths}]) is not None]
    if not merges or any(o is None for o in outs):
        return None
    return {"type": "branch", "merge": draw(st.sampled_from(merges)), "paths": paths,
            **({"split": True} if split else {})}


@st.composite
def _graph_layer(draw: st.DrawFn, shape: list[int], depth: int, **options: Any) -> dict[str, Any] | None:
    if depth < 2 and draw(st.integers(0, 3)) == 0:
        return draw(_branch(shape, depth, **options))
    return draw(graph_layer_dicts(**options))


@st.composite
def graphs(draw: st.DrawFn, *, max_layers: int = 6, max_side: int = 16, max_channels: int = 8, head: bool = True,
           upsampling: bool = True) -> dict[str, Any]:
    """A valid random graph design: layers and (nested) branches, each kept only if the design still validates,
    optionally followed by a classifier head."""
    spec: dict[str, Any] = {"input": [draw(st.integers(1, 4)), draw(st.integers(2, max_side)),
                                      draw(st.integers(2, max_side))], "layers": []}
    shape = list(spec["input"])
    for _ in range(draw(st.integers(1, max_layers))):
        layer = draw(_graph_layer(shape, 0, max_channels=max_channels, upsampling=upsampling))
        out = _fits(spec["input"], [*spec["layers"], layer]) if layer is not None else None
        if out is not None and max(out[1:]) <= 4 * max_side:
            spec["layers"].append(layer)
            shape = out
    if head and draw(st.booleans()):
        spec["layers"] += [{"type": "global_avgpool"}, {"type": "flatten"},
                           {"type": "linear", "out_features": draw(st.integers(1, 5))}]
    parse_spec(spec)
    return spec
