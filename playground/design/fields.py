"""The editor's fields: which keys a layer type shows, their widget kinds and defaults, the starting values of
a new layer, changing a layer's type, and how typed text becomes a spec value.

All from the typed layer specs in :mod:`playground.spec.layers` (one dataclass per layer type), so the
editor offers exactly what a spec accepts; a branch's ``paths`` are structure, not a field. Re-exported by
:mod:`playground.design.editor`, where they were first defined. Plain Python (tested without streamlit).
"""
from __future__ import annotations

import copy
import dataclasses
import re
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from playground.spec.layers import LAYER_TYPES

__all__ = ["EditorField", "FieldKind", "fields_of", "LAYER_TYPE_NAMES", "new_layer", "parse_text", "format_value",
           "retype"]

_NEW_LAYER_CHANNELS = 16  # width of a new layer when the design's channel count is unknown

FieldKind = Literal["int", "pair", "padding", "float", "bool", "text"]
"""How a field is shown and how its text is read (:func:`parse_text`)."""


@dataclass(frozen=True)
class EditorField:
    """One editable key of a layer type: its spec name, widget kind and default."""

    name: str
    kind: FieldKind
    required: bool
    default: Any      # the spec's default (None for required keys and "stride = kernel" pools)

    @property
    def label(self) -> str:
        """The key as a widget label: ``out channels``."""
        return self.name.replace("_", " ")

    @property
    def placeholder(self) -> str:
        """What an empty field means."""
        if self.required:
            return "required"
        if self.default is None:
            return "= kernel" if self.name == "stride" else "none"
        return f"{format_value(self.default)} (default)"


LAYER_TYPE_NAMES: tuple[str, ...] = tuple(LAYER_TYPES)
"""The layer types the editor offers, in the spec's order."""


def _kind(f: dataclasses.Field, default: Any) -> FieldKind:
    annotation = str(f.type)
    if "Pair" in annotation:
        return "padding" if "str" in annotation else "pair"
    if isinstance(default, bool) or annotation in ("bool", "bool | None"):
        return "bool"
    if "float" in annotation:  # a scale factor (one number here) too
        return "float"
    if annotation in ("int", "int | None"):
        return "int"
    return "text"


_STRUCTURE = frozenset({"paths"})  # a branch's paths hold layers: not a field (the list shows the branch as one line)


def _canon_default(value: Any) -> Any:
    if isinstance(value, tuple):
        return value[0] if value[0] == value[1] else list(value)
    return value


@cache
def fields_of(layer_type: str) -> tuple[EditorField, ...]:
    """The editable fields of ``layer_type``, in the spec's order (KeyError for unknown types)."""
    out = []
    for f in dataclasses.fields(LAYER_TYPES[layer_type]):
        if f.name in _STRUCTURE:
            continue
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        default = None if required else _canon_default(f.default)
        out.append(EditorField(f.name, _kind(f, default), required, default))
    return tuple(out)


def new_layer(layer_type: str, channels: int | None = None) -> dict[str, Any]:
    """A fresh layer of ``layer_type`` with sensible starting values.

    ``channels`` is the channel count at the end of the design (None when unknown);
    widths start equal to it, so adding a layer keeps the channel count.
    """
    if layer_type not in LAYER_TYPES:
        raise KeyError(f"unknown layer type {layer_type!r}; choose one of {', '.join(LAYER_TYPE_NAMES)}")
    c = channels if channels and channels > 0 else _NEW_LAYER_CHANNELS
    templates: dict[str, dict[str, Any]] = {
        "conv2d": {"out_channels": c, "kernel_size": 3, "stride": 1, "padding": 1},
        "maxpool2d": {"kernel_size": 2},
        "avgpool2d": {"kernel_size": 2},
        "dwsep": {"out_channels": c, "kernel_size": 3, "stride": 1},
        "residual": {"out_channels": c, "stride": 1},
        # The bottleneck's inner width is out_channels // 4, so keep it a multiple of 4.
        "bottleneck": {"out_channels": max(4, -(-c // 4) * 4), "stride": 1},
        "linear": {"out_features": 10},
        "groupnorm": {"num_groups": next(g for g in (32, 16, 8, 4, 2, 1) if c % g == 0)},
        "conv_transpose2d": {"out_channels": c, "kernel_size": 2, "stride": 2},
        "upsample": {"scale_factor": 2},
        "adaptive_avgpool2d": {"output_size": 7},
        "channel_shuffle": {"groups": 2 if c % 2 == 0 else 1},
        "inverted_residual": {"out_channels": c, "expand_ratio": 6, "stride": 1},
        "mbconv": {"out_channels": c, "expand_ratio": 6, "stride": 1},
        "fused_mbconv": {"out_channels": c, "expand_ratio": 4, "stride": 1},
        "inception": {"ch1x1": c // 4 or 1, "ch3x3red": c // 4 or 1, "ch3x3": c // 2 or 1, "ch5x5red": c // 8 or 1,
                      "ch5x5": c // 8 or 1, "pool_proj": c // 8 or 1},
        # a residual connection around a 3×3 conv: the smallest branch that teaches the idea
        "branch": {"merge": "add", "paths": [[{"type": "conv2d", "out_channels": c, "kernel_size": 3,
                                                "padding": 1}], []]},
    }
    return {"type": layer_type, **templates.get(layer_type, {})}


def retype(layer: dict[str, Any], layer_type: str, channels: int | None = None) -> dict[str, Any]:
    """``layer`` as a ``layer_type``: the new type's starting values (:func:`new_layer`), overwritten
    by every setting of ``layer`` the new type also takes (conv2d -> dwsep keeps out_channels,
    kernel_size and stride; padding, dilation, groups and bias go)."""
    new = new_layer(layer_type, channels)
    keep = {f.name for f in fields_of(layer_type)}
    new.update({k: copy.deepcopy(v) for k, v in layer.items() if k in keep})
    return new


_INT = re.compile(r"^[+-]?\d+$")


def parse_text(text: str, kind: FieldKind) -> Any:
    """Turn what the user typed into a spec value.

    ``""`` -> None (use the default), ``"3"`` -> 3, ``"3,5"`` / ``"3x5"`` / ``"[3, 5]"`` -> [3, 5],
    ``"same"`` / ``"valid"`` for padding, a number for float fields, ``"true"`` / ``"false"``
    for a yes/no field shown as text. Anything else is
    returned unchanged so the spec validator reports it in its own words.
    """
    s = text.strip()
    if not s:
        return None
    if kind == "text":
        return s
    if kind == "bool" and s.lower() in ("true", "false"):
        return s.lower() == "true"
    if kind == "padding" and s.lower() in ("same", "valid"):
        return s.lower()
    if kind == "float":
        try:
            return float(s)
        except ValueError:
            return s
    if _INT.match(s):
        return int(s)
    parts = [p for p in re.split(r"[\s,x×*]+", s.strip("[]() ").lower()) if p]
    if len(parts) == 2 and all(_INT.match(p) for p in parts):
        return [int(parts[0]), int(parts[1])]
    return s


def format_value(value: Any) -> str:
    """The text a field shows for a spec value (inverse of :func:`parse_text`)."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
