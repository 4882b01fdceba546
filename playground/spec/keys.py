"""How each value in a layer dict is read: the typed readers, the per-key table entry, the limits.

A reader takes the user's value and the key's name and returns the typed value (an int, an
(h, w) pair, ...) or raises :class:`_Invalid` saying, in the key's own terms, what is wrong;
:mod:`playground.spec.parse` turns that into a :class:`~playground.spec.parse.SpecError` naming
the layer. Also the aliases and the "did you mean" suggestion for unknown types and keys.

The underscore names are private to the ``playground.spec`` package (used by its ``layers`` and
``parse`` modules), not part of the library's API.
"""
from __future__ import annotations

import difflib
import json
import math
import numbers
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from playground.spec.window import Pair

__all__ = ["MAX_CHANNELS", "MAX_SPEC_SIDE"]

# Limits against abuse (a spec may come from a URL). Generous for real networks.
MAX_CHANNELS = 65_536
MAX_SPEC_SIDE = 8_192  # px per side of the input and of every feature map; also caps kernel/stride/...


class _Invalid(Exception):
    """Raised inside a layer's checks; parse turns it into a SpecError naming the layer."""

    def __init__(self, reason: str, key: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.key = key


# ---------------------------------------------------------------------------
# Formatting helpers for messages
# ---------------------------------------------------------------------------

def _n(value: int) -> str:
    """65536 -> '65,536': exact counts in messages (limits are quoted to the unit, not as 65.5K)."""
    return f"{value:,}"


def _as_json(pair: Sequence[int]) -> str:
    """(3, 3) -> '3', (3, 5) -> '[3, 5]': how the value would be written in a spec."""
    return str(pair[0]) if pair[0] == pair[1] else f"[{pair[0]}, {pair[1]}]"


def _show(value: Any) -> str:
    """A user's value as it would look in JSON, cut short (never raises, whatever the value)."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _canon(pair: Pair) -> int | list[int]:
    """(3, 3) -> 3, (3, 5) -> [3, 5]: a pair as canonical JSON."""
    return pair[0] if pair[0] == pair[1] else [pair[0], pair[1]]


def _suggest(word: str, options: list[str], aliases: dict[str, str]) -> str:
    """'; did you mean "x"?' for the closest valid option, or '' when nothing is close."""
    low = word.lower().strip().replace("-", "_")
    best = low if low in options else aliases.get(low)
    if best is None or best not in options:
        close = difflib.get_close_matches(low, options, n=1, cutoff=0.5)
        best = close[0] if close else None
    return f'; did you mean "{best}"?' if best else ""


# ---------------------------------------------------------------------------
# Readers
# ---------------------------------------------------------------------------

_REQUIRED = object()


def _read_int(value: Any, key: str, *, minimum: int = 1, limit: int | None = None, pair_ok: bool = False) -> int:
    number = value
    if type(value) is not int:
        try:  # numpy and other integer types are fine; bools and floats are not
            number = None if isinstance(value, bool) else operator.index(value)
        except TypeError:
            number = None
        if number is None:
            what = "a positive whole number" if minimum == 1 else "a whole number ≥ 0"
            raise _Invalid(f"{key} must be {what}{' or [height, width]' if pair_ok else ''}, got {_show(value)}",
                           key)
    if number < minimum:
        raise _Invalid(f"{key} must be ≥ {minimum}, got {number}", key)
    if limit is not None and number > limit:
        raise _Invalid(f"{key} {_n(number)} is over the {_n(limit)} limit", key)
    return number


def _read_pair(value: Any, key: str, *, minimum: int = 1) -> Pair:
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise _Invalid(f"{key} must be one number or [height, width], got {_show(value)}", key)
        return (_read_int(value[0], key, minimum=minimum, limit=MAX_SPEC_SIDE),
                _read_int(value[1], key, minimum=minimum, limit=MAX_SPEC_SIDE))
    n = _read_int(value, key, minimum=minimum, limit=MAX_SPEC_SIDE, pair_ok=True)
    return (n, n)


def _read_bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"{key} must be true or false, got {_show(value)}", key)
    return value


def _read_float(value: Any, key: str, *, low: float | None = None, high: float | None = None,
                low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise _Invalid(f"{key} must be a number, got {_show(value)}", key)
    number = float(value)  # a numbers.Real (numpy scalars included); the message keeps the value as given
    if (low is not None and (number < low or (low_open and number == low))) or (high is not None and number > high):
        lo = "" if low is None else (f"> {low}" if low_open else f"≥ {low}")
        hi = "" if high is None else f"≤ {high}"
        raise _Invalid(f"{key} must be {' and '.join(x for x in (lo, hi) if x)}, got {value}", key)
    return float(value)


@dataclass(frozen=True, slots=True)
class _Key:
    name: str
    read: Callable[[Any, str], Any]
    default: Any = _REQUIRED
    example: str = ""  # shown when the key is missing


def _positive(limit: int | None = None) -> Callable[[Any, str], int]:
    return lambda v, k: _read_int(v, k, limit=limit)


def _size(v: Any, k: str) -> Pair:
    return _read_pair(v, k)


def _pool_stride(v: Any, k: str) -> Pair | None:
    return None if v is None else _read_pair(v, k)


def _padding(v: Any, k: str) -> Pair:
    return _read_pair(v, k, minimum=0)


def _conv_padding(v: Any, k: str) -> Pair | str:
    if isinstance(v, str):
        if v in ("same", "valid"):
            return v
        raise _Invalid(f'{k} must be a number, [height, width], "same" or "valid", got {_show(v)}', k)
    return _read_pair(v, k, minimum=0)


def _probability(v: Any, k: str) -> float:
    return _read_float(v, k, low=0.0, high=1.0)


def _choice(*options: str) -> Callable[[Any, str], str]:
    def read(v: Any, k: str) -> str:
        if v not in options:
            raise _Invalid(f"{k} must be one of {', '.join(json.dumps(o) for o in options)}, got {_show(v)}", k)
        return v
    return read


def _momentum(v: Any, k: str) -> float | None:
    return None if v is None else _read_float(v, k, low=0.0, high=1.0)


def _optional_positive(limit: int | None = None) -> Callable[[Any, str], int | None]:
    return lambda v, k: None if v is None else _read_int(v, k, limit=limit)


def _optional_size(v: Any, k: str) -> Pair | None:
    return None if v is None else _read_pair(v, k)


def _optional_bool(v: Any, k: str) -> bool | None:
    return None if v is None else _read_bool(v, k)


def _ratio(v: Any, k: str) -> float:
    """A positive factor (an expansion ratio, an initial scale)."""
    return _read_float(v, k, low=0.0, low_open=True, high=float(MAX_CHANNELS))


def _scale_factor(v: Any, k: str) -> tuple[float, float] | None:
    """None, a positive number or [height, width] positive numbers (``nn.Upsample``'s scale_factor)."""
    if v is None:
        return None
    if isinstance(v, (list, tuple)):
        if len(v) != 2:
            raise _Invalid(f"{k} must be one number or [height, width], got {_show(v)}", k)
        return (_read_float(v[0], k, low=0.0, low_open=True, high=float(MAX_SPEC_SIDE)),
                _read_float(v[1], k, low=0.0, low_open=True, high=float(MAX_SPEC_SIDE)))
    f = _read_float(v, k, low=0.0, low_open=True, high=float(MAX_SPEC_SIDE))
    return (f, f)


# Common misspellings and other frameworks' names -> ours.
_TYPE_ALIASES = {
    "conv": "conv2d", "convolution": "conv2d", "conv2": "conv2d", "maxpool": "maxpool2d", "avgpool": "avgpool2d",
    "pool": "maxpool2d", "bn": "batchnorm2d", "batchnorm": "batchnorm2d", "batch_norm": "batchnorm2d",
    "batchnormalization": "batchnorm2d", "dense": "linear", "fc": "linear", "fully_connected": "linear",
    "swish": "silu", "leakyrelu": "leaky_relu", "basicblock": "residual", "resblock": "residual",
    "adaptiveavgpool2d": "adaptive_avgpool2d", "adaptive_avg_pool2d": "adaptive_avgpool2d",
    "adaptive_pool": "adaptive_avgpool2d", "globalaveragepooling2d": "global_avgpool", "gap": "global_avgpool",
    "separable": "dwsep", "separableconv2d": "dwsep", "depthwise_separable": "dwsep", "mobilenet": "dwsep",
    # graph designs: norms, upsampling, stochastic depth and the named blocks under other names
    "layernorm": "layernorm2d", "layer_norm": "layernorm2d", "ln": "layernorm2d", "layernormalization":
    "layernorm2d", "group_norm": "groupnorm", "gn": "groupnorm", "groupnormalization": "groupnorm",
    "deconv": "conv_transpose2d", "deconv2d": "conv_transpose2d", "convtranspose2d": "conv_transpose2d",
    "conv_transpose": "conv_transpose2d", "transposed_conv": "conv_transpose2d", "conv2dtranspose":
    "conv_transpose2d", "upsampling": "upsample", "upsampling2d": "upsample", "interpolate": "upsample",
    "resize": "upsample", "hard_swish": "hardswish", "h_swish": "hardswish", "hswish": "hardswish",
    "hard_sigmoid": "hardsigmoid", "h_sigmoid": "hardsigmoid", "hsigmoid": "hardsigmoid", "noop": "identity",
    "stochastic_depth": "drop_path", "stochasticdepth": "drop_path", "droppath": "drop_path",
    "layerscale": "layer_scale", "shuffle": "channel_shuffle", "channelshuffle": "channel_shuffle",
    "squeeze_excitation": "se", "squeezeexcitation": "se", "squeeze_and_excitation": "se", "se_block": "se",
    "seblock": "se", "invertedresidual": "inverted_residual", "mobilenetv2": "inverted_residual",
    "mobilenet_v2": "inverted_residual", "mobilenetv3": "inverted_residual", "mb_conv": "mbconv",
    "efficientnet": "mbconv", "fusedmbconv": "fused_mbconv", "fused": "fused_mbconv", "inception_block":
    "inception", "inception_module": "inception", "googlenet": "inception", "cnblock": "convnext_block",
    "convnext": "convnext_block", "denselayer": "dense_layer", "densenet": "dense_layer", "dense_block":
    "dense_layer", "add": "branch", "concat": "branch", "cat": "branch", "mul": "branch", "parallel": "branch",
    "skip": "branch", "shortcut": "branch", "split": "branch", "merge": "branch",
}
_KEY_ALIASES = {
    "kernel": "kernel_size", "filters": "out_channels", "channels": "out_channels", "units": "out_features",
    "strides": "stride", "use_bias": "bias", "rate": "p", "pool_size": "kernel_size", "size": "kernel_size",
    "pad": "padding", "dilation_rate": "dilation", "alpha": "negative_slope", "features": "out_features",
    "expansion": "expand_ratio", "expand": "expand_ratio", "t": "expand_ratio", "scale": "scale_factor",
    "groups_count": "num_groups", "growth": "growth_rate", "k": "kernel_size", "branches": "paths",
    "mode_merge": "merge", "combine": "merge", "drop_connect_rate": "stochastic_depth_prob",
}
