"""Which fields the designer shows for each layer type, and how text in a field becomes a spec value.

Pure Python (no streamlit). The keys and defaults come from the typed layer specs in
``playground.spec.parse`` (one dataclass per layer type), so the editor offers exactly what a
spec accepts. Validation is *not* done here: whatever the user typed goes into the spec
and ``playground.spec.parse`` says what is wrong with it, so there is one set of rules and messages.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from playground.spec.parse import LAYER_TYPES as SPEC_CLASSES

__all__ = ["Field", "fields_of", "LAYER_TYPES", "new_layer", "parse_text", "format_value"]

Kind = Literal["int", "pair", "padding", "float", "bool", "text"]


@dataclass(frozen=True)
class Field:
    """One editable key of a layer type: its spec name, widget kind and default."""

    name: str
    kind: Kind
    required: bool
    default: Any      # the spec's default (None for required keys and "stride = kernel" pools)

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")

    @property
    def placeholder(self) -> str:
        """What an empty field means."""
        if self.required:
            return "required"
        if self.default is None:
            return "= kernel" if self.name == "stride" else "none"
        return f"{format_value(self.default)} (default)"


LAYER_TYPES: tuple[str, ...] = tuple(SPEC_CLASSES)


def _kind(f: dataclasses.Field, default: Any) -> Kind:
    annotation = str(f.type)
    if "Pair" in annotation:
        return "padding" if "str" in annotation else "pair"
    if isinstance(default, bool) or annotation == "bool":
        return "bool"
    if "float" in annotation:
        return "float"
    if annotation == "int":
        return "int"
    return "text"


def _canon_default(value: Any) -> Any:
    if isinstance(value, tuple):
        return value[0] if value[0] == value[1] else list(value)
    return value


@lru_cache(maxsize=None)
def fields_of(layer_type: str) -> tuple[Field, ...]:
    """The editable fields of ``layer_type``, in the spec's order (KeyError for unknown types)."""
    out = []
    for f in dataclasses.fields(SPEC_CLASSES[layer_type]):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        default = None if required else _canon_default(f.default)
        out.append(Field(f.name, _kind(f, default), required, default))
    return tuple(out)


def new_layer(layer_type: str, channels: int | None = None) -> dict[str, Any]:
    """A fresh layer of ``layer_type`` with sensible starting values.

    ``channels`` is the channel count at the end of the design (None when unknown);
    widths start equal to it, so adding a layer keeps the channel count.
    """
    if layer_type not in SPEC_CLASSES:
        raise KeyError(f"unknown layer type {layer_type!r}; choose one of {', '.join(LAYER_TYPES)}")
    c = channels if channels and channels > 0 else 16
    templates: dict[str, dict[str, Any]] = {
        "conv2d": {"out_channels": c, "kernel_size": 3, "stride": 1, "padding": 1},
        "maxpool2d": {"kernel_size": 2},
        "avgpool2d": {"kernel_size": 2},
        "dwsep": {"out_channels": c, "kernel_size": 3, "stride": 1},
        "residual": {"out_channels": c, "stride": 1},
        # The bottleneck's inner width is out_channels // 4, so keep it a multiple of 4.
        "bottleneck": {"out_channels": max(4, -(-c // 4) * 4), "stride": 1},
        "linear": {"out_features": 10},
    }
    return {"type": layer_type, **templates.get(layer_type, {})}


_INT = re.compile(r"^[+-]?\d+$")


def parse_text(text: str, kind: Kind) -> Any:
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
