"""Layer specs: load, parse and validate a network description.

A spec is JSON (a dict, JSON text or a file)::

    {"input": [3, 224, 224],
     "layers": [{"type": "conv2d", "out_channels": 32, "kernel_size": 3, "stride": 2, "padding": 1},
                {"type": "relu"}, {"type": "global_avgpool"}, {"type": "flatten"},
                {"type": "linear", "out_features": 10}]}

:func:`parse_spec` turns it into a :class:`Spec` of typed layer specs
(:mod:`playground.spec.layers`) with PyTorch's defaults filled in, and works out every layer's
output shape with PyTorch's exact rules while it validates, so a spec that parses is one
``build_model`` can run. Anything wrong raises :class:`SpecError` naming the layer, saying what
is wrong in that layer's terms and how to fix it.

Pure Python (no torch): the designer calls this on every edit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Union

from playground._format import format_dims, format_shape
from playground.spec.branch import MAX_PATHS, Branch, check_paths, merge_shape, path_input
from playground.spec.error import SpecError
from playground.spec.keys import (
    _KEY_ALIASES,
    _REQUIRED,
    _TYPE_ALIASES,
    MAX_CHANNELS,
    MAX_SPEC_SIDE,
    _as_json,
    _Invalid,
    _n,
    _read_int,
    _show,
    _suggest,
)
from playground.spec.layers import LAYER_TYPES, Conv2d, DWSep, Flatten, LayerSpec, Linear, Shape, _Pool
from playground.spec.load import MAX_SPEC_BYTES, _reject_constant, load_json_bytes, load_source
from playground.spec.window import Pair, Window

__all__ = ["SpecError", "Spec", "SpecSource", "parse_spec", "parse_spec_prefix", "parse_layer", "load_json_bytes",
           "MAX_LAYERS", "MAX_SPEC_BYTES", "MAX_TOTAL_LAYERS", "MAX_DEPTH"]

_ = _reject_constant  # re-exported for playground.spec.share

# Limits against abuse (a spec may come from a URL); the per-value ones are in playground.spec.keys.
MAX_LAYERS = 500  # top-level layers (what the editor lists)
MAX_TOTAL_LAYERS = 5_000  # counting every layer inside branches too (DenseNet-201 has about 1,000)
MAX_DEPTH = 8  # branches inside branches

SpecSource = Union[dict, str, Path, "Spec"]

_TYPE_NAMES = list(LAYER_TYPES)
_KEY_NAMES = {t: [k.name for k in cls._KEYS] for t, cls in LAYER_TYPES.items()}
_KEY_NAMES["branch"] = ["merge", "paths", "split"]
_PATHS_EXAMPLE = '[[{"type": "conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1}], []]'


@dataclass(frozen=True)
class Spec:
    """A validated spec: the input shape, typed layers, and every layer's output shape.

    ``shapes[0]`` is the input shape and ``shapes[i + 1]`` the output of
    ``layers[i]``: (C, H, W), or (F,) once flattened. ``windows[i]`` are the
    sliding windows layer i applies to its input (empty once flattened).
    """

    input: tuple[int, int, int]
    layers: tuple[LayerSpec, ...]
    shapes: tuple[Shape, ...]
    name: str | None = None
    windows: tuple[tuple[Window, ...], ...] = field(default=(), compare=False, repr=False)

    @property
    def output_shape(self) -> Shape:
        """The network's output shape for one image."""
        return self.shapes[-1]

    def to_dict(self) -> dict[str, Any]:
        """Canonical JSON: all keys explicit with PyTorch's defaults filled in."""
        out: dict[str, Any] = {}
        if self.name is not None:
            out["name"] = self.name
        out["input"] = list(self.input)
        out["layers"] = [layer.to_dict() for layer in self.layers]
        return out


def _parse_input(value: Any) -> tuple[int, int, int]:
    example = "e.g. [3, 224, 224]"
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise SpecError(f'"input" must be [channels, height, width], {example}; got {_show(value)}')
    try:
        c, h, w = (_read_int(v, f'"input" {name}', limit=limit) for name, v, limit in zip(
            ("channels", "height", "width"), value, (MAX_CHANNELS, MAX_SPEC_SIDE, MAX_SPEC_SIDE)))
    except _Invalid as exc:
        raise SpecError(f"{exc.reason} ({example})") from None
    return (c, h, w)


def _parse_layer(index: int, raw: Any, *, inner: bool = True, depth: int = 0,
                 budget: list[int] | None = None) -> LayerSpec:
    """One layer dict -> typed spec (key-level checks only; a branch's paths too unless ``inner`` is False,
    within the same depth and layer-count limits as the full walk)."""
    if not isinstance(raw, dict):
        raise SpecError(f'must be an object like {{"type": "relu"}}, got {_show(raw)}', layer_index=index)
    type_ = raw.get("type")
    if type_ is None:
        raise SpecError(f'has no "type"; use one of {", ".join(_TYPE_NAMES)}', layer_index=index, key="type")
    if not isinstance(type_, str):
        raise SpecError(f'"type" must be a string such as "conv2d", got {_show(type_)}', layer_index=index,
                        key="type")
    cls = LAYER_TYPES.get(type_)
    if cls is None:
        hint = _suggest(type_, _TYPE_NAMES, _TYPE_ALIASES)
        raise SpecError(f'unknown layer type "{type_}"{hint or ";"} valid types are {", ".join(_TYPE_NAMES)}',
                        layer_index=index, layer_type=type_, key="type")
    known = _KEY_NAMES[type_]
    values: dict[str, Any] = {}
    try:
        for key in raw:
            if key != "type" and key not in known and key != cls._IN_KEY:
                hint = _suggest(str(key), known, _KEY_ALIASES) if known else ""
                takes = f"{type_} takes {', '.join(known)}" if known else f"{type_} takes no keys"
                raise _Invalid(f'unknown key "{key}"{hint} ({takes})', str(key))
        for spec_key in cls._KEYS:
            if spec_key.name in raw:
                values[spec_key.name] = spec_key.read(raw[spec_key.name], spec_key.name)
            elif spec_key.default is _REQUIRED:
                raise _Invalid(f'missing "{spec_key.name}", e.g. {spec_key.example}', spec_key.name)
        if cls is Branch:
            _raw_paths(raw)
    except _Invalid as exc:
        raise SpecError(exc.reason, layer_index=index, layer_type=type_, key=exc.key) from None
    if cls is Branch and inner:  # key-level only: the paths' layers, without their shapes
        budget = budget if budget is not None else [1]
        budget[0] += sum(len(path) for path in raw.get("paths", []))
        if depth >= MAX_DEPTH or budget[0] > MAX_TOTAL_LAYERS:
            raise SpecError(f"branches nest more than {MAX_DEPTH} deep here, or hold over {_n(MAX_TOTAL_LAYERS)} "
                            "layers", layer_index=index, layer_type="branch", key="paths")
        values["paths"] = tuple(tuple(_inside(index, p, i, _inner_layer, i, layer, depth + 1, budget)
                                      for i, layer in enumerate(path)) for p, path in enumerate(raw.get("paths", [])))
    return cls(**values)


def _inner_layer(index: int, raw: Any, depth: int, budget: list[int]) -> LayerSpec:
    return _parse_layer(index, raw, depth=depth, budget=budget)


def _raw_paths(raw: dict) -> list[list[Any]]:
    """A branch's "paths" as given: a list of lists (at most MAX_PATHS), or _Invalid with an example."""
    paths = raw.get("paths", [])  # none at all is reported with the shapes: "needs at least one path"
    if not isinstance(paths, list) or not all(isinstance(p, list) for p in paths):
        raise _Invalid(f'"paths" must be a list of paths, each a list of layers, e.g. {_PATHS_EXAMPLE}; got '
                       f'{_show(paths)}', "paths")
    if len(paths) > MAX_PATHS:
        raise _Invalid(f"{_n(len(paths))} paths is over the {MAX_PATHS} path limit", "paths")
    return paths


def _inside(index: int, path: int, inner_index: int, step: Any, *args: Any) -> Any:
    """``step(*args)`` for a layer inside branch ``index``'s path ``path``; its SpecError is re-raised naming
    the branch, the path and the inner layer."""
    try:
        return step(*args)
    except SpecError as exc:
        where = ((path, exc.layer_index if exc.layer_index is not None else inner_index, exc.layer_type),
                 *exc.inner)
        raise SpecError(exc.reason, layer_index=index, layer_type="branch", key=exc.key, inner=where) from None


def _too_small(layer: LayerSpec, window: Window, hw: Pair) -> str:
    """Explain a window that does not fit its (padded) input, with the fix."""
    padded = tuple(n + pl + pr for n, pl, pr in zip(hw, window.pad_l, window.pad_r))
    span = window.span
    max_k = tuple(max(1, (pd - 1) // d + 1) for pd, d in zip(padded, window.dilation))
    # Smallest symmetric padding that makes the window fit (conv: any; pools: ≤ half the kernel).
    need_pad = tuple(max(pl, -(-(s - n) // 2)) for s, n, pl in zip(span, hw, window.pad_l))
    fixes = [f"kernel_size ≤ {_as_json(max_k)}"]
    if window.dilation != (1, 1):
        fixes.append("a smaller dilation")
    if isinstance(layer, Conv2d) or (isinstance(layer, _Pool) and all(
            p <= k // 2 for p, k in zip(need_pad, window.kernel))):  # pools: PyTorch caps padding at k // 2
        fixes.append(f"padding ≥ {_as_json(need_pad)}")
    elif isinstance(layer, DWSep):
        fixes.append("an odd kernel_size (it pads (k−1)//2)")
    fixes_text = fixes[0] if len(fixes) == 1 else ", ".join(fixes[:-1]) + " or " + fixes[-1]
    if window.dilation == (1, 1):
        what = f"kernel {format_dims(window.kernel)} is"
    else:
        what = f"kernel {format_dims(window.kernel)} at dilation {_as_json(window.dilation)} spans {format_dims(span)},"
    return f"{what} larger than its padded {format_dims(padded)} input; use {fixes_text}"


def _walk(spec_obj: Any, *, stop: bool) -> tuple[Spec | None, SpecError | None]:
    """Parse and validate; with ``stop=False`` return the valid prefix and the first error."""
    try:
        data = load_source(spec_obj)
        if not isinstance(data, dict):
            raise SpecError(f'a spec must be a JSON object with "input" and "layers", got {type(data).__name__}')
        for key in data:
            if key not in ("input", "layers", "name"):
                hint = _suggest(str(key), ["input", "layers", "name"], {"input_shape": "input", "layer": "layers"})
                raise SpecError(f'unknown top-level key "{key}"{hint} (a spec has "input", "layers" and an '
                                f'optional "name")')
        if "input" not in data:
            raise SpecError('missing "input": [channels, height, width], e.g. [3, 224, 224]')
        name = data.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > 200):
            raise SpecError('"name" must be a string of at most 200 characters')
        raw_layers = data.get("layers", [])
        if not isinstance(raw_layers, list):
            raise SpecError(f'"layers" must be a list of layer objects, got {type(raw_layers).__name__}')
        if len(raw_layers) > MAX_LAYERS:
            raise SpecError(f"{_n(len(raw_layers))} layers is over the {MAX_LAYERS} layer limit")
    except SpecError as exc:
        if stop:
            raise
        return None, exc
    try:
        input_shape = _parse_input(data["input"])
    except SpecError as exc:
        if stop:
            raise
        return None, exc

    layers: list[LayerSpec] = []
    shapes: list[Shape] = [input_shape]
    windows: list[tuple[Window, ...]] = []
    flatten_at: int | None = None
    error: SpecError | None = None
    budget = [len(raw_layers)]  # layers at every depth so far (a link could nest thousands in one layer)
    for index, raw in enumerate(raw_layers):
        try:
            flat = shapes[flatten_at + 1] if flatten_at is not None else shapes[-1]  # the flatten's own output
            layer, shape, used = _layer_at(index, raw, shapes[-1], flatten_at, flat, budget, 0)
        except SpecError as exc:
            if stop:
                raise
            error = exc
            break
        if flatten_at is None and isinstance(layer, Flatten):
            flatten_at = index
        layers.append(layer)
        shapes.append(shape)
        windows.append(used)
    return Spec(input_shape, tuple(layers), tuple(shapes), name, tuple(windows)), error


def _layer_at(index: int, raw: Any, shape: Shape, flatten_at: int | None, flat: Shape, budget: list[int],
              depth: int) -> tuple[LayerSpec, Shape, tuple[Window, ...]]:
    """Parse one layer and work out its output for ``shape`` in (a branch: its paths too), or SpecError."""
    layer = _parse_layer(index, raw, inner=False)
    out, used = _infer(index, layer, raw, shape, flatten_at, flat)
    if isinstance(layer, Branch):
        layer, out = _branch_at(index, layer, raw, shape, budget, depth + 1)
    return layer, out, used


def _branch_at(index: int, branch: Branch, raw: dict, shape: Shape, budget: list[int], depth: int
               ) -> tuple[Branch, Shape]:
    """Walk every path of a branch from ``shape`` (errors name the path and the inner layer) and merge."""
    if depth > MAX_DEPTH:
        raise SpecError(f"branches nest more than {MAX_DEPTH} deep here; expand fewer levels or restructure",
                        layer_index=index, layer_type="branch", key="paths")
    try:
        check_paths(branch, len(raw.get("paths", [])), shape)
    except _Invalid as exc:
        raise SpecError(exc.reason, layer_index=index, layer_type="branch", key=exc.key) from None
    paths: list[tuple[LayerSpec, ...]] = []
    outs: list[Shape] = []
    for p, path in enumerate(raw.get("paths", [])):
        budget[0] += len(path)
        if budget[0] > MAX_TOTAL_LAYERS:
            raise SpecError(f"over {_n(MAX_TOTAL_LAYERS)} layers counting those inside branches",
                            layer_index=index, layer_type="branch", key="paths")
        s = path_input(branch, shape, len(raw.get("paths", [])))
        typed: list[LayerSpec] = []
        for i, inner in enumerate(path):
            layer, s, _ = _inside(index, p, i, _path_layer, i, inner, s, budget, depth)
            typed.append(layer)
        paths.append(tuple(typed))
        outs.append(s)
    try:
        out = merge_shape(branch, outs)
    except _Invalid as exc:
        raise SpecError(exc.reason, layer_index=index, layer_type="branch", key=exc.key) from None
    return replace(branch, paths=tuple(paths)), out


def _path_layer(i: int, raw: Any, shape: Shape, budget: list[int], depth: int
                ) -> tuple[LayerSpec, Shape, tuple[Window, ...]]:
    if isinstance(raw, dict) and raw.get("type") in ("flatten", "linear"):
        raise SpecError("cannot go inside a branch path: every path keeps a (channels, height, width) map; put "
                        "it after the branch", layer_index=i, layer_type=str(raw["type"]), key="type")
    return _layer_at(i, raw, shape, None, (), budget, depth)


def _infer(index: int, layer: LayerSpec, raw: dict, shape: Shape, flatten_at: int | None, flat: Shape = ()
           ) -> tuple[Shape, tuple[Window, ...]]:
    """Output shape of ``layer`` for ``shape`` in and the windows it applies, or SpecError
    explaining why it cannot run."""
    try:
        if layer.spatial and len(shape) != 3:
            now = f" ({_n(shape[0])} by here)" if flat and flat[0] != shape[0] else ""
            raise _Invalid(f"needs a (channels, height, width) feature map, but flatten at layer {flatten_at} made "
                           f"it a vector of {_n((flat or shape)[0])}{now}; move this layer before the flatten")
        if isinstance(layer, Linear) and len(shape) != 1:
            raise _Invalid(f'needs a flat vector but gets {format_shape(shape)}; add {{"type": "flatten"}} '
                           f'before it (often after {{"type": "global_avgpool"}})')
        declared = raw.get(layer._IN_KEY) if layer._IN_KEY else None
        if declared is not None:  # optional, PyTorch-style: checked, then forgotten
            want = _read_int(declared, layer._IN_KEY)  # type: ignore[arg-type]
            if want != shape[0]:
                raise _Invalid(f"{layer._IN_KEY} {want} does not match the {shape[0]} coming in; drop "
                               f"{layer._IN_KEY} (it is worked out for you) or change the layer before", layer._IN_KEY)
        if isinstance(layer, Linear):
            return (layer.out_features,), ()
        if isinstance(layer, Flatten):
            return (math.prod(shape),), ()
        if len(shape) == 1:  # elementwise layers after flatten
            return shape, ()
        layer.check(shape)
        hw: Pair = (shape[1], shape[2])
        resized = layer.resize(hw)
        windows = layer.windows(hw) if resized is None else ()
        for window in windows:
            out = window.out_size(hw)
            if out[0] < 1 or out[1] < 1:
                raise _Invalid(_too_small(layer, window, hw), "kernel_size")
            hw = out
        if resized is not None:
            if resized[0] < 1 or resized[1] < 1:
                raise _Invalid(f"output would be {format_dims(resized)} px; it needs at least 1×1: use a smaller "
                               "padding or kernel, or a larger scale", "padding")
            hw = resized
        if hw[0] > MAX_SPEC_SIDE or hw[1] > MAX_SPEC_SIDE:
            raise _Invalid(f"output would be {format_dims(hw)} px, over the {_n(MAX_SPEC_SIDE)} px limit; "
                           "use less padding", "padding")
        return (layer.out_channels_for(shape[0]), hw[0], hw[1]), windows
    except _Invalid as exc:
        raise SpecError(exc.reason, layer_index=index, layer_type=layer.type, key=exc.key) from None


def parse_spec(source: SpecSource) -> Spec:
    """Parse and validate a spec (dict, JSON text, file path or Spec); raises SpecError."""
    if isinstance(source, Spec):
        return source
    spec, _ = _walk(source, stop=True)
    assert spec is not None
    return spec


def parse_spec_prefix(source: SpecSource) -> tuple[Spec | None, SpecError | None]:
    """The valid prefix of a spec and the first error (None if all valid).

    The prefix holds the layers before the first invalid one; it is None when
    the input or the spec as a whole is invalid.
    """
    if isinstance(source, Spec):
        return source, None
    return _walk(source, stop=False)


def parse_layer(raw: Any, index: int = 0) -> LayerSpec:
    """One layer dict on its own -> typed spec, checking its keys and values but not how it fits
    the layers around it (SpecError names layer ``index``). The designer uses it to label the
    rows after a broken layer, whose shapes cannot be worked out."""
    return _parse_layer(index, raw)
