"""The graph walk's handlers: one per kind of operation, each returning the node's :class:`Step`.

A handler reads its node (module attributes, or the arguments of a functional call) and returns the
node's receptive-field state, its MACs and the conv/linear layers it adds to a path. Anything
unknown goes to :func:`_generic`: it keeps the field when it keeps the spatial sizes, combines branches
at merges, and says in the notes where spatial tracking stopped.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from playground.arch.nodes import (
    ATTENDED,
    GLOBAL,
    Field,
    NodeInput,
    State,
    Step,
    apply_window,
    display_name,
    shape_of,
    spatial_size,
    tensor_shape,
)
from playground.arch.report import SELF_ATTENTION, WINDOW_ATTENTION

__all__ = ["Handler", "handler_for", "TUPLE_HANDLERS"]

Handler = Callable[[NodeInput], Step]


# Positional argument names of the functional forms we read (F.max_pool2d hides its signature).
_SIGNATURES = {
    "conv2d": ("input", "weight", "bias", "stride", "padding", "dilation", "groups"),
    "max_pool2d": ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"),
    "avg_pool2d": ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"),
    "shifted_window_attention": ("input", "qkv_weight", "proj_weight", "relative_position_bias", "window_size",
                                 "num_heads", "shift_size"),
}
_DEFAULTS = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1}


def _bind(n: NodeInput) -> dict[str, Any]:
    args = dict(_DEFAULTS)
    args.update(zip(_SIGNATURES[n.op], n.node.args))
    args.update(n.node.kwargs)
    return args


def _end(n: NodeInput, state: State) -> State:
    """Spatial tracking stops at an op this analysis does not model; say so in the notes."""
    if isinstance(state, Field):
        n.walk.found.ended.append(n.node.name)
        return GLOBAL
    return state


def _merge(n: NodeInput, states: Sequence[State]) -> State:
    """Combine branches (add, mul, cat...): the largest field; flag misalignment and SE-style gating."""
    fields = [s for s in states if isinstance(s, Field)]
    if ATTENDED in states:
        return ATTENDED  # x + attention(x): the field is no longer a window
    if not fields:
        return GLOBAL if GLOBAL in states else None
    out = n.out_shape
    if any(f.axes != fields[0].axes or len(out) <= max(f.axes) for f in fields):
        return _end(n, fields[0])
    if GLOBAL in states:
        n.walk.found.gated.append(n.node.name)  # e.g. squeeze-excitation: x * sigmoid(fc(avgpool(x)))
    widest = max(fields, key=lambda f: (f.rf[0] * f.rf[1], f.rf))
    if any(f.jump != widest.jump or f.start != widest.start for f in fields):
        n.walk.found.misaligned.append(n.node.name)
    return widest


# ---- handlers: one per kind of operation; each returns the node's Step


def _conv(n: NodeInput) -> Step:
    if n.module is not None:
        m = n.module
        per_output = m.weight[0].numel()  # (C_in/groups)·kh·kw
        kernel, stride, padding, dilation = m.kernel_size, m.stride, m.padding, m.dilation
        transposed = getattr(m, "transposed", False)
    else:
        args = _bind(n)
        w_shape = tensor_shape(args["weight"])
        per_output = math.prod(w_shape[1:])
        kernel, stride, padding, dilation = w_shape[2:], args["stride"], args["padding"], args["dilation"]
        transposed = False
    # a transposed conv scatters each input value over C_out/groups·kh·kw outputs
    macs = math.prod(n.first_shape if transposed else n.out_shape) * per_output
    fld = n.nchw_field()
    if fld is not None and not transposed and len(n.out_shape) == 4:
        return Step(apply_window(fld, kernel, stride, padding, dilation), macs, "conv", layers=1)
    return Step(_end(n, n.first_state), macs, "conv", layers=1)


def _linear(n: NodeInput) -> Step:
    macs = math.prod(n.out_shape) * n.first_shape[-1]
    state = n.first_state
    if isinstance(state, Field) and len(n.first_shape) - 1 in state.axes:
        state = GLOBAL  # a Linear over a spatial axis mixes positions
    # otherwise a Linear on the channel axis (ConvNeXt's NHWC blocks) is a 1×1 conv: field unchanged
    return Step(state, macs, "linear", layers=1)


def _pool(n: NodeInput) -> Step:
    if n.module is not None:
        m = n.module
        kernel, stride, padding, dilation = m.kernel_size, m.stride, m.padding, getattr(m, "dilation", 1)
    else:
        args = _bind(n)
        kernel, padding = args["kernel_size"], args["padding"]
        stride, dilation = args["stride"] or kernel, args.get("dilation", 1)
    fld = n.nchw_field()
    return Step(apply_window(fld, kernel, stride, padding, dilation) if fld else _end(n, n.first_state))


def _adaptive(n: NodeInput) -> Step:
    """Identity when sizes match, global at 1×1, a plain pool when sizes divide."""
    fld = n.nchw_field()
    if fld is None:
        return Step(n.first_state)
    (h, w), (oh, ow) = n.first_shape[2:], n.out_shape[2:]
    if (h, w) == (oh, ow):
        return Step(fld)  # AlexNet's and VGG's avgpool at 224: a no-op
    if (oh, ow) == (1, 1):
        return Step(GLOBAL)  # global average pool: the end of the spatial maps
    if h % oh == 0 and w % ow == 0:
        kernel = (h // oh, w // ow)
        return Step(apply_window(fld, kernel, kernel, 0, 1))
    n.walk.found.uneven.append(f"{display_name(n.node, 'adaptive pool')} ({h}×{w} → {oh}×{ow})")
    return Step(GLOBAL)  # uneven windows have no single kernel and stride


def _permute(n: NodeInput) -> Step:
    state = n.first_state
    if not isinstance(state, Field):
        return Step(state)
    args = list(n.node.args[1:]) or [n.node.kwargs.get("dims")]
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        args = list(args[0])
    dims = [int(a) % len(n.out_shape) for a in args]
    return Step(Field((dims.index(state.axes[0]), dims.index(state.axes[1])), state.rf, state.jump, state.start))


def _multihead_attention(n: NodeInput) -> Step:
    m = n.module
    q_shape = n.first_shape
    k_shape = tensor_shape(n.inputs[1]) if len(n.inputs) > 1 else q_shape
    seq = 1 if m.batch_first else 0
    L, S, E = q_shape[seq], k_shape[seq], m.embed_dim
    projections = L * E * E + S * E * m.kdim + S * E * m.vdim + L * E * E  # q, k, v and output
    n.walk.tuple_outputs.add(n.node)
    n.walk.found.attention.append(SELF_ATTENTION)
    return Step(ATTENDED, projections, "linear", attention=2 * L * S * E, layers=2, out_shape=q_shape)


def _matmul(n: NodeInput) -> Step:
    """Activation × activation products (attention scores and their use): out elements × inner size."""
    n.walk.found.attention.append(SELF_ATTENTION)
    state = ATTENDED if any(s is not None for s in n.states) else None
    return Step(state, math.prod(n.out_shape) * n.first_shape[-1], "attention")


def _einsum(n: NodeInput) -> Step:
    """MACs of a two-operand einsum: the product of the sizes of every index letter."""
    equation = str(n.node.args[0]).replace(" ", "")
    operands = [a for a in n.node.args[1:]]
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = list(operands[0])
    lhs = equation.split("->")[0].split(",")
    sizes: dict[str, int] = {}
    if "..." in equation or len(lhs) != len(operands):
        n.walk.found.uncounted.append(n.node.name)
        return Step(ATTENDED)
    for letters, operand in zip(lhs, operands):
        sizes.update(zip(letters, tensor_shape(operand)))
    n.walk.found.attention.append(SELF_ATTENTION)
    return Step(ATTENDED, math.prod(sizes.values()), "attention")


def _sdpa(n: NodeInput) -> Step:
    q, k, v = (tensor_shape(x) for x in n.inputs[:3])
    rows = math.prod(q[:-1])
    n.walk.found.attention.append(SELF_ATTENTION)
    return Step(ATTENDED, rows * k[-2] * q[-1] + rows * k[-2] * v[-1], "attention")


def _window_attention(n: NodeInput) -> Step:
    """torchvision Swin's fused ``shifted_window_attention``: projections plus attention inside each window."""
    args = _bind(n)
    _, h, w, c = tensor_shape(args["input"])  # (B, H, W, C)
    wh, ww = args["window_size"]
    tokens = math.ceil(h / wh) * wh * math.ceil(w / ww) * ww  # the map is padded to whole windows
    per_window = wh * ww
    n.walk.found.attention.append(WINDOW_ATTENTION)
    projections = tokens * c * 3 * c + tokens * c * c  # qkv and output projections
    attention = (tokens // per_window) * 2 * per_window * per_window * c
    return Step(ATTENDED, projections, "linear", attention=attention, layers=2)


def _patch_merging(n: NodeInput) -> Step:
    """Swin's patch merging: each output token concatenates a 2×2 block, like a 2×2 stride-2 window."""
    state = n.first_state
    return Step(apply_window(state, 2, 2, 0, 1) if isinstance(state, Field) else state)


_RESHAPES = {"flatten", "reshape", "view", "mean", "sum", "amax", "squeeze", "unsqueeze", "getitem", "select",
             "narrow", "transpose", "unflatten"}
_MERGES = {"add", "iadd", "mul", "imul", "sub", "isub", "truediv", "itruediv", "cat", "concat", "where",
           "add_", "mul_", "sub_", "div", "div_"}


def _regrouped_channels(in_shape: tuple[int, ...] | None, out_shape: tuple[int, ...], state: Field) -> Field | None:
    """The field after a reshape that only regroups the dims before H and W (ShuffleNet's channel shuffle:
    (B, C, H, W) -> (B, g, C/g, H, W) -> ... -> (B, C, H, W)), which leaves every pixel where it was."""
    if not in_shape or len(in_shape) < 3 or len(out_shape) < 3:
        return None
    if state.axes != (len(in_shape) - 2, len(in_shape) - 1) or in_shape[0] != out_shape[0]:
        return None
    if tuple(out_shape[-2:]) != tuple(in_shape[-2:]):
        return None
    return Field((len(out_shape) - 2, len(out_shape) - 1), state.rf, state.jump, state.start)


def _generic(n: NodeInput) -> Step:
    """Anything else: merges combine branches; shape-keeping ops pass the field; reshapes end it."""
    derived = [(x, s) for x, s in zip(n.inputs, n.states) if s is not None]
    if n.op in _MERGES or len(derived) > 1:
        fields = [s for _, s in derived if isinstance(s, Field)]
        if n.op in ("cat", "concat") and fields:
            dim = n.node.args[1] if len(n.node.args) > 1 else n.node.kwargs.get("dim", 0)
            if int(dim) % len(n.out_shape) in fields[0].axes:
                return Step(_end(n, fields[0]))  # concatenating along H or W
        return Step(_merge(n, [s for _, s in derived]))
    if not derived:
        return Step(None)
    src, state = derived[0]
    if not isinstance(state, Field):
        return Step(state)
    in_shape = shape_of(src)
    if (in_shape and len(n.out_shape) == len(in_shape)
            and spatial_size(n.out_shape, state) == spatial_size(in_shape, state)):
        return Step(state)  # elementwise, norms, activations, channel changes
    if n.op in _RESHAPES:
        kept = _regrouped_channels(in_shape, n.out_shape, state)
        # flatten / reshape into tokens: the expected end of the spatial layout
        return Step(kept if kept is not None else GLOBAL)
    return Step(_end(n, state))


_FUNCTION_HANDLERS: dict[str, Handler] = {
    "conv2d": _conv, "linear": _linear, "max_pool2d": _pool, "avg_pool2d": _pool,
    "adaptive_avg_pool2d": _adaptive, "adaptive_max_pool2d": _adaptive, "permute": _permute,
    "matmul": _matmul, "bmm": _matmul, "baddbmm": _matmul, "einsum": _einsum,
    "scaled_dot_product_attention": _sdpa, "shifted_window_attention": _window_attention,
    "patch_merging_pad": _patch_merging,
}


@lru_cache(maxsize=1)
def _module_handlers() -> tuple[tuple[type | tuple[type, ...], Handler], ...]:
    from torch import nn

    return (
        (nn.MultiheadAttention, _multihead_attention),
        ((nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d), _conv),
        (nn.Linear, _linear),
        ((nn.MaxPool2d, nn.AvgPool2d), _pool),
        ((nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d), _adaptive),
    )


def handler_for(module: Any | None, op: str) -> Handler:
    """The handler of a module (by type) or of a function / method (by name); unknown ones get the generic one."""
    if module is None:
        return _FUNCTION_HANDLERS.get(op, _generic)
    for types, handler in _module_handlers():
        if isinstance(module, types):
            return handler
    return _generic


# Handlers whose module returns a tuple (attention's (out, weights)): run even without one output shape.
TUPLE_HANDLERS: frozenset[Handler] = frozenset({_multihead_attention})
