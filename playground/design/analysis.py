"""What a spec costs and sees, worked out analytically (no torch, no forward pass).

:func:`analyze` gives, per layer: output shape, parameters, multiply-accumulates
(MACs; FLOPs = 2·MACs), receptive field / jump / start (Araujo, Norris & Sim,
Distill 2019, dilation included) and activation memory; the totals; and what
every plain ``conv2d`` would cost as a depthwise-separable pair (inside branches too).

Rows: one per layer of the spec, in order. A ``branch`` is one row holding the totals of all its
paths, with ``children``: one tuple of rows per path, each row named by its path-qualified index
(``"4.1.0"``: layer 4, path 1, layer 0; all 0-based, as in SpecError messages). A named block
(``mbconv``, ``inception``...) is one row, worked out in closed form (:mod:`playground.design.costs`);
``expand_block`` spells it out when its insides are wanted.

Receptive fields: where paths merge, the field is the largest over the paths (blocks too: the main
path, not the shortcut's 1×1); paths whose jump or start differ make the merge *misaligned*
(flagged on the row). A ``mul`` path that gives a ``C×1×1`` gate (squeeze-and-excitation) scales every
position alike and is left out of the field, as the graph analysis of real models does. ``start`` is
the centre of the top-left output unit's field in input-pixel coordinates (input pixel i at i). After
``flatten``, upsampling or an uneven adaptive pool the field is not tracked (None).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from playground.design.costs import conv_cost, layer_cost
from playground.design.receptive_field import INPUT_RF_STATE, RFState, window_field
from playground.spec.base import LayerSpec, Shape
from playground.spec.branch import Branch, is_gate, merge_shape, path_input
from playground.spec.layers import LAYER_TYPES, Conv2d, Flatten, Linear
from playground.spec.parse import Spec, SpecError, SpecSource, parse_spec, parse_spec_prefix
from playground.spec.window import Pair, Window

__all__ = ["analyze", "analyze_prefix", "Report", "LayerReport", "DepthwiseSaving", "DepthwiseSavings",
           "BYTES_PER_VALUE"]

BYTES_PER_VALUE = 4  # fp32


# ---------------------------------------------------------------------------
# Report objects
# ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class LayerReport:
    """The numbers for one layer. Pairs are (height, width); field values are None after flatten."""

    index: int
    layer: LayerSpec
    input_shape: Shape
    output_shape: Shape
    params: int
    macs: int
    receptive_field: Pair | None
    jump: Pair | None
    start: tuple[float, float] | None
    key: str = ""  # the path-qualified index ("4.1.0"); "" for a top-level row (its index says it)
    children: tuple[tuple[LayerReport, ...], ...] = ()  # a branch's rows, one tuple per path
    misaligned: bool = False  # paths merging here see fields whose jump or start differ

    @property
    def name(self) -> str:
        """The row's index as text: ``"4"`` at the top level, ``"4.1.0"`` inside a branch."""
        return self.key or str(self.index)

    @property
    def depth(self) -> int:
        """0 for a layer of the spec, 1 inside a branch, 2 inside a branch inside a branch..."""
        return self.key.count(".") // 2

    def walk(self) -> Any:
        """This row and every row inside it, depth first (a generator of LayerReport)."""
        yield self
        for path in self.children:
            for row in path:
                yield from row.walk()

    @property
    def type(self) -> str:
        """The layer type, e.g. ``"conv2d"``."""
        return self.layer.type

    @property
    def description(self) -> str:
        """A short label such as ``conv2d 32, 3×3 /2``."""
        return self.layer.describe()

    @property
    def trainable_params(self) -> int:
        """Parameters a fresh model trains (all of them: nothing is frozen in a spec)."""
        return self.params

    @property
    def flops(self) -> int:
        """Floating-point operations, counted as 2 per multiply-accumulate."""
        return 2 * self.macs

    @property
    def activation_bytes(self) -> int:
        """Size of this layer's output for one image, in fp32 bytes."""
        return BYTES_PER_VALUE * math.prod(self.output_shape)

    def to_dict(self) -> dict[str, Any]:
        """The per-layer JSON of ``analyze(...).to_dict()["layers"]``: rows inside a branch have the
        path-qualified ``"index"`` ("4.1.0"); a branch row adds ``"children"`` (its rows, one list per
        path) and ``"misaligned"``; other rows say ``"misaligned": true`` only when they are."""
        out: dict[str, Any] = {
            "index": self.key or self.index, "type": self.type, "output_shape": list(self.output_shape),
            "params": self.params, "trainable_params": self.trainable_params,
            "macs": self.macs, "flops": self.flops, "activation_bytes": self.activation_bytes,
            "receptive_field": _list(self.receptive_field), "jump": _list(self.jump), "start": _list(self.start),
        }
        if isinstance(self.layer, Branch):
            out["children"] = [[row.to_dict() for row in path] for path in self.children]
            out["misaligned"] = self.misaligned
        elif self.misaligned:
            out["misaligned"] = True
        return out


def _list(pair: tuple | None) -> list | None:
    return None if pair is None else list(pair)


@dataclass(frozen=True, slots=True)
class DepthwiseSaving:
    """One plain conv2d against its depthwise-separable pair (k×k depthwise + 1×1 pointwise).

    The pair keeps stride, padding and dilation; the original's bias moves to the
    pointwise conv. The ratios are pair / original (≈ 1/out_channels + 1/k²).
    """

    index: int
    params: int
    macs: int
    dwsep_params: int
    dwsep_macs: int
    key: str = ""  # the conv's path-qualified index inside a branch ("4.1.0"); "" at the top level

    @property
    def params_ratio(self) -> float:
        """Parameters of the pair / of the original conv."""
        return self.dwsep_params / self.params

    @property
    def macs_ratio(self) -> float:
        """MACs of the pair / of the original conv."""
        return self.dwsep_macs / self.macs

    def to_dict(self) -> dict[str, Any]:
        """JSON: the counts before and after, and both ratios."""
        return {"index": self.key or self.index, "params": self.params, "macs": self.macs,
                "dwsep_params": self.dwsep_params,
                "dwsep_macs": self.dwsep_macs, "params_ratio": self.params_ratio, "macs_ratio": self.macs_ratio}


@dataclass(frozen=True, slots=True)
class DepthwiseSavings:
    """Every candidate conv2d (groups 1, kernel > 1×1) and the whole net if all were replaced."""

    layers: tuple[DepthwiseSaving, ...]
    total_params_before: int
    total_params_after: int
    total_macs_before: int
    total_macs_after: int

    def to_dict(self) -> dict[str, Any]:
        """JSON: every candidate and the whole-net totals before and after."""
        return {"layers": [s.to_dict() for s in self.layers],
                "total_params_before": self.total_params_before, "total_params_after": self.total_params_after,
                "total_macs_before": self.total_macs_before, "total_macs_after": self.total_macs_after}


@dataclass(frozen=True)
class Report:
    """``analyze(spec)``: per-layer numbers, totals, depthwise savings; ``str()`` is a table.

    ``input_shape`` is None only for ``analyze_prefix`` on a spec whose input
    itself is invalid (then there are no layers).
    """

    input_shape: Shape | None
    layers: tuple[LayerReport, ...]
    depthwise_savings: DepthwiseSavings
    name: str | None = None

    @property
    def output_shape(self) -> Shape | None:
        """The last layer's output shape (the input shape for an empty stack)."""
        return self.layers[-1].output_shape if self.layers else self.input_shape

    @property
    def total_params(self) -> int:
        """Parameters of every layer, summed."""
        return sum(layer.params for layer in self.layers)

    @property
    def total_trainable_params(self) -> int:
        """Trainable parameters, summed (all of them in a fresh model)."""
        return sum(layer.trainable_params for layer in self.layers)

    @property
    def total_macs(self) -> int:
        """Multiply-accumulates for one image, summed over the layers."""
        return sum(layer.macs for layer in self.layers)

    @property
    def total_flops(self) -> int:
        """2 · total MACs."""
        return 2 * self.total_macs

    @property
    def total_activation_bytes(self) -> int:
        """Sum of every layer's output size for one image, fp32."""
        return sum(layer.activation_bytes for layer in self.layers)

    @property
    def model_bytes(self) -> int:
        """Size of the parameters in fp32."""
        return BYTES_PER_VALUE * self.total_params

    def rows(self) -> list[LayerReport]:
        """Every row, depth first: each layer of the spec followed by the rows inside it (branches)."""
        return [row for layer in self.layers for row in layer.walk()]

    @property
    def misaligned(self) -> tuple[str, ...]:
        """Path-qualified indices of the merges whose paths' fields are out of step (jump or start differ)."""
        return tuple(row.name for row in self.rows() if row.misaligned)

    def to_dict(self) -> dict[str, Any]:
        """JSON: DESIGN.md's analyze schema plus FLOPs, memory and depthwise savings."""
        return {
            "input_shape": _list(self.input_shape),
            "layers": [layer.to_dict() for layer in self.layers],
            "total_params": self.total_params,
            "total_trainable_params": self.total_trainable_params,
            "total_macs": self.total_macs,
            "total_flops": self.total_flops,
            "total_activation_bytes": self.total_activation_bytes,
            "model_bytes": self.model_bytes,
            "depthwise_savings": self.depthwise_savings.to_dict(),
        }

    def __str__(self) -> str:
        from playground.design.table import report_table

        return report_table(self)


# ---------------------------------------------------------------------------
# The analysis
# ---------------------------------------------------------------------------

def _dwsep_equivalent(layer: Conv2d, index: int, key: str, s_in: Shape, s_out: Shape, params: int, macs: int
                      ) -> DepthwiseSaving:
    c_in, hw = s_in[0], (s_out[1], s_out[2])
    dw_params, dw_macs = conv_cost(c_in, c_in, layer.kernel_size, c_in, False, hw)
    pw_params, pw_macs = conv_cost(c_in, layer.out_channels, (1, 1), 1, layer.bias, hw)
    return DepthwiseSaving(index, params, macs, dw_params + pw_params, dw_macs + pw_macs, key)


Field = RFState | None  # None: not tracked (after flatten, upsampling, an uneven adaptive pool)


def _widest(fields: list[Field]) -> tuple[Field, bool]:
    """Where paths merge: the largest field (by area, as the graph analysis picks it) and whether the paths
    are out of step (different jump or start). Any untracked path leaves the merge untracked."""
    if not fields or any(f is None for f in fields):
        return None, False
    tracked: list[RFState] = fields  # type: ignore[assignment]
    widest = max(tracked, key=lambda f: (f[0][0] * f[0][1], f[0]))
    return widest, any(f[1] != widest[1] or f[2] != widest[2] for f in tracked)


def _step_shape(layer: LayerSpec, shape: Shape) -> Shape:
    """A (non-branch) layer's output for a valid input (the parser's rules, without its checks)."""
    if isinstance(layer, Linear):
        return (layer.out_features,)
    if isinstance(layer, Flatten):
        return (math.prod(shape),)
    if len(shape) != 3:
        return shape
    hw: Pair = (shape[1], shape[2])
    resized = layer.resize(hw)
    if resized is None:
        for window in layer.windows(hw):
            hw = window.out_size(hw)
    else:
        hw = resized
    return (layer.out_channels_for(shape[0]), hw[0], hw[1])


@dataclass
class _Walk:
    """What one walk collects besides the rows: the depthwise-separable candidates."""

    savings: list[DepthwiseSaving]


# Layer types with paths of their own (blocks, upsampling); every other type's one path is its windows.
_OWN_PATHS = frozenset(cls for cls in LAYER_TYPES.values() if cls.field_paths is not LayerSpec.field_paths)


def _row(walk: _Walk, top: int, key: str, layer: LayerSpec, s_in: Shape, s_out: Shape | None, field: Field,
         windows: tuple[Window, ...] | None = None) -> tuple[LayerReport, Field]:
    """One layer's row and the field after it (``s_out`` None: work it out; a branch walks its paths;
    ``windows``: the ones the parser already found for it)."""
    if isinstance(layer, Branch):
        return _branch_row(walk, top, key, layer, s_in, field)
    s_out = s_out if s_out is not None else _step_shape(layer, s_in)
    params, macs = layer_cost(layer, s_in, s_out)
    misaligned = False
    if field is not None and len(s_out) == 3:
        paths = (windows,) if windows is not None and type(layer) not in _OWN_PATHS else layer.field_paths(s_in)
        if paths is None:
            field = None
        elif len(paths) == 1:  # most layers: one path, nothing to merge
            for w in paths[0]:
                field = window_field(field, w)
        else:
            ends: list[Field] = []
            for windows in paths:
                state = field
                for w in windows:
                    state = window_field(state, w)
                ends.append(state)
            field, misaligned = _widest(ends)
    else:
        field = None
    if type(layer) is Conv2d and layer.groups == 1 and layer.kernel_size != (1, 1):
        walk.savings.append(_dwsep_equivalent(layer, top, key, s_in, s_out, params, macs))
    rf, jump, start = field or (None, None, None)
    return LayerReport(top, layer, s_in, s_out, params, macs, rf, jump, start, key=key,  # type: ignore[arg-type]
                       misaligned=misaligned), field


def _branch_row(walk: _Walk, top: int, key: str, branch: Branch, s_in: Shape, field: Field
                ) -> tuple[LayerReport, Field]:
    children: list[tuple[LayerReport, ...]] = []
    outs: list[Shape] = []
    ends: list[Field] = []
    prefix = key or str(top)
    for p, path in enumerate(branch.paths):
        shape, state = path_input(branch, s_in), field
        rows = []
        for i, layer in enumerate(path):
            row, state = _row(walk, top, f"{prefix}.{p}.{i}", layer, shape, None, state)
            rows.append(row)
            shape = row.output_shape
        children.append(tuple(rows))
        outs.append(shape)
        ends.append(state)
    s_out = merge_shape(branch, outs)
    if branch.merge == "mul" and any(is_gate(s, s_out) for s in outs) and not all(is_gate(s, s_out) for s in outs):
        ends = [f for f, s in zip(ends, outs) if not is_gate(s, s_out)]  # a gate scales every position alike
    merged, misaligned = _widest(ends)
    params = sum(r.params for path in children for r in path)
    macs = sum(r.macs for path in children for r in path)
    rf, jump, start = merged or (None, None, None)
    return LayerReport(top, branch, s_in, s_out, params, macs, rf, jump, start, key=key,  # type: ignore[arg-type]
                       children=tuple(children), misaligned=misaligned), merged


def _report(spec: Spec) -> Report:
    walk = _Walk([])
    layers: list[LayerReport] = []
    field: Field = INPUT_RF_STATE
    for index, layer in enumerate(spec.layers):
        row, field = _row(walk, index, "", layer, spec.shapes[index], spec.shapes[index + 1], field,
                          spec.windows[index] if spec.windows else None)
        layers.append(row)
    savings = walk.savings
    total_params = sum(x.params for x in layers)
    total_macs = sum(x.macs for x in layers)
    saved_params = sum(s.params - s.dwsep_params for s in savings)
    saved_macs = sum(s.macs - s.dwsep_macs for s in savings)
    dw = DepthwiseSavings(tuple(savings), total_params, total_params - saved_params,
                          total_macs, total_macs - saved_macs)
    return Report(spec.input, tuple(layers), dw, spec.name)


def analyze(spec: SpecSource) -> Report:
    """Analyse a spec (dict, JSON text, file path or parsed Spec); raises SpecError if invalid.

    Pure Python and instant: shapes follow PyTorch's exact rules (ceil_mode and
    ``"same"`` included) and the numbers are what ``build_model(spec)`` holds.
    """
    return _report(parse_spec(spec))


def analyze_prefix(spec: SpecSource) -> tuple[Report, SpecError | None]:
    """Analyse the layers before the first invalid one; also return that error (None if valid).

    For the designer: it can still show the valid prefix while pointing at the
    broken layer. An invalid input gives an empty report (``input_shape`` None).
    """
    parsed, error = parse_spec_prefix(spec)
    if parsed is None:
        return Report(None, (), DepthwiseSavings((), 0, 0, 0, 0)), error
    return _report(parsed), error
