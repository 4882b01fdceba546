"""Layer specs: parse and validate a network description, and the share-link codec.

A spec is JSON (a dict, JSON text or a file)::

    {"input": [3, 224, 224],
     "layers": [{"type": "conv2d", "out_channels": 32, "kernel_size": 3, "stride": 2, "padding": 1},
                {"type": "relu"}, {"type": "global_avgpool"}, {"type": "flatten"},
                {"type": "linear", "out_features": 10}]}

:func:`parse_spec` turns it into a :class:`Spec` of typed layer specs with
PyTorch's defaults filled in, and works out every layer's output shape with
PyTorch's exact rules while it validates, so a spec that parses is one
``build_model`` can run. Anything wrong raises :class:`SpecError` naming the
layer, saying what is wrong in that layer's terms and how to fix it.

Pure Python (no torch): the designer calls this on every edit.
"""
from __future__ import annotations

import base64
import binascii
import difflib
import json
import math
import numbers
import operator
import zlib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, ClassVar, Union

from playground.errors import PlaygroundError

__all__ = [
    "SpecError", "Spec", "LayerSpec", "Window", "parse_spec", "parse_spec_prefix", "parse_layer", "encode_share", "decode_share",
    "load_json_bytes",
    "conv_out_len", "pool_out_len", "LAYER_TYPES", "ACTIVATIONS", "MAX_LAYERS", "MAX_CHANNELS", "MAX_SIDE",
    "Conv2d", "MaxPool2d", "AvgPool2d", "BatchNorm2d", "ReLU", "ReLU6", "LeakyReLU", "GELU", "SiLU", "Sigmoid",
    "Tanh", "DWSep", "Residual", "Bottleneck", "GlobalAvgPool", "Flatten", "Dropout", "Linear",
]

# Limits against abuse (a spec may come from a URL). Generous for real networks.
MAX_LAYERS = 500
MAX_CHANNELS = 65_536
MAX_SIDE = 8_192  # px per side of the input and of every feature map; also caps kernel/stride/...
MAX_SPEC_BYTES = 1_000_000  # JSON text or file
MAX_SHARE_TOKEN = 32_768  # characters of a share token
MAX_SHARE_JSON = 1_000_000  # bytes a share token may inflate to

Pair = tuple[int, int]  # (height, width)
Shape = tuple[int, ...]  # (C, H, W), or (F,) after flatten
SpecSource = Union[dict, str, Path, "Spec"]


class SpecError(PlaygroundError):
    """A spec that cannot be built, explained in one line.

    ``layer_index`` is the 0-based layer at fault (None: the whole spec or its
    input), ``layer_type`` its type, ``key`` the offending key when there is one.
    ``str(err)`` starts with ``layer 3 (conv2d): `` when ``layer_index`` is set.
    """

    def __init__(self, reason: str, *, layer_index: int | None = None,
                 layer_type: str | None = None, key: str | None = None) -> None:
        if layer_index is None:
            message = reason
        elif layer_type is None:
            message = f"layer {layer_index}: {reason}"
        else:
            message = f"layer {layer_index} ({layer_type}): {reason}"
        super().__init__(message)
        self.reason = reason
        self.layer_index = layer_index
        self.layer_type = layer_type
        self.key = key

    def __reduce__(self) -> tuple[Any, ...]:  # keep attributes across pickling (worker processes)
        return (_rebuild_spec_error, (self.reason, self.layer_index, self.layer_type, self.key))


def _rebuild_spec_error(reason: str, index: int | None, type_: str | None, key: str | None) -> SpecError:
    return SpecError(reason, layer_index=index, layer_type=type_, key=key)


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
    return f"{value:,}"


def _px(pair: Pair) -> str:
    """(3, 5) -> '3×5'."""
    return f"{pair[0]}×{pair[1]}"


def _as_json(pair: Pair) -> str:
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
# PyTorch's output-size rules
# ---------------------------------------------------------------------------

def conv_out_len(size: int, kernel: int, stride: int, pad_l: int, pad_r: int, dilation: int) -> int:
    """Output length of a convolution along one axis (``nn.Conv2d``'s rule)."""
    return (size + pad_l + pad_r - dilation * (kernel - 1) - 1) // stride + 1


def pool_out_len(size: int, kernel: int, stride: int, pad: int, dilation: int, ceil_mode: bool) -> int:
    """Output length of a max/avg pool along one axis (ATen ``pooling_output_shape``).

    With ``ceil_mode`` a last, partial window is kept, unless it would start in
    the right padding (then it is dropped).
    """
    span = size + 2 * pad - dilation * (kernel - 1) - 1
    if not ceil_mode:
        return span // stride + 1
    out = (span + stride - 1) // stride + 1
    if (out - 1) * stride >= size + pad:
        out -= 1
    return out


@dataclass(frozen=True, slots=True)
class Window:
    """One sliding window (a conv or pool) on the main path of a layer.

    All values are (height, width) pairs; ``pad_l`` is the top/left padding,
    ``pad_r`` the bottom/right one (they differ for ``"same"`` with an even
    kernel). The shape and receptive-field rules both walk these.
    """

    kernel: Pair
    stride: Pair = (1, 1)
    pad_l: Pair = (0, 0)
    pad_r: Pair = (0, 0)
    dilation: Pair = (1, 1)
    ceil_mode: bool | None = None  # None: a convolution; True/False: a pool with that ceil_mode

    @property
    def span(self) -> Pair:
        """Effective kernel extent ``d·(k − 1) + 1`` per axis."""
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation))  # type: ignore[return-value]

    def out_size(self, hw: Pair) -> Pair:
        """Output (H, W) for an input of ``hw`` (may be < 1 when the window does not fit)."""
        k, s, pl, d = self.kernel, self.stride, self.pad_l, self.dilation
        if self.ceil_mode is None:
            pr = self.pad_r
            return (conv_out_len(hw[0], k[0], s[0], pl[0], pr[0], d[0]),
                    conv_out_len(hw[1], k[1], s[1], pl[1], pr[1], d[1]))
        return (pool_out_len(hw[0], k[0], s[0], pl[0], d[0], self.ceil_mode),
                pool_out_len(hw[1], k[1], s[1], pl[1], d[1], self.ceil_mode))


# ---------------------------------------------------------------------------
# Keys: how each value in a layer dict is read
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
        return (_read_int(value[0], key, minimum=minimum, limit=MAX_SIDE),
                _read_int(value[1], key, minimum=minimum, limit=MAX_SIDE))
    n = _read_int(value, key, minimum=minimum, limit=MAX_SIDE, pair_ok=True)
    return (n, n)


def _read_bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"{key} must be true or false, got {_show(value)}", key)
    return value


def _read_float(value: Any, key: str, *, low: float | None = None, high: float | None = None,
                low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise _Invalid(f"{key} must be a number, got {_show(value)}", key)
    if (low is not None and (value < low or (low_open and value == low))) or (high is not None and value > high):
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


# Common misspellings and other frameworks' names -> ours.
_TYPE_ALIASES = {
    "conv": "conv2d", "convolution": "conv2d", "conv2": "conv2d", "maxpool": "maxpool2d", "avgpool": "avgpool2d",
    "pool": "maxpool2d", "bn": "batchnorm2d", "batchnorm": "batchnorm2d", "batch_norm": "batchnorm2d",
    "batchnormalization": "batchnorm2d", "dense": "linear", "fc": "linear", "fully_connected": "linear",
    "swish": "silu", "leakyrelu": "leaky_relu", "basicblock": "residual", "resblock": "residual",
    "adaptive_avgpool2d": "global_avgpool", "adaptiveavgpool2d": "global_avgpool",
    "globalaveragepooling2d": "global_avgpool", "gap": "global_avgpool", "separable": "dwsep",
    "separableconv2d": "dwsep", "depthwise_separable": "dwsep", "mobilenet": "dwsep",
}
_KEY_ALIASES = {
    "kernel": "kernel_size", "filters": "out_channels", "channels": "out_channels", "units": "out_features",
    "strides": "stride", "use_bias": "bias", "rate": "p", "pool_size": "kernel_size", "size": "kernel_size",
    "pad": "padding", "dilation_rate": "dilation", "alpha": "negative_slope", "features": "out_features",
}


# ---------------------------------------------------------------------------
# Layer specs
# ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class LayerSpec:
    """Base of the typed layer specs; field names are the JSON keys."""

    type: ClassVar[str]
    spatial: ClassVar[bool] = False  # needs a (C, H, W) input
    _KEYS: ClassVar[tuple[_Key, ...]] = ()
    _IN_KEY: ClassVar[str | None] = None  # optional key naming the input size (checked, not stored)

    def to_dict(self) -> dict[str, Any]:
        """Canonical JSON: every key explicit, square pairs written as one number."""
        out: dict[str, Any] = {"type": self.type}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = _canon(value) if isinstance(value, tuple) else value
        return out

    def out_channels_for(self, channels: int) -> int:
        """Channels (or features) this layer outputs for ``channels`` in."""
        return channels

    def windows(self, hw: Pair) -> tuple[Window, ...]:
        """The sliding windows on the main path, in order (empty: size-preserving)."""
        return ()

    def check(self, shape: Shape) -> None:
        """Layer-specific checks against the incoming shape; raises _Invalid."""

    def describe(self) -> str:
        """A short human label, e.g. ``conv2d 32, 3×3 /2``."""
        return self.type


@dataclass(frozen=True, slots=True)
class Conv2d(LayerSpec):
    """``nn.Conv2d``; ``padding`` may be ``"same"`` (stride 1 only) or ``"valid"``."""

    out_channels: int
    kernel_size: Pair
    stride: Pair = (1, 1)
    padding: Pair | str = (0, 0)
    dilation: Pair = (1, 1)
    groups: int = 1
    bias: bool = True

    type: ClassVar[str] = "conv2d"
    spatial: ClassVar[bool] = True
    _IN_KEY: ClassVar[str | None] = "in_channels"
    _KEYS: ClassVar[tuple[_Key, ...]] = (
        _Key("out_channels", _positive(MAX_CHANNELS), example='"out_channels": 32 (the number of filters)'),
        _Key("kernel_size", _size, example='"kernel_size": 3'),
        _Key("stride", _size, (1, 1)),
        _Key("padding", _conv_padding, (0, 0)),
        _Key("dilation", _size, (1, 1)),
        _Key("groups", _positive(MAX_CHANNELS), 1),
        _Key("bias", _read_bool, True),
    )

    def pads(self) -> tuple[Pair, Pair]:
        """(top/left, bottom/right) padding; ``"same"`` puts the odd pixel bottom/right like PyTorch."""
        if self.padding == "valid":
            return (0, 0), (0, 0)
        if self.padding == "same":
            total = tuple(d * (k - 1) for k, d in zip(self.kernel_size, self.dilation))
            left = (total[0] // 2, total[1] // 2)
            return left, (total[0] - left[0], total[1] - left[1])
        return self.padding, self.padding  # type: ignore[return-value]

    def out_channels_for(self, channels: int) -> int:
        return self.out_channels

    def windows(self, hw: Pair) -> tuple[Window, ...]:
        left, right = self.pads()
        return (Window(self.kernel_size, self.stride, left, right, self.dilation),)

    def check(self, shape: Shape) -> None:
        if self.padding == "same" and self.stride != (1, 1):
            fix = tuple((d * (k - 1)) // 2 for k, d in zip(self.kernel_size, self.dilation))
            raise _Invalid(f'padding "same" needs stride 1 (PyTorch rule), but stride is {_as_json(self.stride)}; '
                           f'use stride 1, or padding {_as_json(fix)} to keep the stride', "padding")
        c_in = shape[0]
        if c_in % self.groups or self.out_channels % self.groups:
            common = [g for g in range(1, min(c_in, self.out_channels) + 1)
                      if c_in % g == 0 and self.out_channels % g == 0]
            shown = ", ".join(map(str, common[:8])) + (", ..." if len(common) > 8 else "")
            fix = "groups 1" if common == [1] else f"one of {shown}"
            raise _Invalid(f"groups {self.groups} must divide both the {c_in} input channels and the "
                           f"{self.out_channels} out_channels; use {fix}", "groups")

    def describe(self) -> str:
        text = f"conv2d {self.out_channels}, {_px(self.kernel_size)}"
        if self.stride != (1, 1):
            text += f" /{_as_json(self.stride)}"
        if self.dilation != (1, 1):
            text += f" d{_as_json(self.dilation)}"
        if self.groups != 1:
            text += f" g{self.groups}"
        return text


@dataclass(frozen=True, slots=True)
class _Pool(LayerSpec):
    kernel_size: Pair
    stride: Pair | None = None
    padding: Pair = (0, 0)

    spatial: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.stride is None:  # PyTorch: stride defaults to kernel_size
            object.__setattr__(self, "stride", self.kernel_size)

    def _window(self, dilation: Pair, ceil_mode: bool) -> Window:
        return Window(self.kernel_size, self.stride, self.padding, self.padding, dilation, ceil_mode)  # type: ignore[arg-type]

    def check(self, shape: Shape) -> None:
        half = (self.kernel_size[0] // 2, self.kernel_size[1] // 2)
        if self.padding[0] > half[0] or self.padding[1] > half[1]:
            raise _Invalid(f"padding {_as_json(self.padding)} is more than half the {_px(self.kernel_size)} kernel "
                           f"(PyTorch rule); use padding ≤ {_as_json(half)}", "padding")

    def describe(self) -> str:
        text = f"{self.type} {_px(self.kernel_size)}"
        if self.stride != (1, 1):
            text += f" /{_as_json(self.stride)}"  # type: ignore[arg-type]
        return text


@dataclass(frozen=True, slots=True)
class MaxPool2d(_Pool):
    """``nn.MaxPool2d`` (stride defaults to kernel_size)."""

    dilation: Pair = (1, 1)
    ceil_mode: bool = False

    type: ClassVar[str] = "maxpool2d"
    _KEYS: ClassVar[tuple[_Key, ...]] = (
        _Key("kernel_size", _size, example='"kernel_size": 2'),
        _Key("stride", _pool_stride, None),
        _Key("padding", _padding, (0, 0)),
        _Key("dilation", _size, (1, 1)),
        _Key("ceil_mode", _read_bool, False),
    )

    def windows(self, hw: Pair) -> tuple[Window, ...]:
        return (self._window(self.dilation, self.ceil_mode),)


@dataclass(frozen=True, slots=True)
class AvgPool2d(_Pool):
    """``nn.AvgPool2d`` (stride defaults to kernel_size; no dilation in PyTorch)."""

    ceil_mode: bool = False
    count_include_pad: bool = True

    type: ClassVar[str] = "avgpool2d"
    _KEYS: ClassVar[tuple[_Key, ...]] = (
        _Key("kernel_size", _size, example='"kernel_size": 2'),
        _Key("stride", _pool_stride, None),
        _Key("padding", _padding, (0, 0)),
        _Key("ceil_mode", _read_bool, False),
        _Key("count_include_pad", _read_bool, True),
    )

    def windows(self, hw: Pair) -> tuple[Window, ...]:
        return (self._window((1, 1), self.ceil_mode),)


@dataclass(frozen=True, slots=True)
class BatchNorm2d(LayerSpec):
    """``nn.BatchNorm2d`` over the incoming channels."""

    eps: float = 1e-5
    momentum: float | None = 0.1
    affine: bool = True

    type: ClassVar[str] = "batchnorm2d"
    spatial: ClassVar[bool] = True
    _IN_KEY: ClassVar[str | None] = "num_features"
    _KEYS: ClassVar[tuple[_Key, ...]] = (
        _Key("eps", lambda v, k: _read_float(v, k, low=0.0, low_open=True), 1e-5),
        _Key("momentum", _momentum, 0.1),
        _Key("affine", _read_bool, True),
    )


@dataclass(frozen=True, slots=True)
class ReLU(LayerSpec):
    """``nn.ReLU``."""

    type: ClassVar[str] = "relu"


@dataclass(frozen=True, slots=True)
class ReLU6(LayerSpec):
    """``nn.ReLU6``."""

    type: ClassVar[str] = "relu6"


@dataclass(frozen=True, slots=True)
class LeakyReLU(LayerSpec):
    """``nn.LeakyReLU(negative_slope)``."""

    negative_slope: float = 0.01

    type: ClassVar[str] = "leaky_relu"
    _KEYS: ClassVar[tuple[_Key, ...]] = (_Key("negative_slope", _read_float, 0.01),)


@dataclass(frozen=True, slots=True)
class GELU(LayerSpec):
    """``nn.GELU(approximate)``."""

    approximate: str = "none"

    type: ClassVar[str] = "gelu"
    _KEYS: ClassVar[tuple[_Key, ...]] = (_Key("approximate", _choice("none", "tanh"), "none"),)


@dataclass(frozen=True, slots=True)
class SiLU(LayerSpec):
    """``nn.SiLU`` (swish)."""

    type: ClassVar[str] = "silu"


@dataclass(frozen=True, slots=True)
class Sigmoid(LayerSpec):
    """``nn.Sigmoid``."""

    type: ClassVar[str] = "sigmoid"


@dataclass(frozen=True, slots=True)
class Tanh(LayerSpec):
    """``nn.Tanh``."""

    type: ClassVar[str] = "tanh"


@dataclass(frozen=True, slots=True)
class DWSep(LayerSpec):
    """MobileNet-V1 depthwise-separable block: depthwise k×k (padding (k−1)//2) → BN → ReLU → 1×1 → BN → ReLU."""

    out_channels: int
    kernel_size: Pair = (3, 3)
    stride: Pair = (1, 1)

    type: ClassVar[str] = "dwsep"
    spatial: ClassVar[bool] = True
    _IN_KEY: ClassVar[str | None] = "in_channels"
    _KEYS: ClassVar[tuple[_Key, ...]] = (
        _Key("out_channels", _positive(MAX_CHANNELS), example='"out_channels": 64'),
        _Key("kernel_size", _size, (3, 3)),
        _Key("stride", _size, (1, 1)),
    )

    def out_channels_for(self, channels: int) -> int:
        return self.out_channels

    def windows(self, hw: Pair) -> tuple[Window, ...]:
        pad = ((self.kernel_size[0] - 1) // 2, (self.kernel_size[1] - 1) // 2)
        return (Window(self.kernel_size, self.stride, pad, pad), Window((1, 1)))

    def describe(self) -> str:
        text = f"dwsep {self.out_channels}, {_px(self.kernel_size)}"
        return text + (f" /{_as_json(self.stride)}" if self.stride != (1, 1) else "")


@dataclass(frozen=True, slots=True)
class _ResNetBlock(LayerSpec):
    """A torchvision ResNet block: ``out_channels`` and ``stride``; a 1×1 (stride) + BN shortcut when the
    shape changes."""

    out_channels: int
    stride: Pair = (1, 1)

    spatial: ClassVar[bool] = True
    _IN_KEY: ClassVar[str | None] = "in_channels"

    def out_channels_for(self, channels: int) -> int:
        return self.out_channels

    def describe(self) -> str:
        return f"{self.type} {self.out_channels}" + (f" /{_as_json(self.stride)}" if self.stride != (1, 1) else "")


def _block_keys(example: int) -> tuple[_Key, ...]:
    return (_Key("out_channels", _positive(MAX_CHANNELS), example=f'"out_channels": {example}'),
            _Key("stride", _size, (1, 1)))


@dataclass(frozen=True, slots=True)
class Residual(_ResNetBlock):
    """torchvision ``BasicBlock``: 3×3 (stride) → BN → ReLU → 3×3 → BN, + shortcut, → ReLU."""

    type: ClassVar[str] = "residual"
    _KEYS: ClassVar[tuple[_Key, ...]] = _block_keys(64)

    def windows(self, hw: Pair) -> tuple[Window, ...]:
        return (Window((3, 3), self.stride, (1, 1), (1, 1)), Window((3, 3), (1, 1), (1, 1), (1, 1)))


@dataclass(frozen=True, slots=True)
class Bottleneck(_ResNetBlock):
    """torchvision ``Bottleneck`` (v1.5: stride on the 3×3), inner width ``out_channels // 4``."""

    type: ClassVar[str] = "bottleneck"
    _KEYS: ClassVar[tuple[_Key, ...]] = _block_keys(256)

    def windows(self, hw: Pair) -> tuple[Window, ...]:
        return (Window((1, 1)), Window((3, 3), self.stride, (1, 1), (1, 1)), Window((1, 1)))

    def check(self, shape: Shape) -> None:
        if self.out_channels % 4:
            lower, upper = self.out_channels - self.out_channels % 4, self.out_channels + 4 - self.out_channels % 4
            fix = f"{lower} or {upper}" if lower else str(upper)
            raise _Invalid(f"out_channels {self.out_channels} is not divisible by 4 (the block's inner width is "
                           f"out_channels / 4); use {fix}", "out_channels")


@dataclass(frozen=True, slots=True)
class GlobalAvgPool(LayerSpec):
    """``nn.AdaptiveAvgPool2d(1)``: (C, H, W) -> (C, 1, 1)."""

    type: ClassVar[str] = "global_avgpool"
    spatial: ClassVar[bool] = True

    def windows(self, hw: Pair) -> tuple[Window, ...]:
        # One window covering the whole map: exactly what the single output unit sees.
        return (Window(hw, hw),)


@dataclass(frozen=True, slots=True)
class Flatten(LayerSpec):
    """``nn.Flatten()``: (C, H, W) -> (C·H·W,)."""

    type: ClassVar[str] = "flatten"

    def out_channels_for(self, channels: int) -> int:  # unused: flatten is special-cased in the walk
        return channels


@dataclass(frozen=True, slots=True)
class Dropout(LayerSpec):
    """``nn.Dropout(p)``."""

    p: float = 0.5

    type: ClassVar[str] = "dropout"
    _KEYS: ClassVar[tuple[_Key, ...]] = (_Key("p", _probability, 0.5),)

    def describe(self) -> str:
        return f"dropout {self.p:g}"


@dataclass(frozen=True, slots=True)
class Linear(LayerSpec):
    """``nn.Linear``; needs a flat input (put ``flatten`` before it)."""

    out_features: int
    bias: bool = True

    type: ClassVar[str] = "linear"
    _IN_KEY: ClassVar[str | None] = "in_features"
    _KEYS: ClassVar[tuple[_Key, ...]] = (
        _Key("out_features", _positive(MAX_CHANNELS), example='"out_features": 10'),
        _Key("bias", _read_bool, True),
    )

    def out_channels_for(self, channels: int) -> int:
        return self.out_features

    def describe(self) -> str:
        return f"linear {self.out_features}"


LAYER_TYPES: dict[str, type[LayerSpec]] = {cls.type: cls for cls in (
    Conv2d, MaxPool2d, AvgPool2d, BatchNorm2d, ReLU, ReLU6, LeakyReLU, GELU, SiLU, Sigmoid, Tanh,
    DWSep, Residual, Bottleneck, GlobalAvgPool, Flatten, Dropout, Linear)}
"""Every layer type a spec may use, by its ``"type"`` string."""

ACTIVATIONS: frozenset[str] = frozenset({"relu", "relu6", "leaky_relu", "gelu", "silu", "sigmoid", "tanh"})

_TYPE_NAMES = list(LAYER_TYPES)
_KEY_NAMES = {t: [k.name for k in cls._KEYS] for t, cls in LAYER_TYPES.items()}


# ---------------------------------------------------------------------------
# The spec
# ---------------------------------------------------------------------------

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


def _load(source: SpecSource) -> Any:
    """dict / JSON text / file path -> plain JSON value."""
    if isinstance(source, dict):
        return source
    if isinstance(source, Path):
        return _read_file(source)
    if isinstance(source, (bytes, bytearray)):
        source = bytes(source).decode("utf-8", errors="replace")
    if isinstance(source, str):
        text = source.strip()
        if not text.startswith(("{", "[")) and len(text) < 4096 and _is_file(text):
            return _read_file(Path(text))
        return _loads(text, "spec")
    raise SpecError(f"a spec must be a dict, JSON text or a file path, got {type(source).__name__}")


def _is_file(text: str) -> bool:
    try:
        return Path(text).is_file()
    except (OSError, ValueError):  # odd characters, name too long
        return False


def _read_file(path: Path) -> Any:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError(f"cannot read spec file '{path}': {exc.strerror or exc}") from None
    return load_json_bytes(data, f"spec file '{path}'")


def load_json_bytes(data: bytes, what: str) -> Any:
    """The JSON value in a spec file's bytes (a file or an upload), unchecked beyond JSON itself.

    The one place spec file bytes are decoded: size limit, UTF-8 (a BOM is allowed), no
    NaN/Infinity. Raises :class:`SpecError` starting with ``what`` (e.g. ``'net.json'``).
    """
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(f"{what} is over {_n(MAX_SPEC_BYTES)} bytes; a spec is a small JSON file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SpecError(f"{what} is not UTF-8 text; save it as a JSON file") from None
    return _loads(text, what)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed")


def _loads(text: str, what: str) -> Any:
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError(f"{what} is over {_n(MAX_SPEC_BYTES)} characters; a spec is a small JSON document")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        where = f" (line {exc.lineno} column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc) or "too deeply nested"
        raise SpecError(f"{what} is not valid JSON: {msg}{where}") from None


def _parse_input(value: Any) -> tuple[int, int, int]:
    example = "e.g. [3, 224, 224]"
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise SpecError(f'"input" must be [channels, height, width], {example}; got {_show(value)}')
    try:
        c, h, w = (_read_int(v, f'"input" {name}', limit=limit) for name, v, limit in zip(
            ("channels", "height", "width"), value, (MAX_CHANNELS, MAX_SIDE, MAX_SIDE)))
    except _Invalid as exc:
        raise SpecError(f"{exc.reason} ({example})") from None
    return (c, h, w)


def _parse_layer(index: int, raw: Any) -> LayerSpec:
    """One layer dict -> typed spec (key-level checks only)."""
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
        return cls(**values)
    except _Invalid as exc:
        raise SpecError(exc.reason, layer_index=index, layer_type=type_, key=exc.key) from None


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
        what = f"kernel {_px(window.kernel)} is"
    else:
        what = f"kernel {_px(window.kernel)} at dilation {_as_json(window.dilation)} spans {_px(span)},"
    return f"{what} larger than its padded {_px(padded)} input; use {fixes_text}"


def _walk(spec_obj: Any, *, stop: bool) -> tuple[Spec | None, SpecError | None]:
    """Parse and validate; with ``stop=False`` return the valid prefix and the first error."""
    try:
        data = _load(spec_obj)
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
    for index, raw in enumerate(raw_layers):
        try:
            layer = _parse_layer(index, raw)
            shape, used = _infer(index, layer, raw, shapes[-1], flatten_at)
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


def _infer(index: int, layer: LayerSpec, raw: dict, shape: Shape, flatten_at: int | None
           ) -> tuple[Shape, tuple[Window, ...]]:
    """Output shape of ``layer`` for ``shape`` in and the windows it applies, or SpecError
    explaining why it cannot run."""
    try:
        if layer.spatial and len(shape) != 3:
            raise _Invalid(f"needs a (channels, height, width) feature map, but flatten at layer {flatten_at} made "
                           f"it a vector of {_n(shape[0])}; move this layer before the flatten")
        if isinstance(layer, Linear):
            if len(shape) != 1:
                shown = "(" + ", ".join(map(str, shape)) + ")"
                raise _Invalid(f'needs a flat vector but gets {shown}; add {{"type": "flatten"}} before it '
                               f'(often after {{"type": "global_avgpool"}})')
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
        windows = layer.windows(hw)
        for window in windows:
            out = window.out_size(hw)
            if out[0] < 1 or out[1] < 1:
                raise _Invalid(_too_small(layer, window, hw), "kernel_size")
            hw = out
        if hw[0] > MAX_SIDE or hw[1] > MAX_SIDE:
            raise _Invalid(f"output would be {_px(hw)} px, over the {_n(MAX_SIDE)} px limit; use less padding",
                           "padding")
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


# ---------------------------------------------------------------------------
# Share links
# ---------------------------------------------------------------------------

def encode_share(spec: dict | Spec) -> str:
    """A compact URL-safe token for a spec: compact JSON -> zlib -> base64url without padding."""
    data = spec.to_dict() if isinstance(spec, Spec) else spec
    try:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"this spec cannot be shared: it is not plain JSON ({exc})") from None
    token = base64.urlsafe_b64encode(zlib.compress(text.encode("utf-8"), 9)).decode("ascii").rstrip("=")
    if len(token) > MAX_SHARE_TOKEN:
        raise SpecError(f"this spec is too large to share as a link ({_n(len(token))} characters); "
                        f"export it as a JSON file instead")
    return token


def decode_share(token: str) -> dict:
    """The spec dict inside a share token; SpecError if the token is malformed or tampered with.

    The result is plain JSON, not yet validated: pass it to ``parse_spec`` or
    ``analyze_prefix``.
    """
    bad = "this share link is damaged or incomplete ({}); ask for the link again or load the spec as JSON"
    if not isinstance(token, str) or not token:
        raise SpecError(bad.format("it is empty"))
    token = token.strip()
    if len(token) > MAX_SHARE_TOKEN:
        raise SpecError(bad.format(f"over {_n(MAX_SHARE_TOKEN)} characters"))
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        if any(c not in _B64URL for c in token):
            raise ValueError("characters outside base64url")
    except (binascii.Error, ValueError):
        raise SpecError(bad.format("not base64url text")) from None
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(raw, MAX_SHARE_JSON + 1)
    except zlib.error:
        raise SpecError(bad.format("not compressed data")) from None
    if len(text) > MAX_SHARE_JSON or inflater.unconsumed_tail:
        raise SpecError(bad.format(f"it inflates to over {_n(MAX_SHARE_JSON)} bytes"))
    if not inflater.eof:
        raise SpecError(bad.format("it is truncated"))
    try:
        data = json.loads(text.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise SpecError(bad.format("not JSON inside")) from None
    if not isinstance(data, dict):
        raise SpecError(bad.format("not a spec object inside"))
    return data


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
