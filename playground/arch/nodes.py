"""What the graph walk knows about each node: its receptive-field state, and a handler's input and output.

Each node gets a *state*: a :class:`Field` (where H and W sit in the tensor, and per axis the exact
field of every unit, a :class:`~playground.arch.grid.Grid`, which gives the Distill field, jump and
start), :data:`GLOBAL` once the spatial layout is gone (pooled, flattened, tokens), :data:`ATTENDED`
once attention has mixed positions, or None for constants.
A handler (:mod:`playground.arch.ops`) sees a :class:`NodeInput` and returns a :class:`Step`;
:class:`Walk` is what one pass over the graph accumulates (:mod:`playground.arch.graph`).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from playground.arch.grid import PIXELS, Grid, window
from playground.arch.report import Findings, FloatPair

__all__ = [
    "Field",
    "GLOBAL",
    "ATTENDED",
    "State",
    "INPUT_FIELD",
    "Walk",
    "NodeInput",
    "Step",
    "as_pair",
    "apply_window",
    "spatial_size",
    "shape_of",
    "tensor_shape",
    "display_name",
]


@dataclass(frozen=True)
class Field:
    """Spatial bookkeeping of one tensor: where H and W are, and each axis's exact field (:class:`Grid`)."""

    axes: tuple[int, int]
    grids: tuple[Grid, Grid]  # (along H, along W)

    @property
    def rf(self) -> FloatPair:
        """The largest field over the units, (h, w) in input pixels."""
        return (self.grids[0].rf, self.grids[1].rf)

    @property
    def jump(self) -> FloatPair:
        """Input pixels between neighbouring units (fractional after an upsample)."""
        return (self.grids[0].jump, self.grids[1].jump)

    @property
    def start(self) -> FloatPair:
        """Centre of the top-left unit's field, in input pixel coordinates (Distill's start)."""
        return (self.grids[0].start, self.grids[1].start)

    def moved(self, axes: tuple[int, int]) -> Field:
        """The same field with H and W at other tensor axes (a permute or a reshape that keeps pixels)."""
        return Field(axes, self.grids)


GLOBAL = "global"  # derived from the image but with no spatial layout left (pooled, flattened, tokens)
ATTENDED = "attended"  # mixed by attention: each unit may see far beyond any conv-style field
State = Field | str | None  # None: a constant (parameter) or not a tensor

# The image itself, (N, C, H, W): each pixel sees itself, one pixel apart, pixel 0 at coordinate 0.
INPUT_FIELD = Field((2, 3), (PIXELS, PIXELS))


def as_pair(value: Any) -> tuple[int, int]:
    """An int or an (h, w) sequence as (h, w), as PyTorch's layer arguments allow."""
    if isinstance(value, (tuple, list)):
        return (int(value[0]), int(value[-1]))
    return (int(value), int(value))


def apply_window(state: Field, kernel: Any, stride: Any, padding: Any, dilation: Any) -> Field | None:
    """Apply one sliding window (conv or pool) to a field, per axis; for a plain chain of windows these are
    the Distill recurrences. None when the field can no longer be tracked (see :func:`grid.pull`)."""
    k, s, d = as_pair(kernel), as_pair(stride), as_pair(dilation)
    if padding == "same":
        p_left = ((d[0] * (k[0] - 1)) // 2, (d[1] * (k[1] - 1)) // 2)  # PyTorch puts the odd pixel right/bottom
    elif padding == "valid":
        p_left = (0, 0)
    else:
        p_left = as_pair(padding)
    h = window(state.grids[0], k[0], s[0], p_left[0], d[0])
    w = window(state.grids[1], k[1], s[1], p_left[1], d[1])
    return Field(state.axes, (h, w)) if h is not None and w is not None else None


def spatial_size(shape: Sequence[int], state: Field) -> tuple[int, int]:
    """(H, W) of a tensor of that shape, read at the field's axes."""
    return (shape[state.axes[0]], shape[state.axes[1]])


def shape_of(node: Any) -> tuple[int, ...] | None:
    """A traced node's output shape (from shape propagation), None when it is not one tensor."""
    meta = node.meta.get("tensor_meta") if hasattr(node, "meta") else None
    shape = getattr(meta, "shape", None)
    return None if shape is None else tuple(int(v) for v in shape)


def tensor_shape(node: Any) -> tuple[int, ...]:
    """The shape of an operand that must be one tensor (a conv's weight, attention's query...)."""
    shape = shape_of(node)
    if shape is None:
        raise ValueError(f"{getattr(node, 'name', node)} is not a tensor of known shape")
    return shape


def _scope(node: Any) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    path = list(stack.values())[-1]
    return path[0] if isinstance(path, tuple) else str(path)


def display_name(node: Any, op: str) -> str:
    """The name a user recognises: the module path, or the enclosing module's path + the function."""
    if node.op == "call_module":
        return str(node.target)
    scope = _scope(node)
    return f"{scope}.{op}" if scope else node.name


@dataclass
class Walk:
    """Everything one pass over the graph accumulates."""

    gm: Any
    states: dict[Any, State] = field(default_factory=dict)
    depth: dict[Any, int] = field(default_factory=dict)  # conv/linear layers on the longest path so far
    tuple_outputs: set[Any] = field(default_factory=set)  # modules returning (out, weights)
    seen: set[int] = field(default_factory=set)  # ids of parameters already counted
    macs: dict[str, int] = field(default_factory=lambda: {"conv": 0, "linear": 0, "attention": 0})
    layer_counts: dict[str, int] = field(default_factory=lambda: {"conv": 0, "linear": 0})
    found: Findings = field(default_factory=Findings)

    def new_params(self, tensors: Iterable[Any]) -> int:
        """Elements of the tensors not counted yet (shared modules and tied weights count once)."""
        count = 0
        for p in tensors:
            if id(p) not in self.seen:
                self.seen.add(id(p))
                count += p.numel()
        return count


@dataclass(frozen=True)
class NodeInput:
    """What a handler sees of one node."""

    node: Any
    module: Any  # the nn.Module of a call_module node, else None
    op: str
    inputs: tuple[Any, ...]
    states: tuple[State, ...]
    out_shape: tuple[int, ...]  # () for a module returning a tuple (attention's (out, weights))
    walk: Walk

    @property
    def first_state(self) -> State:
        """The state of the node's first input (None without inputs)."""
        return self.states[0] if self.states else None

    @property
    def first_shape(self) -> tuple[int, ...]:
        """The shape of the node's first input (a tensor for every node a handler measures)."""
        return tensor_shape(self.inputs[0])

    def nchw_field(self) -> Field | None:
        """The input's field when it is laid out (N, C, H, W), as conv and pool need."""
        state = self.first_state
        return state if isinstance(state, Field) and state.axes == (2, 3) else None


@dataclass(frozen=True)
class Step:
    """What one node contributes."""

    state: State
    macs: int = 0  # tallied under ``kind``
    kind: str = ""  # "conv", "linear" or "attention"
    attention: int = 0  # extra attention MACs of a node that also has linear ones (multi-head attention)
    layers: int = 0  # conv/linear layers this node adds to a path
    out_shape: tuple[int, ...] | None = None  # for modules returning a tuple
