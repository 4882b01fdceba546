"""The ``branch`` layer: paths side by side on the same input, merged by add, concat or multiply.

``{"type": "branch", "merge": "add" | "concat" | "mul", "paths": [[...], [...], []]}``: every path is
a list of layers (an empty one is the identity) and may itself hold branches. ``add`` needs every
path to give the same shape; ``concat`` the same height and width (the channels add up); ``mul`` the
same shape, or a ``C×1×1`` gate broadcast over a ``C×H×W`` map (squeeze-and-excitation). With
``"split": true`` each path gets its own equal share of the input's channels (``torch.chunk``), as
ShuffleNet-V2 does, instead of all of them.

:func:`merge_shape` is the one place the merge rules and their messages live; the parser walks the
paths (:mod:`playground.spec.parse`), the analysis and the build follow the same rules. Pure Python.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from playground._format import format_dims
from playground.spec.base import LayerSpec, Shape
from playground.spec.keys import _choice, _Invalid, _Key, _read_bool

__all__ = ["Branch", "MERGES", "merge_shape", "path_input", "check_paths", "is_gate", "MAX_PATHS"]

MERGES = ("add", "concat", "mul")
MAX_PATHS = 64  # paths of one branch (a link could hold thousands)


@dataclass(frozen=True, slots=True)
class Branch(LayerSpec):
    """Paths on the same input (or on equal channel shares, with ``split``), merged into one map."""

    merge: str = "add"
    paths: tuple[tuple[LayerSpec, ...], ...] = ()
    split: bool = False

    type: ClassVar[str] = "branch"
    spatial: ClassVar[bool] = True
    _KEYS: ClassVar[tuple[_Key, ...]] = (
        _Key("merge", _choice(*MERGES), "add"),
        _Key("split", _read_bool, False))  # "paths" is read by the parser itself (it holds layers)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "branch", "merge": self.merge,
                "paths": [[layer.to_dict() for layer in path] for path in self.paths], "split": self.split}

    def describe(self) -> str:
        sizes = [f"{len(p)} layer{'s' if len(p) != 1 else ''}" if p else "identity" for p in self.paths]
        how = "split, " if self.split else ""
        return f"branch {self.merge} ({how}{' | '.join(sizes)})"


def path_input(branch: Branch, shape: Shape, n_paths: int | None = None) -> Shape:
    """What each path of ``branch`` (of ``n_paths`` paths: its own by default) receives for ``shape`` in."""
    if branch.split:
        return (shape[0] // (n_paths or len(branch.paths)), *shape[1:])
    return shape


def is_gate(shape: Shape, out: Shape) -> bool:
    """A ``mul`` path giving a ``C×1×1`` gate for a larger ``C×H×W`` map (it scales every position alike)."""
    return len(shape) == 3 and shape[1:] == (1, 1) and out[1:] != (1, 1)


def check_paths(branch: Branch, n_paths: int, shape: Shape) -> None:
    """At least one path; with ``split``, channels that divide equally among the paths. Raises _Invalid."""
    if not n_paths:
        raise _Invalid('a branch needs at least one path in "paths", e.g. [[{"type": "relu"}], []] '
                       "(an empty path is the identity)", "paths")
    if branch.split and shape[0] % n_paths:
        raise _Invalid(f"split shares the {shape[0]} channels equally among {n_paths} paths, which does not "
                       f'divide; give it a multiple of {n_paths} channels, or drop "split"', "split")


def _dims(shape: Shape) -> str:
    return format_dims(shape)


def merge_shape(branch: Branch, outs: list[Shape]) -> Shape:
    """The branch's output shape from its paths' outputs, or _Invalid naming the path that does not fit,
    both shapes and the fix."""
    merge = branch.merge
    ref_i = max(range(len(outs)), key=lambda i: (outs[i][1] * outs[i][2], outs[i][0]) if merge == "mul" else 0)
    ref = outs[ref_i]
    for i, shape in enumerate(outs):
        if merge == "concat":
            if shape[1:] != ref[1:]:
                raise _Invalid(_mismatch(i, shape, ref_i, ref, "concat needs the same height and width on every "
                                         "path (the channels add up)", _spatial_fix(shape, ref)), "paths")
        elif merge == "mul" and shape != ref and not (shape[0] == ref[0] and is_gate(shape, ref)):
            fix = (f"make path {i} end with {ref[0]} channels" if shape[0] != ref[0] else _spatial_fix(shape, ref)
                   + f", or end it with a global_avgpool so it becomes a {ref[0]}×1×1 gate")
            raise _Invalid(_mismatch(i, shape, ref_i, ref, "mul needs the same shape on every path, or a C×1×1 "
                                     "gate for a C×H×W map", fix), "paths")
        elif merge == "add" and shape != ref:
            if shape[1:] != ref[1:]:
                fix = _spatial_fix(shape, ref)
            else:
                fix = (f'end path {i} with a 1×1 conv2d to {ref[0]} channels (as a ResNet shortcut does), or use '
                       'merge "concat" to keep both')
            raise _Invalid(_mismatch(i, shape, ref_i, ref, "add needs the same shape on every path", fix), "paths")
    if merge == "concat":
        return (sum(s[0] for s in outs), *ref[1:])
    return ref


def _mismatch(i: int, shape: Shape, j: int, ref: Shape, rule: str, fix: str) -> str:
    return f"{rule}, but path {i} gives {_dims(shape)} and path {j} gives {_dims(ref)}; {fix}"


def _spatial_fix(shape: Shape, ref: Shape) -> str:
    if shape[1] < ref[1] or shape[2] < ref[2]:
        return "give the smaller path less stride or more padding, or the other one a matching stride"
    return "give the larger path a stride or pooling the other has, or padding that keeps the sizes equal"
