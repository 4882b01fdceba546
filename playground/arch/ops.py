"""The graph walk's handlers: one per kind of operation, each returning the node's :class:`Step`.

A handler reads its node (module attributes, or the arguments of a functional call) and returns the
node's receptive-field state, its MACs and the conv/linear layers it adds to a path. Anything
unknown goes to :func:`_generic`: it keeps the field when it keeps the spatial sizes, combines branches
at merges, and says in the notes where spatial tracking stopped.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from functools import lru_cache
from typing import Any

from playground.arch.grid import resample, transposed, union
from playground.arch.nodes import (
    ATTENDED,
    GLOBAL,
    Field,
    NodeInput,
    State,
    Step,
    apply_window,
    as_pair,
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
    "conv_transpose2d": ("input", "weight", "bias", "stride", "padding", "output_padding", "groups", "dilation"),
    "interpolate": ("input", "size", "scale_factor", "mode", "align_corners", "recompute_scale_factor"),
    "pixel_shuffle": ("input", "upscale_factor"),
    "pixel_unshuffle": ("input", "downscale_factor"),
    "max_pool2d": ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"),
    "avg_pool2d": ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"),
    "shifted_window_attention": ("input", "qkv_weight", "proj_weight", "relative_position_bias", "window_size",
                                 "num_heads", "shift_size"),
}
_SIGNATURES["upsample"] = _SIGNATURES["interpolate"]  # F.upsample, the deprecated spelling
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
    """Combine branches (add, mul, cat...): each unit sees what it sees in any branch; branches on
    different grids (jump or start) are flagged misaligned and the widest is kept, as the spec analysis does."""
    fields = [s for s in states if isinstance(s, Field)]
    if ATTENDED in states:
        return ATTENDED  # x + attention(x): the field is no longer a window
    if not fields:
        return GLOBAL if GLOBAL in states else None
    out = n.out_shape
    if any(f.axes != fields[0].axes or len(out) <= max(f.axes) for f in fields):
        return _end(n, fields[0])
    if any(f.jump != fields[0].jump or f.start != fields[0].start for f in fields):
        n.walk.found.misaligned.append(n.node.name)
        return max(fields, key=lambda f: (f.rf[0] * f.rf[1], f.rf))
    # aligned: the union is the largest branch's field for plain windows, and exact after an upsample
    return Field(fields[0].axes, (union([f.grids[0] for f in fields]), union([f.grids[1] for f in fields])))


_GATES = {"mul", "imul", "mul_"}
_GATE_SEARCH = 64  # nodes looked at behind a gate for the map it was pooled from (an SE branch has ~5)


def _is_se_gate(n: NodeInput) -> bool:
    """A squeeze-and-excitation gate: a C×H×W map times a C×1×1 weight computed from that same map
    (``x * sigmoid(fc(avgpool(x)))``); any other product or merge is not one."""
    if n.op not in _GATES or len(n.inputs) != 2:
        return False
    a, b = n.inputs
    for fmap, gate in ((a, b), (b, a)):
        fs, gs = shape_of(fmap), shape_of(gate)
        if (fs is not None and gs is not None and len(fs) == len(gs) == 4 and gs[1] == fs[1] > 1
                and gs[2:] == (1, 1) and fs[2] * fs[3] > 1 and _derives_from(gate, fmap)):
            return True
    return False


def _derives_from(node: Any, source: Any) -> bool:
    """Whether ``source`` is among the nodes ``node`` is computed from (a bounded search backwards)."""
    seen, todo = {node}, [node]
    while todo and len(seen) <= _GATE_SEARCH:
        for x in todo.pop().all_input_nodes:
            if x is source:
                return True
            if x not in seen:
                seen.add(x)
                todo.append(x)
    return False


# ---- handlers: one per kind of operation; each returns the node's Step


def _conv(n: NodeInput) -> Step:
    if n.module is not None:
        m = n.module
        per_output = m.weight[0].numel()  # (C_in/groups)·kh·kw, or (C_out/groups)·kh·kw when transposed
        kernel, stride, padding, dilation = m.kernel_size, m.stride, m.padding, m.dilation
        is_transposed = getattr(m, "transposed", False)
    else:
        args = _bind(n)
        w_shape = tensor_shape(args["weight"])
        per_output = math.prod(w_shape[1:])
        kernel, stride, padding, dilation = w_shape[2:], args["stride"], args["padding"], args["dilation"]
        is_transposed = n.op == "conv_transpose2d"
    # a transposed conv scatters each input value over C_out/groups·kh·kw outputs
    macs = math.prod(n.first_shape if is_transposed else n.out_shape) * per_output
    fld = n.nchw_field()
    if fld is None or len(n.out_shape) != 4:
        return Step(_end(n, n.first_state), macs, "conv", layers=1)
    if is_transposed:
        k, s, p, d = as_pair(kernel), as_pair(stride), as_pair(padding), as_pair(dilation)
        grids = (transposed(fld.grids[0], k[0], s[0], p[0], d[0]), transposed(fld.grids[1], k[1], s[1], p[1], d[1]))
        out = Field(fld.axes, (grids[0], grids[1])) if grids[0] and grids[1] else None
    else:
        out = apply_window(fld, kernel, stride, padding, dilation)
    return Step(out or _end(n, fld), macs, "conv", layers=1)


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
    out = apply_window(fld, kernel, stride, padding, dilation) if fld else None
    return Step(out or _end(n, n.first_state))


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
        return Step(apply_window(fld, kernel, kernel, 0, 1) or _end(n, fld))
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
    return Step(state.moved((dims.index(state.axes[0]), dims.index(state.axes[1]))))


def _resample(n: NodeInput) -> Step:
    """Interpolation (``nn.Upsample``, ``F.interpolate``): the jump shrinks by the factor; nearest keeps the
    field, bilinear widens it by one input step (:func:`~playground.arch.grid.resample`)."""
    if n.module is not None:
        m = n.module
        scale, mode, corners, recompute = m.scale_factor, m.mode, m.align_corners, m.recompute_scale_factor
    else:
        args = _bind(n)
        scale, mode = args.get("scale_factor"), args.get("mode", "nearest")
        corners, recompute = args.get("align_corners"), args.get("recompute_scale_factor")
    fld = n.nchw_field()
    if fld is None or len(n.out_shape) != 4:
        return Step(n.first_state if not isinstance(n.first_state, Field) else _end(n, n.first_state))
    scales = as_pair(1) if scale is None else (scale if isinstance(scale, (tuple, list)) else (scale, scale))
    grids = []
    for axis, size_in, size_out, factor in zip((0, 1), n.first_shape[2:], n.out_shape[2:], scales):
        # PyTorch's source coordinate: (in − 1)/(out − 1) with align_corners, else 1/scale_factor when
        # given (and not recomputed), else in/out
        if corners:
            ratio = Fraction(size_in - 1, max(size_out - 1, 1))
        elif scale is not None and not recompute:
            ratio = 1 / Fraction(float(factor)).limit_denominator(1 << 16)
        else:
            ratio = Fraction(size_in, size_out)
        grids.append(resample(fld.grids[axis], ratio, str(mode), bool(corners)))
    if grids[0] is None or grids[1] is None:
        return Step(_end(n, fld))
    return Step(Field(fld.axes, (grids[0], grids[1])))


def _pixel_shuffle(n: NodeInput) -> Step:
    """(C·r², H, W) → (C, r·H, r·W): output row o comes from input row o // r, a nearest upsample by r;
    the unshuffle is an r×r window with stride r."""
    if n.module is not None:
        factor = int(getattr(n.module, "upscale_factor", None) or n.module.downscale_factor)
    else:
        args = _bind(n)
        factor = int(args.get("upscale_factor") or args["downscale_factor"])
    fld = n.nchw_field()
    if fld is None:
        return Step(n.first_state if not isinstance(n.first_state, Field) else _end(n, n.first_state))
    if n.op.endswith("unshuffle"):
        return Step(apply_window(fld, factor, factor, 0, 1) or _end(n, fld))
    h, w = (resample(g, Fraction(1, factor), "nearest", False) for g in fld.grids)
    return Step(Field(fld.axes, (h, w)) if h and w else _end(n, fld))


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
    if not isinstance(state, Field):
        return Step(state)
    return Step(apply_window(state, 2, 2, 0, 1) or _end(n, state))


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
    return state.moved((len(out_shape) - 2, len(out_shape) - 1))


def _generic(n: NodeInput) -> Step:
    """Anything else: merges combine branches; shape-keeping ops pass the field; reshapes end it."""
    derived = [(x, s) for x, s in zip(n.inputs, n.states) if s is not None]
    if _is_se_gate(n):
        n.walk.found.gated.append(n.node.name)  # counted whatever the map's state (MaxViT gates attended maps)
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
    "patch_merging_pad": _patch_merging, "conv_transpose2d": _conv, "interpolate": _resample, "upsample": _resample,
    "pixel_shuffle": _pixel_shuffle, "pixel_unshuffle": _pixel_shuffle,
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
        (nn.Upsample, _resample),  # UpsamplingNearest2d and UpsamplingBilinear2d (align_corners) included
        ((nn.PixelShuffle, nn.PixelUnshuffle), _pixel_shuffle),
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
