"""The graph walk behind :mod:`playground.arch.measure`: one pass over a traced torch.fx graph.

Each node gets a *state*: a receptive-field record (where H and W sit in the tensor, and the Distill
recurrences' field, jump and start per axis), ``global`` once the spatial layout is gone (pooled,
flattened, tokens), ``attended`` once attention has mixed positions, or None for constants. Each kind
of operation has a handler returning the node's state, MACs and the conv/linear layers it adds to a
path; anything unknown keeps the field when it keeps the spatial sizes, and is noted otherwise.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Iterable, Sequence

from playground._format import format_dims
from playground.design.analysis import window_field
from playground.arch.measure import ArchLayer, ArchStage, Pair
from playground.spec.parse import Window

__all__ = ["Walk", "walk_graph", "stages", "shape_propagator", "notes"]

# --------------------------------------------------------------------------- receptive-field state


@dataclass(frozen=True)
class _Field:
    """Spatial bookkeeping of one tensor: where H and W are, and the Distill r/j/start per axis."""

    axes: tuple[int, int]
    rf: Pair
    jump: Pair
    start: Pair


_GLOBAL = "global"  # derived from the image but with no spatial layout left (pooled, flattened, tokens)
_ATTENDED = "attended"  # mixed by attention: each unit may see far beyond any conv-style field
_State = _Field | str | None  # None: a constant (parameter) or not a tensor


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        return (int(value[0]), int(value[-1]))
    return (int(value), int(value))


def _window(state: _Field, kernel: Any, stride: Any, padding: Any, dilation: Any) -> _Field:
    """Apply one sliding window (conv or pool) to a field: the Distill recurrences per axis."""
    k, s, d = _pair(kernel), _pair(stride), _pair(dilation)
    if padding == "same":
        p_left = ((d[0] * (k[0] - 1)) // 2, (d[1] * (k[1] - 1)) // 2)  # PyTorch puts the odd pixel right/bottom
    elif padding == "valid":
        p_left = (0, 0)
    else:
        p_left = _pair(padding)
    rf, jump, start = window_field((state.rf, state.jump, state.start), Window(k, s, p_left, dilation=d))
    return _Field(state.axes, rf, jump, start)


def _spatial(shape: Sequence[int], state: _Field) -> tuple[int, int]:
    return (shape[state.axes[0]], shape[state.axes[1]])


# --------------------------------------------------------------------------- graph walking


@dataclass
class Walk:
    """Everything one pass over the graph accumulates."""

    gm: Any
    states: dict[Any, _State] = field(default_factory=dict)
    depth: dict[Any, int] = field(default_factory=dict)  # conv/linear layers on the longest path so far
    tuple_outputs: set[Any] = field(default_factory=set)  # modules returning (out, weights)
    seen: set[int] = field(default_factory=set)  # ids of parameters already counted
    macs: dict[str, int] = field(default_factory=lambda: {"conv": 0, "linear": 0, "attention": 0})
    layer_counts: dict[str, int] = field(default_factory=lambda: {"conv": 0, "linear": 0})
    misaligned: list[str] = field(default_factory=list)
    gated: list[str] = field(default_factory=list)  # spatial × pooled merges (squeeze-excitation)
    ended: list[str] = field(default_factory=list)  # unexpected places where spatial tracking stopped
    uneven: list[str] = field(default_factory=list)  # adaptive pools with windows of different sizes
    uncounted: list[str] = field(default_factory=list)  # products whose MACs could not be counted
    attention: list[str] = field(default_factory=list)  # kinds of attention met

    def new_params(self, tensors: Iterable[Any]) -> int:
        """Elements of the tensors not counted yet (shared modules and tied weights count once)."""
        count = 0
        for p in tensors:
            if id(p) not in self.seen:
                self.seen.add(id(p))
                count += p.numel()
        return count


@dataclass(frozen=True)
class _In:
    """What a handler sees of one node."""

    node: Any
    module: Any | None
    op: str
    inputs: tuple[Any, ...]
    states: tuple[_State, ...]
    out_shape: tuple[int, ...] | None
    walk: Walk

    @property
    def first_state(self) -> _State:
        return self.states[0] if self.states else None

    @property
    def first_shape(self) -> tuple[int, ...] | None:
        return _shape_of(self.inputs[0]) if self.inputs else None

    def nchw_field(self) -> _Field | None:
        """The input's field when it is laid out (N, C, H, W), as conv and pool need."""
        state = self.first_state
        return state if isinstance(state, _Field) and state.axes == (2, 3) else None


@dataclass(frozen=True)
class _Step:
    """What one node contributes."""

    state: _State
    macs: int = 0  # tallied under ``kind``
    kind: str = ""  # "conv", "linear" or "attention"
    attention: int = 0  # extra attention MACs of a node that also has linear ones (multi-head attention)
    layers: int = 0  # conv/linear layers this node adds to a path
    out_shape: tuple[int, ...] | None = None  # for modules returning a tuple


def _shape_of(node: Any) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta") if hasattr(node, "meta") else None
    shape = getattr(meta, "shape", None)
    return None if shape is None else tuple(int(v) for v in shape)


def _input_nodes(node: Any) -> list[Any]:
    from torch.fx.node import Node, map_arg

    found: list[Any] = []
    map_arg((node.args, node.kwargs), lambda n: found.append(n) if isinstance(n, Node) else None)
    return found


# Positional argument names of the functional forms we read (F.max_pool2d hides its signature).
_SIGNATURES = {
    "conv2d": ("input", "weight", "bias", "stride", "padding", "dilation", "groups"),
    "max_pool2d": ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"),
    "avg_pool2d": ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"),
    "shifted_window_attention": ("input", "qkv_weight", "proj_weight", "relative_position_bias", "window_size",
                                 "num_heads", "shift_size"),
}
_DEFAULTS = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1}


def _bind(n: _In) -> dict[str, Any]:
    args = dict(_DEFAULTS)
    args.update(zip(_SIGNATURES[n.op], n.node.args))
    args.update(n.node.kwargs)
    return args


def _end(n: _In, state: _State) -> _State:
    """Spatial tracking stops at an op this analysis does not model; say so in the notes."""
    if isinstance(state, _Field):
        n.walk.ended.append(n.node.name)
        return _GLOBAL
    return state


def _merge(n: _In, states: Sequence[_State]) -> _State:
    """Combine branches (add, mul, cat...): the largest field; flag misalignment and SE-style gating."""
    fields = [s for s in states if isinstance(s, _Field)]
    if _ATTENDED in states:
        return _ATTENDED  # x + attention(x): the field is no longer a window
    if not fields:
        return _GLOBAL if _GLOBAL in states else None
    out = n.out_shape
    if any(f.axes != fields[0].axes or len(out) <= max(f.axes) for f in fields):
        return _end(n, fields[0])
    if _GLOBAL in states:
        n.walk.gated.append(n.node.name)  # e.g. squeeze-excitation: x * sigmoid(fc(avgpool(x)))
    widest = max(fields, key=lambda f: (f.rf[0] * f.rf[1], f.rf))
    if any(f.jump != widest.jump or f.start != widest.start for f in fields):
        n.walk.misaligned.append(n.node.name)
    return widest


# ---- handlers: one per kind of operation; each returns the node's _Step


def _conv(n: _In) -> _Step:
    if n.module is not None:
        m = n.module
        per_output = m.weight[0].numel()  # (C_in/groups)·kh·kw
        kernel, stride, padding, dilation = m.kernel_size, m.stride, m.padding, m.dilation
        transposed = getattr(m, "transposed", False)
    else:
        args = _bind(n)
        w_shape = _shape_of(args["weight"])
        per_output = math.prod(w_shape[1:])
        kernel, stride, padding, dilation = w_shape[2:], args["stride"], args["padding"], args["dilation"]
        transposed = False
    # a transposed conv scatters each input value over C_out/groups·kh·kw outputs
    macs = math.prod(n.first_shape if transposed else n.out_shape) * per_output
    fld = n.nchw_field()
    spatial = fld is not None and not transposed and len(n.out_shape) == 4
    state = _window(fld, kernel, stride, padding, dilation) if spatial else _end(n, n.first_state)
    return _Step(state, macs, "conv", layers=1)


def _linear(n: _In) -> _Step:
    macs = math.prod(n.out_shape) * n.first_shape[-1]
    state = n.first_state
    if isinstance(state, _Field) and len(n.first_shape) - 1 in state.axes:
        state = _GLOBAL  # a Linear over a spatial axis mixes positions
    # otherwise a Linear on the channel axis (ConvNeXt's NHWC blocks) is a 1×1 conv: field unchanged
    return _Step(state, macs, "linear", layers=1)


def _pool(n: _In) -> _Step:
    if n.module is not None:
        m = n.module
        kernel, stride, padding, dilation = m.kernel_size, m.stride, m.padding, getattr(m, "dilation", 1)
    else:
        args = _bind(n)
        kernel, padding = args["kernel_size"], args["padding"]
        stride, dilation = args["stride"] or kernel, args.get("dilation", 1)
    fld = n.nchw_field()
    return _Step(_window(fld, kernel, stride, padding, dilation) if fld else _end(n, n.first_state))


def _adaptive(n: _In) -> _Step:
    """Identity when sizes match, global at 1×1, a plain pool when sizes divide."""
    fld = n.nchw_field()
    if fld is None:
        return _Step(n.first_state)
    (h, w), (oh, ow) = n.first_shape[2:], n.out_shape[2:]
    if (h, w) == (oh, ow):
        return _Step(fld)  # AlexNet's and VGG's avgpool at 224: a no-op
    if (oh, ow) == (1, 1):
        return _Step(_GLOBAL)  # global average pool: the end of the spatial maps
    if h % oh == 0 and w % ow == 0:
        kernel = (h // oh, w // ow)
        return _Step(_window(fld, kernel, kernel, 0, 1))
    n.walk.uneven.append(f"{_display_name(n.node, 'adaptive pool')} ({h}×{w} → {oh}×{ow})")
    return _Step(_GLOBAL)  # uneven windows have no single kernel and stride


def _permute(n: _In) -> _Step:
    state = n.first_state
    if not isinstance(state, _Field):
        return _Step(state)
    args = list(n.node.args[1:]) or [n.node.kwargs.get("dims")]
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        args = list(args[0])
    dims = [int(a) % len(n.out_shape) for a in args]
    return _Step(_Field((dims.index(state.axes[0]), dims.index(state.axes[1])), state.rf, state.jump, state.start))


def _multihead_attention(n: _In) -> _Step:
    m = n.module
    q_shape = n.first_shape
    k_shape = _shape_of(n.inputs[1]) if len(n.inputs) > 1 else q_shape
    seq = 1 if m.batch_first else 0
    L, S, E = q_shape[seq], k_shape[seq], m.embed_dim
    projections = L * E * E + S * E * m.kdim + S * E * m.vdim + L * E * E  # q, k, v and output
    n.walk.tuple_outputs.add(n.node)
    n.walk.attention.append("self-attention")
    return _Step(_ATTENDED, projections, "linear", attention=2 * L * S * E, layers=2, out_shape=q_shape)


def _matmul(n: _In) -> _Step:
    """Activation × activation products (attention scores and their use): out elements × inner size."""
    n.walk.attention.append("self-attention")
    state = _ATTENDED if any(s is not None for s in n.states) else None
    return _Step(state, math.prod(n.out_shape) * n.first_shape[-1], "attention")


def _einsum(n: _In) -> _Step:
    """MACs of a two-operand einsum: the product of the sizes of every index letter."""
    equation = str(n.node.args[0]).replace(" ", "")
    operands = [a for a in n.node.args[1:]]
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = list(operands[0])
    lhs = equation.split("->")[0].split(",")
    sizes: dict[str, int] = {}
    if "..." in equation or len(lhs) != len(operands):
        n.walk.uncounted.append(n.node.name)
        return _Step(_ATTENDED)
    for letters, operand in zip(lhs, operands):
        sizes.update(zip(letters, _shape_of(operand)))
    n.walk.attention.append("self-attention")
    return _Step(_ATTENDED, math.prod(sizes.values()), "attention")


def _sdpa(n: _In) -> _Step:
    q, k, v = (_shape_of(x) for x in n.inputs[:3])
    rows = math.prod(q[:-1])
    n.walk.attention.append("self-attention")
    return _Step(_ATTENDED, rows * k[-2] * q[-1] + rows * k[-2] * v[-1], "attention")


def _window_attention(n: _In) -> _Step:
    """torchvision Swin's fused ``shifted_window_attention``: projections plus attention inside each window."""
    args = _bind(n)
    _, h, w, c = _shape_of(args["input"])  # (B, H, W, C)
    wh, ww = args["window_size"]
    tokens = math.ceil(h / wh) * wh * math.ceil(w / ww) * ww  # the map is padded to whole windows
    per_window = wh * ww
    n.walk.attention.append("window attention")
    projections = tokens * c * 3 * c + tokens * c * c  # qkv and output projections
    attention = (tokens // per_window) * 2 * per_window * per_window * c
    return _Step(_ATTENDED, projections, "linear", attention=attention, layers=2)


def _patch_merging(n: _In) -> _Step:
    """Swin's patch merging: each output token concatenates a 2×2 block, like a 2×2 stride-2 window."""
    state = n.first_state
    return _Step(_window(state, 2, 2, 0, 1) if isinstance(state, _Field) else state)


_RESHAPES = {"flatten", "reshape", "view", "mean", "sum", "amax", "squeeze", "unsqueeze", "getitem", "select",
             "narrow", "transpose", "unflatten"}
_MERGES = {"add", "iadd", "mul", "imul", "sub", "isub", "truediv", "itruediv", "cat", "concat", "where",
           "add_", "mul_", "sub_", "div", "div_"}


def _regrouped_channels(in_shape: tuple[int, ...] | None, out_shape: tuple[int, ...], state: _Field) -> _Field | None:
    """The field after a reshape that only regroups the dims before H and W (ShuffleNet's channel shuffle:
    (B, C, H, W) -> (B, g, C/g, H, W) -> ... -> (B, C, H, W)), which leaves every pixel where it was."""
    if not in_shape or len(in_shape) < 3 or len(out_shape) < 3:
        return None
    if state.axes != (len(in_shape) - 2, len(in_shape) - 1) or in_shape[0] != out_shape[0]:
        return None
    if tuple(out_shape[-2:]) != tuple(in_shape[-2:]):
        return None
    return _Field((len(out_shape) - 2, len(out_shape) - 1), state.rf, state.jump, state.start)


def _generic(n: _In) -> _Step:
    """Anything else: merges combine branches; shape-keeping ops pass the field; reshapes end it."""
    derived = [(x, s) for x, s in zip(n.inputs, n.states) if s is not None]
    if n.op in _MERGES or len(derived) > 1:
        fields = [s for _, s in derived if isinstance(s, _Field)]
        if n.op in ("cat", "concat") and fields:
            dim = n.node.args[1] if len(n.node.args) > 1 else n.node.kwargs.get("dim", 0)
            if int(dim) % len(n.out_shape) in fields[0].axes:
                return _Step(_end(n, fields[0]))  # concatenating along H or W
        return _Step(_merge(n, [s for _, s in derived]))
    if not derived:
        return _Step(None)
    src, state = derived[0]
    if not isinstance(state, _Field):
        return _Step(state)
    in_shape = _shape_of(src)
    if in_shape and len(n.out_shape) == len(in_shape) and _spatial(n.out_shape, state) == _spatial(in_shape, state):
        return _Step(state)  # elementwise, norms, activations, channel changes
    if n.op in _RESHAPES:
        kept = _regrouped_channels(in_shape, n.out_shape, state)
        # flatten / reshape into tokens: the expected end of the spatial layout
        return _Step(kept if kept is not None else _GLOBAL)
    return _Step(_end(n, state))


_FUNCTION_HANDLERS: dict[str, Callable[[_In], _Step]] = {
    "conv2d": _conv, "linear": _linear, "max_pool2d": _pool, "avg_pool2d": _pool,
    "adaptive_avg_pool2d": _adaptive, "adaptive_max_pool2d": _adaptive, "permute": _permute,
    "matmul": _matmul, "bmm": _matmul, "baddbmm": _matmul, "einsum": _einsum,
    "scaled_dot_product_attention": _sdpa, "shifted_window_attention": _window_attention,
    "patch_merging_pad": _patch_merging,
}


@lru_cache(maxsize=1)
def _module_handlers() -> tuple[tuple[type | tuple[type, ...], Callable[[_In], _Step]], ...]:
    from torch import nn

    return (
        (nn.MultiheadAttention, _multihead_attention),
        ((nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d), _conv),
        (nn.Linear, _linear),
        ((nn.MaxPool2d, nn.AvgPool2d), _pool),
        ((nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d), _adaptive),
    )


def _handler(module: Any | None, op: str) -> Callable[[_In], _Step]:
    if module is None:
        return _FUNCTION_HANDLERS.get(op, _generic)
    for types, handler in _module_handlers():
        if isinstance(module, types):
            return handler
    return _generic


def _op_name(node: Any, module: Any | None) -> str:
    if module is not None:
        return type(module).__name__.lower()
    if node.op == "call_method":
        return str(node.target)
    return getattr(node.target, "__name__", str(node.target)).lstrip("_")


def _scope(node: Any) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    path = list(stack.values())[-1]
    return path[0] if isinstance(path, tuple) else str(path)


def _display_name(node: Any, op: str) -> str:
    if node.op == "call_module":
        return str(node.target)
    scope = _scope(node)
    return f"{scope}.{op}" if scope else node.name


def _graph_params(walk: Walk, inputs: Sequence[Any]) -> int:
    """Parameters a node reaches through get_attr (LayerNorm2d's weight, layer scales, ViT's class token)."""
    found = []
    for x in inputs:
        if x.op == "get_attr":
            try:
                found.append(walk.gm.get_parameter(x.target))
            except AttributeError:
                pass  # a buffer, not a parameter
    return walk.new_params(found)


_SPLITS = {"chunk", "split", "tensor_split", "split_with_sizes"}


def _split(node: Any, source: Any, walk: Walk) -> None:
    """chunk / split into a tuple: along channels every piece keeps the field (ShuffleNet's two halves);
    along H or W the layout is cut, which this analysis does not model (said in the notes)."""
    state = walk.states.get(source)
    if isinstance(state, _Field):
        rank = len(_shape_of(source) or ())
        dim = node.kwargs.get("dim", node.args[2] if len(node.args) > 2 else 0)
        if rank and int(dim) % rank in state.axes:
            walk.ended.append(node.name)
            state = _GLOBAL
    walk.states[node] = state
    walk.tuple_outputs.add(node)


def walk_graph(gm: Any) -> tuple[list[ArchLayer], Walk]:
    """One pass in topological order: field state, params, MACs and path depth per node."""
    walk = Walk(gm)
    layers: list[ArchLayer] = []
    for node in gm.graph.nodes:
        inputs = _input_nodes(node)
        depth_in = max((walk.depth.get(x, 0) for x in inputs), default=0)
        walk.depth[node] = depth_in
        if node.op == "placeholder":
            walk.states[node] = _Field((2, 3), (1.0, 1.0), (1.0, 1.0), (0.0, 0.0))
            continue
        if node.op in ("output", "get_attr"):
            continue  # a parameter is counted by the first node that uses it
        first = inputs[0] if inputs else None
        if node.target is operator.getitem and first in walk.tuple_outputs:
            walk.states[node] = walk.states.get(first)  # attention's (out, weights)[0]: transparent
            continue
        module = gm.get_submodule(node.target) if node.op == "call_module" else None
        op = _op_name(node, module)
        handler = _handler(module, op)
        out_shape = _shape_of(node)
        if out_shape is None and op in _SPLITS:
            _split(node, first, walk)  # a tuple of pieces; getitem then takes one
            continue
        if out_shape is None and handler is not _multihead_attention:
            continue  # shapes, asserts, ints: not tensors
        n = _In(node, module, op, tuple(inputs), tuple(walk.states.get(x) for x in inputs), out_shape, walk)
        step = handler(n)
        params = _graph_params(walk, inputs) + (walk.new_params(module.parameters()) if module is not None else 0)
        if step.kind:
            walk.macs[step.kind] += step.macs
        walk.macs["attention"] += step.attention
        if step.kind in walk.layer_counts:
            walk.layer_counts[step.kind] += step.layers
        walk.states[node] = step.state
        walk.depth[node] = depth_in + step.layers
        shape = step.out_shape or out_shape
        fld = step.state if isinstance(step.state, _Field) else None
        layers.append(ArchLayer(
            index=len(layers),
            name=_display_name(node, op),
            type=op,
            output_shape=tuple(shape[1:]),
            params=params,
            macs=step.macs + step.attention,
            attention_macs=step.attention + (step.macs if step.kind == "attention" else 0),
            receptive_field=fld.rf if fld else None,
            jump=fld.jump if fld else None,
            start=fld.start if fld else None,
            misaligned=bool(walk.misaligned) and walk.misaligned[-1] == node.name,
            feature_size=_spatial(shape, fld) if fld else None,
        ))
    return layers, walk


# --------------------------------------------------------------------------- stages


def stages(layers: Sequence[ArchLayer]) -> tuple[ArchStage, ...]:
    """Group consecutive layers by feature-map size (tokens, head after it).

    Pooled nodes inside a stage (a squeeze-excitation branch) stay in that stage; a run of free
    reshapes between the maps and the tokens joins the group after it.
    """
    last_spatial_index = max((l.index for l in layers if l.feature_size is not None), default=-1)
    keyed: list[tuple[str, ArchLayer]] = []
    current = None
    for layer in layers:
        if layer.feature_size is not None:
            key = format_dims(layer.feature_size)
        elif layer.index < last_spatial_index and current is not None:
            key = current
        elif len(layer.output_shape) == 2 and layer.output_shape[0] > 1:
            key = f"{layer.output_shape[0]} tokens"
        else:
            key = "head"
        current = key
        keyed.append((key, layer))
    groups: list[tuple[str, list[ArchLayer]]] = []
    for key, layer in keyed:
        if groups and groups[-1][0] == key:
            groups[-1][1].append(layer)
        else:
            groups.append((key, [layer]))
    merged: list[tuple[str, list[ArchLayer]]] = []
    pending: list[ArchLayer] = []
    for i, (key, group) in enumerate(groups):
        free = not any(l.macs or l.feature_size for l in group)  # reshapes, class-token handling
        if free and i + 1 < len(groups):
            pending += group  # e.g. ViT's reshape/permute between the patch map and the tokens
            continue
        merged.append((key, pending + group))
        pending = []
    stages = []
    for key, group in merged:
        spatial = [l for l in group if l.receptive_field is not None]
        stages.append(
            ArchStage(
                label=key,
                first=group[0].name,
                last=group[-1].name,
                output_shape=group[-1].output_shape,
                params=sum(l.params for l in group),
                macs=sum(l.macs for l in group),
                receptive_field=spatial[-1].receptive_field if spatial else None,
            )
        )
    return tuple(stages)


@lru_cache(maxsize=1)
def shape_propagator() -> type:
    """ShapeProp that skips shape-preserving modules (built on first use: it needs torch)."""
    from torch import nn
    from torch.fx.passes.shape_prop import ShapeProp

    # Their output has their input's shape: skipping them keeps every shape exact and saves most
    # of the propagation time (batch norm on meta tensors is slow to decompose).
    same_shape = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm, nn.Dropout, nn.Identity,
                  nn.ReLU, nn.ReLU6, nn.SiLU, nn.GELU, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid, nn.Tanh,
                  nn.LeakyReLU)

    class ShapeOnly(ShapeProp):
        def call_module(self, target: Any, args: Any, kwargs: Any) -> Any:
            if isinstance(self.fetch_attr(target), same_shape) and len(args) == 1 and not kwargs:
                return args[0]
            return super().call_module(target, args, kwargs)

    return ShapeOnly


def notes(walk: Walk, unused: int, last: ArchLayer | None) -> list[str]:
    """Plain-word caveats about what the walk met: attention, gates, misaligned merges, untracked ops."""
    out: list[str] = []
    if "self-attention" in walk.attention:
        out.append(
            "Self-attention lets every token attend to every other, so from the first attention layer on each "
            "output depends on the whole image; the field shown is that of the last map before it."
        )
    elif walk.attention:
        out.append(
            "Window attention mixes the tokens of each window (shifted every other block), which the "
            "convolution formulas do not describe; the field shown is that of the last map before it."
        )
    if walk.gated:
        out.append(
            f"{len(walk.gated)} squeeze-and-excitation gates scale each channel by a weight computed from the "
            "whole feature map, so strictly every unit sees the whole image; the field shown follows the "
            "convolution path."
        )
    if walk.misaligned:
        out.append(
            f"{len(walk.misaligned)} merges join branches whose grids are misaligned (different jump or start); "
            "the larger field is shown."
        )
    if walk.uneven:
        out.append(f"Adaptive pooling at {walk.uneven[0]} averages windows of unequal sizes, which have no single "
                   "kernel and stride: the field shown is that of the map it pools.")
    if walk.ended:
        out.append(f"Spatial tracking stopped at {', '.join(walk.ended[:3])} (an operation not modelled here).")
    if walk.uncounted:
        out.append(f"The products at {', '.join(walk.uncounted[:3])} are not counted in the MACs.")
    if unused:
        out.append(f"{unused:,} parameters are not used by the forward pass in eval mode (counted in the total).")
    if last is None:
        out.append("No spatial feature map: the receptive field is not defined.")
    return out
